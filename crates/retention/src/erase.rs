//! The `erasure` job: one person's data removed from their events on request (GDPR article
//! 17 and its kin). The person is named by actor id, e-mail, or both; their events are those
//! whose `actor.id` or `actor.email` is theirs. The fields asked for are removed from each
//! (unless a legal hold stands over it), the rest stays readable, and every export or report
//! file of the tenant that still holds one of the removed values is deleted.
//!
//! Nothing in the trail repeats the person's identifiers: the request and completion events
//! carry SHA-256 digests of them, and counts.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use trailkeep_event::{Erasable, Event, Filter, MAX_PAGE, Order, Query, RedactionReason};
use trailkeep_jobs::{Done, Handler, JobFailure, Work, job_to_run_now};
use trailkeep_store::{JobRecord, Store, StoreError};

use crate::files::{contains, remove_files};
use crate::hold::{Holds, MAX_REASON_CHARS};
use crate::remove::Remover;
use crate::{Actor, RetentionError, audit_event, failure};

/// The job kind.
pub const KIND: &str = "erasure";
/// Attempts an erasure gets; each starts over (what was removed stays removed).
const MAX_ATTEMPTS: u32 = 5;
/// Longest identifier.
const MAX_ID_CHARS: usize = 256;

/// Whose data is erased.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Their `actor.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// Their `actor.email` (matched without regard to ASCII case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Subject {
    /// SHA-256 digests (hex) of the identifiers, `actor_id:<id>` and `email:<lowercased>`:
    /// what the trail records instead of them.
    pub fn digests(&self) -> Vec<String> {
        let mut digests = Vec::new();
        if let Some(id) = &self.actor_id {
            digests.push(hex::encode(Sha256::digest(format!("actor_id:{id}"))));
        }
        if let Some(email) = &self.email {
            let email = email.to_ascii_lowercase();
            digests.push(hex::encode(Sha256::digest(format!("email:{email}"))));
        }
        digests
    }

    /// The listing filters that find their events.
    fn filters(&self) -> Vec<Filter> {
        let mut filters = Vec::new();
        if let Some(id) = &self.actor_id {
            filters.push(Filter {
                actor_id: Some(id.clone()),
                ..Filter::default()
            });
        }
        if let Some(email) = &self.email {
            filters.push(Filter {
                actor_email: Some(email.clone()),
                ..Filter::default()
            });
        }
        filters
    }
}

/// An erasure's parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErasureSpec {
    /// Whose data.
    pub subject: Subject,
    /// The fields to remove, as paths.
    pub fields: Vec<String>,
    /// Why (the request's reference).
    pub reason: String,
    /// Who asked.
    pub requested_by: Actor,
}

/// What an erasure did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureResult {
    /// The person's events found.
    pub matched: u64,
    /// Events the fields were removed from.
    pub erased: u64,
    /// Events kept whole because a legal hold stands over them.
    pub held: u64,
    /// Events that held none of the fields (already erased, say).
    pub unchanged: u64,
    /// The records written (one per batch of tombstones).
    pub records: Vec<String>,
    /// Export and report files deleted because they held a removed value.
    pub files_removed: u64,
}

/// What erasure jobs need to know.
#[derive(Debug, Clone, Default)]
pub struct ErasureSettings {
    /// Where export and report files are kept.
    pub files_dir: Option<PathBuf>,
}

/// Queues the erasure of `fields` (paths; [`Erasable::PERSONAL`] when empty) from `subject`'s
/// events in `tenant`, asked by `actor` for `reason`, recording the request.
pub async fn request(
    store: &dyn Store,
    tenant: &str,
    actor: &Actor,
    subject: Subject,
    fields: Vec<String>,
    reason: String,
) -> Result<JobRecord, RetentionError> {
    let invalid = |m: &str| Err(RetentionError::Invalid(m.to_owned()));
    let named = |v: &Option<String>| v.as_ref().is_some_and(|v| !v.trim().is_empty());
    if !named(&subject.actor_id) && !named(&subject.email) {
        return invalid("name the person by actor_id, email, or both");
    }
    if [&subject.actor_id, &subject.email]
        .iter()
        .any(|v| v.as_ref().is_some_and(|v| v.chars().count() > MAX_ID_CHARS))
    {
        return invalid("actor_id and email: at most 256 characters each");
    }
    if reason.trim().is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return invalid("reason: say why, in 1 to 1000 characters");
    }
    let fields = parse_fields(&fields)?;
    let id = format!("era_{}", ulid::Ulid::new().to_string().to_lowercase());
    let paths: Vec<&str> = fields.iter().map(|f| f.path()).collect();
    let audit = audit_event(
        tenant,
        "audit.erasure.requested",
        actor,
        ("erasure", &id),
        json!({"fields": paths, "reason": reason, "subject_sha256": subject.digests()}),
    )?;
    let spec = ErasureSpec {
        subject,
        fields: paths.iter().map(|p| (*p).to_owned()).collect(),
        reason,
        requested_by: actor.clone(),
    };
    let created_by = actor["id"].as_str().unwrap_or("unknown");
    let job = job_to_run_now(id, tenant, KIND, &spec, MAX_ATTEMPTS, created_by);
    Ok(store.enqueue(job, audit).await?)
}

/// The fields at `paths`, [`Erasable::PERSONAL`] when there are none; an unknown path is
/// refused, naming the ones there are.
pub fn parse_fields(paths: &[String]) -> Result<Vec<Erasable>, RetentionError> {
    if paths.is_empty() {
        return Ok(Erasable::PERSONAL.to_vec());
    }
    let mut fields = BTreeSet::new();
    for path in paths {
        let field = Erasable::parse(path).ok_or_else(|| {
            let known: Vec<&str> = Erasable::ALL.iter().map(|f| f.path()).collect();
            RetentionError::Invalid(format!(
                "fields: {path:?} cannot be erased; these can: {}",
                known.join(", ")
            ))
        })?;
        fields.insert(field);
    }
    Ok(fields.into_iter().collect())
}

/// The text values `fields` hold in `event`, as they appear in files: what a file must no
/// longer contain once they are removed.
fn values(event: &Event, fields: &[Erasable]) -> Vec<String> {
    let mut removed = event.clone();
    let mut values = Vec::new();
    for field in fields {
        let before = serde_json::to_value(&removed).unwrap_or(Value::Null);
        if field.remove_from(&mut removed) {
            let mut at = &before;
            for part in field.path().split('.') {
                at = &at[part];
            }
            collect_strings(at, &mut values);
        }
    }
    values.retain(|v| v.len() >= 3);
    values
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        // Numbers (coordinates) are too short and common to tell a file by.
        _ => {}
    }
}

/// The `erasure` job handler.
pub struct ErasureHandler {
    store: Arc<dyn Store>,
    settings: ErasureSettings,
}

impl ErasureHandler {
    /// A handler over `store`.
    pub fn new(store: Arc<dyn Store>, settings: ErasureSettings) -> Self {
        Self { store, settings }
    }

    /// The seqs of the subject's events, in order.
    async fn find(&self, tenant: &str, subject: &Subject) -> Result<BTreeSet<u64>, StoreError> {
        let mut seqs = BTreeSet::new();
        for filter in subject.filters() {
            let mut query = Query::first_page(filter, Order::Asc, MAX_PAGE);
            loop {
                let page = self.store.query(tenant, &query).await?;
                seqs.extend(page.events.iter().map(|e| e.event.seq));
                match page.next {
                    Some(next) => query.after = Some(next),
                    None => break,
                }
            }
        }
        Ok(seqs)
    }

    async fn erase(
        &self,
        job: &JobRecord,
        spec: &ErasureSpec,
        work: &Work,
    ) -> Result<Option<ErasureResult>, RetentionError> {
        let store = &*self.store;
        let tenant = job.tenant.as_str();
        let fields = parse_fields(&spec.fields)?;
        let holds = Holds::standing(store, tenant).await?;
        let seqs = self.find(tenant, &spec.subject).await?;
        let mut details = Map::new();
        details.insert("job".into(), job.id.clone().into());
        let mut remover = Remover::new(
            store,
            tenant,
            spec.requested_by.clone(),
            RedactionReason::Erasure,
            fields.clone(),
            details,
        );
        let mut result = ErasureResult {
            matched: seqs.len() as u64,
            ..ErasureResult::default()
        };
        let mut removed_values = BTreeSet::new();
        for (done, seq) in seqs.into_iter().enumerate() {
            if work.stopped() {
                return Ok(None);
            }
            let Some(stored) = store.get_by_seq(tenant, seq).await? else {
                continue;
            };
            if holds.covering(&stored.event).is_some() {
                result.held += 1;
                continue;
            }
            let event_values = values(&stored.event, &fields);
            if remover.push(&stored).await? {
                removed_values.extend(event_values);
            } else {
                result.unchanged += 1;
            }
            if done % 1000 == 999 {
                work.report(json!({"examined": done + 1, "of": result.matched}));
            }
        }
        remover.flush().await?;
        result.erased = remover.removed;
        result.records = remover.records;
        if let Some(dir) = &self.settings.files_dir {
            result.files_removed = remove_files(
                store,
                tenant,
                dir,
                |_| true,
                |bytes| removed_values.iter().any(|v| contains(bytes, v.as_bytes())),
            )
            .await?;
        }
        Ok(Some(result))
    }
}

fn failed(job: &JobRecord, error: String) -> JobFailure {
    failure(job, "audit.erasure.failed", "erasure", error)
}

#[async_trait]
impl Handler for ErasureHandler {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, job: &JobRecord, work: &Work) -> Result<Done, JobFailure> {
        let spec: ErasureSpec = serde_json::from_str(&job.spec)
            .map_err(|e| failed(job, format!("the parameters do not parse: {e}")))?;
        let result = match self.erase(job, &spec, work).await {
            Ok(Some(result)) => result,
            Ok(None) => return Err(JobFailure::Stopped),
            Err(error) => return Err(failed(job, format!("the erasure stopped: {error}"))),
        };
        let audit = audit_event(
            &job.tenant,
            "audit.erasure.completed",
            &spec.requested_by,
            ("erasure", &job.id),
            json!({
                "subject_sha256": spec.subject.digests(),
                "fields": spec.fields,
                "matched": result.matched,
                "erased": result.erased,
                "held": result.held,
                "unchanged": result.unchanged,
                "records": result.records.len(),
                "files_removed": result.files_removed,
            }),
        )
        .map_err(|e| failed(job, e.to_string()))?;
        let result = serde_json::to_value(&result).expect("a result serialises");
        Ok(Done { result, audit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailkeep_event::{Timestamp, prepare};

    #[test]
    fn the_values_a_file_must_lose_are_those_removed() {
        let event = prepare(
            &json!({"action": "user.login", "actor": {"id": "u1", "email": "ann@example.com", "name": "Ann Lee"},
                    "context": {"ip_address": "192.0.2.1", "geo": {"lat": 1.5, "lon": 2.5}}}),
            "t",
            Timestamp::now(),
        )
        .unwrap()
        .event;
        let mut found = values(&event, &Erasable::PERSONAL);
        found.sort();
        assert_eq!(found, ["192.0.2.1", "Ann Lee", "ann@example.com"]);
        assert!(parse_fields(&["actor.email".into(), "nope".into()]).is_err());
        assert_eq!(parse_fields(&[]).unwrap(), Erasable::PERSONAL.to_vec());
    }
}
