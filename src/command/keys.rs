//! Generic key commands: existence, deletion, renaming, iteration, and TTLs.

use super::args::{self, is};
use super::keyspec::{KeySpec as K, ACCESS, DELETE, INSERT, OW, RM, RO, RW, UPDATE};
use super::table::{CommandSpec as C, DENYOOM, FAST, READONLY, WRITE};
use super::{CmdError, CmdResult, Ctx, DB_INDEX, NO_KEY, SYNTAX};
use crate::engine::notify as ev;
use crate::engine::{glob, scan};

pub static COMMANDS: &[C] = &[
    C::new("del", -2, WRITE, del).keys(&[K::rest(1, RM | DELETE)]).doc("generic", "1.0.0", "key [key ...]", "Deletes one or more keys."),
    C::new("unlink", -2, WRITE | FAST, del).keys(&[K::rest(1, RM | DELETE)]).doc("generic", "4.0.0", "key [key ...]", "Asynchronously deletes one or more keys."),
    C::new("exists", -2, READONLY | FAST, exists).keys(&[K::rest(1, RO)]).doc("generic", "1.0.0", "key [key ...]", "Determines whether one or more keys exist."),
    C::new("touch", -2, READONLY | FAST, touch).keys(&[K::rest(1, RO)]).doc("generic", "3.2.1", "key [key ...]", "Returns the number of existing keys out of those specified after updating the time they were last accessed."),
    C::new("type", 2, READONLY | FAST, type_).keys(&[K::at(1, RO)]).doc("generic", "1.0.0", "key", "Determines the type of value stored at a key."),
    C::new("rename", 3, WRITE, rename).keys(&[K::at(1, RW | ACCESS | DELETE), K::at(2, OW | UPDATE)]).doc("generic", "1.0.0", "key newkey", "Renames a key and overwrites the destination."),
    C::new("renamenx", 3, WRITE | FAST, renamenx).keys(&[K::at(1, RW | ACCESS | DELETE), K::at(2, OW | INSERT)]).doc("generic", "1.0.0", "key newkey", "Renames a key only when the target key name doesn't exist."),
    C::new("keys", 2, READONLY, keys).doc("generic", "1.0.0", "pattern", "Returns all key names that match a pattern."),
    C::new("scan", -2, READONLY, scan_cmd).doc(
        "generic",
        "2.8.0",
        "cursor [MATCH pattern] [COUNT count] [TYPE type]",
        "Iterates over the key names in the database.",
    ),
    C::new("randomkey", 1, READONLY, randomkey).doc("generic", "1.0.0", "", "Returns a random key name from the database."),
    C::new("move", 3, WRITE | FAST, move_).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc("generic", "1.0.0", "key db", "Moves a key to another database."),
    C::new("copy", -3, WRITE | DENYOOM, copy).keys(&[K::at(1, RO | ACCESS), K::at(2, OW | UPDATE)]).doc(
        "generic",
        "6.2.0",
        "source destination [DB destination-db] [REPLACE]",
        "Copies the value of a key to a new key.",
    ),
    C::container("object", OBJECT).doc("generic", "2.2.3", "", "A container for object introspection commands."),
    C::new("expire", -3, WRITE | FAST, expire).keys(&[K::at(1, RW | UPDATE)]).doc("generic", "1.0.0", "key seconds [NX | XX | GT | LT]", "Sets the expiration time of a key in seconds."),
    C::new("pexpire", -3, WRITE | FAST, pexpire).keys(&[K::at(1, RW | UPDATE)]).doc("generic", "2.6.0", "key milliseconds [NX | XX | GT | LT]", "Sets the expiration time of a key in milliseconds."),
    C::new("expireat", -3, WRITE | FAST, expireat).keys(&[K::at(1, RW | UPDATE)]).doc("generic", "1.2.0", "key unix-time-seconds [NX | XX | GT | LT]", "Sets the expiration time of a key to a Unix timestamp."),
    C::new("pexpireat", -3, WRITE | FAST, pexpireat).keys(&[K::at(1, RW | UPDATE)]).doc("generic", "2.6.0", "key unix-time-milliseconds [NX | XX | GT | LT]", "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    C::new("ttl", 2, READONLY | FAST, ttl).keys(&[K::at(1, RO | ACCESS)]).doc("generic", "1.0.0", "key", "Returns the expiration time in seconds of a key."),
    C::new("pttl", 2, READONLY | FAST, pttl).keys(&[K::at(1, RO | ACCESS)]).doc("generic", "2.6.0", "key", "Returns the expiration time in milliseconds of a key."),
    C::new("expiretime", 2, READONLY | FAST, expiretime).keys(&[K::at(1, RO | ACCESS)]).doc("generic", "7.0.0", "key", "Returns the expiration time of a key as a Unix timestamp."),
    C::new("pexpiretime", 2, READONLY | FAST, pexpiretime).keys(&[K::at(1, RO | ACCESS)]).doc("generic", "7.0.0", "key", "Returns the expiration time of a key as a Unix milliseconds timestamp."),
    C::new("persist", 2, WRITE | FAST, persist).keys(&[K::at(1, RW | UPDATE)]).doc("generic", "2.2.0", "key", "Removes the expiration time of a key."),
];

static OBJECT: &[C] = &[
    C::new("encoding", 3, READONLY, object_encoding)
        .keys(&[K::at(2, RO)])
        .doc(
            "generic",
            "2.2.3",
            "key",
            "Returns the internal encoding of a Redis object.",
        ),
    C::new("freq", 3, READONLY, object_freq)
        .keys(&[K::at(2, RO)])
        .doc(
            "generic",
            "4.0.0",
            "key",
            "Returns the logarithmic access frequency counter of a Redis object.",
        ),
    C::new("idletime", 3, READONLY, object_idletime)
        .keys(&[K::at(2, RO)])
        .doc(
            "generic",
            "2.2.3",
            "key",
            "Returns the time since the last access to a Redis object.",
        ),
    C::new("refcount", 3, READONLY, object_refcount)
        .keys(&[K::at(2, RO)])
        .doc(
            "generic",
            "2.2.3",
            "key",
            "Returns the reference count of a value of a key.",
        ),
    C::new("help", 2, 0, object_help).doc(
        "generic",
        "6.2.0",
        "",
        "Returns helpful text about the different subcommands.",
    ),
];

fn del(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let keys = &argv[1..];
    let mut locked = ctx.db().lock_keys(keys.iter().copied());
    let mut n = 0;
    for k in keys {
        let shard = locked.shard(k);
        if shard.contains(k, ctx.now) {
            shard.remove(k);
            ctx.changed(ev::GENERIC, "del", k);
            n += 1;
        }
    }
    ctx.dirty(n as u64);
    ctx.out.int(n);
    Ok(())
}

fn count_existing(ctx: &mut Ctx, keys: &[&[u8]], touch: bool) -> i64 {
    let mut locked = ctx.db().lock_keys(keys.iter().copied());
    keys.iter()
        .filter(|k| locked.shard(k).read(k, ctx.now, touch).is_some())
        .count() as i64
}

fn exists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = count_existing(ctx, &argv[1..], false);
    ctx.out.int(n);
    Ok(())
}

fn touch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // TOUCH updates access times even for a CLIENT NO-TOUCH client.
    let n = count_existing(ctx, &argv[1..], true);
    ctx.out.int(n);
    Ok(())
}

fn type_(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let name = shard
        .read(argv[1], ctx.now, false)
        .map_or("none", |e| e.value.type_name());
    ctx.out.simple(name);
    Ok(())
}

/// RENAME / RENAMENX. Returns whether the rename happened (false only for NX with a target).
fn rename_generic(ctx: &mut Ctx, argv: &[&[u8]], nx: bool) -> Result<bool, CmdError> {
    let (src, dst) = (argv[1], argv[2]);
    let mut locked = ctx.db().lock_keys([src, dst]);
    if !locked.shard(src).contains(src, ctx.now) {
        return Err(NO_KEY);
    }
    if src == dst {
        return Ok(!nx);
    }
    if nx && locked.shard(dst).contains(dst, ctx.now) {
        return Ok(false);
    }
    let entry = locked.shard(src).remove(src).expect("checked above");
    locked.shard(dst).insert(dst, entry);
    ctx.deleted(src);
    ctx.touched(dst);
    ctx.event(ev::GENERIC, "rename_from", src);
    ctx.event(ev::GENERIC, "rename_to", dst);
    ctx.dirty(1);
    Ok(true)
}

fn rename(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, false)?;
    ctx.out.ok();
    Ok(())
}

fn renamenx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let done = rename_generic(ctx, argv, true)?;
    ctx.out.int(done as i64);
    Ok(())
}

fn keys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let pattern = argv[1];
    let all = pattern == b"*";
    let db = ctx.db();
    let mut found: Vec<Vec<u8>> = Vec::new();
    for i in 0..db.nshards() {
        let shard = db.lock_shard(i);
        for (k, e) in shard.iter() {
            if !e.is_expired(ctx.now) && (all || glob::matches(pattern, k, false)) {
                found.push(k.to_vec());
            }
        }
    }
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn scan_cmd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = super::cursor::parse_cursor(argv[1])?;
    let opts = super::cursor::parse_opts(argv, 2, true)?;
    let (count, type_filter) = (opts.count, opts.type_filter);
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = scan::scan(ctx.db(), cursor, count, ctx.now, |k, e| {
        if !opts.matches(k) {
            return;
        }
        if type_filter.is_some_and(|t| !t.eq_ignore_ascii_case(e.value.type_name().as_bytes())) {
            return;
        }
        found.push(k.to_vec());
    });
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    match ctx.db().random_key(ctx.now) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Parses a database index argument.
pub fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    let n = args::strict_i64(arg)
        .ok_or(CmdError::new("ERR value is not an integer or out of range"))?;
    if n < 0 || n as usize >= ctx.keyspace().len() {
        return Err(DB_INDEX);
    }
    Ok(n as usize)
}

/// Locks `key`'s shard in two databases, lower database first (the global lock order).
fn lock_pair<'a>(
    ctx: &Ctx<'a>,
    a: usize,
    key_a: &[u8],
    b: usize,
    key_b: &[u8],
) -> (
    parking_lot::MutexGuard<'a, crate::engine::Shard>,
    parking_lot::MutexGuard<'a, crate::engine::Shard>,
) {
    let ks = &ctx.keyspace();
    if a < b {
        let ga = ks.db(a).lock_key(key_a);
        (ga, ks.db(b).lock_key(key_b))
    } else {
        let gb = ks.db(b).lock_key(key_b);
        (ks.db(a).lock_key(key_a), gb)
    }
}

fn move_(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let src_db = ctx.client.db;
    let dst_db = db_index(ctx, argv[2])?;
    if src_db == dst_db {
        return Err(CmdError::new(
            "ERR source and destination objects are the same",
        ));
    }
    let key = argv[1];
    let (mut src, mut dst) = lock_pair(ctx, src_db, key, dst_db, key);
    if !src.contains(key, ctx.now) || dst.contains(key, ctx.now) {
        ctx.out.int(0);
        return Ok(());
    }
    let e = src.remove(key).expect("checked above");
    dst.insert(key, e);
    ctx.deleted(key);
    ctx.event(ev::GENERIC, "move_from", key);
    ctx.changed_db(dst_db, ev::GENERIC, "move_to", key);
    ctx.dirty(1);
    ctx.out.int(1);
    Ok(())
}

fn copy(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (src_key, dst_key) = (argv[1], argv[2]);
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        if is(argv[i], "REPLACE") {
            replace = true;
        } else if is(argv[i], "DB") && i + 1 < argv.len() {
            dst_db = db_index(ctx, argv[i + 1])?;
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    if src_db == dst_db && src_key == dst_key {
        return Err(CmdError::new(
            "ERR source and destination objects are the same",
        ));
    }
    let now = ctx.now;
    let copied = if src_db == dst_db {
        let mut locked = ctx.db().lock_keys([src_key, dst_key]);
        let entry = locked.shard(src_key).get_mut(src_key, now).cloned();
        place(entry, locked.shard(dst_key), dst_key, replace, now)
    } else {
        let (mut s, mut d) = lock_pair(ctx, src_db, src_key, dst_db, dst_key);
        let entry = s.get_mut(src_key, now).cloned();
        place(entry, &mut d, dst_key, replace, now)
    };
    if copied {
        ctx.changed_db(dst_db, ev::GENERIC, "copy_to", dst_key);
        ctx.dirty(1);
    }
    ctx.out.int(copied as i64);
    Ok(())
}

/// Stores a copy of `entry` at `key` unless the key exists and `replace` is off.
fn place(
    entry: Option<crate::engine::Entry>,
    dst: &mut crate::engine::Shard,
    key: &[u8],
    replace: bool,
    now: u64,
) -> bool {
    let Some(entry) = entry else { return false };
    if !replace && dst.contains(key, now) {
        return false;
    }
    dst.insert(key, entry);
    true
}

fn object_entry<T>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(&crate::engine::Entry) -> T,
) -> Option<T> {
    let mut shard = ctx.db().lock_key(key);
    // OBJECT is not an access: OBJECT IDLETIME must not reset what it reports.
    shard.read(key, ctx.now, false).map(f)
}

fn object_encoding(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match object_entry(ctx, argv[2], |e| e.value.encoding()) {
        Some(enc) => ctx.out.bulk(enc.as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_freq(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(stamp) = object_entry(ctx, argv[2], |e| e.access) else {
        ctx.out.null();
        return Ok(());
    };
    if !crate::engine::evict::policy().is_lfu() {
        return Err(CmdError::new(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    ctx.out.int(crate::engine::evict::lfu_decayed(stamp) as i64);
    Ok(())
}

fn object_idletime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = crate::engine::lru_clock();
    let Some(idle) = object_entry(ctx, argv[2], |e| now.wrapping_sub(e.access)) else {
        ctx.out.null();
        return Ok(());
    };
    if crate::engine::evict::policy().is_lfu() {
        return Err(CmdError::new(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    ctx.out.int(idle as i64);
    Ok(())
}

/// Redis shares the integer objects 0..=9999 and reports them with INT_MAX references.
fn refcount(e: &crate::engine::Entry) -> i64 {
    match e.value {
        crate::engine::Value::Str(crate::engine::Str::Int(n)) if (0..10_000).contains(&n) => {
            i32::MAX as i64
        }
        _ => 1,
    }
}

fn object_refcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match object_entry(ctx, argv[2], refcount) {
        Some(n) => ctx.out.int(n),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::server::help(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}

/// EXPIRE and friends: `base` is added to the argument (now for relative forms), `unit_ms`
/// converts it to milliseconds.
fn expire_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    relative: bool,
    unit_ms: i64,
    name: &str,
) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &argv[3..] {
        if is(opt, "NX") {
            nx = true;
        } else if is(opt, "XX") {
            xx = true;
        } else if is(opt, "GT") {
            gt = true;
        } else if is(opt, "LT") {
            lt = true;
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::new(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::new(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let n = args::int(argv[2])?;
    let invalid = || CmdError::owned(format!("ERR invalid expire time in '{name}' command"));
    let mut when = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    if relative {
        when = when.checked_add(ctx.now as i64).ok_or_else(invalid)?;
    }
    let key = argv[1];
    let mut shard = ctx.db().lock_key(key);
    let Some(e) = shard.get_mut(key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current = (e.expire_at != 0).then_some(e.expire_at as i64);
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        ctx.out.int(0);
        return Ok(());
    }
    // Journaled as what it did: the DEL, or the absolute time. (An AOF being replayed sets a
    // time already past: see `expiry::loading`.)
    if when <= ctx.now as i64 && !crate::engine::expiry::loading() {
        shard.remove(key);
        ctx.changed(ev::GENERIC, "del", key);
        ctx.record(&[b"DEL", key]);
    } else {
        shard.set_expire(key, when as u64);
        ctx.changed(ev::GENERIC, "expire", key);
        if ctx.journaling() {
            let at = itoa::Buffer::new().format(when).as_bytes().to_vec();
            ctx.record(&[b"PEXPIREAT", key, &at]);
        }
    }
    ctx.dirty(1);
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, true, 1000, "expire")
}

fn pexpire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, true, 1, "pexpire")
}

fn expireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, false, 1000, "expireat")
}

fn pexpireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, false, 1, "pexpireat")
}

/// TTL-reading commands: `f` maps the absolute expire time (ms) to the reply.
fn ttl_generic(ctx: &mut Ctx, key: &[u8], f: impl Fn(u64, u64) -> i64) -> CmdResult {
    let mut shard = ctx.db().lock_key(key);
    // Reading a TTL does not count as an access (OBJECT IDLETIME is unchanged), as in Redis.
    let reply = match shard.read(key, ctx.now, false) {
        None => -2,
        Some(e) if e.expire_at == 0 => -1,
        Some(e) => f(e.expire_at, ctx.now),
    };
    ctx.out.int(reply);
    Ok(())
}

fn ttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, now| {
        ((at.saturating_sub(now) + 500) / 1000) as i64
    })
}

fn pttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, now| at.saturating_sub(now) as i64)
}

fn expiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, _| ((at + 500) / 1000) as i64)
}

fn pexpiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, _| at as i64)
}

fn persist(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let had = shard
        .get_mut(argv[1], ctx.now)
        .is_some_and(|e| e.expire_at != 0);
    if had {
        shard.set_expire(argv[1], 0);
        ctx.changed(ev::GENERIC, "persist", argv[1]);
        ctx.dirty(1);
    }
    ctx.out.int(had as i64);
    Ok(())
}
