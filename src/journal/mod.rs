//! The journal: the ordered stream of write effects (see `docs/architecture.md`).
//!
//! Every change to the dataset is recorded as the commands that replay it, as the effect sink
//! (`engine::effects`) gathered them: a write that changed something as it was sent, or what
//! its handler recorded instead when a replay would not reproduce it (relative TTLs become
//! absolute, SPOP becomes SREM, a served BLPOP becomes LPOP, consumer-group reads become where
//! each entry now stands: `groups`), expiry and eviction as `DEL`, a transaction as one
//! MULTI ... EXEC block, with SELECT wherever the database changes. The replication backlog
//! and every replica link read this one stream; nothing else writes replication data. Until
//! something consumes it the journal is off and costs one relaxed load per command.
//!
//! Order: a command's effects gather in its thread's effect record and are committed at its
//! end. With one I/O thread every command runs on that thread; the only other writer is the
//! active expiry cycle, which commits its DELs while it still holds the shard it took them
//! from, so no later write to those keys can be committed first. With several I/O threads and
//! the journal on, commands run one at a time (the `section` lock).

pub mod backlog;
pub mod groups;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub use backlog::Backlog;

/// On once something consumes the stream (the first replica); never turned off again.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether effects are being recorded.
#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Appends a command as the journal records it (and the replication stream and the AOF carry
/// it): a RESP array of bulk strings. Written here, not by the reply encoder, so that the
/// engine, which reports its effects in this form, needs nothing of the wire protocol.
pub fn encode(buf: &mut Vec<u8>, args: &[&[u8]]) {
    let mut n = itoa::Buffer::new();
    buf.push(b'*');
    buf.extend_from_slice(n.format(args.len()).as_bytes());
    buf.extend_from_slice(b"\r\n");
    for a in args {
        buf.push(b'$');
        buf.extend_from_slice(n.format(a.len()).as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Where recorded effects go: a consumer's buffer, filled by `Journal::commit`.
#[derive(Debug, Default)]
pub struct Feed {
    pub buf: Mutex<Vec<u8>>,
    pub ready: tokio::sync::Notify,
    /// Set when the consumer fell too far behind (its buffer passed `limit`) or left (or,
    /// for a full sync's snapshot, when the producer failed).
    pub closed: AtomicBool,
    /// Set by a producer that has nothing more to add (a full sync's snapshot is all there).
    pub done: AtomicBool,
    /// Bytes the buffer may hold before the feed is closed (0 = unbounded).
    pub limit: u64,
}

impl Feed {
    pub fn new(limit: u64) -> Self {
        Feed {
            limit,
            ..Default::default()
        }
    }

    /// Bytes waiting for the consumer.
    pub fn pending(&self) -> usize {
        self.buf.lock().len()
    }

    pub fn push(&self, bytes: &[u8]) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let mut b = self.buf.lock();
        b.extend_from_slice(bytes);
        if self.limit != 0 && b.len() as u64 > self.limit {
            self.closed.store(true, Ordering::Relaxed);
            b.clear();
            b.shrink_to_fit();
        }
        drop(b);
        self.ready.notify_one();
    }

    /// Moves what is buffered into `to` (which it swaps with, to reuse both allocations).
    pub fn take(&self, to: &mut Vec<u8>) {
        to.clear();
        std::mem::swap(&mut *self.buf.lock(), to);
    }
}

/// The stream's shared state.
#[derive(Debug, Default)]
pub struct Stream {
    /// Bytes recorded since the history began (INFO master_repl_offset).
    pub offset: u64,
    /// The database the stream last selected (None: the next effect selects again).
    db: Option<usize>,
    pub backlog: Option<Backlog>,
    feeds: Vec<Arc<Feed>>,
}

impl Stream {
    /// Records bytes: effects, or what is no effect on the data (a PING to keep replicas'
    /// links alive, REPLCONF GETACK).
    pub fn append(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.offset += bytes.len() as u64;
        if let Some(b) = &mut self.backlog {
            b.push(bytes);
        }
        self.feeds.retain(|f| {
            f.push(bytes);
            !f.closed.load(Ordering::Relaxed)
        });
    }

    /// Adds a consumer that receives everything recorded from now on, and makes the next
    /// effect select its database (the consumer does not know which is selected).
    pub fn subscribe(&mut self, feed: Arc<Feed>) {
        self.db = None;
        self.feeds.push(feed);
    }

    /// Forgets the backlog's bytes (a new history starts; see `Primary::new_history`).
    pub fn drop_backlog(&mut self) {
        if let Some(b) = &mut self.backlog {
            *b = Backlog::new(b.size(), self.offset);
        }
    }

    /// Makes the next effect select its database again (a consumer starts a new file).
    pub fn reselect(&mut self) {
        self.db = None;
    }

    /// Removes a consumer.
    pub fn unsubscribe(&mut self, feed: &Arc<Feed>) {
        self.feeds.retain(|f| !Arc::ptr_eq(f, feed));
    }
}

/// The journal of one server.
#[derive(Debug, Default)]
pub struct Journal {
    stream: Mutex<Stream>,
    /// Held by a command from before it runs until its effects are committed, and by the
    /// active expiry cycle, while the journal is on: with several I/O threads commands then
    /// run one at a time, and with one nothing else deletes keys while a command's effects
    /// wait to be committed. Taken before the transaction gate and any shard.
    section: Mutex<()>,
}

impl Journal {
    /// The stream, locked. Lock order: a shard may be held while taking this lock, never the
    /// other way round.
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, Stream> {
        self.stream.lock()
    }

    /// Enters a section (see `section`).
    pub fn section(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.section.lock()
    }

    /// `section`, waiting at most `wait`.
    pub fn section_for(
        &self,
        wait: std::time::Duration,
    ) -> Option<parking_lot::MutexGuard<'_, ()>> {
        self.section.try_lock_for(wait)
    }

    /// Starts recording for `feed` (the AOF), with no backlog.
    pub fn record_for(&self, feed: Arc<Feed>) {
        self.stream.lock().subscribe(feed);
        ACTIVE.store(true, Ordering::Relaxed);
    }

    /// Starts recording (idempotent); `backlog` is the size of the replication backlog.
    pub fn activate(&self, backlog: usize) {
        let mut s = self.stream.lock();
        if s.backlog.is_none() {
            s.backlog = Some(Backlog::new(backlog, s.offset));
        }
        ACTIVE.store(true, Ordering::Relaxed);
    }

    /// Commits the effects this thread recorded (`engine::effects`); `block` wraps several
    /// in MULTI ... EXEC (the effects of one EXEC). Returns the stream's offset after them,
    /// None if there were none.
    pub fn commit(&self, block: bool) -> Option<u64> {
        if !active() {
            return None;
        }
        thread_local! {
            /// The committed bytes, SELECTs and MULTI/EXEC added (reused).
            static OUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        crate::engine::effects::with(|r| {
            if r.items.is_empty() {
                return None;
            }
            OUT.with(|out| {
                let out = &mut *out.borrow_mut();
                let multi = block && r.items.len() > 1;
                let mut s = self.stream.lock();
                out.clear();
                let select = |out: &mut Vec<u8>, s: &mut Stream, db: usize| {
                    if s.db != Some(db) {
                        encode(out, &[b"SELECT", itoa::Buffer::new().format(db).as_bytes()]);
                        s.db = Some(db);
                    }
                };
                if multi {
                    // The first database is selected before MULTI, as Redis writes it.
                    select(out, &mut s, r.items[0].0);
                    encode(out, &[b"MULTI"]);
                }
                let mut start = 0;
                for &(db, end) in &r.items {
                    select(out, &mut s, db);
                    out.extend_from_slice(&r.journal[start..end]);
                    start = end;
                }
                if multi {
                    encode(out, &[b"EXEC"]);
                }
                s.append(out);
                let offset = s.offset;
                drop(s);
                r.items.clear();
                r.journal.clear();
                // A huge transaction's buffers are not kept for every later command.
                if r.journal.capacity() > 1 << 20 {
                    r.journal = Vec::new();
                    *out = Vec::new();
                }
                Some(offset)
            })
        })
    }

    /// The stream's offset (INFO master_repl_offset).
    pub fn offset(&self) -> u64 {
        self.stream.lock().offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_select_and_blocks_in_order() {
        let j = Journal::default();
        j.activate(1 << 20);
        let feed = Arc::new(Feed::default());
        j.lock().subscribe(feed.clone());
        use crate::engine::effects::journal as push;
        push(0, &[b"SET", b"a", b"1"]);
        j.commit(false);
        push(0, &[b"DEL", b"a"]);
        push(2, &[b"INCR", b"b"]);
        let off = j.commit(true).unwrap();
        let mut got = Vec::new();
        feed.take(&mut got);
        let want: &[u8] =
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
            *1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n\
            *2\r\n$4\r\nINCR\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n";
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
        assert_eq!(off, want.len() as u64);
        // The backlog holds the same bytes.
        let b = j.lock();
        assert_eq!(b.backlog.as_ref().unwrap().since(1), Some(want.to_vec()));
    }

    #[test]
    fn a_feed_over_its_limit_is_closed() {
        let j = Journal::default();
        j.activate(1024);
        let feed = Arc::new(Feed::new(10));
        j.lock().subscribe(feed.clone());
        crate::engine::effects::journal(0, &[b"SET", b"key", b"value"]);
        j.commit(false);
        assert!(feed.closed.load(Ordering::Relaxed));
        assert!(feed.buf.lock().is_empty());
    }
}
