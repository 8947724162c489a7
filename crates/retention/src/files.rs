//! The tenant's export and report files, as retention and erasure remove them: each job's
//! files are `<job id>.*` in the files directory.

use std::path::{Path, PathBuf};

use trailkeep_store::{JobRecord, Store, StoreError};

/// Deletes the files of the tenant's export and report jobs that `which` picks and whose
/// files `hold` something (any of a job's files, by its bytes); answers how many files went.
pub async fn remove_files(
    store: &dyn Store,
    tenant: &str,
    dir: &Path,
    which: impl Fn(&JobRecord) -> bool,
    hold: impl Fn(&[u8]) -> bool,
) -> Result<u64, StoreError> {
    let mut removed = 0;
    for kind in ["export", "report"] {
        for job in crate::all_jobs(store, tenant, kind).await? {
            if which(&job) {
                removed += remove_job_files(dir, &job.id, &hold)?;
            }
        }
    }
    Ok(removed)
}

/// Deletes the files of job `id` under `dir` when one of them holds what `hold` looks for.
fn remove_job_files(dir: &Path, id: &str, hold: impl Fn(&[u8]) -> bool) -> Result<u64, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => {
            return Err(StoreError::Unavailable(format!(
                "read {}: {e}",
                dir.display()
            )));
        }
    };
    let prefix = format!("{id}.");
    let files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    if !files
        .iter()
        .any(|path| std::fs::read(path).is_ok_and(|bytes| hold(&bytes)))
    {
        return Ok(0);
    }
    let mut removed = 0;
    for path in files {
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::Unavailable(format!(
                    "remove {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok(removed)
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
