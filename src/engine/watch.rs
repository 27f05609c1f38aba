//! WATCH bookkeeping: which clients watch which keys of which database. Each watching client
//! owns one dirty flag; a write to any key it watches sets it, and EXEC then refuses to run.
//!
//! The table is indexed by database number, not by the data: SWAPDB moves the data but a
//! watch stays on "key k of database n", as in Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::key::Key;

/// One client's interest in a key.
#[derive(Debug, Clone)]
pub struct Watcher {
    pub client: u64,
    pub dirty: Arc<AtomicBool>,
}

/// The watchers of each watched key of one database.
type DbWatches = HashMap<Key, Vec<Watcher>>;

#[derive(Debug)]
pub struct Watches {
    /// Number of (database, key, client) records: writes skip the table while it is zero.
    records: AtomicUsize,
    dbs: Box<[Mutex<DbWatches>]>,
}

impl Watches {
    pub fn new(databases: usize) -> Watches {
        Watches {
            records: AtomicUsize::new(0),
            dbs: (0..databases).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// True if anyone watches anything (the fast path of every write).
    #[inline]
    pub fn any(&self) -> bool {
        self.records.load(Ordering::Relaxed) != 0
    }

    /// Adds a watch; false if this client already watches the key.
    pub fn watch(&self, db: usize, key: &[u8], w: Watcher) -> bool {
        let mut map = self.dbs[db].lock();
        let list = map.entry(Key::from(key)).or_default();
        if list.iter().any(|x| x.client == w.client) {
            return false;
        }
        list.push(w);
        self.records.fetch_add(1, Ordering::Relaxed);
        true
    }

    pub fn unwatch(&self, db: usize, key: &[u8], client: u64) {
        let mut map = self.dbs[db].lock();
        if let Some(list) = map.get_mut(key) {
            let before = list.len();
            list.retain(|w| w.client != client);
            self.records
                .fetch_sub(before - list.len(), Ordering::Relaxed);
            if list.is_empty() {
                map.remove(key);
            }
        }
    }

    /// Marks every client watching `key` in `db` as dirty.
    #[inline]
    pub fn touch(&self, db: usize, key: &[u8]) {
        if !self.any() {
            return;
        }
        if let Some(list) = self.dbs[db].lock().get(key) {
            for w in list {
                w.dirty.store(true, Ordering::Release);
            }
        }
    }

    /// Marks the watchers of every watched key of `db` for which `affected` holds
    /// (FLUSHDB, FLUSHALL and SWAPDB touch only keys whose visible value changes).
    pub fn touch_where(&self, db: usize, mut affected: impl FnMut(&[u8]) -> bool) {
        if !self.any() {
            return;
        }
        let keys: Vec<Key> = self.dbs[db].lock().keys().cloned().collect();
        for k in keys.iter().filter(|k| affected(k)) {
            self.touch(db, k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watcher(client: u64) -> Watcher {
        Watcher {
            client,
            dirty: Arc::new(AtomicBool::new(false)),
        }
    }

    #[test]
    fn touch_marks_only_watchers_of_that_key_and_db() {
        let w = Watches::new(2);
        let (a, b) = (watcher(1), watcher(2));
        assert!(w.watch(0, b"k", a.clone()));
        assert!(
            !w.watch(0, b"k", a.clone()),
            "a second WATCH of a key is a no-op"
        );
        assert!(w.watch(1, b"k", b.clone()));
        w.touch(0, b"other");
        w.touch(0, b"k");
        assert!(a.dirty.load(Ordering::Relaxed));
        assert!(!b.dirty.load(Ordering::Relaxed));
        w.unwatch(0, b"k", 1);
        w.unwatch(1, b"k", 2);
        assert!(!w.any());
    }

    #[test]
    fn touch_where_filters_keys() {
        let w = Watches::new(1);
        let (a, b) = (watcher(1), watcher(2));
        w.watch(0, b"live", a.clone());
        w.watch(0, b"gone", b.clone());
        w.touch_where(0, |k| k == b"live");
        assert!(a.dirty.load(Ordering::Relaxed));
        assert!(!b.dirty.load(Ordering::Relaxed));
    }
}
