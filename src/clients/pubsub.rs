//! Pub/sub state: who subscribes to what (`PubSub`), each client's own subscriptions, and the
//! mailbox a subscriber's messages wait in. Publishing encodes a message once per protocol
//! and appends it to each subscriber's mailbox, waking its connection; a subscriber whose
//! mailbox passes `client-output-buffer-limit pubsub` is closed. The commands are in
//! `command::pubsub`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::task::AtomicWaker;
use indexmap::IndexSet;
use parking_lot::Mutex;

use super::ClientHandle;
use crate::config::BufferLimit;
use crate::engine::glob;
use crate::protocol::Reply;

/// The three kinds of subscription.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel = 0,
    Pattern = 1,
    Shard = 2,
}

impl Kind {
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
            Kind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }
}

/// A client's own subscriptions, in the order made.
#[derive(Debug, Default)]
pub struct Subscriptions {
    pub sets: [IndexSet<Vec<u8>>; 3],
}

impl Subscriptions {
    /// Mirrors the counts into the handle (CLIENT LIST sub=, psub=, ssub=).
    pub fn publish_counts(&self, handle: &ClientHandle) {
        for (i, s) in self.sets.iter().enumerate() {
            handle.sub_counts[i].store(s.len() as u32, Ordering::Relaxed);
        }
    }

    /// In "subscribed" mode (RESP2 then allows only the pub/sub commands).
    pub fn active(&self) -> bool {
        self.sets.iter().any(|s| !s.is_empty())
    }

    /// The count Redis replies with: channels + patterns, or shard channels alone.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.sets[2].len(),
            _ => self.sets[0].len() + self.sets[1].len(),
        }
    }
}

/// Messages waiting to be written to a subscriber.
#[derive(Debug, Default)]
pub struct Mailbox {
    buf: Mutex<Vec<u8>>,
    pending: AtomicU64,
    /// When the mailbox went over the soft limit (None while under it).
    over_soft_since: Mutex<Option<Instant>>,
    waker: AtomicWaker,
}

impl Mailbox {
    /// Ready when messages are waiting.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.waker.register(cx.waker());
        if self.pending.load(Ordering::Acquire) > 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Bytes waiting to be sent (CLIENT LIST omem).
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Appends a message and wakes the connection; returns the bytes now waiting.
    pub fn push(&self, bytes: &[u8]) -> u64 {
        // The count changes under the buffer's lock, as the drain resets it: never over-counted.
        let pending = {
            let mut buf = self.buf.lock();
            buf.extend_from_slice(bytes);
            self.pending.fetch_add(bytes.len() as u64, Ordering::AcqRel) + bytes.len() as u64
        };
        self.waker.wake();
        pending
    }

    /// Moves the waiting messages to `out`.
    pub fn drain_into(&self, out: &mut Reply) {
        if self.pending.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut b = self.buf.lock();
        out.raw(&b);
        b.clear();
        self.pending.store(0, Ordering::Release);
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Subscribers per channel, pattern and shard channel.
    maps: [HashMap<Vec<u8>, Vec<Arc<ClientHandle>>>; 3],
}

#[derive(Debug, Default)]
pub struct PubSub {
    inner: Mutex<Inner>,
}

impl PubSub {
    /// Channels, patterns and shard channels that have subscribers (INFO's pubsub_* fields).
    pub fn counts(&self) -> [usize; 3] {
        let inner = self.inner.lock();
        [
            inner.maps[Kind::Channel as usize].len(),
            inner.maps[Kind::Pattern as usize].len(),
            inner.maps[Kind::Shard as usize].len(),
        ]
    }

    /// Channels (or shard channels, or patterns) with subscribers, optionally matching
    /// `pattern` (PUBSUB CHANNELS).
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.inner.lock().maps[kind as usize]
            .keys()
            .filter(|n| pattern.is_none_or(|p| glob::matches(p, n, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of each channel (PUBSUB NUMSUB).
    pub fn subscribers(&self, kind: Kind, channels: &[&[u8]]) -> Vec<usize> {
        let inner = self.inner.lock();
        channels
            .iter()
            .map(|c| inner.maps[kind as usize].get(*c).map_or(0, |l| l.len()))
            .collect()
    }

    /// Each subscriber's channels, patterns and shard channels, by client id (an ACL change
    /// checks them against the user's new permissions).
    pub fn by_client(&self) -> std::collections::HashMap<u64, [Vec<Vec<u8>>; 3]> {
        let inner = self.inner.lock();
        let mut out: std::collections::HashMap<u64, [Vec<Vec<u8>>; 3]> = Default::default();
        for (kind, map) in inner.maps.iter().enumerate() {
            for (name, subs) in map {
                for h in subs {
                    out.entry(h.id).or_default()[kind].push(name.clone());
                }
            }
        }
        out
    }

    pub fn add(&self, kind: Kind, name: &[u8], h: &Arc<ClientHandle>) {
        self.inner.lock().maps[kind as usize]
            .entry(name.to_vec())
            .or_default()
            .push(h.clone());
    }

    pub fn remove(&self, kind: Kind, name: &[u8], id: u64) {
        let mut inner = self.inner.lock();
        let map = &mut inner.maps[kind as usize];
        if let Some(list) = map.get_mut(name) {
            list.retain(|h| h.id != id);
            if list.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Delivers a message; returns the number of receivers, and how many of them were closed
    /// for passing `limit` (`client-output-buffer-limit pubsub`).
    pub fn publish(
        &self,
        limit: &BufferLimit,
        channel: &[u8],
        msg: &[u8],
        shard: bool,
    ) -> (usize, u64) {
        let mut closed = 0;
        let inner = self.inner.lock();
        let mut n = 0;
        let kind = if shard { Kind::Shard } else { Kind::Channel };
        let head: &[u8] = if shard { b"smessage" } else { b"message" };
        if let Some(list) = inner.maps[kind as usize].get(channel) {
            let parts = [head, channel, msg];
            let mut m = Encoded::new(&parts);
            for h in list {
                closed += deliver(limit, h, &mut m) as u64;
                n += 1;
            }
        }
        if !shard {
            for (pat, list) in &inner.maps[Kind::Pattern as usize] {
                if glob::matches(pat, channel, false) {
                    let parts: [&[u8]; 4] = [b"pmessage", pat, channel, msg];
                    let mut m = Encoded::new(&parts);
                    for h in list {
                        closed += deliver(limit, h, &mut m) as u64;
                        n += 1;
                    }
                }
            }
        }
        (n, closed)
    }
}

/// One message, encoded at most once per protocol however many subscribers get it.
struct Encoded<'a> {
    parts: &'a [&'a [u8]],
    forms: [Option<Vec<u8>>; 2],
}

impl<'a> Encoded<'a> {
    fn new(parts: &'a [&'a [u8]]) -> Self {
        Encoded {
            parts,
            forms: [None, None],
        }
    }

    fn get(&mut self, resp3: bool) -> &[u8] {
        let parts = self.parts;
        self.forms[resp3 as usize].get_or_insert_with(|| {
            let mut r = Reply::new();
            r.resp3 = resp3;
            r.push(parts.len());
            for p in parts {
                r.bulk(p);
            }
            r.buf
        })
    }
}

/// Appends one message to a subscriber's mailbox and wakes it, closing a subscriber that has
/// let its mailbox pass the `client-output-buffer-limit pubsub` limits (true if it did).
fn deliver(limit: &BufferLimit, h: &ClientHandle, msg: &mut Encoded) -> bool {
    let bytes = msg.get(h.resp.load(Ordering::Relaxed) >= 3);
    let m = &h.mailbox;
    let pending = m.push(bytes);
    let hard = limit.hard.load(Ordering::Relaxed);
    let soft = limit.soft.load(Ordering::Relaxed);
    let soft_secs = limit.soft_secs.load(Ordering::Relaxed);
    let over_hard = hard > 0 && pending > hard;
    let over_soft = soft > 0 && pending > soft && {
        let mut since = m.over_soft_since.lock();
        let t = *since.get_or_insert_with(Instant::now);
        t.elapsed().as_secs() >= soft_secs
    };
    if !over_hard && !over_soft && soft > 0 && pending <= soft {
        *m.over_soft_since.lock() = None;
    }
    if (over_hard || over_soft) && !h.killed.load(Ordering::Relaxed) {
        tracing::warn!(
            "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
            h.id,
            h.addr
        );
        h.request_kill();
        return true;
    }
    false
}
