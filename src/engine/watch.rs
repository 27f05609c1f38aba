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
use super::Db;

/// One client's interest in a key.
#[derive(Debug, Clone)]
pub struct Watcher {
    pub client: u64,
    pub dirty: Arc<AtomicBool>,
    /// The key was in the table when watched (a flush or swap then changes what it reads).
    pub existed: bool,
    /// The key was there but past its TTL when watched: its deletion changes nothing.
    pub expired: bool,
}

/// The watchers of each watched key of one database.
type DbWatches = HashMap<Key, Vec<Watcher>>;

#[derive(Debug)]
pub struct Watches {
    /// Number of (database, key, client) records: writes skip the table while it is zero.
    records: AtomicUsize,
    dbs: Box<[Mutex<DbWatches>]>,
}

/// What a watcher's key is now: physically there, and past its TTL.
#[derive(Clone, Copy)]
struct Now {
    exists: bool,
    expired: bool,
}

impl Now {
    fn of(data: &Db, key: &[u8]) -> Now {
        let now = super::now_ms();
        match data.lock_key(key).peek(key) {
            Some(e) => Now {
                exists: true,
                expired: e.is_expired(now),
            },
            None => Now {
                exists: false,
                expired: false,
            },
        }
    }
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

    /// Adds a watch of `key` as `data` holds it now; false if this client already watches it.
    pub fn watch(
        &self,
        db: usize,
        key: &[u8],
        client: u64,
        dirty: &Arc<AtomicBool>,
        data: &Db,
    ) -> bool {
        let now = Now::of(data, key);
        let mut map = self.dbs[db].lock();
        let list = map.entry(Key::from(key)).or_default();
        if list.iter().any(|x| x.client == client) {
            return false;
        }
        list.push(Watcher {
            client,
            dirty: dirty.clone(),
            existed: now.exists,
            expired: now.expired,
        });
        self.records.fetch_add(1, Ordering::Relaxed);
        super::effects::interested(1);
        true
    }

    pub fn unwatch(&self, db: usize, key: &[u8], client: u64) {
        let mut map = self.dbs[db].lock();
        if let Some(list) = map.get_mut(key) {
            let before = list.len();
            list.retain(|w| w.client != client);
            let gone = before - list.len();
            self.records.fetch_sub(gone, Ordering::Relaxed);
            super::effects::uninterested(gone);
            if list.is_empty() {
                map.remove(key);
            }
        }
    }

    /// Whether `client`'s watch of `key` is marked as watching a key already past its TTL
    /// (such a key's expiry is no change for it; EXEC asks).
    pub fn watched_expired(&self, db: usize, key: &[u8], client: u64) -> bool {
        self.dbs[db]
            .lock()
            .get(key)
            .and_then(|l| l.iter().find(|w| w.client == client))
            .is_some_and(|w| w.expired)
    }

    /// `key` in `db` changed (`gone`: the change deleted it): its watchers are marked dirty,
    /// except those that watched it already expired, for whom its deletion is no change.
    pub fn touch(&self, db: usize, key: &[u8], gone: bool) {
        if !self.any() {
            return;
        }
        let mut map = self.dbs[db].lock();
        let Some(list) = map.get_mut(key) else { return };
        for w in list.iter_mut() {
            if w.expired {
                if gone {
                    w.expired = false;
                    w.existed = false;
                    continue;
                }
                // Written while still there: Redis stops at such a watcher, telling neither
                // it nor the watchers after it (kept, as clients may depend on it).
                break;
            }
            w.dirty.store(true, Ordering::Release);
        }
    }

    /// Every key of `db` may have changed (after FLUSHDB, FLUSHALL or SWAPDB; `data` is the
    /// database as it now is): a watcher is marked if what its key reads as changed, as Redis
    /// decides it from what was there (the key existed when watched, as nothing touched it
    /// since) and what is there now.
    pub fn touch_db(&self, db: usize, data: &Db) {
        if !self.any() {
            return;
        }
        let keys: Vec<Key> = self.dbs[db].lock().keys().cloned().collect();
        for key in keys {
            let now = Now::of(data, &key);
            let mut map = self.dbs[db].lock();
            let Some(list) = map.get_mut(&key) else {
                continue;
            };
            for w in list.iter_mut() {
                if w.expired {
                    if !now.exists {
                        w.expired = false;
                        w.existed = false;
                        continue;
                    }
                    if now.expired {
                        continue;
                    }
                } else if !w.existed && now.expired {
                    w.expired = true;
                    continue;
                } else if !w.existed && !now.exists {
                    continue;
                }
                w.dirty.store(true, Ordering::Release);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Entry, Keyspace, Str, Value};

    fn flag() -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }

    fn set(data: &Db, key: &[u8], expire_at: u64) {
        let mut e = Entry::new(Value::Str(Str::from_bytes(b"v")));
        e.expire_at = expire_at;
        data.lock_key(key).insert(key, e);
    }

    #[test]
    fn touch_marks_only_watchers_of_that_key_and_db() {
        let ks = Keyspace::new(2, 4);
        let w = Watches::new(2);
        let (a, b) = (flag(), flag());
        assert!(w.watch(0, b"k", 1, &a, ks.db(0)));
        assert!(
            !w.watch(0, b"k", 1, &a, ks.db(0)),
            "a second WATCH of a key is a no-op"
        );
        assert!(w.watch(1, b"k", 2, &b, ks.db(1)));
        w.touch(0, b"other", false);
        w.touch(0, b"k", false);
        assert!(a.load(Ordering::Relaxed));
        assert!(!b.load(Ordering::Relaxed));
        w.unwatch(0, b"k", 1);
        w.unwatch(1, b"k", 2);
        assert!(!w.any());
    }

    #[test]
    fn deleting_a_key_that_was_expired_when_watched_is_no_change() {
        let ks = Keyspace::new(1, 4);
        let d = ks.db(0);
        set(d, b"old", 1);
        let a = flag();
        w_watch(&ks, b"old", &a, |w| {
            // Expired and deleted, then written again in the same command: the deletion clears
            // the mark, the write counts (the order Redis sees them in).
            w.touch(0, b"old", true);
            assert!(!a.load(Ordering::Relaxed));
            w.touch(0, b"old", false);
            assert!(a.load(Ordering::Relaxed));
        });
    }

    fn w_watch(ks: &Keyspace, key: &[u8], dirty: &Arc<AtomicBool>, f: impl FnOnce(&Watches)) {
        let w = Watches::new(1);
        w.watch(0, key, 7, dirty, ks.db(0));
        f(&w);
    }

    #[test]
    fn a_flush_marks_keys_that_were_there() {
        let ks = Keyspace::new(1, 4);
        let d = ks.db(0);
        set(d, b"live", 0);
        let w = Watches::new(1);
        let (a, b) = (flag(), flag());
        w.watch(0, b"live", 1, &a, d);
        w.watch(0, b"missing", 2, &b, d);
        d.clear();
        w.touch_db(0, d);
        assert!(a.load(Ordering::Relaxed));
        assert!(!b.load(Ordering::Relaxed));
    }
}
