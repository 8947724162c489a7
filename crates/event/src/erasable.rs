//! The fields retention and erasure may remove from an event, by path. What a tombstone keeps
//! whatever was asked: `id`, `seq`, `tenant`, `occurred_at`, `received_at`, `action`,
//! `category` and `outcome` (no personal data, and what statistics count by).

use crate::model::Event;

/// A field (or a whole part) of an event that can be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Erasable {
    /// The whole `actor`.
    Actor,
    /// `actor.id`.
    ActorId,
    /// `actor.email`.
    ActorEmail,
    /// `actor.name`.
    ActorName,
    /// The whole `target`.
    Target,
    /// `target.name`.
    TargetName,
    /// The whole `context`.
    Context,
    /// `context.ip_address`.
    IpAddress,
    /// `context.user_agent`.
    UserAgent,
    /// `context.location`.
    Location,
    /// `context.device`.
    Device,
    /// `context.geo`.
    Geo,
    /// `changes`.
    Changes,
    /// `description`.
    Description,
    /// `metadata`.
    Metadata,
}

impl Erasable {
    /// Every removable field.
    pub const ALL: [Erasable; 15] = [
        Erasable::Actor,
        Erasable::ActorId,
        Erasable::ActorEmail,
        Erasable::ActorName,
        Erasable::Target,
        Erasable::TargetName,
        Erasable::Context,
        Erasable::IpAddress,
        Erasable::UserAgent,
        Erasable::Location,
        Erasable::Device,
        Erasable::Geo,
        Erasable::Changes,
        Erasable::Description,
        Erasable::Metadata,
    ];

    /// What retention removes: everything a tombstone does not keep.
    pub const EXPIRED: [Erasable; 6] = [
        Erasable::Actor,
        Erasable::Target,
        Erasable::Context,
        Erasable::Changes,
        Erasable::Description,
        Erasable::Metadata,
    ];

    /// What an erasure removes when the request names no fields: what identifies a person.
    pub const PERSONAL: [Erasable; 7] = [
        Erasable::ActorEmail,
        Erasable::ActorName,
        Erasable::IpAddress,
        Erasable::UserAgent,
        Erasable::Location,
        Erasable::Device,
        Erasable::Geo,
    ];

    /// The field's path, as requests and tombstones name it.
    pub fn path(self) -> &'static str {
        match self {
            Erasable::Actor => "actor",
            Erasable::ActorId => "actor.id",
            Erasable::ActorEmail => "actor.email",
            Erasable::ActorName => "actor.name",
            Erasable::Target => "target",
            Erasable::TargetName => "target.name",
            Erasable::Context => "context",
            Erasable::IpAddress => "context.ip_address",
            Erasable::UserAgent => "context.user_agent",
            Erasable::Location => "context.location",
            Erasable::Device => "context.device",
            Erasable::Geo => "context.geo",
            Erasable::Changes => "changes",
            Erasable::Description => "description",
            Erasable::Metadata => "metadata",
        }
    }

    /// The field at `path`, if it is one that can be removed.
    pub fn parse(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.path() == path)
    }

    /// Removes the field from `event`; whether it was there. A part left with no fields is
    /// removed too, so that a tombstone never holds an empty object.
    pub fn remove_from(self, event: &mut Event) -> bool {
        fn take<T>(slot: &mut Option<T>) -> bool {
            slot.take().is_some()
        }
        match self {
            Erasable::Actor => take(&mut event.actor),
            Erasable::Target => take(&mut event.target),
            Erasable::Context => take(&mut event.context),
            Erasable::Changes => take(&mut event.changes),
            Erasable::Description => take(&mut event.description),
            Erasable::Metadata => take(&mut event.metadata),
            Erasable::ActorId | Erasable::ActorEmail | Erasable::ActorName => {
                let Some(actor) = event.actor.as_mut() else {
                    return false;
                };
                let removed = take(match self {
                    Erasable::ActorId => &mut actor.id,
                    Erasable::ActorEmail => &mut actor.email,
                    _ => &mut actor.name,
                });
                if *actor == Default::default() {
                    event.actor = None;
                }
                removed
            }
            Erasable::TargetName => {
                let Some(target) = event.target.as_mut() else {
                    return false;
                };
                let removed = take(&mut target.name);
                if *target == Default::default() {
                    event.target = None;
                }
                removed
            }
            Erasable::IpAddress
            | Erasable::UserAgent
            | Erasable::Location
            | Erasable::Device
            | Erasable::Geo => {
                let Some(context) = event.context.as_mut() else {
                    return false;
                };
                let removed = match self {
                    Erasable::IpAddress => take(&mut context.ip_address),
                    Erasable::UserAgent => take(&mut context.user_agent),
                    Erasable::Location => take(&mut context.location),
                    Erasable::Device => take(&mut context.device),
                    _ => take(&mut context.geo),
                };
                if *context == Default::default() {
                    event.context = None;
                }
                removed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Timestamp, prepare};

    fn event() -> Event {
        let raw = serde_json::json!({
            "action": "user.login",
            "actor": {"id": "u1", "email": "a@example.com", "name": "Ann"},
            "context": {"ip_address": "192.0.2.1"},
            "metadata": {"k": "v"},
        });
        prepare(&raw, "t", Timestamp::now()).unwrap().event
    }

    #[test]
    fn removing_the_last_field_of_a_part_removes_the_part() {
        let mut e = event();
        assert!(Erasable::IpAddress.remove_from(&mut e));
        assert_eq!(e.context, None);
        assert!(!Erasable::IpAddress.remove_from(&mut e));
        assert!(Erasable::ActorEmail.remove_from(&mut e));
        assert!(Erasable::ActorName.remove_from(&mut e));
        assert_eq!(e.actor.as_ref().and_then(|a| a.id.as_deref()), Some("u1"));
        assert!(Erasable::ActorId.remove_from(&mut e));
        assert_eq!(e.actor, None);
        assert!(e.metadata.is_some());
    }

    #[test]
    fn every_path_parses_back() {
        for field in Erasable::ALL {
            assert_eq!(Erasable::parse(field.path()), Some(field));
        }
        assert_eq!(Erasable::parse("action"), None);
        assert_eq!(Erasable::parse("seq"), None);
    }
}
