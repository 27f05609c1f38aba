//! MONITOR: every command any client runs, streamed to the monitoring clients as Redis prints
//! it (`+1700000000.123456 [0 127.0.0.1:50000] "set" "k" "v"`). With no monitor attached the
//! cost per command is one relaxed load.

use std::sync::atomic::Ordering;

use super::table::{Command, CommandSpec as C, ADMIN, LOADING, NOSCRIPT, SKIP_MONITOR, STALE};
use super::{CmdResult, Ctx};
use crate::protocol::parser::repr;

pub static COMMANDS: &[C] = &[
    C::new("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, monitor).doc(
        "server",
        "1.0.0",
        "",
        "Listens for all requests received by the server in real-time.",
    ),
];

fn monitor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    // A client inside MULTI cannot become a monitor (Redis ignores the request there too).
    if ctx.client.multi.is_some() {
        return Ok(());
    }
    let h = ctx.client.handle.clone();
    h.monitor.store(true, Ordering::Relaxed);
    ctx.client.monitoring = true;
    let m = &ctx.clients().monitors;
    let mut list = m.list.lock();
    if !list.iter().any(|x| x.id == h.id) {
        list.push(h);
    }
    m.count.store(list.len(), Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// Sends a command that has just run to every monitor. Admin commands and those marked
/// skip_monitor are not shown; passwords are replaced, as in SLOWLOG.
pub fn feed(ctx: &Ctx, cmd: &Command, argv: &[&[u8]]) {
    if cmd.spec.flags & (ADMIN | SKIP_MONITOR) != 0 {
        return;
    }
    let redact = redacted(cmd.spec.name, argv).unwrap_or(0..0);
    let us = crate::engine::now_us();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        us / 1_000_000,
        us % 1_000_000,
        ctx.client.db,
        ctx.client.handle.addr
    )
    .into_bytes();
    for (i, a) in argv.iter().enumerate() {
        line.push(b' ');
        if redact.contains(&i) {
            line.extend_from_slice(b"\"(redacted)\"");
        } else {
            repr(a, &mut line);
        }
    }
    line.extend_from_slice(b"\r\n");
    for h in ctx.clients().monitors.list.lock().iter() {
        h.mailbox.push(&line);
    }
}

/// The arguments that hold a password (AUTH's, HELLO's after AUTH), which neither MONITOR
/// nor SLOWLOG shows.
pub fn redacted(name: &str, argv: &[&[u8]]) -> Option<std::ops::Range<usize>> {
    match name {
        "auth" => Some(1..argv.len()),
        "hello" => {
            let at = argv.iter().position(|a| a.eq_ignore_ascii_case(b"auth"))?;
            Some(at + 1..(at + 3).min(argv.len()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_redis_does() {
        let mut o = Vec::new();
        repr(b"a \"b\"\\\n\r\t\x07\x08\x00\xff", &mut o);
        assert_eq!(o, b"\"a \\\"b\\\"\\\\\\n\\r\\t\\a\\b\\x00\\xff\"");
    }
}
