//! SLOWLOG and LATENCY: the slow-command log and the latency spike monitor (recorded by
//! `command::execute`, kept in `metrics::slowlog`), and per-command latency histograms.

use super::table::{CommandSpec as C, ADMIN, LOADING, NOSCRIPT, STALE};
use super::{args, CmdError, CmdResult, Ctx};
use crate::metrics::histogram;

const FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub static COMMANDS: &[C] = &[
    C::container("slowlog", SLOWLOG).doc(
        "server",
        "2.2.12",
        "",
        "A container for slow log commands.",
    ),
    C::container("latency", LATENCY).doc(
        "server",
        "2.8.13",
        "",
        "A container for latency diagnostics commands.",
    ),
];

static SLOWLOG: &[C] = &[
    C::new("get", -2, FLAGS, slowlog_get).doc(
        "server",
        "2.2.12",
        "[count]",
        "Returns the slow log's entries.",
    ),
    C::new("len", 2, FLAGS, slowlog_len).doc(
        "server",
        "2.2.12",
        "",
        "Returns the number of entries in the slow log.",
    ),
    C::new("reset", 2, FLAGS, slowlog_reset).doc(
        "server",
        "2.2.12",
        "",
        "Clears all entries from the slow log.",
    ),
    C::new("help", 2, LOADING | STALE, slowlog_help).doc(
        "server",
        "6.2.0",
        "",
        "Show helpful text about the different subcommands",
    ),
];

static LATENCY: &[C] = &[
    C::new("latest", 2, FLAGS, latency_latest).doc(
        "server",
        "2.8.13",
        "",
        "Returns the latest latency samples for all events.",
    ),
    C::new("history", 3, FLAGS, latency_history).doc(
        "server",
        "2.8.13",
        "event",
        "Returns timestamp-latency samples for an event.",
    ),
    C::new("reset", -2, FLAGS, latency_reset).doc(
        "server",
        "2.8.13",
        "[event [event ...]]",
        "Resets the latency data for one or more events.",
    ),
    C::new("doctor", 2, FLAGS, latency_doctor).doc(
        "server",
        "2.8.13",
        "",
        "Returns a human-readable latency analysis report.",
    ),
    C::new("histogram", -2, FLAGS, latency_histogram).doc(
        "server",
        "7.0.0",
        "[command [command ...]]",
        "Returns the cumulative distribution of latencies of a subset or all commands.",
    ),
    C::new("help", 2, LOADING | STALE, latency_help).doc(
        "server",
        "2.8.13",
        "",
        "Returns helpful text about the different subcommands.",
    ),
];

fn slowlog_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(super::SYNTAX);
    }
    let count = match argv.get(2) {
        None => Some(10),
        Some(a) => match args::strict_i64(a) {
            Some(-1) => None,
            Some(n) if n >= 0 => Some(n as usize),
            _ => {
                return Err(CmdError::new(
                    "ERR count should be greater than or equal to -1",
                ))
            }
        },
    };
    trim(ctx);
    let entries = ctx.server.slowlog.newest(count);
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time as i64);
        ctx.out.int(e.usec as i64);
        ctx.out.array(e.args.len());
        for a in &e.args {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.addr.as_bytes());
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

/// A lowered `slowlog-max-len` applies at once.
fn trim(ctx: &mut Ctx) {
    let max = ctx.server.config.slowlog_max_len.u();
    ctx.server.slowlog.trim(max as usize);
}

fn slowlog_len(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    trim(ctx);
    ctx.out.int(ctx.server.slowlog.len() as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.slowlog.reset();
    ctx.out.ok();
    Ok(())
}

fn slowlog_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::server::help(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    The newest <count> entries (10 by default, -1 for all). Each entry holds its id,",
            "    unix time, duration in microseconds, arguments, client address and client name.",
            "LEN",
            "    The number of entries.",
            "RESET",
            "    Empties the log.",
        ],
    );
    Ok(())
}

fn latency_latest(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let events = ctx.server.latency.events();
    ctx.out.array(events.len());
    for (name, e) in events {
        let (time, ms) = e.samples.back().copied().unwrap_or((0, 0));
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(time as i64);
        ctx.out.int(ms as i64);
        ctx.out.int(e.max as i64);
    }
    Ok(())
}

fn latency_history(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let samples = ctx.server.latency.history(&argv[2].to_ascii_lowercase());
    ctx.out.array(samples.len());
    for (time, ms) in samples {
        ctx.out.array(2);
        ctx.out.int(time as i64);
        ctx.out.int(ms as i64);
    }
    Ok(())
}

fn latency_reset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let names: Vec<Vec<u8>> = argv[2..].iter().map(|a| a.to_ascii_lowercase()).collect();
    let refs: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
    ctx.out.int(ctx.server.latency.reset(&refs) as i64);
    Ok(())
}

fn latency_doctor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let events = ctx.server.latency.events();
    let threshold = ctx.server.config.latency_monitor_threshold.u();
    let mut text = String::new();
    if events.is_empty() {
        text.push_str("No latency spike has been recorded since the server started");
        if threshold == 0 {
            text.push_str(
                " (the latency monitor is off: CONFIG SET latency-monitor-threshold <milliseconds> turns it on)",
            );
        }
        text.push_str(".\n");
    } else {
        text.push_str("Latency spikes recorded, by event:\n\n");
        for (i, (name, e)) in events.iter().enumerate() {
            let n = e.samples.len().max(1) as u64;
            let avg = e.samples.iter().map(|s| s.1).sum::<u64>() / n;
            let (first, last) = (
                e.samples.front().map_or(0, |s| s.0),
                e.samples.back().map_or(0, |s| s.0),
            );
            text.push_str(&format!(
                "{}. {name}: {} spikes in the last {} seconds, average {avg} ms, worst {} ms.\n",
                i + 1,
                e.samples.len(),
                last.saturating_sub(first) + 1,
                e.max
            ));
        }
        text.push_str("\nAdvice:\n");
        if events.iter().any(|(n, _)| n.ends_with("command")) {
            text.push_str(
                "- Slow commands: SLOWLOG GET shows which; avoid O(N) commands on large values (KEYS, SMEMBERS, HGETALL on big keys), or split the work.\n",
            );
        }
        if events.iter().any(|(n, _)| n.starts_with("expire")) {
            text.push_str(
                "- Many keys expiring at the same time: spread the TTLs with some randomness.\n",
            );
        }
        if events.iter().any(|(n, _)| n.starts_with("eviction")) {
            text.push_str(
                "- Eviction is working hard: raise maxmemory or lower maxmemory-eviction-tenacity's share of the loop.\n",
            );
        }
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// LATENCY HISTOGRAM: per command, its calls and the cumulative count at each power-of-two
/// microsecond bound up to its slowest call.
fn latency_histogram(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let table = &ctx.server.commands;
    let wanted: Vec<Vec<u8>> = argv[2..].iter().map(|a| a.to_ascii_lowercase()).collect();
    let cmds: Vec<_> = table
        .iter_all()
        .filter(|c| {
            // A container's name stands for its subcommands (`client` gives `client|id`, ...).
            let name = c.fullname.as_bytes();
            wanted.is_empty()
                || wanted
                    .iter()
                    .any(|w| w == name || (name.starts_with(w) && name.get(w.len()) == Some(&b'|')))
        })
        .filter_map(|c| Some((c, c.hist.get()?)))
        .map(|(c, h)| (c, histogram::counts(h)))
        .filter(|(_, counts)| counts.iter().any(|&n| n > 0))
        .collect();
    ctx.out.map(cmds.len());
    for (c, counts) in cmds {
        ctx.out.bulk(c.fullname.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(counts.iter().sum::<u64>() as i64);
        ctx.out.bulk(b"histogram_usec");
        let top = counts.iter().rposition(|&n| n > 0).unwrap_or(0);
        let max = histogram::upper(top);
        let mut points = Vec::new();
        let mut bound = 1u64;
        loop {
            let cum: u64 = counts
                .iter()
                .enumerate()
                .filter(|(b, _)| histogram::upper(*b) <= bound)
                .map(|(_, n)| n)
                .sum();
            if cum > 0 {
                points.push((bound, cum));
            }
            if bound >= max {
                break;
            }
            bound *= 2;
        }
        ctx.out.map(points.len());
        for (b, n) in points {
            ctx.out.int(b as i64);
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

fn latency_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::server::help(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    A report on the latency spikes recorded, with advice.",
            "HISTORY <event>",
            "    The (unix time, milliseconds) samples of an event.",
            "LATEST",
            "    Each event's latest and worst spike.",
            "RESET [<event> ...]",
            "    Forgets the spikes of the given events (all events when none is given).",
            "HISTOGRAM [<command> ...]",
            "    Cumulative latency distribution of the given commands (all when none is given).",
        ],
    );
    Ok(())
}
