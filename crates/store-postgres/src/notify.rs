//! Commit watches, and telling the other nodes about this node's commits.
//!
//! A commit on this node wakes this node's watchers of the tenant at once. Other nodes learn of
//! it through PostgreSQL's `NOTIFY`, sent after the commit, never inside an append transaction
//! (a pending `NOTIFY` takes a lock every commit of the database would wait on), and coalesced:
//! at most one per node per [`NOTIFY_EVERY`], naming every tenant committed since. Each node
//! listens on one connection of its own, outside the pool, driven by `poll_message`: a pooled
//! connection's driver drops notifications.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Notify, watch};
use tokio_postgres::{AsyncMessage, NoTls};

/// Shortest time between two notifications from one node.
pub const NOTIFY_EVERY: Duration = Duration::from_millis(100);

/// Largest payload sent: PostgreSQL refuses 8,000 bytes and more. Past it, the payload is `*`:
/// every tenant is woken.
const MOST_PAYLOAD: usize = 7_000;

/// Each tenant's commit watch on this node.
#[derive(Debug, Default)]
pub struct Watches {
    senders: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Watches {
    /// A receiver that changes after every commit to `tenant`'s ledger.
    pub fn subscribe(&self, tenant: &str) -> watch::Receiver<u64> {
        self.senders
            .lock()
            .expect("watches")
            .entry(tenant.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes `tenant`'s watchers.
    pub fn wake(&self, tenant: &str) {
        let mut senders = self.senders.lock().expect("watches");
        if let Some(sender) = senders.get(tenant) {
            if sender.receiver_count() == 0 {
                senders.remove(tenant);
            } else {
                sender.send_modify(|n| *n += 1);
            }
        }
    }

    /// Wakes every watcher (after a notification may have been missed).
    pub fn wake_all(&self) {
        let mut senders = self.senders.lock().expect("watches");
        senders.retain(|_, sender| sender.receiver_count() > 0);
        for sender in senders.values() {
            sender.send_modify(|n| *n += 1);
        }
    }
}

/// The tenants committed on this node since its last notification.
#[derive(Debug, Default)]
pub struct Notifier {
    pending: Mutex<BTreeSet<String>>,
    wake: Notify,
}

impl Notifier {
    /// Notes a commit to `tenant`, to be sent with the next notification.
    pub fn mark(&self, tenant: &str) {
        let fresh = self
            .pending
            .lock()
            .expect("notifier")
            .insert(tenant.to_owned());
        if fresh {
            self.wake.notify_one();
        }
    }

    fn take_payload(&self) -> Option<String> {
        let pending = std::mem::take(&mut *self.pending.lock().expect("notifier"));
        if pending.is_empty() {
            return None;
        }
        let payload = pending.into_iter().collect::<Vec<_>>().join("\n");
        Some(if payload.len() > MOST_PAYLOAD {
            "*".to_owned()
        } else {
            payload
        })
    }
}

/// Sends this node's notifications until the pool closes.
pub async fn send_loop(notifier: Arc<Notifier>, pool: deadpool_postgres::Pool, channel: String) {
    loop {
        notifier.wake.notified().await;
        if pool.is_closed() {
            return;
        }
        if let Some(payload) = notifier.take_payload() {
            let sent = match pool.get().await {
                Ok(client) => client
                    .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(error) = sent {
                tracing::warn!(%error, "could not tell the other nodes of a commit");
            }
        }
        tokio::time::sleep(NOTIFY_EVERY).await;
    }
}

/// Listens for other nodes' notifications on a connection of its own and wakes the watchers
/// they name; reconnects after a lost connection (waking every watcher, since notifications
/// may have been missed meanwhile).
pub async fn listen_loop(
    config: tokio_postgres::Config,
    channel: String,
    watches: Arc<Watches>,
    closed: Arc<Notify>,
) {
    loop {
        let run = listen_once(&config, &channel, &watches);
        tokio::select! {
            result = run => {
                if let Err(error) = result {
                    tracing::warn!(%error, "the commit listener lost its connection; reconnecting");
                }
            }
            () = closed.notified() => return,
        }
        watches.wake_all();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_once(
    config: &tokio_postgres::Config,
    channel: &str,
    watches: &Watches,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN \"{channel}\"");
    {
        let listen = client.batch_execute(&statement);
        // The connection must be polled for the LISTEN to complete.
        tokio::pin!(listen);
        loop {
            tokio::select! {
                done = &mut listen => { done?; break; }
                message = messages.next() => match message {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                },
            }
        }
    }
    while let Some(message) = messages.next().await {
        if let AsyncMessage::Notification(note) = message? {
            if note.payload() == "*" {
                watches.wake_all();
            } else {
                note.payload()
                    .lines()
                    .for_each(|tenant| watches.wake(tenant));
            }
        }
    }
    drop(client);
    Ok(())
}
