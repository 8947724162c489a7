//! Integration tests of the PostgreSQL engine, against the local PostgreSQL server: the shared
//! conformance suite, and what only this engine has (tenants spread over several databases).

mod conformance;
mod shards;
