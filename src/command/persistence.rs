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
    C::new("bgrewriteaof", 1, NOSCRIPT | ADMIN | EXCLUSIVE, bgrewriteaof)
        .doc("server", "1.0.0", "", "Asynchronously rewrites the append-only file to disk."),
    C::new("lastsave", 1, LOADING | STALE | FAST, lastsave)
        .doc("server", "1.0.0", "", "Returns the Unix timestamp of the last successful save to disk."),
];

const IN_PROGRESS: CmdError = CmdError::new("ERR Background save already in progress");

/// Saves with every other command held off (the exclusive gate, with several I/O threads).
pub fn save_now(ctx: &Ctx) -> Result<(), CmdError> {
    if ctx.server.snapshots.rdb_in_progress() {
        return Err(IN_PROGRESS);
    }
    // A rewrite's snapshot holds the keyspace's one snapshot: it is stopped (and scheduled
    // again), as SAVE would wait for Redis's rewrite child otherwise.
    if ctx.server.snapshots.in_progress() {
        crate::persistence::snapshot::stop_background(ctx.server);
        ctx.server
            .aof
            .rewrites
            .scheduled
            .store(true, Ordering::Relaxed);
    }
    let _still = super::exclusive(ctx)?;
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
    let schedule = match argv {
        [_] => false,
        [_, a] if is(a, "SCHEDULE") => true,
        _ => return Err(SYNTAX),
    };
    let st = &ctx.server.snapshots;
    if st.rdb_in_progress() {
        return Err(IN_PROGRESS);
    }
    // An AOF rewrite's snapshot runs: as Redis answers while its rewrite child runs.
    if st.in_progress() && !ctx.client.in_exec {
        if !schedule {
            return Err(CmdError::new("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."));
        }
        st.scheduled.store(true, Ordering::Relaxed);
        ctx.out.simple("Background saving scheduled");
        return Ok(());
    }
    // Inside EXEC the snapshot would begin between the transaction's commands: it begins
    // after them instead.
    if ctx.client.in_exec {
        st.scheduled.store(true, Ordering::Relaxed);
        ctx.out.simple("Background saving scheduled");
        return Ok(());
    }
    let _still = super::exclusive(ctx)?;
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

fn bgrewriteaof(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    use crate::persistence::aof::{self, NotNow};
    let rw = &ctx.server.aof.rewrites;
    if rw.in_progress.load(Ordering::Relaxed) {
        return Err(CmdError::new(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    if ctx.client.in_exec || ctx.server.snapshots.in_progress() {
        rw.scheduled.store(true, Ordering::Relaxed);
        ctx.out
            .simple("Background append only file rewriting scheduled");
        return Ok(());
    }
    let _still = super::exclusive(ctx)?;
    match aof::rewrite(ctx.server, ctx.now) {
        Ok(()) => ctx
            .out
            .simple("Background append only file rewriting started"),
        Err(NotNow::Scheduled) => ctx
            .out
            .simple("Background append only file rewriting scheduled"),
        Err(NotNow::AlreadyRunning) => {
            return Err(CmdError::new(
                "ERR Background append only file rewriting already in progress",
            ))
        }
    }
    Ok(())
}
