//! DEBUG: test hooks (behind `enable-debug-command`), as Redis's test suite uses them.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::args::{self, is};
use super::table::{CommandSpec as C, ADMIN, EXCLUSIVE, LOADING, NOSCRIPT, STALE};
use super::{CmdError, CmdResult, Ctx, NO_KEY};

pub static COMMANDS: &[C] = &[C::new(
    "debug",
    -2,
    ADMIN | NOSCRIPT | LOADING | STALE | EXCLUSIVE,
    debug,
)
.doc(
    "server",
    "1.0.0",
    "subcommand [argument ...]",
    "A container for debugging commands.",
)];

fn allowed(ctx: &Ctx) -> bool {
    match ctx.server.config.enable_debug_command.get().as_str() {
        "yes" => true,
        "local" => {
            ctx.client.handle.addr.starts_with("127.")
                || ctx.client.handle.addr.starts_with("[::1]")
        }
        _ => false,
    }
}

/// EXCLUSIVE in the table (dispatch leaves the gate to it): RELOAD and LOADAOF hold the gate
/// exclusively, every other subcommand holds it shared, as any command does.
fn debug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let whole = is(argv[1], "RELOAD") || is(argv[1], "LOADAOF");
    let _shared = match &server.gate {
        Some(g) if !whole && !ctx.client.in_exec => Some(
            g.enter_unless(|| server.scripting.busy())
                .ok_or_else(|| CmdError::new(server.scripting.busy_error()))?,
        ),
        _ => None,
    };
    subcommand(ctx, argv)
}

fn subcommand(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if !allowed(ctx) {
        return Err(CmdError::new(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        ));
    }
    let sub = argv[1];
    let n = argv.len();
    if is(sub, "SLEEP") && n == 3 {
        let secs = args::float(argv[2]).unwrap_or(0.0).max(0.0);
        let d = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
        ctx.client.sleep = Some(d);
        // The connection sleeps after the command (without stalling the server), but the
        // command's duration includes it, as in Redis: commandstats, SLOWLOG and LATENCY see it.
        ctx.started = ctx
            .started
            .saturating_sub(d.as_micros().min(u64::MAX as u128) as u64);
        ctx.out.ok();
    } else if is(sub, "SET-DISABLE-DENY-SCRIPTS") && n == 3 {
        // Lets scripts call commands flagged noscript (the test suite's hook).
        let on = args::int(argv[2]).unwrap_or(0) != 0;
        ctx.server
            .scripting
            .allow_noscript
            .store(on, Ordering::Relaxed);
        ctx.out.ok();
    } else if is(sub, "POPULATE") && (3..=5).contains(&n) {
        populate(ctx, &argv[2..])?;
        ctx.out.ok();
    } else if is(sub, "RELOAD") {
        reload(ctx, &argv[2..])?;
        ctx.out.ok();
    } else if is(sub, "LOADAOF") && n == 2 {
        load_aof(ctx)?;
        ctx.out.ok();
    } else if is(sub, "AOF-FLUSH-SLEEP") && n == 3 {
        let us = args::int(argv[2])?.max(0) as u64;
        crate::persistence::aof::FLUSH_SLEEP_US.store(us, Ordering::Relaxed);
        ctx.out.ok();
    } else if is(sub, "PAUSE-CRON") && n == 3 {
        ctx.server
            .cron_paused
            .store(argv[2] != b"0", Ordering::Relaxed);
        ctx.out.ok();
    } else if is(sub, "SET-ACTIVE-EXPIRE") && n == 3 {
        ctx.server
            .active_expire
            .store(argv[2] != b"0", Ordering::Relaxed);
        ctx.out.ok();
    } else if is(sub, "OBJECT") && n == 3 {
        // As Redis looks it up: a key past its TTL but not yet reclaimed is still there.
        let shard = ctx.db().lock_key(argv[2]);
        let e = shard.peek(argv[2]).ok_or(NO_KEY)?;
        let idle = crate::engine::lru_clock().wrapping_sub(e.access);
        let line = format!(
            "Value at:0x{:x} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
            e as *const _ as usize,
            e.value.encoding(),
            match &e.value {
                crate::engine::Value::Str(s) => s.len(),
                other => other.mem_usage(),
            },
            e.access & 0xFF_FFFF,
            idle
        );
        drop(shard);
        ctx.out.simple(&line);
    } else if is(sub, "DIGEST") && n == 2 {
        let d = crate::engine::digest::dataset(&ctx.server.keyspace);
        ctx.out.simple(&crate::engine::digest::hex(&d));
    } else if is(sub, "DIGEST-VALUE") && n >= 2 {
        ctx.out.array(n - 2);
        for key in &argv[2..] {
            let mut shard = ctx.db().lock_key(key);
            let d = shard
                .get_mut(key, ctx.now)
                .map(|e| crate::engine::digest::value(&e.value))
                .unwrap_or([0; 20]);
            drop(shard);
            ctx.out.simple(&crate::engine::digest::hex(&d));
        }
    } else if is(sub, "PROTOCOL") && n == 3 {
        protocol(ctx, argv[2])?;
    } else if is(sub, "LOG") && n == 3 {
        tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(argv[2]));
        ctx.out.ok();
    } else if is(sub, "STRINGMATCH-LEN") && n == 4 {
        // Exercises the glob matcher on a long subject (a regression hook in Redis's tests).
        let m = crate::engine::glob::matches(argv[2], argv[3], false);
        ctx.out.int(m as i64);
    } else if is(sub, "QUICKLIST-PACKED-THRESHOLD") && n == 3 {
        // Redis stores list elements above this size in nodes of their own; our lists have
        // no nodes, so any valid size is accepted and changes nothing.
        if std::str::from_utf8(argv[2])
            .ok()
            .and_then(crate::config::params::parse_memory)
            .is_none()
        {
            return Err(CmdError::new("ERR argument must be a memory value"));
        }
        ctx.out.ok();
    } else if is(sub, "CHANGE-REPL-ID") && n == 2 {
        ctx.out.ok();
    } else if is(sub, "HELP") {
        super::server::help(
            ctx,
            "DEBUG",
            &[
                "AOF-FLUSH-SLEEP <microsec>",
                "    Sleep before each write of the AOF (for tests).",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "LOG <message>",
                "    Write <message> to the server log.",
                "OBJECT <key>",
                "    Show low level info about the key and associated value.",
                "PAUSE-CRON <0|1>",
                "    Stop periodic cron job processing.",
                "PROTOCOL <type>",
                "    Reply with a test value of the specified type.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
    } else {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

/// DEBUG PROTOCOL: one reply of each RESP type, so clients and tests can check their parsers.
fn protocol(ctx: &mut Ctx, name: &[u8]) -> CmdResult {
    let out = &mut *ctx.out;
    if is(name, "string") {
        out.bulk(b"Hello World");
    } else if is(name, "integer") {
        out.int(12345);
    } else if is(name, "double") {
        #[allow(clippy::approx_constant)] // the value Redis's DEBUG PROTOCOL sends
        out.double(3.141);
    } else if is(name, "bignum") {
        let n = b"1234567999999999999999999999999999999";
        if out.resp3 {
            out.raw(b"(");
            out.raw(n);
            out.raw(b"\r\n");
        } else {
            out.bulk(n);
        }
    } else if is(name, "null") {
        out.null();
    } else if is(name, "array") {
        out.array(3);
        (0..3).for_each(|j| out.int(j));
    } else if is(name, "set") {
        out.set(3);
        (0..3).for_each(|j| out.int(j));
    } else if is(name, "map") {
        out.map(3);
        for j in 0..3 {
            out.int(j);
            out.boolean(j == 1);
        }
    } else if is(name, "attrib") {
        if out.resp3 {
            out.raw(b"|1\r\n");
            out.bulk(b"key-popularity");
            out.array(2);
            out.bulk(b"key:123");
            out.int(90);
        }
        out.bulk(b"Some real reply following the attribute");
    } else if is(name, "push") {
        if !out.resp3 {
            return Err(CmdError::new("ERR RESP2 is not supported by this command"));
        }
        out.push(2);
        out.bulk(b"server-cpu-usage");
        out.int(42);
        out.bulk(b"Some real reply following the push reply");
    } else if is(name, "true") {
        out.boolean(true);
    } else if is(name, "false") {
        out.boolean(false);
    } else if is(name, "verbatim") {
        out.verbatim(b"This is a verbatim\nstring");
    } else {
        return Err(CmdError::new(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ));
    }
    Ok(())
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: saves the snapshot, empties the keyspace and loads
/// the snapshot back, a round trip through the RDB format.
/// DEBUG LOADAOF: what is pending goes to the AOF, then the dataset is emptied and loaded
/// from the AOF directory (nothing of the load is journaled again).
fn load_aof(ctx: &mut Ctx) -> Result<(), CmdError> {
    let _still = super::exclusive(ctx)?;
    crate::persistence::aof::flush_all(ctx.server);
    super::server::empty_all(ctx);
    crate::engine::effects::take_command();
    match crate::persistence::aof::load(ctx.server, ctx.now) {
        Ok(_) => {
            ctx.server.stats.dirty.reset();
            tracing::warn!("Append Only File loaded by DEBUG LOADAOF");
            Ok(())
        }
        Err(e) => {
            tracing::error!("{e}");
            Err(CmdError::owned(format!("ERR {e}")))
        }
    }
}

fn reload(ctx: &mut Ctx, opts: &[&[u8]]) -> Result<(), CmdError> {
    let (mut flush, mut save, mut merge) = (true, true, false);
    for o in opts {
        if is(o, "NOFLUSH") {
            flush = false;
        } else if is(o, "NOSAVE") {
            save = false;
        } else if is(o, "MERGE") {
            merge = true;
        } else {
            return Err(CmdError::new(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    let _still = super::exclusive(ctx)?;
    if save {
        crate::persistence::snapshot::save(ctx.server, ctx.now)
            .map_err(|e| CmdError::owned(format!("ERR {e}")))?;
    }
    if flush {
        super::server::empty_all(ctx);
        // Emptied to be reloaded: not a change to count or journal (its consequences for
        // WATCH, tracking and blocked clients still follow).
        crate::engine::effects::take_command();
    }
    use crate::scripting::Restore;
    let functions = match (flush, merge) {
        (true, _) => Restore::Flush,
        (false, true) => Restore::Replace,
        (false, false) => Restore::Append,
    };
    match crate::persistence::snapshot::load_with_functions(ctx.server, ctx.now, functions) {
        Ok(Some(_)) => {
            tracing::warn!("DB reloaded by DEBUG RELOAD");
            Ok(())
        }
        Ok(None) | Err(_) => Err(CmdError::new("ERR Error trying to load the RDB dump")),
    }
}

/// DEBUG POPULATE count [prefix] [size]: keys `prefix:N` holding `value:N` (cut or padded
/// with zero bytes to `size`), skipping keys that exist, as Redis makes them for tests and
/// memory measurements.
fn populate(ctx: &mut Ctx, opts: &[&[u8]]) -> Result<(), CmdError> {
    let count = args::non_negative(opts[0], None)?;
    let prefix = opts.get(1).copied().unwrap_or(b"key");
    let size = match opts.get(2) {
        Some(s) => Some(args::non_negative(s, None)? as usize),
        None => None,
    };
    let db = ctx.db();
    let mut key = Vec::new();
    let mut value = Vec::new();
    for j in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(itoa::Buffer::new().format(j).as_bytes());
        let mut shard = db.lock_key(&key);
        if shard.peek(&key).is_some() {
            continue;
        }
        value.clear();
        value.extend_from_slice(b"value:");
        value.extend_from_slice(itoa::Buffer::new().format(j).as_bytes());
        if let Some(s) = size {
            value.resize(s, 0);
        }
        let v = crate::engine::Value::Str(crate::engine::Str::from_bytes(&value));
        shard.insert(&key, crate::engine::Entry::new(v));
    }
    Ok(())
}
