//! Keyspace notification classes (`notify-keyspace-events`), and the events the engine itself
//! raises: a key expiring (lazily or in the active cycle) and a key being created. The engine
//! knows nothing of pub/sub, so it queues them; the server publishes the queue before the next
//! event of the command that caused them, and after each active expiry pass.

use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

use super::key::Key;

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
/// Not a class: set while a client tracks keys, so that expirations are queued for its
/// invalidation messages even when no keyspace notification is on.
pub const TRACKING: u32 = 1 << 20;
pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
/// `A`: every class but key-miss and new.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

static FLAGS: AtomicU32 = AtomicU32::new(0);
/// Events raised inside the engine: (database, class, event, key).
static QUEUE: Mutex<Vec<(usize, u32, &'static str, Key)>> = Mutex::new(Vec::new());

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

/// Sets the configured classes (the tracking bit is kept).
pub fn set_flags(f: u32) {
    let tracking = FLAGS.load(Ordering::Relaxed) & TRACKING;
    FLAGS.store(f | tracking, Ordering::Relaxed);
}

pub fn set_tracking(on: bool) {
    if on {
        FLAGS.fetch_or(TRACKING, Ordering::Relaxed);
    } else {
        FLAGS.fetch_and(!TRACKING, Ordering::Relaxed);
    }
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

/// Queues an engine event when its class is on (or, for an expiration, while keys are
/// tracked).
#[inline]
pub fn raise(class: u32, db: usize, event: &'static str, key: &[u8]) {
    if enabled(class) || (class == EXPIRED && flags() & TRACKING != 0) {
        QUEUE.lock().push((db, class, event, Key::from(key)));
    }
}

/// Takes the queued engine events, oldest first.
pub fn take() -> Vec<(usize, u32, &'static str, Key)> {
    if flags() == 0 {
        return Vec::new();
    }
    std::mem::take(&mut *QUEUE.lock())
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
