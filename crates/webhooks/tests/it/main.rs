//! Integration tests of the webhooks crate.
