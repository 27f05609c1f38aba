//! Sorted sets, the rest: pops (ZPOPMIN/ZPOPMAX/ZMPOP and the blocking forms' shared part),
//! ZRANDMEMBER, ZMSCORE, ZSCAN, and the algebra ZUNION/ZINTER/ZDIFF (+STORE) and ZINTERCARD.

use rand::Rng;

use super::args::{self, is};
use super::keyspec::{self as ks, KeySpec as K, ACCESS, DELETE, OW, RO, RW, UPDATE};
use super::table::{CommandSpec as C, DENYOOM, FAST, READONLY, WRITE};
use super::zranges::{reply_members, store_zset};
use super::At;
use super::{
    changed_in, collection_read, collection_write, cursor, CmdError, CmdResult, Ctx, SYNTAX,
};
use crate::engine::notify as ev;
use crate::engine::{Locked, Value};
use crate::protocol::Reply;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("zpopmin", -2, WRITE | FAST, zpopmin).keys(&[K::at(1, RW | ACCESS | DELETE)])
        .doc("sorted-set", "5.0.0", "key [count]", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    C::new("zpopmax", -2, WRITE | FAST, zpopmax).keys(&[K::at(1, RW | ACCESS | DELETE)])
        .doc("sorted-set", "5.0.0", "key [count]", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    C::new("zmpop", -4, WRITE, zmpop).keys(&[K::numkeys(1, RW | ACCESS | DELETE)]).getkeys(ks::numkeys_at_1)
        .doc("sorted-set", "7.0.0", "numkeys key [key ...] <MIN | MAX> [COUNT count]", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped."),
    C::new("zrandmember", -2, READONLY, zrandmember).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "6.2.0", "key [count [WITHSCORES]]", "Returns one or more random members from a sorted set."),
    C::new("zmscore", -3, READONLY | FAST, zmscore).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "6.2.0", "key member [member ...]", "Returns the score of one or more members in a sorted set."),
    C::new("zscan", -3, READONLY, zscan).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "2.8.0", "key cursor [MATCH pattern] [COUNT count]", "Iterates over members and scores of a sorted set."),
    C::new("zunion", -3, READONLY, zunion).keys(&[K::numkeys(1, RO | ACCESS)]).getkeys(ks::numkeys_at_1)
        .doc("sorted-set", "6.2.0", "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]", "Returns the union of multiple sorted sets."),
    C::new("zinter", -3, READONLY, zinter).keys(&[K::numkeys(1, RO | ACCESS)]).getkeys(ks::numkeys_at_1)
        .doc("sorted-set", "6.2.0", "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]", "Returns the intersect of multiple sorted sets."),
    C::new("zdiff", -3, READONLY, zdiff).keys(&[K::numkeys(1, RO | ACCESS)]).getkeys(ks::numkeys_at_1)
        .doc("sorted-set", "6.2.0", "numkeys key [key ...] [WITHSCORES]", "Returns the difference between multiple sorted sets."),
    C::new("zunionstore", -4, WRITE | DENYOOM, zunionstore).keys(&[K::at(1, OW | UPDATE), K::numkeys(2, RO | ACCESS)]).getkeys(ks::store_numkeys)
        .doc("sorted-set", "2.0.0", "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]", "Stores the union of multiple sorted sets in a key."),
    C::new("zinterstore", -4, WRITE | DENYOOM, zinterstore).keys(&[K::at(1, OW | UPDATE), K::numkeys(2, RO | ACCESS)]).getkeys(ks::store_numkeys)
        .doc("sorted-set", "2.0.0", "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]", "Stores the intersect of multiple sorted sets in a key."),
    C::new("zdiffstore", -4, WRITE | DENYOOM, zdiffstore).keys(&[K::at(1, OW | UPDATE), K::numkeys(2, RO | ACCESS)]).getkeys(ks::store_numkeys)
        .doc("sorted-set", "6.2.0", "destination numkeys key [key ...]", "Stores the difference of multiple sorted sets in a key."),
    C::new("zintercard", -3, READONLY, zintercard).keys(&[K::numkeys(1, RO | ACCESS)]).getkeys(ks::numkeys_at_1)
        .doc("sorted-set", "7.0.0", "numkeys key [key ...] [LIMIT limit]", "Returns the number of members of the intersect of multiple sorted sets."),
];

/// How a pop replies (Redis's genericZpopCommand shapes).
#[derive(Clone, Copy, Debug)]
pub struct PopShape {
    /// Name the key (BZPOP*, ZMPOP).
    pub emit_key: bool,
    /// `[member, score]` pairs instead of a flat list.
    pub nested: bool,
    /// A null array instead of an empty one when nothing can be popped.
    pub nil_when_empty: bool,
}

/// Pops from the first non-empty sorted set among `keys`. `count` None is a single pop.
/// Returns the index of the key popped from, or None when every key is missing (the empty
/// reply is then written).
pub fn zpop(
    at: At,
    keys: &[&[u8]],
    max: bool,
    count: Option<usize>,
    shape: PopShape,
    out: &mut Reply,
) -> Result<Option<usize>, CmdError> {
    let now = at.now;
    let db = at.keyspace();
    for (idx, key) in keys.iter().enumerate() {
        let mut shard = db.lock_key(key);
        let Some(z) = collection_write(&mut shard, key, now, Value::zset_mut)? else {
            continue;
        };
        if count == Some(0) {
            out.array(0);
            return Ok(None);
        }
        let n = count.unwrap_or(1).min(z.len());
        match (shape.emit_key, shape.nested) {
            (false, false) => out.array(n * 2),
            (false, true) => out.array(n),
            (true, false) => {
                out.array(n * 2 + 1);
                out.bulk(key);
            }
            (true, true) => {
                out.array(2);
                out.bulk(key);
                out.array(n);
            }
        }
        for _ in 0..n {
            let (m, s) = {
                let it = if max {
                    z.order().iter_down_from(z.len() - 1).next()
                } else {
                    z.order().iter_from(0).next()
                };
                let (m, s) = it.expect("n <= len");
                (m.to_vec(), s)
            };
            z.remove(&m);
            if shape.nested {
                out.array(2);
            }
            out.bulk(&m);
            out.double(s);
        }
        changed_in(
            at,
            &mut shard,
            key,
            ev::ZSET,
            if max { "zpopmax" } else { "zpopmin" },
        );
        at.dirty(n as u64);
        // Journaled as the plain pop it amounts to (for ZMPOP and the blocking forms).
        if crate::engine::effects::journaling() {
            let pop: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            match count {
                Some(_) => {
                    let n = itoa::Buffer::new().format(n).as_bytes().to_vec();
                    at.record(&[pop, key, &n]);
                }
                None => at.record(&[pop, key]),
            }
        }
        return Ok(Some(idx));
    }
    if shape.nil_when_empty {
        out.null_array();
    } else {
        out.array(0);
    }
    Ok(None)
}

fn pop_minmax(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(SYNTAX);
    }
    let count = match argv.get(2) {
        Some(c) => Some(args::non_negative(c, None)? as usize),
        None => None,
    };
    let shape = PopShape {
        emit_key: false,
        nested: ctx.out.resp3 && count.is_some(),
        nil_when_empty: false,
    };
    zpop(ctx.at(), &argv[1..2], max, count, shape, ctx.out)?;
    Ok(())
}

fn zpopmin(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_minmax(ctx, argv, false)
}

fn zpopmax(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_minmax(ctx, argv, true)
}

/// MIN or MAX: true for MAX.
fn min_max(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "MIN") {
        Ok(false)
    } else if is(arg, "MAX") {
        Ok(true)
    } else {
        Err(SYNTAX)
    }
}

/// Parses `numkeys key [key ...] <MIN | MAX> [COUNT count]` at `argv[at..]`.
pub fn parse_zmpop<'a>(
    argv: &[&'a [u8]],
    at: usize,
) -> Result<(Vec<&'a [u8]>, bool, usize), CmdError> {
    args::multi_pop(argv, at, min_max)
}

pub const MPOP_SHAPE: PopShape = PopShape {
    emit_key: true,
    nested: true,
    nil_when_empty: true,
};

fn zmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (keys, max, count) = parse_zmpop(argv, 1)?;
    zpop(ctx.at(), &keys, max, Some(count), MPOP_SHAPE, ctx.out)?;
    Ok(())
}

fn zrandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let parsed = args::random_count(argv, "WITHSCORES")?;
    let (count, withscores) = match parsed {
        Some((n, w)) => (Some(n), w),
        None => (None, false),
    };
    let mut shard = ctx.db().lock_key(argv[1]);
    let z = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::zset_ref)?;
    let mut rng = rand::rng();
    let Some(count) = count else {
        match z {
            Some(z) => {
                let i = rng.random_range(0..z.len());
                ctx.out
                    .bulk(z.order().iter_from(i).next().expect("in range").0);
            }
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let Some(z) = z.filter(|_| count != 0) else {
        ctx.out.array(0);
        return Ok(());
    };
    let len = z.len();
    let picks = args::random_positions(count, len);
    // The whole set comes back highest score first, as Redis walks it.
    let items: Vec<(Vec<u8>, f64)> = if picks.len() == len && count > 0 {
        z.iter().rev().map(|(m, s)| (m.to_vec(), s)).collect()
    } else {
        picks
            .iter()
            .map(|&i| {
                let (m, s) = z.order().iter_from(i).next().expect("in range");
                (m.to_vec(), s)
            })
            .collect()
    };
    drop(shard);
    reply_members(ctx.out, &items, withscores);
    Ok(())
}

fn zmscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let z = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::zset_ref)?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        match z.as_ref().and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn zscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cur = cursor::parse_cursor(argv[2])?;
    let opts = cursor::parse_opts(argv, 3, false)?;
    let mut shard = ctx.db().lock_key(argv[1]);
    let z = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::zset_ref)?;
    let mut found: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut next = 0;
    if let Some(z) = z {
        // A listpack comes back whole in score order; a big set is walked over its member
        // table, whose positions removals only ever move downwards.
        let (visit, n) = cursor::positions(z.is_compact(), cur, z.len(), opts.count);
        next = n;
        if z.is_compact() {
            found.extend(
                z.iter()
                    .filter(|(m, _)| opts.matches(m))
                    .map(|(m, s)| (m.to_vec(), s)),
            );
        } else {
            for i in visit {
                let (m, s) = z.get_index(i).expect("in range");
                if opts.matches(m) {
                    found.push((m.to_vec(), s));
                }
            }
        }
    }
    drop(shard);
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(found.len() * 2);
    for (m, s) in &found {
        ctx.out.bulk(m);
        ctx.out
            .bulk(crate::protocol::reply::format_double(*s).as_bytes());
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += v;
            // inf + -inf: Redis's convention is 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => *target = target.min(v),
        Aggregate::Max => *target = target.max(v),
    }
}

struct AlgebraArgs<'a> {
    keys: Vec<&'a [u8]>,
    weights: Vec<f64>,
    how: Aggregate,
    withscores: bool,
    limit: usize,
}

fn parse_algebra<'a>(
    ctx: &Ctx,
    argv: &[&'a [u8]],
    at: usize,
    op: Op,
    store: bool,
    card: bool,
) -> Result<AlgebraArgs<'a>, CmdError> {
    let n = args::int(argv[at])?;
    if n < 1 {
        let name = ctx.commands().name_of(
            ctx.client
                .handle
                .last_cmd
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        return Err(CmdError::owned(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if n > (argv.len() - at - 1) as i64 {
        return Err(SYNTAX);
    }
    let n = n as usize;
    let keys = argv[at + 1..at + 1 + n].to_vec();
    let mut a = AlgebraArgs {
        keys,
        weights: vec![1.0; n],
        how: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = at + 1 + n;
    while j < argv.len() {
        let left = argv.len() - j;
        if op != Op::Diff && !card && left > n && is(argv[j], "WEIGHTS") {
            for i in 0..n {
                a.weights[i] = args::float(argv[j + 1 + i])
                    .map_err(|_| CmdError::new("ERR weight value is not a float"))?;
            }
            j += 1 + n;
        } else if op != Op::Diff && !card && left >= 2 && is(argv[j], "AGGREGATE") {
            a.how = match argv[j + 1] {
                x if is(x, "SUM") => Aggregate::Sum,
                x if is(x, "MIN") => Aggregate::Min,
                x if is(x, "MAX") => Aggregate::Max,
                _ => return Err(SYNTAX),
            };
            j += 2;
        } else if !store && !card && is(argv[j], "WITHSCORES") {
            a.withscores = true;
            j += 1;
        } else if card && left >= 2 && is(argv[j], "LIMIT") {
            a.limit = args::non_negative(argv[j + 1], Some("LIMIT can't be negative"))? as usize;
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    Ok(a)
}

/// A source's score for a member: sorted sets give theirs, plain sets 1.
fn score_in(locked: &mut Locked, key: &[u8], member: &[u8]) -> Option<f64> {
    match locked.shard(key).peek(key).map(|e| &e.value) {
        Some(Value::ZSet(z)) => z.score(member),
        Some(Value::Set(s)) => s.contains(member).then_some(1.0),
        _ => None,
    }
}

fn members_of(locked: &mut Locked, key: &[u8]) -> Vec<(Vec<u8>, f64)> {
    match locked.shard(key).peek(key).map(|e| &e.value) {
        Some(Value::ZSet(z)) => z.iter().map(|(m, s)| (m.to_vec(), s)).collect(),
        Some(Value::Set(s)) => s.members().into_iter().map(|m| (m, 1.0)).collect(),
        _ => Vec::new(),
    }
}

/// Computes the result, sorted by score then member.
fn algebra(
    ctx: &mut Ctx,
    a: &AlgebraArgs,
    op: Op,
    dst: Option<&[u8]>,
) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let now = ctx.now;
    let touch = ctx.touch();
    let mut locked = ctx.db().lock_keys(a.keys.iter().copied().chain(dst));
    let mut lens = Vec::with_capacity(a.keys.len());
    for k in &a.keys {
        let shard = locked.shard(k);
        let n = match shard.read(k, now, touch).map(|e| &e.value) {
            None => 0,
            Some(Value::ZSet(z)) => z.len(),
            Some(Value::Set(s)) => s.len(),
            Some(_) => return Err(super::WRONGTYPE),
        };
        lens.push(n);
    }
    // Union and intersection visit the inputs smallest first, as Redis does (the order of a
    // float sum can change its last digit).
    let mut order: Vec<usize> = (0..a.keys.len()).collect();
    if op != Op::Diff {
        order.sort_by_key(|&i| lens[i]);
    }
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut result: Vec<(Vec<u8>, f64)> = match op {
        Op::Inter => {
            if lens[order[0]] == 0 {
                return Ok(Vec::new());
            }
            let first = order[0];
            let mut out = Vec::new();
            'members: for (m, s) in members_of(&mut locked, a.keys[first]) {
                let mut score = weighted(s, a.weights[first]);
                for &i in &order[1..] {
                    match score_in(&mut locked, a.keys[i], &m) {
                        Some(v) => aggregate(&mut score, weighted(v, a.weights[i]), a.how),
                        None => continue 'members,
                    }
                }
                out.push((m, score));
            }
            out
        }
        Op::Union => {
            let mut acc: indexmap::IndexMap<Vec<u8>, f64> = indexmap::IndexMap::new();
            for &i in &order {
                for (m, s) in members_of(&mut locked, a.keys[i]) {
                    let v = weighted(s, a.weights[i]);
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, v, a.how),
                        None => {
                            acc.insert(m, v);
                        }
                    }
                }
            }
            acc.into_iter().collect()
        }
        Op::Diff => {
            let mut out = members_of(&mut locked, a.keys[0]);
            for k in &a.keys[1..] {
                out.retain(|(m, _)| score_in(&mut locked, k, m).is_none());
            }
            out
        }
    };
    result.sort_by(|x, y| x.1.total_cmp(&y.1).then_with(|| x.0.cmp(&y.0)));
    Ok(result)
}

fn algebra_reply(ctx: &mut Ctx, argv: &[&[u8]], op: Op) -> CmdResult {
    let a = parse_algebra(ctx, argv, 1, op, false, false)?;
    let r = algebra(ctx, &a, op, None)?;
    reply_members(ctx.out, &r, a.withscores);
    Ok(())
}

fn algebra_store(ctx: &mut Ctx, argv: &[&[u8]], op: Op) -> CmdResult {
    let event = match op {
        Op::Union => "zunionstore",
        Op::Inter => "zinterstore",
        Op::Diff => "zdiffstore",
    };
    let a = parse_algebra(ctx, argv, 2, op, true, false)?;
    let r = algebra(ctx, &a, op, Some(argv[1]))?;
    let n = store_zset(ctx, argv[1], &r, event, 1);
    ctx.out.int(n as i64);
    Ok(())
}

fn zunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    algebra_reply(ctx, argv, Op::Union)
}

fn zinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    algebra_reply(ctx, argv, Op::Inter)
}

fn zdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    algebra_reply(ctx, argv, Op::Diff)
}

fn zunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    algebra_store(ctx, argv, Op::Union)
}

fn zinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    algebra_store(ctx, argv, Op::Inter)
}

fn zdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    algebra_store(ctx, argv, Op::Diff)
}

fn zintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let a = parse_algebra(ctx, argv, 1, Op::Inter, false, true)?;
    let r = algebra(ctx, &a, Op::Inter, None)?;
    let n = if a.limit > 0 {
        r.len().min(a.limit)
    } else {
        r.len()
    };
    ctx.out.int(n as i64);
    Ok(())
}
