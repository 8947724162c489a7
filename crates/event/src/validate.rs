//! Validation and normalisation of an incoming event, ending in a [`PreparedEvent`] whose canonical
//! bytes only lack the `seq` the ledger writer assigns.
//!
//! Every limit of DESIGN section 3 is checked here, and each violation names its field, so the API
//! can answer a batch with "index 3, field `actor.id`: must be at most 256 characters" and store
//! nothing.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::{self, CanonicalError};
use crate::model::{Actor, Category, Change, Context, Event, Outcome, Target};
use crate::normalize::{category_for_action, normalize_actor_type};
use crate::timestamp::Timestamp;

/// Largest canonical event, `seq` included.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Longest `action`, in characters.
pub const MAX_ACTION_CHARS: usize = 128;
/// Longest id, name, type or e-mail, in characters.
pub const MAX_ID_CHARS: usize = 256;
/// Longest free text such as a user agent or request URI, in characters.
pub const MAX_TEXT_CHARS: usize = 2048;
/// Longest `description`, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 8 * 1024;
/// Deepest nesting of arrays and objects; the event object itself is depth 1.
pub const MAX_DEPTH: usize = 16;
/// How far in the future `occurred_at` may lie, in microseconds (5 minutes).
pub const MAX_FUTURE_MICROS: i64 = 5 * 60 * 1_000_000;
/// Longest tenant name, in characters.
pub const MAX_TENANT_CHARS: usize = 128;

/// Fields a client may not send: the server assigns them.
const SERVER_FIELDS: [&str; 4] = ["seq", "tenant", "received_at", "redaction"];

/// The action of the event that records a removal (retention, erasure): its metadata holds the
/// digest of the tombstones the removal made, which verification checks them against. Only the
/// service writes it ([`prepare_redaction_record`]); [`prepare`] refuses it, so that nobody can
/// vouch for a forged tombstone.
pub const REDACTION_RECORD_ACTION: &str = "trailkeep.redaction";

/// One reason an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Path of the offending field, such as `actor.id` or `metadata.items[2]`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What a client sends: every field optional but `action`; the server assigns `seq`, `tenant`
/// and `received_at` and refuses them here. This struct is both the parser and, through its
/// schema, the documentation of the ingest body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// The client's own id (makes retries idempotent); a ULID is assigned when omitted.
    #[serde(default)]
    #[schema(max_length = 256, pattern = "^[A-Za-z0-9._:~@-]+$")]
    id: Option<String>,
    /// When the action happened; at most 5 minutes in the future; defaults to now.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    occurred_at: Option<Timestamp>,
    /// What happened, for example `contract.created`.
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 128, pattern = "\\S")]
    action: Option<String>,
    /// The kind of action; derived from `action` when omitted.
    #[serde(default)]
    category: Option<Category>,
    /// Whether it succeeded; `success` when omitted.
    #[serde(default)]
    outcome: Option<Outcome>,
    /// Who did it.
    #[serde(default)]
    actor: Option<Actor>,
    /// What it was done to.
    #[serde(default)]
    target: Option<Target>,
    /// Where and how.
    #[serde(default)]
    context: Option<Context>,
    /// Field changes: name to `{from, to}`.
    #[serde(default)]
    #[schema(value_type = Option<HashMap<String, Change>>)]
    changes: Option<BTreeMap<String, Change>>,
    /// A human-readable summary (at most 8 KiB of UTF-8).
    #[serde(default)]
    #[schema(max_length = 8192)]
    description: Option<String>,
    /// Free-form application data (nesting at most 16 levels; integers within 2^53).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<Map<String, Value>>,
}

/// A valid, normalised event waiting for its `seq`.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    /// The event, with `seq` still 0.
    pub event: Event,
    /// Whether the client chose the id (which makes the write idempotent).
    pub client_id: bool,
    /// Whether the client gave `occurred_at` (otherwise it is `received_at`).
    pub occurred_at_given: bool,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl PreparedEvent {
    /// The event's canonical bytes once it is given `seq`.
    pub fn canonical_bytes(&self, seq: u64) -> Vec<u8> {
        let digits = seq.to_string();
        let mut out = Vec::with_capacity(self.head.len() + digits.len() + self.tail.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(digits.as_bytes());
        out.extend_from_slice(&self.tail);
        out
    }

    /// The stored event once it is given `seq`.
    pub fn into_event(self, seq: u64) -> Event {
        Event { seq, ..self.event }
    }

    /// Whether `stored` records the same event as this one, for an idempotent retry with a
    /// client-supplied id: everything but `seq`, `received_at` and, when this request did not
    /// give it, `occurred_at` must match, as canonical bytes (so `1.0` and `1`, the same JSON
    /// number, are the same, as they are in the ledger).
    pub fn same_content(&self, stored: &Event) -> bool {
        match (self.bytes_in_place_of(stored), stored.canonical_bytes()) {
            (Some(mine), Ok(theirs)) => mine == theirs,
            _ => false,
        }
    }

    /// This event's canonical bytes had it been stored as `stored` was (its `seq`,
    /// `received_at` and, when this request did not give it, `occurred_at`): what the leaf hash
    /// of `stored` covers when the two are the same event, which is how a retry is recognised
    /// when `stored` has become a tombstone.
    pub fn bytes_in_place_of(&self, stored: &Event) -> Option<Vec<u8>> {
        let mut mine = self.event.clone();
        mine.seq = stored.seq;
        mine.received_at = stored.received_at;
        if !self.occurred_at_given {
            mine.occurred_at = stored.occurred_at;
        }
        mine.canonical_bytes().ok()
    }
}

/// Checks a tenant name: 1 to 128 characters of `A-Z a-z 0-9 . _ -`.
pub fn validate_tenant(tenant: &str) -> Result<(), String> {
    if tenant.is_empty() || tenant.chars().count() > MAX_TENANT_CHARS {
        return Err(format!("must be 1 to {MAX_TENANT_CHARS} characters"));
    }
    if !tenant
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err("may contain only letters, digits, '.', '_' and '-'".into());
    }
    Ok(())
}

/// Validates and normalises one incoming event for `tenant`, received at `received_at`.
pub fn prepare(
    raw: &Value,
    tenant: &str,
    received_at: Timestamp,
) -> Result<PreparedEvent, Vec<FieldError>> {
    let prepared = prepare_any(raw, tenant, received_at)?;
    if prepared.event.action == REDACTION_RECORD_ACTION {
        return Err(vec![FieldError::new(
            "action",
            "is reserved for the service's records of removed events",
        )]);
    }
    Ok(prepared)
}

/// [`prepare`] for the service's own record of a removal, whose action
/// ([`REDACTION_RECORD_ACTION`]) clients may not use.
pub fn prepare_redaction_record(
    raw: &Value,
    tenant: &str,
    received_at: Timestamp,
) -> Result<PreparedEvent, Vec<FieldError>> {
    let prepared = prepare_any(raw, tenant, received_at)?;
    if prepared.event.action != REDACTION_RECORD_ACTION {
        return Err(vec![FieldError::new(
            "action",
            format!("a redaction record's action is {REDACTION_RECORD_ACTION}"),
        )]);
    }
    Ok(prepared)
}

fn prepare_any(
    raw: &Value,
    tenant: &str,
    received_at: Timestamp,
) -> Result<PreparedEvent, Vec<FieldError>> {
    let Value::Object(object) = raw else {
        return Err(vec![FieldError::new("", "an event must be a JSON object")]);
    };
    let mut errors = Vec::new();
    for field in SERVER_FIELDS {
        if object.contains_key(field) {
            errors.push(FieldError::new(field, "is assigned by the server"));
        }
    }
    check_raw(raw, &mut String::new(), 1, &mut errors);
    check_shapes(object, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let input: EventInput = serde_path_to_error::deserialize(raw).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        vec![FieldError::new(field, e.into_inner().to_string())]
    })?;
    build(input, tenant, received_at)
}

fn build(
    input: EventInput,
    tenant: &str,
    received_at: Timestamp,
) -> Result<PreparedEvent, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut limit = |field: &str, value: &Option<String>, max: usize| {
        if let Some(text) = value
            && text.chars().count() > max
        {
            errors.push(FieldError::new(
                field,
                format!("must be at most {max} characters"),
            ));
        }
    };

    let action = input.action.clone().unwrap_or_default();
    limit("action", &input.action, MAX_ACTION_CHARS);
    limit("id", &input.id, MAX_ID_CHARS);
    let actor = input
        .actor
        .map(clean_actor)
        .filter(|a| *a != Actor::default());
    if let Some(a) = &actor {
        for (field, value) in [
            ("actor.type", &a.kind),
            ("actor.id", &a.id),
            ("actor.email", &a.email),
            ("actor.name", &a.name),
            ("actor.token_id", &a.token_id),
            ("actor.token_name", &a.token_name),
            ("actor.context", &a.context),
        ] {
            limit(field, value, MAX_ID_CHARS);
        }
    }
    let target = input
        .target
        .map(clean_target)
        .filter(|t| *t != Target::default());
    if let Some(t) = &target {
        for (field, value) in [
            ("target.type", &t.kind),
            ("target.id", &t.id),
            ("target.name", &t.name),
            ("target.product", &t.product),
            ("target.scope", &t.scope),
        ] {
            limit(field, value, MAX_ID_CHARS);
        }
    }
    let context = input
        .context
        .map(clean_context)
        .filter(|c| *c != Context::default());
    if let Some(c) = &context {
        for (field, value, max) in [
            ("context.ip_address", &c.ip_address, MAX_ID_CHARS),
            ("context.user_agent", &c.user_agent, MAX_TEXT_CHARS),
            ("context.location", &c.location, MAX_ID_CHARS),
            ("context.device", &c.device, MAX_ID_CHARS),
            ("context.method", &c.method, MAX_ID_CHARS),
            ("context.trace_id", &c.trace_id, MAX_ID_CHARS),
        ] {
            limit(field, value, max);
        }
        if let Some(zone) = &c.zone {
            limit("context.zone.id", &zone.id, MAX_ID_CHARS);
            limit("context.zone.name", &zone.name, MAX_ID_CHARS);
        }
        if let Some(request) = &c.request {
            limit("context.request.method", &request.method, MAX_ID_CHARS);
            limit("context.request.uri", &request.uri, MAX_TEXT_CHARS);
            limit("context.request.ray_id", &request.ray_id, MAX_ID_CHARS);
        }
    }
    if action.trim().is_empty() {
        errors.push(FieldError::new(
            "action",
            "is required and must not be empty",
        ));
    }
    if let Some(id) = &input.id {
        if id.is_empty() {
            errors.push(FieldError::new("id", "must not be empty"));
        } else if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '~' | '@'))
        {
            errors.push(FieldError::new(
                "id",
                "may contain only letters, digits and - _ . : ~ @",
            ));
        }
    }
    if let Some(geo) = context.as_ref().and_then(|c| c.geo)
        && !((-90.0..=90.0).contains(&geo.lat) && (-180.0..=180.0).contains(&geo.lon))
    {
        errors.push(FieldError::new(
            "context.geo",
            "lat must be from -90 to 90 and lon from -180 to 180",
        ));
    }
    if let Some(ip) = context.as_ref().and_then(|c| c.ip_address.as_ref())
        && ip.parse::<IpAddr>().is_err()
    {
        errors.push(FieldError::new(
            "context.ip_address",
            "is not an IPv4 or IPv6 address",
        ));
    }
    if let Some(description) = &input.description
        && description.len() > MAX_DESCRIPTION_BYTES
    {
        errors.push(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_BYTES} bytes"),
        ));
    }
    if let Some(occurred_at) = input.occurred_at
        && occurred_at > received_at.plus_micros(MAX_FUTURE_MICROS)
    {
        errors.push(FieldError::new(
            "occurred_at",
            "lies more than 5 minutes in the future",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let category = input
        .category
        .unwrap_or_else(|| category_for_action(&action));
    let event = Event {
        id: input
            .id
            .clone()
            .unwrap_or_else(|| ulid::Ulid::new().to_string()),
        seq: 0,
        tenant: tenant.to_owned(),
        occurred_at: input.occurred_at.unwrap_or(received_at),
        received_at,
        action,
        category,
        outcome: input.outcome.unwrap_or_default(),
        actor,
        target,
        context,
        changes: input.changes.filter(|c| !c.is_empty()),
        description: input.description.filter(|d| !d.is_empty()),
        metadata: input.metadata.filter(|m| !m.is_empty()),
        redaction: None,
    };
    let (head, tail) = slot_bytes(&event).map_err(|e| vec![FieldError::new("", e.to_string())])?;
    // 16 digits hold any seq up to 2^53.
    if head.len() + tail.len() + 16 > MAX_EVENT_BYTES {
        return Err(vec![FieldError::new(
            "",
            format!("the canonical event must be at most {MAX_EVENT_BYTES} bytes"),
        )]);
    }
    Ok(PreparedEvent {
        event,
        client_id: input.id.is_some(),
        occurred_at_given: input.occurred_at.is_some(),
        head,
        tail,
    })
}

fn slot_bytes(event: &Event) -> Result<(Vec<u8>, Vec<u8>), CanonicalError> {
    let Ok(Value::Object(mut map)) = serde_json::to_value(event) else {
        return Err(CanonicalError::NonFinite);
    };
    map.remove("seq");
    canonical::canonical_with_slot(&map, "seq")
}

fn clean(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

fn clean_actor(actor: Actor) -> Actor {
    Actor {
        kind: clean(actor.kind).map(|k| normalize_actor_type(&k)),
        id: clean(actor.id),
        email: clean(actor.email),
        name: clean(actor.name),
        token_id: clean(actor.token_id),
        token_name: clean(actor.token_name),
        context: clean(actor.context),
    }
}

fn clean_target(target: Target) -> Target {
    Target {
        kind: clean(target.kind),
        id: clean(target.id),
        name: clean(target.name),
        product: clean(target.product),
        scope: clean(target.scope),
    }
}

fn clean_context(context: Context) -> Context {
    Context {
        ip_address: clean(context.ip_address),
        user_agent: clean(context.user_agent),
        location: clean(context.location),
        device: clean(context.device),
        method: clean(context.method),
        trace_id: clean(context.trace_id),
        zone: context.zone.filter(|z| z.id.is_some() || z.name.is_some()),
        request: context.request,
        geo: context.geo,
    }
}

/// Walks the raw JSON once for the structural limits: depth, NUL bytes, unsafe integers.
/// Refuses arrays where an object belongs: serde would read `"target": ["x", "y"]` as a
/// struct written positionally, which no client means.
fn check_shapes(object: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    let mut expect_object = |path: String, value: Option<&Value>| {
        if let Some(value) = value
            && !(value.is_object() || value.is_null())
        {
            errors.push(FieldError::new(path, "must be an object"));
        }
    };
    for field in ["actor", "target", "context", "changes", "metadata"] {
        expect_object(field.to_owned(), object.get(field));
    }
    if let Some(Value::Object(context)) = object.get("context") {
        for field in ["zone", "request", "geo"] {
            expect_object(format!("context.{field}"), context.get(field));
        }
    }
    if let Some(Value::Object(changes)) = object.get("changes") {
        for (name, change) in changes {
            expect_object(format!("changes.{name}"), Some(change));
        }
    }
}

fn check_raw(value: &Value, path: &mut String, depth: usize, errors: &mut Vec<FieldError>) {
    if errors.len() >= 16 {
        return;
    }
    match value {
        Value::String(s) if s.contains('\0') => {
            errors.push(FieldError::new(path.clone(), "must not contain NUL bytes"));
        }
        Value::Number(_) => {
            if let Err(e) = canonical::check_numbers(value) {
                errors.push(FieldError::new(path.clone(), e.to_string()));
            }
        }
        Value::Array(_) | Value::Object(_) if depth > MAX_DEPTH => {
            errors.push(FieldError::new(
                path.clone(),
                format!("nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_raw(item, path, depth + 1, errors);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                if key.contains('\0') {
                    errors.push(FieldError::new(
                        path.clone(),
                        "key must not contain NUL bytes",
                    ));
                } else {
                    check_raw(item, path, depth + 1, errors);
                }
                path.truncate(len);
            }
        }
        _ => {}
    }
}
