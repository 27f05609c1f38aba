//! Eviction under `maxmemory`, with Redis's eight policies and its approximations: a
//! per-key access stamp (an LRU clock in seconds, or for the LFU policies a decay time in
//! minutes and an 8-bit logarithmic counter), random sampling of `maxmemory-samples` keys per
//! database, and a pool of the best candidates seen so far, kept between evictions.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{lru_clock, Key, Keyspace};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

/// Every policy, in the order of `Policy::NAMES` (and of the enum's discriminants).
const ALL: [Policy; 8] = [
    Policy::NoEviction,
    Policy::AllKeysLru,
    Policy::AllKeysLfu,
    Policy::AllKeysRandom,
    Policy::VolatileLru,
    Policy::VolatileLfu,
    Policy::VolatileRandom,
    Policy::VolatileTtl,
];

impl Policy {
    /// The configuration names, indexed by discriminant.
    pub const NAMES: [&'static str; 8] = [
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ];

    pub fn from_name(name: &str) -> Option<Policy> {
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| ALL[i])
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Only keys with a TTL may go.
    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }
}

static POLICY: AtomicU8 = AtomicU8::new(0);
static LFU_LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static LFU_DECAY_MINUTES: AtomicU32 = AtomicU32::new(1);

/// Applies the configuration (`maxmemory-policy`, `lfu-log-factor`, `lfu-decay-time`).
pub fn configure(policy: Policy, log_factor: u32, decay_minutes: u32) {
    POLICY.store(policy as u8, Ordering::Relaxed);
    LFU_LOG_FACTOR.store(log_factor, Ordering::Relaxed);
    LFU_DECAY_MINUTES.store(decay_minutes, Ordering::Relaxed);
}

#[inline]
pub fn policy() -> Policy {
    ALL[POLICY.load(Ordering::Relaxed) as usize & 7]
}

// ---- the access stamp ----

/// A new key's LFU counter, so that it survives a little before it is judged.
pub const LFU_INIT: u32 = 5;

/// Minutes on a 16-bit wrapping clock (the LFU decay time).
fn minutes() -> u32 {
    (lru_clock() / 60) & 0xffff
}

/// The stamp of a new key.
#[inline]
pub fn new_stamp() -> u32 {
    if policy().is_lfu() {
        (minutes() << 8) | LFU_INIT
    } else {
        lru_clock()
    }
}

/// An LFU stamp with the given counter, as of now (RESTORE ... FREQ).
pub fn lfu_stamp(counter: u8) -> u32 {
    (minutes() << 8) | counter as u32
}

/// The stamp after an access.
#[inline]
pub fn touched(prev: u32) -> u32 {
    if policy().is_lfu() {
        (minutes() << 8) | lfu_log_incr(lfu_decayed(prev))
    } else {
        lru_clock()
    }
}

/// The LFU counter of a stamp after the decay its idle minutes call for (OBJECT FREQ).
pub fn lfu_decayed(stamp: u32) -> u32 {
    let last = (stamp >> 8) & 0xffff;
    let counter = stamp & 255;
    let now = minutes();
    let elapsed = if now >= last {
        now - last
    } else {
        65535 - last + now
    };
    let decay = LFU_DECAY_MINUTES.load(Ordering::Relaxed);
    let periods = elapsed.checked_div(decay).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// Counts an access: the higher the counter, the less likely it goes up (so 255 stands for
/// about a million accesses with the default factor of 10).
fn lfu_log_incr(counter: u32) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT) as f64;
    let p = 1.0 / (base * LFU_LOG_FACTOR.load(Ordering::Relaxed) as f64 + 1.0);
    if random_unit() < p {
        counter + 1
    } else {
        counter
    }
}

/// A uniform number in [0, 1) from a per-thread xorshift generator (cheap enough for every
/// access under an LFU policy).
fn random_unit() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = rand::random::<u64>() | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

// ---- choosing and evicting keys ----

/// Candidates kept between evictions, best (highest score) last.
const POOL_SIZE: usize = 16;

struct Candidate {
    score: u64,
    db: usize,
    key: Key,
}

static POOL: Mutex<Vec<Candidate>> = Mutex::new(Vec::new());
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// How a call to `free` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freed {
    /// Enough was freed.
    Done,
    /// The time budget ran out first; the next command goes on.
    Running,
    /// Nothing (more) can be evicted under the policy.
    Stuck,
}

/// Tuning from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    pub samples: usize,
    /// `maxmemory-eviction-tenacity`: how long one call may keep evicting.
    pub tenacity: u32,
}

/// Redis's time budget for one round of evictions.
fn time_budget(tenacity: u32) -> Option<Duration> {
    match tenacity {
        0..=10 => Some(Duration::from_micros(50 * tenacity as u64)),
        11..=99 => Some(Duration::from_micros(
            (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64,
        )),
        _ => None,
    }
}

/// Score of an entry for the pool: higher goes first.
fn score(policy: Policy, e: &super::Entry) -> u64 {
    match policy {
        Policy::AllKeysLfu | Policy::VolatileLfu => 255 - lfu_decayed(e.access) as u64,
        Policy::VolatileTtl => u64::MAX - e.expire_at,
        _ => lru_clock().wrapping_sub(e.access) as u64,
    }
}

/// Databases that held keys at the last look (bit i for database i; databases past the 64th
/// are always sampled). Sampling empty databases would take most of an eviction's time on a
/// server that uses one of sixteen, and a database's size costs a lock per shard, so the set
/// is refreshed at most every 100 ms (or at once, when it finds nothing to evict).
static ACTIVE_DBS: AtomicU64 = AtomicU64::new(u64::MAX);
static ACTIVE_AT_MS: AtomicU64 = AtomicU64::new(0);

fn active_dbs(ks: &Keyspace, force: bool) -> u64 {
    let now = super::now_ms();
    let at = ACTIVE_AT_MS.load(Ordering::Relaxed);
    if (force || now.saturating_sub(at) >= 100)
        && ACTIVE_AT_MS
            .compare_exchange(at, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let mask = ks
            .dbs()
            .iter()
            .take(64)
            .enumerate()
            .filter(|(_, db)| !db.is_empty())
            .fold(0u64, |m, (i, _)| m | 1 << i);
        ACTIVE_DBS.store(mask, Ordering::Relaxed);
    }
    ACTIVE_DBS.load(Ordering::Relaxed)
}

fn is_active(mask: u64, db: usize) -> bool {
    db >= 64 || mask & (1 << db) != 0
}

/// A random key of a shard (one with a TTL when `volatile`).
fn random_key(shard: &mut super::Shard, volatile: bool) -> Option<Key> {
    if volatile {
        shard.random_volatile()
    } else {
        let i = shard.random_index()?;
        shard.get_index(i).map(|(k, _)| k.clone())
    }
}

/// Samples keys of every database into the pool.
fn fill_pool(
    ks: &Keyspace,
    active: u64,
    policy: Policy,
    samples: usize,
    pool: &mut Vec<Candidate>,
) {
    for (dbi, db) in ks.dbs().iter().enumerate() {
        if !is_active(active, dbi) {
            continue;
        }
        // Scored where they are sampled: slots of one random shard (a uniform subset of the
        // database's keys), or under a volatile policy keys drawn from the TTL index.
        let mut picked: smallvec::SmallVec<[(u64, Key); 8]> = smallvec::SmallVec::new();
        if policy.volatile() {
            for _ in 0..samples {
                let Some(mut shard) = db.random_shard_with_keys(true) else {
                    break;
                };
                let Some(key) = shard.random_volatile() else {
                    break;
                };
                if let Some(e) = shard.peek(&key) {
                    picked.push((score(policy, e), key));
                }
            }
        } else if let Some(mut shard) = db.random_shard_with_keys(false) {
            let worst = (pool.len() == POOL_SIZE).then(|| pool[0].score);
            shard.sample(samples, |k, e| {
                let s = score(policy, e);
                // Most samples do not beat the pool's worst: they cost no key copy.
                if worst.is_none_or(|w| s > w) {
                    picked.push((s, k.clone()));
                }
            });
        }
        for (s, key) in picked {
            if pool.len() == POOL_SIZE && s <= pool[0].score {
                continue;
            }
            if pool.iter().any(|c| c.db == dbi && c.key == key) {
                continue;
            }
            if pool.len() == POOL_SIZE {
                pool.remove(0);
            }
            let at = pool.partition_point(|c| c.score <= s);
            pool.insert(
                at,
                Candidate {
                    score: s,
                    db: dbi,
                    key,
                },
            );
        }
    }
}

/// Removes a key chosen for eviction, if it is still there; returns the bytes it freed.
fn evict_key(ks: &Keyspace, dbi: usize, key: &Key) -> Option<u64> {
    let mut shard = ks.db(dbi).lock_key(key);
    let e = shard.remove(key)?;
    shard.stats.evicted += 1;
    super::effects::evicted(dbi, key);
    Some((key.len() + e.value.mem_usage() + ENTRY_OVERHEAD) as u64)
}

/// A random key (with a TTL, under a volatile policy), databases taken in turn.
fn random_victim(ks: &Keyspace, active: u64, volatile: bool) -> Option<(usize, Key)> {
    let n = ks.len();
    for _ in 0..n {
        let dbi = NEXT_DB.fetch_add(1, Ordering::Relaxed) % n;
        if !is_active(active, dbi) {
            continue;
        }
        // A shard that has such keys: drawing shards at random could miss the few that do.
        if let Some(mut shard) = ks.db(dbi).random_shard_with_keys(volatile) {
            if let Some(k) = random_key(&mut shard, volatile) {
                return Some((dbi, k));
            }
        }
    }
    None
}

/// Evicts keys until about `need` bytes are freed, by the configured policy (each one reported
/// to the effect sink). Returns how it ended. The bytes freed are estimated from the
/// values to know when to stop; the caller sees the real figure in its next `used_recent`.
pub fn free(ks: &Keyspace, need: u64, tuning: Tuning) -> Freed {
    let policy = policy();
    if policy == Policy::NoEviction {
        return Freed::Stuck;
    }
    let started = Instant::now();
    let budget = time_budget(tuning.tenacity);
    let mut freed = 0u64;
    let mut active = active_dbs(ks, false);
    let mut refreshed = false;
    let mut attempts = 0u64;
    while freed < need {
        // The chosen key, removed (a candidate already gone is skipped for the next best).
        let victim = match policy {
            Policy::AllKeysRandom | Policy::VolatileRandom => {
                random_victim(ks, active, policy.volatile())
                    .map(|(dbi, key)| (dbi, evict_key(ks, dbi, &key), key))
            }
            _ => {
                let mut pool = POOL.lock();
                fill_pool(ks, active, policy, tuning.samples.max(1), &mut pool);
                let mut found = None;
                while let Some(c) = pool.pop() {
                    if let Some(bytes) = evict_key(ks, c.db, &c.key) {
                        found = Some((c.db, Some(bytes), c.key));
                        break;
                    }
                }
                found
            }
        };
        let Some((_, bytes, _)) = victim else {
            // The set of databases with keys may be stale: look again before giving up.
            if !refreshed {
                refreshed = true;
                active = active_dbs(ks, true);
                continue;
            }
            return Freed::Stuck;
        };
        if let Some(bytes) = bytes {
            freed += bytes;
        }
        attempts += 1;
        // The clock is read every 16 keys, as Redis does.
        if attempts % 16 == 0 && budget.is_some_and(|b| started.elapsed() > b) {
            return if freed >= need {
                Freed::Done
            } else {
                Freed::Running
            };
        }
    }
    Freed::Done
}

/// What a key costs beyond its bytes and value: the table slot, the entry, allocator rounding.
const ENTRY_OVERHEAD: usize = 48;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_counter_grows_logarithmically() {
        let mut c = LFU_INIT;
        for _ in 0..1000 {
            c = lfu_log_incr(c);
        }
        // A thousand accesses lift a new key well above its start, far below the top.
        assert!((8..=40).contains(&c), "{c}");
        let mut top = 254;
        for _ in 0..10_000 {
            top = lfu_log_incr(top);
        }
        assert!((254..=255).contains(&top));
        assert_eq!(lfu_log_incr(255), 255);
    }

    #[test]
    fn lfu_counter_decays_per_period() {
        // Far from the 16-bit minute clock's wrap.
        crate::engine::set_lru_clock(1000 * 60);
        let now = minutes();
        let stamp = |ago: u32, counter: u32| ((now.wrapping_sub(ago) & 0xffff) << 8) | counter;
        LFU_DECAY_MINUTES.store(1, Ordering::Relaxed);
        assert_eq!(lfu_decayed(stamp(0, 20)), 20);
        assert_eq!(lfu_decayed(stamp(3, 20)), 17);
        assert_eq!(lfu_decayed(stamp(30, 20)), 0);
        LFU_DECAY_MINUTES.store(10, Ordering::Relaxed);
        assert_eq!(lfu_decayed(stamp(30, 20)), 17);
        LFU_DECAY_MINUTES.store(0, Ordering::Relaxed);
        assert_eq!(lfu_decayed(stamp(300, 20)), 20);
        LFU_DECAY_MINUTES.store(1, Ordering::Relaxed);
    }

    /// A keyspace of one database whose key `k{i}` was last used `i` seconds ago.
    fn aged_keys(n: u32) -> Keyspace {
        // The clock other tests set too: the same value, so they do not disturb each other.
        crate::engine::set_lru_clock(1000 * 60);
        let ks = Keyspace::new(1, 4);
        for i in 0..n {
            let key = format!("k{i}");
            let mut e = super::super::Entry::new(super::super::Value::Str(super::super::Str::Int(
                i as i64,
            )));
            e.access = lru_clock() - i;
            ks.db(0).lock_key(key.as_bytes()).insert(key.as_bytes(), e);
        }
        ks
    }

    #[test]
    fn lru_score_is_idle_time() {
        let ks = aged_keys(10);
        let shard = ks.db(0).lock_key(b"k7");
        assert_eq!(score(Policy::AllKeysLru, shard.peek(b"k7").unwrap()), 7);
        // An access stamps the current clock: idle 0 again.
        let mut e = shard.peek(b"k7").unwrap().clone();
        e.access = touched(e.access);
        assert_eq!(score(Policy::AllKeysLru, &e), 0);
    }

    #[test]
    fn pool_keeps_the_best_candidates_in_order() {
        let ks = aged_keys(200);
        let mut pool = Vec::new();
        // Enough samples that missing one of the 16 idlest is vanishingly unlikely (with
        // 2,000, about one run in a thousand failed).
        for _ in 0..1000 {
            fill_pool(&ks, u64::MAX, Policy::AllKeysLru, 10, &mut pool);
            assert!(pool.len() <= POOL_SIZE);
            // Sorted, best (most idle) last, no key twice.
            assert!(pool.windows(2).all(|w| w[0].score <= w[1].score));
            let mut keys: Vec<_> = pool.iter().map(|c| c.key.as_bytes().to_vec()).collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), pool.len());
        }
        // 10,000 samples of 200 keys: the pool holds the 16 idlest, each scored by its age.
        assert_eq!(pool.len(), POOL_SIZE);
        for (c, age) in pool.iter().zip(184..200u64) {
            assert_eq!(c.score, age);
            assert_eq!(c.key.as_bytes(), format!("k{age}").as_bytes());
        }
        // A sample that is not better than the pool's worst does not enter it.
        let worst = pool[0].score;
        fill_pool(&ks, u64::MAX, Policy::AllKeysLru, 10, &mut pool);
        assert_eq!(pool[0].score, worst);
    }

    #[test]
    fn random_victim_finds_a_lone_volatile_key() {
        // One key with a TTL among four shards: drawing shards at random often missed it.
        let ks = aged_keys(50);
        let mut e = super::super::Entry::new(super::super::Value::Str(super::super::Str::Int(1)));
        e.expire_at = u64::MAX / 2;
        ks.db(0).lock_key(b"ttl").insert(b"ttl", e);
        for _ in 0..200 {
            let (db, key) = random_victim(&ks, u64::MAX, true).expect("a victim");
            assert_eq!((db, key.as_bytes()), (0, &b"ttl"[..]));
        }
    }

    #[test]
    fn time_budget_follows_tenacity() {
        assert_eq!(time_budget(0), Some(Duration::ZERO));
        assert_eq!(time_budget(10), Some(Duration::from_micros(500)));
        assert!(time_budget(11).unwrap() > Duration::from_micros(500));
        assert_eq!(time_budget(100), None);
    }

    #[test]
    fn policies_round_trip_by_name() {
        for n in Policy::NAMES {
            assert_eq!(Policy::from_name(n).unwrap().name(), n);
        }
        assert!(Policy::from_name("lru").is_none());
    }
}
