//! The command table and dispatch. Each family module declares its commands in one `COMMANDS`
//! slice; `table::CommandTable` collects them. Dispatch does the checks every command shares
//! (existence, arity, authentication) once, then calls the handler and records statistics.

pub mod acl;
pub mod args;
pub mod bitmaps;
pub mod blocking;
pub mod client;
pub mod connection;
pub mod cursor;
pub mod debug;
pub mod docs;
pub mod dump;
pub mod effects;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hll;
pub mod introspection;
pub mod keys;
pub mod keyspec;
pub mod lists;
pub mod monitor;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod stream_claims;
pub mod stream_groups;
pub mod streams;
pub mod strings;
pub mod table;
#[cfg(test)]
pub mod testing;
pub mod tracking;
pub mod transactions;
pub mod zranges;
pub mod zsetops;
pub mod zsets;

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use crate::clients::{Client, ReplyMode};
use crate::engine::gate::{self, Gate};
use crate::engine::{Db, Entry, Shard, Value};
use crate::protocol::Reply;
use crate::server::Server;

pub use table::{CommandSpec, CommandTable};

/// An error reply, with its code as the first word (`ERR ...`, `WRONGTYPE ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>);

impl CmdError {
    pub const fn new(msg: &'static str) -> Self {
        CmdError(Cow::Borrowed(msg))
    }

    pub fn owned(msg: String) -> Self {
        CmdError(Cow::Owned(msg))
    }
}

pub type CmdResult = Result<(), CmdError>;

pub const WRONGTYPE: CmdError =
    CmdError::new("WRONGTYPE Operation against a key holding the wrong kind of value");
pub const SYNTAX: CmdError = CmdError::new("ERR syntax error");
pub const NOT_INT: CmdError = CmdError::new("ERR value is not an integer or out of range");
pub const NOT_FLOAT: CmdError = CmdError::new("ERR value is not a valid float");
pub const OVERFLOW: CmdError = CmdError::new("ERR increment or decrement would overflow");
pub const NO_KEY: CmdError = CmdError::new("ERR no such key");
pub const DB_INDEX: CmdError = CmdError::new("ERR DB index is out of range");
pub const NOAUTH: CmdError = CmdError::new("NOAUTH Authentication required.");

/// What a handler sees: the calling client, where its reply goes, and the server's shared
/// state. The data-type families read only what the accessors below give them (the database,
/// the clock, the configuration, the effect sink); the server families (CONFIG, INFO, CLIENT,
/// DEBUG, replication) read the server itself.
pub struct Ctx<'a> {
    pub server: &'a Server,
    pub client: &'a mut Client,
    pub out: &'a mut Reply,
    /// Command start time, ms since the epoch.
    pub now: u64,
    /// When the command started (`engine::mono_us`); `execute` leaves it at the command's
    /// end, which is the next command's start (one clock read per command).
    pub started: u64,
}

impl<'a> Ctx<'a> {
    /// The client's selected database.
    pub fn db(&self) -> &'a Db {
        self.server.keyspace.db(self.client.db)
    }

    /// The collection encoding thresholds (`hash-max-listpack-entries` and friends).
    pub fn limits(&self) -> crate::engine::collections::Limits {
        *self.server.config.derived.limits.read()
    }

    /// The configuration.
    pub fn config(&self) -> &'a crate::config::Config {
        &self.server.config
    }

    /// Every database.
    pub fn keyspace(&self) -> &'a crate::engine::Keyspace {
        &self.server.keyspace
    }

    /// What clients share (blocked clients, subscriptions, WATCH).
    pub fn clients(&self) -> &'a crate::clients::Clients {
        &self.server.clients
    }

    /// The command table.
    pub fn commands(&self) -> &'a CommandTable {
        &self.server.commands
    }

    /// The largest string a command may build or accept (`proto-max-bulk-len`).
    pub fn max_bulk_len(&self) -> u64 {
        self.server.config.proto_max_bulk_len.u()
    }

    /// This command's write target.
    pub fn at(&self) -> At<'a> {
        At {
            server: self.server,
            db: self.client.db,
            now: self.now,
        }
    }

    // What the command changed, reported to the effect sink (`engine::effects`). Nothing
    // reported is nothing changed.

    /// The value at `key` changed, with a keyspace event (Redis's signalModifiedKey and
    /// notifyKeyspaceEvent).
    #[inline]
    pub fn changed(&self, class: u32, event: &'static str, key: &[u8]) {
        crate::engine::effects::changed(self.client.db, key, class, event);
    }

    /// `changed` for a key of another database (MOVE, COPY ... DB).
    #[inline]
    pub fn changed_db(&self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        crate::engine::effects::changed(db, key, class, event);
    }

    /// The key was deleted, with no event of its own (RENAME's source).
    #[inline]
    pub fn deleted(&self, key: &[u8]) {
        crate::engine::effects::deleted(self.client.db, key);
    }

    /// The value at `key` changed, with no event.
    #[inline]
    pub fn touched(&self, key: &[u8]) {
        crate::engine::effects::key(self.client.db, key);
    }

    /// A keyspace event that is no change to the value (Redis raises a few).
    #[inline]
    pub fn event(&self, class: u32, event: &'static str, key: &[u8]) {
        crate::engine::effects::event(self.client.db, class, event, key);
    }

    /// Clients blocked on `key` should look again (its value did not change).
    #[inline]
    pub fn ready(&self, key: &[u8]) {
        crate::engine::effects::ready(self.client.db, key);
    }

    /// Counts `n` changes (INFO rdb_changes_since_last_save): a command that counts none is
    /// not journaled.
    #[inline]
    pub fn dirty(&self, n: u64) {
        crate::engine::effects::dirty(n);
    }

    /// Journals `args` in place of the command's own arguments (which would not replay what
    /// it did: a relative TTL, a random pick, a served pop).
    pub fn record(&self, args: &[&[u8]]) {
        crate::engine::effects::journal(self.client.db, args);
    }

    /// Whether the journal is on (build records only then).
    #[inline]
    pub fn journaling(&self) -> bool {
        crate::engine::effects::journaling()
    }

    /// Whether reads should update access times (CLIENT NO-TOUCH turns it off).
    pub fn touch(&self) -> bool {
        !self.client.handle.no_touch.load(Ordering::Relaxed)
    }
}

pub type Handler = fn(&mut Ctx, &[&[u8]]) -> CmdResult;

/// Where a write lands: the server, a database and the command's clock. Handlers take it from
/// their `Ctx`; serving a blocked client builds one from the waiter.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub server: &'a Server,
    pub db: usize,
    pub now: u64,
}

impl<'a> At<'a> {
    pub fn keyspace(&self) -> &'a Db {
        self.server.keyspace.db(self.db)
    }

    /// See `Ctx::changed`.
    pub fn changed(&self, class: u32, event: &'static str, key: &[u8]) {
        crate::engine::effects::changed(self.db, key, class, event);
    }

    /// See `Ctx::dirty`.
    pub fn dirty(&self, n: u64) {
        crate::engine::effects::dirty(n);
    }

    /// See `Ctx::record`.
    pub fn record(&self, args: &[&[u8]]) {
        crate::engine::effects::journal(self.db, args);
    }
}

/// The collection at `key` for a write, created empty if the key is missing; WRONGTYPE if the
/// key holds another type. `new` makes the empty value; `access` picks the variant out of a `Value`.
pub fn collection_mut<'s, T>(
    shard: &'s mut Shard,
    key: &[u8],
    now: u64,
    new: fn() -> Value,
    access: fn(&mut Value) -> Option<&mut T>,
) -> Result<&'s mut T, CmdError> {
    if shard.get_mut(key, now).is_none() {
        shard.insert(key, Entry::new(new()));
    }
    let e = shard.get_mut(key, now).expect("present");
    access(&mut e.value).ok_or(WRONGTYPE)
}

/// The collection at `key` if it exists (`Ok(None)` if not); WRONGTYPE for another type.
/// Counts a keyspace hit or miss.
pub fn collection_read<'s, T>(
    shard: &'s mut Shard,
    key: &[u8],
    now: u64,
    touch: bool,
    access: fn(&Value) -> Option<&T>,
) -> Result<Option<&'s T>, CmdError> {
    match shard.read(key, now, touch) {
        None => Ok(None),
        Some(e) => access(&e.value).map(Some).ok_or(WRONGTYPE),
    }
}

/// The collection at `key` for a write that does not create it (pops, removals): no keyspace
/// hit or miss is counted, as for any write lookup.
pub fn collection_write<'s, T>(
    shard: &'s mut Shard,
    key: &[u8],
    now: u64,
    access: fn(&mut Value) -> Option<&mut T>,
) -> Result<Option<&'s mut T>, CmdError> {
    match shard.get_mut(key, now) {
        None => Ok(None),
        Some(e) => access(&mut e.value).map(Some).ok_or(WRONGTYPE),
    }
}

/// After a change to the collection at `key`: publishes the change's keyspace event, then
/// deletes the key (with a `del` event) if the collection became empty, in Redis's order.
pub fn changed(ctx: &Ctx, shard: &mut Shard, key: &[u8], class: u32, event: &'static str) {
    changed_in(ctx.at(), shard, key, class, event);
}

/// `changed` for code that runs without a client (a blocked client being served).
pub fn changed_in(at: At, shard: &mut Shard, key: &[u8], class: u32, event: &'static str) {
    at.changed(class, event, key);
    if shard.peek(key).is_some_and(|e| e.value.is_empty()) {
        shard.remove(key);
        at.changed(crate::engine::notify::GENERIC, "del", key);
    }
}

/// Deletes `key` if its collection became empty (Redis never keeps empty collections).
pub fn remove_if_empty(shard: &mut Shard, key: &[u8]) {
    if shard.peek(key).is_some_and(|e| e.value.is_empty()) {
        shard.remove(key);
    }
}

/// Lower-cases a command name into a stack buffer (names are short ASCII).
fn lowercase<'b>(name: &[u8], buf: &'b mut [u8; 64]) -> Option<&'b [u8]> {
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    Some(&buf[..name.len()])
}

/// Whether a request may write, which CLIENT PAUSE WRITE holds: write and may-replicate
/// commands, and EXEC of a transaction that holds one. A command that fails its arity check
/// does not wait (its error comes at once, as in Redis). Only asked while a pause is on.
pub fn may_write(server: &Server, client: &Client, argv: &[&[u8]]) -> bool {
    let Some((cmd, sub)) = find(&server.commands, argv) else {
        return false;
    };
    let cmd = sub.unwrap_or(cmd);
    if !cmd.spec.arity_ok(argv.len()) {
        return false;
    }
    let mut flags = flags_of(server, cmd.spec, argv);
    if cmd.spec.name == "exec" {
        flags |= client.multi.as_ref().map_or(0, |m| m.flags);
    }
    flags & (table::WRITE | table::MAY_REPLICATE) != 0
}

/// A command's flags for this call: a script that declared no-writes is no write, and may not
/// replicate (CLIENT PAUSE WRITE lets it run, alone or queued in MULTI).
pub fn flags_of(server: &Server, spec: &table::CommandSpec, argv: &[&[u8]]) -> u32 {
    let writes = table::WRITE | table::MAY_REPLICATE;
    if spec.flags & writes != 0
        && matches!(spec.name, "eval" | "evalsha" | "fcall")
        && !server.scripting.may_write(spec.name, argv)
    {
        return spec.flags & !writes;
    }
    spec.flags
}

/// The command `argv` names and, for a container, the subcommand its second argument names
/// (None when there is no such subcommand).
fn find<'t>(
    table: &'t CommandTable,
    argv: &[&[u8]],
) -> Option<(&'t table::Command, Option<&'t table::Command>)> {
    let mut buf = [0u8; 64];
    let cmd = lowercase(argv[0], &mut buf).and_then(|n| table.lookup(n))?;
    let sub = match argv.get(1) {
        Some(a) if !cmd.spec.subcommands.is_empty() => {
            lowercase(a, &mut buf).and_then(|n| cmd.sub(n))
        }
        _ => None,
    };
    Some((cmd, sub))
}

/// The command `argv` runs: its subcommand's, for a container (None when unknown).
pub fn resolve<'t>(table: &'t CommandTable, argv: &[&[u8]]) -> Option<&'t table::Command> {
    find(table, argv).map(|(cmd, sub)| sub.unwrap_or(cmd))
}

/// Runs one request and appends its reply to `ctx.out`.
#[inline]
pub fn execute(ctx: &mut Ctx, argv: &[&[u8]]) {
    // Until a replica attaches, the journal costs this one load per command.
    if crate::journal::active() && !ctx.client.in_exec {
        execute_journaled(ctx, argv);
    } else {
        run(ctx, argv, &mut None);
    }
}

/// Runs a command whose effects are already recorded elsewhere (an AOF being loaded): nothing
/// of it is journaled.
pub fn execute_unrecorded(ctx: &mut Ctx, argv: &[&[u8]]) {
    run(ctx, argv, &mut None);
    crate::engine::effects::with(|r| {
        r.items.clear();
        r.journal.clear();
    });
}

/// Runs a request from another client while a script is busy (`server::while_busy`): the
/// script holds the journal's section, and anything that would write is refused anyway.
pub fn execute_while_busy(ctx: &mut Ctx, argv: &[&[u8]]) {
    run(ctx, argv, &mut None);
}

/// `execute` while the journal is on: a command runs and commits its effects (evictions and
/// expiries it caused included) as one section, so the journal's order is the order of effect.
#[inline(never)]
fn execute_journaled(ctx: &mut Ctx, argv: &[&[u8]]) {
    let journal = &ctx.server.journal;
    // A busy script holds the section: the command is answered without one (-BUSY, or one
    // that may interrupt the script), and commits nothing.
    let Some(section) = gate::wait_unless(|t| journal.section_for(t), || busy(ctx.server)) else {
        run(ctx, argv, &mut None);
        return;
    };
    let mut section = Some(section);
    let block = run(ctx, argv, &mut section);
    if let Some(offset) = journal.commit(block) {
        ctx.client.woff = offset;
    }
}

/// `execute`'s work; true for EXEC and scripts (whose effects form one MULTI ... EXEC block).
fn run<'s>(
    ctx: &mut Ctx<'s>,
    argv: &[&[u8]],
    section: &mut Option<parking_lot::MutexGuard<'s, ()>>,
) -> bool {
    let mark = ctx.out.len();
    if ctx.clients().tracking.active() {
        let max = ctx.config().tracking_table_max_keys.u();
        crate::clients::tracking::limit_before_command(ctx.clients(), max);
    }
    let table = &ctx.server.commands;
    let Some((mut cmd, sub)) = find(table, argv) else {
        flag_transaction(ctx);
        reply_error(ctx, &unknown_command(argv));
        finish_reply_mode(ctx, mark);
        return false;
    };
    if !cmd.spec.subcommands.is_empty() && argv.len() >= 2 {
        match sub {
            Some(sub) => cmd = sub,
            None if cmd.spec.handler.is_none() => {
                let e = format!(
                    "ERR unknown subcommand '{}'. Try {} HELP.",
                    trunc(argv[1], 128),
                    cmd.spec.name.to_ascii_uppercase()
                );
                cmd.stats.add(table::REJECTED, 1);
                flag_transaction(ctx);
                reply_error(ctx, &CmdError::owned(e));
                finish_reply_mode(ctx, mark);
                return false;
            }
            None => {}
        }
    }
    let spec = cmd.spec;
    let rejection = if !spec.arity_ok(argv.len()) || spec.handler.is_none() {
        Some(CmdError::owned(format!(
            "ERR wrong number of arguments for '{}' command",
            cmd.fullname
        )))
    } else if !ctx.client.authenticated
        && spec.flags & table::NO_AUTH == 0
        && ctx.server.auth_required()
    {
        Some(NOAUTH)
    } else if let Some(e) = acl::rejection(ctx, cmd, argv) {
        Some(e)
    } else if ctx.client.subs.active()
        && !ctx.out.resp3
        && !pubsub::allowed_in_subscribed_mode(cmd.spec.name)
        && !pubsub::allowed_in_subscribed_mode(root_name(table, argv))
    {
        Some(CmdError::owned(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.fullname
        )))
    } else if let Some(e) = state_rejection(ctx, spec) {
        // EXEC refused this way also discards its transaction.
        if spec.flags & table::TX_CONTROL != 0 && spec.name == "exec" {
            Some(transactions::abort(ctx, &e))
        } else {
            Some(e)
        }
    } else {
        None
    };
    // Invalidations waiting for this client (for keys its previous command changed, or that
    // were just evicted to make room for this one) go out before this reply, in the order
    // Redis writes them.
    let mut mark = mark;
    // (Not inside EXEC: its replies are one array, the messages follow it.)
    if ctx.client.tracking.is_some()
        && !ctx.client.in_exec
        && ctx.client.handle.mailbox.pending() > 0
    {
        crate::clients::tracking::flush(ctx.clients());
        ctx.client.handle.mailbox.drain_into(ctx.out);
        mark = ctx.out.len();
    }
    // Queued commands count as the client's last command, as in Redis (CLIENT LIST cmd=).
    ctx.client.handle.last_cmd.store(cmd.id, Ordering::Relaxed);
    let rejection = match rejection {
        None => match transactions::queue(ctx, spec, argv) {
            None => None,
            Some(Ok(())) => {
                finish_reply_mode(ctx, mark);
                return false;
            }
            Some(Err(e)) => Some(e),
        },
        some => some,
    };
    if let Some(e) = rejection {
        cmd.stats.add(table::REJECTED, 1);
        flag_transaction(ctx);
        reply_error(ctx, &e);
        finish_reply_mode(ctx, mark);
        return false;
    }
    let handler = spec.handler.expect("checked above");
    let shared = match &ctx.server.gate {
        Some(g) if spec.flags & table::EXCLUSIVE == 0 && !ctx.client.in_exec => {
            match enter(ctx.server, g, section) {
                Some(shared) => Some(shared),
                // A script became busy while this command waited for it: what may interrupt
                // the script runs (without the gate the script holds), the rest is refused.
                None if spec.flags & table::ALLOW_BUSY != 0 => None,
                None => {
                    cmd.stats.add(table::REJECTED, 1);
                    flag_transaction(ctx);
                    reply_error(ctx, &CmdError::new(ctx.server.scripting.busy_error()));
                    finish_reply_mode(ctx, mark);
                    return false;
                }
            }
        }
        _ => None,
    };
    let result = handler(ctx, argv);
    // What it changed, as it reported it: counted, journaled (as sent, unless it recorded
    // what to replay instead), and passed on to WATCH, tracking, blocked clients and
    // keyspace subscribers.
    let done = crate::engine::effects::take_command();
    if done.dirty > 0 {
        ctx.server.stats.dirty.add(0, done.dirty);
        // (A blocking command records the plain form of what it did: replayed as sent it
        // could block the replica applying it.)
        if !done.own && spec.flags & table::BLOCKING == 0 {
            crate::engine::effects::journal_aside(ctx.client.db, argv);
        }
    }
    if done.changes {
        effects::apply(ctx.server, ctx.client.handle.id);
    }
    // Blocked clients are served once the write that fed them is complete (after EXEC, for a
    // write inside a transaction), before any other command runs.
    if !ctx.client.in_exec && ctx.clients().blocking.blocked_clients() != 0 {
        blocking::serve_ready(ctx.server, ctx.now);
    }
    drop(shared);
    let ended = crate::engine::mono_us();
    let usec = ended.saturating_sub(ctx.started);
    ctx.started = ended;
    cmd.stats.add(table::CALLS, 1);
    cmd.stats.add(table::USEC, usec);
    record_latency(ctx, cmd, argv, usec);
    if ctx.clients().monitors.active() {
        monitor::feed(ctx, cmd, argv);
    }
    if ctx.clients().tracking.active() && !ctx.client.in_exec {
        crate::clients::tracking::flush(ctx.clients());
    }
    if ctx.client.tracking.is_some() {
        if ctx.client.in_script {
            // A script's reads track the keys it declared, once it is done (as Redis).
            ctx.client.script_read |= spec.flags & table::READONLY != 0 && result.is_ok();
        } else if (std::mem::take(&mut ctx.client.script_read)
            || (spec.flags & table::READONLY != 0 && !is_script(spec)))
            && result.is_ok()
        {
            tracking::after_read(ctx, spec, argv);
        } else if cmd.fullname != "client|caching" {
            ctx.client.caching = None;
        }
    }
    if let Err(e) = result {
        cmd.stats.add(table::FAILED, 1);
        cmd.stats.add(table::FAILED_USEC, usec);
        reply_error(ctx, &e);
    }
    // Subscription confirmations are pushes: CLIENT REPLY OFF does not silence them.
    let mark = if spec.flags & table::PUSHES != 0 {
        ctx.out.len()
    } else {
        mark
    };
    finish_reply_mode(ctx, mark);
    // EXEC's and a script's effects form one block.
    (spec.flags & table::TX_CONTROL != 0 && spec.name == "exec")
        || matches!(spec.name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro")
}

/// Feeds the latency histogram, SLOWLOG and LATENCY; below their thresholds a command costs
/// a few relaxed loads and compares.
fn record_latency(ctx: &mut Ctx, cmd: &table::Command, argv: &[&[u8]], usec: u64) {
    let cfg = &*ctx.server.config;
    if cfg.latency_tracking.get() {
        let h = cmd.hist.get_or_init(Default::default);
        h.add(crate::metrics::histogram::bucket(usec), 1);
    }
    let flags = cmd.spec.flags;
    let slower = cfg.slowlog_log_slower_than.get();
    if slower >= 0 && usec >= slower as u64 && flags & table::SKIP_SLOWLOG == 0 {
        // Passwords never reach the log.
        let redact = monitor::redacted(cmd.spec.name, argv);
        let entry = crate::metrics::slowlog::Entry {
            id: 0,
            time: ctx.now / 1000,
            usec,
            args: crate::metrics::slowlog::trimmed_args(argv, redact),
            addr: ctx.client.handle.addr.clone(),
            name: ctx.client.handle.name.lock().clone(),
        };
        let max = cfg.slowlog_max_len.u() as usize;
        ctx.server.slowlog.push(entry, max);
    }
    let threshold = cfg.latency_monitor_threshold.u();
    if threshold > 0 && usec / 1000 >= threshold {
        let event = if flags & table::FAST != 0 {
            "fast-command"
        } else {
            "command"
        };
        ctx.server.latency.add(event, ctx.now / 1000, usec / 1000);
    }
}

/// The top-level command's name (a container's, for a subcommand).
fn root_name<'t>(table: &'t CommandTable, argv: &[&[u8]]) -> &'t str {
    let mut buf = [0u8; 64];
    lowercase(argv[0], &mut buf)
        .and_then(|n| table.lookup(n))
        .map_or("", |c| c.spec.name)
}

/// Whether `spec` may not run on a replica whose link is down (`replica-serve-stale-data no`):
/// commands without the `stale` flag, and EXEC of a queue holding one.
fn stale_denied(ctx: &Ctx, spec: &table::CommandSpec) -> bool {
    if spec.name == "exec" {
        if let Some(m) = &ctx.client.multi {
            return m.inv_flags & table::STALE != 0;
        }
    }
    spec.flags & table::STALE == 0
}

/// Whether a script is busy: commands waiting for the gate or the journal's section it holds
/// stop waiting (see `Gate::enter_unless`).
fn busy(server: &Server) -> bool {
    server.scripting.busy()
}

/// The gate held exclusively (several I/O threads; None with one), for what must see no other
/// command run meanwhile: EXEC, scripts, saves. -BUSY when a script that holds it became busy
/// while this waited, rather than block an I/O thread until the script ends.
pub(crate) type Exclusive<'s> = Option<Vec<parking_lot::RwLockWriteGuard<'s, ()>>>;

pub(crate) fn exclusive<'s>(ctx: &Ctx<'s>) -> Result<Exclusive<'s>, CmdError> {
    let server = ctx.server;
    match &server.gate {
        Some(g) => g
            .exclusive_unless(|| busy(server))
            .map(Some)
            .ok_or_else(|| CmdError::new(server.scripting.busy_error())),
        None => Ok(None),
    }
}

/// The gate, for a command that is not exclusive (several I/O threads): None when a script
/// that holds it became busy meanwhile.
fn enter<'s>(
    server: &'s Server,
    g: &'s Gate,
    section: &mut Option<parking_lot::MutexGuard<'s, ()>>,
) -> Option<parking_lot::RwLockReadGuard<'s, ()>> {
    let shared = g.enter_unless(|| busy(server))?;
    // A replica attached (turning the journal on) while this command waited for the gate: it
    // must run in a section too (taken before the gate, as everywhere).
    if section.is_some() || !crate::journal::active() {
        return Some(shared);
    }
    drop(shared);
    let journal = &server.journal;
    *section = Some(gate::wait_unless(
        |t| journal.section_for(t),
        || busy(server),
    )?);
    g.enter_unless(|| busy(server))
}

/// Rejections that come from the server's state, not the request: over `maxmemory`, commands
/// that add data get -OOM; without enough replicas, writes get -NOREPLICAS. EXEC answers for
/// the commands it queued.
fn state_rejection(ctx: &Ctx, spec: &table::CommandSpec) -> Option<CmdError> {
    let mut flags = spec.flags;
    if let Some(m) = &ctx.client.multi {
        match spec.name {
            "exec" => flags |= m.flags,
            "discard" | "quit" | "reset" => {}
            // The queue grows without bound, so over the limit nothing more is queued.
            _ => flags |= table::DENYOOM,
        }
    }
    // The primary's stream is applied as it comes: it answers for its own state.
    if ctx.client.master {
        return None;
    }
    // A script past busy-reply-threshold: only what may interrupt it runs (not the script's
    // own calls, which run as in a transaction).
    if ctx.server.scripting.busy() && spec.flags & table::ALLOW_BUSY == 0 && !ctx.client.in_exec {
        return Some(CmdError::new(ctx.server.scripting.busy_error()));
    }
    if ctx.server.loading.on() && spec.flags & table::LOADING == 0 {
        return Some(CmdError::new(
            "LOADING Redis is loading the dataset in memory",
        ));
    }
    if flags & table::WRITE != 0
        && crate::replication::replica::is_replica()
        && ctx.server.config.replica_read_only.get()
    {
        return Some(CmdError::new(
            "READONLY You can't write against a read only replica.",
        ));
    }
    // (Inside EXEC the queue was checked when EXEC was.)
    if crate::replication::replica::is_replica()
        && !ctx.client.in_exec
        && !ctx.server.config.replica_serve_stale_data.get()
        && stale_denied(ctx, spec)
        && !ctx.server.replication.upstream.link_up()
    {
        return Some(CmdError::new(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        ));
    }
    // Commands inside EXEC were checked when EXEC was.
    let oom = !ctx.client.in_exec && out_of_memory(ctx);
    if flags & table::DENYOOM != 0 && oom {
        return Some(CmdError::new(
            "OOM command not allowed when used memory > 'maxmemory'.",
        ));
    }
    if flags & table::WRITE != 0 || spec.name == "ping" {
        if crate::persistence::snapshot::refuses_writes(ctx.server) {
            return Some(CmdError::new(MISCONF));
        }
        if let Some(e) = crate::persistence::aof::refusal(ctx.server) {
            return Some(CmdError::owned(e));
        }
    }
    if flags & table::WRITE != 0 && !enough_replicas(ctx.server) {
        return Some(CmdError::new(
            "NOREPLICAS Not enough good replicas to write.",
        ));
    }
    None
}

const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// `min-replicas-to-write`: true when the check is off or enough replicas are in sync.
pub(crate) fn enough_replicas(server: &Server) -> bool {
    let cfg = &*server.config;
    let want = cfg.min_replicas_to_write.u();
    if want == 0 || cfg.min_replicas_max_lag.u() == 0 {
        return true;
    }
    let max_lag = cfg.min_replicas_max_lag.u();
    let in_sync = server
        .replication
        .good_replicas(max_lag, crate::engine::now_ms());
    in_sync as u64 >= want
}

/// Over `maxmemory` (less `reserved-memory-percent`), evicts keys by the policy before the
/// command runs, as Redis does for every command. True if memory is still over the limit and
/// nothing more can be evicted: commands that add data are then refused.
pub(crate) fn out_of_memory(ctx: &Ctx) -> bool {
    let cfg = &*ctx.server.config;
    let max = cfg.maxmemory.u();
    // A replica evicts nothing itself (replica-ignore-maxmemory): the primary's evictions
    // arrive as DELs.
    if max == 0 || crate::replication::replica::is_replica() {
        return false;
    }
    let reserved = cfg.reserved_memory_percent.u().min(100);
    let limit = max - max / 100 * reserved - max % 100 * reserved / 100;
    let used = crate::metrics::memory::used_recent();
    if used <= limit {
        return false;
    }
    let tuning = crate::engine::evict::Tuning {
        samples: cfg.maxmemory_samples.u() as usize,
        tenacity: cfg.maxmemory_eviction_tenacity.u() as u32,
    };
    let outcome = crate::engine::evict::free(&ctx.server.keyspace, used - limit, tuning);
    // The evictions' consequences (a tracking client told its key went) come before the
    // command that made room.
    effects::apply(ctx.server, 0);
    outcome == crate::engine::evict::Freed::Stuck
}

/// EVAL and its kin: what they track is what their script read.
fn is_script(spec: &table::CommandSpec) -> bool {
    matches!(
        spec.name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// A command rejected inside MULTI makes the EXEC that follows abort.
fn flag_transaction(ctx: &mut Ctx) {
    if let Some(m) = ctx.client.multi.as_mut() {
        m.error = true;
    }
}

/// Applies CLIENT REPLY OFF/SKIP by dropping what the command wrote.
fn finish_reply_mode(ctx: &mut Ctx, mark: usize) {
    // A command that blocked has not replied yet: its SKIP applies when it is served.
    if ctx.client.blocked.is_some() && ctx.client.reply_mode == ReplyMode::Skip {
        return;
    }
    match ctx.client.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => ctx.out.buf.truncate(mark),
        ReplyMode::Skip => {
            ctx.out.buf.truncate(mark);
            ctx.client.reply_mode = ReplyMode::On;
        }
        ReplyMode::SkipNext => ctx.client.reply_mode = ReplyMode::Skip,
    }
}

/// Writes an error reply and counts it in errorstats.
pub fn reply_error(ctx: &mut Ctx, e: &CmdError) {
    ctx.out.error(&e.0);
    // (A script passing on an error that its command already counted.)
    if !std::mem::take(&mut ctx.client.error_counted) {
        ctx.server.stats.count_error(&e.0);
    }
}

pub(crate) fn trunc(b: &[u8], n: usize) -> Cow<'_, str> {
    String::from_utf8_lossy(&b[..b.len().min(n)])
}

fn unknown_command(argv: &[&[u8]]) -> CmdError {
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push('\'');
        args.push_str(&trunc(a, room));
        args.push_str("' ");
    }
    CmdError::owned(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        trunc(argv[0], 128),
        args
    ))
}
