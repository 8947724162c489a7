//! Exports: a tenant's events matching a filter, written to a file in one of the formats, with
//! a signed manifest, as a durable job.
//!
//! An export is cut at a signed checkpoint: the job takes the tenant's tree size when it starts,
//! asks for the first checkpoint covering it, and considers exactly the events below that
//! checkpoint's size, read in seq order (the store's key order) a chunk at a time and written
//! as they are read, so memory does not grow with the export. It writes while the checkpoint is
//! being signed (up to a second), except a filtered NDJSON export, whose audit paths need the
//! checkpoint's size first. The file is written under a temporary name,
//! synced and renamed when whole; a retried attempt starts again from the beginning.
//!
//! An NDJSON export can be checked offline against the checkpoint in its manifest
//! ([`verify`]). It comes with a proofs file, a line per event: its seq, its leaf hash and its
//! inclusion proof at the checkpoint's size. An unfiltered export's proofs are empty, since its
//! leaves rebuild the checkpoint's root by themselves (about 70 bytes a line); a filtered one's
//! are the audit paths (about 45 bytes times log2 of the tree size a line). Either way each
//! line of the export is tied to a leaf the checkpoint signs, so a verifier names the first line
//! that was altered, removed or moved.
//!
//! Finished files are kept for [`ExportSettings::keep`], then removed by an `export.expire` job
//! queued when the export completes.

mod deliver;
mod format;
mod link;
mod manifest;
pub mod ocsf;
pub mod verify;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use trailkeep_event::{Event, Filter, PreparedEvent, Timestamp};
use trailkeep_store::{JobRecord, NewJob, SignedCheckpoint, Store, StoreError};

pub use deliver::{
    Deliveries, Destination, Parcel, SmtpSecurity, SmtpSettings, WebhookSettings, is_email_address,
};
pub use format::{DEFAULT_COLUMNS, EventWriter, Format, KNOWN_COLUMNS};
pub use link::{Link, LinkError, Part, SharedLinks, share};
pub use manifest::{FileDigest, MANIFEST_ORIGIN, Manifest};

use crate::runner::{Done, Handler, JobFailure, Work};
use crate::{job_to_run_now, new_job_id, now_ms};

/// The job kind of an export.
pub const KIND: &str = "export";

/// The job kind that removes an export's files once they expire.
pub const EXPIRE_KIND: &str = "export.expire";

/// Attempts an export gets before it fails for good.
const MAX_ATTEMPTS: u32 = 3;

/// Events read from the store at a time.
const CHUNK: usize = 2_000;

/// What an export is asked to do: the job's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSpec {
    /// The file format.
    pub format: Format,
    /// Which events.
    pub filter: Filter,
    /// A CSV export's columns (the defaults when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// Where the file goes.
    pub destination: Destination,
    /// Who asked (the audit event's actor), for the completion and failure events.
    pub requested_by: Value,
}

impl ExportSpec {
    /// The CSV columns in force (`None` for other formats).
    fn columns(&self) -> Option<Vec<String>> {
        (self.format == Format::Csv).then(|| {
            self.columns
                .clone()
                .unwrap_or_else(|| DEFAULT_COLUMNS.iter().map(|c| (*c).to_owned()).collect())
        })
    }
}

/// One line of an NDJSON export's proofs file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofLine {
    /// The event's seq.
    pub seq: u64,
    /// Its leaf hash, standard base64.
    pub leaf_hash: String,
    /// Its audit path at the manifest's checkpoint, standard base64, leaf to root; empty in an
    /// unfiltered export.
    pub proof: Vec<String>,
}

/// A succeeded export's result (the job's result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportResult {
    /// Events written.
    pub count: u64,
    /// The file.
    pub file: FileDigest,
    /// The manifest's file name.
    pub manifest: String,
    /// The proofs file, for an NDJSON export.
    pub proofs: Option<FileDigest>,
    /// The tree size it was cut at.
    pub tree_size: u64,
    /// When the files are removed (ms since the epoch).
    pub expires_at: i64,
    /// What the destination did with the files.
    #[serde(default)]
    pub delivered: Value,
}

/// What the export jobs need to know.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// Where files are written.
    pub dir: PathBuf,
    /// How long finished files are kept.
    pub keep: Duration,
    /// The destinations besides download the operator configured.
    pub deliveries: Deliveries,
    /// The server's public address (`https://audit.example.com`), when the operator gave one:
    /// an e-mail or webhook delivery of a file above its size bound then sends signed links
    /// to the files instead of the files.
    pub public_url: Option<String>,
}

/// The files of export `id` in `dir`: the events, the manifest, the proofs.
pub struct ExportFiles {
    /// The events file.
    pub file: PathBuf,
    /// The signed manifest.
    pub manifest: PathBuf,
    /// The proofs file of an NDJSON export.
    pub proofs: PathBuf,
}

impl ExportFiles {
    /// Where export `id` of `format` lives under `dir`.
    pub fn of(dir: &Path, id: &str, format: Format) -> Self {
        Self {
            file: dir.join(format!("{id}.{}", format.extension())),
            manifest: dir.join(format!("{id}.manifest")),
            proofs: dir.join(format!("{id}.proofs.ndjson")),
        }
    }
}

/// The event recording something about export `id` in `tenant`'s trail.
pub fn export_event(
    tenant: &str,
    action: &str,
    actor: &Value,
    id: &str,
    metadata: Value,
) -> Result<PreparedEvent, StoreError> {
    crate::job_event(tenant, action, actor, ("export", id), metadata)
}

/// Queues an export of `spec` for `tenant`, recording the request in its trail.
pub async fn request(
    store: &dyn Store,
    tenant: &str,
    spec: &ExportSpec,
    created_by: &str,
) -> Result<JobRecord, StoreError> {
    let id = new_job_id();
    let audit = export_event(
        tenant,
        "audit.export.requested",
        &spec.requested_by,
        &id,
        json!({"format": spec.format, "destination": spec.destination, "filter": spec.filter}),
    )?;
    let job = job_to_run_now(id, tenant, KIND, spec, MAX_ATTEMPTS, created_by);
    store.enqueue(job, audit).await
}

/// The `export` job handler.
pub struct ExportHandler {
    store: Arc<dyn Store>,
    settings: ExportSettings,
}

impl ExportHandler {
    /// A handler writing into `settings.dir`.
    pub fn new(store: Arc<dyn Store>, settings: ExportSettings) -> Self {
        Self { store, settings }
    }
}

/// Bytes written and their SHA-256, counted on the way to the file.
struct Digesting<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Digesting<std::io::BufWriter<std::fs::File>> {
    fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            inner: std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?),
            hash: Sha256::new(),
            bytes: 0,
        })
    }

    /// Flushes, syncs and renames the file to `to`; answers its digest under `name`.
    fn finish(self, partial: &Path, to: &Path, name: String) -> std::io::Result<FileDigest> {
        let file = self.inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(partial, to)?;
        Ok(FileDigest {
            name,
            bytes: self.bytes,
            sha256: hex::encode(self.hash.finalize()),
        })
    }
}

/// Where an attempt failed: a message for the tenant.
fn failed(what: &str, error: impl std::fmt::Display) -> String {
    format!("{what}: {error}")
}

fn partial(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl ExportHandler {
    /// Writes the files; answers the manifest, or why not (`None`: told to stop).
    async fn write(
        &self,
        job: &JobRecord,
        spec: &ExportSpec,
        work: &Work,
    ) -> Result<Option<Manifest>, String> {
        let tenant = job.tenant.as_str();
        let store = &self.store;
        let size = store
            .tree_size(tenant)
            .await
            .map_err(|e| failed("read the tree size", e))?;
        // The checkpoint the export is cut at: the first signed at or past `size` (within a
        // second). Only audit paths need its size before the first event is written; every
        // other export streams up to `size` meanwhile, then on to the checkpoint's size.
        let mut signing = (size > 0).then(|| {
            let store = store.clone();
            let tenant = tenant.to_owned();
            tokio::spawn(async move { store.checkpoint_covering(&tenant, size).await })
        });
        let signed =
            |joined: Result<Result<SignedCheckpoint, StoreError>, tokio::task::JoinError>| {
                joined
                    .map_err(|e| failed("wait for a checkpoint", e))?
                    .map_err(|e| failed("wait for a checkpoint", e))
            };
        let with_proofs = spec.format == Format::Ndjson;
        let whole = spec.filter == Filter::default();
        let mut checkpoint = None;
        if with_proofs
            && !whole
            && let Some(handle) = signing.take()
        {
            checkpoint = Some(signed(handle.await)?);
        }
        let mut cut = checkpoint
            .as_ref()
            .map_or(size, |c: &SignedCheckpoint| c.size);
        std::fs::create_dir_all(&self.settings.dir)
            .map_err(|e| failed("create the export directory", e))?;
        let files = ExportFiles::of(&self.settings.dir, &job.id, spec.format);
        let io = |e: std::io::Error| failed("write the export file", e);
        let out = Digesting::create(&partial(&files.file)).map_err(io)?;
        let mut writer =
            EventWriter::new(spec.format, spec.columns().unwrap_or_default(), out).map_err(io)?;
        let mut proofs = if with_proofs {
            Some(Digesting::create(&partial(&files.proofs)).map_err(io)?)
        } else {
            None
        };
        let mut manifest = Manifest {
            export_id: job.id.clone(),
            tenant: tenant.to_owned(),
            format: spec.format,
            filter: spec.filter.clone(),
            columns: spec.columns(),
            count: 0,
            first_seq: None,
            last_seq: None,
            first_occurred_at: None,
            last_occurred_at: None,
            file: FileDigest {
                name: String::new(),
                bytes: 0,
                sha256: String::new(),
            },
            proofs: None,
            tree_size: 0,
            checkpoint: String::new(),
            created_at: Timestamp::now(),
        };
        let mut from = 0;
        loop {
            if from >= cut {
                // Written up to `size`: on to the checkpoint's size, once it is signed.
                let Some(handle) = signing.take() else { break };
                let signed = signed(handle.await)?;
                cut = signed.size;
                checkpoint = Some(signed);
                continue;
            }
            if work.stopped() {
                return Ok(None);
            }
            let chunk = store
                .scan_canonical(tenant, from, CHUNK)
                .await
                .map_err(|e| failed("read events", e))?;
            if chunk.is_empty() {
                return Err(format!("events below seq {cut} are missing at {from}"));
            }
            for stored in chunk.iter().take_while(|e| e.seq < cut) {
                // Only a filter needs the parsed event here (OCSF parses in the writer).
                let event = if whole {
                    None
                } else {
                    let event = Event::from_canonical(&stored.canonical).map_err(|e| {
                        failed(&format!("parse the event at seq {}", stored.seq), e)
                    })?;
                    if !spec.filter.matches(&event) {
                        continue;
                    }
                    Some(event)
                };
                writer
                    .write(&stored.canonical, event.as_ref())
                    .map_err(io)?;
                if let Some(proofs) = proofs.as_mut() {
                    // A whole trail's leaves rebuild the root: no audit paths needed.
                    let path = if whole {
                        Vec::new()
                    } else {
                        store
                            .inclusion_proof(tenant, stored.seq, cut)
                            .await
                            .map_err(|e| failed("make an inclusion proof", e))?
                            .hashes
                    };
                    let line = ProofLine {
                        seq: stored.seq,
                        leaf_hash: STANDARD.encode(stored.leaf_hash),
                        proof: path.iter().map(|h| STANDARD.encode(h)).collect(),
                    };
                    serde_json::to_writer(&mut *proofs, &line).map_err(|e| io(e.into()))?;
                    proofs.write_all(b"\n").map_err(io)?;
                }
                manifest.count += 1;
                manifest.first_seq.get_or_insert(stored.seq);
                manifest.last_seq = Some(stored.seq);
                let at = stored.occurred_at;
                manifest.first_occurred_at =
                    Some(manifest.first_occurred_at.map_or(at, |t| t.min(at)));
                manifest.last_occurred_at =
                    Some(manifest.last_occurred_at.map_or(at, |t| t.max(at)));
            }
            from = chunk.last().map_or(cut, |e| e.seq + 1);
            work.report(json!({"scanned": from.min(cut), "of": cut, "written": manifest.count}));
        }
        manifest.tree_size = cut;
        manifest.checkpoint = checkpoint.map(|c| c.note).unwrap_or_default();
        let out = writer.finish().map_err(io)?;
        manifest.file = out
            .finish(&partial(&files.file), &files.file, file_name(&files.file))
            .map_err(io)?;
        if let Some(proofs) = proofs {
            manifest.proofs = Some(
                proofs
                    .finish(
                        &partial(&files.proofs),
                        &files.proofs,
                        file_name(&files.proofs),
                    )
                    .map_err(io)?,
            );
        }
        Ok(Some(manifest))
    }
}

#[async_trait]
impl Handler for ExportHandler {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, job: &JobRecord, work: &Work) -> Result<Done, JobFailure> {
        let fail = |error: String, actor: &Value| match export_event(
            &job.tenant,
            "audit.export.failed",
            actor,
            &job.id,
            json!({"error": error, "attempts": job.attempts}),
        ) {
            Ok(audit) => JobFailure::Failed { error, audit },
            Err(e) => {
                tracing::error!(error = %e, "an export failure event could not be made");
                JobFailure::Stopped
            }
        };
        let spec: ExportSpec = match serde_json::from_str(&job.spec) {
            Ok(spec) => spec,
            Err(e) => {
                return Err(fail(
                    format!("the export's parameters do not parse: {e}"),
                    &json!({"type": "system", "id": "trailkeep"}),
                ));
            }
        };
        let manifest = match self.write(job, &spec, work).await {
            Ok(Some(manifest)) => manifest,
            Ok(None) => return Err(JobFailure::Stopped),
            Err(error) => return Err(fail(error, &spec.requested_by)),
        };
        let files = ExportFiles::of(&self.settings.dir, &job.id, spec.format);
        let note = self
            .store
            .sign_note(&manifest.note_text())
            .map_err(|e| fail(failed("sign the manifest", e), &spec.requested_by))?;
        std::fs::write(&files.manifest, note)
            .map_err(|e| fail(failed("write the manifest", e), &spec.requested_by))?;
        let expires_at = now_ms()
            .saturating_add(i64::try_from(self.settings.keep.as_millis()).unwrap_or(i64::MAX));
        // Only an e-mail or a webhook may send links instead of the file.
        let sends_links = matches!(
            spec.destination,
            Destination::Email { .. } | Destination::Webhook
        );
        let links = match self.settings.public_url.as_ref().filter(|_| sends_links) {
            Some(base) => Some(
                share(
                    &*self.store,
                    base,
                    &job.tenant,
                    &job.id,
                    manifest.proofs.is_some(),
                    expires_at.div_euclid(1000),
                    &job.created_by,
                )
                .map_err(|e| fail(failed("sign the links", e), &spec.requested_by))?,
            ),
            None => None,
        };
        let parcel = parcel(&files, &manifest).map_err(|e| fail(e, &spec.requested_by))?;
        let delivered = self
            .settings
            .deliveries
            .deliver(&spec.destination, &parcel, links.as_ref())
            .await
            .map_err(|e| fail(e, &spec.requested_by))?;
        let result = ExportResult {
            count: manifest.count,
            file: manifest.file.clone(),
            manifest: file_name(&files.manifest),
            proofs: manifest.proofs.clone(),
            tree_size: manifest.tree_size,
            expires_at,
            delivered: delivered.clone(),
        };
        expire_later(&*self.store, job, spec.format, expires_at)
            .await
            .map_err(|e| fail(failed("schedule the file's removal", e), &spec.requested_by))?;
        let audit = export_event(
            &job.tenant,
            "audit.export.completed",
            &spec.requested_by,
            &job.id,
            json!({
                "format": spec.format,
                "count": manifest.count,
                "bytes": manifest.file.bytes,
                "sha256": manifest.file.sha256,
                "tree_size": manifest.tree_size,
                "destination": delivered,
            }),
        )
        .map_err(|e| fail(e.to_string(), &spec.requested_by))?;
        Ok(Done {
            result: serde_json::to_value(result).expect("a result serialises"),
            audit,
        })
    }
}

/// An export as its destination receives it: the file, its signed manifest (and proofs, for a
/// directory), and words that say how to check them.
fn parcel(files: &ExportFiles, manifest: &Manifest) -> Result<Parcel, String> {
    let note =
        std::fs::read_to_string(&files.manifest).map_err(|e| format!("read the manifest: {e}"))?;
    Ok(Parcel {
        id: manifest.export_id.clone(),
        tenant: manifest.tenant.clone(),
        file: files.file.clone(),
        digest: manifest.file.clone(),
        notes: vec![files.manifest.clone()],
        copies: manifest
            .proofs
            .is_some()
            .then(|| files.proofs.clone())
            .into_iter()
            .collect(),
        subject: format!(
            "Audit log export {} ({} events)",
            manifest.export_id, manifest.count
        ),
        text: format!(
            "The export {} of tenant {}: {} events, {} bytes, SHA-256 {}.\n\n\
             The manifest attached is signed with the audit log's key. Check both with\n\
             trailkeep verify --export {} --vkey <the log's vkey>\n",
            manifest.export_id,
            manifest.tenant,
            manifest.count,
            manifest.file.bytes,
            manifest.file.sha256,
            manifest.file.name
        ),
        event_type: "audit.export.completed",
        data: json!({
            "export_id": manifest.export_id,
            "tenant": manifest.tenant,
            "format": manifest.format,
            "count": manifest.count,
            "file_name": manifest.file.name,
            "bytes": manifest.file.bytes,
            "sha256": manifest.file.sha256,
            "manifest": note,
        }),
    })
}

/// Queues the removal of export `job`'s files at `at` (ms).
async fn expire_later(
    store: &dyn Store,
    job: &JobRecord,
    format: Format,
    at: i64,
) -> Result<(), StoreError> {
    let id = new_job_id();
    let audit = export_event(
        &job.tenant,
        "audit.export.expiry_scheduled",
        &json!({"type": "system", "id": "trailkeep"}),
        &job.id,
        json!({"expires_at": Timestamp::from_micros(at.saturating_mul(1000))}),
    )?;
    let spec = json!({"export_id": job.id, "format": format});
    store
        .enqueue(
            NewJob {
                id,
                tenant: job.tenant.clone(),
                kind: EXPIRE_KIND.to_owned(),
                spec: spec.to_string(),
                max_attempts: MAX_ATTEMPTS,
                run_after: at,
                created_at: now_ms(),
                created_by: "system".into(),
            },
            audit,
        )
        .await
        .map(|_| ())
}

/// The `export.expire` job handler: removes an export's files.
pub struct ExpireHandler {
    dir: PathBuf,
}

impl ExpireHandler {
    /// A handler removing files from `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

#[derive(Deserialize)]
struct ExpireSpec {
    export_id: String,
    format: Format,
}

#[async_trait]
impl Handler for ExpireHandler {
    fn kind(&self) -> &'static str {
        EXPIRE_KIND
    }

    async fn run(&self, job: &JobRecord, _: &Work) -> Result<Done, JobFailure> {
        let system = json!({"type": "system", "id": "trailkeep"});
        let spec: ExpireSpec = serde_json::from_str(&job.spec).map_err(|e| JobFailure::Failed {
            error: format!("the parameters do not parse: {e}"),
            audit: export_event(
                &job.tenant,
                "audit.export.expiry_failed",
                &system,
                &job.id,
                json!({}),
            )
            .expect("a valid event"),
        })?;
        let files = ExportFiles::of(&self.dir, &spec.export_id, spec.format);
        let mut removed = 0;
        for path in [&files.file, &files.manifest, &files.proofs] {
            match std::fs::remove_file(path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(JobFailure::Failed {
                        error: format!("remove {}: {e}", file_name(path)),
                        audit: export_event(
                            &job.tenant,
                            "audit.export.expiry_failed",
                            &system,
                            &spec.export_id,
                            json!({}),
                        )
                        .expect("a valid event"),
                    });
                }
            }
        }
        let audit = export_event(
            &job.tenant,
            "audit.export.expired",
            &system,
            &spec.export_id,
            json!({"files_removed": removed}),
        )
        .map_err(|_| JobFailure::Stopped)?;
        Ok(Done {
            result: json!({"export_id": spec.export_id, "files_removed": removed}),
            audit,
        })
    }
}
