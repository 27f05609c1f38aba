//! Replication, replica side: `REPLICAOF host port` (or `replicaof` in the config) makes this
//! server follow a primary — Redis, Valkey or ferrocache — in Redis's protocol: PING, AUTH
//! (`masterauth`), REPLCONF listening-port and capa, then PSYNC with the last history and
//! offset it knew. A full resync loads the primary's RDB (length-prefixed or diskless EOF-marked);
//! then every command of the stream runs as the primary's client (no replies), its offset is
//! acknowledged every second and on `REPLCONF GETACK`. A lost link is retried every second with
//! a partial resync.
//!
//! While a replica, the server serves reads (`replica-read-only`: writes from clients get
//! -READONLY), keeps keys past their TTL until the primary deletes them (reads see them as
//! missing), and evicts nothing (the primary's evictions arrive as DELs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::clients::{Client, ClientHandle};
use crate::command::Ctx;
use crate::protocol::parser::{Parsed, Parser};
use crate::protocol::Reply;
use crate::server::Server;

/// True while this server follows a primary (read on hot paths: one relaxed load).
static REPLICA: AtomicBool = AtomicBool::new(false);

#[inline]
pub fn is_replica() -> bool {
    REPLICA.load(Ordering::Relaxed)
}

/// The link's state as ROLE names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    #[default]
    Connect,
    Connecting,
    Sync,
    Connected,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Connect => "connect",
            Status::Connecting => "connecting",
            Status::Sync => "sync",
            Status::Connected => "connected",
        }
    }
}

/// What INFO replication and ROLE show of the link.
#[derive(Debug, Clone, Default)]
pub struct LinkState {
    pub host: String,
    pub port: u16,
    pub status: Status,
    /// The primary's history (None before the first sync).
    pub replid: Option<String>,
    /// Stream bytes applied (slave_repl_offset).
    pub offset: u64,
    /// The database the stream has selected: a partial resync continues in it (the primary
    /// does not select again).
    pub db: usize,
    /// When the primary last sent anything, ms since the epoch (0: never).
    pub last_io_ms: u64,
    /// Since when the link is down or syncing, ms since the epoch (0: it is up and in sync).
    pub behind_since_ms: u64,
}

/// The replica side's shared state.
#[derive(Debug)]
pub struct Upstream {
    /// The primary to follow (None: be a primary). The follower task watches it.
    pub target: watch::Sender<Option<(String, u16)>>,
    pub link: Mutex<LinkState>,
    /// The primary's offsets over time (see `lag`).
    pub samples: super::lag::Samples,
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream {
            target: watch::channel(None).0,
            link: Mutex::new(LinkState::default()),
            samples: Default::default(),
        }
    }
}

impl Upstream {
    /// True while the link to the primary is up (synced and streaming).
    pub fn link_up(&self) -> bool {
        self.link.lock().status == Status::Connected
    }

    /// Follows `host:port` from now on (None: stops following).
    pub fn follow(&self, target: Option<(String, u16)>) {
        REPLICA.store(target.is_some(), Ordering::Relaxed);
        crate::engine::expiry::set_replica(target.is_some());
        {
            let mut l = self.link.lock();
            match &target {
                Some((host, port)) => {
                    l.host = host.clone();
                    l.port = *port;
                    l.status = Status::Connect;
                    if l.behind_since_ms == 0 {
                        l.behind_since_ms = crate::engine::now_ms();
                    }
                }
                // Promoted: writes taken from now on are not the old primary's history, so
                // following it again must start with a full copy.
                None => *l = LinkState::default(),
            }
        }
        self.target.send_replace(target);
    }

    /// `ReplicationLag` in seconds: while the link is up, the time since the primary first
    /// held a byte this replica has not applied (sampled, see `lag`; 0 when caught up); while
    /// the link is down or a full sync runs, the time since it was last in sync. None on a
    /// primary.
    pub fn lag_seconds(&self, now_ms: u64) -> Option<f64> {
        if !is_replica() {
            return None;
        }
        let (since, applied) = {
            let l = self.link.lock();
            (l.behind_since_ms, l.offset)
        };
        let ms = if since == 0 {
            self.samples.lag_ms(applied, now_ms)
        } else {
            now_ms.saturating_sub(since)
        };
        Some(ms as f64 / 1000.0)
    }
}

/// Parses `host port` (the `replicaof` parameter); None when empty or malformed.
pub fn parse_target(v: &str) -> Option<(String, u16)> {
    let mut w = v.split_whitespace();
    let (host, port) = (w.next()?, w.next()?.parse().ok()?);
    Some((host.to_string(), port))
}

/// The follower task: runs for the server's life, following whatever `target` names.
pub async fn run(server: Arc<Server>) {
    // Our own dataset loads first.
    while server.loading.on() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut target = server.replication.upstream.target.subscribe();
    loop {
        let current = target.borrow_and_update().clone();
        let Some((host, port)) = current else {
            if target.changed().await.is_err() {
                return;
            }
            continue;
        };
        tokio::select! {
            r = session(&server, &host, port) => {
                let up = &server.replication.upstream;
                {
                    let mut l = up.link.lock();
                    l.status = Status::Connect;
                    if l.behind_since_ms == 0 {
                        l.behind_since_ms = crate::engine::now_ms();
                    }
                }
                if let Err(e) = r {
                    tracing::warn!("Connection with primary {host}:{port} lost: {e}");
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = target.changed() => {}
                }
            }
            _ = target.changed() => {}
        }
        if server.shutting_down() {
            return;
        }
    }
}

fn io_err(msg: String) -> std::io::Error {
    std::io::Error::other(msg)
}

/// `repl-timeout` in ms, as the running session read it.
static TIMEOUT_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(60_000);

/// Reads more from the primary, failing after `repl-timeout` without any byte (the bare
/// newlines a primary sends while it prepares a snapshot count).
async fn read_more(stream: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<()> {
    let timeout = Duration::from_millis(TIMEOUT_MS.load(Ordering::Relaxed));
    match tokio::time::timeout(timeout, stream.read_buf(buf)).await {
        Err(_) => Err(io_err("timeout: no data from the primary".into())),
        Ok(Ok(0)) => Err(io_err("the primary closed the connection".into())),
        Ok(r) => r.map(|_| ()),
    }
}

/// Reads one `\r\n`-terminated line, skipping the bare newlines a primary sends while it
/// prepares the snapshot.
async fn read_line(stream: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<String> {
    loop {
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(i + 1);
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if text.is_empty() {
                continue;
            }
            return Ok(text);
        }
        read_more(stream, buf).await?;
    }
}

async fn send(stream: &mut TcpStream, args: &[&[u8]]) -> std::io::Result<()> {
    let mut v = Vec::new();
    crate::journal::encode(&mut v, args);
    stream.write_all(&v).await
}

/// Sends a handshake command and returns the primary's one-line answer.
async fn ask(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    args: &[&[u8]],
) -> std::io::Result<String> {
    send(stream, args).await?;
    read_line(stream, buf).await
}

/// One connection to the primary, until it fails or the target changes.
async fn session(server: &Arc<Server>, host: &str, port: u16) -> std::io::Result<()> {
    let up = &server.replication.upstream;
    up.link.lock().status = Status::Connecting;
    let timeout = Duration::from_secs(server.config.repl_timeout.get().max(1) as u64);
    TIMEOUT_MS.store(timeout.as_millis() as u64, Ordering::Relaxed);
    let mut stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| io_err("timeout connecting to the primary".into()))??;
    stream.set_nodelay(true).ok();
    // The primary's stream ends a busy poll as a client's request does.
    crate::server::busy_poll::watch(std::os::fd::AsRawFd::as_raw_fd(&stream));
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let pong = ask(&mut stream, &mut buf, &[b"PING"]).await?;
    let pass = server.config.masterauth.get();
    if !pass.is_empty() {
        let user = server.config.masteruser.get();
        let reply = if user.is_empty() {
            ask(&mut stream, &mut buf, &[b"AUTH", pass.as_bytes()]).await?
        } else {
            ask(
                &mut stream,
                &mut buf,
                &[b"AUTH", user.as_bytes(), pass.as_bytes()],
            )
            .await?
        };
        if !reply.starts_with('+') {
            return Err(io_err(format!("unable to AUTH to the primary: {reply}")));
        }
    } else if pong.starts_with("-NOAUTH") {
        return Err(io_err(
            "the primary requires authentication (masterauth)".into(),
        ));
    }
    let own_port = server.tcp_port.load(Ordering::Relaxed).to_string();
    ask(
        &mut stream,
        &mut buf,
        &[b"REPLCONF", b"listening-port", own_port.as_bytes()],
    )
    .await?;
    ask(
        &mut stream,
        &mut buf,
        &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"],
    )
    .await?;
    let (replid, offset) = {
        let l = up.link.lock();
        (l.replid.clone(), l.offset)
    };
    let reply = match &replid {
        Some(id) => {
            let from = (offset + 1).to_string();
            ask(
                &mut stream,
                &mut buf,
                &[b"PSYNC", id.as_bytes(), from.as_bytes()],
            )
            .await?
        }
        None => ask(&mut stream, &mut buf, &[b"PSYNC", b"?", b"-1"]).await?,
    };
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut parts = rest.split_whitespace();
        let (id, off) = (
            parts.next(),
            parts.next().and_then(|o| o.parse::<u64>().ok()),
        );
        let (Some(id), Some(off)) = (id, off) else {
            return Err(io_err(format!("bad reply to PSYNC: {reply}")));
        };
        up.link.lock().status = Status::Sync;
        let rdb = read_snapshot(&mut stream, &mut buf).await?;
        load_snapshot(server, &rdb)?;
        // This server's own history ends here: its former replicas must copy it anew.
        server.replication.new_history(&server.journal);
        let mut l = up.link.lock();
        l.replid = Some(id.to_string());
        l.offset = off;
        l.db = 0;
        tracing::info!(
            "MASTER <-> REPLICA sync: Finished with success ({} bytes)",
            rdb.len()
        );
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        if let Some(id) = rest.split_whitespace().next() {
            up.link.lock().replid = Some(id.to_string());
        }
        tracing::info!("Successful partial resynchronization with primary {host}:{port}");
    } else {
        return Err(io_err(format!("the primary refused PSYNC: {reply}")));
    }
    {
        let mut l = up.link.lock();
        l.status = Status::Connected;
        l.behind_since_ms = 0;
        l.last_io_ms = crate::engine::now_ms();
    }
    stream_commands(server, &mut stream, &mut buf, timeout).await
}

/// Reads the snapshot: `$<len>\r\n<bytes>`, or `$EOF:<40-byte mark>\r\n<bytes><mark>`.
async fn read_snapshot(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> std::io::Result<bytes::Bytes> {
    let head = read_line(stream, buf).await?;
    let Some(spec) = head.strip_prefix('$') else {
        return Err(io_err(format!("bad snapshot header: {head}")));
    };
    if let Some(mark) = spec.strip_prefix("EOF:") {
        let mark = mark.as_bytes().to_vec();
        loop {
            if buf.len() >= mark.len() && buf.ends_with(&mark) {
                let mut data = buf.split();
                data.truncate(data.len() - mark.len());
                return Ok(data.freeze());
            }
            read_more(stream, buf).await?;
        }
    }
    let len: usize = spec
        .parse()
        .map_err(|_| io_err(format!("bad snapshot header: {head}")))?;
    while buf.len() < len {
        buf.reserve(len - buf.len());
        read_more(stream, buf).await?;
    }
    let data = buf.split_to(len).freeze();
    // What followed the snapshot moves to a buffer of its own (the snapshot's goes with it).
    *buf = BytesMut::from(&buf[..]);
    Ok(data)
}

/// Replaces the dataset with the primary's snapshot (an RDB version this server cannot read
/// is refused before anything is emptied).
fn load_snapshot(server: &Server, rdb: &[u8]) -> std::io::Result<()> {
    let version = rdb
        .get(5..9)
        .filter(|_| rdb.starts_with(b"REDIS"))
        .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u16>().ok());
    match version {
        Some(v) if (1..=crate::persistence::rdb::MAX_VERSION).contains(&v) => {}
        _ => {
            return Err(io_err(
                "the primary's snapshot is in an RDB version this server cannot load".into(),
            ))
        }
    }
    let _still = server.gate.as_ref().map(|g| g.exclusive());
    let mut client = master_client(server);
    let mut out = Reply::new();
    let ctx = Ctx {
        server,
        client: &mut client,
        out: &mut out,
        now: crate::engine::now_ms(),
        started: crate::engine::mono_us(),
    };
    crate::command::server::empty_all(&ctx);
    // Emptied for the snapshot: WATCHers, trackers and blocked clients hear of it; a load is
    // no change to count or journal.
    crate::engine::effects::take_command();
    crate::command::effects::apply(server, 0);
    let lim = *server.config.derived.limits.read();
    // Keys past their TTL are kept (now = 0): the primary's DELs remove them.
    let verify = server.config.rdbchecksum.get();
    let loaded = crate::persistence::rdb::file::load(rdb, &server.keyspace, &lim, 0, verify)
        .map_err(|e| io_err(format!("could not load the primary's snapshot: {e}")))?;
    crate::scripting::load_from_rdb(server, &loaded.functions, crate::scripting::Restore::Flush)
        .map_err(io_err)?;
    Ok(())
}

/// The client the primary's commands run as: authenticated, and exempt from the replica's
/// read-only rule.
/// A client that runs what the primary (or the AOF being loaded) sends, unconditionally.
pub(crate) fn master_client(server: &Server) -> Client {
    let handle = Arc::new(ClientHandle::new(
        server.new_client_id(),
        String::new(),
        String::new(),
        -1,
        false,
    ));
    handle.master.store(true, Ordering::Relaxed);
    let mut c = Client::new(handle, None, true);
    c.master = true;
    c
}

/// Applies the primary's stream until the link fails: each command runs as the primary's
/// client; the offset applied is acknowledged every second and on REPLCONF GETACK.
async fn stream_commands(
    server: &Arc<Server>,
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    timeout: Duration,
) -> std::io::Result<()> {
    let up = &server.replication.upstream;
    let mut client = master_client(server);
    client.db = up.link.lock().db;
    server.clients.add(client.handle.clone());
    let id = client.handle.id;
    let _registered = crate::server::connection::Registered { server, id };
    let mut parser = Parser::new(Default::default());
    let mut out = Reply::new();
    let mut ack = tokio::time::interval(Duration::from_secs(1));
    // Bytes of a transaction still being queued: they count as applied at its EXEC (a link
    // lost in between resumes from the MULTI, as Redis does).
    let mut queued = 0u64;
    loop {
        // Promoted (REPLICAOF NO ONE): nothing more from this primary.
        if !is_replica() {
            return Ok(());
        }
        // CLIENT KILL TYPE master: the link is dropped (and made again, as Redis does).
        if client.handle.killed.load(Ordering::Relaxed) {
            return Err(io_err("the link was killed (CLIENT KILL)".into()));
        }
        // Apply every complete command buffered.
        let mut pos = 0;
        let mut getack = false;
        loop {
            let (end, source) = match parser.parse(buf, pos) {
                Ok(Parsed::Request { end, source }) => (end, source),
                Ok(Parsed::Empty { end }) => {
                    queued += (end - pos) as u64;
                    pos = end;
                    continue;
                }
                Ok(Parsed::Incomplete) => break,
                Err(e) => return Err(io_err(format!("protocol error from the primary: {}", e.0))),
            };
            let argv: Vec<&[u8]> = parser.argv(buf, source).collect();
            if argv.len() >= 2
                && argv[0].eq_ignore_ascii_case(b"replconf")
                && argv[1].eq_ignore_ascii_case(b"getack")
            {
                getack = true;
            } else {
                let now = crate::engine::now_ms();
                let mut ctx = Ctx {
                    server,
                    client: &mut client,
                    out: &mut out,
                    now,
                    started: crate::engine::mono_us(),
                };
                crate::command::execute(&mut ctx, &argv);
                if out.buf.first() == Some(&b'-') {
                    tracing::warn!(
                        "The primary's {} failed here: {}",
                        String::from_utf8_lossy(argv[0]),
                        String::from_utf8_lossy(&out.buf).trim_end()
                    );
                }
                out.buf.clear();
            }
            queued += (end - pos) as u64;
            if client.multi.is_none() {
                let mut l = up.link.lock();
                l.offset += std::mem::take(&mut queued);
                l.db = client.db;
            }
            pos = end;
        }
        buf.advance(pos);
        parser.shift(pos);
        if getack {
            send_ack(stream, up).await?;
        }
        // The primary's silence counts from its last byte, not from this wait (the ACK timer
        // ends a wait every second).
        let silent = Duration::from_millis(
            crate::engine::now_ms().saturating_sub(up.link.lock().last_io_ms),
        );
        let Some(left) = timeout.checked_sub(silent) else {
            return Err(io_err("timeout: no data from the primary".into()));
        };
        tokio::select! {
            r = tokio::time::timeout(left, stream.read_buf(buf)) => {
                match r {
                    Err(_) => return Err(io_err("timeout: no data from the primary".into())),
                    Ok(r) => {
                        if r? == 0 {
                            return Err(io_err("the primary closed the connection".into()));
                        }
                        up.link.lock().last_io_ms = crate::engine::now_ms();
                    }
                }
            }
            _ = ack.tick() => send_ack(stream, up).await?,
        }
    }
}

async fn send_ack(stream: &mut TcpStream, up: &Upstream) -> std::io::Result<()> {
    let offset = up.link.lock().offset.to_string();
    send(stream, &[b"REPLCONF", b"ACK", offset.as_bytes()]).await
}
