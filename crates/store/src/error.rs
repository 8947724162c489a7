//! The one error type of the storage contract.

/// Why a store call failed. Each variant is something a caller answers differently, and each has
/// a stable [`code`](StoreError::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A client-supplied id already names a different event of this tenant.
    #[error("event {index} of the batch: id {id:?} already names a different event")]
    DuplicateId {
        /// Position of the event in the batch.
        index: usize,
        /// The id.
        id: String,
    },
    /// The idempotency key was used before with a different request.
    #[error("the Idempotency-Key was already used with a different request")]
    IdempotencyConflict,
    /// A proof or page was asked for outside the tree or the data.
    #[error("{0}")]
    OutOfRange(String),
    /// The store is shedding load; retry later.
    #[error("the store is overloaded; retry shortly")]
    Overloaded,
    /// The store is shutting down or otherwise cannot take requests.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The change was made against data that has changed since, or does not fit it; the
    /// text says which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The stored data fails an integrity check.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Anything else (I/O, database); the text is for logs, not for clients.
    #[error("internal store error: {0}")]
    Internal(String),
}

impl StoreError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::DuplicateId { .. } => "duplicate_id",
            StoreError::IdempotencyConflict => "idempotency_conflict",
            StoreError::OutOfRange(_) => "out_of_range",
            StoreError::Overloaded => "overloaded",
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Conflict(_) => "conflict",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Internal(_) => "internal",
        }
    }
}
