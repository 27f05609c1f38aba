//! Set commands: membership, cardinality, listing and random members.

use crate::engine::notify as ev;
use rand::Rng;

use super::keyspec::{self as ks, KeySpec as K, ACCESS, DELETE, INSERT, OW, RO, RW, UPDATE};
use super::table::{CommandSpec as C, DENYOOM, FAST, READONLY, WRITE};
use super::{args, cursor};
use super::{changed, collection_mut, collection_read, collection_write, CmdError, CmdResult, Ctx};
use crate::engine::Value;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("sadd", -3, WRITE | DENYOOM | FAST, sadd)
        .keys(&[K::at(1, RW | INSERT)])
        .doc(
            "set",
            "1.0.0",
            "key member [member ...]",
            "Adds one or more members to a set. Creates the key if it doesn't exist.",
        ),
    C::new("srem", -3, WRITE | FAST, srem).keys(&[K::at(1, RW | DELETE)]).doc(
        "set",
        "1.0.0",
        "key member [member ...]",
        "Removes one or more members from a set. Deletes the set if the last member was removed.",
    ),
    C::new("scard", 2, READONLY | FAST, scard)
        .keys(&[K::at(1, RO)])
        .doc(
            "set",
            "1.0.0",
            "key",
            "Returns the number of members in a set.",
        ),
    C::new("sismember", 3, READONLY | FAST, sismember)
        .keys(&[K::at(1, RO)])
        .doc(
            "set",
            "1.0.0",
            "key member",
            "Determines whether a member belongs to a set.",
        ),
    C::new("smismember", -3, READONLY | FAST, smismember)
        .keys(&[K::at(1, RO | ACCESS)])
        .doc(
            "set",
            "6.2.0",
            "key member [member ...]",
            "Determines whether multiple members belong to a set.",
        ),
    C::new("smembers", 2, READONLY, smembers).keys(&[K::at(1, RO | ACCESS)]).doc(
        "set",
        "1.0.0",
        "key",
        "Returns all members of a set.",
    ),
    C::new("srandmember", -2, READONLY, srandmember)
        .keys(&[K::at(1, RO | ACCESS)])
        .doc(
            "set",
            "1.0.0",
            "key [count]",
            "Get one or multiple random members from a set",
        ),
    C::new("spop", -2, WRITE | FAST, spop).keys(&[K::at(1, RW | ACCESS | DELETE)])
        .doc("set", "1.0.0", "key [count]", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    C::new("smove", 4, WRITE | FAST, smove).keys(&[K::at(1, RW | ACCESS | DELETE), K::at(2, RW | INSERT)])
        .doc("set", "1.0.0", "source destination member", "Moves a member from one set to another."),
    C::new("sinter", -2, READONLY, sinter).keys(&[K::rest(1, RO | ACCESS)])
        .doc("set", "1.0.0", "key [key ...]", "Returns the intersect of multiple sets."),
    C::new("sinterstore", -3, WRITE | DENYOOM, sinterstore).keys(&[K::at(1, RW | UPDATE), K::rest(2, RO | ACCESS)])
        .doc("set", "1.0.0", "destination key [key ...]", "Stores the intersect of multiple sets in a key."),
    C::new("sintercard", -3, READONLY, sintercard).keys(&[K::numkeys(1, RO | ACCESS)]).getkeys(ks::numkeys_at_1)
        .doc("set", "7.0.0", "numkeys key [key ...] [LIMIT limit]", "Returns the number of members of the intersect of multiple sets."),
    C::new("sunion", -2, READONLY, sunion).keys(&[K::rest(1, RO | ACCESS)])
        .doc("set", "1.0.0", "key [key ...]", "Returns the union of multiple sets."),
    C::new("sunionstore", -3, WRITE | DENYOOM, sunionstore).keys(&[K::at(1, OW | UPDATE), K::rest(2, RO | ACCESS)])
        .doc("set", "1.0.0", "destination key [key ...]", "Stores the union of multiple sets in a key."),
    C::new("sdiff", -2, READONLY, sdiff).keys(&[K::rest(1, RO | ACCESS)])
        .doc("set", "1.0.0", "key [key ...]", "Returns the difference of multiple sets."),
    C::new("sdiffstore", -3, WRITE | DENYOOM, sdiffstore).keys(&[K::at(1, OW | UPDATE), K::rest(2, RO | ACCESS)])
        .doc("set", "1.0.0", "destination key [key ...]", "Stores the difference of multiple sets in a key."),
    C::new("sscan", -3, READONLY, sscan).keys(&[K::at(1, RO | ACCESS)])
        .doc("set", "2.8.0", "key cursor [MATCH pattern] [COUNT count]", "Iterates over members of a set."),
];

fn sadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let lim = ctx.limits();
    let mut shard = ctx.db().lock_key(argv[1]);
    let set = collection_mut(&mut shard, argv[1], ctx.now, Value::new_set, Value::set_mut)?;
    let added = argv[2..].iter().filter(|m| set.insert(m, &lim)).count();
    if added > 0 {
        ctx.changed(ev::SET, "sadd", argv[1]);
        ctx.dirty(added as u64);
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let removed = match collection_write(&mut shard, argv[1], ctx.now, Value::set_mut)? {
        Some(set) => argv[2..].iter().filter(|m| set.remove(m)).count(),
        None => 0,
    };
    if removed > 0 {
        changed(ctx, &mut shard, argv[1], ev::SET, "srem");
        ctx.dirty(removed as u64);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn scard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::set_ref)?
        .map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn sismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let found = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::set_ref)?
        .is_some_and(|s| s.contains(argv[2]));
    ctx.out.int(found as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let set = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::set_ref)?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        ctx.out
            .int(set.as_ref().is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

fn smembers(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let members = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::set_ref)?
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
    let set = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::set_ref)?;
    let mut rng = rand::rng();
    match (set, count) {
        (None, None) => ctx.out.null(),
        (None, Some(_)) => ctx.out.array(0),
        (Some(s), None) => {
            let m = s.get_index(rng.random_range(0..s.len())).expect("in range");
            ctx.out.bulk(&m);
        }
        (Some(s), Some(n)) => {
            let picks = args::random_positions(n, s.len());
            ctx.out.array(picks.len());
            for i in picks {
                ctx.out.bulk(&s.get_index(i).expect("in range"));
            }
        }
    }
    Ok(())
}

fn spop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(super::SYNTAX);
    }
    let count = match argv.get(2) {
        Some(c) => Some(args::non_negative(c, None)? as usize),
        None => None,
    };
    let mut shard = ctx.db().lock_key(argv[1]);
    let Some(set) = collection_write(&mut shard, argv[1], ctx.now, Value::set_mut)? else {
        match count {
            None => ctx.out.null(),
            Some(_) => ctx.out.set(0),
        }
        return Ok(());
    };
    let mut rng = rand::rng();
    let size = set.len();
    // A random pick replays as the members it took: SREM (in batches of 1024, as Redis
    // writes them), or DEL when it took them all.
    let journal = ctx.journaling();
    let mut taken: Vec<Vec<u8>> = Vec::new();
    match count {
        Some(0) => {
            ctx.out.set(0);
            return Ok(());
        }
        None => {
            let m = set.take_index(rng.random_range(0..set.len()));
            ctx.out.bulk(&m);
            if journal {
                taken.push(m.to_vec());
            }
        }
        Some(n) => {
            let n = n.min(set.len());
            ctx.out.set(n);
            for _ in 0..n {
                let m = set.take_index(rng.random_range(0..set.len()));
                ctx.out.bulk(&m);
                if journal {
                    taken.push(m.to_vec());
                }
            }
        }
    }
    let popped = count.map_or(1, |n| n.min(size));
    changed(ctx, &mut shard, argv[1], ev::SET, "spop");
    ctx.dirty(popped as u64);
    if journal {
        if count.is_some() && popped == size {
            ctx.record(&[b"DEL", argv[1]]);
        } else {
            for batch in taken.chunks(1024) {
                let mut args: Vec<&[u8]> = vec![b"SREM", argv[1]];
                args.extend(batch.iter().map(Vec::as_slice));
                ctx.record(&args);
            }
        }
    }
    Ok(())
}

fn smove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (src, dst, member) = (argv[1], argv[2], argv[3]);
    let lim = ctx.limits();
    let now = ctx.now;
    let mut locked = ctx.db().lock_keys([src, dst]);
    let Some(src_is_set) = locked
        .shard(src)
        .get_mut(src, now)
        .map(|e| e.value.set_mut().is_some())
    else {
        ctx.out.int(0);
        return Ok(());
    };
    let dst_is_set = locked
        .shard(dst)
        .get_mut(dst, now)
        .map(|e| e.value.set_mut().is_some());
    if !src_is_set || dst_is_set == Some(false) {
        return Err(super::WRONGTYPE);
    }
    let shard = locked.shard(src);
    let set = collection_write(shard, src, now, Value::set_mut)?.expect("checked above");
    if src == dst {
        ctx.out.int(set.contains(member) as i64);
        return Ok(());
    }
    if !set.remove(member) {
        ctx.out.int(0);
        return Ok(());
    }
    changed(ctx, shard, src, ev::SET, "srem");
    ctx.dirty(1);
    let shard = locked.shard(dst);
    let added =
        collection_mut(shard, dst, now, Value::new_set, Value::set_mut)?.insert(member, &lim);
    // The destination changes only if it did not have the member.
    if added {
        ctx.changed(ev::SET, "sadd", dst);
        ctx.dirty(1);
    }
    ctx.out.int(1);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

/// Computes an intersection, union or difference of the sets at `keys` (missing keys are
/// empty sets; any other type is WRONGTYPE). Members come back in no particular order.
fn set_algebra(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    extra: Option<&[u8]>,
    op: SetOp,
) -> Result<Vec<Vec<u8>>, CmdError> {
    let now = ctx.now;
    let touch = ctx.touch();
    let mut locked = ctx.db().lock_keys(keys.iter().copied().chain(extra));
    // First pass: types and sizes (one counted lookup per key, as Redis does).
    let mut sizes = Vec::with_capacity(keys.len());
    for k in keys {
        let n = collection_read(locked.shard(k), k, now, touch, Value::set_ref)?.map(|s| s.len());
        sizes.push(n);
    }
    let members_of = |locked: &mut crate::engine::Locked, k: &[u8]| -> Vec<Vec<u8>> {
        match locked.shard(k).peek(k).map(|e| &e.value) {
            Some(Value::Set(s)) => s.members(),
            _ => Vec::new(),
        }
    };
    let contains = |locked: &mut crate::engine::Locked, k: &[u8], m: &[u8]| -> bool {
        matches!(locked.shard(k).peek(k).map(|e| &e.value), Some(Value::Set(s)) if s.contains(m))
    };
    Ok(match op {
        SetOp::Inter => {
            if sizes.iter().any(|n| n.is_none_or(|n| n == 0)) {
                return Ok(Vec::new());
            }
            // Candidates from the smallest set, filtered by each of the others.
            let mut order: Vec<usize> = (0..keys.len()).collect();
            order.sort_by_key(|&i| sizes[i]);
            let mut result = members_of(&mut locked, keys[order[0]]);
            for &i in &order[1..] {
                result.retain(|m| contains(&mut locked, keys[i], m));
                if result.is_empty() {
                    break;
                }
            }
            result
        }
        SetOp::Union => {
            let mut seen = indexmap::IndexSet::<Vec<u8>, foldhash::fast::RandomState>::default();
            for k in keys {
                seen.extend(members_of(&mut locked, k));
            }
            seen.into_iter().collect()
        }
        SetOp::Diff => {
            let mut result = members_of(&mut locked, keys[0]);
            for k in &keys[1..] {
                if result.is_empty() {
                    break;
                }
                result.retain(|m| !contains(&mut locked, k, m));
            }
            result
        }
    })
}

fn reply_members(ctx: &mut Ctx, members: &[Vec<u8>]) {
    ctx.out.set(members.len());
    for m in members {
        ctx.out.bulk(m);
    }
}

/// Replaces `dst` with a set of `members` (deleting it when there are none); replies the count.
fn store_members(ctx: &mut Ctx, dst: &[u8], members: &[Vec<u8>], event: &'static str) {
    let lim = ctx.limits();
    let mut shard = ctx.db().lock_key(dst);
    let existed = shard.remove(dst).is_some();
    if !members.is_empty() {
        let mut v = Value::new_set();
        let s = v.set_mut().expect("a set");
        for m in members {
            s.insert(m, &lim);
        }
        shard.insert(dst, crate::engine::Entry::new(v));
        ctx.changed(ev::SET, event, dst);
        ctx.dirty(1);
    } else if existed {
        ctx.changed(ev::GENERIC, "del", dst);
        ctx.dirty(1);
    }
    ctx.out.int(members.len() as i64);
}

fn sinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = set_algebra(ctx, &argv[1..], None, SetOp::Inter)?;
    reply_members(ctx, &r);
    Ok(())
}

fn sunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = set_algebra(ctx, &argv[1..], None, SetOp::Union)?;
    reply_members(ctx, &r);
    Ok(())
}

fn sdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = set_algebra(ctx, &argv[1..], None, SetOp::Diff)?;
    reply_members(ctx, &r);
    Ok(())
}

fn sinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = set_algebra(ctx, &argv[2..], Some(argv[1]), SetOp::Inter)?;
    store_members(ctx, argv[1], &r, "sinterstore");
    Ok(())
}

fn sunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = set_algebra(ctx, &argv[2..], Some(argv[1]), SetOp::Union)?;
    store_members(ctx, argv[1], &r, "sunionstore");
    Ok(())
}

fn sdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = set_algebra(ctx, &argv[2..], Some(argv[1]), SetOp::Diff)?;
    store_members(ctx, argv[1], &r, "sdiffstore");
    Ok(())
}

fn sintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let numkeys = args::range_long(
        argv[1],
        1,
        i64::MAX,
        Some("numkeys should be greater than 0"),
    )?;
    if numkeys > argv.len() as i64 - 2 {
        return Err(CmdError::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let keys_end = 2 + numkeys as usize;
    let mut limit = 0usize;
    let mut i = keys_end;
    while i < argv.len() {
        if args::is(argv[i], "LIMIT") && i + 1 < argv.len() {
            limit = args::non_negative(argv[i + 1], Some("LIMIT can't be negative"))? as usize;
            i += 2;
        } else {
            return Err(super::SYNTAX);
        }
    }
    let r = set_algebra(ctx, &argv[2..keys_end], None, SetOp::Inter)?;
    let n = if limit > 0 {
        r.len().min(limit)
    } else {
        r.len()
    };
    ctx.out.int(n as i64);
    Ok(())
}

fn sscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = cursor::parse_cursor(argv[2])?;
    let opts = cursor::parse_opts(argv, 3, false)?;
    let mut shard = ctx.db().lock_key(argv[1]);
    let set = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::set_ref)?;
    let mut found = Vec::new();
    let mut next = 0;
    if let Some(s) = set {
        let (visit, n) = cursor::positions(s.is_compact(), cursor, s.len(), opts.count);
        next = n;
        for i in visit {
            let m = s.get_index(i).expect("in range");
            if opts.matches(&m) {
                found.push(m);
            }
        }
    }
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(found.len());
    for m in &found {
        ctx.out.bulk(m);
    }
    Ok(())
}
