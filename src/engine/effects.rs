//! The effect sink: what a command changed, as it reports it. Nothing changed is the default:
//! a handler reports each key it modified (Redis's `signalModifiedKey`), each keyspace event,
//! how many changes to count (Redis's `server.dirty`, INFO `rdb_changes_since_last_save`), and,
//! when replaying its own arguments would not reproduce what it did, the deterministic record
//! to journal in their place. The engine reports what it causes itself through the same sink:
//! keys expiring or evicted, keys created, read misses.
//!
//! Reports gather in a record of the thread that runs the command; the dispatcher drains it
//! when the command ends and derives everything else from it, in the order reported: WATCH
//! invalidation, client-tracking invalidation, blocked-client wake-ups, keyspace
//! notifications, the dirty counter and the journal (`command::effects`). While nobody
//! watches, tracks, waits or listens, a report of a key costs one relaxed load.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::key::Key;
use super::notify;

/// One reported change, in the order reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The value at `key` changed; `by_server` when the server did it (expiry, eviction), not
    /// the running client; `gone` when the change deleted the key (what it is right after the
    /// change, which the command may change again before its effects are derived).
    Key {
        db: usize,
        key: Key,
        by_server: bool,
        gone: bool,
    },
    /// Any key of the database may have changed: it was emptied (`flush`: FLUSHDB, FLUSHALL)
    /// or swapped with another (SWAPDB).
    Db { db: usize, flush: bool },
    /// Clients blocked on `key` should look again, though its value did not change (a
    /// consumer group they wait on went).
    Ready { db: usize, key: Key },
    /// A keyspace event (published if its class is on).
    Event {
        db: usize,
        class: u32,
        name: &'static str,
        key: Key,
    },
}

/// The effects reported since the record was last drained.
#[derive(Debug, Default)]
pub struct Record {
    /// Changes counted, as Redis counts them per command.
    pub dirty: u64,
    /// Keys and events, kept only while someone needs them.
    pub changes: Vec<Change>,
    /// Journal records, RESP-encoded back to back (only while the journal is on).
    pub journal: Vec<u8>,
    /// (database, end of the record in `journal`).
    pub items: Vec<(usize, usize)>,
    /// The running command journaled its own effects: its arguments are not journaled.
    pub own: bool,
}

thread_local! {
    static RECORD: RefCell<Record> = RefCell::new(Record::default());
}

/// Runs `f` on this thread's record.
#[inline]
pub fn with<R>(f: impl FnOnce(&mut Record) -> R) -> R {
    RECORD.with(|r| f(&mut r.borrow_mut()))
}

// Who needs changed keys (WATCHed keys, tracking clients, blocked clients): the layers above
// count their interests in, and out, as they come and go.
static INTERESTS: AtomicUsize = AtomicUsize::new(0);

/// `n` more interests in changed keys (a WATCH, a tracking client, a blocked client).
pub fn interested(n: usize) {
    INTERESTS.fetch_add(n, Ordering::Relaxed);
}

/// `n` interests fewer.
pub fn uninterested(n: usize) {
    INTERESTS.fetch_sub(n, Ordering::Relaxed);
}

/// Held by the unit tests that add interests (the command harness) or assume there are none:
/// the count is process-wide and tests run in parallel.
#[cfg(test)]
pub fn serial_interests() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[inline]
fn keys_wanted() -> bool {
    INTERESTS.load(Ordering::Relaxed) != 0
}

/// Whether the journal records effects (see `journal::active`).
#[inline]
pub fn journaling() -> bool {
    crate::journal::active()
}

/// The value at `key` changed.
#[inline]
pub fn key(db: usize, key: &[u8]) {
    if keys_wanted() {
        push_key(db, key, false, false);
    }
}

/// The key at `key` was deleted (a change that leaves it missing).
#[inline]
pub fn deleted(db: usize, key: &[u8]) {
    if keys_wanted() {
        push_key(db, key, false, true);
    }
}

#[inline(never)]
fn push_key(db: usize, key: &[u8], by_server: bool, gone: bool) {
    with(|r| {
        r.changes.push(Change::Key {
            db,
            key: Key::from(key),
            by_server,
            gone,
        })
    });
}

/// A keyspace event of `class` about `key`.
#[inline]
pub fn event(db: usize, class: u32, name: &'static str, key: &[u8]) {
    if notify::enabled(class) {
        push_event(db, class, name, key);
    }
}

#[inline(never)]
fn push_event(db: usize, class: u32, name: &'static str, key: &[u8]) {
    with(|r| {
        r.changes.push(Change::Event {
            db,
            class,
            name,
            key: Key::from(key),
        })
    });
}

/// The value at `key` changed, and the change has a keyspace event (the usual pair).
#[inline]
pub fn changed(db: usize, key: &[u8], class: u32, name: &'static str) {
    // A `del` event is a deletion.
    if keys_wanted() {
        push_key(db, key, false, name == "del");
    }
    event(db, class, name, key);
}

/// Every key of `db` may have changed (`flush`: it was emptied, rather than swapped).
pub fn db(db: usize, flush: bool) {
    with(|r| r.changes.push(Change::Db { db, flush }));
}

/// Clients blocked on `key` should look again.
pub fn ready(db: usize, key: &[u8]) {
    if keys_wanted() {
        with(|r| {
            r.changes.push(Change::Ready {
                db,
                key: Key::from(key),
            })
        });
    }
}

/// Counts `n` changes.
#[inline]
pub fn dirty(n: u64) {
    if n != 0 {
        with(|r| r.dirty += n);
    }
}

/// Journals `args` (a command that replays the effect) in database `db`, in place of the
/// running command's own arguments.
pub fn journal(db: usize, args: &[&[u8]]) {
    push_journal(db, args, true);
}

/// Journals `args` without replacing the running command's arguments: an expiry or eviction
/// that happened while it ran (which must come before it), or the command's own arguments
/// (the dispatcher, for a command that changed something and recorded nothing else).
pub fn journal_aside(db: usize, args: &[&[u8]]) {
    push_journal(db, args, false);
}

fn push_journal(db: usize, args: &[&[u8]], own: bool) {
    if !journaling() {
        return;
    }
    with(|r| {
        crate::journal::encode(&mut r.journal, args);
        r.items.push((db, r.journal.len()));
        r.own |= own;
    });
}

/// A key's TTL passed and it was deleted.
pub fn expired(db: usize, key: &[u8]) {
    if keys_wanted() {
        push_key(db, key, true, true);
    }
    event(db, notify::EXPIRED, "expired", key);
    journal_aside(db, &[b"DEL", key]);
}

/// A key was evicted under `maxmemory`.
pub fn evicted(db: usize, key: &[u8]) {
    if keys_wanted() {
        push_key(db, key, true, true);
    }
    event(db, notify::EVICTED, "evicted", key);
    journal_aside(db, &[b"DEL", key]);
}

/// What a command reported, as the dispatcher takes it when the handler returns.
pub struct Done {
    /// Changes counted.
    pub dirty: u64,
    /// It journaled its own records (its arguments are not journaled).
    pub own: bool,
    /// Changes wait to be derived (`take_changes`).
    pub changes: bool,
}

/// Takes the command's dirty count and whether it journaled its own records, and tells
/// whether changes wait (one access to the record).
#[inline]
pub fn take_command() -> Done {
    with(|r| Done {
        dirty: std::mem::take(&mut r.dirty),
        own: std::mem::take(&mut r.own),
        changes: !r.changes.is_empty(),
    })
}

/// Takes the changes reported so far (the dispatcher derives their consequences).
pub fn take_changes(into: &mut Vec<Change>) {
    with(|r| {
        if !r.changes.is_empty() {
            std::mem::swap(&mut r.changes, into);
        }
    });
}

/// Whether changes wait to be derived.
#[inline]
pub fn pending_changes() -> bool {
    with(|r| !r.changes.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_kept_while_nobody_needs_it() {
        let _serial = serial_interests();
        let mut got = Vec::new();
        take_changes(&mut got);
        got.clear();
        key(0, b"k");
        event(0, notify::STRING, "set", b"k");
        dirty(2);
        take_changes(&mut got);
        assert!(got.is_empty());
        let done = take_command();
        assert_eq!((done.dirty, done.own, done.changes), (2, false, false));
        interested(1);
        changed(3, b"k", notify::STRING, "set");
        db(1, true);
        uninterested(1);
        take_changes(&mut got);
        assert_eq!(
            got,
            [
                Change::Key {
                    db: 3,
                    key: Key::from(&b"k"[..]),
                    by_server: false,
                    gone: false
                },
                Change::Db { db: 1, flush: true }
            ]
        );
    }
}
