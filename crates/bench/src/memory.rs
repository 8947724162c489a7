//! The server's memory, from `/proc/PID/status`.
//!
//! `VmHWM`, the peak resident set, counts the pages of the index files the server maps as
//! well as the memory it allocates. Mapped file pages are page cache the kernel takes back
//! whenever it needs them, and a merge of large segments maps a lot of them; so the peak of
//! anonymous memory (`RssAnon`, which has no high-water mark of its own and is sampled here)
//! is reported beside it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

/// How often the anonymous memory is sampled.
const EVERY: Duration = Duration::from_millis(100);

/// A field of `/proc/{pid}/status` given in kB (`VmHWM:`, `RssAnon:`), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(kib * 1024)
}

/// The highest `RssAnon` of a process, sampled on a thread of its own until dropped.
pub struct AnonPeak {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AnonPeak {
    /// Starts sampling process `pid`.
    pub fn watch(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match status_bytes(pid, "RssAnon:") {
                        Ok(bytes) => {
                            peak.fetch_max(bytes, Ordering::Relaxed);
                        }
                        // The process is gone.
                        Err(_) => return,
                    }
                    std::thread::sleep(EVERY);
                }
            })
        };
        Self {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// The highest sample so far, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for AnonPeak {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sampler sees this very process's allocations grow.
    #[test]
    fn the_peak_follows_anonymous_memory() {
        let pid = std::process::id();
        let before = status_bytes(pid, "RssAnon:").unwrap();
        let watch = AnonPeak::watch(pid);
        let big = vec![1u8; 256 << 20];
        std::thread::sleep(EVERY * 4);
        assert!(
            watch.peak() >= before + (200 << 20),
            "peak {} after 256 MiB on top of {before}",
            watch.peak()
        );
        drop(big);
        assert!(status_bytes(pid, "VmHWM:").unwrap() >= watch.peak());
    }
}
