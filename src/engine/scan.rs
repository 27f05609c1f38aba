//! SCAN over one database.
//!
//! The cursor names a shard (high bits) and a bucket cursor within that shard's table (low bits).
//! Buckets are walked in Redis's reverse-binary order (`Dict::scan_bucket`), so a key present for
//! the whole scan is returned at least once even when tables grow or shrink between calls;
//! keys added or removed meanwhile may or may not be returned, as Redis allows.

use super::{Db, Entry, Key};

const SHARD_SHIFT: u32 = 40;
const BUCKET_MASK: u64 = (1 << SHARD_SHIFT) - 1;

/// Visits buckets from `cursor` until about `count` entries were seen, calling `f` for each
/// live one. Returns the cursor to continue from, 0 when the scan is complete.
pub fn scan(db: &Db, cursor: u64, count: usize, now: u64, mut f: impl FnMut(&Key, &Entry)) -> u64 {
    let mut shard_i = (cursor >> SHARD_SHIFT) as usize;
    let mut bucket = cursor & BUCKET_MASK;
    let mut seen = 0;
    // Bound the work on sparse tables, as Redis does (ten empty buckets per requested key).
    let mut steps = count.max(1) * 10;
    while shard_i < db.nshards() {
        let shard = db.lock_shard(shard_i);
        loop {
            bucket = shard.scan_bucket(bucket, |k, e| {
                seen += 1;
                if !e.is_expired(now) {
                    f(k, e);
                }
            });
            steps = steps.saturating_sub(1);
            if bucket == 0 || seen >= count || steps == 0 {
                break;
            }
        }
        if bucket != 0 {
            return ((shard_i as u64) << SHARD_SHIFT) | bucket;
        }
        shard_i += 1;
        if seen >= count || steps == 0 {
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
