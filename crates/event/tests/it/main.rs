//! Integration tests of the event crate: the RFC 8785 vectors and the validation limits.

mod jcs;
mod validation;
