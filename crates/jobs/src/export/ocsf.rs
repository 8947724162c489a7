//! Events as OCSF 1.8.0 records (the Open Cybersecurity Schema Framework), for exports to
//! SIEMs and data lakes that read OCSF.
//!
//! Each event becomes one record of the class that fits it best:
//!
//! | event | class | activity |
//! | --- | --- | --- |
//! | category `login` or `logout` | Authentication (3002) | 1 Logon, 2 Logoff |
//! | category `read` or `export` with a target (data access) | Datastore Activity (6005) | 1 Read |
//! | any other event with a target | Entity Management (3004) | 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other |
//! | the rest | API Activity (6003) | 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other |
//!
//! Every record carries the base attributes OCSF requires (`class_uid`, `category_uid`,
//! `activity_id`, `type_uid = class_uid * 100 + activity_id`, `severity_id`, `time` in
//! milliseconds, `metadata` with the product and the schema version) and `status_id` from the
//! outcome. `metadata.uid` is the event id, `metadata.sequence` its seq, `metadata.tenant_uid`
//! its tenant; the actor is `actor.user`; the IP address is `src_endpoint.ip`; a sign-in's
//! `service` is its target, or the tenant when it has none. What OCSF has no
//! attribute for (the action's own name, its changes and metadata, a tombstone's redaction)
//! is kept under
//! `unmapped.trailkeep` (with the target of a data access, whose kind names the `table` read),
//! so nothing is lost. API Activity
//! and Datastore Activity require an actor and a source endpoint: an event without them gets
//! `{"app_name": "unknown"}` and `{"name": "unknown"}`.

use serde_json::{Map, Value, json};
use trailkeep_event::{Category, Event, Outcome};

/// The OCSF version the records follow.
pub const OCSF_VERSION: &str = "1.8.0";

/// The OCSF activity of a category: Create, Read, Update, Delete or Other.
fn crud_activity(category: Category) -> (u64, &'static str) {
    match category {
        Category::Create => (1, "Create"),
        Category::Read => (2, "Read"),
        Category::Update => (3, "Update"),
        Category::Delete => (4, "Delete"),
        _ => (99, "Other"),
    }
}

fn millis(event_time: trailkeep_event::Timestamp) -> i64 {
    event_time.as_micros().div_euclid(1000)
}

/// The OCSF user of the event's actor, when it names one.
fn user(event: &Event) -> Option<Value> {
    let actor = event.actor.as_ref()?;
    let mut user = Map::new();
    if let Some(id) = &actor.id {
        user.insert("uid".into(), json!(id));
    }
    if let Some(name) = &actor.name {
        user.insert("name".into(), json!(name));
    }
    if let Some(email) = &actor.email {
        user.insert("email_addr".into(), json!(email));
        if !user.contains_key("name") {
            user.insert("name".into(), json!(email));
        }
    }
    if let Some(kind) = &actor.kind {
        user.insert("type".into(), json!(kind));
    }
    (user.contains_key("uid") || user.contains_key("name")).then_some(Value::Object(user))
}

/// The event as one OCSF record.
pub fn record(event: &Event) -> Value {
    let (class_uid, class_name, category_uid, category_name, activity_id, activity_name) =
        match (event.category, event.target.as_ref()) {
            (Category::Login, _) => (
                3002,
                "Authentication",
                3,
                "Identity & Access Management",
                1,
                "Logon",
            ),
            (Category::Logout, _) => (
                3002,
                "Authentication",
                3,
                "Identity & Access Management",
                2,
                "Logoff",
            ),
            (Category::Read | Category::Export, Some(_)) => (
                6005,
                "Datastore Activity",
                6,
                "Application Activity",
                1,
                "Read",
            ),
            (category, Some(_)) => {
                let (id, name) = crud_activity(category);
                (
                    3004,
                    "Entity Management",
                    3,
                    "Identity & Access Management",
                    id,
                    name,
                )
            }
            (category, None) => {
                let (id, name) = crud_activity(category);
                (6003, "API Activity", 6, "Application Activity", id, name)
            }
        };
    let (status_id, status) = match event.outcome {
        Outcome::Success => (1, "Success"),
        Outcome::Failure => (2, "Failure"),
        Outcome::Unknown => (0, "Unknown"),
    };
    let mut record = json!({
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": format!("{class_name}: {activity_name}"),
        "severity_id": 1,
        "severity": "Informational",
        "time": millis(event.occurred_at),
        "status_id": status_id,
        "status": status,
        "message": event.description.clone().unwrap_or_else(|| event.action.clone()),
        "metadata": {
            "product": {"name": "Trailkeep", "vendor_name": "Trailkeep"},
            "version": OCSF_VERSION,
            "uid": event.id,
            "sequence": event.seq,
            "tenant_uid": event.tenant,
            "logged_time": millis(event.received_at),
            "log_name": "audit",
        },
        "unmapped": {
            "trailkeep": {
                "action": event.action,
                "category": event.category,
                "changes": event.changes,
                "metadata": event.metadata,
                "redaction": event.redaction,
            },
        },
    });
    let fields = record.as_object_mut().expect("an object");
    let user = user(event);
    if let Some(user) = &user {
        fields.insert("actor".into(), json!({"user": user}));
    }
    let ip = event.context.as_ref().and_then(|c| c.ip_address.clone());
    if let Some(ip) = &ip {
        fields.insert("src_endpoint".into(), json!({"ip": ip}));
    }
    match class_uid {
        3002 => {
            // Authentication requires the user signing in or out, and the service signed in
            // to: the event's target when it has one, else the tenant's own application.
            let user = user.unwrap_or_else(|| json!({"name": "unknown"}));
            fields.insert("user".into(), user);
            let service = event
                .target
                .as_ref()
                .and_then(|t| t.name.clone().or_else(|| t.id.clone()))
                .unwrap_or_else(|| event.tenant.clone());
            fields.insert("service".into(), json!({"name": service}));
        }
        3004 => {
            let target = event.target.as_ref().expect("a target");
            let mut entity = Map::new();
            if let Some(id) = &target.id {
                entity.insert("uid".into(), json!(id));
            }
            entity.insert(
                "name".into(),
                json!(
                    target
                        .name
                        .clone()
                        .or_else(|| target.id.clone())
                        .unwrap_or_else(|| "unknown".into())
                ),
            );
            if let Some(kind) = &target.kind {
                entity.insert("type".into(), json!(kind));
            }
            fields.insert("entity".into(), Value::Object(entity));
        }
        _ => {
            if class_uid == 6003 {
                fields.insert("api".into(), json!({"operation": event.action}));
            } else {
                // Datastore Activity needs the store read: the table of the target's kind;
                // the target itself is kept whole under `unmapped`.
                let kind = event.target.as_ref().and_then(|t| t.kind.clone());
                fields.insert(
                    "table".into(),
                    json!({"name": kind.unwrap_or_else(|| "unknown".into())}),
                );
                record["unmapped"]["trailkeep"]["target"] = json!(event.target);
            }
            let fields = record.as_object_mut().expect("an object");
            fields
                .entry("actor")
                .or_insert_with(|| json!({"app_name": "unknown"}));
            fields
                .entry("src_endpoint")
                .or_insert_with(|| json!({"name": "unknown"}));
        }
    }
    record
}
