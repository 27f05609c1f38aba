//! Effects of the consumer-group commands whose outcome depends on the primary's clock and
//! pending lists (XREADGROUP, XCLAIM, XAUTOCLAIM): each entry a consumer got is recorded as
//! `XCLAIM key group consumer 0 id TIME <delivery ms> RETRYCOUNT <n> FORCE JUSTID LASTID
//! <group's last ID>`, then the group's position as `XGROUP SETID`, so a replica ends with
//! the same pending entries, delivery times and counts, and last-delivered ID. Named entries
//! that are not pending afterwards are recorded as XACK. The handlers call it with the stream
//! as the command left it and the IDs they handed out.

use crate::engine::effects::{journal, journaling};
use crate::engine::stream::{Stream, StreamId};

/// Records what `consumer` of `group` in `s` (at `key`) now holds of `ids`, and with
/// `set_position` the group's position.
pub fn record_delivered(
    s: &Stream,
    db: usize,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    ids: impl IntoIterator<Item = StreamId>,
    set_position: bool,
) {
    if !journaling() {
        return;
    }
    let Some(g) = s.groups.get(group) else {
        return;
    };
    let last = g.last_id.to_bytes();
    if g.consumers.contains_key(consumer) {
        journal(db, &[b"XGROUP", b"CREATECONSUMER", key, group, consumer]);
    }
    // Named entries not pending now (NOACK reads, deleted entries a claim dropped) leave the
    // replica's pending list too.
    let mut gone = Vec::new();
    let mut n = itoa::Buffer::new();
    for id in ids {
        let Some(p) = g.pel.get(&id) else {
            gone.push(id);
            continue;
        };
        let at = n.format(p.delivered_at).as_bytes().to_vec();
        let count = itoa::Buffer::new().format(p.deliveries).as_bytes().to_vec();
        let id = id.to_bytes();
        journal(
            db,
            &[
                b"XCLAIM",
                key,
                group,
                &p.consumer,
                b"0",
                &id,
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
    acked(db, key, group, &gone);
    if set_position {
        match g.entries_read {
            Some(read) => {
                let read = n.format(read).as_bytes().to_vec();
                let args: [&[u8]; 7] = [
                    b"XGROUP",
                    b"SETID",
                    key,
                    group,
                    &last,
                    b"ENTRIESREAD",
                    &read,
                ];
                journal(db, &args);
            }
            None => journal(db, &[b"XGROUP", b"SETID", key, group, &last]),
        }
    }
}

/// Records entries that left `group`'s pending list, as XACK.
pub fn acked(db: usize, key: &[u8], group: &[u8], ids: &[StreamId]) {
    if ids.is_empty() || !journaling() {
        return;
    }
    let ids: Vec<Vec<u8>> = ids.iter().map(|id| id.to_bytes()).collect();
    let mut args: Vec<&[u8]> = vec![b"XACK", key, group];
    args.extend(ids.iter().map(Vec::as_slice));
    journal(db, &args);
}
