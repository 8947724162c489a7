//! C2SP tlog checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed tree head.
//!
//! The body is three lines, origin, tree size in decimal and base64 root hash, each ending in
//! a newline. Extension lines after them are accepted and ignored when parsing (we never write
//! any: monitors cannot audit them).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::hash::Hash;
use crate::note::{NoteError, NoteSigner, NoteVerifier};

/// A tree head: which log, how many leaves, and the root over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `trailkeep.example/tenant-a`: non-empty, one line.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The root hash of the first `size` leaves.
    pub root: Hash,
}

fn bad(reason: impl Into<String>) -> NoteError {
    NoteError::BadCheckpoint {
        reason: reason.into(),
    }
}

impl Checkpoint {
    /// The checkpoint body: `origin\nsize\nbase64(root)\n`.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a checkpoint body. Lines after the third are extension lines: they must be
    /// non-empty and are otherwise ignored.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("text does not end with a newline"))?;
        let mut lines = body.split('\n');
        let mut next = |what: &str| {
            lines
                .next()
                .filter(|line| !line.is_empty())
                .ok_or_else(|| bad(format!("the {what} line is missing or empty")))
        };
        let origin = next("origin")?;
        let size = next("tree size")?;
        let root = next("root hash")?;
        if lines.any(str::is_empty) {
            return Err(bad("an extension line is empty"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size: parse_size(size)?,
            root: parse_root(root)?,
        })
    }

    /// Signs the body with `signer` and returns the signed note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, NoteError> {
        if self.origin.is_empty() || self.origin.contains('\n') {
            return Err(bad("the origin must be one non-empty line"));
        }
        signer.sign(&self.to_text())
    }

    /// Verifies a signed checkpoint note with `verifier`, then parses its body.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, NoteError> {
        Self::parse(&verifier.verify(note)?)
    }
}

fn parse_size(line: &str) -> Result<u64, NoteError> {
    if !line.bytes().all(|b| b.is_ascii_digit()) || (line.len() > 1 && line.starts_with('0')) {
        return Err(bad(format!(
            "tree size {line:?} is not a decimal number without leading zeros"
        )));
    }
    line.parse()
        .map_err(|_| bad(format!("tree size {line:?} is too large")))
}

fn parse_root(line: &str) -> Result<Hash, NoteError> {
    let bytes = STANDARD
        .decode(line)
        .map_err(|_| bad("the root hash is not standard padded base64"))?;
    bytes.as_slice().try_into().map_err(|_| {
        bad(format!(
            "the root hash is {} bytes long, want 32",
            bytes.len()
        ))
    })
}
