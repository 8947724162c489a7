//! Small JSON documents that background features keep per tenant: webhook subscriptions and
//! their cursors, delivery logs, detection rules and their state, alerts, leases. The contract
//! every engine keeps for them (DESIGN section 7).
//!
//! A document is named by its tenant, a kind and an id, and carries a version that starts at 1
//! and counts every write. Writes come in sets that are made all or none, each write with an
//! expectation ([`Expect`]): a set whose expectation fails on any document makes no write at
//! all and answers [`DocumentConflict`], so that two nodes working on one document never both
//! win. A set may carry audit events, appended to the tenant's trail in the same transaction
//! (a subscription created, an alert raised): both or neither, as for API keys and jobs.
//! Sets without audit events never wait for the tenant's appends.
//!
//! Bodies are JSON text the store keeps without reading: each feature defines its own. Times
//! are milliseconds since the Unix epoch, given by the caller.

use std::ops::Bound;

use async_trait::async_trait;
use trailkeep_event::PreparedEvent;

use crate::StoreError;

/// The name the service's own documents are kept under (the leases that share background work
/// out between nodes): no tenant has it, and writes under it never carry audit events.
pub const SERVICE: &str = "";

/// Largest body a document may have, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Most documents one [`DocumentStore::documents`] call lists.
pub const MAX_DOCUMENTS_LISTED: usize = 1000;

/// Most writes in one set.
pub const MAX_WRITES_IN_SET: usize = 10_000;

/// A document as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// What it is (`webhook`, `rule`, `alert`, ...).
    pub kind: String,
    /// Its name among the tenant's documents of that kind.
    pub id: String,
    /// 1 when created, one more at every write.
    pub version: u64,
    /// Its content, JSON text.
    pub body: String,
    /// When it was last written (ms since the epoch).
    pub updated_at: i64,
}

/// What a write expects of the document it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// It does not exist.
    Absent,
    /// It exists at this version.
    Version(u64),
    /// Nothing: the write is made whatever the document is.
    Anything,
}

/// One write of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentWrite {
    /// Creates or replaces the document `kind`/`id` with `body`.
    Put {
        /// Its kind.
        kind: String,
        /// Its id.
        id: String,
        /// What it must be before.
        expect: Expect,
        /// The new body (JSON text, at most [`MAX_DOCUMENT_BYTES`]).
        body: String,
    },
    /// Removes the document `kind`/`id` (nothing to remove is no conflict unless `expect`
    /// asks for a version).
    Delete {
        /// Its kind.
        kind: String,
        /// Its id.
        id: String,
        /// What it must be before.
        expect: Expect,
    },
    /// Removes every document of `kind` whose id is at least `from` and below `to` (a log's
    /// oldest entries, or everything under one prefix).
    DeleteRange {
        /// Their kind.
        kind: String,
        /// The first id removed.
        from: String,
        /// The first id kept after the range.
        to: String,
    },
}

impl DocumentWrite {
    /// A put of `body` as `kind`/`id` that expects `expect`.
    pub fn put(kind: &str, id: &str, expect: Expect, body: String) -> Self {
        DocumentWrite::Put {
            kind: kind.to_owned(),
            id: id.to_owned(),
            expect,
            body,
        }
    }

    /// A delete of `kind`/`id` that expects `expect`.
    pub fn delete(kind: &str, id: &str, expect: Expect) -> Self {
        DocumentWrite::Delete {
            kind: kind.to_owned(),
            id: id.to_owned(),
            expect,
        }
    }
}

/// A set of writes refused because one document was not what its write expected; nothing of
/// the set was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {kind}/{id} is not at the expected version")]
pub struct DocumentConflict {
    /// The document's kind.
    pub kind: String,
    /// The document's id.
    pub id: String,
}

/// Which documents of a kind to list, in the order of their ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRange {
    /// Where the ids start.
    pub start: Bound<String>,
    /// Where they end.
    pub end: Bound<String>,
    /// Greatest id first.
    pub reverse: bool,
}

impl DocumentRange {
    /// Every document of the kind, in id order.
    pub fn all() -> Self {
        DocumentRange {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
            reverse: false,
        }
    }

    /// The documents whose id starts with `prefix`, in id order.
    pub fn prefixed(prefix: &str) -> Self {
        DocumentRange {
            start: Bound::Included(prefix.to_owned()),
            end: match prefix_end(prefix) {
                Some(end) => Bound::Excluded(end),
                None => Bound::Unbounded,
            },
            reverse: false,
        }
    }

    /// Whether `id` lies in the range.
    pub fn contains(&self, id: &str) -> bool {
        let above = match &self.start {
            Bound::Included(start) => id >= start.as_str(),
            Bound::Excluded(start) => id > start.as_str(),
            Bound::Unbounded => true,
        };
        let below = match &self.end {
            Bound::Included(end) => id <= end.as_str(),
            Bound::Excluded(end) => id < end.as_str(),
            Bound::Unbounded => true,
        };
        above && below
    }
}

/// The least string greater than every string starting with `prefix` (`None`: there is none,
/// the prefix is empty or all `char::MAX`).
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1).or_else(|| {
            // Past a surrogate gap.
            char::from_u32(0xE000).filter(|_| (last as u32) < 0xE000)
        }) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// What a set of writes came to: written, or refused by a conflict.
pub type DocumentsWritten = Result<(), DocumentConflict>;

/// Checks the bounds of a set of writes for `tenant` before an engine makes it.
pub fn check_writes(
    tenant: &str,
    writes: &[DocumentWrite],
    audit: &[PreparedEvent],
) -> Result<(), StoreError> {
    if tenant == SERVICE && !audit.is_empty() {
        return Err(StoreError::Internal(
            "the service's own documents have no trail to record them".into(),
        ));
    }
    if writes.len() > MAX_WRITES_IN_SET {
        return Err(StoreError::OutOfRange(format!(
            "at most {MAX_WRITES_IN_SET} document writes in one set"
        )));
    }
    for write in writes {
        if let DocumentWrite::Put { kind, id, body, .. } = write
            && body.len() > MAX_DOCUMENT_BYTES
        {
            return Err(StoreError::OutOfRange(format!(
                "document {kind}/{id} is larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

/// Where background features keep their documents.
#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    /// Makes `writes` for `tenant` at `now`, all or none, and appends `audit` (when not empty)
    /// to the tenant's trail in the same transaction. A write whose expectation fails makes the
    /// whole set answer its [`DocumentConflict`], with nothing written and nothing appended.
    async fn write_documents(
        &self,
        tenant: &str,
        writes: Vec<DocumentWrite>,
        audit: Vec<PreparedEvent>,
        now: i64,
    ) -> Result<DocumentsWritten, StoreError>;

    /// The tenant's document `kind`/`id`.
    async fn document(
        &self,
        tenant: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<Document>, StoreError>;

    /// The tenant's documents of `kind` in `range`, at most `limit` (and at most
    /// [`MAX_DOCUMENTS_LISTED`]).
    async fn documents(
        &self,
        tenant: &str,
        kind: &str,
        range: DocumentRange,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError>;

    /// The tenants that have at least one document of `kind`, in name order.
    async fn document_tenants(&self, kind: &str) -> Result<Vec<String>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_holds_exactly_the_ids_under_it() {
        let range = DocumentRange::prefixed("whk_1/");
        assert!(range.contains("whk_1/"));
        assert!(range.contains("whk_1/00000000000000000007"));
        assert!(!range.contains("whk_10/0"));
        assert!(!range.contains("whk_1."));
        assert!(!range.contains("whk_2/0"));
        assert_eq!(prefix_end("a/"), Some("a0".to_owned()));
        assert_eq!(prefix_end(""), None);
    }
}
