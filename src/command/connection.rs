//! Connection commands: PING, ECHO, SELECT, AUTH, HELLO, QUIT, RESET.

use std::sync::atomic::Ordering;

use super::args::is;
use super::table::{
    CommandSpec as C, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, NO_AUTH, STALE, TX_CONTROL,
};
use super::{CmdError, CmdResult, Ctx};
use crate::clients::ReplyMode;

pub static COMMANDS: &[C] = &[
    C::new("ping", -1, FAST, ping).doc(
        "connection",
        "1.0.0",
        "[message]",
        "Returns the server's liveliness response.",
    ),
    C::new("echo", 2, FAST, echo).doc(
        "connection",
        "1.0.0",
        "message",
        "Returns the given string.",
    ),
    C::new("select", 2, LOADING | STALE | FAST, select).doc(
        "connection",
        "1.0.0",
        "index",
        "Changes the selected database.",
    ),
    C::new(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        auth,
    )
    .doc(
        "connection",
        "1.0.0",
        "[username] password",
        "Authenticates the connection.",
    ),
    C::new(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        hello,
    )
    .doc(
        "connection",
        "6.0.0",
        "[protover [AUTH username password] [SETNAME clientname]]",
        "Handshakes with the Redis server.",
    ),
    C::new(
        "quit",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | TX_CONTROL | ALLOW_BUSY,
        quit,
    )
    .doc("connection", "1.0.0", "", "Closes the connection."),
    C::new(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | TX_CONTROL | ALLOW_BUSY,
        reset,
    )
    .doc("connection", "6.2.0", "", "Resets the connection."),
];

/// The version clients see as `redis_version` (they gate features on it).
pub const REDIS_VERSION: &str = "7.2.4";

fn ping(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        // Subscribed RESP2 clients get PING as an array, like their messages.
        n if ctx.client.subs.active() && !ctx.out.resp3 => {
            ctx.out.array(2);
            ctx.out.bulk(b"pong");
            ctx.out.bulk(if n == 2 { argv[1] } else { b"" });
        }
        1 => ctx.out.raw(b"+PONG\r\n"),
        2 => ctx.out.bulk(argv[1]),
        _ => {
            return Err(CmdError::new(
                "ERR wrong number of arguments for 'ping' command",
            ))
        }
    }
    Ok(())
}

fn echo(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(argv[1]);
    Ok(())
}

fn select(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = super::args::strict_i64(argv[1])
        .filter(|n| i32::try_from(*n).is_ok())
        .ok_or(super::NOT_INT)?;
    if n < 0 || n as usize >= ctx.server.keyspace.len() {
        return Err(super::DB_INDEX);
    }
    ctx.client.db = n as usize;
    ctx.client.handle.db.store(n as u32, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn auth(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(super::SYNTAX);
    }
    if argv.len() == 2 && ctx.server.acl.default_user().nopass {
        return Err(CmdError::new(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    let (user, pass): (&[u8], &[u8]) = if argv.len() == 3 {
        (argv[1], argv[2])
    } else {
        (b"default", argv[1])
    };
    super::acl::authenticate(ctx, argv[0], user, pass)?;
    ctx.out.ok();
    Ok(())
}

fn hello(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut proto = None;
    if argv.len() >= 2 {
        let v = super::args::strict_i64(argv[1]).ok_or(CmdError::new(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::new("NOPROTO unsupported protocol version"));
        }
        proto = Some(v);
    }
    let mut i = 2;
    let mut setname: Option<&[u8]> = None;
    let mut auth: Option<(&[u8], &[u8])> = None;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if is(argv[i], "AUTH") && more >= 2 {
            auth = Some((argv[i + 1], argv[i + 2]));
            i += 3;
        } else if is(argv[i], "SETNAME") && more >= 1 {
            super::client::validate_name(argv[i + 1])?;
            setname = Some(argv[i + 1]);
            i += 2;
        } else {
            return Err(CmdError::owned(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(argv[i])
            )));
        }
    }
    // (All or nothing, as in Redis 7.2: a bad option leaves the connection as it was.)
    if let Some((user, pass)) = auth {
        super::acl::authenticate(ctx, argv[0], user, pass)?;
    }
    if !ctx.client.authenticated && ctx.server.auth_required() {
        return Err(CmdError::new(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(name) = setname {
        *ctx.client.handle.name.lock() = name.to_vec();
    }
    if let Some(p) = proto {
        ctx.out.resp3 = p == 3;
        ctx.client.handle.resp.store(p as u8, Ordering::Relaxed);
    }
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if out.resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(ctx.client.handle.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

fn quit(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

fn reset(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.client.clear_connection_state(ctx.clients());
    let c = &mut *ctx.client;
    c.db = 0;
    c.reply_mode = ReplyMode::On;
    c.authenticated = !ctx.server.auth_required();
    if c.user.is_some() {
        c.set_user(ctx.server.acl.default_user());
    }
    let h = &c.handle;
    h.authed.store(c.authenticated, Ordering::Relaxed);
    h.db.store(0, Ordering::Relaxed);
    h.resp.store(2, Ordering::Relaxed);
    h.name.lock().clear();
    h.no_evict.store(false, Ordering::Relaxed);
    h.no_touch.store(false, Ordering::Relaxed);
    ctx.out.resp3 = false;
    ctx.out.simple("RESET");
    Ok(())
}
