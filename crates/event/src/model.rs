//! The native event: what `/v1` accepts and returns, and what every dialect maps onto.
//!
//! Absent fields are `None` and are omitted when serialised, never written as `null`, so the
//! canonical bytes do not depend on how a client spelled "nothing".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::timestamp::Timestamp;

/// A stored audit event, with every server-assigned field filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// ULID, or the client's own id (unique per tenant).
    pub id: String,
    /// Dense per-tenant sequence number from 0: the event's leaf index in the tenant's tree.
    pub seq: u64,
    /// The tenant, taken from the credentials.
    pub tenant: String,
    /// When the action happened, as the client says (defaults to `received_at`).
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
    /// When the server accepted the event.
    #[schema(value_type = String, format = DateTime)]
    pub received_at: Timestamp,
    /// What happened, for example `contract.created`.
    pub action: String,
    /// The kind of action, derived from `action` unless supplied.
    pub category: Category,
    /// Whether the action succeeded.
    pub outcome: Outcome,
    /// Who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// What it was done to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Where and how it was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
    /// Field changes: name to `{from, to}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<HashMap<String, Change>>)]
    pub changes: Option<BTreeMap<String, Change>>,
    /// Human-readable summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form application data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Present only on a tombstone: retention or an erasure removed some or all of the fields
    /// above, and the remaining ones can no longer be proved against the leaf hash (which
    /// covered the whole event). Never sent by clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
}

/// What a tombstone says about the removal that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Redaction {
    /// Why the fields were removed.
    pub reason: RedactionReason,
    /// The fields removed, as paths (`actor.email`, `metadata`), in order; every removal so far.
    pub removed: Vec<String>,
    /// The id of the event that records the removal (action `trailkeep.redaction`); its
    /// metadata holds the digest of every tombstone the removal made.
    pub record: String,
    /// When the fields were removed.
    #[schema(value_type = String, format = DateTime)]
    pub redacted_at: Timestamp,
    /// The leaf hash of the whole event (hex), kept: the tree was built from it, and the
    /// bytes it covered are gone.
    pub leaf_hash: String,
    /// Earlier removals from the same event, oldest first: each one's record and the SHA-256
    /// (hex) of the tombstone it made, which that record's digest covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<EarlierRedaction>,
}

/// A removal before the latest one from the same event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EarlierRedaction {
    /// The id of the event that recorded it.
    pub record: String,
    /// SHA-256 (hex) of the tombstone it made.
    pub tombstone_sha256: String,
}

/// Why an event became a tombstone.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RedactionReason {
    /// A retention policy's time ran out.
    Retention,
    /// A person's data was erased on request.
    Erasure,
}

impl RedactionReason {
    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RedactionReason::Retention => "retention",
            RedactionReason::Erasure => "erasure",
        }
    }
}

/// Who performed the action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// `user`, `api_key`, `system`, `webhook`, `service`, or any other string.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub kind: Option<String>,
    /// The actor's id in the calling application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub id: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub email: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub name: Option<String>,
    /// Id of the API token used, when the actor authenticated with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub token_id: Option<String>,
    /// Name of the API token used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub token_name: Option<String>,
    /// How the actor authenticated (`dash`, `api_key`, `oauth`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub context: Option<String>,
}

/// The resource acted upon.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Resource type, for example `contract`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub kind: Option<String>,
    /// Resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub name: Option<String>,
    /// Product area the resource belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub product: Option<String>,
    /// Scope of the resource (`account`, `zone`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub scope: Option<String>,
}

/// Where and how the action was performed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// Client IP address (v4 or v6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub ip_address: Option<String>,
    /// Client user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2048)]
    pub user_agent: Option<String>,
    /// Human-readable location, for example `Riyadh, SA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub location: Option<String>,
    /// Device description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub device: Option<String>,
    /// Authentication method, for example `PASSWORD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub method: Option<String>,
    /// Distributed-tracing id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub trace_id: Option<String>,
    /// Zone the action concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Zone>,
    /// The HTTP request that carried the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// Where the client was, as coordinates (what impossible-travel detection reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
}

/// A point on the Earth, in degrees (WGS 84).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Geo {
    /// Latitude, from -90 to 90.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Longitude, from -180 to 180.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
}

/// A zone (Cloudflare's notion of a domain) an action concerned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Zone id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub id: Option<String>,
    /// Zone name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub name: Option<String>,
}

/// The HTTP request behind an action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub method: Option<String>,
    /// Request URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2048)]
    pub uri: Option<String>,
    /// Response status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Edge request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub ray_id: Option<String>,
}

/// One field's change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The value before (absent when the field was new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub from: Option<Value>,
    /// The value after (absent when the field was removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub to: Option<Value>,
}

/// The kind of action, used by filters, statistics and the dialects' action enums.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Something was created.
    Create,
    /// Something was read or viewed.
    Read,
    /// Something was changed.
    Update,
    /// Something was deleted.
    Delete,
    /// A sign-in (successful or not: see `outcome`).
    Login,
    /// A sign-out.
    Logout,
    /// Data left the system.
    Export,
    /// Something was approved.
    Approve,
    /// Something was rejected.
    Reject,
    /// Something was run.
    Execute,
    /// Anything else.
    Other,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 11] = [
        Category::Create,
        Category::Read,
        Category::Update,
        Category::Delete,
        Category::Login,
        Category::Logout,
        Category::Export,
        Category::Approve,
        Category::Reject,
        Category::Execute,
        Category::Other,
    ];

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Create => "create",
            Category::Read => "read",
            Category::Update => "update",
            Category::Delete => "delete",
            Category::Login => "login",
            Category::Logout => "logout",
            Category::Export => "export",
            Category::Approve => "approve",
            Category::Reject => "reject",
            Category::Execute => "execute",
            Category::Other => "other",
        }
    }

    /// Parses a wire name, case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(text))
    }
}

/// Whether the action succeeded.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It succeeded (the default).
    #[default]
    Success,
    /// It failed.
    Failure,
    /// Nobody knows.
    Unknown,
}

impl Outcome {
    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }

    /// Parses a wire name, case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        [Outcome::Success, Outcome::Failure, Outcome::Unknown]
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(text))
    }
}

impl Event {
    /// Parses stored canonical bytes back into an event.
    pub fn from_canonical(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The event's RFC 8785 canonical bytes, which its leaf hash covers.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, crate::CanonicalError> {
        let value = serde_json::to_value(self).map_err(|_| crate::CanonicalError::NonFinite)?;
        crate::canonicalize(&value)
    }
}
