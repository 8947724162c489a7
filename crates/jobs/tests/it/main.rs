//! The job runner and the export jobs over the real embedded store.

mod export;
