//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT: Lua scripts (`crate::scripting`). A script
//! runs with no other client's command in between (the gate held exclusively, as EXEC holds
//! it), its `redis.call`s go through the dispatcher as this client inside a transaction, so
//! their effects reach the journal as one MULTI/EXEC block.

use super::keyspec::{numkeys_at_2, KeySpec as K, ACCESS, RO, RW, UPDATE};
use super::table::{
    CommandSpec as C, ALLOW_BUSY, EXCLUSIVE, MAY_REPLICATE, NOSCRIPT, NO_MANDATORY_KEYS, READONLY,
    SKIP_MONITOR, STALE,
};
use super::{args, CmdError, CmdResult, Ctx};
use crate::protocol::Reply;
use crate::scripting::{flags, Running, ScriptError};
use std::sync::Arc;

const EVAL: u32 = NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | NO_MANDATORY_KEYS | STALE | EXCLUSIVE;
const EVAL_RO: u32 = NOSCRIPT | SKIP_MONITOR | NO_MANDATORY_KEYS | STALE | READONLY | EXCLUSIVE;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("eval", -3, EVAL, eval).keys(&[K::numkeys(2, RW | ACCESS | UPDATE)]).getkeys(numkeys_at_2)
        .doc("scripting", "2.6.0", "script numkeys [key [key ...]] [arg [arg ...]]", "Executes a server-side Lua script."),
    C::new("evalsha", -3, EVAL, evalsha).keys(&[K::numkeys(2, RW | ACCESS | UPDATE)]).getkeys(numkeys_at_2)
        .doc("scripting", "2.6.0", "sha1 numkeys [key [key ...]] [arg [arg ...]]", "Executes a server-side Lua script by SHA1 digest."),
    C::new("eval_ro", -3, EVAL_RO, eval_ro).keys(&[K::numkeys(2, RO | ACCESS)]).getkeys(numkeys_at_2)
        .doc("scripting", "7.0.0", "script numkeys [key [key ...]] [arg [arg ...]]", "Executes a read-only server-side Lua script."),
    C::new("evalsha_ro", -3, EVAL_RO, evalsha_ro).keys(&[K::numkeys(2, RO | ACCESS)]).getkeys(numkeys_at_2)
        .doc("scripting", "7.0.0", "sha1 numkeys [key [key ...]] [arg [arg ...]]", "Executes a read-only server-side Lua script by SHA1 digest."),
    C::container("script", SCRIPT).doc("scripting", "2.6.0", "", "A container for Lua scripts management commands."),
];

static SCRIPT: &[C] = &[
    C::new("load", 3, NOSCRIPT | STALE, script_load).doc(
        "scripting",
        "2.6.0",
        "script",
        "Loads a server-side Lua script to the script cache.",
    ),
    C::new("exists", -3, NOSCRIPT | STALE, script_exists).doc(
        "scripting",
        "2.6.0",
        "sha1 [sha1 ...]",
        "Determines whether server-side Lua scripts exist in the script cache.",
    ),
    C::new("kill", 2, NOSCRIPT | ALLOW_BUSY, script_kill).doc(
        "scripting",
        "2.6.0",
        "",
        "Terminates a server-side Lua script during execution.",
    ),
    C::new("flush", -2, NOSCRIPT, script_flush).doc(
        "scripting",
        "2.6.0",
        "[ASYNC | SYNC]",
        "Removes all server-side Lua scripts from the script cache.",
    ),
];

fn eval(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_body(ctx, argv, false)
}

fn eval_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_body(ctx, argv, true)
}

fn evalsha(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_sha(ctx, argv, false)
}

fn evalsha_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_sha(ctx, argv, true)
}

/// EVAL / EVAL_RO: the script given whole (loaded into the cache as SCRIPT LOAD would).
fn eval_body(ctx: &mut Ctx, argv: &[&[u8]], read_only: bool) -> CmdResult {
    let keys = key_count(argv)?;
    let sha = ctx
        .server
        .scripting
        .load(argv[1])
        .map_err(CmdError::owned)?;
    run(ctx, &sha, keys, argv, read_only)
}

/// EVALSHA / EVALSHA_RO: a script already in the cache.
fn eval_sha(ctx: &mut Ctx, argv: &[&[u8]], read_only: bool) -> CmdResult {
    let keys = key_count(argv)?;
    // Lower-cased on the stack: EVALSHA is the hot path of most script users.
    let mut buf = [0u8; 40];
    if argv[1].len() != 40 {
        return Err(CmdError::new(
            "NOSCRIPT No matching script. Please use EVAL.",
        ));
    }
    for (b, c) in buf.iter_mut().zip(argv[1]) {
        *b = c.to_ascii_lowercase();
    }
    let sha = std::str::from_utf8(&buf).unwrap_or("");
    if !ctx.server.scripting.exists(sha) {
        return Err(CmdError::new(
            "NOSCRIPT No matching script. Please use EVAL.",
        ));
    }
    run(ctx, sha, keys, argv, read_only)
}

/// `numkeys`, checked against the arguments there are.
pub(super) fn key_count(argv: &[&[u8]]) -> Result<usize, CmdError> {
    let n = args::int(argv[2])?;
    if n < 0 {
        return Err(CmdError::new("ERR Number of keys can't be negative"));
    }
    if n as usize > argv.len() - 3 {
        return Err(CmdError::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok(n as usize)
}

/// With several I/O threads, the gate held exclusively until the script returns, so that no
/// other client runs anything meanwhile (inside EXEC, the transaction holds it already). Taken
/// before any scripting lock: FUNCTION LOAD holds the gate (shared) and then the libraries'.
pub(super) fn exclusive<'s>(ctx: &Ctx<'s>) -> Result<super::Exclusive<'s>, CmdError> {
    if ctx.client.in_exec {
        return Ok(None);
    }
    super::exclusive(ctx)
}

fn run(ctx: &mut Ctx, sha: &str, keys: usize, argv: &[&[u8]], read_only: bool) -> CmdResult {
    let _exclusive = exclusive(ctx)?;
    let flags = ctx
        .server
        .scripting
        .flags_of(sha)
        .unwrap_or(flags::EVAL_COMPAT);
    flags::check(ctx, flags, read_only).map_err(CmdError::owned)?;
    let read_only = read_only || (flags & flags::EVAL_COMPAT == 0 && flags & flags::NO_WRITES != 0);
    let server = ctx.server;
    invoke(ctx, true, flags, keys, argv, |ctx, running, keys, args| {
        server.scripting.with_lua(|lua| {
            let target = crate::scripting::Target::Script { sha };
            crate::scripting::run(lua, ctx, running, target, keys, args, read_only)
        })
    })
}

/// Ends the running script however its body ends (a handler's panic included), so that other
/// clients are not left busy, nor TLS transports reading the socket directly.
struct Ending<'a>(&'a crate::server::Server);

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        self.0.scripting.end();
        crate::server::while_busy::finish();
    }
}

/// Runs a script or function as this client, `keys` of `argv[3..]` its keys: nothing else
/// runs meanwhile (the caller holds `exclusive`), its calls run as in a transaction, and it
/// is the running script SCRIPT KILL and FUNCTION STATS see.
pub(super) fn invoke(
    ctx: &mut Ctx,
    eval: bool,
    flags: u32,
    keys: usize,
    argv: &[&[u8]],
    body: impl FnOnce(&mut Ctx, &Arc<Running>, &[&[u8]], &[&[u8]]) -> Result<Reply, ScriptError>,
) -> CmdResult {
    let was_in_exec = std::mem::replace(&mut ctx.client.in_exec, true);
    let was_in_script = std::mem::replace(&mut ctx.client.in_script, true);
    // A SELECT inside the script is the script's own.
    let db = ctx.client.db;
    let (keys, args) = argv[3..].split_at(keys);
    let server = ctx.server;
    let command = crate::scripting::Command::new(argv);
    let deny_oom = flags & (flags::ALLOW_OOM | flags::NO_WRITES) == 0
        && !ctx.client.master
        && server.config.maxmemory.u() > 0
        && super::out_of_memory(ctx);
    let running = server.scripting.begin(eval, command, deny_oom);
    let ending = Ending(server);
    let result = body(ctx, &running, keys, args);
    drop(ending);
    ctx.client.in_exec = was_in_exec;
    ctx.client.in_script = was_in_script;
    ctx.client.db = db;
    let reply = result.map_err(|e| {
        // Counted once: when the command that failed replied.
        ctx.client.error_counted = e.counted;
        CmdError::owned(e.msg)
    })?;
    ctx.out.raw(&reply.buf);
    Ok(())
}

fn script_load(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sha = ctx
        .server
        .scripting
        .load(argv[2])
        .map_err(CmdError::owned)?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.out.array(argv.len() - 2);
    for a in &argv[2..] {
        let known = ctx
            .server
            .scripting
            .exists(&String::from_utf8_lossy(a).to_ascii_lowercase());
        ctx.out.int(known as i64);
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match argv.get(2) {
        None => {}
        Some(m) if m.eq_ignore_ascii_case(b"async") || m.eq_ignore_ascii_case(b"sync") => {}
        Some(_) => {
            return Err(CmdError::new(
                "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
            ))
        }
    }
    if argv.len() > 3 {
        return Err(CmdError::new(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    ctx.server.scripting.flush();
    ctx.out.ok();
    Ok(())
}

fn script_kill(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.scripting.kill(true).map_err(CmdError::new)?;
    ctx.out.ok();
    Ok(())
}
