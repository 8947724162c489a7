//! Offline verification of an export against the key that signs the ledger: what
//! `trailkeep verify --export` runs.
//!
//! 1. The manifest's signature, and the checkpoint's inside it, check with the trusted vkey;
//!    the checkpoint is the manifest tenant's, at the manifest's tree size.
//! 2. For NDJSON, the proofs file is authenticated against that checkpoint: an unfiltered
//!    export's leaf hashes (seqs 0, 1, 2, ... with nothing missing) must rebuild its root; a
//!    filtered export's lines must each prove their leaf's inclusion.
//! 3. Line by line, the export's bytes must hash to the leaf of the proofs line of the same
//!    number, and the event must be the manifest's tenant's, carry that seq, come after the line
//!    before it and match the manifest's filter. The first line failing any of these is named.
//!    A tombstone (an event retention or an erasure removed fields from) cannot hash to its
//!    leaf: the leaf hash it kept must be the signed one, and in an unfiltered export its bytes
//!    must be those its redaction record vouches for (`trailkeep_store::redaction`).
//! 4. The file's size and SHA-256 must be the manifest's (for CSV and JSON, the only check
//!    after the signatures).
//!
//! Files are read as streams: memory does not grow with the export.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use trailkeep_event::{Event, RedactionReason};
use trailkeep_ledger::{Checkpoint, Frontier, Hash, NoteVerifier, leaf_hash, verify_inclusion};
use trailkeep_store::verify::{RedactionCheck, check_row};

use super::{Format, Manifest, ProofLine};

/// Why an export does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportFailure {
    /// The manifest or its checkpoint is not signed by the key, or does not describe this file.
    #[error("manifest: {0}")]
    Manifest(String),
    /// The proofs file is not what the checkpoint signs.
    #[error("proofs line {line}: {why}")]
    Proofs {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        why: String,
    },
    /// A line of the export is not what the checkpoint signs.
    #[error("line {line}: {why}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        why: String,
    },
    /// A file could not be read.
    #[error("{0}")]
    Unreadable(String),
}

/// A verified export.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// Its manifest.
    pub manifest: Manifest,
    /// Events checked line by line (0 for CSV and JSON, checked as a whole).
    pub events: u64,
    /// Of them, the tombstones (events retention or an erasure removed fields from), by the
    /// reason of their latest removal: accepted by the leaf hash they kept.
    pub tombstones: BTreeMap<RedactionReason, u64>,
    /// Whether each tombstone was also held to the record of its removal (in an unfiltered
    /// export, which holds the records; a filtered one may not).
    pub tombstones_vouched: bool,
}

fn unreadable(path: &Path, e: impl std::fmt::Display) -> ExportFailure {
    ExportFailure::Unreadable(format!("read {}: {e}", path.display()))
}

/// Lines of a file without their `\n`, numbered from 1.
struct Lines {
    reader: BufReader<File>,
    path: std::path::PathBuf,
    number: u64,
    buffer: Vec<u8>,
}

impl Lines {
    fn open(path: &Path) -> Result<Self, ExportFailure> {
        Ok(Self {
            reader: BufReader::with_capacity(
                1 << 20,
                File::open(path).map_err(|e| unreadable(path, e))?,
            ),
            path: path.to_owned(),
            number: 0,
            buffer: Vec::new(),
        })
    }

    /// The next line, or `None` at the end.
    fn next_line(&mut self) -> Result<Option<&[u8]>, ExportFailure> {
        self.buffer.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buffer)
            .map_err(|e| unreadable(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        let line = self.buffer.strip_suffix(b"\n").unwrap_or(&self.buffer);
        Ok(Some(line))
    }
}

fn decode_hash(text: &str) -> Option<Hash> {
    STANDARD.decode(text).ok()?.try_into().ok()
}

fn proof_line(bytes: &[u8], line: u64) -> Result<(ProofLine, Hash, Vec<Hash>), ExportFailure> {
    let bad = |why: String| ExportFailure::Proofs { line, why };
    let proof: ProofLine =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("does not parse: {e}")))?;
    let leaf = decode_hash(&proof.leaf_hash).ok_or_else(|| bad("a bad leaf hash".into()))?;
    let path = proof
        .proof
        .iter()
        .map(|h| decode_hash(h))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("a bad hash in the proof".into()))?;
    Ok((proof, leaf, path))
}

/// Checks the manifest note and the checkpoint in it with `verifier`.
pub fn open_manifest(
    note: &str,
    verifier: &NoteVerifier,
) -> Result<(Manifest, Option<Checkpoint>), ExportFailure> {
    let manifest = Manifest::open(note, verifier).map_err(ExportFailure::Manifest)?;
    if manifest.tree_size == 0 {
        return Ok((manifest, None));
    }
    let checkpoint = Checkpoint::open(&manifest.checkpoint, verifier).map_err(|e| {
        ExportFailure::Manifest(format!("its checkpoint does not verify with the key: {e}"))
    })?;
    if !checkpoint
        .origin
        .ends_with(&format!("/{}", manifest.tenant))
    {
        return Err(ExportFailure::Manifest(format!(
            "its checkpoint is of {:?}, not of tenant {:?}",
            checkpoint.origin, manifest.tenant
        )));
    }
    if checkpoint.size != manifest.tree_size {
        return Err(ExportFailure::Manifest(format!(
            "its checkpoint is at size {}, not the stated {}",
            checkpoint.size, manifest.tree_size
        )));
    }
    Ok((manifest, Some(checkpoint)))
}

/// Authenticates an unfiltered export's proofs file: its leaves, seqs 0.. in order, rebuild
/// the checkpoint's root.
fn authenticate_leaves(proofs: &Path, checkpoint: &Checkpoint) -> Result<(), ExportFailure> {
    let mut lines = Lines::open(proofs)?;
    let mut frontier = Frontier::new();
    loop {
        let line = lines.number + 1;
        let Some(bytes) = lines.next_line()? else {
            break;
        };
        let (proof, leaf, _) = proof_line(bytes, line)?;
        if proof.seq != frontier.size() {
            return Err(ExportFailure::Proofs {
                line,
                why: format!("seq {} where seq {} belongs", proof.seq, frontier.size()),
            });
        }
        frontier.push(leaf);
    }
    if frontier.size() != checkpoint.size || frontier.root() != checkpoint.root {
        return Err(ExportFailure::Proofs {
            line: lines.number,
            why: format!(
                "its {} leaves do not rebuild the checkpoint's root at size {}",
                frontier.size(),
                checkpoint.size
            ),
        });
    }
    Ok(())
}

/// Verifies the export `file` with its signed `manifest` note and, for NDJSON, its `proofs`
/// file, against `verifier` (the ledger's vkey, from a source you trust). `progress` hears the
/// number of lines checked.
pub fn verify_export(
    file: &Path,
    manifest: &str,
    proofs: Option<&Path>,
    verifier: &NoteVerifier,
    progress: &mut dyn FnMut(u64),
) -> Result<Verified, ExportFailure> {
    let (manifest, checkpoint) = open_manifest(manifest, verifier)?;
    let mut lined = Lined {
        count: 0,
        tombstones: BTreeMap::new(),
        vouched: false,
    };
    if manifest.format == Format::Ndjson {
        let proofs = proofs.ok_or_else(|| {
            ExportFailure::Manifest("an NDJSON export is checked with its proofs file".into())
        })?;
        lined = check_lines(file, proofs, &manifest, checkpoint.as_ref(), progress)?;
    }
    let (bytes, sha256) = digest(file)?;
    if bytes != manifest.file.bytes || sha256 != manifest.file.sha256 {
        return Err(ExportFailure::Manifest(format!(
            "the file has {bytes} bytes with SHA-256 {sha256}; the manifest names {} bytes with \
             SHA-256 {}",
            manifest.file.bytes, manifest.file.sha256
        )));
    }
    Ok(Verified {
        manifest,
        events: lined.count,
        tombstones: lined.tombstones,
        tombstones_vouched: lined.vouched,
    })
}

fn digest(path: &Path) -> Result<(u64, String), ExportFailure> {
    let mut file = File::open(path).map_err(|e| unreadable(path, e))?;
    let mut hash = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    let mut bytes = 0;
    loop {
        let n = file.read(&mut buffer).map_err(|e| unreadable(path, e))?;
        if n == 0 {
            return Ok((bytes, hex::encode(hash.finalize())));
        }
        hash.update(&buffer[..n]);
        bytes += n as u64;
    }
}

/// Checks an NDJSON export line by line; answers how many lines.
fn check_lines(
    file: &Path,
    proofs: &Path,
    manifest: &Manifest,
    checkpoint: Option<&Checkpoint>,
    progress: &mut dyn FnMut(u64),
) -> Result<Lined, ExportFailure> {
    let whole = manifest.filter == trailkeep_event::Filter::default();
    if let (true, Some(checkpoint)) = (whole, checkpoint) {
        authenticate_leaves(proofs, checkpoint)?;
    }
    let mut lines = Lines::open(file)?;
    let mut proof_lines = Lines::open(proofs)?;
    let mut previous: Option<u64> = None;
    // Tombstones are held to their records only in an unfiltered export, which holds them all.
    let mut redactions = RedactionCheck::default();
    let mut tombstones = BTreeMap::new();
    loop {
        let line = lines.number + 1;
        let event_bytes = lines.next_line()?.map(<[u8]>::to_vec);
        let proof_bytes = proof_lines.next_line()?;
        let (event_bytes, proof_bytes) = match (event_bytes, proof_bytes) {
            (None, None) => break,
            (Some(_), None) => {
                return Err(ExportFailure::Line {
                    line,
                    why: "no proofs line for it (a line was added)".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ExportFailure::Line {
                    line,
                    why: "the file ends before its proofs do (a line was removed)".into(),
                });
            }
            (Some(event), Some(proof)) => (event, proof.to_vec()),
        };
        let bad = |why: String| ExportFailure::Line { line, why };
        let (proof, leaf, path) = proof_line(&proof_bytes, line)?;
        let checkpoint =
            checkpoint.ok_or_else(|| bad("the export was cut at an empty tree".into()))?;
        if !whole {
            verify_inclusion(&leaf, proof.seq, checkpoint.size, &path, &checkpoint.root).map_err(
                |e| ExportFailure::Proofs {
                    line,
                    why: format!("does not prove seq {} in the checkpoint: {e}", proof.seq),
                },
            )?;
        }
        let is_whole_event = leaf_hash(&event_bytes) == leaf;
        let event: Event =
            serde_json::from_slice(&event_bytes).map_err(|e| bad(format!("not an event: {e}")))?;
        if !is_whole_event && event.redaction.is_none() {
            return Err(bad(format!(
                "its bytes do not hash to the signed leaf of seq {} (altered, removed or moved)",
                proof.seq
            )));
        }
        if event.seq != proof.seq || event.tenant != manifest.tenant {
            return Err(bad(format!(
                "event seq {} of tenant {:?} where seq {} of {:?} belongs",
                event.seq, event.tenant, proof.seq, manifest.tenant
            )));
        }
        let row = check_row(&event_bytes, &leaf, proof.seq, &manifest.tenant, &event.id)
            .map_err(|why| bad(format!("seq {}: {why}", proof.seq)))?;
        if whole {
            redactions
                .row(proof.seq, &row)
                .map_err(|why| bad(format!("seq {}: {why}", proof.seq)))?;
        } else if let Some(tombstone) = &row.tombstone {
            *tombstones.entry(tombstone.reason).or_default() += 1;
        }
        if previous.is_some_and(|p| p >= event.seq) {
            return Err(bad(format!("seq {} is out of order", event.seq)));
        }
        if !manifest.filter.matches(&event) {
            return Err(bad(format!(
                "seq {} does not match the export's filter",
                event.seq
            )));
        }
        previous = Some(event.seq);
        progress(lines.number);
    }
    let count = lines.number;
    if count != manifest.count {
        return Err(ExportFailure::Manifest(format!(
            "the file holds {count} events; the manifest names {}",
            manifest.count
        )));
    }
    if whole && count != manifest.tree_size {
        return Err(ExportFailure::Manifest(format!(
            "an unfiltered export holds every event below its checkpoint: {count}, not {}",
            manifest.tree_size
        )));
    }
    if whole {
        tombstones = redactions
            .finish()
            .map_err(|(seq, why)| ExportFailure::Line {
                line: 0,
                why: format!("seq {seq}: {why}"),
            })?;
    }
    Ok(Lined {
        count,
        tombstones,
        vouched: whole,
    })
}

/// What the line-by-line check of an NDJSON export found.
struct Lined {
    count: u64,
    tombstones: BTreeMap<RedactionReason, u64>,
    vouched: bool,
}
