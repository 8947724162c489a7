//! Named scalar fields of an event, for dialects that filter on any of them, positively or
//! negated (Cloudflare's `actor_email=...` and `actor_email.not=...`).
//!
//! [`EventField::value`] is an event's value of a field and [`EventField::term`] its
//! `name=value` term; the query index stores those terms (or the value, for fields with a
//! keyword field of their own) and [`FieldMatch::matches`] compares against the same values,
//! so the index and [`Filter::matches`](crate::Filter::matches) agree by construction.

use crate::model::Event;

/// A scalar field of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventField {
    /// `id`.
    Id,
    /// `action`, exactly (no prefix patterns).
    Action,
    /// `category`.
    Category,
    /// `outcome`.
    Outcome,
    /// `actor.type`.
    ActorType,
    /// `actor.id`.
    ActorId,
    /// `actor.email`, compared in ASCII lowercase.
    ActorEmail,
    /// `actor.context`.
    ActorContext,
    /// `actor.token_id`.
    ActorTokenId,
    /// `actor.token_name`.
    ActorTokenName,
    /// `target.type`.
    TargetType,
    /// `target.id`.
    TargetId,
    /// `target.product`.
    TargetProduct,
    /// `target.scope`.
    TargetScope,
    /// `context.ip_address`.
    IpAddress,
    /// `context.zone.id`.
    ZoneId,
    /// `context.zone.name`.
    ZoneName,
    /// `context.request.method`.
    RequestMethod,
    /// `context.request.uri`.
    RequestUri,
    /// `context.request.status_code`.
    RequestStatusCode,
    /// `context.request.ray_id`.
    RequestRayId,
}

impl EventField {
    /// Every field.
    pub const ALL: [EventField; 21] = [
        EventField::Id,
        EventField::Action,
        EventField::Category,
        EventField::Outcome,
        EventField::ActorType,
        EventField::ActorId,
        EventField::ActorEmail,
        EventField::ActorContext,
        EventField::ActorTokenId,
        EventField::ActorTokenName,
        EventField::TargetType,
        EventField::TargetId,
        EventField::TargetProduct,
        EventField::TargetScope,
        EventField::IpAddress,
        EventField::ZoneId,
        EventField::ZoneName,
        EventField::RequestMethod,
        EventField::RequestUri,
        EventField::RequestStatusCode,
        EventField::RequestRayId,
    ];

    /// The field's path in the event.
    pub fn path(self) -> &'static str {
        match self {
            EventField::Id => "id",
            EventField::Action => "action",
            EventField::Category => "category",
            EventField::Outcome => "outcome",
            EventField::ActorType => "actor.type",
            EventField::ActorId => "actor.id",
            EventField::ActorEmail => "actor.email",
            EventField::ActorContext => "actor.context",
            EventField::ActorTokenId => "actor.token_id",
            EventField::ActorTokenName => "actor.token_name",
            EventField::TargetType => "target.type",
            EventField::TargetId => "target.id",
            EventField::TargetProduct => "target.product",
            EventField::TargetScope => "target.scope",
            EventField::IpAddress => "context.ip_address",
            EventField::ZoneId => "context.zone.id",
            EventField::ZoneName => "context.zone.name",
            EventField::RequestMethod => "context.request.method",
            EventField::RequestUri => "context.request.uri",
            EventField::RequestStatusCode => "context.request.status_code",
            EventField::RequestRayId => "context.request.ray_id",
        }
    }

    /// The event's value of this field, as compared (`None` when the event has none).
    pub fn value(self, event: &Event) -> Option<String> {
        let actor = event.actor.as_ref();
        let target = event.target.as_ref();
        let context = event.context.as_ref();
        let zone = context.and_then(|c| c.zone.as_ref());
        let request = context.and_then(|c| c.request.as_ref());
        match self {
            EventField::Id => Some(event.id.clone()),
            EventField::Action => Some(event.action.clone()),
            EventField::Category => Some(event.category.as_str().to_owned()),
            EventField::Outcome => Some(event.outcome.as_str().to_owned()),
            EventField::ActorType => actor.and_then(|a| a.kind.clone()),
            EventField::ActorId => actor.and_then(|a| a.id.clone()),
            EventField::ActorEmail => actor
                .and_then(|a| a.email.as_ref())
                .map(|e| e.to_ascii_lowercase()),
            EventField::ActorContext => actor.and_then(|a| a.context.clone()),
            EventField::ActorTokenId => actor.and_then(|a| a.token_id.clone()),
            EventField::ActorTokenName => actor.and_then(|a| a.token_name.clone()),
            EventField::TargetType => target.and_then(|t| t.kind.clone()),
            EventField::TargetId => target.and_then(|t| t.id.clone()),
            EventField::TargetProduct => target.and_then(|t| t.product.clone()),
            EventField::TargetScope => target.and_then(|t| t.scope.clone()),
            EventField::IpAddress => context.and_then(|c| c.ip_address.clone()),
            EventField::ZoneId => zone.and_then(|z| z.id.clone()),
            EventField::ZoneName => zone.and_then(|z| z.name.clone()),
            EventField::RequestMethod => request.and_then(|r| r.method.clone()),
            EventField::RequestUri => request.and_then(|r| r.uri.clone()),
            EventField::RequestStatusCode => {
                request.and_then(|r| r.status_code).map(|c| c.to_string())
            }
            EventField::RequestRayId => request.and_then(|r| r.ray_id.clone()),
        }
    }

    /// `value` normalised as [`value`](Self::value) normalises the event's.
    pub fn normalize(self, value: &str) -> String {
        match self {
            EventField::ActorEmail => value.to_ascii_lowercase(),
            _ => value.to_owned(),
        }
    }

    /// The term that stands for `value` of this field (a value is normalised as
    /// [`value`](Self::value) normalises it).
    pub fn term(self, value: &str) -> String {
        format!("{}={}", self.path(), self.normalize(value))
    }
}

impl serde::Serialize for EventField {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.path())
    }
}

impl<'de> serde::Deserialize<'de> for EventField {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let path = String::deserialize(deserializer)?;
        EventField::ALL
            .into_iter()
            .find(|f| f.path() == path)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event field {path:?}")))
    }
}

/// A condition on one field: it equals one of `values`, or, when `negate`, none of them (an
/// event without the field matches a negated condition).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldMatch {
    /// The field.
    pub field: EventField,
    /// The values.
    pub values: Vec<String>,
    /// Whether the condition is negated.
    pub negate: bool,
}

impl FieldMatch {
    /// Whether `event` meets the condition.
    pub fn matches(&self, event: &Event) -> bool {
        let have = self.field.value(event);
        let hit = have.is_some_and(|have| {
            self.values
                .iter()
                .any(|want| self.field.term(want) == self.field.term(&have))
        });
        hit != self.negate
    }
}
