//! Replication, primary side, in Redis's protocol: a replica (Redis, Valkey or ferrocache)
//! connects, says `REPLCONF listening-port`/`capa`, then `PSYNC <replid> <offset>`. If the
//! ID is ours and the backlog still holds everything after its offset it gets `+CONTINUE` and
//! those bytes; otherwise `+FULLRESYNC <replid> <offset>`, a snapshot (RDB) and then the
//! journal's stream from that offset. It acknowledges what it applied with `REPLCONF ACK`
//! every second, which INFO's `slaveN:...,offset=,lag=`, WAIT and `min-replicas-to-write` read.
//!
//! A full resync is served by a background snapshot (`fullsync`), streamed to the replicas
//! as it is written (diskless) or from the file once it is (disk-backed), so attaching a
//! replica pauses no client.

pub mod fullsync;
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
    /// A full resync's bytes (`+FULLRESYNC`, the snapshot), filled by the background save;
    /// `done` once all of it is there, `closed` if the save failed.
    pub rdb: Arc<Feed>,
    /// It asked with PSYNC (SYNC gets no `+FULLRESYNC` line).
    pub psync: bool,
    /// It takes a snapshot without its length up front (REPLCONF capa eof): diskless.
    pub eof: bool,
    /// Its snapshot was streamed EOF-marked: the journal's stream waits for its first ACK
    /// (it finds the mark at the end of what it reads, so nothing may follow it at once).
    pub streamed: AtomicBool,
    /// It has sent an ACK since the link began.
    pub acked: AtomicBool,
}

/// What a would-be replica said of itself before PSYNC.
#[derive(Debug, Default, Clone, Copy)]
pub struct Announced {
    pub port: u16,
    pub eof: bool,
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

/// The backlog's size: repl-backlog-size, at least 16 KB (as Redis raises smaller settings).
pub fn backlog_size(cfg: &crate::config::Settings) -> usize {
    cfg.repl_backlog_size.u().max(16 * 1024) as usize
}

/// Asks the replicas to acknowledge now rather than at their next second (REPLCONF GETACK).
pub fn ask_for_acks(server: &Server) {
    if server.replication.count() > 0 {
        server
            .journal
            .lock()
            .append(b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n");
    }
}

/// Waits for a WAIT's acknowledgements (polling every few ms: WAIT is rare, and an ACK does
/// not wake anyone). Returns the count to reply with.
pub async fn wait_acks<F>(server: &Server, w: &Wait, stop: &mut F) -> usize
where
    F: std::future::Future<Output = ()> + Unpin,
{
    ask_for_acks(server);
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
    /// What a client announced before its PSYNC (REPLCONF listening-port, capa eof), by id.
    announced: Mutex<Vec<(u64, Announced)>>,
    /// Replicas waiting for the next full-sync snapshot, and since when (ms).
    pub(crate) waiting: Mutex<Vec<Arc<Link>>>,
    pub(crate) waiting_since_ms: AtomicU64,
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
            waiting: Mutex::new(Vec::new()),
            waiting_since_ms: AtomicU64::new(0),
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

    /// REPLCONF listening-port or capa from client `id`.
    pub fn announce(&self, id: u64, f: impl FnOnce(&mut Announced)) {
        let mut a = self.announced.lock();
        match a.iter_mut().find(|(c, _)| *c == id) {
            Some((_, x)) => f(x),
            None => {
                let mut x = Announced::default();
                f(&mut x);
                a.push((id, x));
            }
        }
    }

    fn take_announced(&self, id: u64) -> Announced {
        let mut a = self.announced.lock();
        let x = a.iter().find(|(c, _)| *c == id).map(|(_, x)| *x);
        a.retain(|(c, _)| *c != id);
        x.unwrap_or_default()
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
    /// A full resync: the link waits for the next snapshot (`fullsync`), which brings the
    /// `+FULLRESYNC` line.
    Full,
}

/// Answers `PSYNC replid offset` from client `id` at `ip` (`replid` "?" and offset -1 ask for
/// a full copy; `psync` false for SYNC). Registers the link; the caller writes the reply and
/// hands the connection over. Runs between commands.
pub fn attach(
    server: &Server,
    id: u64,
    ip: &str,
    replid: &[u8],
    offset: i64,
    psync: bool,
    now_ms: u64,
) -> (Sync, Attach) {
    let repl = &server.replication;
    let cfg = &*server.config;
    server.journal.activate(backlog_size(cfg));
    let feed = Arc::new(Feed::new(
        cfg.derived.replica_limit.hard.load(Ordering::Relaxed),
    ));
    let announced = repl.take_announced(id);
    let link = Arc::new(Link {
        client: id,
        ip: ip.to_string(),
        port: announced.port,
        feed: feed.clone(),
        ack: AtomicU64::new(0),
        ack_at_ms: AtomicU64::new(now_ms),
        online: AtomicBool::new(false),
        rdb: Arc::new(Feed::new(0)),
        psync,
        eof: announced.eof,
        streamed: AtomicBool::new(false),
        acked: AtomicBool::new(false),
    });
    let mut stream = server.journal.lock();
    let partial = (psync && replid == repl.replid().as_bytes() && offset > 0)
        .then(|| stream.backlog.as_ref()?.since(offset as u64))
        .flatten();
    let sync = match partial {
        Some(bytes) => {
            stream.subscribe(feed);
            link.rdb.done.store(true, Ordering::Relaxed);
            link.online.store(true, Ordering::Relaxed);
            link.ack.store(offset as u64 - 1, Ordering::Relaxed);
            repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
            Sync::Partial(bytes)
        }
        None => {
            drop(stream);
            if psync && replid != b"?" {
                repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
            }
            repl.sync_full.fetch_add(1, Ordering::Relaxed);
            let mut waiting = repl.waiting.lock();
            if waiting.is_empty() {
                repl.waiting_since_ms.store(now_ms, Ordering::Relaxed);
            }
            waiting.push(link.clone());
            drop(waiting);
            fullsync::start_if_due(server, now_ms);
            Sync::Full
        }
    };
    repl.links.lock().push(link.clone());
    (sync, Attach { link })
}

/// A link ended (the replica left, was killed, or fell behind its output limit).
pub fn detach(server: &Server, link: &Arc<Link>) {
    server.journal.lock().unsubscribe(&link.feed);
    // A snapshot being written for it stops writing to it.
    link.rdb.closed.store(true, Ordering::Relaxed);
    server
        .replication
        .waiting
        .lock()
        .retain(|l| !Arc::ptr_eq(l, link));
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
