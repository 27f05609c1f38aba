//! The keyspace: databases, each split into shards by key hash. Knows nothing of sockets.
//!
//! A shard is a mutex around its own map plus its metadata (the set of keys with a TTL, counters,
//! an RNG for sampling). Commands lock the shards they touch, several in ascending index order
//! (databases in ascending order first), so no two commands can deadlock.

pub mod collections;
pub mod dict;
pub mod digest;
pub mod effects;
pub mod evict;
pub mod expiry;
pub mod float;
pub mod gate;
pub mod geohash;
pub mod glob;
pub mod hll;
pub mod key;
pub mod notify;
pub mod scan;
pub mod snapshot;
pub mod stream;
pub mod thin;
pub mod value;
pub mod watch;
pub mod zorder;

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use indexmap::IndexSet;
use parking_lot::{Mutex, MutexGuard};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use smallvec::SmallVec;

pub use value::{Entry, Str, Value};

type Hasher = foldhash::fast::RandomState;
pub use key::Key;

/// Milliseconds since the Unix epoch.
#[inline]
pub fn now_ms() -> u64 {
    clock_ns(libc::CLOCK_REALTIME) / 1_000_000
}

/// Microseconds since the Unix epoch.
#[inline]
pub fn now_us() -> u64 {
    clock_ns(libc::CLOCK_REALTIME) / 1_000
}

/// Monotonic microseconds from an arbitrary origin, for durations on the hot path: plain
/// integers, where `Instant` subtraction cost about 3% of a `-P 1` request's instructions.
#[inline]
pub fn mono_us() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC) / 1_000
}

/// This thread's CPU time in microseconds.
pub fn thread_cpu_us() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID) / 1_000
}

#[inline]
fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write; these clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

static LRU_CLOCK: AtomicU32 = AtomicU32::new(0);

/// Coarse access clock in seconds, refreshed by the server cron (cheap to read per access).
#[inline]
pub fn lru_clock() -> u32 {
    LRU_CLOCK.load(Ordering::Relaxed)
}

/// Sets the access clock (tests that need a known time).
#[cfg(test)]
pub fn set_lru_clock(secs: u32) {
    LRU_CLOCK.store(secs, Ordering::Relaxed);
}

pub fn update_lru_clock() {
    LRU_CLOCK.store((now_ms() / 1000) as u32, Ordering::Relaxed);
}

/// Per-shard counters, summed by INFO.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
    /// Keys evicted under `maxmemory`.
    pub evicted: u64,
}

pub struct Shard {
    map: dict::Dict,
    /// Keys that carry a TTL, for sampling by the active expiry cycle.
    volatile: IndexSet<Key, Hasher>,
    pub stats: ShardStats,
    rng: SmallRng,
    /// The database this shard belongs to (for the events it raises; SWAPDB swaps contents,
    /// never shards).
    db: usize,
    /// The epoch entries created now are stamped with (see `snapshot`).
    epoch: u32,
    /// The running snapshot's state here, until its walker has finished this shard.
    snap: Option<Box<snapshot::ShardSnap>>,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::new(0)
    }
}

impl Shard {
    pub fn new(db: usize) -> Self {
        Shard {
            db,
            map: dict::Dict::new(foldhash::fast::FixedState::with_seed(rand::random())),
            volatile: IndexSet::default(),
            stats: ShardStats::default(),
            rng: SmallRng::from_os_rng(),
            epoch: 0,
            snap: None,
        }
    }
}

impl Shard {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Looks a key up for writing: expired keys are removed first; no hit/miss counted. A write
    /// is an access, so the access clock is updated.
    pub fn get_mut(&mut self, key: &[u8], now: u64) -> Option<&mut Entry> {
        // A write always reclaims an expired key first (it is about to replace it).
        let i = self.live_index(key, now, true)?;
        self.keep_slot(i);
        let e = self.map.slot_mut(i).expect("live slot");
        e.access = evict::touched(e.access);
        Some(e)
    }

    /// Position of a live (unexpired) key, removing it if it has expired (for a read, unless
    /// expiry is held by CLIENT PAUSE): one hash lookup.
    fn live_index(&mut self, key: &[u8], now: u64, write: bool) -> Option<usize> {
        let i = self.map.find(key)?;
        if self.map.slot(i).is_some_and(|(_, e)| e.is_expired(now)) {
            // On a replica only the primary writes, and for its writes the key is still there;
            // an AOF being replayed sees it too.
            if (write && expiry::replica()) || expiry::loading() {
                return Some(i);
            }
            if write || !expiry::held() {
                self.expire_now(key);
            }
            return None;
        }
        Some(i)
    }

    /// Looks a key up for reading: counts a keyspace hit or miss and updates the access clock
    /// unless `touch` is false (CLIENT NO-TOUCH).
    pub fn read(&mut self, key: &[u8], now: u64, touch: bool) -> Option<&Entry> {
        self.read_at(key, now, touch)
            .map(|i| &*self.map.slot_mut(i).expect("live slot"))
    }

    /// `read` for a read that updates the value it read (PFCOUNT caches its count).
    pub fn read_mut(&mut self, key: &[u8], now: u64, touch: bool) -> Option<&mut Entry> {
        let i = self.read_at(key, now, touch)?;
        self.keep_slot(i);
        self.map.slot_mut(i)
    }

    fn read_at(&mut self, key: &[u8], now: u64, touch: bool) -> Option<usize> {
        match self.live_index(key, now, false) {
            Some(i) => {
                let e = self.map.slot_mut(i).expect("live slot");
                self.stats.hits += 1;
                if touch {
                    e.access = evict::touched(e.access);
                }
                Some(i)
            }
            None => {
                self.stats.misses += 1;
                effects::event(self.db, notify::KEY_MISS, "keymiss", key);
                None
            }
        }
    }

    /// True if the key exists (and has not expired). Not an access.
    pub fn contains(&mut self, key: &[u8], now: u64) -> bool {
        self.live_index(key, now, false).is_some()
    }

    /// Inserts or replaces an entry, keeping the TTL index in step. Returns the old entry. A
    /// key created raises the `new` event.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        self.put(key, entry, true)
    }

    /// `insert` for a key loaded from a snapshot: no `new` event (as Redis loads them).
    pub fn load(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        self.put(key, entry, false)
    }

    fn put(&mut self, key: &[u8], mut entry: Entry, announce: bool) -> Option<Entry> {
        entry.epoch = self.epoch;
        self.keep_key(key);
        let has_ttl = entry.expire_at != 0;
        let old = match self.map.get_mut(key) {
            Some(slot) => Some(std::mem::replace(slot, entry)),
            None => {
                self.map.insert_new(key, entry);
                if announce {
                    effects::event(self.db, notify::NEW, "new", key);
                }
                None
            }
        };
        let had_ttl = old.as_ref().is_some_and(|e| e.expire_at != 0);
        if has_ttl && !had_ttl {
            self.volatile.insert(key.into());
        } else if had_ttl && !has_ttl {
            self.volatile.swap_remove(key);
        }
        old
    }

    /// Deletes a key whose TTL has passed, counting it and reporting it (`effects::expired`).
    pub fn expire_now(&mut self, key: &[u8]) {
        if self.remove(key).is_some() {
            self.stats.expired += 1;
            effects::expired(self.db, key);
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.keep_key(key);
        let old = self.map.remove(key)?;
        if old.expire_at != 0 {
            self.volatile.swap_remove(key);
        }
        Some(old)
    }

    /// Sets or clears (`at == 0`) the expire time of an existing key.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        self.keep_key(key);
        let Some(e) = self.map.get_mut(key) else {
            return false;
        };
        let had = e.expire_at != 0;
        e.expire_at = at;
        if at != 0 && !had {
            self.volatile.insert(key.into());
        } else if at == 0 && had {
            self.volatile.swap_remove(key);
        }
        true
    }

    pub fn clear(&mut self) -> usize {
        let n = self.map.len();
        let old = std::mem::replace(
            &mut self.map,
            dict::Dict::new(foldhash::fast::FixedState::with_seed(rand::random())),
        );
        self.detach_map(old);
        self.volatile = IndexSet::default();
        n
    }

    /// See `Dict::hash`.
    pub fn prefetch_hash(&self, key: &[u8]) -> u64 {
        self.map.hash(key)
    }

    /// See `Dict::prefetch`.
    pub fn prefetch(&self, key: &[u8], h: u64, stage: u8) {
        self.map.prefetch(key, h, stage);
    }

    /// Entry in a slot of the map (None for a free slot), for random sampling.
    pub fn get_index(&self, i: usize) -> Option<(&Key, &Entry)> {
        self.map.slot(i)
    }

    /// One bucket of a SCAN; returns the next bucket cursor (0 when done).
    pub fn scan_bucket(&self, cursor: u64, f: impl FnMut(&Key, &Entry)) -> u64 {
        self.map.scan_bucket(cursor, f)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.map.iter()
    }

    /// A random live slot, if any (expired keys included; the caller checks). Slots are at
    /// least half live, so a few draws find one.
    pub fn random_index(&mut self) -> Option<usize> {
        if self.map.is_empty() {
            return None;
        }
        let n = self.map.slot_count();
        loop {
            let i = self.rng.random_range(0..n);
            if self.map.slot(i).is_some() {
                return Some(i);
            }
        }
    }

    /// Visits `n` random live slots. The draws are made and their slots loaded first, so
    /// that the cache misses of a sample overlap instead of adding up (eviction samples
    /// `maxmemory-samples` keys per command that needs memory).
    pub fn sample(&mut self, n: usize, mut f: impl FnMut(&Key, &Entry)) {
        if self.map.is_empty() {
            return;
        }
        let count = self.map.slot_count();
        let draws: smallvec::SmallVec<[usize; 16]> =
            (0..n).map(|_| self.rng.random_range(0..count)).collect();
        for &i in &draws {
            self.map.prefetch_slot(i);
        }
        for i in draws {
            // A free slot: draw again (slots are at least half live).
            let i = match self.map.slot(i) {
                Some(_) => i,
                None => match self.random_index() {
                    Some(i) => i,
                    None => return,
                },
            };
            if let Some((k, e)) = self.map.slot(i) {
                f(k, e);
            }
        }
    }

    /// A random key that has a TTL.
    pub fn random_volatile(&mut self) -> Option<Key> {
        let n = self.volatile.len();
        if n == 0 {
            return None;
        }
        let i = self.rng.random_range(0..n);
        self.volatile.get_index(i).cloned()
    }

    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// Swaps contents with another shard (SWAPDB), keeping each shard's counters.
    pub fn swap_data(&mut self, other: &mut Shard) {
        // A running snapshot takes what it still needs of both first: it saves each
        // database's entries under that database.
        self.keep_all();
        other.keep_all();
        std::mem::swap(&mut self.map, &mut other.map);
        std::mem::swap(&mut self.volatile, &mut other.volatile);
    }
}

/// One logical database (SELECT n).
pub struct Db {
    shards: Box<[Mutex<Shard>]>,
    hasher: foldhash::fast::FixedState,
    /// Estimated average remaining TTL of the keys that have one, in ms (INFO's avg_ttl),
    /// a running average over active expiry's samples as Redis keeps it.
    avg_ttl: AtomicU64,
}

impl Db {
    fn new(db: usize, nshards: usize, seed: u64) -> Db {
        assert!(nshards.is_power_of_two());
        Db {
            shards: (0..nshards).map(|_| Mutex::new(Shard::new(db))).collect(),
            hasher: foldhash::fast::FixedState::with_seed(seed),
            avg_ttl: AtomicU64::new(0),
        }
    }

    pub fn nshards(&self) -> usize {
        self.shards.len()
    }

    #[inline]
    pub fn shard_index(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) >> 32) as usize & (self.shards.len() - 1)
    }

    /// The database's size estimated from its first shard (keys hash evenly over the shards),
    /// if that shard is free right now: a cheap hint.
    pub fn len_hint(&self) -> Option<usize> {
        self.shards[0]
            .try_lock()
            .map(|s| s.len() * self.shards.len())
    }

    /// Starts loading the memory lookups of `keys` will touch, stage by stage over all of
    /// them (see `Dict::prefetch`). Each shard is locked once and each key hashed once for
    /// the three stages; a busy shard's keys are skipped: it is only a hint.
    pub fn prefetch(&self, keys: &[&[u8]]) {
        let mut guards: SmallVec<[(usize, MutexGuard<'_, Shard>); 16]> = SmallVec::new();
        // (the key's index, its shard's guard, its hash)
        let mut plan: SmallVec<[(usize, usize, u64); 32]> = SmallVec::new();
        for (n, k) in keys.iter().enumerate() {
            let si = self.shard_index(k);
            let g = match guards.iter().position(|(i, _)| *i == si) {
                Some(g) => g,
                None => match self.shards[si].try_lock() {
                    Some(guard) => {
                        guards.push((si, guard));
                        guards.len() - 1
                    }
                    None => continue,
                },
            };
            plan.push((n, g, guards[g].1.prefetch_hash(k)));
        }
        for stage in 0..3 {
            for &(n, g, h) in &plan {
                guards[g].1.prefetch(keys[n], h, stage);
            }
        }
    }

    /// A random shard that holds keys (with a TTL, when `volatile`), if any does: the one
    /// drawn, or the next one that qualifies.
    pub fn random_shard_with_keys(&self, volatile: bool) -> Option<MutexGuard<'_, Shard>> {
        let n = self.shards.len();
        let start = rand::rng().random_range(0..n);
        (0..n).find_map(|i| {
            let shard = self.shards[(start + i) % n].lock();
            let has = if volatile {
                shard.volatile_len() > 0
            } else {
                !shard.is_empty()
            };
            has.then_some(shard)
        })
    }

    pub fn lock_key(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        self.shards[self.shard_index(key)].lock()
    }

    pub fn lock_shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.shards[i].lock()
    }

    /// Locks every shard any of `keys` lives in, in ascending order.
    pub fn lock_keys<'a, I>(&'a self, keys: I) -> Locked<'a>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut idx: SmallVec<[usize; 8]> = keys.into_iter().map(|k| self.shard_index(k)).collect();
        idx.sort_unstable();
        idx.dedup();
        Locked {
            db: self,
            guards: idx
                .into_iter()
                .map(|i| (i, self.shards[i].lock()))
                .collect(),
        }
    }

    /// Locks all shards in order (whole-database atomic operations).
    pub fn lock_all(&self) -> Locked<'_> {
        Locked {
            db: self,
            guards: (0..self.shards.len())
                .map(|i| (i, self.shards[i].lock()))
                .collect(),
        }
    }

    /// Number of keys (including expired keys not yet reclaimed, as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn volatile_len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().volatile_len()).sum()
    }

    /// INFO's avg_ttl: 0 when no key has a TTL.
    pub fn avg_ttl(&self) -> u64 {
        if self.volatile_len() == 0 {
            return 0;
        }
        self.avg_ttl.load(Ordering::Relaxed)
    }

    /// Folds the average TTL of one expiry sample into the estimate (2% per sample).
    pub fn note_avg_ttl(&self, sample_avg: u64) {
        let old = self.avg_ttl.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample_avg
        } else {
            old / 50 * 49 + sample_avg / 50
        };
        self.avg_ttl.store(new, Ordering::Relaxed);
    }

    /// Removes every key, one shard at a time. Returns how many were removed.
    pub fn clear(&self) -> usize {
        self.shards.iter().map(|s| s.lock().clear()).sum()
    }

    pub fn stats(&self) -> ShardStats {
        let mut t = ShardStats::default();
        for s in self.shards.iter() {
            let s = s.lock().stats;
            t.hits += s.hits;
            t.misses += s.misses;
            t.expired += s.expired;
            t.evicted += s.evicted;
        }
        t
    }

    pub fn reset_stats(&self) {
        for s in self.shards.iter() {
            s.lock().stats = ShardStats::default();
        }
    }

    /// A random non-expired key, or None if the database is empty.
    pub fn random_key(&self, now: u64) -> Option<Vec<u8>> {
        let n = self.shards.len();
        let mut rng = rand::rng();
        let mut held = None;
        // Pick shards weighted by their size, so keys are picked near-uniformly.
        for _ in 0..100 {
            let sizes: SmallVec<[usize; 64]> = self.shards.iter().map(|s| s.lock().len()).collect();
            let total: usize = sizes.iter().sum();
            if total == 0 {
                return None;
            }
            let mut pick = rng.random_range(0..total);
            let mut si = 0;
            while si < n && pick >= sizes[si] {
                pick -= sizes[si];
                si += 1;
            }
            let mut shard = self.shards[si.min(n - 1)].lock();
            let Some(i) = shard.random_index() else {
                continue;
            };
            let (k, e) = shard.get_index(i).expect("index in range");
            if e.is_expired(now) {
                // While CLIENT PAUSE holds expiry the key stays; if only such keys are found,
                // one of them is the answer (as Redis gives when it cannot expire them).
                if expiry::held() {
                    held.get_or_insert_with(|| k.to_vec());
                } else {
                    let k = k.clone();
                    shard.expire_now(&k);
                }
                continue;
            }
            return Some(k.to_vec());
        }
        held
    }
}

/// Several locked shards of one database.
pub struct Locked<'a> {
    db: &'a Db,
    guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 8]>,
}

impl<'a> Locked<'a> {
    /// The locked shard holding `key`. Panics if the key's shard was not locked: that is a bug.
    pub fn shard(&mut self, key: &[u8]) -> &mut Shard {
        let i = self.db.shard_index(key);
        let pos = self
            .guards
            .binary_search_by_key(&i, |(j, _)| *j)
            .expect("shard of key not locked");
        &mut self.guards[pos].1
    }

    pub fn shards_mut(&mut self) -> impl Iterator<Item = &mut Shard> + use<'_, 'a> {
        self.guards.iter_mut().map(|(_, g)| &mut **g)
    }
}

/// All databases.
pub struct Keyspace {
    dbs: Box<[Db]>,
    /// The last snapshot's epoch (see `snapshot`).
    snap_epoch: AtomicU32,
}

impl Keyspace {
    pub fn new(databases: usize, shards_per_db: usize) -> Keyspace {
        let seed: u64 = rand::random();
        Keyspace {
            dbs: (0..databases)
                .map(|db| Db::new(db, shards_per_db, seed))
                .collect(),
            snap_epoch: AtomicU32::new(0),
        }
    }

    pub fn db(&self, i: usize) -> &Db {
        &self.dbs[i]
    }

    pub fn len(&self) -> usize {
        self.dbs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    pub fn dbs(&self) -> &[Db] {
        &self.dbs
    }

    /// Swaps the contents of two databases atomically (all shards of both locked in order).
    pub fn swap_dbs(&self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let mut la = self.dbs[lo].lock_all();
        let mut lb = self.dbs[hi].lock_all();
        for (x, y) in la.shards_mut().zip(lb.shards_mut()) {
            x.swap_data(y);
        }
    }

    pub fn stats(&self) -> ShardStats {
        let mut t = ShardStats::default();
        for d in self.dbs.iter() {
            let s = d.stats();
            t.hits += s.hits;
            t.misses += s.misses;
            t.expired += s.expired;
            t.evicted += s.evicted;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Entry {
        Entry::new(Value::Str(Str::from_bytes(v.as_bytes())))
    }

    /// Prefetching is a hint: it locks each free shard once, skips a busy one rather than
    /// wait for it, and leaves every shard free again.
    #[test]
    fn prefetch_skips_busy_shards_and_releases_the_rest() {
        let ks = Keyspace::new(1, 4);
        let db = ks.db(0);
        let keys: Vec<Vec<u8>> = (0..64).map(|i| format!("key:{i}").into_bytes()).collect();
        for k in &keys {
            db.lock_key(k).insert(k, s("v"));
        }
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let busy = db.lock_key(refs[0]);
        db.prefetch(&refs);
        drop(busy);
        for k in &refs {
            assert!(db.shards[db.shard_index(k)].try_lock().is_some());
            assert!(db.lock_key(k).peek(k).is_some());
        }
    }

    #[test]
    fn ttl_index_follows_inserts_and_removals() {
        let mut sh = Shard::default();
        let mut e = s("v");
        e.expire_at = 100;
        sh.insert(b"a", e);
        assert_eq!(sh.volatile_len(), 1);
        sh.insert(b"a", s("w"));
        assert_eq!(sh.volatile_len(), 0);
        sh.set_expire(b"a", 50);
        assert_eq!(sh.volatile_len(), 1);
        assert!(sh.get_mut(b"a", 60).is_none(), "expired on access");
        assert_eq!(sh.volatile_len(), 0);
        assert_eq!(sh.stats.expired, 1);
    }

    #[test]
    fn swap_dbs_swaps_contents() {
        let ks = Keyspace::new(2, 4);
        ks.db(0).lock_key(b"x").insert(b"x", s("1"));
        ks.swap_dbs(0, 1);
        assert_eq!(ks.db(0).len(), 0);
        assert!(ks.db(1).lock_key(b"x").contains(b"x", 0));
    }

    #[test]
    fn lock_keys_dedups_shards() {
        let ks = Keyspace::new(1, 4);
        let db = ks.db(0);
        let keys: Vec<&[u8]> = vec![b"a", b"b", b"a", b"c"];
        let mut l = db.lock_keys(keys.iter().copied());
        l.shard(b"a").insert(b"a", s("1"));
        l.shard(b"c").insert(b"c", s("1"));
        drop(l);
        assert_eq!(db.len(), 2);
    }
}
