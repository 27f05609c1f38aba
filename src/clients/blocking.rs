//! Blocked clients (BLPOP and friends, XREAD BLOCK): who waits on which keys, first come
//! first served, and the hand-off of a served reply to the waiting connection. What serving
//! does (the pops) is in `command::blocking`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;

use crate::engine::{Key, Value};
use crate::protocol::Reply;

/// What serving a waiter does with the key that became ready.
#[derive(Debug)]
pub enum BlockOp {
    /// BLPOP/BRPOP: pop one element, reply `[key, element]`.
    Pop { front: bool },
    /// BLMPOP: pop up to `count`, reply `[key, [elements]]`.
    MPop { front: bool, count: usize },
    /// BLMOVE/BRPOPLPUSH: move one element to `dst`, reply the element.
    Move {
        dst: Key,
        from_front: bool,
        to_front: bool,
    },
    /// BZPOPMIN/BZPOPMAX: reply `[key, member, score]`.
    ZPop { max: bool },
    /// BZMPOP: reply `[key, [[member, score], ...]]`.
    ZMPop { max: bool, count: usize },
    /// XREAD BLOCK: entries after the given ID of each key (`$` already resolved).
    XRead {
        after: Vec<(Key, crate::engine::stream::StreamId)>,
        count: usize,
    },
    /// XREADGROUP BLOCK with `>`: new entries for a consumer of a group.
    XReadGroup(GroupRead),
}

/// What a blocked XREADGROUP asked for.
#[derive(Debug)]
pub struct GroupRead {
    pub group: Key,
    pub consumer: Key,
    pub count: usize,
    pub noack: bool,
}

impl BlockOp {
    /// Whether a value of this type can serve the waiter.
    pub fn accepts(&self, v: &Value) -> bool {
        match self {
            BlockOp::ZPop { .. } | BlockOp::ZMPop { .. } => matches!(v, Value::ZSet(_)),
            BlockOp::XRead { .. } | BlockOp::XReadGroup(_) => matches!(v, Value::Stream(_)),
            _ => matches!(v, Value::List(_)),
        }
    }
}

impl BlockOp {
    /// The reply on timeout (or CLIENT UNBLOCK ... TIMEOUT): a null array for every list
    /// pop, BLMOVE included, as Redis answers.
    pub fn reply_timeout(&self, out: &mut Reply) {
        out.null_array();
    }
}

#[derive(Debug)]
pub enum Outcome {
    Waiting,
    /// Served: the reply to send.
    Reply(Vec<u8>),
    /// CLIENT UNBLOCK: with ERROR, an error reply; else as a timeout.
    Unblocked {
        error: bool,
    },
}

/// One blocked client.
#[derive(Debug)]
pub struct Waiter {
    pub client: u64,
    pub db: usize,
    pub keys: Vec<Key>,
    pub op: BlockOp,
    pub resp3: bool,
    pub deadline: Option<Instant>,
    /// The blocked command's id in the command table: an error it is served with counts as
    /// its failed call.
    pub command: u32,
    outcome: Mutex<Outcome>,
    waker: AtomicWaker,
}

impl Waiter {
    /// A waiter not yet served.
    pub fn new(
        client: u64,
        db: usize,
        keys: Vec<Key>,
        op: BlockOp,
        resp3: bool,
        deadline: Option<Instant>,
        command: u32,
    ) -> Waiter {
        Waiter {
            client,
            db,
            keys,
            op,
            resp3,
            deadline,
            command,
            outcome: Mutex::new(Outcome::Waiting),
            waker: AtomicWaker::new(),
        }
    }

    /// Ready once served or unblocked; the outcome is then taken.
    pub fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Outcome> {
        self.waker.register(cx.waker());
        let mut o = self.outcome.lock();
        match *o {
            Outcome::Waiting => Poll::Pending,
            _ => Poll::Ready(std::mem::replace(&mut *o, Outcome::Waiting)),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Waiters per (database, key), oldest first.
    queues: HashMap<(usize, Key), VecDeque<Arc<Waiter>>>,
    by_client: HashMap<u64, Arc<Waiter>>,
    /// Keys with waiters that a write may have filled, not yet served.
    ready: Vec<(usize, Key)>,
}

#[derive(Debug, Default)]
pub struct Blocking {
    /// Blocked clients (INFO blocked_clients); writes skip everything while it is zero.
    blocked: AtomicUsize,
    inner: Mutex<Inner>,
    /// Held from choosing a waiter to handing it its reply, and by a waiter that gives up
    /// (timeout, disconnection, CLIENT UNBLOCK): so an element is never popped for a waiter
    /// that has already left, nor twice for the same waiter by two threads. Order: serving,
    /// then shard locks, then `inner`.
    pub serving: Mutex<()>,
}

impl Blocking {
    pub fn blocked_clients(&self) -> usize {
        self.blocked.load(Ordering::Relaxed)
    }

    /// Number of keys with at least one waiter (INFO total_blocking_keys).
    pub fn blocking_keys(&self) -> usize {
        if self.blocked_clients() == 0 {
            return 0;
        }
        self.inner.lock().queues.len()
    }

    /// Blocked clients with a timeout (INFO clients_in_timeout_table).
    pub fn with_timeout(&self) -> usize {
        if self.blocked_clients() == 0 {
            return 0;
        }
        self.inner
            .lock()
            .by_client
            .values()
            .filter(|w| w.deadline.is_some())
            .count()
    }

    /// Notes that `key` may now hold data; its waiters are served by `serve_ready`.
    #[inline]
    pub fn signal(&self, db: usize, key: &[u8]) {
        if self.blocked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        let k = (db, Key::from(key));
        if inner.queues.contains_key(&k) && !inner.ready.contains(&k) {
            inner.ready.push(k);
        }
    }

    /// Signals every key with waiters in `db` (SWAPDB brings in a whole other keyspace).
    pub fn signal_db(&self, db: usize) {
        if self.blocked_clients() == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        let keys: Vec<_> = inner.queues.keys().filter(|k| k.0 == db).cloned().collect();
        for k in keys {
            if !inner.ready.contains(&k) {
                inner.ready.push(k);
            }
        }
    }

    pub fn has_ready(&self) -> bool {
        self.blocked_clients() != 0 && !self.inner.lock().ready.is_empty()
    }

    pub fn register(&self, w: Arc<Waiter>) {
        let mut inner = self.inner.lock();
        for k in &w.keys {
            let q = inner.queues.entry((w.db, k.clone())).or_default();
            // BLPOP k k: one place in the queue.
            if !q.iter().any(|x| Arc::ptr_eq(x, &w)) {
                q.push_back(w.clone());
            }
        }
        inner.by_client.insert(w.client, w);
        self.blocked.fetch_add(1, Ordering::Relaxed);
        crate::engine::effects::interested(1);
    }

    /// Takes the waiter out of every queue. False if it was not registered (already served
    /// or unblocked). Call with the lock held.
    fn unregister(&self, inner: &mut Inner, w: &Arc<Waiter>) -> bool {
        if !inner
            .by_client
            .get(&w.client)
            .is_some_and(|x| Arc::ptr_eq(x, w))
        {
            return false;
        }
        inner.by_client.remove(&w.client);
        for k in &w.keys {
            let qk = (w.db, k.clone());
            if let Some(q) = inner.queues.get_mut(&qk) {
                q.retain(|x| !Arc::ptr_eq(x, w));
                if q.is_empty() {
                    inner.queues.remove(&qk);
                }
            }
        }
        self.blocked.fetch_sub(1, Ordering::Relaxed);
        crate::engine::effects::uninterested(1);
        true
    }

    /// Ends a wait: the waiter's own timeout or disconnection. Returns the outcome if it was
    /// served in the meantime.
    pub fn cancel(&self, w: &Arc<Waiter>) -> Option<Outcome> {
        let _serving = self.serving.lock();
        let mut inner = self.inner.lock();
        if self.unregister(&mut inner, w) {
            return None;
        }
        drop(inner);
        let mut o = w.outcome.lock();
        match *o {
            Outcome::Waiting => None,
            _ => Some(std::mem::replace(&mut *o, Outcome::Waiting)),
        }
    }

    /// Completes a wait with `outcome` and wakes the waiter's task.
    pub fn finish(&self, w: &Arc<Waiter>, outcome: Outcome) -> bool {
        let mut inner = self.inner.lock();
        if !self.unregister(&mut inner, w) {
            return false;
        }
        *w.outcome.lock() = outcome;
        drop(inner);
        w.waker.wake();
        true
    }

    /// CLIENT UNBLOCK: true if the client was blocked.
    pub fn unblock(&self, client: u64, error: bool) -> bool {
        let _serving = self.serving.lock();
        let w = self.inner.lock().by_client.get(&client).cloned();
        w.is_some_and(|w| self.finish(&w, Outcome::Unblocked { error }))
    }

    /// Releases every blocked client as if its timeout had passed (the server became a
    /// replica: the primary's writes must not feed them).
    pub fn unblock_all(&self) {
        let _serving = self.serving.lock();
        let all: Vec<_> = self.inner.lock().by_client.values().cloned().collect();
        for w in all {
            self.finish(&w, Outcome::Unblocked { error: false });
        }
    }

    /// The waiters of a key, oldest first.
    pub fn waiters(&self, db: usize, key: &Key) -> Vec<Arc<Waiter>> {
        self.inner
            .lock()
            .queues
            .get(&(db, key.clone()))
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn take_ready(&self) -> Vec<(usize, Key)> {
        std::mem::take(&mut self.inner.lock().ready)
    }
}
