//! The per-connection task: read a batch, run every complete request in it, write all replies
//! at once. Commands run inline here; there is no hand-off to another task.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use smallvec::SmallVec;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::outbox::Outbox;
use super::Server;
use crate::clients::blocking::{Outcome, Waiter};
use crate::clients::{Client, ClientHandle};
use crate::command::{self, Ctx};
use crate::protocol::parser::{ArgSource, Limits, Parsed, Parser};
use crate::protocol::Reply;

const READ_CHUNK: usize = 16 * 1024;
/// Largest single reservation made ahead of a big bulk argument (the rest grows as it arrives).
const MAX_RESERVE: usize = 1024 * 1024;

fn limits(server: &Server) -> Limits {
    Limits {
        max_bulk_len: server.config.proto_max_bulk_len.u() as usize,
        ..Limits::default()
    }
}

/// Takes a client out of the registry (and replication's bookkeeping) however its task ends.
pub(crate) struct Registered<'a> {
    pub(crate) server: &'a Server,
    pub(crate) id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.server.clients.remove(self.id);
        self.server.replication.forget(self.id);
    }
}

/// Closes the outbox however the task ends, before the socket is dropped (locals drop before
/// the parameters), so that a later end-of-round flush never writes to a reused descriptor.
struct Closing(Option<Arc<Outbox>>);

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(ob) = &self.0 {
            ob.close();
        }
    }
}

/// Serves one client until it quits, is killed, times out, or the server shuts down.
/// `fd` is the plain-TCP socket's descriptor: with it, replies go out at the end of the
/// event-loop round (see `outbox`).
pub async fn run<S>(server: Arc<Server>, mut stream: S, handle: Arc<ClientHandle>, fd: Option<i32>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    server.clients.add(handle.clone());
    let id = handle.id;
    // Unregisters the client however this task ends, a panic in a handler included.
    let _registered = Registered {
        server: &server,
        id,
    };
    let outbox = fd
        .filter(|_| super::outbox::enabled())
        .map(|fd| Outbox::new(fd, server.clone()));
    let closing = Closing(outbox.clone());
    if let Some(ob) = &outbox {
        let _ = handle.outbox.set(Arc::downgrade(ob));
    }
    // (A connection accepted during a script's busy time may have authenticated then.)
    let authed = !server.auth_required() || handle.authed.load(Ordering::Relaxed);
    let user = handle.user.lock().clone();
    let user = user.unwrap_or_else(|| server.acl.default_user());
    let mut client = Client::new(handle.clone(), Some(user), authed);
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = Parser::new(limits(&server));
    let mut out = Reply::new();
    let result = serve(
        &server,
        &mut stream,
        &mut client,
        &mut rbuf,
        &mut parser,
        &mut out,
        outbox.as_ref(),
    )
    .await;
    if let Err(e) = result {
        tracing::debug!("client {id} closed: {e}");
    } else if let Some(ob) = &outbox {
        // Replies still queued (the client hung up right after its requests, or QUIT).
        if !handle.killed.load(Ordering::Relaxed) {
            ob.take(&mut out.buf).ok();
            let mut stop = Stop {
                server: &server,
                handle: &handle,
            };
            let _ = write_out(&server, &mut stream, &mut out, &mut stop, None).await;
        }
    }
    drop(closing);
    client.clear_connection_state(&server.clients);
    let _ = stream.shutdown().await;
}

async fn serve<S>(
    server: &Server,
    stream: &mut S,
    client: &mut Client,
    rbuf: &mut BytesMut,
    parser: &mut Parser,
    out: &mut Reply,
    outbox: Option<&Arc<Outbox>>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let handle = client.handle.clone();
    // Resolves when the client is killed or the server shuts down; polled by every wait below.
    let mut stop = Stop {
        server,
        handle: &handle,
    };
    let stats = &server.stats;
    // Complete requests may be left in `rbuf` after a blocking command: run them before reading.
    let mut pending = false;
    let mut read_at: u64;
    loop {
        if pending {
            pending = false;
            read_at = crate::engine::mono_us();
        } else {
            // Make room for the next read; for a large bulk in progress, reserve towards its size.
            let want = parser
                .wanted_len()
                .saturating_sub(rbuf.len())
                .min(MAX_RESERVE);
            if rbuf.capacity() - rbuf.len() < READ_CHUNK.max(want) {
                rbuf.reserve(READ_CHUNK.max(want));
            }
            // A script's busy time may answer this client's next requests itself (nothing of
            // the connection's state is in the middle of anything).
            let idle = rbuf.is_empty()
                && !parser.in_progress()
                && client.multi.is_none()
                && client.reply_mode == crate::clients::ReplyMode::On;
            let timeout = server.config.timeout.u();
            let read = async {
                if timeout > 0 {
                    match tokio::time::timeout(Duration::from_secs(timeout), stream.read_buf(rbuf))
                        .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "idle timeout",
                        )),
                    }
                } else {
                    stream.read_buf(rbuf).await
                }
            };
            // The read goes first: a ready socket then never polls `stop` (the check after each
            // batch covers a kill), which keeps the common wake-up to one poll. A subscriber
            // also wakes for published messages.
            // Subscribers and monitors also wake for messages pushed to them.
            // (With client tracking in use, any client may be a REDIRECT target.)
            let subscribed =
                client.subs.active() || client.monitoring || server.clients.tracking.active();
            let mailbox = &handle.mailbox;
            handle.idle.store(idle && !subscribed, Ordering::Relaxed);
            let n = tokio::select! {
                biased;
                r = read => Some(r?),
                _ = std::future::poll_fn(|cx| mailbox.poll_ready(cx)), if subscribed => None,
                // A queued reply the socket did not take whole: written from here.
                _ = std::future::poll_fn(|cx| outbox.map_or(std::task::Poll::Pending, |ob| ob.poll_attention(cx))), if outbox.is_some() => None,
                _ = &mut stop => return Ok(()),
            };
            handle.idle.store(false, Ordering::Relaxed);
            let Some(n) = n else {
                mailbox.drain_into(out);
                if !write_out(server, stream, out, &mut stop, outbox).await? {
                    return Ok(());
                }
                continue;
            };
            if n == 0 {
                return Ok(());
            }
            // One clock read serves the idle time and the batch's command clock.
            read_at = crate::engine::mono_us();
            stats
                .total_net_input_bytes
                .fetch_add(n as u64, Ordering::Relaxed);
            stats.total_reads_processed.fetch_add(1, Ordering::Relaxed);
            handle.touch(read_at);
        }

        // Messages published before these requests arrived go out before their replies.
        handle.mailbox.drain_into(out);
        let reply_cap = out.buf.capacity();
        let (consumed, commands) = run_batch(server, client, rbuf, parser, out, read_at).await;
        // Growth past the 16 KB a reply buffer starts at in Redis counts as an expansion.
        if out.buf.capacity() > reply_cap.max(16 * 1024) {
            stats.reply_buffer_expands.fetch_add(1, Ordering::Relaxed);
        }
        rbuf.advance(consumed);
        parser.shift(consumed);
        stats
            .total_commands_processed
            .fetch_add(commands, Ordering::Relaxed);
        handle.qbuf.store(rbuf.len() as u64, Ordering::Relaxed);
        let rbs = rbuf.capacity() as u64;
        // A read buffer that grew past 1 MB (a large request arriving) may put the clients
        // over maxmemory-clients: checked now rather than at the next cron tick.
        if handle.rbs.swap(rbs, Ordering::Relaxed) < rbs && rbs > 1 << 20 {
            super::client_limits::evict_clients(server);
        }
        // Give back the memory of a large request once it has been handled.
        if rbuf.is_empty() && rbuf.capacity() > MAX_RESERVE && !parser.in_progress() {
            *rbuf = BytesMut::with_capacity(READ_CHUNK);
        }

        let limit = server.config.client_query_buffer_limit.u() as usize;
        if rbuf.len() > limit {
            tracing::warn!(
                "Closing client {} that reached max query buffer length",
                handle.addr
            );
            stats
                .query_buffer_limit_disconnections
                .fetch_add(1, Ordering::Relaxed);
            client.close_after_reply = true;
        }
        if let Some(w) = client.blocked.take() {
            // The replies to the requests before the blocking one go out first. If the
            // connection ends there, the waiter must leave the queues with it.
            let written = write_out(server, stream, out, &mut stop, outbox).await;
            if !matches!(written, Ok(true)) {
                server.clients.blocking.cancel(&w);
                return written.map(|_| ());
            }
            let end = wait_blocked(server, stream, rbuf, &w, &mut stop).await;
            handle.blocked.store(false, Ordering::Relaxed);
            match end {
                // CLIENT REPLY OFF/SKIP applies to the served reply too.
                WaitEnd::Served(bytes) => match client.reply_mode {
                    crate::clients::ReplyMode::Off => {}
                    crate::clients::ReplyMode::Skip => {
                        client.reply_mode = crate::clients::ReplyMode::On
                    }
                    _ => out.raw(&bytes),
                },
                WaitEnd::Unblocked { error: true } => {
                    let msg = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
                    out.error(msg);
                    stats.count_error(msg);
                    crate::command::blocking::count_failed(server, &w);
                }
                WaitEnd::Unblocked { error: false } | WaitEnd::TimedOut => w.op.reply_timeout(out),
                WaitEnd::Closed => return Ok(()),
            }
            pending = true;
        }
        if let Some(w) = client.wait.take() {
            let written = write_out(server, stream, out, &mut stop, outbox).await;
            if !matches!(written, Ok(true)) {
                return written.map(|_| ());
            }
            let n = crate::replication::wait_acks(server, &w, &mut stop).await;
            out.int(n as i64);
            pending = true;
        }
        if let Some(how) = client.shutdown.take() {
            let written = write_out(server, stream, out, &mut stop, outbox).await;
            if !matches!(written, Ok(true)) {
                return written.map(|_| ());
            }
            let blocked = &server.shutdown_wait.blocked;
            blocked.fetch_add(1, Ordering::Relaxed);
            let done = crate::server::shutdown::run(server, how, false).await;
            blocked.fetch_sub(1, Ordering::Relaxed);
            if done {
                return Ok(());
            }
            out.error("ERR Errors trying to SHUTDOWN. Check logs.");
            pending = true;
        }
        // Messages published to this client go out after the replies to its own commands.
        handle.mailbox.drain_into(out);
        // Queued for the end of the round when possible; written now otherwise.
        let queued = !out.is_empty()
            && !client.close_after_reply
            && client.replica.is_none()
            && outbox.is_some_and(|ob| ob.queue(&mut out.buf));
        if !queued && !write_out(server, stream, out, &mut stop, outbox).await? {
            return Ok(());
        }
        // Replies that passed a limit check were recorded as waiting; they are on their way.
        if handle.obuf.load(Ordering::Relaxed) != 0 {
            handle.obuf.store(0, Ordering::Relaxed);
        }
        // PSYNC was answered: from here the connection carries the replication stream.
        if let Some(a) = client.replica.take() {
            return crate::replication::link::run(server, stream, rbuf, parser, a.link, &mut stop)
                .await;
        }
        if client.close_after_reply
            || handle.killed.load(Ordering::Relaxed)
            || server.shutting_down()
        {
            return Ok(());
        }
        // Refresh limits changed by CONFIG SET (cheap: a few relaxed loads).
        parser.limits = limits(server);
    }
}

/// Writes and clears `out`, after whatever the outbox still holds; false if the connection
/// must close instead.
async fn write_out<S: AsyncWrite + Unpin>(
    server: &Server,
    stream: &mut S,
    out: &mut Reply,
    stop: &mut Stop<'_>,
    outbox: Option<&Arc<Outbox>>,
) -> std::io::Result<bool> {
    if let Some(ob) = outbox {
        ob.take(&mut out.buf)?;
    }
    if out.is_empty() {
        return Ok(true);
    }
    crate::persistence::aof::before_replies(server);
    // Let every other ready connection read and run its requests before this one
    // writes: replies then go out in a burst after the reads, as Redis's event loop
    // sends them, rather than each write waking its client while the server still has
    // reads to do. Measured: 90/10 mix -P 1 0.88 -> 0.95 of Redis, SET -P 16 +25%.
    tokio::task::yield_now().await;
    // A client that does not read its replies must still be killable, and is closed if
    // they stay over the soft output limit for longer than it allows.
    let write = async {
        stream.write_all(&out.buf).await?;
        stream.flush().await
    };
    let soft_wait = super::client_limits::soft_limit_wait(server, out.len());
    let soft_deadline = async {
        match soft_wait {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    stop.handle.obuf.store(out.len() as u64, Ordering::Relaxed);
    tokio::select! {
        biased;
        r = write => r?,
        _ = &mut *stop => return Ok(false),
        _ = soft_deadline => {
            super::client_limits::output_limit_reached(server, stop.handle);
            return Ok(false);
        }
    }
    stop.handle.obuf.store(0, Ordering::Relaxed);
    let stats = &server.stats;
    stats
        .total_net_output_bytes
        .fetch_add(out.len() as u64, Ordering::Relaxed);
    stats.total_writes_processed.fetch_add(1, Ordering::Relaxed);
    out.buf.clear();
    if out.buf.capacity() > 1024 * 1024 {
        out.buf.shrink_to(64 * 1024);
        stats.reply_buffer_shrinks.fetch_add(1, Ordering::Relaxed);
    }
    Ok(true)
}

enum WaitEnd {
    Served(Vec<u8>),
    Unblocked { error: bool },
    TimedOut,
    Closed,
}

/// Waits until a blocked client is served, unblocked or times out. Meanwhile the socket is
/// still read (requests pile up in `rbuf`), so that a client that hangs up stops waiting and
/// is never handed data it cannot receive.
async fn wait_blocked<S: AsyncRead + Unpin>(
    server: &Server,
    stream: &mut S,
    rbuf: &mut BytesMut,
    w: &Arc<Waiter>,
    stop: &mut Stop<'_>,
) -> WaitEnd {
    let from = |o: Outcome| match o {
        Outcome::Reply(b) => WaitEnd::Served(b),
        Outcome::Unblocked { error } => WaitEnd::Unblocked { error },
        Outcome::Waiting => WaitEnd::TimedOut,
    };
    let deadline = async {
        match w.deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        if rbuf.capacity() - rbuf.len() < READ_CHUNK {
            rbuf.reserve(READ_CHUNK);
        }
        tokio::select! {
            biased;
            o = std::future::poll_fn(|cx| w.poll_outcome(cx)) => return from(o),
            _ = &mut *stop => {
                server.clients.blocking.cancel(w);
                return WaitEnd::Closed;
            }
            _ = &mut deadline => {
                return server.clients.blocking.cancel(w).map_or(WaitEnd::TimedOut, from);
            }
            r = stream.read_buf(rbuf) => {
                let limit = server.config.client_query_buffer_limit.u() as usize;
                // Hung up, or piling up more requests than the query buffer may hold.
                if !matches!(r, Ok(n) if n > 0) || rbuf.len() > limit {
                    server.clients.blocking.cancel(w);
                    return WaitEnd::Closed;
                }
            }
        }
    }
}

/// Ready once the connection must close: killed, or the server is shutting down.
struct Stop<'a> {
    server: &'a Server,
    handle: &'a ClientHandle,
}

impl Future for Stop<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Register first, then check: a kill or shutdown after the check wakes the new waker.
        self.handle.stop.register(cx.waker());
        if self.handle.killed.load(Ordering::SeqCst) || self.server.shutting_down() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Most keys whose memory is loaded ahead at once: the requests behind them get theirs when
/// the batch reaches them.
const PREFETCH: usize = 32;
/// Databases smaller than this (about 1 MB of table) are left to the caches.
const PREFETCH_MIN_KEYS: usize = 16 * 1024;

/// For a pipelined batch, starts loading the table memory of the keys of the requests in
/// `rest` before running them, so the cache misses overlap (Valkey does the same). A separate
/// look-ahead parse finds the keys; it stops at anything it does not understand. Returns how
/// many bytes of `rest` need no further look-ahead: up to the first request whose keys did not
/// fit, or all of it.
fn prefetch_keys(server: &Server, db: usize, rest: &[u8]) -> usize {
    thread_local! {
        // The look-ahead parser is reused, so this costs no allocation per batch.
        static LOOK: std::cell::RefCell<Parser> = std::cell::RefCell::new(Parser::new(Limits::default()));
    }
    LOOK.with(|look| {
        let mut look = look.borrow_mut();
        look.reset();
        prefetch_with(&mut look, server, db, rest)
    })
}

type KeyRanges = SmallVec<[std::ops::Range<usize>; PREFETCH]>;

fn prefetch_with(look: &mut Parser, server: &Server, db: usize, rest: &[u8]) -> usize {
    let db = server.keyspace.db(db);
    // A small table stays in the CPU caches, where prefetching would be pure overhead (and
    // so would looking ahead for keys).
    if db.len_hint().is_none_or(|n| n < PREFETCH_MIN_KEYS) {
        return rest.len();
    }
    let mut keys = KeyRanges::new();
    let covered = look_ahead(look, &server.commands, rest, &mut keys);
    if keys.len() < 2 {
        return covered;
    }
    let keys: SmallVec<[&[u8]; PREFETCH]> = keys.iter().map(|k| &rest[k.clone()]).collect();
    db.prefetch(&keys);
    covered
}

/// Adds to `keys` the keys of the requests at the start of `rest`, as many whole requests as
/// fit. Returns how many bytes of `rest` need no further look-ahead: up to the first request
/// whose keys did not fit, or all of it (the look-ahead also stops for good at anything it
/// does not understand).
fn look_ahead(
    look: &mut Parser,
    table: &crate::command::table::CommandTable,
    rest: &[u8],
    keys: &mut KeyRanges,
) -> usize {
    let mut pos = 0;
    // Pipelines mostly repeat one command: the last one resolved is tried first (a byte
    // compare instead of a table lookup).
    let mut last: Option<(std::ops::Range<usize>, &crate::command::table::Command)> = None;
    loop {
        match look.parse(rest, pos) {
            Ok(Parsed::Request {
                end,
                source: ArgSource::Buffer,
            }) => {
                let args = look.args();
                let name = &rest[args[0].clone()];
                let cmd = match &last {
                    Some((r, c)) if &rest[r.clone()] == name => Some(*c),
                    _ => {
                        let argv: SmallVec<[&[u8]; 2]> =
                            args.iter().take(2).map(|r| &rest[r.clone()]).collect();
                        let c = command::resolve(table, &argv);
                        // (A container's subcommand depends on the next argument too.)
                        last = c
                            .filter(|c| c.subcommands().is_empty() && !c.fullname.contains('|'))
                            .map(|c| (args[0].clone(), c));
                        c
                    }
                };
                if let Some(cmd) = cmd {
                    if !request_keys(cmd, rest, args, keys) {
                        return pos;
                    }
                }
                pos = end;
            }
            Ok(Parsed::Empty { end }) => pos = end,
            _ => return rest.len(),
        }
    }
}

/// Adds the keys of one request of `cmd` (`args`, ranges of `buf`), as its key specs find
/// them, to `keys`; false if they do not all fit. Keys that do not move with the arguments
/// are where the specs' first/last/step triple says (no argument list to build).
fn request_keys(
    cmd: &crate::command::table::Command,
    buf: &[u8],
    args: &[std::ops::Range<usize>],
    keys: &mut KeyRanges,
) -> bool {
    // The same key again (HSET h ..., LPUSH l ...) needs no second prefetch.
    let add = |keys: &mut KeyRanges, i: usize| {
        // (The request's arity is not checked yet: a position may be past its arguments.)
        let Some(k) = args.get(i).cloned() else {
            return;
        };
        if keys.len() < PREFETCH && keys.last().is_none_or(|p| buf[p.clone()] != buf[k.clone()]) {
            keys.push(k);
        }
    };
    if cmd.movable_keys {
        let argv: SmallVec<[&[u8]; PREFETCH]> = args.iter().map(|r| &buf[r.clone()]).collect();
        let mut found = crate::command::keyspec::Keys::new();
        cmd.spec.keys_of(&argv, &mut found);
        if keys.len() + found.len() > PREFETCH && !keys.is_empty() {
            return false;
        }
        found.iter().for_each(|k| add(keys, k.pos));
        return true;
    }
    let (first, last, step) = cmd.legacy_keys;
    if first < 1 || step < 1 {
        return true;
    }
    let n = args.len() as i32;
    let last = if last < 0 { n + last } else { last.min(n - 1) };
    if last < first {
        return true;
    }
    if keys.len() + ((last - first) / step + 1) as usize > PREFETCH && !keys.is_empty() {
        return false;
    }
    (first..=last)
        .step_by(step as usize)
        .for_each(|i| add(keys, i as usize));
    true
}

/// Parses and runs every complete request in `rbuf`. Returns (bytes consumed, commands run).
async fn run_batch(
    server: &Server,
    client: &mut Client,
    rbuf: &BytesMut,
    parser: &mut Parser,
    out: &mut Reply,
    batch_start: u64,
) -> (usize, u64) {
    let mut pos = 0;
    let mut commands = 0;
    // Where the look-ahead for keys to prefetch stopped.
    let mut prefetched = 0;
    // One wall-clock read per batch; command times advance it by the monotonic clock.
    let batch_ms = crate::engine::now_ms();
    let mut clock = batch_start;
    let out_check = super::client_limits::check_threshold(server);
    loop {
        match parser.parse(rbuf, pos) {
            Ok(Parsed::Incomplete) => break,
            Ok(Parsed::Empty { end }) => pos = end,
            Ok(Parsed::Request { end, source }) => {
                // More requests behind this one, past those already looked at: start loading
                // their keys (a lone request, the common case at -P 1, has nothing to overlap
                // and costs no look-ahead).
                if end >= prefetched && end < rbuf.len() {
                    prefetched = end + prefetch_keys(server, client.db, &rbuf[end..]);
                }
                let argv: SmallVec<[&[u8]; 8]> = parser.argv(rbuf, source).collect();
                // CLIENT PAUSE: the command (and the rest of the batch) waits its turn.
                if server.pause.on() {
                    let writes = command::may_write(server, client, &argv);
                    if server.pause.holds(writes).is_some() {
                        server.pause.hold(writes).await;
                        clock = crate::engine::mono_us();
                    }
                }
                client.pending_input = rbuf.len() - pos;
                let mut ctx = Ctx {
                    server,
                    client,
                    out,
                    now: batch_ms + (clock - batch_start) / 1000,
                    started: clock,
                };
                command::execute(&mut ctx, &argv);
                clock = ctx.started;
                pos = end;
                commands += 1;
                // Over an output limit, or evicted: the replies are dropped with the client.
                if out.len() > out_check
                    && super::client_limits::over_limits(server, client, out.len())
                {
                    out.buf.clear();
                    client.close_after_reply = true;
                    break;
                }
                // A blocked client runs nothing more until it is served (nor does one that
                // WAITs, or that became a replica link).
                if client.close_after_reply
                    || client.blocked.is_some()
                    || client.wait.is_some()
                    || client.replica.is_some()
                {
                    break;
                }
                if let Some(d) = client.sleep.take() {
                    tokio::time::sleep(d).await;
                    clock = crate::engine::mono_us();
                }
            }
            Err(e) => {
                let msg = format!("ERR Protocol error: {}", e.0);
                tracing::debug!("protocol error from {}: {}", client.handle.addr, e.0);
                out.error(&msg);
                server.stats.count_error(&msg);
                client.close_after_reply = true;
                break;
            }
        }
    }
    (pos, commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys the look-ahead picks from a pipelined buffer, window after window, each
    /// starting where the one before stopped (as `run_batch` resumes it).
    fn windows(buf: &[u8]) -> Vec<Vec<String>> {
        let table = crate::server::command_table();
        let mut look = Parser::new(Limits::default());
        let mut out = vec![];
        let mut at = 0;
        while at < buf.len() {
            look.reset();
            let rest = &buf[at..];
            let mut keys = KeyRanges::new();
            let covered = look_ahead(&mut look, &table, rest, &mut keys);
            assert!(covered > 0, "the look-ahead made no progress at {at}");
            out.push(
                keys.into_iter()
                    .map(|k| String::from_utf8_lossy(&rest[k]).into())
                    .collect(),
            );
            at += covered;
        }
        out
    }

    fn resp(args: &[&str]) -> Vec<u8> {
        let mut v = vec![];
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        crate::journal::encode(&mut v, &args);
        v
    }

    #[test]
    fn the_look_ahead_finds_every_key_of_multi_key_commands() {
        let mut buf = resp(&["GET", "a"]);
        buf.extend(resp(&["MSET", "b", "1", "c", "2"]));
        buf.extend(resp(&["mget", "d", "e", "f"]));
        buf.extend(resp(&["SET", "g", "v", "EX", "10"]));
        buf.extend(resp(&["HSET", "h", "f", "v"]));
        buf.extend(resp(&["HSET", "h", "f2", "v2"]));
        buf.extend(resp(&["PING"]));
        buf.extend(resp(&["NOSUCHCOMMAND", "x", "y", "z"]));
        // Arity is checked later: a keyed command without its key adds nothing.
        buf.extend(resp(&["SORT"]));
        buf.extend(resp(&["GEORADIUS"]));
        buf.extend(resp(&["OBJECT"]));
        buf.extend(resp(&["OBJECT", "ENCODING", "i"]));
        assert_eq!(
            windows(&buf),
            [["a", "b", "c", "d", "e", "f", "g", "h", "i"]]
        );
    }

    #[test]
    fn keys_past_the_window_wait_for_the_next_one() {
        let mut buf = vec![];
        let mut expected = vec![];
        for r in 0..4 {
            let mut args = vec!["MSET".to_string()];
            for k in 0..10 {
                args.push(format!("k{r}-{k}"));
                args.push("v".into());
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            buf.extend(resp(&refs));
            expected.extend((0..10).map(|k| format!("k{r}-{k}")));
        }
        // 32 keys a window: three whole requests, then the fourth in a window of its own.
        assert_eq!(
            windows(&buf),
            [expected[..30].to_vec(), expected[30..].to_vec()]
        );
    }
}
