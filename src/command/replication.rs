//! Replication commands: PSYNC/SYNC and REPLCONF (spoken by replicas), WAIT, ROLE, and
//! REPLICAOF (the replica side is `replication::replica`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::args::{self, is};
use super::table::{
    CommandSpec as C, ADMIN, ALLOW_BUSY, EXCLUSIVE, FAST, LOADING, NOSCRIPT, NO_MULTI, STALE,
};
use super::{CmdError, CmdResult, Ctx, SYNTAX};
use crate::replication::{self, replica, Sync, Wait};

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("psync", -3, ADMIN | NOSCRIPT | NO_MULTI | EXCLUSIVE, psync)
        .doc("server", "2.8.0", "replicationid offset", "An internal command used in replication."),
    C::new("sync", 1, ADMIN | NOSCRIPT | NO_MULTI | EXCLUSIVE, sync)
        .doc("server", "1.0.0", "", "An internal command used in replication."),
    C::new("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY, replconf)
        .doc("server", "3.0.0", "", "An internal command for configuring the replication stream."),
    C::new("wait", 3, NOSCRIPT, wait)
        .doc("generic", "3.0.0", "numreplicas timeout", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed."),
    C::new("role", 1, NOSCRIPT | LOADING | STALE | FAST, role)
        .doc("server", "2.8.12", "", "Returns the replication role."),
    C::new("replicaof", 3, ADMIN | NOSCRIPT | STALE, replicaof)
        .doc("server", "5.0.0", "<host port | NO ONE>", "Configures a server as replica of another, or promotes it to a primary."),
    C::new("slaveof", 3, ADMIN | NOSCRIPT | STALE, replicaof)
        .doc("server", "1.0.0", "<host port | NO ONE>", "Sets a Redis server as a replica of another, or promotes it to being a primary."),
];

fn psync(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let offset = args::int(argv[2])?;
    attach(ctx, argv[1], offset, true)
}

fn sync(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    attach(ctx, b"?", -1, false)
}

/// Answers a replica's PSYNC (`psync`) or SYNC and turns the connection into its link.
fn attach(ctx: &mut Ctx, replid: &[u8], offset: i64, psync: bool) -> CmdResult {
    if ctx.client.replica.is_some() || ctx.client.handle.replica.load(Ordering::Relaxed) {
        return Ok(());
    }
    if replica::is_replica() {
        return Err(CmdError::new(
            "ERR this server is a replica: chained replication is not supported yet",
        ));
    }
    // The snapshot and the offset it matches must see no command in between.
    let _still = super::exclusive(ctx)?;
    let ip = ctx
        .client
        .handle
        .addr
        .rsplit_once(':')
        .map_or(ctx.client.handle.addr.as_str(), |(ip, _)| ip)
        .trim_matches(['[', ']'])
        .to_string();
    let (how, link) = replication::attach(
        ctx.server,
        ctx.client.handle.id,
        &ip,
        replid,
        offset,
        psync,
        ctx.now,
    );
    if let Sync::Partial(bytes) = how {
        let id = ctx.server.replication.replid();
        ctx.out.raw(format!("+CONTINUE {id}\r\n").as_bytes());
        ctx.out.raw(&bytes);
    }
    // (A full resync's reply comes with its snapshot, through the link.)
    tracing::info!(
        "Replica {}:{} asks for synchronization",
        link.link.ip,
        link.link.port
    );
    ctx.client.handle.replica.store(true, Ordering::Relaxed);
    ctx.client.replica = Some(link);
    Ok(())
}

fn replconf(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() % 2 == 0 {
        return Err(SYNTAX);
    }
    for pair in argv[1..].chunks(2) {
        let (opt, val) = (pair[0], pair[1]);
        if is(opt, "listening-port") {
            let port = args::int(val)?;
            ctx.server.replication.announce(ctx.client.handle.id, |a| {
                a.port = port.clamp(0, 65535) as u16
            });
        } else if is(opt, "capa") {
            if is(val, "eof") {
                ctx.server
                    .replication
                    .announce(ctx.client.handle.id, |a| a.eof = true);
            }
        } else if is(opt, "ack") || is(opt, "getack") {
            // From a replica's link these are read there; from anyone else, not answered.
            return Ok(());
        } else if is(opt, "ip-address")
            || is(opt, "rdb-only")
            || is(opt, "rdb-filter-only")
            || is(opt, "rdb-channel")
        {
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    ctx.out.ok();
    Ok(())
}

/// WAIT numreplicas timeout: how many replicas acknowledged this client's writes, waiting
/// up to `timeout` ms (0 = no limit) for `numreplicas` of them.
fn wait(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let want = args::int(argv[1])?;
    let timeout = args::int(argv[2])
        .map_err(|_| CmdError::new("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    let offset = ctx.client.woff;
    let acked = ctx.server.replication.acked(offset);
    if want <= acked as i64 || ctx.client.in_exec {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    ctx.client.wait = Some(Wait {
        replicas: want as usize,
        offset,
        deadline: (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64)),
    });
    Ok(())
}

fn role(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if replica::is_replica() {
        let l = ctx.server.replication.upstream.link.lock().clone();
        let out = &mut *ctx.out;
        out.array(5);
        out.bulk(b"slave");
        out.bulk(l.host.as_bytes());
        out.int(l.port as i64);
        out.bulk(l.status.name().as_bytes());
        out.int(l.offset as i64);
        return Ok(());
    }
    let links = ctx.server.replication.links();
    let out = &mut *ctx.out;
    out.array(3);
    out.bulk(b"master");
    out.int(ctx.server.journal.offset() as i64);
    out.array(links.len());
    let mut n = itoa::Buffer::new();
    for l in &links {
        out.array(3);
        out.bulk(l.ip.as_bytes());
        out.bulk(n.format(l.port).as_bytes());
        out.bulk(n.format(l.ack.load(Ordering::Relaxed)).as_bytes());
    }
    Ok(())
}

/// REPLICAOF host port: follow that primary (see `replication::replica`); NO ONE: be a
/// primary again, keeping the data.
fn replicaof(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let up = &ctx.server.replication.upstream;
    if is(argv[1], "no") && is(argv[2], "one") {
        if replica::is_replica() {
            up.follow(None);
            tracing::info!(
                "MASTER MODE enabled (user request from '{}')",
                ctx.client.handle.addr
            );
        }
        ctx.out.ok();
        return Ok(());
    }
    let port = args::int(argv[2])
        .ok()
        .filter(|p| (0..=65535).contains(p))
        .ok_or(CmdError::new("ERR Invalid master port"))?;
    let host = String::from_utf8_lossy(argv[1]).into_owned();
    let target = Some((host.clone(), port as u16));
    if replica::is_replica() && *up.target.borrow() == target {
        ctx.out.simple("OK Already connected to specified master");
        return Ok(());
    }
    if ctx.server.replication.count() > 0 {
        return Err(CmdError::new(
            "ERR this server has replicas attached: chained replication is not supported yet",
        ));
    }
    // Clients blocked on keys would otherwise be fed by the primary's writes (Redis unblocks
    // them too); they are answered as if their timeout had passed.
    ctx.clients().blocking.unblock_all();
    up.follow(target);
    tracing::info!(
        "REPLICAOF {host}:{port} enabled (user request from '{}')",
        ctx.client.handle.addr
    );
    ctx.out.ok();
    Ok(())
}
