//! String commands: GET, SET and friends, counters, ranges, LCS.

use super::args::{self, is};
use super::keyspec::{
    self as ks, KeySpec as K, ACCESS, DELETE, INSERT, OW, RO, RW, UPDATE, VARIABLE_FLAGS,
};
use super::table::{CommandSpec as C, DENYOOM, FAST, READONLY, WRITE};
use super::{CmdError, CmdResult, Ctx, NOT_INT, OVERFLOW, SYNTAX, WRONGTYPE};
use crate::engine::notify as ev;
use crate::engine::{Entry, Shard, Str, Value};
use crate::protocol::Reply;

pub static COMMANDS: &[C] = &[
    C::new("get", 2, READONLY | FAST, get).keys(&[K::at(1, RO | ACCESS)]).doc("string", "1.0.0", "key", "Returns the string value of a key."),
    C::new("set", -3, WRITE | DENYOOM, set).keys(&[K::at(1, RW | ACCESS | UPDATE | VARIABLE_FLAGS)]).getkeys(ks::set).doc(
        "string",
        "1.0.0",
        "key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
    ),
    C::new("setnx", 3, WRITE | DENYOOM | FAST, setnx).keys(&[K::at(1, OW | INSERT)]).doc("string", "1.0.0", "key value", "Set the string value of a key only when the key doesn't exist."),
    C::new("setex", 4, WRITE | DENYOOM, setex).keys(&[K::at(1, OW | UPDATE)]).doc("string", "2.0.0", "key seconds value", "Sets the string value and expiration time of a key."),
    C::new("psetex", 4, WRITE | DENYOOM, psetex).keys(&[K::at(1, OW | UPDATE)]).doc("string", "2.6.0", "key milliseconds value", "Sets both string value and expiration time in milliseconds of a key."),
    C::new("getset", 3, WRITE | DENYOOM | FAST, getset).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc("string", "1.0.0", "key value", "Returns the previous string value of a key after setting it to a new value."),
    C::new("getdel", 2, WRITE | FAST, getdel).keys(&[K::at(1, RW | ACCESS | DELETE)]).doc("string", "6.2.0", "key", "Returns the string value of a key after deleting the key."),
    C::new("getex", -2, WRITE | FAST, getex).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc(
        "string",
        "6.2.0",
        "key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]",
        "Returns the string value of a key after setting its expiration time.",
    ),
    C::new("mget", -2, READONLY | FAST, mget).keys(&[K::rest(1, RO | ACCESS)]).doc("string", "1.0.0", "key [key ...]", "Atomically returns the string values of one or more keys."),
    C::new("mset", -3, WRITE | DENYOOM, mset).keys(&[K::range(1, -1, 2, OW | UPDATE)]).doc("string", "1.0.1", "key value [key value ...]", "Atomically creates or modifies the string values of one or more keys."),
    C::new("msetnx", -3, WRITE | DENYOOM, msetnx).keys(&[K::range(1, -1, 2, OW | INSERT)]).doc("string", "1.0.1", "key value [key value ...]", "Atomically modifies the string values of one or more keys only when all keys don't exist."),
    C::new("append", 3, WRITE | DENYOOM | FAST, append).keys(&[K::at(1, RW | INSERT)]).doc("string", "2.0.0", "key value", "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    C::new("strlen", 2, READONLY | FAST, strlen).keys(&[K::at(1, RO)]).doc("string", "2.2.0", "key", "Returns the length of a string value."),
    C::new("incr", 2, WRITE | DENYOOM | FAST, incr).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc("string", "1.0.0", "key", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    C::new("decr", 2, WRITE | DENYOOM | FAST, decr).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc("string", "1.0.0", "key", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    C::new("incrby", 3, WRITE | DENYOOM | FAST, incrby).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc("string", "1.0.0", "key increment", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    C::new("decrby", 3, WRITE | DENYOOM | FAST, decrby).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc("string", "1.0.0", "key decrement", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist."),
    C::new("incrbyfloat", 3, WRITE | DENYOOM | FAST, incrbyfloat).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc("string", "2.6.0", "key increment", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    C::new("getrange", 4, READONLY, getrange).keys(&[K::at(1, RO | ACCESS)]).doc("string", "2.4.0", "key start end", "Returns a substring of the string stored at a key."),
    C::new("substr", 4, READONLY, getrange).keys(&[K::at(1, RO | ACCESS)]).doc("string", "1.0.0", "key start end", "Returns a substring from a string value."),
    C::new("setrange", 4, WRITE | DENYOOM, setrange).keys(&[K::at(1, RW | UPDATE)]).doc("string", "2.2.0", "key offset value", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."),
    C::new("setbit", 4, WRITE | DENYOOM, setbit).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc("bitmap", "2.2.0", "key offset value", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist."),
    C::new("getbit", 3, READONLY | FAST, getbit).keys(&[K::at(1, RO | ACCESS)]).doc("bitmap", "2.2.0", "key offset", "Returns a bit value by offset."),
    C::new("lcs", -3, READONLY, lcs).keys(&[K::range(1, 1, 1, RO | ACCESS)]).doc(
        "string",
        "7.0.0",
        "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
        "Finds the longest common substring.",
    ),
];

/// Largest string a write may produce (Redis's proto-max-bulk-len check in SETRANGE/APPEND).
fn check_size(ctx: &Ctx, len: u64) -> CmdResult {
    let max = ctx.max_bulk_len();
    if len > max {
        return Err(CmdError::new(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    Ok(())
}

/// The string inside an entry, or WRONGTYPE.
pub fn as_str(e: &Entry) -> Result<&Str, CmdError> {
    match &e.value {
        Value::Str(s) => Ok(s),
        _ => Err(WRONGTYPE),
    }
}

pub fn as_str_mut(e: &mut Entry) -> Result<&mut Str, CmdError> {
    match &mut e.value {
        Value::Str(s) => Ok(s),
        _ => Err(WRONGTYPE),
    }
}

pub fn reply_str(out: &mut Reply, s: &Str) {
    match s {
        Str::Int(n) => out.bulk_int(*n),
        Str::Emb(b) => out.bulk(b),
        Str::Raw(v) => out.bulk(v),
    }
}

fn new_entry(value: &[u8], expire_at: u64) -> Entry {
    let mut e = Entry::new(Value::Str(Str::from_bytes(value)));
    e.expire_at = expire_at;
    e
}

fn get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    match shard.read(argv[1], ctx.now, ctx.touch()) {
        None => ctx.out.null(),
        Some(e) => reply_str(ctx.out, as_str(e)?),
    }
    Ok(())
}

/// Expiry options shared by SET and GETEX.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ttl {
    Unchanged,
    At(u64),
    Keep,
    Persist,
}

/// Converts a relative or absolute expire argument to an absolute ms time, with Redis's checks.
fn expire_arg(ctx: &Ctx, kind: &[u8], v: &[u8], cmd: &str) -> Result<u64, CmdError> {
    let n = args::int(v)?;
    let invalid = || CmdError::owned(format!("ERR invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let (mul, relative) = if is(kind, "EX") {
        (1000, true)
    } else if is(kind, "PX") {
        (1, true)
    } else if is(kind, "EXAT") {
        (1000, false)
    } else {
        (1, false)
    };
    let ms = n.checked_mul(mul).ok_or_else(invalid)?;
    let at = if relative {
        ms.checked_add(ctx.now as i64).ok_or_else(invalid)?
    } else {
        ms
    };
    Ok(at as u64)
}

fn set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut ttl = Ttl::Unchanged;
    let mut ttl_arg: Option<(&[u8], &[u8])> = None;
    let mut i = 3;
    while i < argv.len() {
        let a = argv[i];
        let ttl_kw = ["EX", "PX", "EXAT", "PXAT"].iter().any(|k| is(a, k));
        if is(a, "NX") && !xx {
            nx = true;
        } else if is(a, "XX") && !nx {
            xx = true;
        } else if is(a, "GET") {
            get = true;
        } else if is(a, "KEEPTTL") && ttl == Ttl::Unchanged {
            ttl = Ttl::Keep;
        } else if ttl_kw && ttl == Ttl::Unchanged && i + 1 < argv.len() {
            // Placeholder: the value is parsed once every option is known to be valid, so a
            // syntax error wins over a bad number, as in Redis.
            ttl = Ttl::At(0);
            ttl_arg = Some((a, argv[i + 1]));
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    if let Some((kind, v)) = ttl_arg {
        ttl = Ttl::At(expire_arg(ctx, kind, v, "set")?);
    }
    let key = argv[1];
    let mut shard = ctx.db().lock_key(key);
    let existing = shard.get_mut(key, ctx.now);
    if get {
        match existing.as_deref() {
            Some(e) => reply_str(ctx.out, as_str(e)?),
            None => ctx.out.null(),
        }
    }
    let exists = existing.is_some();
    if (nx && exists) || (xx && !exists) {
        if !get {
            ctx.out.null();
        }
        return Ok(());
    }
    let expire_at = match (ttl, existing) {
        (Ttl::At(at), _) => at,
        (Ttl::Keep, Some(e)) => e.expire_at,
        _ => 0,
    };
    shard.insert(key, new_entry(argv[2], expire_at));
    drop(shard);
    ctx.dirty(1);
    ctx.changed(ev::STRING, "set", key);
    if let Ttl::At(at) = ttl {
        ctx.changed(ev::GENERIC, "expire", key);
        // A relative time replays as the absolute one.
        if ctx.journaling() {
            let at = itoa::Buffer::new().format(at).as_bytes().to_vec();
            ctx.record(&[b"SET", key, argv[2], b"PXAT", &at]);
        }
    } else if get && ctx.journaling() {
        // GET only shaped the reply.
        let rest: smallvec::SmallVec<[&[u8]; 8]> = argv
            .iter()
            .enumerate()
            .filter(|(i, a)| *i < 3 || !is(a, "GET"))
            .map(|(_, a)| *a)
            .collect();
        ctx.record(&rest);
    }
    if !get {
        ctx.out.ok();
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    if shard.contains(argv[1], ctx.now) {
        ctx.out.int(0);
    } else {
        shard.insert(argv[1], new_entry(argv[2], 0));
        ctx.dirty(1);
        ctx.changed(ev::STRING, "set", argv[1]);
        ctx.out.int(1);
    }
    Ok(())
}

fn setex_generic(ctx: &mut Ctx, argv: &[&[u8]], unit: &str, cmd: &str) -> CmdResult {
    let at = expire_arg(ctx, unit.as_bytes(), argv[2], cmd)?;
    ctx.db()
        .lock_key(argv[1])
        .insert(argv[1], new_entry(argv[3], at));
    ctx.dirty(1);
    ctx.changed(ev::STRING, "set", argv[1]);
    ctx.changed(ev::GENERIC, "expire", argv[1]);
    if ctx.journaling() {
        let at = itoa::Buffer::new().format(at).as_bytes().to_vec();
        ctx.record(&[b"SET", argv[1], argv[3], b"PXAT", &at]);
    }
    ctx.out.ok();
    Ok(())
}

fn setex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, argv, "EX", "setex")
}

fn psetex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, argv, "PX", "psetex")
}

fn getset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    match shard.get_mut(argv[1], ctx.now) {
        Some(e) => reply_str(ctx.out, as_str(e)?),
        None => ctx.out.null(),
    }
    shard.insert(argv[1], new_entry(argv[2], 0));
    ctx.dirty(1);
    ctx.changed(ev::STRING, "set", argv[1]);
    ctx.record(&[b"SET", argv[1], argv[2]]);
    Ok(())
}

fn getdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    match shard.read(argv[1], ctx.now, false) {
        Some(e) => reply_str(ctx.out, as_str(e)?),
        None => {
            ctx.out.null();
            return Ok(());
        }
    }
    shard.remove(argv[1]);
    ctx.dirty(1);
    ctx.changed(ev::GENERIC, "del", argv[1]);
    ctx.record(&[b"DEL", argv[1]]);
    Ok(())
}

fn getex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut ttl = Ttl::Unchanged;
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i];
        let ttl_kw = ["EX", "PX", "EXAT", "PXAT"].iter().any(|k| is(a, k));
        if is(a, "PERSIST") && ttl == Ttl::Unchanged {
            ttl = Ttl::Persist;
        } else if ttl_kw && ttl == Ttl::Unchanged && i + 1 < argv.len() {
            ttl = Ttl::At(expire_arg(ctx, a, argv[i + 1], "getex")?);
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    let key = argv[1];
    let mut shard = ctx.db().lock_key(key);
    let touch = ctx.touch();
    match shard.read(key, ctx.now, touch) {
        Some(e) => reply_str(ctx.out, as_str(e)?),
        None => {
            ctx.out.null();
            return Ok(());
        }
    }
    // Never journaled as sent: as the DEL, PEXPIREAT or PERSIST it amounts to.
    match ttl {
        Ttl::At(at) if at <= ctx.now && !crate::engine::expiry::loading() => {
            shard.remove(key);
            ctx.dirty(1);
            ctx.changed(ev::GENERIC, "del", key);
            ctx.record(&[b"DEL", key]);
        }
        Ttl::At(at) => {
            shard.set_expire(key, at);
            ctx.dirty(1);
            ctx.changed(ev::GENERIC, "expire", key);
            if ctx.journaling() {
                let at = itoa::Buffer::new().format(at).as_bytes().to_vec();
                ctx.record(&[b"PEXPIREAT", key, &at]);
            }
        }
        Ttl::Persist => {
            if shard.peek(key).is_some_and(|e| e.expire_at != 0) {
                shard.set_expire(key, 0);
                ctx.dirty(1);
                ctx.changed(ev::GENERIC, "persist", key);
                ctx.record(&[b"PERSIST", key]);
            }
        }
        Ttl::Unchanged | Ttl::Keep => {}
    }
    Ok(())
}

fn mget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let keys = &argv[1..];
    let mut locked = ctx.db().lock_keys(keys.iter().copied());
    let touch = ctx.touch();
    ctx.out.array(keys.len());
    for k in keys {
        match locked.shard(k).read(k, ctx.now, touch) {
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => reply_str(ctx.out, s),
            #[allow(unreachable_patterns)]
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx, argv: &[&[u8]], nx: bool) -> CmdResult {
    if argv.len() % 2 == 0 {
        return Err(CmdError::owned(format!(
            "ERR wrong number of arguments for '{}' command",
            if nx { "msetnx" } else { "mset" }
        )));
    }
    let pairs = &argv[1..];
    let mut locked = ctx.db().lock_keys(pairs.iter().step_by(2).copied());
    if nx
        && pairs
            .chunks(2)
            .any(|kv| locked.shard(kv[0]).contains(kv[0], ctx.now))
    {
        ctx.out.int(0);
        return Ok(());
    }
    for kv in pairs.chunks(2) {
        locked.shard(kv[0]).insert(kv[0], new_entry(kv[1], 0));
        ctx.changed(ev::STRING, "set", kv[0]);
    }
    ctx.dirty((pairs.len() / 2) as u64);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn mset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, argv, false)
}

fn msetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, argv, true)
}

fn append(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let new_len = match shard.get_mut(argv[1], ctx.now) {
        None => {
            check_size(ctx, argv[2].len() as u64)?;
            shard.insert(argv[1], new_entry(argv[2], 0));
            argv[2].len()
        }
        Some(e) => {
            let s = as_str_mut(e)?;
            check_size(ctx, (s.len() + argv[2].len()) as u64)?;
            let mut data = std::mem::replace(s, Str::Int(0)).into_vec();
            data.extend_from_slice(argv[2]);
            let n = data.len();
            *s = Str::from_vec(data, true);
            n
        }
    };
    ctx.dirty(1);
    ctx.changed(ev::STRING, "append", argv[1]);
    ctx.out.int(new_len as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = match shard.read(argv[1], ctx.now, ctx.touch()) {
        Some(e) => as_str(e)?.len(),
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// Adds `by` to the integer at `key` (created as 0), keeping its TTL.
fn incr_generic(ctx: &mut Ctx, key: &[u8], by: i64) -> CmdResult {
    let mut shard = ctx.db().lock_key(key);
    let result = match shard.get_mut(key, ctx.now) {
        Some(e) => {
            let s = as_str_mut(e)?;
            let cur = match &*s {
                Str::Int(n) => *n,
                other => other.bytes().and_then(args::strict_i64).ok_or(NOT_INT)?,
            };
            let next = cur.checked_add(by).ok_or(OVERFLOW)?;
            *s = Str::Int(next);
            next
        }
        None => {
            shard.insert(key, Entry::new(Value::Str(Str::Int(by))));
            by
        }
    };
    ctx.dirty(1);
    ctx.changed(ev::STRING, "incrby", key);
    ctx.out.int(result);
    Ok(())
}

fn incr(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    incr_generic(ctx, argv[1], 1)
}

fn decr(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    incr_generic(ctx, argv[1], -1)
}

fn incrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let by = args::int(argv[2])?;
    incr_generic(ctx, argv[1], by)
}

fn decrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let by = args::int(argv[2])?;
    if by == i64::MIN {
        return Err(CmdError::new("ERR decrement would overflow"));
    }
    incr_generic(ctx, argv[1], -by)
}

fn incrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    use crate::engine::float::{self, FloatError};
    let mut shard = ctx.db().lock_key(argv[1]);
    let (result, expire_at) = match shard.get_mut(argv[1], ctx.now) {
        Some(e) => {
            let mut tmp = itoa::Buffer::new();
            (
                float::add(as_str(e)?.as_bytes(&mut tmp), argv[2]),
                e.expire_at,
            )
        }
        None => (float::add(b"0", argv[2]), 0),
    };
    let text = result.map_err(|e| match e {
        FloatError::NotFloat => super::NOT_FLOAT,
        FloatError::NanOrInf => CmdError::new("ERR increment would produce NaN or Infinity"),
    })?;
    // Redis stores the formatted result as a string, never int-encoded.
    let mut entry = Entry::new(Value::Str(Str::from_vec(text.clone(), false)));
    entry.expire_at = expire_at;
    shard.insert(argv[1], entry);
    ctx.dirty(1);
    ctx.changed(ev::STRING, "incrbyfloat", argv[1]);
    // Float formatting must not differ between here and a replica: the result replays.
    ctx.record(&[b"SET", argv[1], &text, b"KEEPTTL"]);
    ctx.out.bulk(&text);
    Ok(())
}

fn getrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut start = args::int(argv[2])?;
    let mut end = args::int(argv[3])?;
    let mut shard = ctx.db().lock_key(argv[1]);
    let Some(e) = shard.read(argv[1], ctx.now, ctx.touch()) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let mut tmp = itoa::Buffer::new();
    let s = as_str(e)?.as_bytes(&mut tmp);
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0).min(len - 1);
    if start > end || len == 0 {
        ctx.out.bulk(b"");
    } else {
        ctx.out.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let offset = args::int(argv[2])?;
    if offset < 0 {
        return Err(CmdError::new("ERR offset is out of range"));
    }
    let value = argv[3];
    let offset = offset as usize;
    let mut shard: parking_lot::MutexGuard<'_, Shard> = ctx.db().lock_key(argv[1]);
    let entry = shard.get_mut(argv[1], ctx.now);
    let cur_len = match &entry {
        Some(e) => as_str(e)?.len(),
        None => 0,
    };
    if value.is_empty() {
        ctx.out.int(cur_len as i64);
        return Ok(());
    }
    check_size(ctx, (offset + value.len()) as u64)?;
    let mut data = match entry {
        Some(e) => std::mem::replace(as_str_mut(e)?, Str::Int(0)).into_vec(),
        None => Vec::new(),
    };
    if data.len() < offset + value.len() {
        data.resize(offset + value.len(), 0);
    }
    data[offset..offset + value.len()].copy_from_slice(value);
    let n = data.len();
    store_raw(&mut shard, argv[1], ctx.now, data);
    ctx.dirty(1);
    ctx.changed(ev::STRING, "setrange", argv[1]);
    ctx.out.int(n as i64);
    Ok(())
}

/// Puts modified bytes back at `key` (keeping its TTL), or creates the key: a "raw" string.
pub fn store_raw(shard: &mut Shard, key: &[u8], now: u64, data: Vec<u8>) {
    let value = Value::Str(Str::from_vec(data, true));
    match shard.get_mut(key, now) {
        Some(e) => e.value = value,
        None => {
            shard.insert(key, Entry::new(value));
        }
    }
}

/// A bit offset argument: 0 up to the largest string size allows (proto-max-bulk-len bytes).
fn bit_offset(ctx: &Ctx, arg: &[u8]) -> Result<u64, CmdError> {
    let err = CmdError::new("ERR bit offset is not an integer or out of range");
    let n = args::strict_i64(arg).ok_or(err.clone())?;
    let max_bytes = ctx.max_bulk_len();
    if n < 0 || (n as u64) >> 3 >= max_bytes {
        return Err(err);
    }
    Ok(n as u64)
}

fn setbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, argv[2])?;
    let on = match argv[3] {
        b"1" => true,
        b"0" => false,
        _ => return Err(CmdError::new("ERR bit is not an integer or out of range")),
    };
    let (byte, mask) = ((offset >> 3) as usize, 0x80u8 >> (offset & 7));
    let mut shard = ctx.db().lock_key(argv[1]);
    let (mut data, created) = match shard.get_mut(argv[1], ctx.now) {
        Some(e) => (
            std::mem::replace(as_str_mut(e)?, Str::Int(0)).into_vec(),
            false,
        ),
        None => (Vec::new(), true),
    };
    let grown = data.len() <= byte;
    if grown {
        data.resize(byte + 1, 0);
    }
    let old = data[byte] & mask != 0;
    if on {
        data[byte] |= mask;
    } else {
        data[byte] &= !mask;
    }
    store_raw(&mut shard, argv[1], ctx.now, data);
    // Setting a bit to what it already was is no change (no event, WATCH untouched).
    if created || grown || old != on {
        ctx.dirty(1);
        ctx.changed(ev::STRING, "setbit", argv[1]);
    }
    ctx.out.int(old as i64);
    Ok(())
}

fn getbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, argv[2])?;
    let mut shard = ctx.db().lock_key(argv[1]);
    let bit = match shard.read(argv[1], ctx.now, ctx.touch()) {
        None => false,
        Some(e) => {
            let mut tmp = itoa::Buffer::new();
            let s = as_str(e)?.as_bytes(&mut tmp);
            s.get((offset >> 3) as usize)
                .is_some_and(|b| b & (0x80u8 >> (offset & 7)) != 0)
        }
    };
    ctx.out.int(bit as i64);
    Ok(())
}

/// The LCS length table, (alen+1) x (blen+1), row-major.
fn lcs_table(a: &[u8], b: &[u8]) -> Vec<u32> {
    let w = b.len() + 1;
    let mut t = vec![0u32; (a.len() + 1) * w];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    t
}

fn lcs(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (a, b) = {
        let mut locked = ctx.db().lock_keys([argv[1], argv[2]]);
        let mut fetch = |k: &[u8]| -> Result<Vec<u8>, CmdError> {
            match locked.shard(k).read(k, ctx.now, true) {
                Some(e) => as_str(e).map(|s| s.to_vec()).map_err(|_| {
                    CmdError::new("ERR The specified keys must contain string values")
                }),
                None => Ok(Vec::new()),
            }
        };
        let a = fetch(argv[1]);
        let b = fetch(argv[2]);
        (a?, b?)
    };
    let (mut getlen, mut getidx, mut withlen, mut minlen) = (false, false, false, 0i64);
    let mut i = 3;
    while i < argv.len() {
        let o = argv[i];
        if is(o, "IDX") {
            getidx = true;
        } else if is(o, "LEN") {
            getlen = true;
        } else if is(o, "WITHMATCHLEN") {
            withlen = true;
        } else if is(o, "MINMATCHLEN") && i + 1 < argv.len() {
            minlen = args::int(argv[i + 1])?.max(0);
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    if getlen && getidx {
        return Err(CmdError::new(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    // The DP table needs (alen+1)*(blen+1) counters; refuse what Redis refuses.
    let table_bytes = (a.len() as u128 + 1) * (b.len() as u128 + 1) * 4;
    let max = ctx.max_bulk_len();
    if table_bytes > max as u128 {
        return Err(CmdError::new(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let w = b.len() + 1;
    let t = lcs_table(&a, &b);
    let total = t[a.len() * w + b.len()];
    if getlen {
        ctx.out.int(total as i64);
        return Ok(());
    }
    // Walk back from the end, collecting the common bytes and the matching ranges
    // (ranges are reported from the end of the strings towards the start, as Redis does).
    let mut result = vec![0u8; total as usize];
    let mut ranges: Vec<[u32; 4]> = Vec::new();
    let (mut i, mut j, mut idx) = (a.len(), b.len(), total as usize);
    // Current range: a_start, a_end, b_start, b_end; None when no range is open.
    let mut cur: Option<[usize; 4]> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            match &mut cur {
                None => cur = Some([i - 1, i - 1, j - 1, j - 1]),
                Some(r) if r[0] == i && r[2] == j => {
                    r[0] -= 1;
                    r[2] -= 1;
                }
                Some(_) => emit = true,
            }
            if let Some(r) = cur {
                if r[0] == 0 || r[2] == 0 {
                    emit = true;
                }
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if cur.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some(r) = cur.take() {
                let mlen = r[1] - r[0] + 1;
                if minlen == 0 || mlen as i64 >= minlen {
                    ranges.push([r[0] as u32, r[1] as u32, r[2] as u32, r[3] as u32]);
                }
            }
        }
    }
    if !getidx {
        ctx.out.bulk(&result);
        return Ok(());
    }
    ctx.out.map(2);
    ctx.out.bulk(b"matches");
    ctx.out.array(ranges.len());
    for r in &ranges {
        ctx.out.array(2 + withlen as usize);
        ctx.out.array(2);
        ctx.out.int(r[0] as i64);
        ctx.out.int(r[1] as i64);
        ctx.out.array(2);
        ctx.out.int(r[2] as i64);
        ctx.out.int(r[3] as i64);
        if withlen {
            ctx.out.int((r[1] - r[0] + 1) as i64);
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(total as i64);
    Ok(())
}
