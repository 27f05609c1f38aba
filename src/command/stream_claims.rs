//! Moving pending entries between the consumers of a group: XCLAIM and XAUTOCLAIM.

use super::args::{self, is};
use super::keyspec::{KeySpec as K, DELETE, RW, UPDATE};
use super::stream_groups::stream_and_group;
use super::streams::{interval_start, parse_id, reply_entry};
use super::table::{CommandSpec as C, FAST, WRITE};
use super::{CmdError, CmdResult, Ctx, SYNTAX};
use crate::engine::notify as ev;
use crate::engine::stream::{Group, Stream, StreamId};
use crate::journal::groups::{acked, record_delivered};
use crate::protocol::Reply;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("xclaim", -6, WRITE | FAST, xclaim).keys(&[K::at(1, RW | UPDATE)])
        .doc("stream", "5.0.0", "key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member."),
    C::new("xautoclaim", -6, WRITE | FAST, xautoclaim).keys(&[K::at(1, RW | DELETE)])
        .doc("stream", "6.2.0", "key group consumer min-idle-time start [COUNT count] [JUSTID]", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member."),
];

/// An integer argument whose every failure answers `ERR msg` (Redis's
/// `getLongLongFromObjectOrReply` with a message).
fn int_or(arg: &[u8], msg: &'static str) -> Result<i64, CmdError> {
    args::range_long(arg, i64::MIN, i64::MAX, Some(msg))
}

/// Idle time of a delivery stamped `at` (negative when stamped in the future with TIME).
fn idle(now: u64, at: u64) -> i64 {
    now as i64 - at as i64
}

/// Writes the claimed entries: bare IDs (JUSTID) or `[id, [field, value, ...]]`.
fn reply_claimed(out: &mut Reply, s: &Stream, ids: &[StreamId], justid: bool) {
    out.array(ids.len());
    for id in ids {
        match s.entries.get(id) {
            Some(fields) if !justid => reply_entry(out, id, fields),
            _ => out.bulk(&id.to_bytes()),
        }
    }
}

/// `XCLAIM key group consumer min-idle-time id [id ...] [options]`
fn xclaim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let mut shard = ctx.db().lock_key(argv[1]);
    let s = stream_and_group(&mut shard, argv, now)?;
    let min_idle = int_or(argv[4], "Invalid min-idle-time argument for XCLAIM")?.max(0);
    // IDs come first; the first argument that is not one starts the options, and nothing
    // is claimed unless all of them parse.
    let mut j = 5;
    let mut ids = Vec::new();
    while let Some(id) = argv.get(j).and_then(|a| parse_id(a, 0, true).ok()) {
        ids.push(id);
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let (mut at, mut retries, mut last_id) = (None, None, None);
    while j < argv.len() {
        let opt = argv[j];
        let value = argv.get(j + 1).copied();
        match value {
            _ if is(opt, "FORCE") => force = true,
            _ if is(opt, "JUSTID") => justid = true,
            Some(v) if is(opt, "IDLE") => {
                let ms = int_or(v, "Invalid IDLE option argument for XCLAIM")?;
                at = Some((now as i64).wrapping_sub(ms));
                j += 1;
            }
            Some(v) if is(opt, "TIME") => {
                at = Some(int_or(v, "Invalid TIME option argument for XCLAIM")?);
                j += 1;
            }
            Some(v) if is(opt, "RETRYCOUNT") => {
                retries = Some(int_or(v, "Invalid RETRYCOUNT option argument for XCLAIM")?);
                j += 1;
            }
            Some(v) if is(opt, "LASTID") => {
                last_id = Some(parse_id(v, 0, true)?);
                j += 1;
            }
            _ => {
                return Err(CmdError::owned(format!(
                    "ERR Unrecognized XCLAIM option '{}'",
                    String::from_utf8_lossy(opt)
                )))
            }
        }
        j += 1;
    }
    // A delivery time in the future or before the epoch is taken as now, not refused: clients
    // compute it from their own clocks.
    let at = match at {
        Some(t) if (0..=now as i64).contains(&t) => t as u64,
        _ => now,
    };
    // A negative count is ignored, as when it is not given.
    let retries = retries.and_then(|n| u64::try_from(n).ok());
    let group: &mut Group = s.groups.get_mut(argv[2]).expect("checked");
    let mut moved_last = false;
    if let Some(l) = last_id.filter(|l| *l > group.last_id) {
        group.last_id = l;
        moved_last = true;
    }
    let mut claimed = Vec::new();
    // Counted as Redis counts it: each entry claimed or dropped, each consumer created, and
    // a moved last ID when nothing else carries it.
    let mut dirty = 0;
    for &id in &ids {
        let group = s.groups.get_mut(argv[2]).expect("checked");
        if !s.entries.contains_key(&id) {
            // Deleted or trimmed: it leaves the PEL instead.
            if group.ack(id) {
                dirty += 1;
            }
            continue;
        }
        match group.pel.get(&id) {
            None if !force => continue,
            Some(p) if min_idle > 0 && idle(now, p.delivered_at) < min_idle => continue,
            _ => {}
        }
        if group.claim(id, argv[3], at, retries, !justid, now) {
            ctx.event(ev::STREAM, "xgroup-createconsumer", argv[1]);
            dirty += 1;
        }
        claimed.push(id);
        dirty += 1;
    }
    if moved_last && dirty == 0 {
        dirty = 1;
    }
    reply_claimed(ctx.out, s, &claimed, justid);
    // Journaled as where each named entry now stands (the primary's clock and counts), with a
    // LASTID that moved as the group's position.
    if dirty > 0 {
        record_delivered(s, ctx.client.db, argv[1], argv[2], argv[3], ids, moved_last);
    }
    drop(shard);
    ctx.dirty(dirty);
    Ok(())
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`: claims idle
/// entries from `start` on and answers `[next cursor, claimed, deleted IDs]`.
fn xautoclaim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // How many PEL entries one call may examine, per entry it may claim.
    const ATTEMPTS_FACTOR: i64 = 10;
    let min_idle = int_or(argv[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = interval_start(argv[5])?;
    let (mut count, mut justid) = (100i64, false);
    let mut j = 6;
    while j < argv.len() {
        if is(argv[j], "COUNT") && j + 1 < argv.len() {
            // Redis bounds it so that its per-call buffers cannot overflow.
            count = args::range_long(argv[j + 1], 1, i64::MAX / 16, Some("COUNT must be > 0"))?;
            j += 1;
        } else if is(argv[j], "JUSTID") {
            justid = true;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let now = ctx.now;
    let mut shard = ctx.db().lock_key(argv[1]);
    let s = stream_and_group(&mut shard, argv, now)?;
    let mut attempts = count * ATTEMPTS_FACTOR;
    let (mut claimed, mut deleted) = (Vec::new(), Vec::new());
    let mut created = false;
    // Where the next PEL lookup starts; None once the largest possible ID was examined.
    let mut from = Some(start);
    while attempts > 0 && count > 0 {
        attempts -= 1;
        let group = s.groups.get_mut(argv[2]).expect("checked");
        let Some((id, delivered_at)) = from
            .and_then(|f| group.pel.range(f..).next())
            .map(|(id, p)| (*id, p.delivered_at))
        else {
            break;
        };
        from = id.next();
        if !s.entries.contains_key(&id) {
            group.ack(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        if min_idle > 0 && idle(now, delivered_at) < min_idle {
            continue;
        }
        if group.claim(id, argv[3], now, None, !justid, now) {
            ctx.event(ev::STREAM, "xgroup-createconsumer", argv[1]);
            created = true;
        }
        claimed.push(id);
        count -= 1;
    }
    // The cursor is the first pending entry not examined, 0-0 when none is left.
    let group = &s.groups[argv[2]];
    let cursor = from
        .and_then(|f| group.pel.range(f..).next())
        .map_or(StreamId::default(), |(id, _)| *id);
    let out = &mut *ctx.out;
    out.array(3);
    out.bulk(&cursor.to_bytes());
    reply_claimed(out, s, &claimed, justid);
    out.array(deleted.len());
    for id in &deleted {
        out.bulk(&id.to_bytes());
    }
    // The claimed entries as they now stand, and the deleted ones it dropped.
    let db = ctx.client.db;
    if !claimed.is_empty() {
        record_delivered(
            s,
            db,
            argv[1],
            argv[2],
            argv[3],
            claimed.iter().copied(),
            false,
        );
    }
    acked(db, argv[1], argv[2], &deleted);
    drop(shard);
    ctx.dirty((claimed.len() + deleted.len() + created as usize) as u64);
    Ok(())
}
