//! Integration tests of the HTTP server over a real embedded store, through real HTTP.

mod audit_rail;
mod auth;
mod cloudflare;
mod credentials;
mod cross_dialect;
mod destinations;
mod detection;
mod exports;
mod hardening;
mod ingest;
mod isolation;
mod kore;
mod ledger;
mod ocsf;
mod openapi;
mod operations;
mod persys;
mod port;
mod query;
mod receiver;
mod reports;
mod spy;
mod stream;
mod support;
mod views;
mod webhooks;
