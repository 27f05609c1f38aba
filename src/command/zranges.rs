//! Sorted-set ranges: the unified ZRANGE (by rank, score or lex, REV, LIMIT), ZRANGESTORE, the
//! older ZRANGEBY*/ZREVRANGE* forms, ZCOUNT, ZLEXCOUNT, ZREMRANGEBY*, ZRANK and ZREVRANK.

use super::args::{self, is};
use super::keyspec::{KeySpec as K, ACCESS, DELETE, OW, RO, RW, UPDATE};
use super::table::{CommandSpec as C, DENYOOM, FAST, READONLY, WRITE};
use super::{changed, collection_read, collection_write, CmdError, CmdResult, Ctx, SYNTAX};
use crate::engine::collections::ZSet;
use crate::engine::notify as ev;
use crate::engine::{Entry, Value};
use crate::protocol::Reply;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("zrange", -4, READONLY, zrange).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "1.2.0", "key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]", "Returns members in a sorted set within a range of indexes."),
    C::new("zrangestore", -5, WRITE | DENYOOM, zrangestore).keys(&[K::at(1, OW | UPDATE), K::at(2, RO | ACCESS)])
        .doc("sorted-set", "6.2.0", "dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]", "Stores a range of members from sorted set in a key."),
    C::new("zrevrange", -4, READONLY, zrevrange).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "1.2.0", "key start stop [WITHSCORES]", "Returns members in a sorted set within a range of indexes in reverse order."),
    C::new("zrangebyscore", -4, READONLY, zrangebyscore).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "1.0.5", "key min max [WITHSCORES] [LIMIT offset count]", "Returns members in a sorted set within a range of scores."),
    C::new("zrevrangebyscore", -4, READONLY, zrevrangebyscore).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "2.2.0", "key max min [WITHSCORES] [LIMIT offset count]", "Returns members in a sorted set within a range of scores in reverse order."),
    C::new("zrangebylex", -4, READONLY, zrangebylex).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "2.8.9", "key min max [LIMIT offset count]", "Returns members in a sorted set within a lexicographical range."),
    C::new("zrevrangebylex", -4, READONLY, zrevrangebylex).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "2.8.9", "key max min [LIMIT offset count]", "Returns members in a sorted set within a lexicographical range in reverse order."),
    C::new("zcount", 4, READONLY | FAST, zcount).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "2.0.0", "key min max", "Returns the count of members in a sorted set that have scores within a range."),
    C::new("zlexcount", 4, READONLY | FAST, zlexcount).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "2.8.9", "key min max", "Returns the number of members in a sorted set within a lexicographical range."),
    C::new("zremrangebyrank", 4, WRITE, zremrangebyrank).keys(&[K::at(1, RW | DELETE)])
        .doc("sorted-set", "2.0.0", "key start stop", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    C::new("zremrangebyscore", 4, WRITE, zremrangebyscore).keys(&[K::at(1, RW | DELETE)])
        .doc("sorted-set", "1.2.0", "key min max", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    C::new("zremrangebylex", 4, WRITE, zremrangebylex).keys(&[K::at(1, RW | DELETE)])
        .doc("sorted-set", "2.8.9", "key min max", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    C::new("zrank", -3, READONLY | FAST, zrank).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "2.0.0", "key member [WITHSCORE]", "Returns the index of a member in a sorted set ordered by ascending scores."),
    C::new("zrevrank", -3, READONLY | FAST, zrevrank).keys(&[K::at(1, RO | ACCESS)])
        .doc("sorted-set", "2.0.0", "key member [WITHSCORE]", "Returns the index of a member in a sorted set ordered by descending scores."),
];

/// One end of a score range.
#[derive(Clone, Copy)]
struct ScoreBound {
    v: f64,
    exclusive: bool,
}

fn score_bound(a: &[u8]) -> Result<ScoreBound, CmdError> {
    let err = || CmdError::new("ERR min or max is not a float");
    let (exclusive, rest) = match a.strip_prefix(b"(") {
        Some(r) => (true, r),
        None => (false, a),
    };
    let v = args::float(rest).map_err(|_| err())?;
    Ok(ScoreBound { v, exclusive })
}

/// One end of a lex range: `-`, `+`, `[x` or `(x`.
#[derive(Clone)]
enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

fn lex_bound(a: &[u8]) -> Result<LexBound, CmdError> {
    match a.first() {
        Some(b'-') if a.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if a.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::Incl(a[1..].to_vec())),
        Some(b'(') => Ok(LexBound::Excl(a[1..].to_vec())),
        _ => Err(CmdError::new("ERR min or max not valid string range item")),
    }
}

/// Is `m` below the lower bound `b`?
fn below_lex_min(m: &[u8], b: &LexBound) -> bool {
    match b {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Incl(x) => m < x.as_slice(),
        LexBound::Excl(x) => m <= x.as_slice(),
    }
}

/// Is `m` within the upper bound `b`?
fn within_lex_max(m: &[u8], b: &LexBound) -> bool {
    match b {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Incl(x) => m <= x.as_slice(),
        LexBound::Excl(x) => m < x.as_slice(),
    }
}

enum Range {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// Positions `lo..hi` (ascending order) of the members in a score or lex range; `rev`: the
/// range is walked from the top (ZREVRANGEBYLEX).
fn bounds(z: &ZSet, r: &Range, rev: bool) -> (usize, usize) {
    let o = z.order();
    let (lo, hi) = match r {
        Range::Score(min, max) => (
            o.count_below(|s, _| if min.exclusive { s <= min.v } else { s < min.v }),
            o.count_below(|s, _| if max.exclusive { s < max.v } else { s <= max.v }),
        ),
        Range::Lex(min, max) if equal_scores(z) => (
            o.count_below(|_, m| below_lex_min(m, min)),
            o.count_below(|_, m| within_lex_max(m, max)),
        ),
        Range::Lex(min, max) => lex_walk(z, min, max, rev),
        Range::Rank(..) => unreachable!("rank ranges are resolved by index"),
    };
    (lo, hi.max(lo))
}

/// Whether every member has the same score (the only case in which score order is member
/// order and a lex range can be found by bisection).
fn equal_scores(z: &ZSet) -> bool {
    let o = z.order();
    match (
        o.iter_from(0).next(),
        o.iter_down_from(z.len().wrapping_sub(1)).next(),
    ) {
        (Some((_, a)), Some((_, b))) => a == b,
        _ => true,
    }
}

/// A lex range over members whose scores differ (not a meaningful query, but Redis answers
/// it): walking in score order from the first member at or above the minimum (from the top:
/// the first at or below the maximum), the members until the first one out of range.
fn lex_walk(z: &ZSet, min: &LexBound, max: &LexBound, rev: bool) -> (usize, usize) {
    let o = z.order();
    let len = z.len();
    if rev {
        let Some(top) = o
            .iter_down_from(len.wrapping_sub(1))
            .position(|(m, _)| within_lex_max(m, max))
        else {
            return (0, 0);
        };
        let hi = len - top;
        let n = o
            .iter_down_from(hi - 1)
            .take_while(|(m, _)| !below_lex_min(m, min))
            .count();
        (hi - n, hi)
    } else {
        let Some(lo) = o.iter_from(0).position(|(m, _)| !below_lex_min(m, min)) else {
            return (len, len);
        };
        let n = o
            .iter_from(lo)
            .take_while(|(m, _)| within_lex_max(m, max))
            .count();
        (lo, lo + n)
    }
}

/// The members selected by a range, REV and LIMIT, in reply order.
fn select(z: &ZSet, r: &Range, rev: bool, limit: Option<(i64, i64)>) -> Vec<(Vec<u8>, f64)> {
    let len = z.len();
    let o = z.order();
    let (first, n) = match r {
        Range::Rank(start, stop) => match super::lists::clamp_range(*start, *stop, len) {
            Some((a, b)) => (a, b - a + 1),
            None => return Vec::new(),
        },
        _ => {
            let (lo, hi) = bounds(z, r, rev);
            // In reverse the walk starts at the top of the range.
            (if rev { len - hi } else { lo }, hi - lo)
        }
    };
    let (offset, count) = match limit {
        Some((off, _)) if off < 0 => return Vec::new(),
        Some((off, cnt)) => (
            off as usize,
            if cnt < 0 { usize::MAX } else { cnt as usize },
        ),
        None => (0, usize::MAX),
    };
    if offset >= n {
        return Vec::new();
    }
    let take = (n - offset).min(count);
    let start = first + offset;
    if rev {
        o.iter_down_from(len - 1 - start)
            .take(take)
            .map(|(m, s)| (m.to_vec(), s))
            .collect()
    } else {
        o.iter_from(start)
            .take(take)
            .map(|(m, s)| (m.to_vec(), s))
            .collect()
    }
}

/// Writes members (and scores: flat in RESP2, pairs in RESP3).
pub fn reply_members(out: &mut Reply, items: &[(Vec<u8>, f64)], withscores: bool) {
    let pairs = withscores && out.resp3;
    out.array(if withscores && !pairs {
        items.len() * 2
    } else {
        items.len()
    });
    for (m, s) in items {
        if pairs {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(*s);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum By {
    Auto,
    Score,
    Lex,
}

struct RangeArgs {
    range: Range,
    rev: bool,
    withscores: bool,
    limit: Option<(i64, i64)>,
}

/// Parses `min max [options]` at `argv[at..]`, the way Redis's zrangeGenericCommand does for
/// the unified and the legacy forms. `by`/`rev` are fixed by legacy commands; `store` refuses
/// WITHSCORES.
fn parse_range(
    argv: &[&[u8]],
    at: usize,
    mut by: By,
    mut rev: bool,
    fixed: bool,
    store: bool,
) -> Result<RangeArgs, CmdError> {
    let mut withscores = false;
    let mut limit = None;
    let mut j = at + 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = argv[j];
        if !store && is(a, "WITHSCORES") {
            withscores = true;
        } else if is(a, "LIMIT") && left >= 2 {
            limit = Some((args::int(argv[j + 1])?, args::int(argv[j + 2])?));
            j += 2;
        } else if !fixed && is(a, "REV") {
            rev = true;
        } else if !fixed && by == By::Auto && is(a, "BYSCORE") {
            by = By::Score;
        } else if !fixed && by == By::Auto && is(a, "BYLEX") {
            by = By::Lex;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    if limit.is_some() && by == By::Auto {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(CmdError::new(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Reversed score and lex ranges are written max first.
    let (lo, hi) = if rev && by != By::Auto {
        (argv[at + 1], argv[at])
    } else {
        (argv[at], argv[at + 1])
    };
    let range = match by {
        By::Auto => Range::Rank(args::int(lo)?, args::int(hi)?),
        By::Score => Range::Score(score_bound(lo)?, score_bound(hi)?),
        By::Lex => Range::Lex(lex_bound(lo)?, lex_bound(hi)?),
    };
    Ok(RangeArgs {
        range,
        rev,
        withscores,
        limit,
    })
}

fn range_reply(ctx: &mut Ctx, argv: &[&[u8]], by: By, rev: bool, fixed: bool) -> CmdResult {
    let a = parse_range(argv, 2, by, rev, fixed, false)?;
    let mut shard = ctx.db().lock_key(argv[1]);
    let items = match collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::zset_ref)? {
        Some(z) => select(z, &a.range, a.rev, a.limit),
        None => Vec::new(),
    };
    drop(shard);
    reply_members(ctx.out, &items, a.withscores);
    Ok(())
}

fn zrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_reply(ctx, argv, By::Auto, false, false)
}

fn zrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_reply(ctx, argv, By::Auto, true, true)
}

fn zrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_reply(ctx, argv, By::Score, false, true)
}

fn zrevrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_reply(ctx, argv, By::Score, true, true)
}

fn zrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_reply(ctx, argv, By::Lex, false, true)
}

fn zrevrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_reply(ctx, argv, By::Lex, true, true)
}

/// Replaces `dst` with a sorted set of `items` (deleted when empty); returns the count.
/// Storing counts `dirty` changes (deleting counts one).
pub fn store_zset(
    ctx: &mut Ctx,
    dst: &[u8],
    items: &[(Vec<u8>, f64)],
    event: &'static str,
    dirty: u64,
) -> usize {
    let lim = ctx.limits();
    let mut shard = ctx.db().lock_key(dst);
    let existed = shard.remove(dst).is_some();
    if items.is_empty() && existed {
        ctx.changed(ev::GENERIC, "del", dst);
        ctx.dirty(1);
    }
    if !items.is_empty() {
        let mut v = Value::new_zset();
        let z = v.zset_mut().expect("a zset");
        for (m, s) in items {
            z.insert(m, *s, &lim);
        }
        shard.insert(dst, Entry::new(v));
        ctx.changed(ev::ZSET, event, dst);
        ctx.dirty(dirty);
    }
    items.len()
}

fn zrangestore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let a = parse_range(argv, 3, By::Auto, false, false, true)?;
    let mut shard = ctx.db().lock_key(argv[2]);
    let items = match collection_read(&mut shard, argv[2], ctx.now, ctx.touch(), Value::zset_ref)? {
        Some(z) => select(z, &a.range, a.rev, a.limit),
        None => Vec::new(),
    };
    drop(shard);
    let n = store_zset(ctx, argv[1], &items, "zrangestore", 1);
    ctx.out.int(n as i64);
    Ok(())
}

fn count_in(ctx: &mut Ctx, argv: &[&[u8]], range: Range) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = match collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::zset_ref)? {
        Some(z) => {
            let (lo, hi) = bounds(z, &range, false);
            hi - lo
        }
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

fn zcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = Range::Score(score_bound(argv[2])?, score_bound(argv[3])?);
    count_in(ctx, argv, r)
}

fn zlexcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = Range::Lex(lex_bound(argv[2])?, lex_bound(argv[3])?);
    count_in(ctx, argv, r)
}

fn remove_range(ctx: &mut Ctx, argv: &[&[u8]], range: Range, event: &'static str) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = match collection_write(&mut shard, argv[1], ctx.now, Value::zset_mut)? {
        Some(z) => {
            let doomed = select(z, &range, false, None);
            for (m, _) in &doomed {
                z.remove(m);
            }
            doomed.len()
        }
        None => 0,
    };
    if n > 0 {
        changed(ctx, &mut shard, argv[1], ev::ZSET, event);
        ctx.dirty(n as u64);
    }
    ctx.out.int(n as i64);
    Ok(())
}

fn zremrangebyrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = Range::Rank(args::int(argv[2])?, args::int(argv[3])?);
    remove_range(ctx, argv, r, "zremrangebyrank")
}

fn zremrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = Range::Score(score_bound(argv[2])?, score_bound(argv[3])?);
    remove_range(ctx, argv, r, "zremrangebyscore")
}

fn zremrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = Range::Lex(lex_bound(argv[2])?, lex_bound(argv[3])?);
    remove_range(ctx, argv, r, "zremrangebylex")
}

fn rank(ctx: &mut Ctx, argv: &[&[u8]], rev: bool) -> CmdResult {
    let withscore = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && is(a, "WITHSCORE") => true,
        Some(_) => return Err(SYNTAX),
    };
    let mut shard = ctx.db().lock_key(argv[1]);
    let found = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::zset_ref)?
        .and_then(|z| Some((z.rank(argv[2])?, z.score(argv[2])?, z.len())));
    match found {
        Some((r, s, len)) => {
            let r = if rev { len - 1 - r } else { r };
            if withscore {
                ctx.out.array(2);
                ctx.out.int(r as i64);
                ctx.out.double(s);
            } else {
                ctx.out.int(r as i64);
            }
        }
        None if withscore => ctx.out.null_array(),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rank(ctx, argv, false)
}

fn zrevrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rank(ctx, argv, true)
}
