//! Detection of suspicious activity over each tenant's trail, and the alerts it raises
//! (DESIGN section 7).
//!
//! Rules have Panther's semantics (a filter, a group-by key, a threshold within a window, an
//! optional distinct count, a deduplication period); the built-in ones ([`rule::builtins`])
//! are on for every tenant with the research notes' thresholds, and tenants tune them and add
//! their own in the listing's filter language ([`rules`]). Detection follows the trail like a
//! webhook subscription ([`worker`]): rules, their state, the cursor and the alerts are
//! documents behind the store contract, written together, so detection runs on every engine,
//! shares out between nodes under leases, and neither loses nor repeats a window on a
//! restart. A hit becomes an alert ([`alert`]) and the event `audit.suspicious.detected` in
//! the trail, which webhooks deliver. Nothing here knows HTTP.

#![deny(missing_docs)]

pub mod alert;
pub mod engine;
pub mod field;
pub mod rule;
pub mod rules;
pub mod worker;

pub use alert::{Alert, AlertError, AlertQuery, AlertState};
pub use engine::{Detector, Hit};
pub use field::Field;
pub use rule::{Logic, Predicate, Rule, Severity, builtins};
pub use rules::{NewRule, RuleError, RuleUpdate};
pub use worker::{Detection, DetectionSettings, Handle};
