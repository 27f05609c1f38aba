//! List commands: pushes, pops, length, ranges and indexing.

use super::args;
use super::table::{CommandSpec as C, DENYOOM, FAST, READONLY, WRITE};
use super::{
    collection_mut, collection_read, collection_write, remove_if_empty, CmdError, CmdResult, Ctx,
};
use crate::engine::collections::List;
use crate::engine::Value;

pub static COMMANDS: &[C] = &[
    C::new("lpush", -3, WRITE | DENYOOM | FAST, lpush).keys(1, 1, 1).doc("list", "1.0.0", "key element [element ...]", "Prepends one or more elements to a list. Creates the key if it doesn't exist."),
    C::new("rpush", -3, WRITE | DENYOOM | FAST, rpush).keys(1, 1, 1).doc("list", "1.0.0", "key element [element ...]", "Appends one or more elements to a list. Creates the key if it doesn't exist."),
    C::new("lpushx", -3, WRITE | DENYOOM | FAST, lpushx).keys(1, 1, 1).doc("list", "2.2.0", "key element [element ...]", "Prepends one or more elements to a list only when the list exists."),
    C::new("rpushx", -3, WRITE | DENYOOM | FAST, rpushx).keys(1, 1, 1).doc("list", "2.2.0", "key element [element ...]", "Appends an element to a list only when the list exists."),
    C::new("lpop", -2, WRITE | FAST, lpop).keys(1, 1, 1).doc("list", "1.0.0", "key [count]", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped."),
    C::new("rpop", -2, WRITE | FAST, rpop).keys(1, 1, 1).doc("list", "1.0.0", "key [count]", "Returns and removes the last elements of a list. Deletes the list if the last element was popped."),
    C::new("llen", 2, READONLY | FAST, llen).keys(1, 1, 1).doc("list", "1.0.0", "key", "Returns the length of a list."),
    C::new("lrange", 4, READONLY, lrange).keys(1, 1, 1).doc("list", "1.0.0", "key start stop", "Returns a range of elements from a list."),
    C::new("lindex", 3, READONLY, lindex).keys(1, 1, 1).doc("list", "1.0.0", "key index", "Returns an element from a list by its index."),
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
        let name = if front { "lpop" } else { "rpop" };
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
    let take = |l: &mut List| if front { l.pop_front() } else { l.pop_back() };
    match count {
        None => {
            let e = take(list).expect("lists are never empty");
            ctx.out.bulk(&e);
        }
        Some(n) => {
            let n = n.min(list.len());
            ctx.out.array(n);
            for _ in 0..n {
                let e = take(list).expect("n <= len");
                ctx.out.bulk(&e);
            }
        }
    }
    remove_if_empty(&mut shard, argv[1]);
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
    let n = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::list_mut)?
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
    let Some(list) = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::list_mut)?
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
    let Some(list) = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::list_mut)?
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
