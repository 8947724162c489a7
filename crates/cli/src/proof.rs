//! `trailkeep proof ...`: check a proof given on the command line, so an auditor can check a
//! receipt by hand, with nothing but this binary and the values the server handed out.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use trailkeep_api::{EventProofBody, hash_from_b64};
use trailkeep_ledger::{Checkpoint, NoteVerifier, leaf_hash, verify_consistency, verify_inclusion};

/// The proof checks.
#[derive(Subcommand)]
pub enum ProofCommand {
    /// Check that a leaf is in a tree: its audit path leads to the root.
    VerifyInclusion(InclusionArgs),
    /// Check that a smaller tree is a prefix of a larger one.
    VerifyConsistency(ConsistencyArgs),
}

/// Where the tree size and root come from.
#[derive(clap::Args)]
pub struct TreeHead {
    /// A signed checkpoint file (the body of `GET /v1/ledger/checkpoint`); needs --vkey.
    #[arg(long, conflicts_with_all = ["root", "tree_size"])]
    checkpoint: Option<PathBuf>,
    /// The key that must have signed the checkpoint (C2SP vkey).
    #[arg(long, requires = "checkpoint")]
    vkey: Option<String>,
    /// The tree size, when given without a checkpoint.
    #[arg(long)]
    tree_size: Option<u64>,
    /// The root hash (base64), when given without a checkpoint.
    #[arg(long)]
    root: Option<String>,
}

/// Arguments of `proof verify-inclusion`.
#[derive(clap::Args)]
pub struct InclusionArgs {
    /// A whole `GET /v1/events/{id}?proof=1` answer (JSON file): the leaf hash is recomputed from
    /// the event, and the proof is checked against the signed checkpoint in it (needs --vkey).
    #[arg(long, conflicts_with_all = ["leaf_hash", "index", "hash", "checkpoint", "root", "tree_size"])]
    event_proof: Option<PathBuf>,
    /// The leaf hash (base64).
    #[arg(long)]
    leaf_hash: Option<String>,
    /// The leaf's index (the event's seq).
    #[arg(long)]
    index: Option<u64>,
    /// The audit path, leaf to root: one --hash per base64 hash, in order.
    #[arg(long = "hash")]
    hash: Vec<String>,
    #[command(flatten)]
    head: TreeHead,
}

/// Arguments of `proof verify-consistency`.
#[derive(clap::Args)]
pub struct ConsistencyArgs {
    /// The smaller tree size.
    #[arg(long)]
    first: u64,
    /// The larger tree size.
    #[arg(long)]
    second: u64,
    /// Root of the smaller tree (base64).
    #[arg(long)]
    first_root: String,
    /// Root of the larger tree (base64).
    #[arg(long)]
    second_root: String,
    /// The proof: one --hash per base64 hash, in order.
    #[arg(long = "hash")]
    hash: Vec<String>,
}

fn b64(what: &str, text: &str) -> anyhow::Result<Vec<u8>> {
    hash_from_b64(text.trim()).with_context(|| format!("{what} is not standard base64"))
}

fn hashes(list: &[String]) -> anyhow::Result<Vec<Vec<u8>>> {
    list.iter()
        .enumerate()
        .map(|(i, h)| b64(&format!("--hash number {}", i + 1), h))
        .collect()
}

/// What a check concluded: `Ok` with what holds, or `Err` with why the proof fails. Problems
/// with the command itself (missing flags, unreadable files) are the outer `anyhow` errors.
type Verdict<T> = Result<T, String>;

/// Opens a signed checkpoint; a bad signature is a failed verdict, a bad --vkey an error.
fn open_checkpoint(note: &str, vkey: Option<&str>) -> anyhow::Result<Verdict<Checkpoint>> {
    let vkey = vkey.context("a checkpoint is only as good as its signature: pass --vkey")?;
    let verifier = NoteVerifier::from_vkey(vkey.trim()).context("parse --vkey")?;
    Ok(Checkpoint::open(note, &verifier)
        .map_err(|e| format!("the checkpoint does not verify with this key: {e}")))
}

/// Runs a proof check: exit 0 when it holds, 1 when it does not, 2 when the command itself is
/// wrong (missing flags, unreadable files, a malformed key).
pub fn run(command: ProofCommand) -> anyhow::Result<ExitCode> {
    let verdict = match command {
        ProofCommand::VerifyInclusion(args) => inclusion(args)?,
        ProofCommand::VerifyConsistency(args) => {
            let proof = hashes(&args.hash)?;
            verify_consistency(
                args.first,
                args.second,
                &proof,
                &b64("--first-root", &args.first_root)?,
                &b64("--second-root", &args.second_root)?,
            )
            .map_err(|e| e.to_string())
            .map(|()| {
                format!(
                    "consistent: the tree of size {} is a prefix of the tree of size {}",
                    args.first, args.second
                )
            })
        }
    };
    let mut out = std::io::stdout().lock();
    match verdict {
        Ok(message) => {
            writeln!(out, "OK {message}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            writeln!(out, "FAILED {error}")?;
            Ok(ExitCode::from(1))
        }
    }
}

fn inclusion(args: InclusionArgs) -> anyhow::Result<Verdict<String>> {
    if let Some(path) = args.event_proof {
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        let body: EventProofBody =
            serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
        let event: trailkeep_event::Event =
            serde_json::from_str(body.event.get()).context("the answer's event does not parse")?;
        // A tombstone cannot be hashed back to its leaf: the leaf hash it kept is what the
        // proof proves, and its remaining fields are not provable (`trailkeep verify --store`
        // holds them to the record of their removal).
        let leaf = match &event.redaction {
            Some(redaction) => match hex::decode(&redaction.leaf_hash) {
                Ok(kept) if kept.len() == 32 => kept,
                _ => return Ok(Err("the tombstone's kept leaf hash is malformed".into())),
            },
            None => {
                let canonical = event
                    .canonical_bytes()
                    .context("the event has no canonical form")?;
                leaf_hash(&canonical).to_vec()
            }
        };
        if hash_from_b64(&body.leaf_hash).as_deref() != Some(&leaf[..]) {
            return Ok(Err(
                "the answer's leaf_hash is not the hash of its event".into()
            ));
        }
        let checkpoint = match open_checkpoint(&body.checkpoint, args.head.vkey.as_deref())? {
            Ok(checkpoint) => checkpoint,
            Err(why) => return Ok(Err(why)),
        };
        // The checkpoint must be of the event's own tenant's ledger: another tenant's
        // checkpoint, however well signed, says nothing about this event.
        let vkey = args.head.vkey.as_deref().unwrap_or_default().trim();
        let name =
            NoteVerifier::from_vkey(vkey).map_or_else(|_| String::new(), |v| v.name().to_owned());
        let origin = format!("{name}/{}", event.tenant);
        if checkpoint.origin != origin {
            return Ok(Err(format!(
                "the checkpoint is of {:?}, not of the event's tenant's ledger {origin:?}",
                checkpoint.origin
            )));
        }
        if checkpoint.size != body.inclusion.tree_size {
            return Ok(Err(format!(
                "the proof is for tree size {}, the checkpoint for {}",
                body.inclusion.tree_size, checkpoint.size
            )));
        }
        let proof = hashes(&body.inclusion.hashes)?;
        return Ok(
            verify_inclusion(&leaf, event.seq, checkpoint.size, &proof, &checkpoint.root)
                .map_err(|e| e.to_string())
                .map(|()| {
                    let tombstone = match &event.redaction {
                        Some(r) => format!(
                            "; it is a tombstone ({}: {} removed), and its remaining fields \
                             are not provable by this proof",
                            r.reason.as_str(),
                            r.removed.join(", ")
                        ),
                        None => String::new(),
                    };
                    format!(
                        "event {} (seq {}) is in {} at size {}{tombstone}",
                        event.id, event.seq, checkpoint.origin, checkpoint.size
                    )
                }),
        );
    }
    let leaf = b64(
        "--leaf-hash",
        args.leaf_hash
            .as_deref()
            .context("pass --leaf-hash (or --event-proof)")?,
    )?;
    let index = args.index.context("pass --index (or --event-proof)")?;
    let (size, root) = match &args.head.checkpoint {
        Some(path) => {
            let note = std::fs::read_to_string(path)
                .with_context(|| format!("read {}", path.display()))?;
            match open_checkpoint(&note, args.head.vkey.as_deref())? {
                Ok(checkpoint) => (checkpoint.size, checkpoint.root.to_vec()),
                Err(why) => return Ok(Err(why)),
            }
        }
        None => (
            args.head
                .tree_size
                .context("pass --tree-size and --root, or --checkpoint")?,
            b64(
                "--root",
                args.head
                    .root
                    .as_deref()
                    .context("pass --root, or --checkpoint")?,
            )?,
        ),
    };
    let proof = hashes(&args.hash)?;
    Ok(verify_inclusion(&leaf, index, size, &proof, &root)
        .map_err(|e| e.to_string())
        .map(|()| format!("leaf {index} is in the tree of size {size}")))
}
