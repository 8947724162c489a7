//! The background runtime: detection, webhook deliveries and the job workers (exports,
//! reports, expiry) run on threads of their own at a lower CPU priority than the threads that
//! answer requests and write the ledger.
//!
//! They follow the trail, so they can fall behind and catch up without losing anything. When
//! the machine is saturated, the scheduler then gives acknowledging writes the CPU first and
//! the followers what is left (at nice 10, about a tenth of a contended core each); when it is
//! not, they run as soon as there is work. The benchmark (`--alerting`) measures how far they
//! fall behind a burst of ingest and how soon they catch up.

use anyhow::Context;

/// The nice value of background threads: 10 gets about a tenth of the CPU share of the
/// request threads (nice 0) when both want the same core.
pub const NICE: i32 = 10;

/// A multi-threaded runtime whose threads (workers and blocking) run at [`NICE`].
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("trailkeep-background")
        .on_thread_start(lower_priority)
        .enable_all()
        .build()
        .context("start the background runtime")
}

/// Lowers the calling thread's CPU priority to [`NICE`] (on Linux, a thread's own setting;
/// threads it starts inherit it). A failure leaves it as it was: priority is an optimisation,
/// not a guarantee anything depends on.
fn lower_priority() {
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), NICE) {
        tracing::debug!(%error, "a background thread keeps its CPU priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_threads_run_at_the_lower_priority() {
        let own = || rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let before = own();
        // A thread already nicer than NICE stays so (raising priority needs privileges).
        let expected = NICE.max(before);
        let runtime = runtime().unwrap();
        let nice = runtime.block_on(async { tokio::spawn(async move { own() }).await.unwrap() });
        assert_eq!(nice, expected);
        let blocking = runtime.block_on(async { tokio::task::spawn_blocking(own).await.unwrap() });
        assert_eq!(blocking, expected);
        // The thread that built it is not lowered.
        assert_eq!(own(), before);
    }
}
