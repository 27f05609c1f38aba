//! Active expiry: reclaims keys whose TTL passed without anyone touching them.
//!
//! Like Redis, each pass samples keys that carry a TTL, deletes the expired ones, and samples
//! the same shard again while more than a quarter of the sample had expired, within a time
//! budget, resuming at the next shard on the next pass.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{now_ms, Keyspace};

const SAMPLE: usize = 20;

/// Where the previous pass stopped (db * shards + shard).
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Unix ms until which expiry is held (CLIENT PAUSE); 0 = not held.
static HELD_UNTIL_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// CLIENT PAUSE holds expiry, as Redis does, so that a paused server's dataset does not
/// change: keys past their TTL read as missing but stay until the pause ends, and the active
/// cycle does not run. The later end wins, as for the pause itself.
pub fn hold_until(ms: u64) {
    HELD_UNTIL_MS.fetch_max(ms, Ordering::Relaxed);
}

/// The pause ended (CLIENT UNPAUSE).
pub fn release() {
    HELD_UNTIL_MS.store(0, Ordering::Relaxed);
}

/// Set while the server is a replica: keys past their TTL stay until the primary's DEL.
static REPLICA: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A replica leaves expiry to its primary (reads still see expired keys as missing).
pub fn set_replica(on: bool) {
    REPLICA.store(on, Ordering::Relaxed);
}

/// Whether this server is a replica: the primary's writes then see keys past their TTL as
/// still there (the primary decides when they go, and says so with a DEL).
pub fn replica() -> bool {
    REPLICA.load(Ordering::Relaxed)
}

/// Set while an AOF is replayed: keys past their TTL stay and are seen (a command later in the
/// file still finds them), and an expire time already past is set, not applied, as Redis
/// loads them. They expire once the load is over.
static LOADING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_loading(on: bool) {
    LOADING.store(on, Ordering::Relaxed);
}

pub fn loading() -> bool {
    LOADING.load(Ordering::Relaxed)
}

/// Whether expired keys must be left in place now (read only when a key has expired).
pub fn held() -> bool {
    if REPLICA.load(Ordering::Relaxed) {
        return true;
    }
    let until = HELD_UNTIL_MS.load(Ordering::Relaxed);
    until != 0 && super::now_ms() < until
}

/// Runs one expiry pass for at most `budget`. Returns the number of keys reclaimed.
/// `commit` runs after a shard's keys expired, while the shard is still held: the journal
/// records their DELs before any later write to those keys.
pub fn active_expire_cycle(ks: &Keyspace, budget: Duration, commit: &dyn Fn()) -> usize {
    let start = Instant::now();
    let per_db = ks.db(0).nshards();
    let total = ks.len() * per_db;
    let mut reclaimed = 0;
    let first = NEXT.load(Ordering::Relaxed) % total;
    for step in 0..total {
        let slot = (first + step) % total;
        let mut shard = ks.db(slot / per_db).lock_shard(slot % per_db);
        loop {
            let n = shard.volatile_len().min(SAMPLE);
            if n == 0 {
                break;
            }
            let now = now_ms();
            let mut expired = 0;
            let (mut ttl_sum, mut ttl_n) = (0u64, 0u64);
            for _ in 0..n {
                let Some(key) = shard.random_volatile() else {
                    break;
                };
                match shard.peek(&key) {
                    Some(e) if e.is_expired(now) => {
                        shard.expire_now(&key);
                        expired += 1;
                    }
                    Some(e) if e.expire_at != 0 => {
                        ttl_sum += e.expire_at - now;
                        ttl_n += 1;
                    }
                    _ => {}
                }
            }
            if let Some(avg) = ttl_sum.checked_div(ttl_n) {
                ks.db(slot / per_db).note_avg_ttl(avg);
            }
            reclaimed += expired;
            if expired > 0 {
                commit();
            }
            if expired * 4 <= n || start.elapsed() >= budget {
                break;
            }
        }
        drop(shard);
        if start.elapsed() >= budget {
            NEXT.store(slot + 1, Ordering::Relaxed);
            return reclaimed;
        }
    }
    NEXT.store(first, Ordering::Relaxed);
    reclaimed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Entry, Str, Value};

    #[test]
    fn reclaims_expired_keys_without_access() {
        let ks = Keyspace::new(2, 4);
        for i in 0..500 {
            let k = format!("k{i}");
            let mut e = Entry::new(Value::Str(Str::from_bytes(b"v")));
            e.expire_at = if i % 2 == 0 { 1 } else { now_ms() + 3_600_000 };
            ks.db(1).lock_key(k.as_bytes()).insert(k.as_bytes(), e);
        }
        let mut total = 0;
        for _ in 0..100 {
            total += active_expire_cycle(&ks, Duration::from_millis(50), &|| {});
        }
        assert_eq!(total, 250);
        assert_eq!(ks.db(1).len(), 250);
        assert_eq!(ks.stats().expired, 250);
    }
}
