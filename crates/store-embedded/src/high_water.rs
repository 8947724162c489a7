//! The high-water file: each tenant's largest signed tree size and its root, kept beside the
//! database and outside it.
//!
//! A checkpoint row in SQLite proves nothing by itself: whoever can write the database can delete
//! a tenant's newest events and checkpoints, and the older checkpoints still carry good
//! signatures. So every checkpoint the writer commits is also appended here (one line, fsync'd),
//! and start-up refuses a ledger that is shorter than its mark or whose tree at the mark has
//! another root. An operator who restored an older backup on purpose lowers the mark with
//! `trailkeep accept-rollback` ([`accept_rollback`]).
//!
//! The file is append-only while the store runs (a line per signed checkpoint: `<tenant> <size>
//! <base64 root>`) and is rewritten at start-up with one line per tenant, atomically (a
//! temporary file, fsync, rename, fsync of the directory). A line cut short by a crash (no final
//! newline) is ignored: its checkpoint was committed before the line was written, so the line
//! before it still bounds the ledger from below.
//!
//! What this does not catch: someone who can write both the database and this file. Only
//! checkpoints kept elsewhere (a witness, a customer's copy) catch that; `docs/security.md`.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use trailkeep_ledger::Hash;

/// File name of the high-water file inside the data directory.
pub const HIGH_WATER_FILE: &str = "signed-sizes";

/// A tenant's largest signed tree size and the root of the tree of that size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HighWaterMark {
    /// The tree size.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
}

/// Reads every tenant's mark from `dir`'s file; `None` when there is no file.
pub fn read(dir: &Path) -> Result<Option<HashMap<String, HighWaterMark>>, String> {
    let path = dir.join(HIGH_WATER_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("read {}: {e}", path.display())),
    };
    parse(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The marks in `text`: the largest size of each tenant (a torn last line ignored).
fn parse(text: &str) -> Result<HashMap<String, HighWaterMark>, String> {
    let mut marks: HashMap<String, HighWaterMark> = HashMap::new();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    for (n, line) in complete.lines().enumerate() {
        let bad = || format!("line {} is not `<tenant> <size> <root>`", n + 1);
        let mut parts = line.split(' ');
        let (Some(tenant), Some(size), Some(root), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let size: u64 = size.parse().map_err(|_| bad())?;
        let root: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        if tenant.is_empty() {
            return Err(bad());
        }
        let mark = HighWaterMark { size, root };
        match marks.get(tenant) {
            Some(old) if old.size >= size => {}
            _ => {
                marks.insert(tenant.to_owned(), mark);
            }
        }
    }
    Ok(marks)
}

fn line(tenant: &str, mark: &HighWaterMark) -> String {
    format!("{tenant} {} {}\n", mark.size, STANDARD.encode(mark.root))
}

/// Replaces `dir`'s file with one line per tenant of `marks`, atomically and durably.
pub fn rewrite(dir: &Path, marks: &HashMap<String, HighWaterMark>) -> Result<(), String> {
    let path = dir.join(HIGH_WATER_FILE);
    let temporary = dir.join(format!("{HIGH_WATER_FILE}.new"));
    let sorted: BTreeMap<&String, &HighWaterMark> = marks.iter().collect();
    let text: String = sorted.into_iter().map(|(t, m)| line(t, m)).collect();
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, &path))
        .and_then(|()| File::open(dir)?.sync_all());
    written.map_err(|e| format!("write {}: {e}", path.display()))
}

/// The open file the writer appends each signed checkpoint to.
#[derive(Debug)]
pub struct HighWater {
    path: PathBuf,
    file: File,
    /// Length of the file up to its last complete, synced line.
    good_len: u64,
    /// Lines written since the last sync.
    unsynced: bool,
}

impl HighWater {
    /// Opens `dir`'s file for appending.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let path = dir.join(HIGH_WATER_FILE);
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("open {}: {e}", path.display()))?;
        let good_len = file
            .metadata()
            .map_err(|e| format!("read {}: {e}", path.display()))?
            .len();
        Ok(Self {
            path,
            file,
            good_len,
            unsynced: false,
        })
    }

    /// Appends `tenant`'s new mark; [`sync`](Self::sync) makes it durable.
    pub fn record(&mut self, tenant: &str, mark: HighWaterMark) -> Result<(), String> {
        let line = line(tenant, &mark);
        match self.file.write_all(line.as_bytes()) {
            Ok(()) => {
                self.unsynced = true;
                Ok(())
            }
            Err(e) => {
                self.cut_back();
                Err(format!("append to {}: {e}", self.path.display()))
            }
        }
    }

    /// Waits until every line recorded so far is on disk (one fsync for a group's marks).
    pub fn sync(&mut self) -> Result<(), String> {
        if !self.unsynced {
            return Ok(());
        }
        match self.file.sync_data().and_then(|()| self.file.metadata()) {
            Ok(meta) => {
                self.good_len = meta.len();
                self.unsynced = false;
                Ok(())
            }
            Err(e) => {
                self.cut_back();
                Err(format!("sync {}: {e}", self.path.display()))
            }
        }
    }

    /// Cuts the file back to its last good line, so a line half written when the disk filled
    /// is not followed by good ones (a torn line in the middle would make the file unreadable).
    /// The marks lost this way were lower bounds only; later ones are written again.
    fn cut_back(&mut self) {
        let _ = self.file.set_len(self.good_len);
        self.unsynced = false;
    }
}

/// What [`accept_rollback`] changed for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedRollback {
    /// The tenant.
    pub tenant: String,
    /// Its mark before.
    pub was: Option<HighWaterMark>,
    /// Its mark now: the newest checkpoint the database holds (`None`: it holds none).
    pub now: Option<HighWaterMark>,
}

/// Lowers the marks of `tenants` (every tenant the database or the file names, with `None`)
/// in `dir` to the newest checkpoints the database holds, whose signatures are checked with the
/// data directory's key: the operator's way to accept a ledger restored from an older backup,
/// or to start a directory whose file was lost. The store must not be running.
pub fn accept_rollback(
    dir: &Path,
    tenants: Option<&[String]>,
) -> Result<Vec<AcceptedRollback>, String> {
    let _lock = crate::lock_data_dir(dir).map_err(|e| e.to_string())?;
    let verifier = crate::keys::load(dir)?.verifier();
    let conn = crate::schema::open_read_only(&dir.join(crate::DB_FILE))
        .map_err(|e| format!("open {}: {e}", dir.join(crate::DB_FILE).display()))?;
    let mut marks = read(dir)?.unwrap_or_default();
    let tenants: Vec<String> = match tenants {
        Some(named) => named.to_vec(),
        None => {
            let mut all: Vec<String> = crate::recovery::tenant_names(&conn)
                .map_err(|e| e.to_string())?
                .into_iter()
                .chain(marks.keys().cloned())
                .collect();
            all.sort();
            all.dedup();
            all
        }
    };
    let mut changed = Vec::new();
    for tenant in &tenants {
        let newest = crate::recovery::newest_checkpoint(&conn, tenant)
            .map_err(|e| e.to_string())?
            .map(|(size, note)| {
                let opened = trailkeep_ledger::Checkpoint::open(&note, &verifier).map_err(|e| {
                    format!("tenant {tenant}: the newest checkpoint does not verify: {e}")
                })?;
                if opened.size != size {
                    return Err(format!(
                        "tenant {tenant}: the newest checkpoint's note says size {} but is \
                         stored as {size}",
                        opened.size
                    ));
                }
                Ok(HighWaterMark {
                    size,
                    root: opened.root,
                })
            })
            .transpose()?;
        let was = match newest {
            Some(mark) => marks.insert(tenant.clone(), mark),
            None => marks.remove(tenant),
        };
        changed.push(AcceptedRollback {
            tenant: tenant.clone(),
            was,
            now: newest,
        });
    }
    rewrite(dir, &marks)?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_mark_of_each_tenant_wins_and_a_torn_last_line_is_ignored() {
        let root = STANDARD.encode([7u8; 32]);
        let other = STANDARD.encode([9u8; 32]);
        let text = format!("a 5 {root}\nb 2 {root}\na 9 {other}\na 3 {root}\nb 40 AAAA");
        let marks = parse(&text).unwrap();
        assert_eq!(
            marks["a"],
            HighWaterMark {
                size: 9,
                root: [9; 32]
            }
        );
        assert_eq!(marks["b"].size, 2, "the torn line is not a mark");
        assert!(parse("a five xyz\n").is_err());
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn marks_survive_a_rewrite_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let mut file = HighWater::open(dir.path()).unwrap();
        file.record(
            "acme",
            HighWaterMark {
                size: 3,
                root: [1; 32],
            },
        )
        .unwrap();
        file.sync().unwrap();
        let marks = read(dir.path()).unwrap().unwrap();
        assert_eq!(marks["acme"].size, 3);
        rewrite(dir.path(), &marks).unwrap();
        let mut file = HighWater::open(dir.path()).unwrap();
        file.record(
            "beta",
            HighWaterMark {
                size: 1,
                root: [2; 32],
            },
        )
        .unwrap();
        file.sync().unwrap();
        let marks = read(dir.path()).unwrap().unwrap();
        assert_eq!(marks.len(), 2);
        assert_eq!(marks["beta"].root, [2; 32]);
    }
}
