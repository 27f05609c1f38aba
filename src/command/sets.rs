//! Set commands: membership, cardinality, listing and random members.

use rand::Rng;

use super::args;
use super::table::{CommandSpec as C, DENYOOM, FAST, READONLY, WRITE};
use super::{
    collection_mut, collection_read, collection_write, remove_if_empty, CmdError, CmdResult, Ctx,
};
use crate::engine::Value;

pub static COMMANDS: &[C] = &[
    C::new("sadd", -3, WRITE | DENYOOM | FAST, sadd)
        .keys(1, 1, 1)
        .doc(
            "set",
            "1.0.0",
            "key member [member ...]",
            "Adds one or more members to a set. Creates the key if it doesn't exist.",
        ),
    C::new("srem", -3, WRITE | FAST, srem).keys(1, 1, 1).doc(
        "set",
        "1.0.0",
        "key member [member ...]",
        "Removes one or more members from a set. Deletes the set if the last member was removed.",
    ),
    C::new("scard", 2, READONLY | FAST, scard)
        .keys(1, 1, 1)
        .doc(
            "set",
            "1.0.0",
            "key",
            "Returns the number of members in a set.",
        ),
    C::new("sismember", 3, READONLY | FAST, sismember)
        .keys(1, 1, 1)
        .doc(
            "set",
            "1.0.0",
            "key member",
            "Determines whether a member belongs to a set.",
        ),
    C::new("smismember", -3, READONLY | FAST, smismember)
        .keys(1, 1, 1)
        .doc(
            "set",
            "6.2.0",
            "key member [member ...]",
            "Determines whether multiple members belong to a set.",
        ),
    C::new("smembers", 2, READONLY, smembers).keys(1, 1, 1).doc(
        "set",
        "1.0.0",
        "key",
        "Returns all members of a set.",
    ),
    C::new("srandmember", -2, READONLY, srandmember)
        .keys(1, 1, 1)
        .doc(
            "set",
            "1.0.0",
            "key [count]",
            "Get one or multiple random members from a set",
        ),
];

fn sadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let lim = *ctx.server.config.live.limits.read();
    let mut shard = ctx.db().lock_key(argv[1]);
    let set = collection_mut(&mut shard, argv[1], ctx.now, Value::new_set, Value::set_mut)?;
    let added = argv[2..].iter().filter(|m| set.insert(m, &lim)).count();
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let removed = match collection_write(&mut shard, argv[1], ctx.now, Value::set_mut)? {
        Some(set) => argv[2..].iter().filter(|m| set.remove(m)).count(),
        None => 0,
    };
    remove_if_empty(&mut shard, argv[1]);
    ctx.out.int(removed as i64);
    Ok(())
}

fn scard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::set_mut)?
        .map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn sismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let found = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::set_mut)?
        .is_some_and(|s| s.contains(argv[2]));
    ctx.out.int(found as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let set = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::set_mut)?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        ctx.out
            .int(set.as_ref().is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

fn smembers(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let members = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::set_mut)?
        .map(|s| s.members())
        .unwrap_or_default();
    ctx.out.set(members.len());
    for m in &members {
        ctx.out.bulk(m);
    }
    Ok(())
}

fn srandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(super::SYNTAX);
    }
    let count = match argv.get(2) {
        Some(c) => {
            let n = args::int(c)?;
            if n == i64::MIN {
                return Err(CmdError::new(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            Some(n)
        }
        None => None,
    };
    let mut shard = ctx.db().lock_key(argv[1]);
    let set = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::set_mut)?;
    let mut rng = rand::rng();
    match (set, count) {
        (None, None) => ctx.out.null(),
        (None, Some(_)) => ctx.out.array(0),
        (Some(s), None) => {
            let m = s.get_index(rng.random_range(0..s.len())).expect("in range");
            ctx.out.bulk(&m);
        }
        (Some(s), Some(n)) if n >= 0 => {
            // Distinct members: a partial shuffle of the positions.
            let len = s.len();
            let n = (n as usize).min(len);
            let mut idx: Vec<usize> = (0..len).collect();
            for i in 0..n {
                let j = rng.random_range(i..len);
                idx.swap(i, j);
            }
            ctx.out.array(n);
            for &i in &idx[..n] {
                ctx.out.bulk(&s.get_index(i).expect("in range"));
            }
        }
        (Some(s), Some(n)) => {
            // Negative count: that many picks, repeats allowed.
            let n = n.unsigned_abs() as usize;
            ctx.out.array(n);
            for _ in 0..n {
                ctx.out
                    .bulk(&s.get_index(rng.random_range(0..s.len())).expect("in range"));
            }
        }
    }
    Ok(())
}
