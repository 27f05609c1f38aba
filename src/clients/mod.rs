//! Client state: what one connection carries (`Client`), the part other connections may read
//! or act on (`ClientHandle`: CLIENT LIST, CLIENT KILL), and what clients share beyond the
//! keyspace (`Clients`): the registry of connections, pub/sub, client tracking, blocked
//! clients, MONITOR and WATCH. Neither sockets nor commands live here: the connection task
//! (`server`) and the handlers (`command`) use it.

pub mod blocking;
pub mod monitor;
pub mod pubsub;
pub mod tracking;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;

use crate::engine::key::Key;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;

/// The shared, observable side of a connection.
#[derive(Debug)]
pub struct ClientHandle {
    pub id: u64,
    /// The ACL user it runs as (None: an internal client, allowed everything).
    pub user: Mutex<Option<Arc<crate::acl::User>>>,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub tls: bool,
    pub created: Instant,
    pub name: Mutex<Vec<u8>>,
    pub lib_name: Mutex<Vec<u8>>,
    pub lib_ver: Mutex<Vec<u8>>,
    pub db: AtomicU32,
    pub resp: AtomicU8,
    /// Milliseconds since `created` of the last command.
    pub last_active: AtomicU64,
    /// Full name of the last command run (index into the command table's names), or u32::MAX.
    pub last_cmd: AtomicU32,
    pub no_evict: AtomicBool,
    pub no_touch: AtomicBool,
    /// In MONITOR mode (CLIENT LIST flag O).
    pub monitor: AtomicBool,
    /// A replica link (CLIENT LIST flag S, type replica).
    pub replica: AtomicBool,
    /// The primary's link, on a replica (CLIENT LIST flag M, type master).
    pub master: AtomicBool,
    /// CLIENT LIST's redir: -1 without tracking, 0 for itself, else the target's id.
    pub redir: std::sync::atomic::AtomicI64,
    pub qbuf: AtomicU64,
    /// The read buffer's allocated size (CLIENT LIST rbs, and the client's memory).
    pub rbs: AtomicU64,
    /// Reply bytes produced and not yet sent (set while a write waits on the socket, or a
    /// batch's replies grow past a limit check).
    pub obuf: AtomicU64,
    pub killed: AtomicBool,
    /// Commands queued in MULTI, or -1 outside a transaction (CLIENT LIST multi=, flag x).
    pub multi: std::sync::atomic::AtomicI64,
    /// Bytes of the arguments queued in MULTI (CLIENT LIST multi-mem).
    pub multi_mem: AtomicU64,
    /// In a blocking command (CLIENT LIST flag b).
    pub blocked: AtomicBool,
    /// Pub/sub messages waiting to be written.
    pub mailbox: pubsub::Mailbox,
    /// Channel, pattern and shard-channel subscription counts (CLIENT LIST).
    pub sub_counts: [AtomicU32; 3],
    /// Wakes the connection task to close it (kill or server shutdown). An AtomicWaker, not a
    /// Notify: the task polls it at every wake-up, and re-registering the same waker is two
    /// atomics where Notify takes a mutex.
    pub stop: AtomicWaker,
    /// Mirrors of what a script's busy time needs to answer this client without its task
    /// (`server::while_busy`): authenticated, waiting for a request with nothing half-read
    /// or in progress, and its queued replies.
    pub authed: AtomicBool,
    pub idle: AtomicBool,
    pub outbox: std::sync::OnceLock<std::sync::Weak<crate::server::outbox::Outbox>>,
    /// A TLS connection's session, which a busy time reads and writes too.
    pub tls_session: std::sync::OnceLock<std::sync::Weak<crate::server::tls_stream::Shared>>,
}

impl ClientHandle {
    pub fn new(id: u64, addr: String, laddr: String, fd: i32, tls: bool) -> Self {
        ClientHandle {
            id,
            addr,
            laddr,
            fd,
            tls,
            created: Instant::now(),
            name: Mutex::new(Vec::new()),
            lib_name: Mutex::new(Vec::new()),
            lib_ver: Mutex::new(Vec::new()),
            db: AtomicU32::new(0),
            resp: AtomicU8::new(2),
            last_active: AtomicU64::new(crate::engine::mono_us() / 1000),
            last_cmd: AtomicU32::new(u32::MAX),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            monitor: AtomicBool::new(false),
            replica: AtomicBool::new(false),
            master: AtomicBool::new(false),
            redir: std::sync::atomic::AtomicI64::new(-1),
            qbuf: AtomicU64::new(0),
            rbs: AtomicU64::new(0),
            obuf: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            stop: AtomicWaker::new(),
            multi: std::sync::atomic::AtomicI64::new(-1),
            multi_mem: AtomicU64::new(0),
            blocked: AtomicBool::new(false),
            mailbox: Default::default(),
            sub_counts: Default::default(),
            authed: AtomicBool::new(false),
            user: Mutex::new(None),
            idle: AtomicBool::new(false),
            outbox: std::sync::OnceLock::new(),
            tls_session: std::sync::OnceLock::new(),
        }
    }

    /// Asks the connection to close (CLIENT KILL); it exits at its next wake-up.
    pub fn request_kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.stop.wake();
    }

    pub fn idle_secs(&self) -> u64 {
        let now_ms = crate::engine::mono_us() / 1000;
        now_ms.saturating_sub(self.last_active.load(Ordering::Relaxed)) / 1000
    }

    /// Leaves MULTI (EXEC, DISCARD, RESET, or an aborted transaction).
    pub fn multi_ended(&self) {
        self.multi.store(-1, Ordering::Relaxed);
        self.multi_mem.store(0, Ordering::Relaxed);
    }

    /// Memory this client holds in buffers: its read buffer, replies and messages waiting to
    /// be sent.
    pub fn buffer_memory(&self) -> u64 {
        self.rbs.load(Ordering::Relaxed) + self.output_memory()
    }

    /// Replies and messages waiting to be sent (CLIENT LIST omem).
    pub fn output_memory(&self) -> u64 {
        self.obuf.load(Ordering::Relaxed) + self.mailbox.pending()
    }

    /// Marks the client active at `at_us` (a `mono_us` reading the caller already has).
    pub fn touch(&self, at_us: u64) {
        self.last_active.store(at_us / 1000, Ordering::Relaxed);
    }
}

/// CLIENT REPLY mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Suppress the next command's reply only.
    Skip,
    /// Set by CLIENT REPLY SKIP: applies from the following command.
    SkipNext,
}

/// Per-connection state, owned by the connection task.
#[derive(Debug)]
pub struct Client {
    /// The error about to be replied was already counted in the error stats.
    pub error_counted: bool,
    pub handle: Arc<ClientHandle>,
    pub db: usize,
    pub authenticated: bool,
    /// The ACL user it runs as (None: an internal client, allowed everything), and the ACL
    /// generation it was looked up at.
    pub user: Option<Arc<crate::acl::User>>,
    pub acl_gen: u64,
    pub reply_mode: ReplyMode,
    /// Close the connection once pending replies are written (QUIT, protocol errors).
    pub close_after_reply: bool,
    /// Input bytes not yet run, the running command's included (its own CLIENT LIST qbuf).
    pub pending_input: usize,
    /// Set by DEBUG SLEEP: the connection pauses this long before the next command.
    pub sleep: Option<std::time::Duration>,
    /// Commands queued since MULTI (None outside a transaction).
    pub multi: Option<Multi>,
    /// True while EXEC runs the queue (commands then skip the gate EXEC holds).
    pub in_exec: bool,
    /// Running a script's calls (XREAD refuses BLOCK, SORT orders sets).
    pub in_script: bool,
    /// The running script called a read command (its declared keys are tracked after it).
    pub script_read: bool,
    /// Keys this client WATCHes: (database, key).
    pub watched: Vec<(usize, Key)>,
    /// Set by any write to a watched key; shared with the server's watch table.
    pub watch_dirty: Arc<AtomicBool>,
    /// Set by a blocking command that found nothing: the connection waits on it.
    pub blocked: Option<Arc<blocking::Waiter>>,
    /// Channels, patterns and shard channels subscribed to.
    pub subs: pubsub::Subscriptions,
    /// Receives every command run (MONITOR).
    pub monitoring: bool,
    /// CLIENT TRACKING settings (None = off).
    pub tracking: Option<tracking::Mode>,
    /// CLIENT CACHING YES/NO for the next command.
    pub caching: Option<bool>,
    /// The journal's offset after this client's last command (what WAIT waits for).
    pub woff: u64,
    /// Set by PSYNC/SYNC: once the reply is written the connection becomes a replica link.
    pub replica: Option<crate::replication::Attach>,
    /// The primary's stream runs as this client (on a replica): no read-only rule applies.
    pub master: bool,
    /// Set by WAIT that has to wait: the connection waits for replicas' acknowledgements.
    pub wait: Option<crate::replication::Wait>,
    /// Set by SHUTDOWN that has to wait for replicas: the connection waits, then the server
    /// exits (or the client gets an error).
    pub shutdown: Option<crate::persistence::Shutdown>,
}

/// A transaction being queued.
#[derive(Debug, Default)]
pub struct Multi {
    pub queue: Vec<Vec<Vec<u8>>>,
    /// A command was rejected while queueing: EXEC must abort.
    pub error: bool,
    /// The flags of every queued command, or-ed: EXEC is checked as a write (or as a command
    /// that adds data) if any queued command is one.
    pub flags: u32,
    /// The complement of every queued command's flags, or-ed: a flag set here is missing from
    /// some queued command (EXEC is refused on a stale replica if any queued command may not
    /// run there).
    pub inv_flags: u32,
}

impl Client {
    pub fn new(
        handle: Arc<ClientHandle>,
        user: Option<Arc<crate::acl::User>>,
        authenticated: bool,
    ) -> Client {
        handle.authed.store(authenticated, Ordering::Relaxed);
        *handle.user.lock() = user.clone();
        Client {
            handle,
            db: 0,
            authenticated,
            user,
            acl_gen: 0,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            pending_input: 0,
            sleep: None,
            multi: None,
            in_exec: false,
            in_script: false,
            script_read: false,
            watched: Vec::new(),
            watch_dirty: Arc::new(AtomicBool::new(false)),
            blocked: None,
            subs: Default::default(),
            monitoring: false,
            tracking: None,
            caching: None,
            woff: 0,
            replica: None,
            wait: None,
            shutdown: None,
            master: false,
            error_counted: false,
        }
    }
}

impl Client {
    /// Runs as `user` from now on (AUTH, HELLO AUTH, a user's change).
    pub fn set_user(&mut self, user: Arc<crate::acl::User>) {
        *self.handle.user.lock() = Some(user.clone());
        self.user = Some(user);
    }

    /// Leaves every per-connection state that other clients or the server hold for this one:
    /// MONITOR, client tracking, a transaction and its WATCHes, subscriptions, a blocked
    /// command. RESET runs it and so does a disconnection (Redis's clearClientConnectionState),
    /// so the two cannot drift apart.
    pub fn clear_connection_state(&mut self, clients: &Clients) {
        if self.monitoring {
            self.monitoring = false;
            self.handle.monitor.store(false, Ordering::Relaxed);
            clients.monitors.remove(self.handle.id);
        }
        if self.tracking.take().is_some() {
            self.caching = None;
            self.handle.redir.store(-1, Ordering::Relaxed);
            clients.tracking.remove(self.handle.id);
        }
        self.multi = None;
        self.handle.multi_ended();
        self.unwatch_all(clients);
        self.unsubscribe_all(clients);
        if let Some(w) = self.blocked.take() {
            self.handle.blocked.store(false, Ordering::Relaxed);
            clients.blocking.cancel(&w);
        }
    }

    /// Forgets every WATCH and clears the dirty flag (EXEC, DISCARD, UNWATCH, RESET,
    /// disconnection).
    pub fn unwatch_all(&mut self, clients: &Clients) {
        for (db, key) in self.watched.drain(..) {
            clients.watches.unwatch(db, &key, self.handle.id);
        }
        self.watch_dirty.store(false, Ordering::Release);
    }

    /// Drops every subscription without replying (RESET, disconnection).
    pub fn unsubscribe_all(&mut self, clients: &Clients) {
        for kind in [
            pubsub::Kind::Channel,
            pubsub::Kind::Pattern,
            pubsub::Kind::Shard,
        ] {
            for name in std::mem::take(&mut self.subs.sets[kind as usize]) {
                clients.pubsub.remove(kind, &name, self.handle.id);
            }
        }
        self.subs.publish_counts(&self.handle);
    }
}

/// What clients share beyond the keyspace: every connection by id, and the state kept for
/// them across connections.
pub struct Clients {
    pub clients: DashMap<u64, Arc<ClientHandle>>,
    pub pubsub: pubsub::PubSub,
    pub tracking: tracking::Tracking,
    pub blocking: blocking::Blocking,
    pub monitors: monitor::Monitors,
    /// Who WATCHes which keys (see `command::transactions`).
    pub watches: crate::engine::watch::Watches,
}

impl Clients {
    pub fn new(databases: usize) -> Clients {
        Clients {
            clients: DashMap::default(),
            pubsub: Default::default(),
            tracking: Default::default(),
            blocking: Default::default(),
            monitors: Default::default(),
            watches: crate::engine::watch::Watches::new(databases),
        }
    }

    pub fn add(&self, h: Arc<ClientHandle>) {
        self.clients.insert(h.id, h);
    }

    pub fn remove(&self, id: u64) {
        self.clients.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.clients.get(&id).map(|e| e.value().clone())
    }

    /// Handles sorted by id (stable CLIENT LIST output).
    /// Wakes every connection so it sees a server shutdown.
    pub fn wake_all(&self) {
        for e in self.clients.iter() {
            e.value().stop.wake();
        }
    }

    pub fn snapshot(&self) -> Vec<Arc<ClientHandle>> {
        let mut v: Vec<_> = self.clients.iter().map(|e| e.value().clone()).collect();
        v.sort_by_key(|h| h.id);
        v
    }
}
