//! Cloudflare's wire shapes: v2 and v1 records, envelopes, errors, and the v1 query string as
//! OpenAPI describes it.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::dialects::Instant;

/// A Cloudflare error or message.
#[derive(Serialize, ToSchema)]
pub struct CloudflareMessage {
    /// A Cloudflare-style numeric code.
    pub code: u32,
    /// What it says.
    pub message: String,
}

/// A Cloudflare error body.
#[derive(Serialize, ToSchema)]
pub struct CloudflareError {
    /// Always false.
    pub success: bool,
    /// What went wrong.
    pub errors: Vec<CloudflareMessage>,
    /// Always empty.
    pub messages: Vec<CloudflareMessage>,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
}

/// v2 record: the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Account {
    /// The account id (the tenant).
    pub id: String,
    /// The account name (the tenant).
    pub name: String,
}

/// v2 record: the action.
#[derive(Debug, Serialize, ToSchema)]
pub struct V2Action {
    /// The description.
    pub description: Option<String>,
    /// `success`, `failure` or `unknown`.
    pub result: String,
    /// When (RFC 3339).
    pub time: String,
    /// `create`, `update`, `delete`, `view`, `login`, ...
    #[serde(rename = "type")]
    pub kind: String,
}

/// v2 record: the actor.
#[derive(Debug, Serialize, ToSchema)]
pub struct V2Actor {
    /// How the actor authenticated.
    pub context: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Id.
    pub id: Option<String>,
    /// Address.
    pub ip_address: Option<String>,
    /// API token id.
    pub token_id: Option<String>,
    /// API token name.
    pub token_name: Option<String>,
    /// Type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// v2 record: the raw request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Raw {
    /// The Ray id.
    pub cf_ray_id: Option<String>,
    /// The HTTP method.
    pub method: Option<String>,
    /// The HTTP status.
    pub status_code: Option<u16>,
    /// The URI.
    pub uri: Option<String>,
    /// The user agent.
    pub user_agent: Option<String>,
}

/// v2 record: the resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct V2Resource {
    /// Id.
    pub id: Option<String>,
    /// Product.
    pub product: Option<String>,
    /// The request body (`metadata.request`), or `{}`.
    #[schema(value_type = Object)]
    pub request: Value,
    /// The response body (`metadata.response`), or `{}`.
    #[schema(value_type = Object)]
    pub response: Value,
    /// The scope: `{}`, or `{"type": <scope>}`.
    #[schema(value_type = Object)]
    pub scope: Value,
    /// Type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// v2 record: the zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct V2Zone {
    /// Zone id.
    pub id: Option<String>,
    /// Zone name.
    pub name: Option<String>,
}

/// A v2 audit log record, as the seed shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct V2Record {
    /// The account.
    pub account: Account,
    /// The action.
    pub action: V2Action,
    /// The actor.
    pub actor: V2Actor,
    /// The record id.
    pub id: String,
    /// The raw request.
    pub raw: Raw,
    /// The resource.
    pub resource: V2Resource,
    /// The zone.
    pub zone: V2Zone,
}

/// The next page's cursor, as Cloudflare's SDKs read it.
#[derive(Serialize, ToSchema)]
pub struct Cursors {
    /// The cursor.
    pub after: String,
}

/// v2 paging information.
#[derive(Serialize, ToSchema)]
pub struct V2ResultInfo {
    /// Records in this page.
    pub count: usize,
    /// The next page's cursor; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The same cursor, as `cursors.after`; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursors: Option<Cursors>,
}

/// The v2 answer.
#[derive(Serialize, ToSchema)]
pub struct V2Answer {
    /// Always true.
    pub success: bool,
    /// Always empty.
    pub errors: Vec<CloudflareMessage>,
    /// Always empty.
    pub messages: Vec<CloudflareMessage>,
    /// The records.
    pub result: Vec<V2Record>,
    /// Paging.
    pub result_info: V2ResultInfo,
}

/// v1 record: the action.
#[derive(Debug, Serialize, ToSchema)]
pub struct V1Action {
    /// The action, as stored.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it succeeded.
    pub result: bool,
    /// The description.
    pub info: Option<String>,
}

/// v1 record: the actor.
#[derive(Debug, Serialize, ToSchema)]
pub struct V1Actor {
    /// Id.
    pub id: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Address.
    pub ip: Option<String>,
    /// Type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// v1 record: the owner.
#[derive(Debug, Serialize, ToSchema)]
pub struct Owner {
    /// The account (the tenant).
    pub id: String,
}

/// v1 record: the resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct V1Resource {
    /// Id.
    pub id: Option<String>,
    /// Type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A v1 audit log record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct V1Record {
    /// The record id.
    pub id: String,
    /// The action.
    pub action: V1Action,
    /// The actor.
    pub actor: V1Actor,
    /// `metadata.interface` (`API`, `UI`, ...).
    pub interface: Option<String>,
    /// The event's metadata.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    /// The changed fields' new values, as JSON text.
    pub new_value: Option<String>,
    /// The changed fields' old values, as JSON text.
    pub old_value: Option<String>,
    /// The account.
    pub owner: Owner,
    /// The resource.
    pub resource: V1Resource,
    /// When (RFC 3339).
    pub when: String,
}

/// v1 paging information.
#[derive(Serialize, ToSchema)]
pub struct V1ResultInfo {
    /// The page.
    pub page: u64,
    /// Records a page.
    pub per_page: u32,
    /// Records in this page.
    pub count: usize,
    /// Matching records in all.
    pub total_count: u64,
}

/// The v1 answer.
#[derive(Serialize, ToSchema)]
pub struct V1Answer {
    /// Always true.
    pub success: bool,
    /// Always empty.
    pub errors: Vec<CloudflareMessage>,
    /// Always empty.
    pub messages: Vec<CloudflareMessage>,
    /// The records.
    pub result: Vec<V1Record>,
    /// Paging.
    pub result_info: V1ResultInfo,
}

/// v1 parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Described; the handlers parse the query string themselves.
pub struct V1Query {
    /// Only this record.
    #[param(min_length = 1, max_length = 256)]
    pub id: Option<String>,
    /// Accepted for compatibility (the answer is JSON either way).
    pub export: Option<bool>,
    /// Only this action.
    #[param(rename = "action.type", min_length = 1, max_length = 256)]
    pub action_type: Option<String>,
    /// Only this actor address.
    #[param(rename = "actor.ip", min_length = 1, max_length = 256)]
    pub actor_ip: Option<String>,
    /// Only this actor e-mail.
    #[param(rename = "actor.email", min_length = 1, max_length = 256)]
    pub actor_email: Option<String>,
    /// At or after (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    pub since: Option<String>,
    /// Before (RFC 3339 or YYYY-MM-DD).
    #[param(value_type = Option<Instant>, inline)]
    pub before: Option<String>,
    /// Only this zone.
    #[param(rename = "zone.name", min_length = 1, max_length = 256)]
    pub zone_name: Option<String>,
    /// `desc` (default) or `asc`.
    #[param(pattern = "^(desc|asc)$")]
    pub direction: Option<String>,
    /// Records a page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u64>,
    /// Leave out the actions of users (`actor.type = user`).
    pub hide_user_logs: Option<bool>,
}
