//! Wire shapes of `GET /v1/session` and `POST /v1/viewer-tokens` (the viewer, `/ui`).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Which events an embed token shows: one actor's, one target's, or (empty) the tenant's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewScope {
    /// Only events by this actor (`actor.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    pub actor_id: Option<String>,
    /// Only events on targets of this type (with `target_id`, one target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    pub target_type: Option<String>,
    /// Only events on this target (`target.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    pub target_id: Option<String>,
}

/// `POST /v1/viewer-tokens` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateViewerToken {
    /// What the token shows; the tenant's whole trail when omitted.
    #[serde(default, deserialize_with = "object")]
    pub scope: ViewScope,
    /// Who will look, in the embedding product's terms (a user id): the actor of the
    /// `audit.log.viewed` events the viewing writes. `viewer` when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    pub viewer: Option<String>,
    /// How long the token works, in seconds: 60 to 3600, 900 when omitted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::option_u64"
    )]
    #[schema(minimum = 60, maximum = 3600)]
    pub expires_in: Option<u64>,
}

/// A new embed token: read-only, for one tenant, short-lived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ViewerToken {
    /// The token (a bearer credential; shown once).
    pub token: String,
    /// The viewer's address with the token in its fragment (which browsers never send to a
    /// server), for a link or an iframe's `src`.
    pub url: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
    /// What it shows.
    pub scope: ViewScope,
}

/// `GET /v1/session`: who the credential is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// The tenant.
    pub tenant: String,
    /// The roles granted (scope strings).
    pub roles: Vec<String>,
    /// `api_key`, `token` or `viewer` (an embed token).
    pub credential: String,
    /// The key id or token subject, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// When the credential stops working (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// An embed token's scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<ViewScope>,
}

/// A scope from a JSON object only (serde would also take a struct from an array, which the
/// description does not allow).
fn object<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ViewScope, D::Error> {
    let map = Map::<String, Value>::deserialize(deserializer)?;
    ViewScope::deserialize(Value::Object(map)).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_is_an_object() {
        let body: CreateViewerToken =
            serde_json::from_str(r#"{"scope": {"actor_id": "u1"}}"#).unwrap();
        assert_eq!(body.scope.actor_id.as_deref(), Some("u1"));
        assert!(serde_json::from_str::<CreateViewerToken>(r#"{"scope": [null, null]}"#).is_err());
        assert!(
            serde_json::from_str::<CreateViewerToken>(r#"{"scope": {"actor": "u1"}}"#).is_err()
        );
    }
}
