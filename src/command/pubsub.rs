//! Pub/sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs, PUBLISH, SPUBLISH, PUBSUB.
//!
//! A subscriber's messages go to the mailbox in its `ClientHandle`, encoded for its protocol
//! (RESP2 arrays or RESP3 pushes) by the publisher; the subscriber's connection task is woken
//! and writes them out. A subscriber that does not read lets its mailbox grow until
//! `client-output-buffer-limit pubsub` closes it, so a slow consumer cannot eat the memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::task::AtomicWaker;
use indexmap::IndexSet;
use parking_lot::Mutex;

use super::keyspec::{KeySpec as K, NOT_KEY};
use super::table::{
    CommandSpec as C, FAST, LOADING, MAY_REPLICATE, NOSCRIPT, PUBSUB, PUSHES, STALE,
};
use super::{CmdResult, Ctx};
use crate::engine::glob;
use crate::protocol::Reply;
use crate::server::client::{Client, ClientHandle};
use crate::server::Server;

const SUB: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
/// The (un)subscribe commands, whose replies are pushes.
const SUBP: u32 = SUB | PUSHES;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("subscribe", -2, SUBP, subscribe)
        .doc("pubsub", "2.0.0", "channel [channel ...]", "Listens for messages published to channels."),
    C::new("unsubscribe", -1, SUBP, unsubscribe)
        .doc("pubsub", "2.0.0", "[channel [channel ...]]", "Stops listening to messages posted to channels."),
    C::new("psubscribe", -2, SUBP, psubscribe)
        .doc("pubsub", "2.0.0", "pattern [pattern ...]", "Listens for messages published to channels that match one or more patterns."),
    C::new("punsubscribe", -1, SUBP, punsubscribe)
        .doc("pubsub", "2.0.0", "[pattern [pattern ...]]", "Stops listening to messages published to channels that match one or more patterns."),
    C::new("ssubscribe", -2, SUBP, ssubscribe).keys(&[K::rest(1, NOT_KEY)])
        .doc("pubsub", "7.0.0", "shardchannel [shardchannel ...]", "Listens for messages published to shard channels."),
    C::new("sunsubscribe", -1, SUBP, sunsubscribe).keys(&[K::rest(1, NOT_KEY)])
        .doc("pubsub", "7.0.0", "[shardchannel [shardchannel ...]]", "Stops listening to messages posted to shard channels."),
    C::new("publish", 3, PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, publish)
        .doc("pubsub", "2.0.0", "channel message", "Posts a message to a channel."),
    C::new("spublish", 3, PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, spublish).keys(&[K::at(1, NOT_KEY)])
        .doc("pubsub", "7.0.0", "shardchannel message", "Post a message to a shard channel"),
    C::container("pubsub", PUBSUB_SUBS)
        .doc("pubsub", "2.8.0", "", "A container for Pub/Sub commands."),
];

#[rustfmt::skip]
static PUBSUB_SUBS: &[C] = &[
    C::new("channels", -2, SUB, channels)
        .doc("pubsub", "2.8.0", "[pattern]", "Returns the active channels."),
    C::new("numsub", -2, SUB, numsub)
        .doc("pubsub", "2.8.0", "[channel [channel ...]]", "Returns a count of subscribers to channels."),
    C::new("numpat", 2, SUB, numpat)
        .doc("pubsub", "2.8.0", "", "Returns a count of unique pattern subscriptions."),
    C::new("shardchannels", -2, SUB, shardchannels)
        .doc("pubsub", "7.0.0", "[pattern]", "Returns the active shard channels."),
    C::new("shardnumsub", -2, SUB, shardnumsub)
        .doc("pubsub", "7.0.0", "[shardchannel [shardchannel ...]]", "Returns the count of subscribers of shard channels."),
];

/// The three kinds of subscription.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel = 0,
    Pattern = 1,
    Shard = 2,
}

impl Kind {
    fn names(self) -> (&'static str, &'static str) {
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
    sets: [IndexSet<Vec<u8>>; 3],
}

impl Subscriptions {
    /// In "subscribed" mode (RESP2 then allows only the pub/sub commands).
    pub fn active(&self) -> bool {
        self.sets.iter().any(|s| !s.is_empty())
    }

    /// The count Redis replies with: channels + patterns, or shard channels alone.
    fn count(&self, kind: Kind) -> usize {
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

    fn add(&self, kind: Kind, name: &[u8], h: &Arc<ClientHandle>) {
        self.inner.lock().maps[kind as usize]
            .entry(name.to_vec())
            .or_default()
            .push(h.clone());
    }

    fn remove(&self, kind: Kind, name: &[u8], id: u64) {
        let mut inner = self.inner.lock();
        let map = &mut inner.maps[kind as usize];
        if let Some(list) = map.get_mut(name) {
            list.retain(|h| h.id != id);
            if list.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Delivers a message; returns the number of receivers.
    pub fn publish(&self, server: &Server, channel: &[u8], msg: &[u8], shard: bool) -> usize {
        let inner = self.inner.lock();
        let mut n = 0;
        let kind = if shard { Kind::Shard } else { Kind::Channel };
        let head: &[u8] = if shard { b"smessage" } else { b"message" };
        if let Some(list) = inner.maps[kind as usize].get(channel) {
            let parts = [head, channel, msg];
            let mut m = Encoded::new(&parts);
            for h in list {
                deliver(server, h, &mut m);
                n += 1;
            }
        }
        if !shard {
            for (pat, list) in &inner.maps[Kind::Pattern as usize] {
                if glob::matches(pat, channel, false) {
                    let parts: [&[u8]; 4] = [b"pmessage", pat, channel, msg];
                    let mut m = Encoded::new(&parts);
                    for h in list {
                        deliver(server, h, &mut m);
                        n += 1;
                    }
                }
            }
        }
        n
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
/// let its mailbox pass the `client-output-buffer-limit pubsub` limits.
fn deliver(server: &Server, h: &ClientHandle, msg: &mut Encoded) {
    let bytes = msg.get(h.resp.load(Ordering::Relaxed) >= 3);
    let m = &h.mailbox;
    let pending = m.push(bytes);
    let live = &*server.config;
    let hard = live.derived.pubsub_limit.hard.load(Ordering::Relaxed);
    let soft = live.derived.pubsub_limit.soft.load(Ordering::Relaxed);
    let soft_secs = live.derived.pubsub_limit.soft_secs.load(Ordering::Relaxed);
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
        crate::server::client_limits::output_limit_reached(server, h);
        h.request_kill();
    }
}

fn reply_sub(out: &mut Reply, verb: &str, name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(verb.as_bytes());
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

fn sub(ctx: &mut Ctx, argv: &[&[u8]], kind: Kind) -> CmdResult {
    for name in &argv[1..] {
        if ctx.client.subs.sets[kind as usize].insert(name.to_vec()) {
            ctx.server.pubsub.add(kind, name, &ctx.client.handle);
        }
        let n = ctx.client.subs.count(kind);
        reply_sub(ctx.out, kind.names().0, Some(name), n);
    }
    publish_counts(ctx.client);
    Ok(())
}

/// Drops subscriptions: the named ones, or all of the kind when none is named. Replies for
/// each (once, with a null name, when there was nothing to drop) when `notify`.
fn unsub(
    server: &Server,
    client: &mut Client,
    out: Option<&mut Reply>,
    names: &[&[u8]],
    kind: Kind,
) {
    let all: Vec<Vec<u8>>;
    let names: Vec<&[u8]> = if names.is_empty() {
        all = client.subs.sets[kind as usize].iter().cloned().collect();
        all.iter().map(|v| v.as_slice()).collect()
    } else {
        names.to_vec()
    };
    let mut out = out;
    for name in &names {
        if client.subs.sets[kind as usize].shift_remove(*name) {
            server.pubsub.remove(kind, name, client.handle.id);
        }
        if let Some(o) = out.as_deref_mut() {
            reply_sub(o, kind.names().1, Some(name), client.subs.count(kind));
        }
    }
    if names.is_empty() {
        if let Some(o) = out {
            reply_sub(o, kind.names().1, None, client.subs.count(kind));
        }
    }
    publish_counts(client);
}

/// Mirrors the subscription counts into the handle (CLIENT LIST sub=, psub=, ssub=).
fn publish_counts(client: &Client) {
    for (i, s) in client.subs.sets.iter().enumerate() {
        client.handle.sub_counts[i].store(s.len() as u32, Ordering::Relaxed);
    }
}

/// Drops every subscription without replying (RESET, disconnection).
pub fn unsubscribe_all(server: &Server, client: &mut Client) {
    if !client.subs.active() {
        return;
    }
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        unsub(server, client, None, &[], kind);
    }
}

fn subscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sub(ctx, argv, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sub(ctx, argv, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sub(ctx, argv, Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    unsub(
        ctx.server,
        ctx.client,
        Some(ctx.out),
        &argv[1..],
        Kind::Channel,
    );
    Ok(())
}

fn punsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    unsub(
        ctx.server,
        ctx.client,
        Some(ctx.out),
        &argv[1..],
        Kind::Pattern,
    );
    Ok(())
}

fn sunsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    unsub(
        ctx.server,
        ctx.client,
        Some(ctx.out),
        &argv[1..],
        Kind::Shard,
    );
    Ok(())
}

fn do_publish(ctx: &mut Ctx, argv: &[&[u8]], shard: bool) -> CmdResult {
    let n = ctx
        .server
        .pubsub
        .publish(ctx.server, argv[1], argv[2], shard);
    // A client subscribed to its own channel sees the message before the count, as in Redis;
    // inside EXEC the message waits for the end of the EXEC reply instead.
    if !ctx.client.in_exec {
        ctx.client.handle.mailbox.drain_into(ctx.out);
    }
    ctx.out.int(n as i64);
    Ok(())
}

fn publish(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    do_publish(ctx, argv, false)
}

fn spublish(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    do_publish(ctx, argv, true)
}

fn list_names(ctx: &mut Ctx, argv: &[&[u8]], kind: Kind) -> CmdResult {
    let pattern = argv.get(2).copied();
    let names: Vec<Vec<u8>> = ctx.server.pubsub.inner.lock().maps[kind as usize]
        .keys()
        .filter(|n| pattern.is_none_or(|p| glob::matches(p, n, false)))
        .cloned()
        .collect();
    ctx.out.array(names.len());
    for n in &names {
        ctx.out.bulk(n);
    }
    Ok(())
}

fn count_subs(ctx: &mut Ctx, argv: &[&[u8]], kind: Kind) -> CmdResult {
    let counts: Vec<usize> = {
        let inner = ctx.server.pubsub.inner.lock();
        argv[2..]
            .iter()
            .map(|c| inner.maps[kind as usize].get(*c).map_or(0, |l| l.len()))
            .collect()
    };
    ctx.out.map(counts.len());
    for (c, n) in argv[2..].iter().zip(counts) {
        ctx.out.bulk(c);
        ctx.out.int(n as i64);
    }
    Ok(())
}

fn channels(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    list_names(ctx, argv, Kind::Channel)
}

fn shardchannels(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    list_names(ctx, argv, Kind::Shard)
}

fn numsub(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    count_subs(ctx, argv, Kind::Channel)
}

fn shardnumsub(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    count_subs(ctx, argv, Kind::Shard)
}

fn numpat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let n = ctx.server.pubsub.inner.lock().maps[Kind::Pattern as usize].len();
    ctx.out.int(n as i64);
    Ok(())
}

/// RESP2 subscribed mode allows only these commands.
pub fn allowed_in_subscribed_mode(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}
