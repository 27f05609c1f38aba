//! Which effects a write records. Most writes replay exactly as sent; those whose outcome
//! depends on the clock, on chance or on blocking are recorded as what they did, read from the
//! key's state after the command or from the reply it gave:
//!
//! - relative and absolute TTLs (EXPIRE, SET EX, SETEX, GETEX EX, ...) → `PEXPIREAT` / `SET ...
//!   PXAT` with the absolute time, or `DEL` when the time had passed;
//! - INCRBYFLOAT → `SET key value KEEPTTL`, HINCRBYFLOAT → `HSET key field value` (float
//!   formatting must not differ between primary and replica);
//! - SPOP → `SREM` of the members popped;
//! - the blocking pops → their non-blocking forms on the key that served them;
//! - XADD with `*` → the ID given; approximate stream trimming (`~`) → exact `MAXLEN =`;
//! - RESTORE → RESTORE with an absolute TTL (ABSTTL);
//! - consumer-group reads and claims → what each consumer holds (see `groups`).

use crate::engine::{Db, Value};

/// Records the effects of a successful write `argv` (named `name`) that ran in database `db`
/// and replied `reply`.
pub fn record(keyspace: &Db, db: usize, name: &str, argv: &[&[u8]], reply: &[u8]) {
    let push = |args: &[&[u8]]| super::push(db, args);
    let key = argv.get(1).copied().unwrap_or_default();
    match name {
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            if reply != b":0\r\n" {
                ttl_state(keyspace, db, key, false);
            }
        }
        "getex" if argv.len() > 2 => ttl_state(keyspace, db, key, true),
        "getex" => {}
        "setex" | "psetex" => string_state(keyspace, db, key, false),
        "set" if argv[3..].iter().any(|a| is_expire_option(a)) => {
            string_state(keyspace, db, key, false)
        }
        "incrbyfloat" => string_state(keyspace, db, key, true),
        "hincrbyfloat" => {
            let field = argv[2];
            let shard = keyspace.lock_key(key);
            if let Some(Value::Hash(h)) = shard.peek(key).map(|e| &e.value) {
                if let Some(v) = h.get(field) {
                    push(&[b"HSET", key, field, v]);
                }
            }
        }
        "spop" => {
            let members = match parse(reply) {
                Some(R::Bulk(m)) => vec![m],
                Some(R::Arr(items)) => items.iter().filter_map(R::bulk).collect(),
                _ => return,
            };
            if !members.is_empty() {
                let mut args: Vec<&[u8]> = vec![b"SREM", key];
                args.extend(members);
                push(&args);
            }
        }
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => {
            if let Some(R::Arr(items)) = parse(reply) {
                if let Some(k) = items.first().and_then(R::bulk) {
                    let pop: &[u8] = match name {
                        "blpop" => b"LPOP",
                        "brpop" => b"RPOP",
                        "bzpopmin" => b"ZPOPMIN",
                        _ => b"ZPOPMAX",
                    };
                    push(&[pop, k]);
                }
            }
        }
        "brpoplpush" => {
            if matches!(parse(reply), Some(R::Bulk(_))) {
                push(&[b"RPOPLPUSH", argv[1], argv[2]]);
            }
        }
        "blmove" => {
            if matches!(parse(reply), Some(R::Bulk(_))) {
                push(&[b"LMOVE", argv[1], argv[2], argv[3], argv[4]]);
            }
        }
        "blmpop" | "bzmpop" => {
            // timeout numkeys key... LEFT|RIGHT|MIN|MAX [COUNT n]
            let n: usize = std::str::from_utf8(argv[2])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let Some(dir) = argv.get(3 + n) else { return };
            let pop: &[u8] = match (
                name,
                dir.eq_ignore_ascii_case(b"left") || dir.eq_ignore_ascii_case(b"min"),
            ) {
                ("blmpop", true) => b"LPOP",
                ("blmpop", false) => b"RPOP",
                (_, true) => b"ZPOPMIN",
                (_, false) => b"ZPOPMAX",
            };
            popped_from(db, pop, reply);
        }
        "restore" | "restore-asking" => restore(keyspace, db, argv),
        "xadd" => xadd(keyspace, db, argv, reply),
        "xreadgroup" => super::groups::xreadgroup(keyspace, db, argv, reply),
        "xclaim" => super::groups::xclaim(keyspace, db, argv, reply),
        "xautoclaim" => super::groups::xautoclaim(keyspace, db, argv, reply),
        "xtrim" => {
            if argv.iter().any(|a| a == b"~") {
                if reply != b":0\r\n" {
                    let len = stream_len(keyspace, key);
                    push(&[
                        b"XTRIM",
                        key,
                        b"MAXLEN",
                        b"=",
                        itoa::Buffer::new().format(len).as_bytes(),
                    ]);
                }
            } else {
                push(argv);
            }
        }
        _ => push(argv),
    }
}

/// A served multi-pop (`reply` is `[key, [items]]`): `pop key count`.
pub fn popped_from(db: usize, pop: &[u8], reply: &[u8]) {
    if let Some(R::Arr(items)) = parse(reply) {
        if let (Some(k), Some(R::Arr(popped))) = (items.first().and_then(R::bulk), items.get(1)) {
            let n = itoa::Buffer::new().format(popped.len()).as_bytes().to_vec();
            super::push(db, &[pop, k, &n]);
        }
    }
}

fn is_expire_option(a: &[u8]) -> bool {
    [&b"ex"[..], b"px", b"exat", b"pxat"]
        .iter()
        .any(|o| a.eq_ignore_ascii_case(o))
}

/// The key's TTL as it now stands: PEXPIREAT, PERSIST (`persist`: GETEX PERSIST) or DEL.
fn ttl_state(keyspace: &Db, db: usize, key: &[u8], persist: bool) {
    let shard = keyspace.lock_key(key);
    match shard.peek(key) {
        None => super::push(db, &[b"DEL", key]),
        Some(e) if e.expire_at != 0 => {
            let at = itoa::Buffer::new().format(e.expire_at).as_bytes().to_vec();
            super::push(db, &[b"PEXPIREAT", key, &at]);
        }
        Some(_) if persist => super::push(db, &[b"PERSIST", key]),
        Some(_) => {}
    }
}

/// The string at `key` as it now stands, with its absolute TTL (or KEEPTTL, for a command that
/// cannot change the TTL); DEL if it is gone.
fn string_state(keyspace: &Db, db: usize, key: &[u8], keep_ttl: bool) {
    let shard = keyspace.lock_key(key);
    match shard.peek(key) {
        None => super::push(db, &[b"DEL", key]),
        Some(e) => {
            let Value::Str(s) = &e.value else { return };
            let mut tmp = itoa::Buffer::new();
            let v = s.as_bytes(&mut tmp);
            if keep_ttl {
                super::push(db, &[b"SET", key, v, b"KEEPTTL"]);
            } else if e.expire_at != 0 {
                let at = itoa::Buffer::new().format(e.expire_at).as_bytes().to_vec();
                super::push(db, &[b"SET", key, v, b"PXAT", &at]);
            } else {
                super::push(db, &[b"SET", key, v]);
            }
        }
    }
}

fn stream_len(keyspace: &Db, key: &[u8]) -> usize {
    let shard = keyspace.lock_key(key);
    match shard.peek(key).map(|e| &e.value) {
        Some(Value::Stream(s)) => s.len(),
        _ => 0,
    }
}

/// RESTORE with its TTL made absolute (a relative TTL would count from when the replica
/// applies it); DEL if the key is gone (an absolute TTL in the past).
fn restore(keyspace: &Db, db: usize, argv: &[&[u8]]) {
    let key = argv[1];
    let at = {
        let shard = keyspace.lock_key(key);
        match shard.peek(key) {
            None => return super::push(db, &[b"DEL", key]),
            Some(e) => e.expire_at,
        }
    };
    let at = itoa::Buffer::new().format(at).as_bytes().to_vec();
    let mut args: Vec<&[u8]> = vec![b"RESTORE", key, &at, argv[3], b"ABSTTL"];
    let mut i = 4;
    while i < argv.len() {
        let a = argv[i];
        if a.eq_ignore_ascii_case(b"replace") {
            args.push(a);
        } else if a.eq_ignore_ascii_case(b"idletime") || a.eq_ignore_ascii_case(b"freq") {
            args.extend(argv.get(i..i + 2).unwrap_or_default());
            i += 1;
        }
        i += 1;
    }
    super::push(db, &args);
}

/// XADD as it turned out: the ID it gave, and exact trimming to the length now held.
fn xadd(keyspace: &Db, db: usize, argv: &[&[u8]], reply: &[u8]) {
    let Some(R::Bulk(id)) = parse(reply) else {
        return; // NOMKSTREAM on a missing stream: nothing added.
    };
    let key = argv[1];
    let mut i = 2;
    let mut nomkstream = false;
    let mut trimmed = false;
    while i < argv.len() {
        let a = argv[i];
        if a.eq_ignore_ascii_case(b"nomkstream") {
            nomkstream = true;
            i += 1;
        } else if a.eq_ignore_ascii_case(b"maxlen") || a.eq_ignore_ascii_case(b"minid") {
            trimmed = true;
            i += 1;
            if argv.get(i).is_some_and(|a| *a == b"=" || *a == b"~") {
                i += 1;
            }
            i += 1;
        } else if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else {
            break;
        }
    }
    // argv[i] is the requested ID, the field-value pairs follow.
    let len = itoa::Buffer::new()
        .format(stream_len(keyspace, key))
        .as_bytes()
        .to_vec();
    let mut args: Vec<&[u8]> = vec![b"XADD", key];
    if nomkstream {
        args.push(b"NOMKSTREAM");
    }
    if trimmed {
        args.extend([&b"MAXLEN"[..], b"=", &len]);
    }
    args.push(id);
    args.extend(&argv[(i + 1).min(argv.len())..]);
    super::push(db, &args);
}

/// A reply, as far as the rewrites read one.
#[derive(Debug, PartialEq)]
pub enum R<'a> {
    Bulk(&'a [u8]),
    Nil,
    Arr(Vec<R<'a>>),
    Other,
}

impl<'a> R<'a> {
    fn bulk(&self) -> Option<&'a [u8]> {
        match self {
            R::Bulk(b) => Some(b),
            _ => None,
        }
    }
}

/// Parses the first reply in `buf` (RESP2 or RESP3).
pub fn parse(buf: &[u8]) -> Option<R<'_>> {
    parse_at(buf, &mut 0)
}

fn parse_at<'a>(buf: &'a [u8], pos: &mut usize) -> Option<R<'a>> {
    let rest = buf.get(*pos..)?;
    let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
    let (kind, line) = (rest[0], &rest[1..line_end]);
    *pos += line_end + 2;
    let num = || -> Option<i64> { std::str::from_utf8(line).ok()?.parse().ok() };
    match kind {
        b'$' => {
            let n = num()?;
            if n < 0 {
                return Some(R::Nil);
            }
            let start = *pos;
            let end = start + n as usize;
            *pos = end + 2;
            Some(R::Bulk(buf.get(start..end)?))
        }
        b'*' | b'~' | b'>' => {
            let n = num()?;
            if n < 0 {
                return Some(R::Nil);
            }
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                items.push(parse_at(buf, pos)?);
            }
            Some(R::Arr(items))
        }
        b'%' => {
            let n = num()?;
            let mut items = Vec::with_capacity(2 * n as usize);
            for _ in 0..2 * n {
                items.push(parse_at(buf, pos)?);
            }
            Some(R::Arr(items))
        }
        b'_' => Some(R::Nil),
        _ => Some(R::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replies() {
        assert_eq!(parse(b"$3\r\nabc\r\n"), Some(R::Bulk(b"abc")));
        assert_eq!(parse(b"$-1\r\n"), Some(R::Nil));
        assert_eq!(parse(b"_\r\n"), Some(R::Nil));
        assert_eq!(
            parse(b"*2\r\n$1\r\nk\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
            Some(R::Arr(vec![
                R::Bulk(b"k"),
                R::Arr(vec![R::Bulk(b"a"), R::Bulk(b"b")])
            ]))
        );
        assert_eq!(
            parse(b"~2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
            Some(R::Arr(vec![R::Bulk(b"x"), R::Bulk(b"y")]))
        );
        assert_eq!(parse(b":1\r\n"), Some(R::Other));
        // Truncated input is no reply.
        assert_eq!(parse(b"*2\r\n$1\r\nk\r\n"), None);
    }
}
