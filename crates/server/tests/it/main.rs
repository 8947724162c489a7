//! Integration tests of the HTTP server over a real embedded store, through real HTTP.

mod audit_rail;
mod auth;
mod credentials;
mod ingest;
mod isolation;
mod kore;
mod ledger;
mod openapi;
mod operations;
mod persys;
mod port;
mod query;
mod stream;
mod support;
mod views;
