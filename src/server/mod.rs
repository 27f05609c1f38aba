//! The server: shared state, listeners (TCP, TLS, and ElastiCache's mixed mode), the cron thread,
//! and shutdown.

pub mod busy_poll;
pub mod client_limits;
pub mod connection;
pub mod http;
pub mod outbox;
pub mod pause;
pub mod shutdown;
#[cfg(target_os = "linux")]
pub mod supervise;
pub mod tls;
pub mod tls_stream;
pub mod while_busy;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::clients::{ClientHandle, Clients};
use crate::command::CommandTable;
use crate::config::Config;
use crate::engine::gate::Gate;
use crate::engine::Keyspace;
use crate::metrics::Stats;

/// Called with the new `loglevel` after CONFIG SET changes it.
pub type LogLevelHook = Box<dyn Fn(&str) + Send + Sync>;

/// Everything connections share.
pub struct Server {
    /// This server's own `Arc`, for the threads it starts (a background save).
    me: std::sync::Weak<Server>,
    pub config: Config,
    pub keyspace: Keyspace,
    /// Connections and what they share: pub/sub, tracking, blocked clients, MONITOR, WATCH.
    pub clients: Clients,
    pub commands: CommandTable,
    /// Users and their permissions (ACL).
    pub acl: crate::acl::Acl,
    pub stats: Stats,
    pub run_id: String,
    /// The plaintext port actually bound (differs from the config when it was 0).
    pub tcp_port: AtomicU16,
    /// DEBUG SET-ACTIVE-EXPIRE switch.
    pub active_expire: AtomicBool,
    /// DEBUG PAUSE-CRON: the persistence cron (save points, rewrites, a signal's shutdown)
    /// does nothing while set.
    pub cron_paused: AtomicBool,
    /// A signal asked for a shutdown, which the persistence cron carries out (until then,
    /// SHUTDOWN ABORT cancels it, as in Redis).
    pub shutdown_asap: AtomicBool,
    /// A signal's shutdown is under way (a second SIGINT then exits at once).
    pub signal_shutdown: AtomicBool,
    /// A shutdown waiting for replicas to catch up.
    pub shutdown_wait: shutdown::Waiting,
    /// Lua scripts (EVAL, SCRIPT).
    pub scripting: crate::scripting::Scripting,
    /// Allocated bytes once the server was set up (INFO used_memory_startup).
    pub startup_memory: u64,
    next_client_id: AtomicU64,
    shutdown: watch::Sender<bool>,
    /// Mirrors `shutdown` for the connections' cheap check at each wake-up.
    stopping: AtomicBool,
    /// Keeps other clients out while EXEC runs; only built with several I/O threads.
    pub gate: Option<Gate>,
    pub snapshots: crate::persistence::snapshot::Snapshots,
    pub aof: crate::persistence::aof::Aof,
    pub loading: crate::persistence::Loading,
    /// The CloudWatch-named metrics' periods (see `metrics::cloudwatch`).
    pub cloudwatch: crate::report::cloudwatch::Recorder,
    pub slowlog: crate::metrics::slowlog::SlowLog,
    /// The stream of write effects (see `journal`).
    pub journal: crate::journal::Journal,
    /// Replicas and the replication ID (see `replication`).
    pub replication: crate::replication::Primary,
    pub pause: pause::Pause,
    pub latency: crate::metrics::slowlog::LatencySpikes,
    log_level_hook: Option<LogLevelHook>,
}

/// All command families, in the order COMMAND lists them.
pub fn command_table() -> CommandTable {
    use crate::command::*;
    CommandTable::new(&[
        strings::COMMANDS,
        keys::COMMANDS,
        dump::COMMANDS,
        persistence::COMMANDS,
        lists::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        zsets::COMMANDS,
        zranges::COMMANDS,
        zsetops::COMMANDS,
        sort::COMMANDS,
        bitmaps::COMMANDS,
        geo::COMMANDS,
        hll::COMMANDS,
        streams::COMMANDS,
        stream_groups::COMMANDS,
        stream_claims::COMMANDS,
        connection::COMMANDS,
        client::COMMANDS,
        acl::COMMANDS,
        server::COMMANDS,
        introspection::COMMANDS,
        debug::COMMANDS,
        slowlog::COMMANDS,
        monitor::COMMANDS,
        transactions::COMMANDS,
        scripting::COMMANDS,
        functions::COMMANDS,
        replication::COMMANDS,
        blocking::COMMANDS,
        pubsub::COMMANDS,
    ])
}

impl Server {
    pub fn new(config: Config, log_level_hook: Option<LogLevelHook>) -> Arc<Server> {
        let databases = config.databases.get() as usize;
        let shards = config.keyspace_shards.get().parse().unwrap_or(16);
        let config_threads = config.io_threads.get();
        crate::engine::update_lru_clock();
        let run_id: String = (0..40)
            .map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0'))
            .collect();
        let (tx, _) = watch::channel(false);
        let commands = command_table();
        let acl = crate::acl::Acl::new(&commands);
        let mut server = Server {
            me: std::sync::Weak::new(),
            keyspace: Keyspace::new(databases, shards),
            config,
            clients: Clients::new(databases),
            commands,
            acl,
            stats: Stats::default(),
            run_id,
            tcp_port: AtomicU16::new(0),
            active_expire: AtomicBool::new(true),
            cron_paused: AtomicBool::new(false),
            shutdown_asap: AtomicBool::new(false),
            signal_shutdown: AtomicBool::new(false),
            shutdown_wait: Default::default(),
            scripting: Default::default(),
            startup_memory: 0,
            next_client_id: AtomicU64::new(1),
            shutdown: tx,
            stopping: AtomicBool::new(false),
            log_level_hook,
            gate: (config_threads != 1).then(Gate::default),
            snapshots: crate::persistence::snapshot::Snapshots::new(crate::engine::now_ms()),
            aof: Default::default(),
            loading: Default::default(),
            cloudwatch: Default::default(),
            slowlog: Default::default(),
            journal: Default::default(),
            replication: Default::default(),
            pause: Default::default(),
            latency: Default::default(),
        };
        // What the server does with each parameter's initial value.
        for def in crate::config::PARAMS {
            // (The AOF is started after loading, not here.)
            if !matches!(
                def.on_change,
                crate::config::OnChange::LogLevel | crate::config::OnChange::AppendOnly
            ) {
                server.on_change(def.on_change);
            }
        }
        server.startup_memory = crate::metrics::memory::sample().allocated;
        let server = Arc::new_cyclic(|me| {
            server.me = me.clone();
            server
        });
        server.cloudwatch.start(&server);
        server
    }

    /// This server's `Arc` (for a thread that outlives the caller's borrow).
    pub fn arc(&self) -> Arc<Server> {
        self.me.upgrade().expect("the server is alive while used")
    }

    /// The ACL file's path (empty without one); a relative one is in `dir`, as Redis, which
    /// changes into `dir`, finds it.
    pub fn aclfile(&self) -> String {
        let f = self.config.aclfile.get();
        if f.is_empty() || std::path::Path::new(f.as_str()).is_absolute() {
            return f.to_string();
        }
        std::path::Path::new(&self.config.dir.get())
            .join(f.as_str())
            .to_string_lossy()
            .into_owned()
    }

    /// True when clients must authenticate before running commands.
    #[inline]
    pub fn auth_required(&self) -> bool {
        self.acl.auth_required()
    }

    pub fn request_shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
        self.clients.wake_all();
    }

    /// Delivers a pub/sub message; returns the number of receivers. Subscribers it closed for
    /// their output limits are counted.
    pub fn publish(&self, channel: &[u8], msg: &[u8], shard: bool) -> usize {
        let limit = &self.config.derived.pubsub_limit;
        let (n, closed) = self.clients.pubsub.publish(limit, channel, msg, shard);
        if closed > 0 {
            self.stats
                .output_buffer_limit_disconnections
                .fetch_add(closed, Ordering::Relaxed);
        }
        n
    }

    /// Publishes a keyspace event (`__keyspace@db__:key` / `__keyevent@db__:event`) if its
    /// class is enabled.
    pub fn publish_event(&self, class: u32, event: &str, key: &[u8], db: usize) {
        use crate::engine::notify::{enabled, flags, KEYEVENT, KEYSPACE};
        if !enabled(class) {
            return;
        }
        let f = flags();
        if f & KEYSPACE != 0 {
            let mut chan = format!("__keyspace@{db}__:").into_bytes();
            chan.extend_from_slice(key);
            self.publish(&chan, event.as_bytes(), false);
        }
        if f & KEYEVENT != 0 {
            let chan = format!("__keyevent@{db}__:{event}");
            self.publish(chan.as_bytes(), key, false);
        }
    }

    pub fn shutting_down(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Does what the server must when parameters change (each row says what: `OnChange`),
    /// after CONFIG SET stored them; also run once for every parameter at start-up.
    pub fn config_changed(&self, pairs: &[(&str, &str)]) {
        for (name, _) in pairs {
            if let Some(i) = crate::config::find(name) {
                self.on_change(crate::config::PARAMS[i].on_change);
            }
        }
    }

    fn on_change(&self, what: crate::config::OnChange) {
        use crate::config::OnChange;
        match what {
            OnChange::Nothing => {}
            // The OOM check reads the last sample: take a fresh one for the new limit.
            OnChange::Memory => {
                crate::metrics::memory::sample();
            }
            OnChange::Backlog => {
                let size = crate::replication::backlog_size(&self.config);
                if let Some(b) = &mut self.journal.lock().backlog {
                    b.resize(size);
                }
            }
            OnChange::LogLevel => {
                if let Some(hook) = &self.log_level_hook {
                    hook(&self.config.loglevel.get());
                }
            }
            OnChange::Password => {
                let pass = self.config.requirepass.get();
                self.acl
                    .set_default_password(&self.commands, pass.as_bytes());
            }
            OnChange::AclPubsub => self.acl.all_channels_default.store(
                self.config.acl_pubsub_default.get().as_str() == "allchannels",
                Ordering::Relaxed,
            ),
            OnChange::BusyPoll => busy_poll::set_max_us(self.config.busy_poll_us.u()),
            OnChange::AppendOnly => crate::persistence::aof::config_changed(self),
            OnChange::AofHistory => {
                if !self.config.aof_disable_auto_gc.get() {
                    crate::persistence::aof::delete_history(self);
                }
            }
            OnChange::AllocatorThread => {
                crate::metrics::memory::background_thread(self.config.jemalloc_bg_thread.get())
            }
        }
    }

    /// Used memory split into overhead and data (INFO memory, MEMORY STATS). Client memory is
    /// what is tracked per connection: read buffers and messages waiting to be sent.
    pub fn memory_breakdown(&self) -> crate::metrics::memory::Breakdown {
        let clients = self
            .clients
            .snapshot()
            .iter()
            .map(|h| h.buffer_memory())
            .sum();
        crate::metrics::memory::Breakdown::now(self.startup_memory, clients)
    }

    pub fn reset_stats(&self) {
        self.stats.reset();
        self.commands.reset_stats();
        for db in self.keyspace.dbs() {
            db.reset_stats();
        }
        self.cloudwatch.reset();
    }

    pub fn new_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// How a listener treats new connections.
#[derive(Clone)]
enum Mode {
    Plain,
    Tls(TlsAcceptor),
    /// ElastiCache "preferred": TLS if the first byte is a TLS handshake record, else plaintext.
    Sniff(TlsAcceptor),
}

/// Bound listeners, ready to serve.
pub struct Listeners {
    list: Vec<(TcpListener, Mode)>,
    /// The `/metrics` endpoint's sockets (`metrics-port`).
    metrics: Vec<TcpListener>,
}

async fn bind_all(addrs: &str, port: u16) -> std::io::Result<Vec<TcpListener>> {
    let mut out = Vec::new();
    for a in addrs.split_whitespace() {
        let (optional, a) = match a.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, a),
        };
        let ip = match a {
            "*" => "0.0.0.0",
            "::*" => "::",
            other => other,
        };
        let addr: SocketAddr = match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)),
        };
        match TcpListener::bind(addr).await {
            Ok(l) => out.push(l),
            Err(e) if optional => tracing::debug!("skipping optional bind address {addr}: {e}"),
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!(
                        "Could not create server TCP listening socket {addr}: {e}. Failed listening on port {port} (tcp), aborting."
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// Binds every configured listener. Fails if a required address cannot be bound.
pub async fn bind(server: &Server) -> Result<Listeners, StartError> {
    let cfg = &server.config;
    let bind_addrs = cfg.bind.get();
    let port = cfg.port.get() as u16;
    let tls_port = cfg.tls_port.get() as u16;
    let tls_mode = cfg.tls_mode.get();
    let acceptor = if tls_port != 0 || tls_mode != "off" {
        Some(tls::acceptor(cfg)?)
    } else {
        None
    };
    let mut list = Vec::new();
    let main_mode = match (tls_mode.as_str(), &acceptor) {
        ("preferred", Some(a)) => Mode::Sniff(a.clone()),
        ("required", Some(a)) => Mode::Tls(a.clone()),
        _ => Mode::Plain,
    };
    // `port 0` with nothing else configured still needs a socket (tests bind an ephemeral port).
    if port != 0 || tls_port == 0 {
        let ls = bind_all(&bind_addrs, port).await?;
        if let Some(l) = ls.first() {
            server
                .tcp_port
                .store(l.local_addr()?.port(), Ordering::Relaxed);
        }
        list.extend(ls.into_iter().map(|l| (l, main_mode.clone())));
    }
    if tls_port != 0 {
        let a = acceptor
            .clone()
            .expect("acceptor built when tls-port is set");
        let ls = bind_all(&bind_addrs, tls_port).await?;
        list.extend(ls.into_iter().map(|l| (l, Mode::Tls(a.clone()))));
    }
    if list.is_empty() {
        return Err("no listening socket could be bound".into());
    }
    let metrics_port = cfg.metrics_port.get() as u16;
    let metrics = if metrics_port != 0 {
        bind_all(&bind_addrs, metrics_port).await?
    } else {
        Vec::new()
    };
    Ok(Listeners { list, metrics })
}

/// A start-up failure (bad TLS files, an address that cannot be bound), shown to the operator.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// Serves until SHUTDOWN, SIGTERM or SIGINT.
pub async fn serve(server: Arc<Server>, listeners: Listeners) {
    start_cron(server.clone());
    start_metrics(server.clone());
    crate::replication::lag::start(server.clone());
    // The replica side: idle until REPLICAOF (or `replicaof` in the config) names a primary.
    if let Some(target) = crate::replication::replica::parse_target(&server.config.replicaof.get())
    {
        server.replication.upstream.follow(Some(target));
    }
    tokio::spawn(crate::replication::replica::run(server.clone()));
    for (listener, mode) in listeners.list {
        #[cfg(unix)]
        busy_poll::watch(std::os::fd::AsRawFd::as_raw_fd(&listener));
        #[cfg(unix)]
        while_busy::LISTENERS
            .lock()
            .push((std::os::fd::AsRawFd::as_raw_fd(&listener), mode.clone()));
        tokio::spawn(accept_loop(server.clone(), listener, mode));
    }
    for listener in listeners.metrics {
        tokio::spawn(http::accept_loop(server.clone(), listener));
    }
    let mut shutdown = server.shutdown_signal();
    let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut terminate = Box::pin(next_term(term.take()));
    tokio::spawn(persistence_cron(server.clone()));
    // A signal only asks: the persistence cron shuts down at its next tick (so SHUTDOWN
    // ABORT can still cancel it, as in Redis).
    loop {
        tokio::select! {
            _ = &mut ctrl_c => {
                if server.signal_shutdown.load(Ordering::SeqCst) {
                    insist_on_exit(&server);
                }
                tracing::warn!("Received SIGINT scheduling shutdown...");
                ctrl_c = Box::pin(tokio::signal::ctrl_c());
            }
            t = &mut terminate => {
                tracing::warn!("Received SIGTERM scheduling shutdown...");
                terminate = Box::pin(next_term(t));
            }
            _ = shutdown.wait_for(|v| *v) => break,
        }
        server.shutdown_asap.store(true, Ordering::SeqCst);
    }
    server.request_shutdown();
    // Give connections a moment to flush replies and close.
    let deadline = Instant::now() + Duration::from_millis(500);
    while !server.clients.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tracing::warn!("ferrocache is now ready to exit, bye bye...");
}

/// Waits for the next SIGTERM (forever if it cannot be caught).
async fn next_term(
    term: Option<tokio::signal::unix::Signal>,
) -> Option<tokio::signal::unix::Signal> {
    match term {
        Some(mut t) => {
            t.recv().await;
            Some(t)
        }
        None => std::future::pending().await,
    }
}

/// Save points, scheduled saves and replicas waiting for a snapshot, checked between commands (a snapshot must begin where no
/// command is half done), ten times a second as Redis's cron checks them.
async fn persistence_cron(server: Arc<Server>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !server.shutting_down() {
        tick.tick().await;
        if server.cron_paused.load(Ordering::Relaxed) {
            continue;
        }
        if server.shutdown_asap.load(Ordering::SeqCst) {
            shutdown_on_signal(&server);
            continue;
        }
        if crate::persistence::snapshot::save_due(&server, crate::engine::now_ms()) {
            let _still = server.gate.as_ref().map(|g| g.exclusive());
            let _ = crate::persistence::snapshot::bgsave(&server, crate::engine::now_ms());
        }
        if crate::persistence::aof::enable_due(&server) {
            let _still = server.gate.as_ref().map(|g| g.exclusive());
            if let Err(e) = crate::persistence::aof::switch(&server, true, crate::engine::now_ms())
            {
                tracing::warn!("Can't turn the append only file on: {e}");
            }
        }
        if crate::persistence::aof::rewrite_due(&server) {
            let _still = server.gate.as_ref().map(|g| g.exclusive());
            let _ = crate::persistence::aof::rewrite(&server, crate::engine::now_ms());
        }
        if !server.replication.waiting.lock().is_empty() {
            let _still = server.gate.as_ref().map(|g| g.exclusive());
            crate::replication::fullsync::start_if_due(&server, crate::engine::now_ms());
        }
    }
}

/// The shutdown a signal asked for, per shutdown-on-sigterm / -sigint: as Redis, it waits for
/// lagging replicas (not with `now`), saves first when save points are set, and if that save
/// fails the server keeps running rather than lose what it holds.
fn shutdown_on_signal(server: &Arc<Server>) {
    server.shutdown_asap.store(false, Ordering::SeqCst);
    server.signal_shutdown.store(true, Ordering::SeqCst);
    let flags = server.config.shutdown_on_sigterm.get();
    let how = crate::persistence::Shutdown {
        save: flags.contains("save") && !flags.contains("nosave"),
        nosave: flags.contains("nosave"),
        force: flags.contains("force"),
    };
    let now = flags.contains("now");
    let me = server.clone();
    tokio::spawn(async move {
        if !shutdown::run(&me, how, now).await {
            me.signal_shutdown.store(false, Ordering::SeqCst);
            tracing::warn!("SIGTERM received but errors trying to shut down the server, check the logs for more information");
        }
    });
}

/// A second SIGINT while a signal's shutdown is under way (waiting for replicas, or saving):
/// exit at once, without the temp file of a save cut short (as Redis does).
fn insist_on_exit(server: &Server) -> ! {
    tracing::warn!("SIGINT received again during shutdown: exiting now.");
    let tmp = std::path::Path::new(&server.config.dir.get())
        .join(format!("temp-{}.rdb", std::process::id()));
    let _ = std::fs::remove_file(tmp);
    std::process::exit(1)
}

async fn accept_loop(server: Arc<Server>, listener: TcpListener, mode: Mode) {
    let mut shutdown = server.shutdown_signal();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|v| *v) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                welcome(&server, stream, peer, mode.clone());
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Takes a new connection (from an accept loop, or during a script's busy time): refuses it,
/// or sets it up and spawns its task. Until that task serves it, the connection is in
/// `while_busy`'s list of those accepted, so that a script turning busy meanwhile answers it
/// (and moves a TLS handshake on). Returns its handle and kind unless refused.
fn welcome(
    server: &Arc<Server>,
    stream: TcpStream,
    peer: SocketAddr,
    mode: Mode,
) -> Option<(Arc<ClientHandle>, while_busy::Kind)> {
    if let Some(reason) = refuse_reason(server, &peer) {
        server
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut s = stream;
            let _ = tokio::io::AsyncWriteExt::write_all(&mut s, reason.as_bytes()).await;
        });
        return None;
    }
    tune(server, &stream);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    busy_poll::watch(fd);
    // Counted once accepted, as Redis does: a refused connection is only a rejected one.
    server
        .stats
        .total_connections_received
        .fetch_add(1, Ordering::Relaxed);
    let local = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let tls = matches!(mode, Mode::Tls(_));
    let handle = Arc::new(ClientHandle::new(
        server.new_client_id(),
        peer.to_string(),
        local,
        fd,
        tls,
    ));
    let (server, task_handle) = (server.clone(), handle.clone());
    let kind = match mode {
        Mode::Plain => {
            let pending = while_busy::accepted(&handle, while_busy::Kind::Plain);
            tokio::spawn(plain_task(server, stream, task_handle, pending));
            while_busy::Kind::Plain
        }
        Mode::Sniff(acceptor) => {
            let kind = while_busy::Kind::Sniff(while_busy::Unsniffed::new(stream, acceptor));
            let while_busy::Kind::Sniff(unsniffed) = &kind else {
                unreachable!()
            };
            let pending = while_busy::accepted(&handle, kind.clone());
            tokio::spawn(sniff_task(server, unsniffed.clone(), task_handle, pending));
            kind
        }
        Mode::Tls(acceptor) => {
            let accept = acceptor.accept(tls_stream::BusyIo::new(stream));
            let handoff = tls_stream::Handoff::new(accept);
            let kind = while_busy::Kind::Tls(handoff.clone());
            let pending = while_busy::accepted(&handle, kind.clone());
            tokio::spawn(tls_task(server, handoff, task_handle, pending));
            kind
        }
    };
    Some((handle, kind))
}

/// No Nagle delay on replies; keep-alive probes per `tcp-keepalive`.
fn tune(server: &Server, stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let keepalive = server.config.tcp_keepalive.u();
    if keepalive > 0 {
        let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(keepalive));
        let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&ka);
    }
}

/// A plaintext connection's task.
async fn plain_task(
    server: Arc<Server>,
    stream: TcpStream,
    handle: Arc<ClientHandle>,
    pending: while_busy::Pending,
) {
    let fd = handle.fd;
    // (Registered as a client from here, with nothing in between.)
    drop(pending);
    connection::run(server, stream, handle, Some(fd)).await
}

/// A TLS connection's task: its handshake, then its requests.
async fn tls_task(
    server: Arc<Server>,
    handoff: Arc<tls_stream::Handoff>,
    handle: Arc<ClientHandle>,
    pending: while_busy::Pending,
) {
    let done = std::future::poll_fn(|cx| handoff.poll_done(&handle, cx));
    match tokio::time::timeout(Duration::from_secs(10), done).await {
        Ok(Some(shared)) => {
            drop(pending);
            connection::run(server, tls_stream::TlsConn(shared), handle, None).await
        }
        Ok(None) => {}
        Err(_) => tracing::debug!("TLS handshake with {} timed out", handle.addr),
    }
}

/// ElastiCache's "preferred" mode: TLS if the first byte is a TLS handshake record, else
/// plaintext. (While this waits, a busy time may answer plaintext requests: they are
/// consumed, and the byte after them is as telling. Or it may find a handshake and take the
/// connection over: then this ends.)
async fn sniff_task(
    server: Arc<Server>,
    unsniffed: Arc<while_busy::Unsniffed>,
    handle: Arc<ClientHandle>,
    pending: while_busy::Pending,
) {
    let first = std::future::poll_fn(|cx| unsniffed.poll_first(cx)).await;
    drop(pending);
    match first {
        Some((stream, true)) => {
            let (handle, handoff, pending) =
                start_tls(&handle, stream, unsniffed.acceptor.clone(), &server);
            tls_task(server, handoff, handle, pending).await
        }
        Some((stream, false)) => {
            let fd = handle.fd;
            connection::run(server, stream, handle, Some(fd)).await
        }
        None => {}
    }
}

/// A `tls-mode preferred` connection turned out TLS: it gets a TLS client's handle (the one
/// made at accept time is a plaintext one) and its handshake.
fn start_tls(
    plain: &ClientHandle,
    stream: TcpStream,
    acceptor: TlsAcceptor,
    server: &Server,
) -> (
    Arc<ClientHandle>,
    Arc<tls_stream::Handoff>,
    while_busy::Pending,
) {
    let handle = Arc::new(ClientHandle::new(
        server.new_client_id(),
        plain.addr.clone(),
        plain.laddr.clone(),
        plain.fd,
        true,
    ));
    let handoff = tls_stream::Handoff::new(acceptor.accept(tls_stream::BusyIo::new(stream)));
    let pending = while_busy::accepted(&handle, while_busy::Kind::Tls(handoff.clone()));
    (handle, handoff, pending)
}

/// Why a new connection must be refused (maxclients, protected mode), as the error line sent.
fn refuse_reason(server: &Server, peer: &SocketAddr) -> Option<String> {
    let max = server.config.maxclients.u() as usize;
    if server.clients.len() >= max {
        return Some("-ERR max number of clients reached\r\n".into());
    }
    let protected = server.config.protected_mode.get();
    if protected && !server.auth_required() && !peer.ip().is_loopback() {
        return Some(
            "-DENIED ferrocache is running in protected mode because protected mode is enabled and no password is set \
             for the default user. In this mode connections are only accepted from the loopback interface. Set a \
             password (requirepass) or disable protected mode (protected-mode no).\r\n"
                .into(),
        );
    }
    None
}

/// The metrics thread: ends each CloudWatch period (`metrics-period` seconds, or at once when
/// that setting changes) and writes its EMF document when `metrics-emf-file` is set.
fn start_metrics(server: Arc<Server>) {
    let period = |s: &Server| Duration::from_secs(s.config.metrics_period.get().max(1) as u64);
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let mut shutdown = server.shutdown_signal();
            let mut length = period(&server);
            let mut started = Instant::now();
            let mut delivered = None;
            loop {
                if shutdown.has_changed().unwrap_or(true) && *shutdown.borrow_and_update() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
                deliver_slowlog(&server, &mut delivered);
                let now_length = period(&server);
                if now_length == length && started.elapsed() < length {
                    continue;
                }
                length = now_length;
                started = Instant::now();
                let p = server.cloudwatch.close(&server);
                write_emf(&server, &p);
                server.cloudwatch.publish(p);
            }
        })
        .expect("spawn metrics thread");
}

/// Appends the slow-log entries not yet delivered to `slowlog-delivery-file`, in ElastiCache's
/// format. `delivered` is the last id written (entries the log dropped before then are lost,
/// as ElastiCache warns its delivery can lose them).
fn deliver_slowlog(server: &Server, delivered: &mut Option<u64>) {
    let cfg = &server.config;
    let target = cfg.slowlog_delivery_file.get();
    if target.is_empty() {
        return;
    }
    let fresh: Vec<_> = server
        .slowlog
        .newest(None)
        .into_iter()
        .filter(|e| delivered.is_none_or(|d| e.id > d))
        .collect();
    let Some(newest) = fresh.first().map(|e| e.id) else {
        return;
    };
    let (cluster, node) = (
        cfg.cloudwatch_cluster_id.get(),
        cfg.cloudwatch_node_id.get(),
    );
    let json = cfg.slowlog_delivery_format.get() == "json";
    let mut text = String::new();
    for e in fresh.iter().rev() {
        text.push_str(&crate::metrics::logdelivery::slowlog_line(
            e, &cluster, &node, json,
        ));
        text.push('\n');
    }
    append_to(&target, &text);
    *delivered = Some(newest);
}

/// Appends `text` to a file, or writes it to standard output for `-`.
fn append_to(target: &str, text: &str) {
    use std::io::Write;
    let written = if target == "-" {
        std::io::stdout().lock().write_all(text.as_bytes())
    } else {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(target)
            .and_then(|mut f| f.write_all(text.as_bytes()))
    };
    if let Err(e) = written {
        tracing::warn!("Could not write to {target}: {e}");
    }
}

/// Appends a period's EMF document to `metrics-emf-file` (`-` = standard output).
fn write_emf(server: &Server, p: &crate::report::cloudwatch::Period) {
    let cfg = &server.config;
    let target = cfg.metrics_emf_file.get();
    if target.is_empty() {
        return;
    }
    let mut doc = crate::report::cloudwatch::emf(
        p,
        &cfg.cloudwatch_namespace.get(),
        &cfg.cloudwatch_cluster_id.get(),
        &cfg.cloudwatch_node_id.get(),
    );
    doc.push('\n');
    append_to(&target, &doc);
}

/// The background thread: access clock, active expiry, rate sampling, memory peak.
fn start_cron(server: Arc<Server>) {
    std::thread::Builder::new()
        .name("cron".into())
        .spawn(move || {
            let mut shutdown = server.shutdown_signal();
            let mut last_mem = Instant::now();
            loop {
                if shutdown.has_changed().unwrap_or(true) && *shutdown.borrow_and_update() {
                    return;
                }
                let hz = server.config.hz.u().clamp(1, 500);
                let period = Duration::from_millis(1000 / hz);
                crate::engine::update_lru_clock();
                // (Nor while a script runs: its keys do not expire under it.)
                if server.active_expire.load(Ordering::Relaxed)
                    && !crate::engine::expiry::held()
                    && server.scripting.running().is_none()
                    && !server.loading.on()
                {
                    let t = Instant::now();
                    {
                        // Like a command: no key expires in the middle of an EXEC, nor
                        // between a command and the journal's record of it.
                        let _section = crate::journal::active().then(|| server.journal.section());
                        let _gate = server.gate.as_ref().map(|g| g.enter());
                        crate::engine::expiry::active_expire_cycle(
                            &server.keyspace,
                            period / 4,
                            &|| {
                                server.journal.commit(false);
                            },
                        );
                    }
                    crate::command::effects::apply(&server, 0);
                    if server.clients.tracking.active() {
                        crate::clients::tracking::flush(&server.clients);
                    }
                    let spent = t.elapsed();
                    server
                        .stats
                        .expire_cycle_usec
                        .fetch_add(spent.as_micros() as u64, Ordering::Relaxed);
                    // LATENCY's expire-cycle event, as Redis records it.
                    let threshold = server.config.latency_monitor_threshold.u();
                    let ms = spent.as_millis() as u64;
                    if threshold > 0 && ms >= threshold {
                        let now = crate::engine::now_ms() / 1000;
                        server.latency.add("expire-cycle", now, ms);
                    }
                }
                let s = &server.stats;
                s.ops_sampler.lock().record(
                    Instant::now(),
                    [
                        s.total_commands_processed.load(Ordering::Relaxed),
                        s.total_net_input_bytes.load(Ordering::Relaxed),
                        s.total_net_output_bytes.load(Ordering::Relaxed),
                    ],
                );
                crate::replication::cron(&server, crate::engine::now_ms());
                client_limits::evict_clients(&server);
                // (DEBUG PAUSE-CRON stops this too, as it stops Redis's serverCron.)
                if server.clients.tracking.active() && !server.cron_paused.load(Ordering::Relaxed) {
                    crate::clients::tracking::limit(
                        &server.clients,
                        server.config.tracking_table_max_keys.u(),
                    );
                }
                if last_mem.elapsed() >= Duration::from_secs(1) {
                    crate::metrics::memory::sample();
                    last_mem = Instant::now();
                }
                std::thread::sleep(period);
            }
        })
        .expect("spawn cron thread");
}
