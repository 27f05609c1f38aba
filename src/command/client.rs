//! CLIENT subcommands: identity, listing, killing, and per-connection switches.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::args::{self, is};
use super::table::{CommandSpec as C, ADMIN, LOADING, NOSCRIPT, STALE};
use super::{CmdError, CmdResult, Ctx, SYNTAX};
use crate::clients::{ClientHandle, ReplyMode};
use crate::server::Server;

const CONN: u32 = NOSCRIPT | LOADING | STALE;

pub static COMMANDS: &[C] = &[C::container("client", CLIENT).doc(
    "connection",
    "2.4.0",
    "",
    "A container for client connection commands.",
)];

static CLIENT: &[C] = &[
    C::new("id", 2, CONN, id).doc("connection", "5.0.0", "", "Returns the unique client ID of the connection."),
    C::new("setname", 3, CONN, setname).doc("connection", "2.6.9", "connection-name", "Sets the connection name."),
    C::new("getname", 2, CONN, getname).doc("connection", "2.6.9", "", "Returns the name of the connection."),
    C::new("list", -2, ADMIN | CONN, list).doc(
        "connection",
        "2.4.0",
        "[TYPE normal | master | replica | pubsub] [ID client-id [client-id ...]]",
        "Lists open connections.",
    ),
    C::new("info", 2, CONN, info).doc("connection", "6.2.0", "", "Returns information about the connection."),
    C::new("kill", -3, ADMIN | CONN, kill).doc(
        "connection",
        "2.4.0",
        "ip:port | [ID client-id] [TYPE normal | master | replica | pubsub] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME yes | no] [MAXAGE maxage]",
        "Terminates open connections.",
    ),
    C::new("setinfo", 4, CONN, setinfo).doc(
        "connection",
        "7.2.0",
        "LIB-NAME libname | LIB-VER libver",
        "Sets information specific to the client or connection.",
    ),
    C::new("reply", 3, CONN, reply).doc("connection", "3.2.0", "ON | OFF | SKIP", "Instructs the server whether to reply to commands."),
    C::new("no-evict", 3, ADMIN | CONN, no_evict).doc("connection", "7.0.0", "ON | OFF", "Sets the client eviction mode of the connection."),
    C::new("unblock", -3, ADMIN | CONN, unblock).doc("connection", "5.0.0", "client-id [TIMEOUT | ERROR]", "Unblocks a client blocked by a blocking command from a different connection."),
    C::new("no-touch", 3, CONN, no_touch).doc("connection", "7.2.0", "ON | OFF", "Controls whether commands sent by the client affect the LRU/LFU of accessed keys."),
    C::new("pause", -3, ADMIN | CONN, pause).doc("connection", "3.0.0", "timeout [WRITE | ALL]", "Suspends commands processing."),
    C::new("unpause", 2, ADMIN | CONN, unpause).doc("connection", "6.2.0", "", "Resumes processing commands from paused clients."),
    C::new("tracking", -3, CONN, super::tracking::client_tracking).doc("connection", "6.0.0", "<ON | OFF> [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]", "Controls server-assisted client-side caching for the connection."),
    C::new("caching", 3, CONN, super::tracking::client_caching).doc("connection", "6.0.0", "YES | NO", "Instructs the server whether to track the keys in the next request."),
    C::new("getredir", 2, CONN, super::tracking::client_getredir).doc("connection", "6.0.0", "", "Returns the client ID to which the connection's tracking notifications are redirected."),
    C::new("trackinginfo", 2, CONN, super::tracking::client_trackinginfo).doc("connection", "6.2.0", "", "Returns information about server-assisted client-side caching for the connection."),
    C::new("help", 2, CONN, help).doc("connection", "5.0.0", "", "Returns helpful text about the different subcommands."),
];

/// Client names and library names may not contain spaces or control characters.
pub fn validate_name(name: &[u8]) -> CmdResult {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::new(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

fn id(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.client.handle.id as i64);
    Ok(())
}

fn setname(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    validate_name(argv[2])?;
    *ctx.client.handle.name.lock() = argv[2].to_vec();
    ctx.out.ok();
    Ok(())
}

fn getname(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let name = ctx.client.handle.name.lock().clone();
    if name.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(&name);
    }
    Ok(())
}

/// What only the running client knows of itself while its command runs: the input not yet
/// consumed (this command included) and the bytes of this command's arguments.
pub struct Running {
    pub qbuf: u64,
    pub argv_mem: u64,
}

impl Running {
    pub fn of(ctx: &Ctx, argv: &[&[u8]]) -> Running {
        Running {
            qbuf: ctx.client.pending_input as u64,
            argv_mem: argv.iter().map(|a| a.len() as u64).sum(),
        }
    }
}

/// One CLIENT LIST line, with Redis 7.2's fields (`running` for the caller's own line).
pub fn describe(server: &Server, h: &ClientHandle, running: Option<&Running>, out: &mut String) {
    let mut flags = String::new();
    if h.sub_counts.iter().any(|c| c.load(Ordering::Relaxed) > 0) {
        flags.push('P');
    }
    let multi = h.multi.load(Ordering::Relaxed);
    if multi >= 0 {
        flags.push('x');
    }
    if h.blocked.load(Ordering::Relaxed) {
        flags.push('b');
    }
    if h.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if h.no_touch.load(Ordering::Relaxed) {
        flags.push('T');
    }
    if h.monitor.load(Ordering::Relaxed) {
        flags.push('O');
    }
    if h.replica.load(Ordering::Relaxed) {
        flags.push('S');
    }
    if h.master.load(Ordering::Relaxed) {
        flags.push('M');
    }
    if h.redir.load(Ordering::Relaxed) >= 0 {
        flags.push('t');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let qbuf = running.map_or_else(|| h.qbuf.load(Ordering::Relaxed), |r| r.qbuf);
    let argv_mem = running.map_or(0, |r| r.argv_mem);
    let rbs = h.rbs.load(Ordering::Relaxed);
    let last = h.last_cmd.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
         qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll=0 omem={} tot-mem={} events=r cmd={} \
         user={} redir={} resp={} lib-name={} lib-ver={}",
        h.id,
        h.addr,
        h.laddr,
        h.fd,
        String::from_utf8_lossy(&h.name.lock()),
        h.created.elapsed().as_secs(),
        h.idle_secs(),
        flags,
        h.db.load(Ordering::Relaxed),
        h.sub_counts[0].load(Ordering::Relaxed),
        h.sub_counts[1].load(Ordering::Relaxed),
        h.sub_counts[2].load(Ordering::Relaxed),
        multi,
        qbuf,
        rbs.saturating_sub(qbuf),
        argv_mem,
        h.multi_mem.load(Ordering::Relaxed),
        rbs,
        rbs,
        // Replies waiting for the socket (one buffer, so no reply list: oll is 0).
        h.obuf.load(Ordering::Relaxed),
        h.output_memory(),
        h.buffer_memory(),
        server.commands.name_of(last),
        h.user
            .lock()
            .as_ref()
            .map_or(std::borrow::Cow::Borrowed("(superuser)"), |u| String::from_utf8_lossy(&u.name)),
        h.redir.load(Ordering::Relaxed),
        h.resp.load(Ordering::Relaxed),
        String::from_utf8_lossy(&h.lib_name.lock()),
        String::from_utf8_lossy(&h.lib_ver.lock()),
    );
}

/// A client type name (CLIENT LIST TYPE, CLIENT KILL TYPE).
fn check_type(t: &[u8]) -> CmdResult {
    if ["normal", "master", "replica", "slave", "pubsub"]
        .iter()
        .any(|k| is(t, k))
    {
        Ok(())
    } else {
        Err(CmdError::owned(format!(
            "ERR Unknown client type '{}'",
            String::from_utf8_lossy(t)
        )))
    }
}

/// Whether client `h` is of type `t` (checked by `check_type`): replicas are `replica` (or
/// `slave`), subscribers `pubsub`, the rest `normal`; no client is a `master` here.
fn of_type(h: &ClientHandle, t: &[u8]) -> bool {
    let own = if h.replica.load(Ordering::Relaxed) {
        "replica"
    } else if h.master.load(Ordering::Relaxed) {
        "master"
    } else if h.sub_counts.iter().any(|c| c.load(Ordering::Relaxed) > 0) {
        "pubsub"
    } else {
        "normal"
    };
    is(t, own) || (own == "replica" && is(t, "slave"))
}

fn list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut ty: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        if is(argv[i], "TYPE") && i + 1 < argv.len() {
            let t = argv[i + 1];
            check_type(t)?;
            ty = Some(t);
            i += 2;
        } else if is(argv[i], "ID") && i + 1 < argv.len() {
            let mut v = Vec::new();
            for a in &argv[i + 1..] {
                let n = args::strict_i64(a).ok_or(CmdError::new("ERR Invalid client ID"))?;
                v.push(n.max(0) as u64);
            }
            ids = Some(v);
            break;
        } else {
            return Err(SYNTAX);
        }
    }
    let mut text = String::new();
    let running = Running::of(ctx, argv);
    for h in ctx.clients().snapshot() {
        if h.killed.load(Ordering::Relaxed) {
            continue;
        }
        if ids.as_ref().is_none_or(|v| v.contains(&h.id)) && ty.is_none_or(|t| of_type(&h, t)) {
            let own = (h.id == ctx.client.handle.id).then_some(&running);
            describe(ctx.server, &h, own, &mut text);
        }
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut text = String::new();
    let running = Running::of(ctx, argv);
    describe(ctx.server, &ctx.client.handle, Some(&running), &mut text);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn kill(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let me = ctx.client.handle.id;
    // Old form: CLIENT KILL ip:port.
    if argv.len() == 3 {
        let addr = argv[2];
        let target = ctx
            .server
            .clients
            .snapshot()
            .into_iter()
            .find(|h| h.addr.as_bytes() == addr);
        return match target {
            Some(h) => {
                kill_client(ctx, &h);
                ctx.out.ok();
                Ok(())
            }
            None => Err(CmdError::new("ERR No such client")),
        };
    }
    let (mut id, mut addr, mut laddr, mut maxage) = (None, None, None, None);
    let mut user: Option<&[u8]> = None;
    let mut ty: Option<&[u8]> = None;
    let mut skipme = true;
    let mut i = 2;
    while i < argv.len() {
        if i + 1 >= argv.len() {
            return Err(SYNTAX);
        }
        let (k, v) = (argv[i], argv[i + 1]);
        if is(k, "ID") {
            id = Some(
                args::strict_i64(v)
                    .filter(|n| *n > 0)
                    .ok_or(CmdError::new("ERR client-id should be greater than 0"))?
                    as u64,
            );
        } else if is(k, "ADDR") {
            addr = Some(v);
        } else if is(k, "LADDR") {
            laddr = Some(v);
        } else if is(k, "USER") {
            if ctx.server.acl.get(v).is_none() {
                return Err(CmdError::owned(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(v)
                )));
            }
            user = Some(v);
        } else if is(k, "TYPE") {
            check_type(v)?;
            ty = Some(v);
        } else if is(k, "SKIPME") {
            skipme = if is(v, "yes") {
                true
            } else if is(v, "no") {
                false
            } else {
                return Err(SYNTAX);
            };
        } else if is(k, "MAXAGE") {
            maxage = Some(args::int(v)?);
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    let mut killed = 0;
    for h in ctx.clients().snapshot() {
        let matches = id.is_none_or(|x| x == h.id)
            && addr.is_none_or(|a| a == h.addr.as_bytes())
            && laddr.is_none_or(|a| a == h.laddr.as_bytes())
            && user.is_none_or(|u| h.user.lock().as_ref().is_some_and(|x| x.name == u))
            && ty.is_none_or(|t| of_type(&h, t))
            && maxage.is_none_or(|m| h.created.elapsed().as_secs() as i64 >= m)
            && !(skipme && h.id == me)
            && !h.killed.load(Ordering::Relaxed);
        if matches {
            kill_client(ctx, &h);
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

/// Closes a client: the caller's own connection closes after this reply; others at once.
/// Closes client `h`: at once, or after this reply if it is the caller.
pub(crate) fn kill_client(ctx: &mut Ctx, h: &ClientHandle) {
    if h.id == ctx.client.handle.id {
        ctx.client.close_after_reply = true;
    } else {
        h.request_kill();
    }
}

fn setinfo(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (attr, value) = (argv[2], argv[3]);
    let slot = if is(attr, "LIB-NAME") {
        &ctx.client.handle.lib_name
    } else if is(attr, "LIB-VER") {
        &ctx.client.handle.lib_ver
    } else {
        return Err(CmdError::owned(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        )));
    };
    if value.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::owned(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr)
        )));
    }
    *slot.lock() = value.to_vec();
    ctx.out.ok();
    Ok(())
}

fn reply(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mode = if is(argv[2], "ON") {
        ReplyMode::On
    } else if is(argv[2], "OFF") {
        ReplyMode::Off
    } else if is(argv[2], "SKIP") {
        ReplyMode::SkipNext
    } else {
        return Err(SYNTAX);
    };
    // SKIP while replies are OFF changes nothing, as in Redis.
    if !(mode == ReplyMode::SkipNext && ctx.client.reply_mode == ReplyMode::Off) {
        ctx.client.reply_mode = mode;
    }
    if mode == ReplyMode::On {
        ctx.out.ok();
    }
    Ok(())
}

fn on_off(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "ON") {
        Ok(true)
    } else if is(arg, "OFF") {
        Ok(false)
    } else {
        Err(SYNTAX)
    }
}

fn no_evict(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let v = on_off(argv[2])?;
    ctx.client.handle.no_evict.store(v, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn unblock(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let id = args::int(argv[2])?;
    let error = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && is(a, "TIMEOUT") => false,
        Some(a) if argv.len() == 4 && is(a, "ERROR") => true,
        Some(_) => {
            return Err(CmdError::new(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let done = u64::try_from(id).is_ok_and(|id| ctx.clients().blocking.unblock(id, error));
    ctx.out.int(done as i64);
    Ok(())
}

fn pause(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let ms = args::strict_i64(argv[2]).ok_or(CmdError::new(
        "ERR timeout is not an integer or out of range",
    ))?;
    if ms < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    if argv.len() > 4 {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(argv[1])
        )));
    }
    let all = match argv.get(3) {
        None => true,
        Some(m) if m.eq_ignore_ascii_case(b"all") => true,
        Some(m) if m.eq_ignore_ascii_case(b"write") => false,
        Some(_) => return Err(CmdError::new("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let until = crate::engine::now_ms().saturating_add(ms as u64);
    ctx.server.pause.start(until, all);
    ctx.out.ok();
    Ok(())
}

fn unpause(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.pause.end();
    ctx.out.ok();
    Ok(())
}

fn no_touch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let v = on_off(argv[2])?;
    ctx.client.handle.no_touch.store(v, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::server::help(
        ctx,
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options: ID, TYPE, USER, ADDR, LADDR, SKIPME, MAXAGE.",
            "LIST [options ...]",
            "    Return information about client connections. Options: TYPE, ID.",
            "NO-EVICT (ON|OFF)",
            "    Protect the current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
        ],
    );
    Ok(())
}
