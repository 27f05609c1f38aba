//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! MULTI makes `execute` queue commands instead of running them. EXEC runs the queue with no
//! other client's command in between: with one I/O thread that holds by construction (EXEC
//! does not yield); with several, EXEC holds the server's gate exclusively.
//!
//! WATCH is optimistic locking. A change to a watched key, as the command that made it reports
//! it to the effect sink (a write that changes nothing reports nothing), sets the client's
//! dirty flag; so do expiry and eviction (which report their deletions), FLUSHDB, FLUSHALL and
//! SWAPDB. EXEC also fails when a watched key has passed its TTL without being deleted yet.

use std::sync::atomic::Ordering;

use super::keyspec::{KeySpec as K, RO};
use super::table::{
    CommandSpec as C, ALLOW_BUSY, EXCLUSIVE, FAST, LOADING, NOSCRIPT, SKIP_SLOWLOG, STALE,
    TX_CONTROL,
};
use super::{CmdError, CmdResult, Ctx};
use crate::clients::Multi;

const TX: u32 = NOSCRIPT | LOADING | STALE | TX_CONTROL;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("multi", 1, TX | FAST | ALLOW_BUSY, multi)
        .doc("transactions", "1.2.0", "", "Starts a transaction."),
    C::new("exec", 1, TX | SKIP_SLOWLOG | EXCLUSIVE, exec)
        .doc("transactions", "1.2.0", "", "Executes all commands in a transaction."),
    C::new("discard", 1, TX | FAST | ALLOW_BUSY, discard)
        .doc("transactions", "2.0.0", "", "Discards a transaction."),
    C::new("watch", -2, TX | FAST | ALLOW_BUSY, watch).keys(&[K::rest(1, RO)])
        .doc("transactions", "2.2.0", "key [key ...]", "Monitors changes to keys to determine the execution of a transaction."),
    C::new("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, unwatch)
        .doc("transactions", "2.2.0", "", "Forgets about watched keys of a transaction."),
];

fn multi(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::new("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Multi::default());
    ctx.client.handle.multi.store(0, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.client.handle.multi_ended();
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::new("ERR DISCARD without MULTI"));
    }
    ctx.client.unwatch_all(ctx.clients());
    ctx.out.ok();
    Ok(())
}

fn exec(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.client.handle.multi_ended();
    let Some(multi) = ctx.client.multi.take() else {
        return Err(CmdError::new("ERR EXEC without MULTI"));
    };
    if multi.error {
        ctx.client.unwatch_all(ctx.clients());
        return Err(CmdError::new(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    // From here until the last queued command has run, no other client runs anything.
    let _exclusive = match super::exclusive(ctx) {
        Ok(g) => g,
        Err(busy) => return Err(abort(ctx, &busy)),
    };
    if watch_failed(ctx) {
        ctx.client.unwatch_all(ctx.clients());
        ctx.out.null_array();
        return Ok(());
    }
    // Unwatch first: the transaction's own writes must not mark it dirty (and EXEC ends every
    // watch in any case).
    ctx.client.unwatch_all(ctx.clients());
    ctx.out.array(multi.queue.len());
    ctx.client.in_exec = true;
    for argv in &multi.queue {
        let argv: smallvec::SmallVec<[&[u8]; 8]> = argv.iter().map(|a| a.as_slice()).collect();
        super::execute(ctx, &argv);
    }
    ctx.client.in_exec = false;
    // Clients blocked on keys the transaction filled are served before the gate opens, so
    // no other transaction sees the keys between the EXEC and the hand-off.
    if ctx.clients().blocking.blocked_clients() != 0 {
        super::blocking::serve_ready(ctx.server, ctx.now);
    }
    Ok(())
}

/// EXEC refused by the server's state (-OOM, -NOREPLICAS): the transaction is discarded and
/// the reason given after EXECABORT.
pub fn abort(ctx: &mut Ctx, reason: &CmdError) -> CmdError {
    ctx.client.handle.multi_ended();
    ctx.client.multi = None;
    ctx.client.unwatch_all(ctx.clients());
    CmdError::owned(format!(
        "EXECABORT Transaction discarded because of: {}",
        reason.0
    ))
}

fn watch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::new("ERR WATCH inside MULTI is not allowed"));
    }
    let db = ctx.client.db;
    let id = ctx.client.handle.id;
    for key in &argv[1..] {
        let data = ctx.db();
        if ctx
            .server
            .clients
            .watches
            .watch(db, key, id, &ctx.client.watch_dirty, data)
        {
            ctx.client.watched.push((db, (*key).into()));
        }
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.client.unwatch_all(ctx.clients());
    ctx.out.ok();
    Ok(())
}

/// True if a watched key was written, or has passed its TTL since it was watched (expired
/// but not yet deleted: its deletion would have touched it). A key that was already past its
/// TTL when watched does not count, as in Redis.
fn watch_failed(ctx: &Ctx) -> bool {
    if ctx.client.watch_dirty.load(Ordering::Acquire) {
        return true;
    }
    let id = ctx.client.handle.id;
    ctx.client.watched.iter().any(|(db, key)| {
        ctx.server
            .keyspace
            .db(*db)
            .lock_key(key)
            .peek(key)
            .is_some_and(|e| e.is_expired(ctx.now))
            && !ctx.clients().watches.watched_expired(*db, key, id)
    })
}

/// Handles a command arriving inside MULTI: None if it runs now (outside MULTI, or EXEC,
/// DISCARD, MULTI, WATCH, QUIT, RESET); otherwise it is queued (`+QUEUED`) or rejected.
pub fn queue(ctx: &mut Ctx, spec: &C, argv: &[&[u8]]) -> Option<CmdResult> {
    let multi = ctx.client.multi.as_mut()?;
    if spec.flags & TX_CONTROL != 0 {
        return None;
    }
    if spec.flags & super::table::NO_MULTI != 0 {
        return Some(Err(CmdError::new(
            "ERR Command not allowed inside a transaction",
        )));
    }
    multi.queue.push(argv.iter().map(|a| a.to_vec()).collect());
    let flags = super::flags_of(ctx.server, spec, argv);
    multi.flags |= flags;
    multi.inv_flags |= !flags;
    let bytes: usize = argv.iter().map(|a| a.len()).sum();
    ctx.client
        .handle
        .multi_mem
        .fetch_add(bytes as u64, Ordering::Relaxed);
    ctx.client
        .handle
        .multi
        .store(multi.queue.len() as i64, Ordering::Relaxed);
    ctx.out.simple("QUEUED");
    Some(Ok(()))
}
