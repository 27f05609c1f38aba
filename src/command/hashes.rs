//! Hash commands: fields set, read, deleted and listed.

use crate::engine::notify as ev;
use rand::Rng;

use super::keyspec::{KeySpec as K, ACCESS, DELETE, INSERT, RO, RW, UPDATE};
use super::table::{CommandSpec as C, DENYOOM, FAST, READONLY, WRITE};
use super::{args, cursor};
use super::{
    changed, collection_mut, collection_read, collection_write, remove_if_empty, CmdError,
    CmdResult, Ctx,
};
use crate::engine::collections::{Hash, Limits};
use crate::engine::Value;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("hset", -4, WRITE | DENYOOM | FAST, hset).keys(&[K::at(1, RW | UPDATE)]).doc("hash", "2.0.0", "key field value [field value ...]", "Creates or modifies the value of a field in a hash."),
    C::new("hmset", -4, WRITE | DENYOOM | FAST, hmset).keys(&[K::at(1, RW | UPDATE)]).doc("hash", "2.0.0", "key field value [field value ...]", "Sets the values of multiple fields."),
    C::new("hsetnx", 4, WRITE | DENYOOM | FAST, hsetnx).keys(&[K::at(1, RW | INSERT)]).doc("hash", "2.0.0", "key field value", "Sets the value of a field in a hash only when the field doesn't exist."),
    C::new("hget", 3, READONLY | FAST, hget).keys(&[K::at(1, RO | ACCESS)]).doc("hash", "2.0.0", "key field", "Returns the value of a field in a hash."),
    C::new("hmget", -3, READONLY | FAST, hmget).keys(&[K::at(1, RO | ACCESS)]).doc("hash", "2.0.0", "key field [field ...]", "Returns the values of all fields in a hash."),
    C::new("hdel", -3, WRITE | FAST, hdel).keys(&[K::at(1, RW | DELETE)]).doc("hash", "2.0.0", "key field [field ...]", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain."),
    C::new("hlen", 2, READONLY | FAST, hlen).keys(&[K::at(1, RO)]).doc("hash", "2.0.0", "key", "Returns the number of fields in a hash."),
    C::new("hexists", 3, READONLY | FAST, hexists).keys(&[K::at(1, RO)]).doc("hash", "2.0.0", "key field", "Determines whether a field exists in a hash."),
    C::new("hgetall", 2, READONLY, hgetall).keys(&[K::at(1, RO | ACCESS)]).doc("hash", "2.0.0", "key", "Returns all fields and values in a hash."),
    C::new("hkeys", 2, READONLY, hkeys).keys(&[K::at(1, RO | ACCESS)]).doc("hash", "2.0.0", "key", "Returns all fields in a hash."),
    C::new("hvals", 2, READONLY, hvals).keys(&[K::at(1, RO | ACCESS)]).doc("hash", "2.0.0", "key", "Returns all values in a hash."),
    C::new("hincrby", 4, WRITE | DENYOOM | FAST, hincrby).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc("hash", "2.0.0", "key field increment", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist."),
    C::new("hincrbyfloat", 4, WRITE | DENYOOM | FAST, hincrbyfloat).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc("hash", "2.6.0", "key field increment", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist."),
    C::new("hstrlen", 3, READONLY | FAST, hstrlen).keys(&[K::at(1, RO)]).doc("hash", "3.2.0", "key field", "Returns the length of the value of a field."),
    C::new("hrandfield", -2, READONLY, hrandfield).keys(&[K::at(1, RO | ACCESS)]).doc("hash", "6.2.0", "key [count [WITHVALUES]]", "Returns one or more random fields from a hash."),
    C::new("hscan", -3, READONLY, hscan).keys(&[K::at(1, RO | ACCESS)]).doc("hash", "2.8.0", "key cursor [MATCH pattern] [COUNT count]", "Iterates over fields and values of a hash."),
];

/// Runs `f` on the hash at `key`, created if missing, with the encoding thresholds.
fn write_hash<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(&mut Hash, &Limits) -> R,
) -> Result<R, CmdError> {
    let lim = ctx.limits();
    let mut shard = ctx.db().lock_key(key);
    let h = collection_mut(&mut shard, key, ctx.now, Value::new_hash, Value::hash_mut)?;
    Ok(f(h, &lim))
}

/// Sets every field/value pair; returns how many fields were new.
fn set_pairs(ctx: &mut Ctx, argv: &[&[u8]], name: &str) -> Result<usize, CmdError> {
    if argv.len() % 2 != 0 {
        return Err(CmdError::owned(format!(
            "ERR wrong number of arguments for '{name}' command"
        )));
    }
    write_hash(ctx, argv[1], |h, lim| {
        argv[2..]
            .chunks(2)
            .filter(|fv| h.insert(fv[0], fv[1], lim))
            .count()
    })
}

fn hset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = set_pairs(ctx, argv, "hset")?;
    ctx.changed(ev::HASH, "hset", argv[1]);
    ctx.dirty((argv.len() as u64 - 2) / 2);
    ctx.out.int(n as i64);
    Ok(())
}

fn hmset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_pairs(ctx, argv, "hmset")?;
    ctx.changed(ev::HASH, "hset", argv[1]);
    ctx.dirty((argv.len() as u64 - 2) / 2);
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let set = write_hash(ctx, argv[1], |h, lim| {
        h.get(argv[2]).is_none() && h.insert(argv[2], argv[3], lim)
    })?;
    if set {
        ctx.changed(ev::HASH, "hset", argv[1]);
        ctx.dirty(1);
    }
    ctx.out.int(set as i64);
    Ok(())
}

fn hget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    match collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::hash_ref)?
        .and_then(|h| h.get(argv[2]))
    {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let h = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::hash_ref)?;
    ctx.out.array(argv.len() - 2);
    for f in &argv[2..] {
        match h.as_ref().and_then(|h| h.get(f)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn hdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = match collection_write(&mut shard, argv[1], ctx.now, Value::hash_mut)? {
        Some(h) => argv[2..].iter().filter(|f| h.remove(f)).count(),
        None => 0,
    };
    if n > 0 {
        changed(ctx, &mut shard, argv[1], ev::HASH, "hdel");
        ctx.dirty(n as u64);
    }
    ctx.out.int(n as i64);
    Ok(())
}

fn hlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::hash_ref)?
        .map_or(0, |h| h.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let found = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::hash_ref)?
        .is_some_and(|h| h.get(argv[2]).is_some());
    ctx.out.int(found as i64);
    Ok(())
}

/// HGETALL / HKEYS / HVALS.
fn listing(ctx: &mut Ctx, key: &[u8], fields: bool, values: bool) -> CmdResult {
    let mut shard = ctx.db().lock_key(key);
    let touch = ctx.touch();
    let Some(h) = collection_read(&mut shard, key, ctx.now, touch, Value::hash_ref)? else {
        if fields && values {
            ctx.out.map(0);
        } else {
            ctx.out.array(0);
        }
        return Ok(());
    };
    if fields && values {
        ctx.out.map(h.len());
    } else {
        ctx.out.array(h.len());
    }
    for (f, v) in h.iter() {
        if fields {
            ctx.out.bulk(f);
        }
        if values {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

fn hgetall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    listing(ctx, argv[1], true, true)
}

fn hkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    listing(ctx, argv[1], true, false)
}

fn hvals(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    listing(ctx, argv[1], false, true)
}

/// Replaces a field's value with `f(current)`; creates the hash and field as needed. On an
/// error nothing is left behind (no empty hash).
fn update_field(
    ctx: &mut Ctx,
    event: &'static str,
    key: &[u8],
    field: &[u8],
    f: impl FnOnce(Option<&[u8]>) -> Result<Vec<u8>, CmdError>,
) -> Result<Vec<u8>, CmdError> {
    let lim = ctx.limits();
    let mut shard = ctx.db().lock_key(key);
    let h = collection_mut(&mut shard, key, ctx.now, Value::new_hash, Value::hash_mut)?;
    let result = f(h.get(field));
    if let Ok(v) = &result {
        h.insert(field, v, &lim);
        ctx.changed(ev::HASH, event, key);
        ctx.dirty(1);
    }
    remove_if_empty(&mut shard, key);
    result
}

fn hincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let incr = args::int(argv[3])?;
    let v = update_field(ctx, "hincrby", argv[1], argv[2], |cur| {
        let n = match cur {
            Some(c) => {
                args::strict_i64(c).ok_or(CmdError::new("ERR hash value is not an integer"))?
            }
            None => 0,
        };
        let n = n.checked_add(incr).ok_or(super::OVERFLOW)?;
        Ok(itoa::Buffer::new().format(n).as_bytes().to_vec())
    })?;
    ctx.out.int(args::strict_i64(&v).expect("formatted above"));
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    use crate::engine::float::{self, FloatError};
    match float::add(b"0", argv[3]) {
        Err(FloatError::NotFloat) => return Err(super::NOT_FLOAT),
        Err(FloatError::NanOrInf) => return Err(CmdError::new("ERR value is NaN or Infinity")),
        Ok(_) => {}
    }
    let v = update_field(ctx, "hincrbyfloat", argv[1], argv[2], |cur| {
        float::add(cur.unwrap_or(b"0"), argv[3]).map_err(|e| match e {
            FloatError::NotFloat => CmdError::new("ERR hash value is not a float"),
            FloatError::NanOrInf => CmdError::new("ERR increment would produce NaN or Infinity"),
        })
    })?;
    // The result replays, not the increment (float formatting could differ).
    ctx.record(&[b"HSET", argv[1], argv[2], &v]);
    ctx.out.bulk(&v);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::hash_ref)?
        .and_then(|h| h.get(argv[2]).map(|v| v.len()))
        .unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}

fn hrandfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let parsed = args::random_count(argv, "WITHVALUES")?;
    let (count, withvalues) = match parsed {
        Some((n, w)) => (Some(n), w),
        None => (None, false),
    };
    let mut shard = ctx.db().lock_key(argv[1]);
    let h = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::hash_ref)?;
    let mut rng = rand::rng();
    let Some(count) = count else {
        match h {
            Some(h) => ctx.out.bulk(
                h.get_index(rng.random_range(0..h.len()))
                    .expect("in range")
                    .0,
            ),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let Some(h) = h.filter(|_| count != 0) else {
        ctx.out.array(0);
        return Ok(());
    };
    let len = h.len();
    // Positions to reply: repeats allowed for a negative count, else distinct (all of them,
    // in order, when the count covers the hash).
    let picks = args::random_positions(count, len);
    let resp3 = ctx.out.resp3;
    ctx.out.array(if withvalues && !resp3 {
        picks.len() * 2
    } else {
        picks.len()
    });
    for i in picks {
        let (f, v) = h.get_index(i).expect("in range");
        if withvalues && resp3 {
            ctx.out.array(2);
        }
        ctx.out.bulk(f);
        if withvalues {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

fn hscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = cursor::parse_cursor(argv[2])?;
    let opts = cursor::parse_opts(argv, 3, false)?;
    let mut shard = ctx.db().lock_key(argv[1]);
    let h = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::hash_ref)?;
    let mut found: Vec<(&[u8], &[u8])> = Vec::new();
    let mut next = 0;
    if let Some(h) = h {
        let (visit, n) = cursor::positions(h.is_compact(), cursor, h.len(), opts.count);
        next = n;
        for i in visit {
            let (f, v) = h.get_index(i).expect("in range");
            if opts.matches(f) {
                found.push((f, v));
            }
        }
    }
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(found.len() * 2);
    for (f, v) in found {
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
    Ok(())
}
