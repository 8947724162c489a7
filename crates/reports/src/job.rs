//! The `report` job: asked for through the API, gathered and written by the job runner, kept
//! as a file to download.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use trailkeep_event::PreparedEvent;
use trailkeep_jobs::export::{Deliveries, FileDigest, Parcel};
use trailkeep_jobs::{Done, Handler, JobFailure, Work, job_to_run_now, new_job_id};
use trailkeep_store::{JobRecord, Store, StoreError};

use crate::gather::gather;
use crate::html;
use crate::model::{Attestation, Report};
use crate::spec::{ReportFormat, ReportSpec};

/// The job kind of a report.
pub const KIND: &str = "report";

/// Attempts a report gets before it fails for good.
const MAX_ATTEMPTS: u32 = 3;

/// Makes a report's PDF; the binary supplies one (typst lives in a crate of its own).
pub trait PdfRenderer: Send + Sync + 'static {
    /// `report` as a PDF document, or why it could not be made.
    fn render(&self, report: &Report) -> Result<Vec<u8>, String>;
}

/// What report jobs need to know.
#[derive(Clone)]
pub struct ReportSettings {
    /// Where report files are written.
    pub dir: PathBuf,
    /// What makes PDFs; without one a PDF report fails with a clear error.
    pub pdf: Option<Arc<dyn PdfRenderer>>,
    /// The destinations the operator configured (those of exports).
    pub deliveries: Deliveries,
}

/// A finished report (the job's result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportResult {
    /// The file.
    pub file: FileDigest,
    /// The tree size of the checkpoint it was made at.
    pub tree_size: u64,
    /// That checkpoint's root, standard base64.
    pub root: String,
    /// The events of the period.
    pub period_events: u64,
    /// Whether every event below the checkpoint verified.
    pub verified: bool,
    /// Where it was delivered (`{"type": "download"}`, ...).
    #[serde(default = "downloaded")]
    pub delivered: Value,
}

fn downloaded() -> Value {
    json!({"type": "download"})
}

/// Where report `id` of `format` is kept under `dir`.
pub fn file_path(dir: &Path, id: &str, format: ReportFormat) -> PathBuf {
    dir.join(format!("{id}.report.{}", format.extension()))
}

/// The event recording something about report `id` in `tenant`'s trail.
pub fn report_event(
    tenant: &str,
    action: &str,
    actor: &Value,
    id: &str,
    metadata: Value,
) -> Result<PreparedEvent, StoreError> {
    trailkeep_jobs::job_event(tenant, action, actor, ("report", id), metadata)
}

/// Queues a report of `spec` for `tenant`, recording the request in its trail.
pub async fn request(
    store: &dyn Store,
    tenant: &str,
    spec: &ReportSpec,
    created_by: &str,
) -> Result<JobRecord, StoreError> {
    let id = format!("rep_{}", new_job_id().trim_start_matches("job_"));
    let audit = report_event(
        tenant,
        "audit.report.requested",
        &spec.requested_by,
        &id,
        json!({
            "report_type": spec.report_type,
            "period": spec.period,
            "format": spec.format,
            "include_stats": spec.include_stats,
        }),
    )?;
    let job = job_to_run_now(id, tenant, KIND, spec, MAX_ATTEMPTS, created_by);
    store.enqueue(job, audit).await
}

/// The `report` job handler.
pub struct ReportHandler {
    store: Arc<dyn Store>,
    settings: ReportSettings,
}

impl ReportHandler {
    /// A handler writing into `settings.dir`.
    pub fn new(store: Arc<dyn Store>, settings: ReportSettings) -> Self {
        ReportHandler { store, settings }
    }

    /// `report` in `format`.
    async fn render(&self, report: Report, format: ReportFormat) -> Result<Vec<u8>, String> {
        match format {
            ReportFormat::Json => {
                Ok(serde_json::to_vec_pretty(&report).expect("a report serialises"))
            }
            ReportFormat::Html => Ok(html::render(&report).into_bytes()),
            ReportFormat::Pdf => {
                let renderer = self
                    .settings
                    .pdf
                    .clone()
                    .ok_or("this server makes no PDF reports: ask for html or json")?;
                tokio::task::spawn_blocking(move || renderer.render(&report))
                    .await
                    .map_err(|e| format!("the PDF renderer stopped: {e}"))?
            }
        }
    }
}

/// Writes `bytes` to `path` whole (under a temporary name, synced, renamed); answers its
/// digest.
fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<FileDigest> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut file = std::fs::File::create(&partial)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)?;
    Ok(FileDigest {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    })
}

/// A report as its destination receives it: the file alone (the attestation is inside it) and
/// words that say what it is and how to check it.
fn parcel(
    job: &JobRecord,
    spec: &ReportSpec,
    path: &Path,
    file: &FileDigest,
    attestation: &Attestation,
) -> Parcel {
    let kind = spec.report_type.name();
    let verification = &attestation.verification;
    Parcel {
        id: job.id.clone(),
        tenant: job.tenant.clone(),
        file: path.to_owned(),
        digest: file.clone(),
        notes: Vec::new(),
        copies: Vec::new(),
        subject: format!(
            "Audit report {} ({kind}, {} to {})",
            job.id, spec.period.from, spec.period.to
        ),
        text: format!(
            "The {kind} report {} of tenant {} covers {} to {} (end excluded): {} events. \
             It was made at the signed checkpoint of {} events, every one of which {}.\n\
             File {}, {} bytes, SHA-256 {}.\n",
            job.id,
            job.tenant,
            spec.period.from,
            spec.period.to,
            verification.period_events,
            attestation.tree_size,
            if verification.verified {
                "verified"
            } else {
                "did NOT verify"
            },
            file.name,
            file.bytes,
            file.sha256,
        ),
        event_type: "audit.report.completed",
        data: json!({
            "report_id": job.id,
            "tenant": job.tenant,
            "report_type": spec.report_type,
            "format": spec.format,
            "period": spec.period,
            "file_name": file.name,
            "bytes": file.bytes,
            "sha256": file.sha256,
            "tree_size": attestation.tree_size,
            "period_events": verification.period_events,
            "verified": verification.verified,
        }),
    }
}

#[async_trait]
impl Handler for ReportHandler {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, job: &JobRecord, work: &Work) -> Result<Done, JobFailure> {
        let fail = |error: String, actor: &Value| match report_event(
            &job.tenant,
            "audit.report.failed",
            actor,
            &job.id,
            json!({"error": error, "attempts": job.attempts}),
        ) {
            Ok(audit) => JobFailure::Failed { error, audit },
            Err(e) => {
                tracing::error!(error = %e, "a report failure event could not be made");
                JobFailure::Stopped
            }
        };
        let spec: ReportSpec = serde_json::from_str(&job.spec).map_err(|e| {
            fail(
                format!("the report's parameters do not parse: {e}"),
                &json!({"type": "system", "id": "trailkeep"}),
            )
        })?;
        let actor = &spec.requested_by;
        let progress = |done: u64, of: u64| {
            work.report(json!({"checked": done, "of": of}));
            !work.stopped()
        };
        let report = match gather(&*self.store, &job.id, &job.tenant, &spec, &progress).await {
            Ok(Some(report)) => report,
            Ok(None) => return Err(JobFailure::Stopped),
            Err(e) => return Err(fail(format!("gather the report: {e}"), actor)),
        };
        let attestation = report.attestation.clone();
        let bytes = self
            .render(report, spec.format)
            .await
            .map_err(|e| fail(e, actor))?;
        let path = file_path(&self.settings.dir, &job.id, spec.format);
        let file =
            write_file(&path, &bytes).map_err(|e| fail(format!("write the report: {e}"), actor))?;
        let parcel = parcel(job, &spec, &path, &file, &attestation);
        let delivered = self
            .settings
            .deliveries
            .deliver(&spec.destination, &parcel, None)
            .await
            .map_err(|e| fail(e, actor))?;
        let result = ReportResult {
            file,
            tree_size: attestation.tree_size,
            root: attestation.root,
            period_events: attestation.verification.period_events,
            verified: attestation.verification.verified,
            delivered,
        };
        let audit = report_event(
            &job.tenant,
            "audit.report.completed",
            actor,
            &job.id,
            json!({
                "report_type": spec.report_type,
                "format": spec.format,
                "bytes": result.file.bytes,
                "sha256": result.file.sha256,
                "tree_size": result.tree_size,
                "period_events": result.period_events,
                "verified": result.verified,
                "destination": result.delivered,
            }),
        )
        .map_err(|e| fail(e.to_string(), actor))?;
        Ok(Done {
            result: serde_json::to_value(result).expect("a result serialises"),
            audit,
        })
    }
}
