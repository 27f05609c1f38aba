//! Stream consumer groups: XGROUP, XREADGROUP, XACK, XPENDING. Claiming entries for another
//! consumer (XCLAIM, XAUTOCLAIM) is in `stream_claims`.

use super::args::{self, is};
use super::keyspec::{self as ks, KeySpec as K, ACCESS, DELETE, INSERT, RO, RW, UPDATE};
use super::streams::{parse_id, read_reply_len, reply_stream_read, stream_head};
use super::table::{CommandSpec as C, BLOCKING, FAST, WRITE};
use super::{CmdError, CmdResult, Ctx, SYNTAX};
use crate::clients::blocking::{BlockOp, GroupRead};
use crate::engine::notify as ev;
use crate::engine::stream::{Fields, Group, Pending, Stream, StreamId};
use crate::engine::{Entry, Value};
use crate::journal::groups::record_delivered;
use crate::protocol::Reply;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::container("xgroup", XGROUP)
        .doc("stream", "5.0.0", "", "A container for consumer groups commands."),
    C::new("xreadgroup", -7, WRITE | BLOCKING, xreadgroup).keys(&[K::streams(4, RO | ACCESS)]).getkeys(ks::xread)
        .doc("stream", "5.0.0", "GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise."),
    C::new("xack", -4, WRITE | FAST, xack).keys(&[K::at(1, RW | UPDATE)])
        .doc("stream", "5.0.0", "key group id [id ...]", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream."),
    C::new("xpending", -3, super::table::READONLY, xpending).keys(&[K::at(1, RO | ACCESS)])
        .doc("stream", "5.0.0", "key group [[IDLE min-idle-time] start end count [consumer]]", "Returns the information and entries from a stream consumer group's pending entries list."),
];

#[rustfmt::skip]
static XGROUP: &[C] = &[
    C::new("create", -5, WRITE, xgroup_create).keys(&[K::at(2, RW | INSERT)])
        .doc("stream", "5.0.0", "key group <id | $> [MKSTREAM] [ENTRIESREAD entries-read]", "Creates a consumer group."),
    C::new("setid", -5, WRITE, xgroup_setid).keys(&[K::at(2, RW | UPDATE)])
        .doc("stream", "5.0.0", "key group <id | $> [ENTRIESREAD entries-read]", "Sets the last-delivered ID of a consumer group."),
    C::new("destroy", 4, WRITE, xgroup_destroy).keys(&[K::at(2, RW | DELETE)])
        .doc("stream", "5.0.0", "key group", "Destroys a consumer group."),
    C::new("createconsumer", 5, WRITE, xgroup_createconsumer).keys(&[K::at(2, RW | INSERT)])
        .doc("stream", "6.2.0", "key group consumer", "Creates a consumer in a consumer group."),
    C::new("delconsumer", 5, WRITE, xgroup_delconsumer).keys(&[K::at(2, RW | DELETE)])
        .doc("stream", "5.0.0", "key group consumer", "Deletes a consumer from a consumer group."),
];

pub fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// The stream at `argv[1]` with the group `argv[2]` (XPENDING, XCLAIM, XAUTOCLAIM): WRONGTYPE,
/// or NOGROUP when either is missing.
pub fn stream_and_group<'s>(
    shard: &'s mut crate::engine::Shard,
    argv: &[&[u8]],
    now: u64,
) -> Result<&'s mut Stream, CmdError> {
    let s = match shard.get_mut(argv[1], now) {
        Some(e) => Some(e.value.stream_mut().ok_or(super::WRONGTYPE)?),
        None => None,
    };
    s.filter(|s| s.groups.contains_key(argv[2])).ok_or_else(|| {
        CmdError::owned(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            String::from_utf8_lossy(argv[1]),
            String::from_utf8_lossy(argv[2])
        ))
    })
}

/// Parses `[MKSTREAM] [ENTRIESREAD n]` from `argv[5..]`.
fn group_opts(argv: &[&[u8]], create: bool) -> Result<(bool, Option<i64>), CmdError> {
    let (mut mk, mut read) = (false, None);
    let mut i = 5;
    while i < argv.len() {
        if create && is(argv[i], "MKSTREAM") {
            mk = true;
            i += 1;
        } else if is(argv[i], "ENTRIESREAD") && i + 1 < argv.len() {
            let n = args::int(argv[i + 1])?;
            if n < -1 {
                return Err(CmdError::new(
                    "ERR value for ENTRIESREAD must be positive or -1",
                ));
            }
            read = Some(n);
            i += 2;
        } else {
            return Err(CmdError::owned(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
                String::from_utf8_lossy(argv[1])
            )));
        }
    }
    Ok((mk, read))
}

const NEEDS_KEY: CmdError = CmdError::new("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");

/// The stream at `key` for an XGROUP subcommand, created for CREATE ... MKSTREAM.
fn group_stream<'s>(
    shard: &'s mut crate::engine::Shard,
    key: &[u8],
    now: u64,
    mk: bool,
) -> Result<&'s mut Stream, CmdError> {
    if shard.get_mut(key, now).is_none() {
        if !mk {
            return Err(NEEDS_KEY);
        }
        shard.insert(key, Entry::new(Value::new_stream()));
    }
    shard
        .get_mut(key, now)
        .expect("present")
        .value
        .stream_mut()
        .ok_or(super::WRONGTYPE)
}

fn start_id(s: &Stream, a: &[u8]) -> Result<StreamId, CmdError> {
    if a == b"$" {
        Ok(s.last_id)
    } else {
        parse_id(a, 0, true)
    }
}

fn xgroup_create(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mk, read) = group_opts(argv, true)?;
    if argv.len() > 8 {
        return Err(SYNTAX);
    }
    let mut shard = ctx.db().lock_key(argv[2]);
    // The ID is checked before the stream is made.
    if argv[4] != b"$" {
        parse_id(argv[4], 0, true)?;
    }
    let created = mk && shard.get_mut(argv[2], ctx.now).is_none();
    let s = group_stream(&mut shard, argv[2], ctx.now, mk)?;
    // A stream made for the group is a new key (the group itself is no change to its value).
    if created {
        ctx.touched(argv[2]);
    }
    let id = start_id(s, argv[4])?;
    if s.groups.contains_key(argv[3]) {
        return Err(CmdError::new(
            "BUSYGROUP Consumer Group name already exists",
        ));
    }
    let entries_read = match read {
        Some(n) if n >= 0 => Some(n as u64),
        _ => None,
    };
    s.groups.insert(
        argv[3].into(),
        Group {
            last_id: id,
            entries_read,
            ..Default::default()
        },
    );
    ctx.event(ev::STREAM, "xgroup-create", argv[2]);
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

/// The group for XGROUP SETID/CREATECONSUMER/DELCONSUMER: the key must exist.
fn existing_group<'s>(
    shard: &'s mut crate::engine::Shard,
    argv: &[&[u8]],
    now: u64,
) -> Result<&'s mut Stream, CmdError> {
    let s = group_stream(shard, argv[2], now, false)?;
    if !s.groups.contains_key(argv[3]) {
        return Err(nogroup(argv[2], argv[3]));
    }
    Ok(s)
}

fn xgroup_setid(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (_, read) = group_opts(argv, false)?;
    let mut shard = ctx.db().lock_key(argv[2]);
    let s = existing_group(&mut shard, argv, ctx.now)?;
    let id = if argv[4] == b"$" {
        s.last_id
    } else {
        parse_id(argv[4], 0, false)?
    };
    let g = s.groups.get_mut(argv[3]).expect("checked");
    g.last_id = id;
    g.entries_read = match read {
        Some(n) if n >= 0 => Some(n as u64),
        _ => None,
    };
    ctx.event(ev::STREAM, "xgroup-setid", argv[2]);
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

fn xgroup_destroy(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[2]);
    let s = group_stream(&mut shard, argv[2], ctx.now, false)?;
    let gone = s.groups.remove(argv[3]).is_some();
    if gone {
        ctx.event(ev::STREAM, "xgroup-destroy", argv[2]);
        ctx.dirty(1);
        // Readers blocked on the group learn that it is gone.
        ctx.ready(argv[2]);
    }
    ctx.out.int(gone as i64);
    Ok(())
}

fn xgroup_createconsumer(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let mut shard = ctx.db().lock_key(argv[2]);
    let s = existing_group(&mut shard, argv, now)?;
    let (_, created) = s
        .groups
        .get_mut(argv[3])
        .expect("checked")
        .consumer(argv[4], now);
    if created {
        ctx.event(ev::STREAM, "xgroup-createconsumer", argv[2]);
        ctx.dirty(1);
    }
    ctx.out.int(created as i64);
    Ok(())
}

fn xgroup_delconsumer(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[2]);
    let s = existing_group(&mut shard, argv, ctx.now)?;
    let g = s.groups.get_mut(argv[3]).expect("checked");
    let pending = match g.consumers.remove(argv[4]) {
        Some(c) => {
            for id in &c.pending {
                g.pel.remove(id);
            }
            ctx.event(ev::STREAM, "xgroup-delconsumer", argv[2]);
            ctx.dirty(1);
            c.pending.len()
        }
        None => 0,
    };
    ctx.out.int(pending as i64);
    Ok(())
}

/// Delivers up to `count` (0: all) entries after the group's last ID to `consumer`, adding
/// them to the pending lists unless `noack`. Returns the entries delivered, and whether the
/// consumer was created for them (never for an empty batch).
pub fn deliver_new(
    s: &mut Stream,
    group: &[u8],
    consumer: &[u8],
    count: usize,
    noack: bool,
    now: u64,
) -> Option<(Vec<(StreamId, Fields)>, bool)> {
    let last = s.groups.get(group)?.last_id;
    let start = last.next()?;
    let take = if count == 0 { usize::MAX } else { count };
    let batch: Vec<(StreamId, Fields)> = s
        .entries
        .range(start..)
        .take(take)
        .map(|(id, f)| (*id, f.clone()))
        .collect();
    // The group's read count, as Redis keeps it: counted while no deleted entry lies ahead,
    // otherwise worked out again where possible.
    let reads: Vec<Option<u64>> = {
        let mut read = s.groups[group].entries_read;
        batch
            .iter()
            .map(|(id, _)| {
                read = match read {
                    Some(n) if !s.has_tombstones_from(*id) => Some(n + 1),
                    _ => s.entries_up_to(*id),
                };
                read
            })
            .collect()
    };
    let g = s.groups.get_mut(group).expect("checked");
    // As in Redis, a read that finds nothing new does not create the consumer.
    let mut created = false;
    if !batch.is_empty() {
        let (c, new) = g.consumer(consumer, now);
        c.seen = now;
        created = new;
    }
    for ((id, _), read) in batch.iter().zip(reads) {
        g.last_id = *id;
        g.entries_read = read;
        if !noack {
            // An entry pending for another consumer moves to this one.
            if let Some(prev) = g.pel.get(id).map(|p| p.consumer.clone()) {
                if let Some(c) = g.consumers.get_mut(&prev[..]) {
                    c.pending.remove(id);
                }
            }
            g.pel.insert(
                *id,
                Pending {
                    consumer: consumer.into(),
                    delivered_at: now,
                    deliveries: 1,
                },
            );
            g.consumer(consumer, now).0.pending.insert(*id);
        }
    }
    Some((batch, created))
}

fn xreadgroup(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = super::streams::parse_read(argv, true, ctx.client.in_script)?;
    let (count, block, noack, streams_at) = (r.count, r.block, r.noack, r.streams_at);
    let Some((group, consumer)) = r.group else {
        return Err(CmdError::new("ERR Missing GROUP option for XREADGROUP"));
    };
    let n = (argv.len() - streams_at) / 2;
    let keys = &argv[streams_at..streams_at + n];
    let ids = &argv[streams_at + n..];
    // Every key and group must exist, and `$` makes no sense here.
    let mut parsed = Vec::with_capacity(n);
    for (k, a) in keys.iter().zip(ids) {
        let mut shard = ctx.db().lock_key(k);
        let ok = match shard.get_mut(k, ctx.now) {
            Some(e) => e
                .value
                .stream_mut()
                .ok_or(super::WRONGTYPE)?
                .groups
                .contains_key(group),
            None => false,
        };
        if !ok {
            return Err(CmdError::owned(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(group)
            )));
        }
        parsed.push(match *a {
            b">" => None,
            b"$" => return Err(CmdError::new("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")),
            _ => Some(parse_id(a, 0, true)?),
        });
    }
    let mut reply = Reply::new();
    reply.resp3 = ctx.out.resp3;
    let mut found = 0;
    // Counted as Redis counts it: each consumer created, each stream served.
    let mut dirty = 0;
    for (k, id) in keys.iter().zip(&parsed) {
        let mut shard = ctx.db().lock_key(k);
        let s = shard
            .get_mut(k, ctx.now)
            .and_then(|e| e.value.stream_mut())
            .expect("checked above");
        match id {
            None => {
                let (batch, created) =
                    deliver_new(s, group, consumer, count, noack, ctx.now).unwrap_or_default();
                if created {
                    ctx.event(ev::STREAM, "xgroup-createconsumer", k);
                    dirty += 1;
                }
                if !batch.is_empty() {
                    dirty += 1;
                    found += 1;
                    reply_stream_read(&mut reply, k, batch.iter().map(|(id, f)| (id, f)));
                    let ids = batch.iter().map(|(id, _)| *id);
                    record_delivered(s, ctx.client.db, k, group, consumer, ids, true);
                }
            }
            Some(after) => {
                // This consumer's history: its pending entries after the ID.
                let now = ctx.now;
                let g = s.groups.get_mut(group).expect("checked");
                let (c, created) = g.consumer(consumer, now);
                c.seen = now;
                if created {
                    ctx.event(ev::STREAM, "xgroup-createconsumer", k);
                    dirty += 1;
                }
                dirty += 1;
                let take = if count == 0 { usize::MAX } else { count };
                let ids: Vec<StreamId> = match after.next() {
                    Some(start) => g.consumers[consumer]
                        .pending
                        .range(start..)
                        .take(take)
                        .copied()
                        .collect(),
                    None => Vec::new(),
                };
                found += 1;
                stream_head(&mut reply, k);
                reply.array(ids.len());
                for &id in &ids {
                    reply.array(2);
                    reply.bulk(&id.to_bytes());
                    match s.entries.get(&id) {
                        Some(fields) => {
                            reply.array(fields.len() * 2);
                            for (f, v) in fields {
                                reply.bulk(f);
                                reply.bulk(v);
                            }
                            if let Some(p) =
                                s.groups.get_mut(group).and_then(|g| g.pel.get_mut(&id))
                            {
                                p.delivered_at = now;
                                p.deliveries += 1;
                            }
                        }
                        None => reply.null_array(),
                    }
                }
                record_delivered(s, ctx.client.db, k, group, consumer, ids, true);
            }
        }
    }
    ctx.dirty(dirty);
    match super::streams::finish_read(ctx, found, &reply, block) {
        None => Ok(()),
        Some(timeout) => {
            let op = BlockOp::XReadGroup(GroupRead {
                group: group.into(),
                consumer: consumer.into(),
                count,
                noack,
            });
            super::blocking::block_on(ctx, keys, op, timeout)
        }
    }
}

/// Serves a blocked XREADGROUP from `key` (called by `blocking`). Ok(false) if nothing new.
pub fn serve_group_read(
    s: &mut Stream,
    key: &[u8],
    read: &GroupRead,
    at: super::At,
    out: &mut Reply,
) -> Result<bool, CmdError> {
    let now = at.now;
    let group = &read.group[..];
    if !s.groups.contains_key(group) {
        return Err(CmdError::new(
            "NOGROUP the consumer group this client was blocked on no longer exists",
        ));
    }
    // The group exists (checked above), so `None` only means no ID is left after its last.
    let (batch, created) =
        deliver_new(s, group, &read.consumer, read.count, read.noack, now).unwrap_or_default();
    if created {
        crate::engine::effects::event(at.db, ev::STREAM, "xgroup-createconsumer", key);
        at.dirty(1);
    }
    if batch.is_empty() {
        return Ok(false);
    }
    at.dirty(1);
    let ids = batch.iter().map(|(id, _)| *id);
    record_delivered(s, at.db, key, group, &read.consumer, ids, true);
    read_reply_len(out, 1);
    reply_stream_read(out, key, batch.iter().map(|(id, f)| (id, f)));
    Ok(true)
}

fn xack(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let Some(e) = shard.get_mut(argv[1], ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let s = e.value.stream_mut().ok_or(super::WRONGTYPE)?;
    let Some(g) = s.groups.get_mut(argv[2]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let ids = argv[3..]
        .iter()
        .map(|a| parse_id(a, 0, true))
        .collect::<Result<Vec<_>, _>>()?;
    let n = ids.iter().filter(|id| g.ack(**id)).count();
    ctx.dirty(n as u64);
    ctx.out.int(n as i64);
    Ok(())
}

fn xpending(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() != 3 && !(6..=9).contains(&argv.len()) {
        return Err(SYNTAX);
    }
    let mut range = None;
    if argv.len() >= 6 {
        let mut at = 3;
        let mut min_idle = 0i64;
        if is(argv[3], "IDLE") {
            min_idle = args::int(argv[4])?;
            if argv.len() < 8 {
                return Err(SYNTAX);
            }
            at = 5;
        }
        let count = args::int(argv[at + 2])?.max(0) as usize;
        let (start, end) = super::streams::interval(argv[at], argv[at + 1])?;
        let consumer = argv.get(at + 3).copied();
        range = Some((min_idle, start, end, count, consumer));
    }
    let now = ctx.now;
    let mut shard = ctx.db().lock_key(argv[1]);
    let g = &stream_and_group(&mut shard, argv, now)?.groups[argv[2]];
    let out = &mut *ctx.out;
    match range {
        None => {
            out.array(4);
            out.int(g.pel.len() as i64);
            match (g.pel.keys().next(), g.pel.keys().next_back()) {
                (Some(a), Some(b)) => {
                    out.bulk(&a.to_bytes());
                    out.bulk(&b.to_bytes());
                    let per: Vec<(&[u8], usize)> = g
                        .consumers
                        .iter()
                        .filter(|(_, c)| !c.pending.is_empty())
                        .map(|(n, c)| (&n[..], c.pending.len()))
                        .collect();
                    out.array(per.len());
                    for (name, n) in per {
                        out.array(2);
                        out.bulk(name);
                        out.bulk(n.to_string().as_bytes());
                    }
                }
                _ => {
                    out.null();
                    out.null();
                    out.null_array();
                }
            }
        }
        Some((min_idle, start, end, count, consumer)) => {
            let items: Vec<(&StreamId, &Pending)> = if start > end || count == 0 {
                Vec::new()
            } else {
                g.pel
                    .range(start..=end)
                    .filter(|(_, p)| consumer.is_none_or(|c| &p.consumer[..] == c))
                    .filter(|(_, p)| now.saturating_sub(p.delivered_at) as i64 >= min_idle)
                    .take(count)
                    .collect()
            };
            out.array(items.len());
            for (id, p) in items {
                out.array(4);
                out.bulk(&id.to_bytes());
                out.bulk(&p.consumer);
                out.int(now.saturating_sub(p.delivered_at) as i64);
                out.int(p.deliveries as i64);
            }
        }
    }
    Ok(())
}
