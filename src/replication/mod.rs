//! Replication, primary side, in Redis's protocol: a replica (Redis, Valkey or ferrocache)
//! connects, says `REPLCONF listening-port`/`capa`, then `PSYNC <replid> <offset>`. If the
//! ID is ours and the backlog still holds everything after its offset it gets `+CONTINUE` and
//! those bytes; otherwise `+FULLRESYNC <replid> <offset>`, a snapshot (RDB) and then the
//! journal's stream from that offset. It acknowledges what it applied with `REPLCONF ACK`
//! every second, which INFO's `slaveN:...,offset=,lag=`, WAIT and `min-replicas-to-write` read.
//!
//! The snapshot is taken at once, in memory, on the thread that runs commands (as SAVE is):
//! for the data sizes of a cache node it is a pause of milliseconds per 100k keys.

pub mod lag;
pub mod link;
pub mod replica;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::journal::Feed;
use crate::server::Server;

/// One attached replica.
#[derive(Debug)]
pub struct Link {
    /// The replica's client id (CLIENT LIST / KILL).
    pub client: u64,
    pub ip: String,
    /// The port it listens on (REPLCONF listening-port), as INFO shows it.
    pub port: u16,
    pub feed: Arc<Feed>,
    /// Offset it acknowledged last (REPLCONF ACK).
    pub ack: AtomicU64,
    /// When it last acknowledged, ms since the epoch.
    pub ack_at_ms: AtomicU64,
    /// True once the snapshot has been written to it (INFO state=online).
    pub online: AtomicBool,
}

/// What PSYNC leaves for the connection: after its reply is written, the connection serves
/// this link and nothing else.
#[derive(Debug)]
pub struct Attach {
    pub link: Arc<Link>,
}

/// A WAIT that could not answer at once: `replicas` acknowledgements of `offset` wanted
/// before `deadline` (None: no limit).
#[derive(Debug)]
pub struct Wait {
    pub replicas: usize,
    pub offset: u64,
    pub deadline: Option<std::time::Instant>,
}

/// Waits for a WAIT's acknowledgements (polling every few ms: WAIT is rare, and an ACK does
/// not wake anyone). Returns the count to reply with.
pub async fn wait_acks<F>(server: &Server, w: &Wait, stop: &mut F) -> usize
where
    F: std::future::Future<Output = ()> + Unpin,
{
    // Ask the replicas to acknowledge now rather than at their next second.
    if server.replication.count() > 0 {
        server
            .journal
            .lock()
            .append(b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n");
    }
    loop {
        let n = server.replication.acked(w.offset);
        if n >= w.replicas || w.deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return n;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(5)) => {}
            _ = &mut *stop => return n,
        }
    }
}

/// The primary's replication state.
#[derive(Debug)]
pub struct Primary {
    /// This dataset history's ID (INFO master_replid); a new one when the dataset is replaced
    /// by a primary's snapshot, so no replica of ours resumes across the change.
    replid: Mutex<String>,
    links: Mutex<Vec<Arc<Link>>>,
    /// INFO stats sync_full, sync_partial_ok, sync_partial_err.
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// Bytes written to replicas (INFO total_net_repl_output_bytes).
    pub output_bytes: AtomicU64,
    /// When the stream last carried a PING for the replicas, ms since the epoch.
    pub last_ping_ms: AtomicU64,
    /// Listening port a client announced before its PSYNC (REPLCONF listening-port), by id.
    announced: Mutex<Vec<(u64, u16)>>,
    /// The replica side: the primary this server follows, if any.
    pub upstream: replica::Upstream,
}

impl Default for Primary {
    fn default() -> Self {
        Primary {
            replid: Mutex::new(new_replid()),
            links: Mutex::new(Vec::new()),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            output_bytes: AtomicU64::new(0),
            last_ping_ms: AtomicU64::new(0),
            announced: Mutex::new(Vec::new()),
            upstream: Default::default(),
        }
    }
}

/// 40 random hex digits.
fn new_replid() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..40)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).expect("hex digit"))
        .collect()
}

impl Primary {
    pub fn replid(&self) -> String {
        self.replid.lock().clone()
    }

    /// Starts a new history (the dataset was replaced): nothing recorded before can be
    /// resumed from.
    pub fn new_history(&self, journal: &crate::journal::Journal) {
        *self.replid.lock() = new_replid();
        journal.lock().drop_backlog();
    }

    pub fn links(&self) -> Vec<Arc<Link>> {
        self.links.lock().clone()
    }

    pub fn count(&self) -> usize {
        self.links.lock().len()
    }

    /// REPLCONF listening-port from client `id`.
    pub fn announce_port(&self, id: u64, port: u16) {
        let mut a = self.announced.lock();
        a.retain(|(c, _)| *c != id);
        a.push((id, port));
    }

    fn take_port(&self, id: u64) -> u16 {
        let mut a = self.announced.lock();
        let port = a.iter().find(|(c, _)| *c == id).map_or(0, |(_, p)| *p);
        a.retain(|(c, _)| *c != id);
        port
    }

    /// Forgets a client that never became a replica.
    pub fn forget(&self, id: u64) {
        self.announced.lock().retain(|(c, _)| *c != id);
    }

    /// Replicas whose last ACK is at most `max_lag_s` old (min-replicas-to-write).
    pub fn good_replicas(&self, max_lag_s: u64, now_ms: u64) -> usize {
        self.links
            .lock()
            .iter()
            .filter(|l| {
                l.online.load(Ordering::Relaxed)
                    && now_ms.saturating_sub(l.ack_at_ms.load(Ordering::Relaxed))
                        <= max_lag_s * 1000
            })
            .count()
    }

    /// Replicas that acknowledged `offset` (WAIT).
    pub fn acked(&self, offset: u64) -> usize {
        self.links
            .lock()
            .iter()
            .filter(|l| l.ack.load(Ordering::Relaxed) >= offset)
            .count()
    }

    fn remove(&self, link: &Arc<Link>) {
        self.links.lock().retain(|l| !Arc::ptr_eq(l, link));
    }
}

/// How a PSYNC was answered.
pub enum Sync {
    /// `+CONTINUE`: the backlog bytes from the replica's offset follow.
    Partial(Vec<u8>),
    /// `+FULLRESYNC`: the snapshot follows, taken at `offset`.
    Full { offset: u64, rdb: Vec<u8> },
}

/// Answers `PSYNC replid offset` from client `id` at `ip` (`replid` "?" and offset -1 ask for
/// a full copy). Registers the link; the caller writes the reply and hands the connection over.
pub fn attach(
    server: &Server,
    id: u64,
    ip: &str,
    replid: &[u8],
    offset: i64,
    now_ms: u64,
) -> std::io::Result<(Sync, Attach)> {
    let repl = &server.replication;
    let cfg = &*server.config;
    server
        .journal
        .activate(cfg.repl_backlog_size.get().max(1) as usize);
    let feed = Arc::new(Feed::new(
        cfg.derived.replica_limit.hard.load(Ordering::Relaxed),
    ));
    let link = Arc::new(Link {
        client: id,
        ip: ip.to_string(),
        port: repl.take_port(id),
        feed: feed.clone(),
        ack: AtomicU64::new(0),
        ack_at_ms: AtomicU64::new(now_ms),
        online: AtomicBool::new(false),
    });
    let mut stream = server.journal.lock();
    let partial = (replid == repl.replid().as_bytes() && offset > 0)
        .then(|| stream.backlog.as_ref()?.since(offset as u64))
        .flatten();
    let sync = match partial {
        Some(bytes) => {
            stream.subscribe(feed);
            link.online.store(true, Ordering::Relaxed);
            link.ack.store(offset as u64 - 1, Ordering::Relaxed);
            repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
            Sync::Partial(bytes)
        }
        None => {
            if replid != b"?" {
                repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
            }
            // Everything recorded from here on follows the snapshot. Keys the active expiry
            // cycle deletes meanwhile arrive as DELs after it, which is harmless either way.
            let at = stream.offset;
            stream.subscribe(feed);
            drop(stream);
            let rdb = match snapshot(server, now_ms, at) {
                Ok(r) => r,
                Err(e) => {
                    server.journal.lock().unsubscribe(&link.feed);
                    return Err(e);
                }
            };
            repl.sync_full.fetch_add(1, Ordering::Relaxed);
            Sync::Full { offset: at, rdb }
        }
    };
    repl.links.lock().push(link.clone());
    Ok((sync, Attach { link }))
}

/// The dataset as an RDB file in memory, tagged with the stream position it matches.
fn snapshot(server: &Server, now_ms: u64, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut rdb = Vec::new();
    let aux =
        crate::persistence::snapshot::aux(now_ms, Some((&server.replication.replid(), offset)));
    crate::persistence::rdb::file::save(
        &server.keyspace,
        &mut rdb,
        now_ms,
        &aux,
        server.config.rdbchecksum.get(),
    )?;
    Ok(rdb)
}

/// A link ended (the replica left, was killed, or fell behind its output limit).
pub fn detach(server: &Server, link: &Arc<Link>) {
    server.journal.lock().unsubscribe(&link.feed);
    server.replication.remove(link);
}

/// Run by the cron thread: a PING into the stream every `repl-ping-replica-period` seconds
/// while replicas are attached, so that they see the link alive when no writes come.
pub fn cron(server: &Server, now_ms: u64) {
    let repl = &server.replication;
    if repl.count() == 0 {
        return;
    }
    let period = server.config.repl_ping_replica_period.get().max(1) as u64 * 1000;
    if now_ms.saturating_sub(repl.last_ping_ms.load(Ordering::Relaxed)) < period {
        return;
    }
    repl.last_ping_ms.store(now_ms, Ordering::Relaxed);
    server.journal.lock().append(b"*1\r\n$4\r\nPING\r\n");
}
