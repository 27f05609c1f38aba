//! List commands: pushes, pops, length, ranges and indexing.

use super::args::{self, is};
use super::keyspec::{self as ks, KeySpec as K, ACCESS, DELETE, INSERT, RO, RW, UPDATE};
use super::table::{CommandSpec as C, DENYOOM, FAST, READONLY, WRITE};
use super::At;
use super::{
    changed, changed_in, collection_mut, collection_read, collection_write, CmdError, CmdResult,
    Ctx,
};
use crate::engine::collections::List;
use crate::engine::notify as ev;
use crate::engine::Value;
use crate::protocol::Reply;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("lpush", -3, WRITE | DENYOOM | FAST, lpush).keys(&[K::at(1, RW | INSERT)]).doc("list", "1.0.0", "key element [element ...]", "Prepends one or more elements to a list. Creates the key if it doesn't exist."),
    C::new("rpush", -3, WRITE | DENYOOM | FAST, rpush).keys(&[K::at(1, RW | INSERT)]).doc("list", "1.0.0", "key element [element ...]", "Appends one or more elements to a list. Creates the key if it doesn't exist."),
    C::new("lpushx", -3, WRITE | DENYOOM | FAST, lpushx).keys(&[K::at(1, RW | INSERT)]).doc("list", "2.2.0", "key element [element ...]", "Prepends one or more elements to a list only when the list exists."),
    C::new("rpushx", -3, WRITE | DENYOOM | FAST, rpushx).keys(&[K::at(1, RW | INSERT)]).doc("list", "2.2.0", "key element [element ...]", "Appends an element to a list only when the list exists."),
    C::new("lpop", -2, WRITE | FAST, lpop).keys(&[K::at(1, RW | ACCESS | DELETE)]).doc("list", "1.0.0", "key [count]", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped."),
    C::new("rpop", -2, WRITE | FAST, rpop).keys(&[K::at(1, RW | ACCESS | DELETE)]).doc("list", "1.0.0", "key [count]", "Returns and removes the last elements of a list. Deletes the list if the last element was popped."),
    C::new("llen", 2, READONLY | FAST, llen).keys(&[K::at(1, RO)]).doc("list", "1.0.0", "key", "Returns the length of a list."),
    C::new("lrange", 4, READONLY, lrange).keys(&[K::at(1, RO | ACCESS)]).doc("list", "1.0.0", "key start stop", "Returns a range of elements from a list."),
    C::new("lindex", 3, READONLY, lindex).keys(&[K::at(1, RO | ACCESS)]).doc("list", "1.0.0", "key index", "Returns an element from a list by its index."),
    C::new("linsert", 5, WRITE | DENYOOM, linsert).keys(&[K::at(1, RW | INSERT)]).doc("list", "2.2.0", "key <BEFORE | AFTER> pivot element", "Inserts an element before or after another element in a list."),
    C::new("lpos", -3, READONLY, lpos).keys(&[K::at(1, RO | ACCESS)]).doc("list", "6.0.6", "key element [RANK rank] [COUNT num-matches] [MAXLEN len]", "Returns the index of matching elements in a list."),
    C::new("lrem", 4, WRITE, lrem).keys(&[K::at(1, RW | DELETE)]).doc("list", "1.0.0", "key count element", "Removes elements from a list. Deletes the list if the last element was removed."),
    C::new("lset", 4, WRITE | DENYOOM, lset).keys(&[K::at(1, RW | UPDATE)]).doc("list", "1.0.0", "key index element", "Sets the value of an element in a list by its index."),
    C::new("ltrim", 4, WRITE, ltrim).keys(&[K::at(1, RW | DELETE)]).doc("list", "1.0.0", "key start stop", "Removes elements from both ends a list. Deletes the list if all elements were trimmed."),
    C::new("lmove", 5, WRITE | DENYOOM, lmove).keys(&[K::at(1, RW | ACCESS | DELETE), K::at(2, RW | INSERT)]).doc("list", "6.2.0", "source destination <LEFT | RIGHT> <LEFT | RIGHT>", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved."),
    C::new("rpoplpush", 3, WRITE | DENYOOM, rpoplpush).keys(&[K::at(1, RW | ACCESS | DELETE), K::at(2, RW | INSERT)]).doc("list", "1.2.0", "source destination", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped."),
    C::new("lmpop", -4, WRITE, lmpop).keys(&[K::numkeys(1, RW | ACCESS | DELETE)]).getkeys(ks::numkeys_at_1).doc("list", "7.0.0", "numkeys key [key ...] <LEFT | RIGHT> [COUNT count]", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped."),
];

fn push(ctx: &mut Ctx, argv: &[&[u8]], front: bool, only_existing: bool) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    if only_existing && !shard.contains(argv[1], ctx.now) {
        ctx.out.int(0);
        return Ok(());
    }
    let list = collection_mut(
        &mut shard,
        argv[1],
        ctx.now,
        Value::new_list,
        Value::list_mut,
    )?;
    for e in &argv[2..] {
        if front {
            list.push_front((*e).into());
        } else {
            list.push_back((*e).into());
        }
    }
    ctx.out.int(list.len() as i64);
    ctx.changed(ev::LIST, if front { "lpush" } else { "rpush" }, argv[1]);
    ctx.dirty(argv.len() as u64 - 2);
    Ok(())
}

fn lpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, true, false)
}

fn rpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, false, false)
}

fn lpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, true, true)
}

fn rpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, false, true)
}

fn pop(ctx: &mut Ctx, argv: &[&[u8]], front: bool) -> CmdResult {
    if argv.len() > 3 {
        let name = pop_event(front);
        return Err(CmdError::owned(format!(
            "ERR wrong number of arguments for '{name}' command"
        )));
    }
    let count = match argv.get(2) {
        Some(c) => {
            let n = args::int(c)
                .map_err(|_| CmdError::new("ERR value is out of range, must be positive"))?;
            if n < 0 {
                return Err(CmdError::new("ERR value is out of range, must be positive"));
            }
            Some(n as usize)
        }
        None => None,
    };
    let mut shard = ctx.db().lock_key(argv[1]);
    let Some(list) = collection_write(&mut shard, argv[1], ctx.now, Value::list_mut)? else {
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let take = |l: &mut List| pop_end(l, front);
    let popped = match count {
        None => {
            let e = take(list).expect("lists are never empty");
            ctx.out.bulk(&e);
            1
        }
        Some(n) => {
            let n = n.min(list.len());
            ctx.out.array(n);
            for _ in 0..n {
                let e = take(list).expect("n <= len");
                ctx.out.bulk(&e);
            }
            n
        }
    };
    if popped > 0 {
        changed(ctx, &mut shard, argv[1], ev::LIST, pop_event(front));
        ctx.dirty(popped as u64);
    }
    Ok(())
}

fn lpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop(ctx, argv, true)
}

fn rpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop(ctx, argv, false)
}

fn llen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::list_ref)?
        .map_or(0, |l| l.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// Clamps Redis-style (possibly negative) start/stop indexes to a range of `len` items.
pub fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

fn lrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let start = args::int(argv[2])?;
    let stop = args::int(argv[3])?;
    let mut shard = ctx.db().lock_key(argv[1]);
    let Some(list) = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::list_ref)?
    else {
        ctx.out.array(0);
        return Ok(());
    };
    match clamp_range(start, stop, list.len()) {
        None => ctx.out.array(0),
        Some((a, b)) => {
            ctx.out.array(b - a + 1);
            for e in list.range(a..=b) {
                ctx.out.bulk(e);
            }
        }
    }
    Ok(())
}

fn lindex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let idx = args::int(argv[2])?;
    let mut shard = ctx.db().lock_key(argv[1]);
    let Some(list) = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::list_ref)?
    else {
        ctx.out.null();
        return Ok(());
    };
    let i = if idx < 0 {
        list.len() as i64 + idx
    } else {
        idx
    };
    match (i >= 0).then(|| list.get(i as usize)).flatten() {
        Some(e) => ctx.out.bulk(e),
        None => ctx.out.null(),
    }
    Ok(())
}

fn linsert(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let after = if is(argv[2], "AFTER") {
        true
    } else if is(argv[2], "BEFORE") {
        false
    } else {
        return Err(super::SYNTAX);
    };
    let mut shard = ctx.db().lock_key(argv[1]);
    let Some(list) = collection_write(&mut shard, argv[1], ctx.now, Value::list_mut)? else {
        ctx.out.int(0);
        return Ok(());
    };
    match list.iter().position(|e| &e[..] == argv[3]) {
        Some(i) => {
            list.insert(if after { i + 1 } else { i }, argv[4].into());
            ctx.out.int(list.len() as i64);
            ctx.changed(ev::LIST, "linsert", argv[1]);
            ctx.dirty(1);
        }
        None => ctx.out.int(-1),
    }
    Ok(())
}

fn lpos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut i = 3;
    while i < argv.len() {
        let more = i + 1 < argv.len();
        if is(argv[i], "RANK") && more {
            rank = args::int(argv[i + 1])?;
            if rank == 0 {
                return Err(CmdError::new("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
        } else if is(argv[i], "COUNT") && more {
            count =
                Some(args::non_negative(argv[i + 1], Some("COUNT can't be negative"))? as usize);
        } else if is(argv[i], "MAXLEN") && more {
            maxlen = args::non_negative(argv[i + 1], Some("MAXLEN can't be negative"))? as usize;
        } else {
            return Err(super::SYNTAX);
        }
        i += 2;
    }
    let mut shard = ctx.db().lock_key(argv[1]);
    let Some(list) = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::list_ref)?
    else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let len = list.len();
    let scan = if maxlen == 0 { len } else { maxlen.min(len) };
    let skip = rank.unsigned_abs() as usize - 1;
    // Positions of matches in the walk's direction, past the first `rank - 1` of them.
    let matches = (0..scan)
        .map(|k| if rank > 0 { k } else { len - 1 - k })
        .filter(|&p| &list[p][..] == argv[2])
        .skip(skip);
    match count {
        None => match matches.take(1).next() {
            Some(p) => ctx.out.int(p as i64),
            None => ctx.out.null(),
        },
        Some(n) => {
            let found: Vec<usize> = if n == 0 {
                matches.collect()
            } else {
                matches.take(n).collect()
            };
            ctx.out.array(found.len());
            for p in found {
                ctx.out.int(p as i64);
            }
        }
    }
    Ok(())
}

fn lrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let count = args::int(argv[2])?;
    let mut shard = ctx.db().lock_key(argv[1]);
    let Some(list) = collection_write(&mut shard, argv[1], ctx.now, Value::list_mut)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut removed = 0;
    if count >= 0 {
        let mut i = 0;
        while i < list.len() && removed < limit {
            if &list[i][..] == argv[3] {
                list.remove(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
    } else {
        let mut i = list.len();
        while i > 0 && removed < limit {
            i -= 1;
            if &list[i][..] == argv[3] {
                list.remove(i);
                removed += 1;
            }
        }
    }
    if removed > 0 {
        changed(ctx, &mut shard, argv[1], ev::LIST, "lrem");
        ctx.dirty(removed as u64);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn lset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let list =
        collection_write(&mut shard, argv[1], ctx.now, Value::list_mut)?.ok_or(super::NO_KEY)?;
    let idx = args::int(argv[2])?;
    let i = if idx < 0 {
        list.len() as i64 + idx
    } else {
        idx
    };
    match (i >= 0).then(|| list.get_mut(i as usize)).flatten() {
        Some(e) => *e = argv[3].into(),
        None => return Err(CmdError::new("ERR index out of range")),
    }
    ctx.changed(ev::LIST, "lset", argv[1]);
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

fn ltrim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let start = args::int(argv[2])?;
    let stop = args::int(argv[3])?;
    let mut shard = ctx.db().lock_key(argv[1]);
    if let Some(list) = collection_write(&mut shard, argv[1], ctx.now, Value::list_mut)? {
        let before = list.len();
        match clamp_range(start, stop, list.len()) {
            Some((a, b)) => {
                list.truncate(b + 1);
                list.drain(..a);
            }
            None => list.clear(),
        }
        let removed = before - list.len();
        // A trim that removes nothing is still an event and a touch (not a dirty change), as
        // in Redis.
        changed(ctx, &mut shard, argv[1], ev::LIST, "ltrim");
        ctx.dirty(removed as u64);
    }
    ctx.out.ok();
    Ok(())
}

/// Takes an element from the head (`front`) or the tail.
pub fn pop_end(list: &mut List, front: bool) -> Option<crate::engine::collections::Bytes> {
    if front {
        list.pop_front()
    } else {
        list.pop_back()
    }
}

/// The keyspace event of a pop from that end.
pub fn pop_event(front: bool) -> &'static str {
    if front {
        "lpop"
    } else {
        "rpop"
    }
}

/// LEFT or RIGHT: true for the head.
pub fn side(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "LEFT") {
        Ok(true)
    } else if is(arg, "RIGHT") {
        Ok(false)
    } else {
        Err(super::SYNTAX)
    }
}

/// Pops from one end of `src` and pushes to one end of `dst` (which may be `src`), replying
/// the element, or a null when `src` is missing. Returns whether an element moved. Shared by
/// LMOVE, RPOPLPUSH and their blocking forms when a waiter is served.
pub fn move_element(
    at: At,
    src: &[u8],
    dst: &[u8],
    from_front: bool,
    to_front: bool,
    out: &mut Reply,
) -> Result<bool, CmdError> {
    let now = at.now;
    let mut locked = at.keyspace().lock_keys([src, dst]);
    if collection_write(locked.shard(src), src, now, Value::list_mut)?.is_none() {
        out.null();
        return Ok(false);
    }
    // The destination's type is checked before anything is popped.
    if locked
        .shard(dst)
        .get_mut(dst, now)
        .is_some_and(|e| e.value.list_mut().is_none())
    {
        return Err(super::WRONGTYPE);
    }
    let list =
        collection_write(locked.shard(src), src, now, Value::list_mut)?.expect("checked above");
    let e = pop_end(list, from_front).expect("lists are never empty");
    let dl = collection_mut(
        locked.shard(dst),
        dst,
        now,
        Value::new_list,
        Value::list_mut,
    )?;
    out.bulk(&e);
    if to_front {
        dl.push_front(e);
    } else {
        dl.push_back(e);
    }
    // Redis reports the push, then the pop (and the source's deletion if it emptied).
    let push = if to_front { "lpush" } else { "rpush" };
    at.changed(ev::LIST, push, dst);
    let pop = pop_event(from_front);
    changed_in(at, locked.shard(src), src, ev::LIST, pop);
    at.dirty(1);
    Ok(true)
}

fn lmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (from, to) = (side(argv[3])?, side(argv[4])?);
    move_element(ctx.at(), argv[1], argv[2], from, to, ctx.out)?;
    Ok(())
}

fn rpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    move_element(ctx.at(), argv[1], argv[2], false, true, ctx.out)?;
    Ok(())
}

/// Pops up to `count` elements from the first non-empty list of `keys`, replying
/// `[key, [elements]]`. Returns the key's position, or None (nothing replied) when every list
/// is missing.
pub fn mpop_first(
    at: At,
    keys: &[&[u8]],
    front: bool,
    count: usize,
    out: &mut Reply,
) -> Result<Option<usize>, CmdError> {
    let now = at.now;
    let db = at.keyspace();
    for (pos, key) in keys.iter().enumerate() {
        let mut shard = db.lock_key(key);
        let Some(list) = collection_write(&mut shard, key, now, Value::list_mut)? else {
            continue;
        };
        let n = count.min(list.len());
        out.array(2);
        out.bulk(key);
        out.array(n);
        for _ in 0..n {
            let e = pop_end(list, front).expect("n <= len");
            out.bulk(&e);
        }
        changed_in(at, &mut shard, key, ev::LIST, pop_event(front));
        at.dirty(n as u64);
        // Journaled as the plain pop it amounts to (for the blocking form above all).
        if crate::engine::effects::journaling() {
            let n = itoa::Buffer::new().format(n).as_bytes().to_vec();
            at.record(&[if front { b"LPOP" } else { b"RPOP" }, key, &n]);
        }
        return Ok(Some(pos));
    }
    Ok(None)
}

/// Parses `numkeys key [key ...] <LEFT | RIGHT> [COUNT count]` from `argv[at..]`.
pub fn parse_mpop<'a>(
    argv: &[&'a [u8]],
    at: usize,
) -> Result<(Vec<&'a [u8]>, bool, usize), CmdError> {
    args::multi_pop(argv, at, side)
}

fn lmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (keys, front, count) = parse_mpop(argv, 1)?;
    if mpop_first(ctx.at(), &keys, front, count, ctx.out)?.is_none() {
        ctx.out.null_array();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::clamp_range;

    #[test]
    fn ranges() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-2, -1, 3), Some((1, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(5, 10, 3), None);
        assert_eq!(clamp_range(0, -1, 0), None);
    }
}
