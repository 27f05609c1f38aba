//! Shutting down as Redis 7 does: a primary whose replicas have not acknowledged everything
//! first pauses writes and waits for them, up to `shutdown-timeout` seconds (not with NOW),
//! so that what it acknowledged is on a replica too; then persistence has its last word
//! (`persistence::prepare_shutdown`) and the server exits. SHUTDOWN ABORT cancels a wait.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::Server;
use crate::persistence::Shutdown;

/// A shutdown waiting for replicas (INFO shutdown_in_milliseconds), and who waits for it.
#[derive(Debug, Default)]
pub struct Waiting {
    /// Unix ms the wait ends at; 0 when no shutdown is waiting.
    deadline_ms: AtomicU64,
    /// Bumped by SHUTDOWN ABORT (and a failed shutdown): waits that began before it end.
    generation: AtomicU64,
    /// Clients blocked on SHUTDOWN (counted in blocked_clients).
    pub blocked: AtomicUsize,
}

impl Waiting {
    /// Milliseconds left of a waiting shutdown.
    pub fn remaining_ms(&self) -> Option<u64> {
        match self.deadline_ms.load(Ordering::Relaxed) {
            0 => None,
            d => Some(d.saturating_sub(crate::engine::now_ms())),
        }
    }
}

/// Whether every replica acknowledged everything recorded so far.
fn replicas_caught_up(server: &Server) -> bool {
    let r = &server.replication;
    r.acked(server.journal.offset()) == r.count()
}

/// Whether a shutdown asked for now must first wait for replicas.
pub fn must_wait(server: &Server, now: bool) -> bool {
    !now && server.config.shutdown_timeout.u() > 0 && !replicas_caught_up(server)
}

/// Shuts down (true: the server is on its way out) or not (false: a save that had to happen
/// failed, or SHUTDOWN ABORT came first; the server goes on, writes resumed).
pub async fn run(server: &Server, how: Shutdown, now: bool) -> bool {
    if must_wait(server, now) {
        let w = &server.shutdown_wait;
        let generation = w.generation.load(Ordering::SeqCst);
        let deadline = crate::engine::now_ms() + server.config.shutdown_timeout.u() * 1000;
        // The first shutdown starts the wait; another one joins it.
        if w.deadline_ms
            .compare_exchange(0, deadline, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            server.pause.start(deadline, false);
            crate::replication::ask_for_acks(server);
            tracing::info!("Waiting for replicas before shutting down.");
        }
        let deadline = w.deadline_ms.load(Ordering::SeqCst).max(1);
        loop {
            if w.generation.load(Ordering::SeqCst) != generation {
                return false;
            }
            if server.shutting_down()
                || replicas_caught_up(server)
                || crate::engine::now_ms() >= deadline
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if server.shutting_down() {
        return true;
    }
    // The last step on a blocking thread, every command held meanwhile (as Redis, whose final
    // save blocks it), so that this task's thread still hears a second SIGINT.
    server.pause.start(u64::MAX / 2, true);
    let me = server.arc();
    let done = tokio::task::spawn_blocking(move || {
        let _still = me.gate.as_ref().map(|g| g.exclusive());
        finish(&me, how)
    })
    .await
    .unwrap_or(false);
    if !done {
        server.pause.end();
    }
    done
}

/// The last step, with commands kept out by the caller: persistence's last word, then the
/// exit (true); if that fails, the server goes on (a waiting shutdown is cancelled).
pub fn finish(server: &Server, how: Shutdown) -> bool {
    log_replicas(server);
    if crate::persistence::prepare_shutdown(server, how).is_ok() {
        server.request_shutdown();
        return true;
    }
    cancel(server);
    tracing::warn!("Errors trying to shut down the server. Check the logs for more information.");
    false
}

/// Ends a waiting shutdown (its SHUTDOWN clients get an error); false if none was waiting.
pub fn cancel(server: &Server) -> bool {
    let w = &server.shutdown_wait;
    w.generation.fetch_add(1, Ordering::SeqCst);
    if w.deadline_ms.swap(0, Ordering::SeqCst) == 0 {
        return false;
    }
    server.pause.end();
    true
}

/// The replicas that did not catch up, and how many did.
fn log_replicas(server: &Server) {
    let links = server.replication.links();
    if links.is_empty() {
        return;
    }
    let offset = server.journal.offset();
    let mut lagging = 0;
    for l in &links {
        let ack = l.ack.load(Ordering::Relaxed);
        if ack < offset {
            lagging += 1;
            tracing::warn!(
                "Lagging replica {}:{} reported offset {} behind master, lag={}, state=online.",
                l.ip,
                l.port,
                offset - ack,
                crate::engine::now_ms().saturating_sub(l.ack_at_ms.load(Ordering::Relaxed)) / 1000
            );
        }
    }
    tracing::info!(
        "{} of {} replicas are in sync when shutting down.",
        links.len() - lagging,
        links.len()
    );
}
