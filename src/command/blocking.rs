//! Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! A blocking command first tries to pop at once. If every key is missing it registers a
//! `Waiter` on its keys and the connection task parks (it holds no thread, and reads no further
//! requests until served, as Redis). A write command that may have put data under a key with
//! waiters marks the key ready; at the end of that command (at the end of EXEC inside a
//! transaction) `serve_ready` serves the waiters of each ready key first-come first-served,
//! doing the pop on their behalf and handing each its reply. Serving synchronously, before any
//! other command runs, is what makes the order and the hand-off exactly Redis's.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::keyspec::{self as ks, KeySpec as K, ACCESS, DELETE, INSERT, RW};
use super::lists::{move_element, mpop_first, parse_mpop, pop_end, pop_event};
use super::table::{CommandSpec as C, BLOCKING, DENYOOM, FAST, NOSCRIPT, WRITE};
use super::zsetops::{parse_zmpop, zpop, PopShape, MPOP_SHAPE};
use super::At;
use super::{changed_in, collection_write, CmdError, CmdResult, Ctx};
use crate::clients::blocking::{BlockOp, Outcome, Waiter};
use crate::engine::notify as ev;
use crate::engine::{Key, Value};
use crate::protocol::Reply;
use crate::server::Server;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("blpop", -3, WRITE | NOSCRIPT | BLOCKING, blpop).keys(&[K::range(1, -2, 1, RW | ACCESS | DELETE)])
        .doc("list", "2.0.0", "key [key ...] timeout", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    C::new("brpop", -3, WRITE | NOSCRIPT | BLOCKING, brpop).keys(&[K::range(1, -2, 1, RW | ACCESS | DELETE)])
        .doc("list", "2.0.0", "key [key ...] timeout", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    C::new("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, blmove).keys(&[K::at(1, RW | ACCESS | DELETE), K::at(2, RW | INSERT)])
        .doc("list", "6.2.0", "source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved."),
    C::new("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, brpoplpush).keys(&[K::at(1, RW | ACCESS | DELETE), K::at(2, RW | INSERT)])
        .doc("list", "2.2.0", "source destination timeout", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped."),
    C::new("bzpopmin", -3, WRITE | NOSCRIPT | FAST | BLOCKING, bzpopmin).keys(&[K::range(1, -2, 1, RW | ACCESS | DELETE)])
        .doc("sorted-set", "5.0.0", "key [key ...] timeout", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    C::new("bzpopmax", -3, WRITE | NOSCRIPT | FAST | BLOCKING, bzpopmax).keys(&[K::range(1, -2, 1, RW | ACCESS | DELETE)])
        .doc("sorted-set", "5.0.0", "key [key ...] timeout", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped."),
    C::new("bzmpop", -5, WRITE | BLOCKING, bzmpop).keys(&[K::numkeys(2, RW | ACCESS | DELETE)]).getkeys(ks::numkeys_at_2)
        .doc("sorted-set", "7.0.0", "timeout numkeys key [key ...] <MIN | MAX> [COUNT count]", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    C::new("blmpop", -5, WRITE | BLOCKING, blmpop).keys(&[K::numkeys(2, RW | ACCESS | DELETE)]).getkeys(ks::numkeys_at_2)
        .doc("list", "7.0.0", "timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
];

/// Serves the waiters of every key made ready since the last call, oldest waiter first, until
/// each key runs out of data or waiters. A served BLMOVE can fill another key, so this loops.
/// Each served pop is an ordinary write: what it changed goes through the effect sink, counted
/// and journaled as its plain form, on behalf of the waiter.
pub fn serve_ready(server: &Server, now: u64) {
    let b = &server.clients.blocking;
    let _serving = b.serving.lock();
    while b.has_ready() {
        for (db, key) in b.take_ready() {
            // A waiter that cannot be served from this key (another type, or an XREAD for
            // later IDs) does not hold up the ones behind it.
            for w in b.waiters(db, &key) {
                let mut out = Reply::new();
                out.resp3 = w.resp3;
                let served = serve_one(server, &w, db, &key, now, &mut out);
                // What it changed (even without serving) is settled before anything else runs.
                let done = crate::engine::effects::take_command();
                server.stats.dirty.add(0, done.dirty);
                super::effects::apply(server, w.client);
                match served {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(e) => {
                        out.buf.clear();
                        out.error(&e.0);
                        server.stats.count_error(&e.0);
                        count_failed(server, &w);
                    }
                }
                b.finish(&w, Outcome::Reply(std::mem::take(&mut out.buf)));
            }
        }
    }
}

/// Counts a failed call of the command that blocked (an error it was answered with).
pub fn count_failed(server: &Server, w: &Waiter) {
    if let Some(c) = server.commands.by_id(w.command) {
        c.stats.add(super::table::FAILED, 1);
    }
}

/// Does a waiter's pop on `key`. Ok(false) if the key holds no list (nothing to serve).
fn serve_one(
    server: &Server,
    w: &Waiter,
    db: usize,
    key: &[u8],
    now: u64,
    out: &mut Reply,
) -> Result<bool, CmdError> {
    let at = At { server, db, now };
    let right_type = at
        .keyspace()
        .lock_key(key)
        .get_mut(key, now)
        .is_some_and(|e| w.op.accepts(&e.value));
    if !right_type {
        // A group reader cannot wait for a stream that is gone: the group went with it.
        if matches!(w.op, BlockOp::XReadGroup(_)) {
            return Err(CmdError::new("UNBLOCKED the stream key no longer exists"));
        }
        return Ok(false);
    }
    match &w.op {
        // Each pop checks the key again under its own lock: Ok(false) if it went meanwhile.
        BlockOp::Pop { front } => {
            if !pop_with_key(at, key, *front, out)? {
                return Ok(false);
            }
        }
        BlockOp::MPop { front, count } => {
            if mpop_first(at, &[key], *front, *count, out)?.is_none() {
                return Ok(false);
            }
        }
        BlockOp::XRead { after, count } => {
            let Some(gt) = after.iter().find(|(k, _)| &k[..] == key).map(|(_, id)| *id) else {
                return Ok(false);
            };
            let mut shard = at.keyspace().lock_key(key);
            let Some(s) = shard.get_mut(key, now).and_then(|e| e.value.stream_mut()) else {
                return Ok(false);
            };
            let entries = super::streams::entries_after(s, gt, *count);
            if entries.is_empty() {
                return Ok(false);
            }
            super::streams::read_reply_len(out, 1);
            super::streams::reply_stream_read(out, key, entries.into_iter());
            return Ok(true);
        }
        BlockOp::XReadGroup(read) => {
            let mut shard = at.keyspace().lock_key(key);
            let Some(s) = shard.get_mut(key, now).and_then(|e| e.value.stream_mut()) else {
                return Ok(false);
            };
            return super::stream_groups::serve_group_read(s, key, read, at, out);
        }
        BlockOp::ZPop { max } => {
            if zpop(at, &[key], *max, None, BZPOP_SHAPE, out)?.is_none() {
                return Ok(false);
            }
        }
        BlockOp::ZMPop { max, count } => {
            if zpop(at, &[key], *max, Some(*count), MPOP_SHAPE, out)?.is_none() {
                return Ok(false);
            }
        }
        BlockOp::Move {
            dst,
            from_front,
            to_front,
        } => {
            if !move_element(at, key, dst, *from_front, *to_front, out)? {
                return Ok(false);
            }
            record_move(at, key, dst, *from_front, *to_front);
        }
    }
    Ok(true)
}

/// Parses a timeout in seconds (fractions allowed); None for 0, which waits forever.
fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, CmdError> {
    let secs = super::args::float(arg)
        .ok()
        .filter(|v| v.is_finite())
        .ok_or(CmdError::new("ERR timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0).ceil();
    if ms < 0.0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    Ok((ms > 0.0).then(|| Duration::from_millis(ms as u64)))
}

/// BLPOP/BRPOP's pop: one element from `key`, replied as `[key, element]`. False (nothing
/// replied) when the key is missing.
fn pop_with_key(at: At, key: &[u8], front: bool, out: &mut Reply) -> Result<bool, CmdError> {
    let now = at.now;
    let mut shard = at.keyspace().lock_key(key);
    let Some(list) = collection_write(&mut shard, key, now, Value::list_mut)? else {
        return Ok(false);
    };
    let e = pop_end(list, front).expect("lists are never empty");
    out.array(2);
    out.bulk(key);
    out.bulk(&e);
    changed_in(at, &mut shard, key, ev::LIST, pop_event(front));
    at.dirty(1);
    // Replays as the plain pop.
    at.record(&[if front { b"LPOP" } else { b"RPOP" }, key]);
    Ok(true)
}

/// A blocking move replays as the plain LMOVE.
fn record_move(at: At, src: &[u8], dst: &[u8], from_front: bool, to_front: bool) {
    let side = |front: bool| -> &'static [u8] {
        if front {
            b"LEFT"
        } else {
            b"RIGHT"
        }
    };
    at.record(&[b"LMOVE", src, dst, side(from_front), side(to_front)]);
}

/// Nothing to pop: block the client (or, inside EXEC, answer as a timeout at once).
pub fn block_on(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    op: BlockOp,
    timeout: Option<Duration>,
) -> CmdResult {
    if ctx.client.in_exec {
        op.reply_timeout(ctx.out);
        return Ok(());
    }
    let w = Arc::new(Waiter::new(
        ctx.client.handle.id,
        ctx.client.db,
        keys.iter().map(|k| Key::from(*k)).collect(),
        op,
        ctx.out.resp3,
        timeout.map(|t| std::time::Instant::now() + t),
        ctx.client.handle.last_cmd.load(Ordering::Relaxed),
    ));
    ctx.clients().blocking.register(w.clone());
    ctx.client.handle.blocked.store(true, Ordering::Relaxed);
    ctx.client.blocked = Some(w);
    Ok(())
}

fn block_pop(ctx: &mut Ctx, argv: &[&[u8]], front: bool) -> CmdResult {
    let timeout = parse_timeout(argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    for key in keys {
        if pop_with_key(ctx.at(), key, front, ctx.out)? {
            return Ok(());
        }
    }
    block_on(ctx, keys, BlockOp::Pop { front }, timeout)
}

fn blpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    block_pop(ctx, argv, true)
}

fn brpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    block_pop(ctx, argv, false)
}

fn block_move(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    from_front: bool,
    to_front: bool,
    timeout: &[u8],
) -> CmdResult {
    let timeout = parse_timeout(timeout)?;
    let mut probe = Reply::new();
    if move_element(ctx.at(), argv[1], argv[2], from_front, to_front, &mut probe)? {
        record_move(ctx.at(), argv[1], argv[2], from_front, to_front);
        ctx.out.raw(&probe.buf);
        return Ok(());
    }
    let op = BlockOp::Move {
        dst: argv[2].into(),
        from_front,
        to_front,
    };
    block_on(ctx, &argv[1..2], op, timeout)
}

fn blmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let from = super::lists::side(argv[3])?;
    let to = super::lists::side(argv[4])?;
    block_move(ctx, argv, from, to, argv[5])
}

fn brpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    block_move(ctx, argv, false, true, argv[3])
}

fn blmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(argv[1])?;
    let (keys, front, count) = parse_mpop(argv, 2)?;
    if mpop_first(ctx.at(), &keys, front, count, ctx.out)?.is_some() {
        return Ok(());
    }
    block_on(ctx, &keys, BlockOp::MPop { front, count }, timeout)
}

/// BZPOPMIN/BZPOPMAX reply `[key, member, score]`.
const BZPOP_SHAPE: PopShape = PopShape {
    emit_key: true,
    nested: false,
    nil_when_empty: true,
};

/// Pops at once into `ctx.out` if any key has members; true if it did.
fn zpop_now(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    max: bool,
    count: Option<usize>,
    shape: PopShape,
) -> Result<bool, CmdError> {
    let mut probe = Reply::new();
    probe.resp3 = ctx.out.resp3;
    match zpop(ctx.at(), keys, max, count, shape, &mut probe)? {
        Some(_) => {
            ctx.out.raw(&probe.buf);
            Ok(true)
        }
        None => Ok(false),
    }
}

fn block_zpop(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CmdResult {
    let timeout = parse_timeout(argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    if zpop_now(ctx, keys, max, None, BZPOP_SHAPE)? {
        return Ok(());
    }
    block_on(ctx, keys, BlockOp::ZPop { max }, timeout)
}

fn bzpopmin(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    block_zpop(ctx, argv, false)
}

fn bzpopmax(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    block_zpop(ctx, argv, true)
}

fn bzmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(argv[1])?;
    let (keys, max, count) = parse_zmpop(argv, 2)?;
    if zpop_now(ctx, &keys, max, Some(count), MPOP_SHAPE)? {
        return Ok(());
    }
    block_on(ctx, &keys, BlockOp::ZMPop { max, count }, timeout)
}
