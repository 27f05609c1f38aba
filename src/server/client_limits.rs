//! Limits on what clients hold in buffers: the output buffer limits of the `normal` class
//! (`client-output-buffer-limit normal <hard> <soft> <seconds>`) and client eviction
//! (`maxmemory-clients`), so that a client's buffers do not push the server past its memory.
//!
//! A connection holds at most one batch of replies (it reads nothing more until they are
//! written), so the hard limit and client eviction are checked as a batch's replies grow; a
//! batch is built in microseconds, so replies stay over the soft limit only while they wait
//! on the socket, and that wait is what the soft limit bounds (`soft_limit_wait`). Pub/sub
//! messages have their own class (`command::pubsub`).

use std::sync::atomic::Ordering;

use super::Server;
use crate::clients::{Client, ClientHandle};

/// The reply size past which a batch must check its limits: the smallest limit configured,
/// or `usize::MAX` when there is none (then the per-command check is one comparison).
pub fn check_threshold(server: &Server) -> usize {
    let cfg = &*server.config;
    [
        cfg.derived.normal_limit.hard.load(Ordering::Relaxed),
        cfg.derived.maxmemory_clients.load(Ordering::Relaxed),
    ]
    .into_iter()
    .filter(|&v| v > 0)
    .min()
    .map_or(usize::MAX, |v| v as usize)
}

/// Called when a batch's replies (`pending` bytes) passed [`check_threshold`]: true if the
/// client must be closed, its replies dropped (over the hard limit, or evicted to keep all
/// clients under `maxmemory-clients`).
pub fn over_limits(server: &Server, client: &Client, pending: usize) -> bool {
    let hard = server
        .config
        .derived
        .normal_limit
        .hard
        .load(Ordering::Relaxed);
    let pending = pending as u64;
    if hard > 0 && pending >= hard {
        output_limit_reached(server, &client.handle);
        return true;
    }
    client.handle.obuf.store(pending, Ordering::Relaxed);
    evict_clients(server);
    client.handle.killed.load(Ordering::Relaxed)
}

/// Counts and logs a client closed for its output buffer, as Redis words it.
pub fn output_limit_reached(server: &Server, handle: &ClientHandle) {
    server
        .stats
        .output_buffer_limit_disconnections
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
        handle.id,
        handle.addr
    );
}

/// How long replies of `pending` bytes may still wait on the socket before the soft limit
/// closes the client (None: no soft limit applies).
pub fn soft_limit_wait(server: &Server, pending: usize) -> Option<std::time::Duration> {
    let limit = &server.config.derived.normal_limit;
    let soft = limit.soft.load(Ordering::Relaxed);
    (soft > 0 && pending as u64 >= soft)
        .then(|| std::time::Duration::from_secs(limit.soft_secs.load(Ordering::Relaxed)))
}

/// With `maxmemory-clients` set and the clients' buffers over it, closes the clients that
/// hold the most until the rest fit (clients with CLIENT NO-EVICT are never chosen).
pub fn evict_clients(server: &Server) {
    let limit = server
        .config
        .derived
        .maxmemory_clients
        .load(Ordering::Relaxed);
    if limit == 0 {
        return;
    }
    let mut clients: Vec<_> = server
        .clients
        .snapshot()
        .into_iter()
        .filter(|h| !h.killed.load(Ordering::Relaxed))
        .map(|h| (h.buffer_memory(), h))
        .collect();
    let mut total: u64 = clients.iter().map(|(m, _)| m).sum();
    if total <= limit {
        return;
    }
    clients.sort_by_key(|(m, _)| std::cmp::Reverse(*m));
    for (mem, h) in clients {
        if total <= limit {
            break;
        }
        if h.no_evict.load(Ordering::Relaxed) {
            continue;
        }
        tracing::info!("Evicting client: id={} addr={} tot-mem={mem}", h.id, h.addr);
        server.stats.evicted_clients.fetch_add(1, Ordering::Relaxed);
        h.request_kill();
        total -= mem;
    }
}
