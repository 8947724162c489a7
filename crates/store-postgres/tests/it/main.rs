//! Integration tests of the PostgreSQL engine, against the local PostgreSQL server: the shared
//! conformance suite, and what only this engine has (many nodes on one database).

mod conformance;
