//! The integrity attestation: the trail checked against the signed checkpoint a report is made
//! at, and that checkpoint tied to the previous report's by a consistency proof.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use trailkeep_ledger::{Frontier, verify_consistency};
use trailkeep_store::verify::{RedactionCheck, check_stored};
use trailkeep_store::{CanonicalEvent, JobState, SignedCheckpoint, Store, StoreError};

use crate::job::{KIND, ReportResult};
use crate::model::{Attestation, PreviousCheckpoint, Verification};

/// Every event of a tenant, pushed in seq order from 0: each one's bytes hashed to its leaf
/// (a tombstone's kept leaf taken, and its bytes held to its redaction record), and the
/// leaves built into the tree whose root the checkpoint signs.
pub struct TrailCheck {
    tenant: String,
    frontier: Frontier,
    redactions: RedactionCheck,
    failure: Option<String>,
}

impl TrailCheck {
    /// A check of `tenant`'s trail.
    pub fn new(tenant: &str) -> Self {
        Self {
            tenant: tenant.to_owned(),
            frontier: Frontier::new(),
            redactions: RedactionCheck::default(),
            failure: None,
        }
    }

    /// Checks the next event.
    pub fn push(&mut self, event: &CanonicalEvent) {
        if self.failure.is_some() {
            return;
        }
        if event.seq != self.frontier.size() {
            self.failure = Some(format!(
                "seq {} is missing: the trail goes on at seq {}",
                self.frontier.size(),
                event.seq
            ));
            return;
        }
        let checked = check_stored(&event.canonical, &event.leaf_hash, event.seq, &self.tenant)
            .and_then(|row| {
                self.redactions.row(event.seq, &row)?;
                Ok(row)
            });
        match checked {
            Ok(row) => self.frontier.push(row.leaf),
            Err(why) => {
                self.failure = Some(format!("the event at seq {}: {why}", event.seq));
            }
        }
    }

    /// What it found, held to `checkpoint`; `period_events` of the events were the period's.
    pub fn finish(self, checkpoint: &SignedCheckpoint, period_events: u64) -> Verification {
        let redactions = self.redactions;
        let failure = self.failure.or_else(|| {
            if let Err((seq, why)) = redactions.finish() {
                Some(format!("the event at seq {seq}: {why}"))
            } else if self.frontier.size() != checkpoint.size {
                Some(format!(
                    "{} events were read, the checkpoint covers {}",
                    self.frontier.size(),
                    checkpoint.size
                ))
            } else if self.frontier.root() != checkpoint.root {
                Some("the events do not rebuild the checkpoint's root".into())
            } else {
                None
            }
        });
        Verification {
            verified: failure.is_none(),
            events_checked: self.frontier.size(),
            period_events,
            failure,
        }
    }
}

/// The tenant's newest report made before `this` at a checkpoint no larger than
/// `checkpoint`, with the consistency proof from its checkpoint to `checkpoint`.
pub async fn previous(
    store: &dyn Store,
    tenant: &str,
    this: &str,
    checkpoint: &SignedCheckpoint,
) -> Result<Option<PreviousCheckpoint>, StoreError> {
    let jobs = store.jobs(tenant, KIND, Some(this), 50).await?;
    let earlier = jobs.into_iter().find_map(|job| {
        let result: ReportResult = serde_json::from_str(job.result.as_deref()?).ok()?;
        (job.state == JobState::Succeeded && result.tree_size <= checkpoint.size)
            .then_some((job.id, result))
    });
    let Some((report_id, result)) = earlier else {
        return Ok(None);
    };
    let proof = if result.tree_size == checkpoint.size {
        Vec::new()
    } else {
        store
            .consistency_proof(tenant, result.tree_size, checkpoint.size)
            .await?
    };
    let root = STANDARD
        .decode(&result.root)
        .map_err(|e| StoreError::Corrupt(format!("report {report_id}'s root: {e}")))?;
    let consistent = if result.tree_size == checkpoint.size {
        root[..] == checkpoint.root[..]
    } else {
        verify_consistency(
            result.tree_size,
            checkpoint.size,
            &proof,
            &root,
            &checkpoint.root,
        )
        .is_ok()
    };
    Ok(Some(PreviousCheckpoint {
        report_id,
        tree_size: result.tree_size,
        root: result.root,
        consistency_proof: proof.iter().map(|h| STANDARD.encode(h)).collect(),
        consistent,
    }))
}

/// The attestation of a report made at `checkpoint`.
pub fn attestation(
    vkey: String,
    checkpoint: &SignedCheckpoint,
    previous: Option<PreviousCheckpoint>,
    verification: Verification,
) -> Attestation {
    Attestation {
        checkpoint: checkpoint.note.clone(),
        tree_size: checkpoint.size,
        root: STANDARD.encode(checkpoint.root),
        key_fingerprint: hex::encode(Sha256::digest(vkey.as_bytes())),
        vkey,
        previous,
        verification,
        how_to_check: HOW_TO_CHECK.into(),
    }
}

/// How a reader checks an attestation.
const HOW_TO_CHECK: &str = "To check it yourself, keep the vkey above and compare its \
    fingerprint with the one your operator publishes. On the server's data, trailkeep verify \
    --vkey KEY (with --store URL on the PostgreSQL engine) reads every event back, recomputes \
    its leaf and the root of every signed checkpoint, this one included, and names the first \
    event that does not match. Away from the server, export the tenant's events as NDJSON and \
    run trailkeep verify --export FILE --vkey KEY, which checks every line against the \
    export's own signed checkpoint; trailkeep proof verify-consistency with the two \
    checkpoints then shows that the export's tree extends this one.";
