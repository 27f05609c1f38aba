//! The keyspace's hash table: chained buckets over a slab of slots, each slot holding the key
//! (inline when short) and its entry. A lookup touches the bucket array and then the slot,
//! where the key is compared in place. This is two cache misses where a general-purpose map
//! costs three or four.
//!
//! It also gives what the keyspace needs beyond a map:
//! - random slots for sampling (RANDOMKEY, active expiry, eviction);
//! - Redis's SCAN guarantee: the buckets are a power of two, and `scan` walks them with Redis's
//!   reverse-binary cursor, so a key present for the whole scan is returned at least once, even
//!   if the table grows or shrinks in between.

use std::hash::BuildHasher;

use super::{Entry, Key};

const NIL: u32 = u32::MAX;
const MIN_BUCKETS: usize = 4;

/// Slots per chunk of the slab: 8 KB. The slab grows a chunk at a time (the first chunk
/// doubling up to this size), so a table has at most one partly used chunk: a `Vec` that
/// doubles leaves a quarter of its slots unused on average, 16 bytes per key at 64-byte slots
/// (and under maxmemory, that many fewer keys kept). 8 KB is one of jemalloc's small size
/// classes: from 16 KB up, each allocation is padded with a page (RSS 198 B/key, not 184).
const CHUNK: usize = 128;

/// The slots, in fixed-size chunks; indices are stable while chunks are added.
#[derive(Default)]
struct Slab {
    chunks: Vec<Vec<Slot>>,
    len: usize,
}

impl Slab {
    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&Slot> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    #[inline]
    fn get_mut(&mut self, i: usize) -> Option<&mut Slot> {
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    fn push(&mut self, slot: Slot) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK => {
                if c.len() == c.capacity() {
                    c.reserve_exact((c.len() * 2).min(CHUNK) - c.len());
                }
                c.push(slot);
            }
            _ => {
                let mut c = Vec::with_capacity(if self.chunks.is_empty() { 4 } else { CHUNK });
                c.push(slot);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.chunks.iter().flatten()
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.chunks.iter_mut().flatten()
    }

    /// Keeps the slots `keep` accepts, moved together (indices change).
    fn retain(&mut self, keep: impl Fn(&Slot) -> bool) {
        let old = std::mem::take(self);
        for s in old.chunks.into_iter().flatten() {
            if keep(&s) {
                self.push(s);
            }
        }
    }
}

impl std::ops::Index<usize> for Slab {
    type Output = Slot;
    #[inline]
    fn index(&self, i: usize) -> &Slot {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl std::ops::IndexMut<usize> for Slab {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut Slot {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

struct Slot {
    next: u32,
    /// Low 32 bits of the key's hash: a cheap pre-check before comparing keys.
    hash: u32,
    kv: Option<(Key, Entry)>,
}

pub struct Dict {
    buckets: Vec<u32>,
    slots: Slab,
    free: u32,
    len: usize,
    hasher: foldhash::fast::FixedState,
    /// Counts compactions, the only time slots move (a snapshot's walker restarts then).
    generation: u64,
}

impl Dict {
    pub fn new(hasher: foldhash::fast::FixedState) -> Dict {
        Dict {
            buckets: Vec::new(),
            slots: Slab::default(),
            free: NIL,
            len: 0,
            hasher,
            generation: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key's hash in this table (what [`Dict::prefetch`] takes).
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    fn bucket_of(&self, h: u64) -> usize {
        h as usize & (self.buckets.len() - 1)
    }

    /// Slot index of `key`, if present.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        self.find_hashed(key, self.hash(key))
    }

    /// [`Dict::find`] with the key's hash already computed ([`Dict::hash`]).
    fn find_hashed(&self, key: &[u8], h: u64) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut i = self.buckets[self.bucket_of(h)];
        while i != NIL {
            let s = &self.slots[i as usize];
            if s.hash == h as u32 && s.kv.as_ref().is_some_and(|(k, _)| k.as_bytes() == key) {
                return Some(i as usize);
            }
            i = s.next;
        }
        None
    }

    /// The key and entry in a slot (None for a free slot or an index past the end).
    pub fn slot(&self, i: usize) -> Option<(&Key, &Entry)> {
        self.slots.get(i)?.kv.as_ref().map(|(k, e)| (k, e))
    }

    /// The key and entry in a slot, the entry to modify.
    pub fn slot_kv_mut(&mut self, i: usize) -> Option<(&Key, &mut Entry)> {
        self.slots.get_mut(i)?.kv.as_mut().map(|(k, e)| (&*k, e))
    }

    /// See `generation`.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn slot_mut(&mut self, i: usize) -> Option<&mut Entry> {
        self.slots.get_mut(i)?.kv.as_mut().map(|(_, e)| e)
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.find(key).and_then(|i| self.slot(i)).map(|(_, e)| e)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let i = self.find(key)?;
        self.slot_mut(i)
    }

    /// Inserts a key that is not present (the caller checked). Returns its slot.
    pub fn insert_new(&mut self, key: &[u8], entry: Entry) -> usize {
        if self.len >= self.buckets.len() {
            self.resize((self.buckets.len() * 2).max(MIN_BUCKETS));
        }
        let h = self.hash(key);
        let b = self.bucket_of(h);
        let slot = Slot {
            next: self.buckets[b],
            hash: h as u32,
            kv: Some((Key::new(key), entry)),
        };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.slots[i as usize].next;
            self.slots[i as usize] = slot;
            i
        } else {
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        };
        self.buckets[b] = i;
        self.len += 1;
        i as usize
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.buckets.is_empty() {
            return None;
        }
        let h = self.hash(key);
        let b = self.bucket_of(h);
        let mut prev = NIL;
        let mut i = self.buckets[b];
        while i != NIL {
            let s = &self.slots[i as usize];
            let next = s.next;
            if s.hash == h as u32 && s.kv.as_ref().is_some_and(|(k, _)| k.as_bytes() == key) {
                if prev == NIL {
                    self.buckets[b] = next;
                } else {
                    self.slots[prev as usize].next = next;
                }
                let s = &mut self.slots[i as usize];
                let (_, e) = s.kv.take().expect("live slot");
                s.next = self.free;
                self.free = i;
                self.len -= 1;
                if self.len * 8 < self.buckets.len() && self.buckets.len() > MIN_BUCKETS {
                    self.resize((self.buckets.len() / 2).max(MIN_BUCKETS));
                }
                return Some(e);
            }
            prev = i;
            i = next;
        }
        None
    }

    /// Rebuilds the chains over `n` buckets (a power of two). Slots do not move, so slot
    /// indices stay valid.
    fn resize(&mut self, n: usize) {
        debug_assert!(n.is_power_of_two());
        self.buckets.clear();
        self.buckets.resize(n, NIL);
        if self.slots.len() > 2 * self.len.max(MIN_BUCKETS) {
            self.compact();
        }
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.kv.is_some() {
                let b = s.hash as usize & (n - 1);
                s.next = self.buckets[b];
                self.buckets[b] = i as u32;
            }
        }
    }

    /// Drops free slots when more than half the slab is free (only while rebuilding chains,
    /// since it moves slots).
    fn compact(&mut self) {
        self.slots.retain(|s| s.kv.is_some());
        self.free = NIL;
        self.generation += 1;
    }

    /// Starts loading what a lookup of `key` (whose hash is `h`) will touch, without waiting
    /// for it: stage 0 the bucket, stage 1 the slot the bucket points to, stage 2 the key's
    /// first match's value. Run over a batch of keys stage by stage, the memory latencies
    /// overlap instead of adding up.
    pub fn prefetch(&self, key: &[u8], h: u64, stage: u8) {
        if self.buckets.is_empty() {
            return;
        }
        let b = self.bucket_of(h);
        match stage {
            0 => prefetch_ptr(&self.buckets[b] as *const u32 as *const u8),
            1 => {
                let i = self.buckets[b];
                if i != NIL {
                    prefetch_ptr(&self.slots[i as usize] as *const Slot as *const u8);
                }
            }
            _ => {
                if let Some(i) = self.find_hashed(key, h) {
                    if let Some((_, e)) = self.slot(i) {
                        if let super::Value::Str(super::Str::Emb(v)) = &e.value {
                            prefetch_ptr(v.as_ptr());
                        }
                    }
                }
            }
        }
    }

    /// Starts loading slot `i` (see [`Dict::prefetch`]).
    pub fn prefetch_slot(&self, i: usize) {
        if let Some(s) = self.slots.get(i) {
            prefetch_ptr(s as *const Slot as *const u8);
        }
    }

    /// Number of slots (live or free); random sampling draws from `0..slot_count()`.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.slots
            .iter()
            .filter_map(|s| s.kv.as_ref().map(|(k, e)| (k, e)))
    }

    /// Visits every entry of the bucket the cursor names and returns the next cursor
    /// (0 when the walk is complete). Cursors advance in reverse-binary order over the bucket
    /// mask, as Redis's dictScan does, so that growing or shrinking between calls never skips
    /// an entry that stays in the table.
    pub fn scan_bucket(&self, cursor: u64, mut f: impl FnMut(&Key, &Entry)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = (self.buckets.len() - 1) as u64;
        let mut i = self.buckets[(cursor & mask) as usize];
        while i != NIL {
            let s = &self.slots[i as usize];
            if let Some((k, e)) = &s.kv {
                f(k, e);
            }
            i = s.next;
        }
        // Increment the bits under the mask, most significant first.
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }
}

/// A hint to the CPU to start loading a cache line; never faults, whatever the address.
#[inline]
fn prefetch_ptr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch instructions do not access memory architecturally and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Str, Value};
    use std::collections::HashSet;

    fn e(n: i64) -> Entry {
        Entry::new(Value::Str(Str::Int(n)))
    }

    fn dict() -> Dict {
        Dict::new(foldhash::fast::FixedState::with_seed(42))
    }

    /// Slots reserved but unused: at most one partly filled chunk, whatever the size.
    fn unused_slots(d: &Dict) -> usize {
        d.slots.chunks.iter().map(|c| c.capacity()).sum::<usize>() - d.slots.len()
    }

    #[test]
    fn slab_grows_by_chunks_and_compacts() {
        let mut d = dict();
        for i in 0..5000 {
            d.insert_new(format!("k{i}").as_bytes(), e(i));
            assert!(
                unused_slots(&d) < CHUNK,
                "{} unused at {i}",
                unused_slots(&d)
            );
        }
        // Past chunk boundaries, every slot index still names its key.
        for i in 0..5000 {
            let k = format!("k{i}");
            let at = d.find(k.as_bytes()).unwrap();
            assert_eq!(d.slot(at).unwrap().0.as_bytes(), k.as_bytes());
        }
        // Removing most keys compacts the slab when the table shrinks; the rest stay found.
        for i in 0..4900 {
            d.remove(format!("k{i}").as_bytes()).unwrap();
        }
        assert!(d.slot_count() < 4 * CHUNK, "{} slots", d.slot_count());
        assert!(unused_slots(&d) < CHUNK);
        for i in 4900..5000 {
            assert!(d.find(format!("k{i}").as_bytes()).is_some());
        }
        assert_eq!(d.iter().count(), 100);
    }

    #[test]
    fn insert_find_remove() {
        let mut d = dict();
        for i in 0..1000 {
            let k = format!("k{i}");
            assert!(d.find(k.as_bytes()).is_none());
            d.insert_new(k.as_bytes(), e(i));
        }
        assert_eq!(d.len(), 1000);
        for i in 0..1000 {
            let k = format!("k{i}");
            assert_eq!(
                d.get(k.as_bytes()).map(|e| e.value.clone()),
                Some(Value::Str(Str::Int(i)))
            );
        }
        for i in (0..1000).step_by(2) {
            assert!(d.remove(format!("k{i}").as_bytes()).is_some());
        }
        assert!(d.remove(b"k0").is_none());
        assert_eq!(d.len(), 500);
        assert_eq!(d.iter().count(), 500);
        for i in 0..990 {
            d.remove(format!("k{i}").as_bytes());
        }
        assert_eq!(d.len(), 5);
        assert!(d.get(b"k999").is_some());
        assert!(d.get(b"k998").is_none());
    }

    #[test]
    fn scan_survives_growth_and_shrink() {
        let mut d = dict();
        for i in 0..200 {
            d.insert_new(format!("stable{i}").as_bytes(), e(i));
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = d.scan_bucket(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            // Grow a lot, then shrink, during the scan.
            if step < 30 {
                for j in 0..100 {
                    d.insert_new(format!("tmp{step}_{j}").as_bytes(), e(0));
                }
            } else if step < 60 {
                for j in 0..100 {
                    d.remove(format!("tmp{}_{j}", step - 30).as_bytes());
                }
            }
            step += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..200 {
            assert!(
                seen.contains(format!("stable{i}").as_bytes()),
                "missed stable{i}"
            );
        }
    }
}
