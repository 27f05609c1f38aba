//! Point-in-time snapshots of the keyspace while commands keep running, without `fork()`.
//!
//! A snapshot has an epoch, one more than the last. When it begins (with no command running)
//! every shard learns the epoch; from then on:
//! - a background walker visits each shard's slots a few at a time under its lock, encodes
//!   every entry older than the epoch and stamps it with the epoch;
//! - a write about to change, replace or delete an entry older than the epoch encodes it first
//!   into the shard's `pending` bytes (the walker takes them on its next visit) and stamps it;
//! - entries created during the snapshot carry the epoch from birth, so they are not in it;
//! - a flush hands the shard's whole map to the snapshot (`detached`) instead of dropping it.
//!
//! So every entry alive when the snapshot began is encoded exactly once, as it was then, and
//! a write pays for encoding only the first time it touches a key the walker has not reached.
//! The extra memory is the encoded copies waiting in `pending` (INFO's `rdb_last_cow_size`),
//! not the pages a forked child would duplicate. The engine does not know the encoding: the
//! persistence layer hands it an `Encode` function.

use std::sync::atomic::{AtomicU64, Ordering};

use super::dict::Dict;
use super::{Entry, Keyspace, Shard};

/// Appends one key's entry, as the snapshot's format writes it.
pub type Encode = fn(key: &[u8], entry: &Entry, out: &mut Vec<u8>);

/// Bytes one visit of the walker encodes at most (beside its key budget).
const BYTES_PER_VISIT: usize = 64 << 10;

/// A running snapshot's state in one shard (dropped when the walker has finished it).
pub struct ShardSnap {
    epoch: u32,
    /// Entries whose expire time is at or before this are not in it (0: all are).
    cutoff: u64,
    encode: Encode,
    /// Entries encoded ahead of the walker, because a write was about to change them.
    pending: Vec<u8>,
    pending_keys: u64,
    /// Maps a flush took away while they still held entries of the snapshot.
    detached: Vec<Dict>,
    /// The next slot the walker visits, and the map's layout generation it counts in.
    cursor: usize,
    generation: u64,
}

impl ShardSnap {
    /// Encodes an entry that is about to change, if the snapshot still needs it.
    #[inline]
    fn keep(&mut self, key: &[u8], e: &mut Entry) {
        if e.epoch >= self.epoch {
            return;
        }
        e.epoch = self.epoch;
        if !e.is_expired(self.cutoff) {
            let before = self.pending.len();
            (self.encode)(key, e, &mut self.pending);
            self.pending_keys += 1;
            held_add((self.pending.len() - before) as u64);
        }
    }
}

/// Bytes encoded ahead of the walker and not yet written out, over all shards, and the most
/// there were during the current snapshot.
static HELD: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

fn held_add(n: u64) {
    let now = HELD.fetch_add(n, Ordering::Relaxed).wrapping_add(n);
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// Bytes held now for the running snapshot.
pub fn held() -> u64 {
    HELD.load(Ordering::Relaxed)
}

/// The most bytes held at once by the running (or last) snapshot.
pub fn peak_held() -> u64 {
    PEAK.load(Ordering::Relaxed)
}

impl Shard {
    /// Saves the entry in slot `i` for a running snapshot before it changes in place.
    #[inline]
    pub(super) fn keep_slot(&mut self, i: usize) {
        if let Some(s) = self.snap.as_deref_mut() {
            if let Some((k, e)) = self.map.slot_kv_mut(i) {
                s.keep(k.as_bytes(), e);
            }
        }
    }

    /// Saves `key`'s entry for a running snapshot before it is replaced or removed.
    #[inline]
    pub(super) fn keep_key(&mut self, key: &[u8]) {
        if self.snap.is_some() {
            if let Some(i) = self.map.find(key) {
                self.keep_slot(i);
            }
        }
    }

    /// A flush during a snapshot: the old map goes to the snapshot, whole.
    pub(super) fn detach_map(&mut self, old: Dict) {
        match self.snap.as_deref_mut() {
            Some(s) if !old.is_empty() => {
                s.detached.push(old);
                s.cursor = 0;
            }
            _ => drop(old),
        }
    }

    /// Encodes everything the running snapshot still needs from this shard into `pending`
    /// (before SWAPDB moves maps between databases).
    pub(super) fn keep_all(&mut self) {
        let Some(s) = self.snap.as_deref_mut() else {
            return;
        };
        for d in std::mem::take(&mut s.detached) {
            let before = s.pending.len();
            s.pending_keys += encode_detached(&d, s.epoch, s.cutoff, s.encode, &mut s.pending);
            held_add((s.pending.len() - before) as u64);
        }
        for i in 0..self.map.slot_count() {
            if let Some((k, e)) = self.map.slot_kv_mut(i) {
                s.keep(k.as_bytes(), e);
            }
        }
        s.cursor = self.map.slot_count();
        s.generation = self.map.generation();
    }

    /// The walker's visit: moves what writes encoded meanwhile into `out`, then encodes up to
    /// `budget` more entries. Maps detached by a flush are handed over in `detached`, to be
    /// encoded without holding the shard (`encode_detached`). Returns the keys added to `out`
    /// and whether the shard is finished (its snapshot state is then dropped).
    pub fn snapshot_step(
        &mut self,
        budget: usize,
        out: &mut Vec<u8>,
        detached: &mut Vec<Dict>,
    ) -> (u64, bool) {
        let Some(s) = self.snap.as_deref_mut() else {
            return (0, true);
        };
        let mut keys = std::mem::take(&mut s.pending_keys);
        // Saturating: the count is process-wide (keyspaces of unit tests run side by side).
        let n = s.pending.len() as u64;
        let _ = HELD.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
            Some(h.saturating_sub(n))
        });
        if out.is_empty() {
            std::mem::swap(out, &mut s.pending);
        } else {
            out.append(&mut s.pending);
        }
        detached.append(&mut s.detached);
        if s.generation != self.map.generation() {
            // Slots moved: walk again from the start (entries already saved are skipped).
            s.generation = self.map.generation();
            s.cursor = 0;
        }
        let end = self.map.slot_count();
        let mut done = 0;
        // Large values end a visit early: the shard is held for about the same time whatever
        // the values' size.
        let stop_at = out.len() + BYTES_PER_VISIT;
        while s.cursor < end && done < budget && out.len() < stop_at {
            if let Some((k, e)) = self.map.slot_kv_mut(s.cursor) {
                if e.epoch < s.epoch {
                    e.epoch = s.epoch;
                    if !e.is_expired(s.cutoff) {
                        (s.encode)(k.as_bytes(), e, out);
                        keys += 1;
                    }
                    done += 1;
                }
            }
            s.cursor += 1;
        }
        let finished = s.cursor >= end;
        if finished {
            self.snap = None;
        }
        (keys, finished)
    }
}

/// Encodes the entries of a map a flush detached that the snapshot `epoch` still needs.
pub fn encode_detached(d: &Dict, epoch: u32, now: u64, encode: Encode, out: &mut Vec<u8>) -> u64 {
    let mut keys = 0;
    for (k, e) in d.iter() {
        if e.epoch < epoch && !e.is_expired(now) {
            encode(k.as_bytes(), e, out);
            keys += 1;
        }
    }
    keys
}

/// What a snapshot found when it began.
#[derive(Debug, Clone)]
pub struct Begun {
    pub epoch: u32,
    /// When it began (ms since the epoch): keys expired by then are not in it.
    pub now: u64,
    /// Per database: keys and keys with a TTL (expired ones not yet reclaimed included).
    pub sizes: Vec<(u64, u64)>,
    /// The format's encoder the shards were given.
    pub encode: Encode,
    /// Keys whose expire time is at or before this are left out (0: none are).
    pub cutoff: u64,
}

impl Begun {
    pub fn keys(&self) -> u64 {
        self.sizes.iter().map(|s| s.0).sum()
    }
}

impl Keyspace {
    /// Begins a snapshot of the keyspace as it is now. The caller makes sure no command runs
    /// meanwhile (the thread that runs commands, or the exclusive gate), so that it is one
    /// point in time; a single-key deletion by the expiry cycle may land on either side.
    /// Keys already expired at `now` but not yet reclaimed are in it with `keep_expired` (an
    /// RDB holds them, as Redis's do: whoever loads it decides), else left out.
    pub fn begin_snapshot(&self, encode: Encode, now: u64, keep_expired: bool) -> Begun {
        let cutoff = if keep_expired { 0 } else { now };
        let epoch = self.snap_epoch.fetch_add(1, Ordering::Relaxed) + 1;
        HELD.store(0, Ordering::Relaxed);
        PEAK.store(0, Ordering::Relaxed);
        let mut sizes = Vec::with_capacity(self.dbs.len());
        for db in self.dbs.iter() {
            let (mut keys, mut volatile) = (0, 0);
            for shard in db.shards.iter() {
                let mut s = shard.lock();
                keys += s.len() as u64;
                volatile += s.volatile_len() as u64;
                s.epoch = epoch;
                s.snap = Some(Box::new(ShardSnap {
                    epoch,
                    cutoff,
                    encode,
                    pending: Vec::new(),
                    pending_keys: 0,
                    detached: Vec::new(),
                    cursor: 0,
                    generation: s.map.generation(),
                }));
            }
            sizes.push((keys, volatile));
        }
        Begun {
            epoch,
            now,
            cutoff,
            sizes,
            encode,
        }
    }

    /// Abandons a running snapshot: shards stop saving entries for it. Entries it did not
    /// reach keep their older epoch, so the next snapshot saves them as usual.
    pub fn abort_snapshot(&self) {
        for db in self.dbs.iter() {
            for shard in db.shards.iter() {
                shard.lock().snap = None;
            }
        }
        HELD.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Str, Value};

    /// A test encoding: `key=value;`.
    fn enc(key: &[u8], e: &Entry, out: &mut Vec<u8>) {
        out.extend_from_slice(key);
        out.push(b'=');
        if let Value::Str(s) = &e.value {
            out.extend_from_slice(&s.to_vec());
        }
        out.push(b';');
    }

    fn s(v: &str) -> Entry {
        Entry::new(Value::Str(Str::from_bytes(v.as_bytes())))
    }

    /// Walks the whole keyspace as the background saver does; returns the sorted pairs.
    fn walk(ks: &Keyspace, budget: usize, between: &mut dyn FnMut()) -> Vec<String> {
        let mut out = Vec::new();
        for db in ks.dbs() {
            for i in 0..db.nshards() {
                loop {
                    let mut detached = Vec::new();
                    let (_, done) = db
                        .lock_shard(i)
                        .snapshot_step(budget, &mut out, &mut detached);
                    for d in &detached {
                        encode_detached(d, ks.snap_epoch.load(Ordering::Relaxed), 0, enc, &mut out);
                    }
                    between();
                    if done {
                        break;
                    }
                }
            }
        }
        let mut v: Vec<String> = String::from_utf8(out)
            .unwrap()
            .split(';')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    fn fill(ks: &Keyspace, n: usize) {
        let db = ks.db(0);
        for i in 0..n {
            let k = format!("k{i:04}");
            db.lock_key(k.as_bytes()).insert(k.as_bytes(), s("old"));
        }
    }

    #[test]
    fn a_snapshot_holds_the_data_as_it_began_while_writes_go_on() {
        let ks = Keyspace::new(1, 4);
        fill(&ks, 1000);
        ks.begin_snapshot(enc, 0, false);
        let db = ks.db(0);
        let mut step = 0usize;
        let got = walk(&ks, 7, &mut || {
            // Between the walker's visits: overwrite, modify in place, delete, create, and
            // delete enough keys that maps shrink and move their slots.
            step += 1;
            let k = format!("k{:04}", (step * 37) % 1000);
            let kb = k.as_bytes();
            let mut sh = db.lock_key(kb);
            match step % 4 {
                0 => {
                    sh.insert(kb, s("new"));
                }
                1 => {
                    if let Some(e) = sh.get_mut(kb, 0) {
                        e.value = Value::Str(Str::from_bytes(b"changed"));
                    }
                }
                2 => {
                    sh.remove(kb);
                }
                _ => {
                    let n = format!("fresh{step}");
                    sh.insert(n.as_bytes(), s("x"));
                }
            }
        });
        let want: Vec<String> = (0..1000).map(|i| format!("k{i:04}=old")).collect();
        assert_eq!(got, want);
        // A second snapshot sees the writes.
        ks.begin_snapshot(enc, 0, false);
        let got = walk(&ks, 100, &mut || {});
        assert!(got.iter().any(|g| g.ends_with("=new")));
        assert!(got.iter().any(|g| g.starts_with("fresh")));
        assert_eq!(got.len(), db.len());
    }

    #[test]
    fn slots_moved_by_a_shrinking_map_are_still_saved_once() {
        let ks = Keyspace::new(1, 1);
        fill(&ks, 2000);
        ks.begin_snapshot(enc, 0, false);
        let db = ks.db(0);
        let generation = db.lock_shard(0).map.generation();
        let mut next = 0;
        let got = walk(&ks, 50, &mut || {
            // Delete keys from the end of the slab, then from the start, until few are left:
            // the map shrinks and compacts, moving slots under the walker's cursor.
            for _ in 0..100 {
                if next < 1900 {
                    let i = if next % 2 == 0 {
                        1999 - next / 2
                    } else {
                        next / 2
                    };
                    let k = format!("k{i:04}");
                    db.lock_key(k.as_bytes()).remove(k.as_bytes());
                    next += 1;
                }
            }
        });
        assert!(
            db.lock_shard(0).map.generation() > generation,
            "no compaction"
        );
        let want: Vec<String> = (0..2000).map(|i| format!("k{i:04}=old")).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_flush_or_a_swap_during_a_snapshot_loses_nothing() {
        let ks = Keyspace::new(2, 2);
        fill(&ks, 300);
        ks.db(1).lock_key(b"other").insert(b"other", s("db1"));
        ks.begin_snapshot(enc, 0, false);
        let mut first = true;
        let got = walk(&ks, 5, &mut || {
            if std::mem::take(&mut first) {
                ks.swap_dbs(0, 1);
                ks.db(1).clear();
                ks.db(0).clear();
            }
        });
        let mut want: Vec<String> = (0..300).map(|i| format!("k{i:04}=old")).collect();
        want.push("other=db1".into());
        want.sort();
        assert_eq!(got, want);
        assert_eq!(ks.db(0).len() + ks.db(1).len(), 0);
    }

    #[test]
    fn an_aborted_snapshot_leaves_the_next_one_whole() {
        let ks = Keyspace::new(1, 2);
        fill(&ks, 100);
        ks.begin_snapshot(enc, 0, false);
        let mut out = Vec::new();
        ks.db(0)
            .lock_shard(0)
            .snapshot_step(10, &mut out, &mut Vec::new());
        ks.abort_snapshot();
        // Writes after the abort encode nothing.
        ks.db(0).lock_key(b"k0001").insert(b"k0001", s("later"));
        ks.begin_snapshot(enc, 0, false);
        let got = walk(&ks, 100, &mut || {});
        assert_eq!(got.len(), 100);
        assert!(got.contains(&"k0001=later".to_string()));
    }

    #[test]
    fn keys_expired_when_it_began_are_not_saved() {
        let ks = Keyspace::new(1, 1);
        let mut gone = s("gone");
        gone.expire_at = 50;
        ks.db(0).lock_key(b"a").insert(b"a", gone);
        let mut later = s("later");
        later.expire_at = 500;
        ks.db(0).lock_key(b"b").insert(b"b", later);
        ks.begin_snapshot(enc, 100, false);
        // b expires (and is deleted) during the snapshot: it was alive when it began.
        ks.db(0).lock_key(b"b").expire_now(b"b");
        let got = walk(&ks, 10, &mut || {});
        assert_eq!(got, vec!["b=later".to_string()]);
    }
}
