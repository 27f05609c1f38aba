//! Keyspace notification classes (`notify-keyspace-events`). Events are reported to the effect
//! sink (`effects`), handlers' and the engine's own alike; the dispatcher publishes them.

use std::sync::atomic::{AtomicU32, Ordering};

pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 12;
pub const NEW: u32 = 1 << 13;
pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
/// `A`: every class but key-miss and new.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

static FLAGS: AtomicU32 = AtomicU32::new(0);

/// Parses the configuration string; None for an unknown class character.
pub fn parse(classes: &str) -> Option<u32> {
    let mut f = 0;
    for c in classes.chars() {
        f |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return None,
        };
    }
    Some(f)
}

/// The canonical string for a set of classes, as CONFIG GET shows it.
pub fn to_string(f: u32) -> String {
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if f & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// Sets the configured classes.
pub fn set_flags(f: u32) {
    FLAGS.store(f, Ordering::Relaxed);
}

#[inline]
pub fn flags() -> u32 {
    FLAGS.load(Ordering::Relaxed)
}

/// True when events of `class` reach anyone (a class and K or E are both needed).
#[inline]
pub fn enabled(class: u32) -> bool {
    let f = flags();
    f & class != 0 && f & (KEYSPACE | KEYEVENT) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_as_redis_prints_them() {
        assert_eq!(to_string(parse("gKE").unwrap()), "gKE");
        assert_eq!(to_string(parse("$lshzxeKE").unwrap()), "$lshzxeKE");
        assert_eq!(to_string(parse("KA").unwrap()), "AK");
        assert_eq!(to_string(parse("EA").unwrap()), "AE");
        assert_eq!(parse("Q"), None);
    }
}
