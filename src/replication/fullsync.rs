//! Full resyncs. A replica that needs the whole dataset waits for the next background
//! snapshot: with `repl-diskless-sync` (the default) up to `repl-diskless-sync-delay` seconds,
//! or until `repl-diskless-sync-max-replicas` are waiting, so that replicas arriving together
//! share one. When it begins (between two commands) each waiting replica's link subscribes to
//! the journal at that offset and gets `+FULLRESYNC <replid> <offset>`; the snapshot follows,
//! streamed as it is written (`$EOF:<mark>` ... `<mark>`) when every waiting replica takes
//! that (REPLCONF capa eof), otherwise saved to `dbfilename` and sent with its length. Nothing
//! of it runs on the thread that runs commands.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Link;
use crate::persistence::snapshot::{self, Job};
use crate::server::Server;

/// Begins the snapshot the waiting replicas need, if they have waited long enough and no
/// other background save runs. Call between commands.
pub fn start_if_due(server: &Server, now_ms: u64) {
    let repl = &server.replication;
    if repl.waiting.lock().is_empty() || server.snapshots.in_progress() {
        return;
    }
    let cfg = &*server.config;
    let diskless = cfg.repl_diskless_sync.get();
    if diskless {
        let n = repl.waiting.lock().len() as u64;
        let max = cfg.repl_diskless_sync_max_replicas.u();
        let waited = now_ms.saturating_sub(repl.waiting_since_ms.load(Ordering::Relaxed));
        if waited < cfg.repl_diskless_sync_delay.u() * 1000 && !(max > 0 && n >= max) {
            return;
        }
    }
    let links: Vec<Arc<Link>> = std::mem::take(&mut *repl.waiting.lock())
        .into_iter()
        .filter(|l| !l.rdb.closed.load(Ordering::Relaxed))
        .collect();
    if links.is_empty() {
        return;
    }
    let diskless = diskless && links.iter().all(|l| l.eof);
    // From here on, the journal's stream follows the snapshot.
    let replid = repl.replid();
    let mut stream = server.journal.lock();
    let offset = stream.offset;
    for l in &links {
        stream.subscribe(l.feed.clone());
    }
    drop(stream);
    for l in &links {
        l.streamed.store(diskless, Ordering::Relaxed);
        if l.psync {
            l.rdb
                .push(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
        }
    }
    let job = Job::Replicas {
        feeds: links.iter().map(|l| l.rdb.clone()).collect(),
        diskless,
        replid,
        offset,
    };
    if snapshot::begin_background(server, now_ms, job).is_err() {
        // (Cannot happen: checked above, and only this thread begins saves.)
        for l in &links {
            l.rdb.closed.store(true, Ordering::Relaxed);
        }
    }
}
