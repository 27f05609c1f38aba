//! Server commands: INFO, CONFIG, TIME, DBSIZE, FLUSHDB/FLUSHALL, SWAPDB, SHUTDOWN, FUNCTION.

use super::args::is;
use super::keyspec::{KeySpec as K, RO};
use super::table::{
    CommandSpec as C, ADMIN, ALLOW_BUSY, EXCLUSIVE, FAST, LOADING, NOSCRIPT, NO_MULTI, READONLY,
    STALE, WRITE,
};
use super::{CmdError, CmdResult, Ctx, SYNTAX};

pub static COMMANDS: &[C] = &[
    C::new("info", -1, LOADING | STALE, info).doc(
        "server",
        "1.0.0",
        "[section [section ...]]",
        "Returns information and statistics about the server.",
    ),
    C::container("config", CONFIG).doc(
        "server",
        "2.0.0",
        "",
        "A container for server configuration commands.",
    ),
    C::new("time", 1, LOADING | STALE | FAST, time).doc(
        "server",
        "2.6.0",
        "",
        "Returns the server time.",
    ),
    C::new("dbsize", 1, READONLY | FAST, dbsize).doc(
        "server",
        "1.0.0",
        "",
        "Returns the number of keys in the database.",
    ),
    C::new("flushdb", -1, WRITE, flushdb).doc(
        "server",
        "1.0.0",
        "[ASYNC | SYNC]",
        "Removes all keys from the current database.",
    ),
    C::new("flushall", -1, WRITE, flushall).doc(
        "server",
        "1.0.0",
        "[ASYNC | SYNC]",
        "Removes all keys from all databases.",
    ),
    C::new("swapdb", 3, WRITE | FAST, swapdb).doc(
        "server",
        "4.0.0",
        "index1 index2",
        "Swaps two Redis databases.",
    ),
    C::new(
        "shutdown",
        -1,
        // (EXCLUSIVE: it takes the gate itself, for its last step.)
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY | EXCLUSIVE,
        shutdown,
    )
    .doc(
        "server",
        "1.0.0",
        "[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
    ),
    C::container("memory", MEMORY).doc(
        "server",
        "4.0.0",
        "",
        "A container for memory diagnostics commands.",
    ),
];

static CONFIG: &[C] = &[
    C::new("get", -3, ADMIN | NOSCRIPT | LOADING | STALE, config_get).doc(
        "server",
        "2.0.0",
        "parameter [parameter ...]",
        "Returns the effective values of configuration parameters.",
    ),
    C::new("set", -4, ADMIN | NOSCRIPT | LOADING | STALE, config_set).doc(
        "server",
        "2.0.0",
        "parameter value [parameter value ...]",
        "Sets configuration parameters in-flight.",
    ),
    C::new(
        "resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        config_resetstat,
    )
    .doc("server", "2.0.0", "", "Resets the server's statistics."),
    C::new(
        "rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        config_rewrite,
    )
    .doc(
        "server",
        "2.8.0",
        "",
        "Persists the effective configuration to file.",
    ),
    C::new("help", 2, LOADING | STALE, config_help).doc(
        "server",
        "5.0.0",
        "",
        "Returns helpful text about the different subcommands.",
    ),
];

#[rustfmt::skip]
static MEMORY: &[C] = &[
    C::new("usage", -3, READONLY, memory_usage).keys(&[K::at(2, RO)])
        .doc("server", "4.0.0", "key [SAMPLES count]", "Estimates the memory usage of a key."),
    C::new("help", 2, LOADING | STALE, memory_help)
        .doc("server", "4.0.0", "", "Returns helpful text about the different subcommands."),
    C::new("stats", 2, 0, memory_stats)
        .doc("server", "4.0.0", "", "Returns details about memory usage."),
    C::new("doctor", 2, 0, memory_doctor)
        .doc("server", "4.0.0", "", "Outputs a memory problems report."),
    C::new("purge", 2, 0, memory_purge)
        .doc("server", "4.0.0", "", "Asks the allocator to release memory."),
    C::new("malloc-stats", 2, 0, memory_malloc_stats)
        .doc("server", "4.0.0", "", "Returns the allocator statistics."),
];

/// Replies with a HELP text in Redis's layout: a header, the lines, and the HELP entry.
pub fn help(ctx: &mut Ctx, cmd: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Print this help.");
}

fn info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sections: Vec<String> = argv[1..]
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let text = crate::report::info::render(ctx.server, &sections);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn config_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found = ctx.server.config.matching(&argv[2..]);
    ctx.out.map(found.len());
    for (name, value) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() % 2 != 0 {
        return Err(CmdError::new(
            "ERR wrong number of arguments for 'config|set' command",
        ));
    }
    let owned: Vec<(String, String)> = argv[2..]
        .chunks(2)
        .map(|kv| {
            (
                String::from_utf8_lossy(kv[0]).into_owned(),
                String::from_utf8_lossy(kv[1]).into_owned(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    ctx.server
        .config
        .set_many(&pairs)
        .map_err(|e| CmdError::owned(format!("ERR {e}")))?;
    ctx.server.config_changed(&pairs);
    // A limit below what is used evicts at once, as Redis does, not at the next write.
    if pairs
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("maxmemory"))
    {
        super::out_of_memory(ctx);
    }
    ctx.out.ok();
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.reset_stats();
    ctx.out.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.server
        .config
        .rewrite()
        .map_err(|e| CmdError::owned(format!("ERR {e}")))?;
    ctx.out.ok();
    Ok(())
}

fn config_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

/// Bytes an entry costs beyond its key and value (map slot, expire time, access clock).
const ENTRY_OVERHEAD: usize = 56;

fn memory_usage(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        3 => {}
        5 if is(argv[3], "SAMPLES") => {
            super::args::int(argv[4])?;
        }
        _ => return Err(SYNTAX),
    }
    let key = argv[2];
    let mut shard = ctx.db().lock_key(key);
    let usage = shard
        .get_mut(key, ctx.now)
        .map(|e| key.len() + ENTRY_OVERHEAD + e.value.mem_usage());
    drop(shard);
    match usage {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn memory_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value.",
        ],
    );
    Ok(())
}

fn time(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk_int(now.as_secs() as i64);
    ctx.out.bulk_int(now.subsec_micros() as i64);
    Ok(())
}

fn dbsize(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
    Ok(())
}

/// Checks the optional ASYNC | SYNC argument of FLUSHDB / FLUSHALL / FUNCTION FLUSH.
fn flush_mode(argv: &[&[u8]], at: usize) -> CmdResult {
    match argv.get(at) {
        None => Ok(()),
        Some(a) if argv.len() == at + 1 && (is(a, "ASYNC") || is(a, "SYNC")) => Ok(()),
        Some(_) => Err(SYNTAX),
    }
}

fn flushdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    flush_mode(argv, 1)?;
    let db = ctx.client.db;
    empty_db(ctx, db);
    // Journaled even when there was nothing to remove, as Redis does.
    ctx.record(argv);
    ctx.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    flush_mode(argv, 1)?;
    // As Redis: a background save stops, and with save points set the (empty) dataset is
    // saved at once, so that a restart does not bring the flushed keys back.
    crate::persistence::snapshot::stop_background(ctx.server);
    empty_all(ctx);
    if !crate::persistence::snapshot::save_points(ctx.server).is_empty() {
        let _ = crate::persistence::snapshot::save(ctx.server, ctx.now);
    }
    ctx.record(argv);
    ctx.out.ok();
    Ok(())
}

/// Empties every database (FLUSHALL, DEBUG RELOAD).
pub fn empty_all(ctx: &Ctx) {
    for db in 0..ctx.server.keyspace.len() {
        empty_db(ctx, db);
    }
}

/// Empties database `db`; each key removed counts as a change.
fn empty_db(ctx: &Ctx, db: usize) {
    let removed = ctx.server.keyspace.db(db).clear();
    crate::engine::effects::db(db, true);
    ctx.dirty(removed as u64);
}

fn swapdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let parse = |a: &[u8], which: &'static str| {
        super::args::strict_i64(a)
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or(CmdError::new(which))
    };
    let a = parse(argv[1], "ERR invalid first DB index")?;
    let b = parse(argv[2], "ERR invalid second DB index")?;
    let n = ctx.server.keyspace.len() as i64;
    if a < 0 || b < 0 || a >= n || b >= n {
        return Err(super::DB_INDEX);
    }
    let (a, b) = (a as usize, b as usize);
    if a != b {
        ctx.server.keyspace.swap_dbs(a, b);
        crate::engine::effects::db(a, false);
        crate::engine::effects::db(b, false);
    }
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

fn shutdown(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut abort, mut now, mut flags) = (false, false, crate::persistence::Shutdown::default());
    for a in &argv[1..] {
        if is(a, "ABORT") {
            abort = true;
        } else if is(a, "SAVE") {
            flags.save = true;
        } else if is(a, "NOSAVE") {
            flags.nosave = true;
        } else if is(a, "FORCE") {
            flags.force = true;
        } else if is(a, "NOW") {
            now = true;
        } else {
            return Err(SYNTAX);
        }
    }
    if (abort && argv.len() > 2) || (flags.save && flags.nosave) {
        return Err(SYNTAX);
    }
    let server = ctx.server;
    if abort {
        // A shutdown waiting for replicas, or one a signal asked for and the cron has not
        // begun.
        let asap = server
            .shutdown_asap
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        if !crate::server::shutdown::cancel(server) && !asap {
            return Err(CmdError::new("ERR No shutdown in progress."));
        }
        tracing::warn!("Shutdown manually aborted.");
        ctx.out.ok();
        return Ok(());
    }
    // While a script is busy only SHUTDOWN NOSAVE ends the server, and at once.
    let busy = server.scripting.busy();
    if busy && !flags.nosave {
        return Err(CmdError::new(server.scripting.busy_error()));
    }
    tracing::warn!("User requested shutdown...");
    if !busy && crate::server::shutdown::must_wait(server, now) && !ctx.client.in_exec {
        // The connection waits for the replicas (writes paused), then shuts down.
        ctx.client.shutdown = Some(flags);
        return Ok(());
    }
    // (A busy script holds the gate, and is not waited for.)
    let _still = match &server.gate {
        Some(g) if !busy => Some(g.exclusive()),
        _ => None,
    };
    if !crate::server::shutdown::finish(server, flags) {
        return Err(CmdError::new("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    ctx.client.close_after_reply = true;
    Ok(())
}

fn memory_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let v = ctx.server.memory_breakdown();
    let (m, overhead, dataset) = (v.m, v.overhead, v.dataset);
    let keys: u64 = ctx
        .server
        .keyspace
        .dbs()
        .iter()
        .map(|d| d.len() as u64)
        .sum();
    let ratio = crate::metrics::memory::ratio;
    let ints: [(&str, u64); 13] = [
        ("peak.allocated", m.peak),
        ("total.allocated", m.allocated),
        ("startup.allocated", v.startup),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", v.clients),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
        ("overhead.total", overhead),
        ("keys.count", keys),
        ("keys.bytes-per-key", dataset.checked_div(keys).unwrap_or(0)),
    ];
    let out = &mut *ctx.out;
    out.map(ints.len() + 14);
    for (name, n) in ints {
        out.bulk(name.as_bytes());
        out.int(n as i64);
    }
    // (name, numerator, denominator): a ratio and the difference in bytes.
    let pairs = [
        ("allocator-fragmentation", m.active, m.allocated),
        ("allocator-rss", m.resident, m.active),
        ("rss-overhead", m.rss, m.resident),
        ("fragmentation", m.rss, m.allocated),
    ];
    out.bulk(b"dataset.bytes");
    out.int(dataset as i64);
    out.bulk(b"dataset.percentage");
    out.double(ratio(dataset, m.allocated.saturating_sub(v.startup)) * 100.0);
    out.bulk(b"peak.percentage");
    out.double(ratio(m.allocated, m.peak) * 100.0);
    out.bulk(b"allocator.allocated");
    out.int(m.allocated as i64);
    out.bulk(b"allocator.active");
    out.int(m.active as i64);
    out.bulk(b"allocator.resident");
    out.int(m.resident as i64);
    for (name, num, den) in pairs {
        let (r, bytes) = (ratio(num, den), num as i64 - den as i64);
        // Redis names the last pair "fragmentation"/"fragmentation.bytes" and the others
        // "<name>.ratio"/"<name>.bytes".
        if name == "fragmentation" {
            out.bulk(b"fragmentation");
        } else {
            out.bulk(format!("{name}.ratio").as_bytes());
        }
        out.double(r);
        out.bulk(format!("{name}.bytes").as_bytes());
        out.int(bytes);
    }
    Ok(())
}

fn memory_doctor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let m = ctx.server.memory_breakdown().m;
    let mut findings = Vec::new();
    if m.allocated < 5 << 20 {
        findings
            .push("The instance holds less than 5 MB: too little to judge its memory.".to_string());
    } else {
        if m.peak > m.allocated / 2 * 3 {
            findings.push(format!(
                "Peak memory ({}) was over 1.5 times what is used now ({}): RSS may stay high after the peak; MEMORY PURGE returns free pages.",
                crate::metrics::memory::human(m.peak),
                crate::metrics::memory::human(m.allocated)
            ));
        }
        let frag = m.rss as f64 / m.allocated.max(1) as f64;
        if frag > 1.4 {
            findings.push(format!(
                "High fragmentation: RSS is {frag:.2} times the memory in use. MEMORY PURGE may help."
            ));
        }
        if findings.is_empty() {
            findings.push("No memory problem found.".to_string());
        }
    }
    let text = findings.join("\n\n") + "\n";
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn memory_purge(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if !crate::metrics::memory::purge() {
        return Err(CmdError::new("ERR Error purging dirty pages"));
    }
    ctx.out.ok();
    Ok(())
}

fn memory_malloc_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out
        .verbatim(crate::metrics::memory::malloc_stats().as_bytes());
    Ok(())
}
