//! A dataset as commands: the AOF base Redis writes when `aof-use-rdb-preamble` is `no`. Each
//! key becomes the commands that rebuild it (collections in batches of 64 items, as Redis
//! batches them, so that no single command is huge), then `PEXPIREAT` when it has a TTL. The
//! snapshot walker calls `encode_entry` exactly as it calls the RDB encoder.

use crate::engine::{Entry, Str, Value};

/// Items per command for lists, sets, hashes and sorted sets (Redis's
/// AOF_REWRITE_ITEMS_PER_CMD).
const ITEMS_PER_CMD: usize = 64;

/// Appends one command as a RESP array.
fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    header(out, args.len());
    for a in args {
        bulk(out, a);
    }
}

fn header(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, a: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(a.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(a);
    out.extend_from_slice(b"\r\n");
}

/// `SELECT db`, written before each database's keys.
pub fn select(out: &mut Vec<u8>, db: usize) {
    command(out, &[b"SELECT", itoa::Buffer::new().format(db).as_bytes()]);
}

/// Commands of `name key` followed by `per` arguments per item, `ITEMS_PER_CMD` items each.
fn batched<I, F>(out: &mut Vec<u8>, name: &[u8], key: &[u8], len: usize, items: I, per: usize, f: F)
where
    I: Iterator,
    F: Fn(&mut Vec<u8>, I::Item),
{
    let mut left = len;
    let mut in_cmd = 0;
    for item in items {
        if in_cmd == 0 {
            let n = left.min(ITEMS_PER_CMD);
            header(out, 2 + n * per);
            bulk(out, name);
            bulk(out, key);
            in_cmd = n;
            left -= n;
        }
        f(out, item);
        in_cmd -= 1;
    }
}

/// Appends the commands that rebuild one key.
pub fn encode_entry(key: &[u8], e: &Entry, out: &mut Vec<u8>) {
    match &e.value {
        Value::Str(s) => match s {
            Str::Int(n) => command(
                out,
                &[b"SET", key, itoa::Buffer::new().format(*n).as_bytes()],
            ),
            _ => command(out, &[b"SET", key, s.bytes().expect("not an integer")]),
        },
        Value::List(l) => batched(out, b"RPUSH", key, l.len(), l.iter(), 1, |o, x| bulk(o, x)),
        Value::Set(s) => batched(
            out,
            b"SADD",
            key,
            s.len(),
            s.members().into_iter(),
            1,
            |o, m| bulk(o, &m),
        ),
        Value::Hash(h) => batched(out, b"HMSET", key, h.len(), h.iter(), 2, |o, (f, v)| {
            bulk(o, f);
            bulk(o, v);
        }),
        Value::ZSet(z) => batched(out, b"ZADD", key, z.len(), z.iter(), 2, |o, (m, score)| {
            bulk(o, crate::protocol::reply::format_double(score).as_bytes());
            bulk(o, m);
        }),
        Value::Stream(s) => stream(out, key, s),
    }
    if e.expire_at != 0 {
        let at = itoa::Buffer::new().format(e.expire_at).as_bytes().to_vec();
        command(out, &[b"PEXPIREAT", key, &at]);
    }
}

/// A stream: its entries, then its IDs (XSETID), then each group, its consumers and pending
/// entries (claimed as they were: owner, delivery time and count).
fn stream(out: &mut Vec<u8>, key: &[u8], s: &crate::engine::stream::Stream) {
    let num = |n: u64| itoa::Buffer::new().format(n).as_bytes().to_vec();
    if s.is_empty() {
        // An empty stream still exists: created by an entry trimmed away at once.
        command(out, &[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
    }
    for (id, fields) in &s.entries {
        header(out, 3 + 2 * fields.len());
        bulk(out, b"XADD");
        bulk(out, key);
        bulk(out, &id.to_bytes());
        for (f, v) in fields {
            bulk(out, f);
            bulk(out, v);
        }
    }
    let (last, added, deleted) = (
        s.last_id.to_bytes(),
        num(s.entries_added),
        s.max_deleted.to_bytes(),
    );
    command(
        out,
        &[
            b"XSETID",
            key,
            &last,
            b"ENTRIESADDED",
            &added,
            b"MAXDELETEDID",
            &deleted,
        ],
    );
    for (name, g) in &s.groups {
        let read = g.entries_read.map_or_else(|| b"-1".to_vec(), num);
        let gid = g.last_id.to_bytes();
        command(
            out,
            &[b"XGROUP", b"CREATE", key, name, &gid, b"ENTRIESREAD", &read],
        );
        for (cname, c) in &g.consumers {
            if c.pending.is_empty() {
                command(out, &[b"XGROUP", b"CREATECONSUMER", key, name, cname]);
            }
        }
        for (id, p) in &g.pel {
            let (id, at, count) = (id.to_bytes(), num(p.delivered_at), num(p.deliveries));
            command(
                out,
                &[
                    b"XCLAIM",
                    key,
                    name,
                    &p.consumer,
                    b"0",
                    &id,
                    b"TIME",
                    &at,
                    b"RETRYCOUNT",
                    &count,
                    b"JUSTID",
                    b"FORCE",
                ],
            );
        }
    }
}
