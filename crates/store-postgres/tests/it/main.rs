//! Integration tests of the PostgreSQL engine, against the local PostgreSQL server: the shared
//! conformance suite, and what only this engine has (groups sequenced ahead of their
//! transaction, tenants spread over several databases, verification of a changed database).

mod conformance;
mod pipelined;
mod shards;
mod tamper;
