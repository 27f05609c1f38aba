//! Effects of the consumer-group commands whose outcome depends on the primary's clock and
//! pending lists (XREADGROUP, XCLAIM, XAUTOCLAIM): each entry a consumer got is recorded as
//! `XCLAIM key group consumer 0 id TIME <delivery ms> RETRYCOUNT <n> FORCE JUSTID LASTID
//! <group's last ID>`, then the group's position as `XGROUP SETID`, so a replica ends with
//! the same pending entries, delivery times and counts, and last-delivered ID. Named entries
//! that are not pending afterwards are recorded as XACK.

use super::reply::{parse, R};
use crate::engine::stream::StreamId;
use crate::engine::{Db, Value};

/// The IDs of the entries in a stream reply: `[[id, fields], ...]` or, with JUSTID, `[id, ...]`.
fn entry_ids<'a>(entries: &R<'a>, out: &mut Vec<&'a [u8]>) {
    if let R::Arr(items) = entries {
        for e in items {
            match e {
                R::Bulk(id) => out.push(id),
                R::Arr(pair) => {
                    if let Some(R::Bulk(id)) = pair.first() {
                        out.push(id);
                    }
                }
                _ => {}
            }
        }
    }
}

fn parse_id(id: &[u8]) -> Option<StreamId> {
    let s = std::str::from_utf8(id).ok()?;
    let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
    Some(StreamId::new(ms.parse().ok()?, seq.parse().ok()?))
}

/// Records what `consumer` of `group` on `key` now holds of `ids`, and the group's position.
pub fn record_delivered(
    keyspace: &Db,
    db: usize,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    ids: &[&[u8]],
    set_position: bool,
) {
    let shard = keyspace.lock_key(key);
    let Some(Value::Stream(s)) = shard.peek(key).map(|e| &e.value) else {
        return;
    };
    let Some(g) = s.groups.get(group) else {
        return;
    };
    let last = g.last_id.to_bytes();
    let mut n = itoa::Buffer::new();
    if g.consumers.contains_key(consumer) {
        crate::engine::effects::journal(db, &[b"XGROUP", b"CREATECONSUMER", key, group, consumer]);
    }
    // Named entries not pending now (NOACK reads, deleted entries a claim dropped) leave the
    // replica's pending list too.
    let mut gone: Vec<&[u8]> = vec![b"XACK", key, group];
    for id in ids {
        let Some(p) = parse_id(id).and_then(|sid| g.pel.get(&sid)) else {
            gone.push(id);
            continue;
        };
        let at = n.format(p.delivered_at).as_bytes().to_vec();
        let count = itoa::Buffer::new().format(p.deliveries).as_bytes().to_vec();
        crate::engine::effects::journal(
            db,
            &[
                b"XCLAIM",
                key,
                group,
                &p.consumer,
                b"0",
                id,
                b"TIME",
                &at,
                b"RETRYCOUNT",
                &count,
                b"FORCE",
                b"JUSTID",
                b"LASTID",
                &last,
            ],
        );
    }
    if gone.len() > 3 {
        crate::engine::effects::journal(db, &gone);
    }
    if set_position {
        match g.entries_read {
            Some(read) => {
                let read = n.format(read).as_bytes().to_vec();
                crate::engine::effects::journal(
                    db,
                    &[
                        b"XGROUP",
                        b"SETID",
                        key,
                        group,
                        &last,
                        b"ENTRIESREAD",
                        &read,
                    ],
                );
            }
            None => crate::engine::effects::journal(db, &[b"XGROUP", b"SETID", key, group, &last]),
        }
    }
}

/// XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...
pub fn xreadgroup(keyspace: &Db, db: usize, argv: &[&[u8]], reply: &[u8]) {
    let (Some(group), Some(consumer)) = (argv.get(2), argv.get(3)) else {
        return;
    };
    let Some(at) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"streams")) else {
        return;
    };
    let n = (argv.len() - at - 1) / 2;
    let keys = &argv[at + 1..at + 1 + n];
    // The reply pairs each key with its entries: [[key, entries], ...], or a RESP3 map.
    let mut per_key: Vec<(&[u8], Vec<&[u8]>)> = Vec::new();
    match parse(reply) {
        Some(R::Arr(items)) => {
            let mut i = 0;
            while i < items.len() {
                match &items[i] {
                    R::Arr(pair) => {
                        if let (Some(R::Bulk(k)), Some(entries)) = (pair.first(), pair.get(1)) {
                            let mut ids = Vec::new();
                            entry_ids(entries, &mut ids);
                            per_key.push((k, ids));
                        }
                        i += 1;
                    }
                    // RESP3 map flattened: key, entries, key, entries...
                    R::Bulk(k) => {
                        let mut ids = Vec::new();
                        if let Some(entries) = items.get(i + 1) {
                            entry_ids(entries, &mut ids);
                        }
                        per_key.push((k, ids));
                        i += 2;
                    }
                    _ => i += 1,
                }
            }
        }
        _ => return, // nothing read (a timeout, or blocked: recorded when served)
    }
    for (k, ids) in per_key {
        if keys.contains(&k) {
            record_delivered(keyspace, db, k, group, consumer, &ids, true);
        }
    }
}

/// XCLAIM key group consumer min-idle id... [options]: where each named entry now stands
/// (claimed, or dropped from the pending list because it was deleted).
pub fn xclaim(keyspace: &Db, db: usize, argv: &[&[u8]], set_position: bool) {
    let ids: Vec<&[u8]> = argv[5..]
        .iter()
        .copied()
        .take_while(|a| parse_id(a).is_some())
        .collect();
    if !ids.is_empty() {
        record_delivered(keyspace, db, argv[1], argv[2], argv[3], &ids, set_position);
    }
}

/// XAUTOCLAIM key group consumer min-idle start [COUNT n] [JUSTID]: the entries it claimed,
/// and the deleted ones it dropped from the pending list (recorded as XACK).
pub fn xautoclaim(keyspace: &Db, db: usize, argv: &[&[u8]], reply: &[u8]) {
    let Some(R::Arr(parts)) = parse(reply) else {
        return;
    };
    let mut ids = Vec::new();
    if let Some(claimed) = parts.get(1) {
        entry_ids(claimed, &mut ids);
    }
    if !ids.is_empty() {
        record_delivered(keyspace, db, argv[1], argv[2], argv[3], &ids, false);
    }
    let mut deleted = Vec::new();
    if let Some(d) = parts.get(2) {
        entry_ids(d, &mut deleted);
    }
    if !deleted.is_empty() {
        let mut args: Vec<&[u8]> = vec![b"XACK", argv[1], argv[2]];
        args.extend(deleted);
        crate::engine::effects::journal(db, &args);
    }
}
