//! Sorted-set commands: adding with all of ZADD's options, scores, removal and index ranges.

use super::args::{self, is};
use super::keyspec::{KeySpec as K, ACCESS, DELETE, RO, RW, UPDATE};
use super::table::{CommandSpec as C, DENYOOM, FAST, READONLY, WRITE};
use super::{
    changed, collection_mut, collection_read, collection_write, remove_if_empty, CmdError,
    CmdResult, Ctx, SYNTAX,
};
use crate::engine::notify as ev;
use crate::engine::Value;

pub static COMMANDS: &[C] = &[
    C::new("zadd", -4, WRITE | DENYOOM | FAST, zadd).keys(&[K::at(1, RW | UPDATE)]).doc(
        "sorted-set",
        "1.2.0",
        "key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]",
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
    ),
    C::new("zincrby", 4, WRITE | DENYOOM | FAST, zincrby).keys(&[K::at(1, RW | ACCESS | UPDATE)]).doc("sorted-set", "1.2.0", "key increment member", "Increments the score of a member in a sorted set."),
    C::new("zcard", 2, READONLY | FAST, zcard).keys(&[K::at(1, RO)]).doc("sorted-set", "1.2.0", "key", "Returns the number of members in a sorted set."),
    C::new("zscore", 3, READONLY | FAST, zscore).keys(&[K::at(1, RO | ACCESS)]).doc("sorted-set", "1.2.0", "key member", "Returns the score of a member in a sorted set."),
    C::new("zrem", -3, WRITE | FAST, zrem).keys(&[K::at(1, RW | DELETE)]).doc("sorted-set", "1.2.0", "key member [member ...]", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
];

/// A score argument: a float, `inf`/`-inf` included, NaN refused.
fn score_arg(a: &[u8]) -> Result<f64, CmdError> {
    args::float(a)
}

struct ZaddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

pub fn zadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut f = ZaddFlags {
        nx: false,
        xx: false,
        gt: false,
        lt: false,
        ch: false,
        incr: false,
    };
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i];
        if is(a, "NX") {
            f.nx = true;
        } else if is(a, "XX") {
            f.xx = true;
        } else if is(a, "GT") {
            f.gt = true;
        } else if is(a, "LT") {
            f.lt = true;
        } else if is(a, "CH") {
            f.ch = true;
        } else if is(a, "INCR") {
            f.incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let pairs = &argv[i..];
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(SYNTAX);
    }
    if f.nx && f.xx {
        return Err(CmdError::new(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::new(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && pairs.len() > 2 {
        return Err(CmdError::new(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let scores: Vec<f64> = pairs
        .chunks(2)
        .map(|p| score_arg(p[0]))
        .collect::<Result<_, _>>()?;
    let lim = ctx.limits();
    let key = argv[1];
    let mut shard = ctx.db().lock_key(key);
    if f.xx && !shard.contains(key, ctx.now) {
        if f.incr {
            ctx.out.null();
        } else {
            ctx.out.int(0);
        }
        return Ok(());
    }
    let z = collection_mut(&mut shard, key, ctx.now, Value::new_zset, Value::zset_mut)?;
    let (mut added, mut changed) = (0, 0);
    let mut incr_result = None;
    for (p, &score) in pairs.chunks(2).zip(&scores) {
        let member = p[1];
        let cur = z.score(member);
        if (f.nx && cur.is_some()) || (f.xx && cur.is_none()) {
            continue;
        }
        let mut new = score;
        if f.incr {
            new = cur.unwrap_or(0.0) + score;
            if new.is_nan() {
                remove_if_empty(&mut shard, key);
                return Err(CmdError::new("ERR resulting score is not a number (NaN)"));
            }
        }
        if let Some(c) = cur {
            if (f.gt && new <= c) || (f.lt && new >= c) {
                continue;
            }
        }
        incr_result = Some(new);
        match z.insert(member, new, &lim) {
            None => added += 1,
            Some(old) if old != new => changed += 1,
            Some(_) => {}
        }
    }
    remove_if_empty(&mut shard, key);
    if added + changed > 0 {
        ctx.changed(ev::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
        ctx.dirty((added + changed) as u64);
    }
    if f.incr {
        match incr_result {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if f.ch { added + changed } else { added });
    }
    Ok(())
}

fn zincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let by = score_arg(argv[2])?;
    let lim = ctx.limits();
    let mut shard = ctx.db().lock_key(argv[1]);
    let z = collection_mut(
        &mut shard,
        argv[1],
        ctx.now,
        Value::new_zset,
        Value::zset_mut,
    )?;
    let new = z.score(argv[3]).unwrap_or(0.0) + by;
    if new.is_nan() {
        remove_if_empty(&mut shard, argv[1]);
        return Err(CmdError::new("ERR resulting score is not a number (NaN)"));
    }
    // An increment that leaves the score as it was is no change, as in Redis.
    if z.insert(argv[3], new, &lim) != Some(new) {
        ctx.changed(ev::ZSET, "zincr", argv[1]);
        ctx.dirty(1);
    }
    ctx.out.double(new);
    Ok(())
}

fn zcard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::zset_ref)?
        .map_or(0, |z| z.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    match collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::zset_ref)?
        .and_then(|z| z.score(argv[2]))
    {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = match collection_write(&mut shard, argv[1], ctx.now, Value::zset_mut)? {
        Some(z) => argv[2..].iter().filter(|m| z.remove(m)).count(),
        None => 0,
    };
    if n > 0 {
        changed(ctx, &mut shard, argv[1], ev::ZSET, "zrem");
        ctx.dirty(n as u64);
    }
    ctx.out.int(n as i64);
    Ok(())
}
