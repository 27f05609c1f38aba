//! Snapshots: SAVE, BGSAVE and LASTSAVE (the work is in `persistence::snapshot`).

use std::sync::atomic::Ordering;

use super::args::is;
use super::table::{CommandSpec as C, ADMIN, EXCLUSIVE, FAST, LOADING, NOSCRIPT, NO_MULTI, STALE};
use super::{CmdError, CmdResult, Ctx, SYNTAX};
use crate::persistence::snapshot;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("save", 1, NOSCRIPT | ADMIN | NO_MULTI | EXCLUSIVE, save)
        .doc("server", "1.0.0", "", "Synchronously saves the database(s) to disk."),
    C::new("bgsave", -1, NOSCRIPT | ADMIN | EXCLUSIVE, bgsave)
        .doc("server", "1.0.0", "[SCHEDULE]", "Asynchronously saves the database(s) to disk."),
    C::new("lastsave", 1, LOADING | STALE | FAST, lastsave)
        .doc("server", "1.0.0", "", "Returns the Unix timestamp of the last successful save to disk."),
];

const IN_PROGRESS: CmdError = CmdError::new("ERR Background save already in progress");

/// Saves with every other command held off (the exclusive gate, with several I/O threads).
pub fn save_now(ctx: &Ctx) -> Result<(), CmdError> {
    if ctx.server.snapshots.in_progress() {
        return Err(IN_PROGRESS);
    }
    let _still = ctx.server.gate.as_ref().map(|g| g.exclusive());
    snapshot::save(ctx.server, ctx.now)
        .map(|_| ())
        .map_err(|e| CmdError::owned(format!("ERR {e}")))
}

fn save(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if !ctx.server.snapshots.in_progress() {
        ctx.server.snapshots.saves.fetch_add(1, Ordering::Relaxed);
    }
    save_now(ctx)?;
    ctx.out.ok();
    Ok(())
}

fn bgsave(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // SCHEDULE matters only while another background job (an AOF rewrite) runs.
    let _schedule = match argv {
        [_] => false,
        [_, a] if is(a, "SCHEDULE") => true,
        _ => return Err(SYNTAX),
    };
    let st = &ctx.server.snapshots;
    if st.in_progress() {
        return Err(IN_PROGRESS);
    }
    // Inside EXEC the snapshot would begin between the transaction's commands: it begins
    // after them instead.
    if ctx.client.in_exec {
        st.scheduled.store(true, Ordering::Relaxed);
        ctx.out.simple("Background saving scheduled");
        return Ok(());
    }
    let _still = ctx.server.gate.as_ref().map(|g| g.exclusive());
    match snapshot::bgsave(ctx.server, ctx.now) {
        Ok(()) => ctx.out.simple("Background saving started"),
        Err(snapshot::NotStarted::AlreadyRunning) => return Err(IN_PROGRESS),
    }
    Ok(())
}

fn lastsave(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let t = ctx.server.snapshots.last_save.load(Ordering::Relaxed);
    ctx.out.int(t as i64);
    Ok(())
}
