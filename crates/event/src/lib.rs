//! The Trailkeep event: the native model, its validation and normalisation, its RFC 8785
//! canonical bytes (which the ledger hashes), and the filter and query types every engine and
//! dialect share.
//!
//! The crate depends on serde and little else, so every other crate, including clients, can use
//! it.

#![deny(missing_docs)]

mod batch;
mod canonical;
mod erasable;
mod fields;
mod filter;
mod model;
mod normalize;
mod terms;
mod timestamp;
mod validate;

pub use batch::{BatchError, BatchLimits, split_json, split_ndjson};
pub use canonical::{
    CanonicalError, CanonicalFault, MAX_SAFE_INTEGER, canonical_with_slot, canonicalize,
    check_canonical, check_numbers,
};
pub use erasable::Erasable;
pub use fields::{EventField, FieldMatch};
pub use filter::{Cursor, Filter, MAX_PAGE, Order, Query, action_matches};
pub use model::{
    Actor, Category, Change, Context, EarlierRedaction, Event, Geo, Outcome, Redaction,
    RedactionReason, Request, Target, Zone,
};
pub use normalize::{category_for_action, normalize_actor_type};
pub use terms::{
    MAX_METADATA_VALUE_BYTES, MAX_TOKEN_BYTES, escape_metadata_key, event_tokens, metadata_term,
    metadata_terms, tokenize,
};
pub use timestamp::Timestamp;
pub use validate::{
    EventInput, FieldError, MAX_ACTION_CHARS, MAX_DEPTH, MAX_DESCRIPTION_BYTES, MAX_EVENT_BYTES,
    MAX_FUTURE_MICROS, MAX_ID_CHARS, MAX_TENANT_CHARS, MAX_TEXT_CHARS, PreparedEvent,
    REDACTION_RECORD_ACTION, prepare, prepare_redaction_record, validate_tenant,
};
