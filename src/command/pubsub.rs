//! Pub/sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs, PUBLISH, SPUBLISH, PUBSUB.
//!
//! A subscriber's messages go to the mailbox in its `ClientHandle`, encoded for its protocol
//! (RESP2 arrays or RESP3 pushes) by the publisher; the subscriber's connection task is woken
//! and writes them out. A subscriber that does not read lets its mailbox grow until
//! `client-output-buffer-limit pubsub` closes it, so a slow consumer cannot eat the memory.

use super::keyspec::{KeySpec as K, NOT_KEY};
use super::table::{
    CommandSpec as C, FAST, LOADING, MAY_REPLICATE, NOSCRIPT, PUBSUB, PUSHES, STALE,
};
use super::{CmdResult, Ctx};
use crate::clients::pubsub::Kind;
use crate::clients::{Client, Clients};
use crate::protocol::Reply;

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
            ctx.server
                .clients
                .pubsub
                .add(kind, name, &ctx.client.handle);
        }
        let n = ctx.client.subs.count(kind);
        reply_sub(ctx.out, kind.names().0, Some(name), n);
    }
    ctx.client.subs.publish_counts(&ctx.client.handle);
    Ok(())
}

/// Drops subscriptions: the named ones, or all of the kind when none is named. Replies for
/// each (once, with a null name, when there was nothing to drop) when `notify`.
fn unsub(
    clients: &Clients,
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
            clients.pubsub.remove(kind, name, client.handle.id);
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
    client.subs.publish_counts(&client.handle);
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
        ctx.clients(),
        ctx.client,
        Some(ctx.out),
        &argv[1..],
        Kind::Channel,
    );
    Ok(())
}

fn punsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    unsub(
        ctx.clients(),
        ctx.client,
        Some(ctx.out),
        &argv[1..],
        Kind::Pattern,
    );
    Ok(())
}

fn sunsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    unsub(
        ctx.clients(),
        ctx.client,
        Some(ctx.out),
        &argv[1..],
        Kind::Shard,
    );
    Ok(())
}

fn do_publish(ctx: &mut Ctx, argv: &[&[u8]], shard: bool) -> CmdResult {
    let n = ctx.server.publish(argv[1], argv[2], shard);
    // Replicas pass it on to their own subscribers.
    ctx.record(argv);
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
    let names = ctx.clients().pubsub.names(kind, pattern);
    ctx.out.array(names.len());
    for n in &names {
        ctx.out.bulk(n);
    }
    Ok(())
}

fn count_subs(ctx: &mut Ctx, argv: &[&[u8]], kind: Kind) -> CmdResult {
    let counts = ctx.clients().pubsub.subscribers(kind, &argv[2..]);
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
    let n = ctx.clients().pubsub.counts()[Kind::Pattern as usize];
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
