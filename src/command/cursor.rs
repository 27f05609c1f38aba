//! The options shared by SCAN, SSCAN, HSCAN and ZSCAN, and the cursor walk over a collection.

use super::args::{self, is};
use super::{CmdError, SYNTAX};
use crate::engine::glob;

pub struct ScanOpts<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    /// SCAN's TYPE filter (only SCAN accepts it).
    pub type_filter: Option<&'a [u8]>,
}

impl ScanOpts<'_> {
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob::matches(p, item, false))
    }
}

pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or(CmdError::new("ERR invalid cursor"))
}

/// Parses `[MATCH pattern] [COUNT count]` (and `[TYPE type]` when `with_type`) from `argv[from..]`.
pub fn parse_opts<'a>(
    argv: &[&'a [u8]],
    from: usize,
    with_type: bool,
) -> Result<ScanOpts<'a>, CmdError> {
    let mut o = ScanOpts {
        count: 10,
        pattern: None,
        type_filter: None,
    };
    let mut i = from;
    while i < argv.len() {
        if i + 1 >= argv.len() {
            return Err(SYNTAX);
        }
        let v = argv[i + 1];
        if is(argv[i], "COUNT") {
            let n = args::int(v)?;
            if n < 1 {
                return Err(SYNTAX);
            }
            o.count = n as usize;
        } else if is(argv[i], "MATCH") {
            o.pattern = Some(v).filter(|p| *p != b"*");
        } else if with_type && is(argv[i], "TYPE") {
            o.type_filter = Some(v);
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    Ok(o)
}

/// One step of a cursor walk over positions `0..len` of an insertion-ordered table, downwards.
/// Returns the positions to visit and the next cursor (0 when done).
///
/// Walking down keeps SCAN's guarantee under swap-removal: removing position i moves the last
/// element into i, so an element not yet visited (below the cursor) only ever moves further
/// down, still ahead of the walk; an element moved up from below is at worst returned twice.
pub fn walk_down(cursor: u64, len: usize, count: usize) -> (std::ops::Range<usize>, u64) {
    let start = if cursor == 0 {
        len
    } else {
        (cursor as usize).min(len)
    };
    let end = start.saturating_sub(count);
    (end..start, end as u64)
}

/// The positions one SSCAN/HSCAN/ZSCAN call visits, and the cursor it returns. A compact
/// encoding (intset, listpack) comes back whole and in order, as Redis returns small
/// collections; a table is walked down `count` positions at a time (see `walk_down`).
pub fn positions(compact: bool, cursor: u64, len: usize, count: usize) -> (Vec<usize>, u64) {
    if compact {
        return ((0..len).collect(), 0);
    }
    let (range, next) = walk_down(cursor, len, count);
    (range.rev().collect(), next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_down_visits_every_position_once() {
        let mut seen = [0; 25];
        let mut cursor = 0;
        loop {
            let (r, next) = walk_down(cursor, 25, 10);
            for i in r {
                seen[i] += 1;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert!(seen.iter().all(|&n| n == 1));
    }
}
