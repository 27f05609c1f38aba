//! CLIENT PAUSE: holds clients' commands (all of them, or only those that write) until a
//! deadline or CLIENT UNPAUSE. A paused command waits before running, with the rest of its
//! batch behind it; nothing is refused. Checked once per command: one relaxed load while no
//! pause is on.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Default)]
pub struct Pause {
    /// Unix ms when the pause ends; 0 = none.
    until_ms: AtomicU64,
    /// Every command (ALL), not only writes (WRITE).
    all: AtomicBool,
    ended: Notify,
    /// Clients waiting now (Redis counts them in blocked_clients).
    held: AtomicUsize,
}

impl Pause {
    /// Starts or extends a pause: the latest call sets what is held, the later end wins (as
    /// in Redis).
    pub fn start(&self, until_ms: u64, all: bool) {
        self.all.store(all, Ordering::Relaxed);
        self.until_ms.fetch_max(until_ms, Ordering::Relaxed);
        crate::engine::expiry::hold_until(until_ms);
    }

    pub fn end(&self) {
        self.until_ms.store(0, Ordering::Relaxed);
        crate::engine::expiry::release();
        self.all.store(false, Ordering::Relaxed);
        self.ended.notify_waiters();
    }

    /// Whether a pause may be on: the per-command check, one relaxed load.
    #[inline]
    pub fn on(&self) -> bool {
        self.until_ms.load(Ordering::Relaxed) != 0
    }

    /// How long a command must still wait, if it must: `writes` says whether it may write.
    pub fn holds(&self, writes: bool) -> Option<std::time::Duration> {
        let until = self.until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return None;
        }
        let now = crate::engine::now_ms();
        if until <= now {
            // Over: back to the one-load check (unless a new pause began meanwhile).
            let _ = self
                .until_ms
                .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed);
            return None;
        }
        (writes || self.all.load(Ordering::Relaxed))
            .then(|| std::time::Duration::from_millis(until - now))
    }

    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Returns once a command that `writes` (or not) may run.
    pub async fn hold(&self, writes: bool) {
        // Counted while waiting, however the wait ends (the connection may be dropped).
        struct Held<'a>(&'a AtomicUsize);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        let _held = Held(&self.held);
        loop {
            // Registered before the check, so an UNPAUSE in between is not missed.
            let ended = self.ended.notified();
            let Some(d) = self.holds(writes) else {
                return;
            };
            tokio::select! {
                _ = ended => {}
                _ = tokio::time::sleep(d) => {}
            }
        }
    }
}
