//! The event fields a rule groups by or counts distinct values of, named by their dotted
//! paths (`actor.id`, `context.ip_address`, `metadata.plan`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use trailkeep_event::Event;

/// A field of an event a rule can read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// `action`.
    Action,
    /// `outcome`.
    Outcome,
    /// `actor.id`.
    ActorId,
    /// `actor.email`.
    ActorEmail,
    /// `actor.type`.
    ActorType,
    /// `actor.token_id`.
    ActorTokenId,
    /// `target.type`.
    TargetType,
    /// `target.id`.
    TargetId,
    /// `context.ip_address`.
    Ip,
    /// `context.location`.
    Location,
    /// `context.device`.
    Device,
    /// `context.user_agent`.
    UserAgent,
    /// `metadata.<path>`: a scalar under the metadata object, dotted.
    Metadata(String),
}

/// Every path [`Field::parse`] takes but `metadata.<path>`.
pub const NAMED: [&str; 12] = [
    "action",
    "outcome",
    "actor.id",
    "actor.email",
    "actor.type",
    "actor.token_id",
    "target.type",
    "target.id",
    "context.ip_address",
    "context.location",
    "context.device",
    "context.user_agent",
];

impl Field {
    /// The field at `path`, or why there is none.
    pub fn parse(path: &str) -> Result<Self, String> {
        Ok(match path {
            "action" => Field::Action,
            "outcome" => Field::Outcome,
            "actor.id" => Field::ActorId,
            "actor.email" => Field::ActorEmail,
            "actor.type" => Field::ActorType,
            "actor.token_id" => Field::ActorTokenId,
            "target.type" => Field::TargetType,
            "target.id" => Field::TargetId,
            "context.ip_address" => Field::Ip,
            "context.location" => Field::Location,
            "context.device" => Field::Device,
            "context.user_agent" => Field::UserAgent,
            other => match other.strip_prefix("metadata.") {
                Some(rest) if !rest.is_empty() && rest.len() <= 200 => {
                    Field::Metadata(rest.to_owned())
                }
                _ => {
                    return Err(format!(
                        "unknown field {other:?}: one of {}, or metadata.<path>",
                        NAMED.join(", ")
                    ));
                }
            },
        })
    }

    /// Its dotted path.
    pub fn path(&self) -> String {
        match self {
            Field::Metadata(path) => format!("metadata.{path}"),
            named => NAMED[named.index()].to_owned(),
        }
    }

    fn index(&self) -> usize {
        match self {
            Field::Action => 0,
            Field::Outcome => 1,
            Field::ActorId => 2,
            Field::ActorEmail => 3,
            Field::ActorType => 4,
            Field::ActorTokenId => 5,
            Field::TargetType => 6,
            Field::TargetId => 7,
            Field::Ip => 8,
            Field::Location => 9,
            Field::Device => 10,
            Field::UserAgent => 11,
            Field::Metadata(_) => usize::MAX,
        }
    }

    /// Its value in `event`, when it has one.
    pub fn value(&self, event: &Event) -> Option<String> {
        let actor = event.actor.as_ref();
        let target = event.target.as_ref();
        let context = event.context.as_ref();
        match self {
            Field::Action => Some(event.action.clone()),
            Field::Outcome => Some(event.outcome.as_str().to_owned()),
            Field::ActorId => actor.and_then(|a| a.id.clone()),
            Field::ActorEmail => actor.and_then(|a| a.email.clone()),
            Field::ActorType => actor.and_then(|a| a.kind.clone()),
            Field::ActorTokenId => actor.and_then(|a| a.token_id.clone()),
            Field::TargetType => target.and_then(|t| t.kind.clone()),
            Field::TargetId => target.and_then(|t| t.id.clone()),
            Field::Ip => context.and_then(|c| c.ip_address.clone()),
            Field::Location => context.and_then(|c| c.location.clone()),
            Field::Device => context.and_then(|c| c.device.clone()),
            Field::UserAgent => context.and_then(|c| c.user_agent.clone()),
            Field::Metadata(path) => {
                let mut value = event.metadata.as_ref()?.get(path.split('.').next()?)?;
                for part in path.split('.').skip(1) {
                    value = value.get(part)?;
                }
                match value {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    serde_json::Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                }
            }
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.path())
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let path = String::deserialize(deserializer)?;
        Field::parse(&path).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_unknown_ones_are_named() {
        for path in NAMED.iter().copied().chain(["metadata.plan.tier"]) {
            assert_eq!(Field::parse(path).unwrap().path(), path);
        }
        assert!(
            Field::parse("actor.password")
                .unwrap_err()
                .contains("actor.password")
        );
        assert!(Field::parse("metadata.").is_err());
    }
}
