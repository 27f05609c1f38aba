//! SCAN over one database.
//!
//! The cursor names a shard and a position in that shard's entry vector. Positions are visited
//! from the top down: a removal moves the *last* entry into the hole, and the last entry is
//! always on the already-visited side (or both sides are unvisited), so an entry present for the
//! whole scan is never skipped — Redis's guarantee — while inserts land on the visited side and
//! may or may not be returned, as Redis allows.

use super::{Db, Entry, Key};

const SHARD_SHIFT: u32 = 40;
const POS_MASK: u64 = (1 << SHARD_SHIFT) - 1;

/// Visits about `count` entries starting at `cursor`, calling `f` for each live one.
/// Returns the cursor to continue from, 0 when the scan is complete.
pub fn scan(db: &Db, cursor: u64, count: usize, now: u64, mut f: impl FnMut(&Key, &Entry)) -> u64 {
    let mut shard_i = (cursor >> SHARD_SHIFT) as usize;
    // Remaining positions to visit in this shard; 0 = start from the top.
    let mut pos = cursor & POS_MASK;
    let mut budget = count.max(1);
    while shard_i < db.nshards() {
        let shard = db.lock_shard(shard_i);
        let len = shard.len() as u64;
        let mut p = if pos == 0 { len } else { pos.min(len) };
        while p > 0 && budget > 0 {
            p -= 1;
            let (k, e) = shard.get_index(p as usize).expect("position below len");
            if !e.is_expired(now) {
                f(k, e);
            }
            budget -= 1;
        }
        if p > 0 {
            return ((shard_i as u64) << SHARD_SHIFT) | p;
        }
        shard_i += 1;
        pos = 0;
        if budget == 0 {
            break;
        }
    }
    if shard_i >= db.nshards() {
        0
    } else {
        (shard_i as u64) << SHARD_SHIFT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Entry, Keyspace, Str, Value};
    use std::collections::HashSet;

    fn put(db: &Db, k: &str) {
        db.lock_key(k.as_bytes())
            .insert(k.as_bytes(), Entry::new(Value::Str(Str::from_bytes(b"v"))));
    }

    #[test]
    fn keys_present_throughout_are_returned_despite_deletes_and_inserts() {
        let ks = Keyspace::new(1, 4);
        let db = ks.db(0);
        for i in 0..1000 {
            put(db, &format!("k{i}"));
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = scan(db, cursor, 10, 0, |k, _| {
                seen.insert(k.to_vec());
            });
            // Churn: delete some keys (odd ones, never the even "stable" ones) and add new keys.
            for j in 0..5 {
                let victim = format!("k{}", (round * 10 + j * 2 + 1) % 1000);
                db.lock_key(victim.as_bytes()).remove(victim.as_bytes());
                put(db, &format!("new{round}_{j}"));
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in (0..1000).step_by(2) {
            assert!(seen.contains(format!("k{i}").as_bytes()), "missed k{i}");
        }
    }
}
