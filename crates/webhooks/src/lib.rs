//! Webhooks that follow the trail (DESIGN section 7): subscriptions, Standard Webhooks
//! signatures, delivery with retries, the guard on destinations.
//!
//! Every webhook event type is an event in the tenant's own trail, so a subscription is a
//! filter and a cursor over the tenant's seqs: nothing is written on the ingest path, order is
//! the ledger's, and a restart loses nothing. Subscriptions, cursors and the delivery log are
//! documents behind the store contract ([`trailkeep_store::DocumentStore`]), so they work on
//! every engine, and the nodes of one database share the work out under leases. Nothing here
//! knows the server: it calls [`manage`] and holds a [`worker::Handle`].

#![deny(missing_docs)]

pub mod destination;
pub mod manage;
pub mod retry;
pub mod send;
pub mod signature;
pub mod subscription;
pub mod worker;

pub use destination::{AddressClass, AddressPolicy, Refused};
pub use manage::{NewSubscription, ReplayFrom, Update, WebhookError};
pub use retry::RetrySchedule;
pub use send::Attempt;
pub use subscription::{Delivery, EventType, State, Subscription};
pub use worker::{Deliverer, DeliverySettings, Handle};
