//! Snapshots: SAVE and LASTSAVE (the work is in `persistence::snapshot`).

use std::sync::atomic::Ordering;

use super::table::{CommandSpec as C, ADMIN, EXCLUSIVE, FAST, LOADING, NOSCRIPT, NO_MULTI, STALE};
use super::{CmdError, CmdResult, Ctx};
use crate::persistence::snapshot;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("save", 1, NOSCRIPT | ADMIN | NO_MULTI | EXCLUSIVE, save)
        .doc("server", "1.0.0", "", "Synchronously saves the database(s) to disk."),
    C::new("lastsave", 1, LOADING | STALE | FAST, lastsave)
        .doc("server", "1.0.0", "", "Returns the Unix timestamp of the last successful save to disk."),
];

/// Saves with every other command held off (the exclusive gate, with several I/O threads).
pub fn save_now(ctx: &Ctx) -> Result<(), CmdError> {
    let _still = ctx.server.gate.as_ref().map(|g| g.exclusive());
    snapshot::save(ctx.server, ctx.now)
        .map(|_| ())
        .map_err(|e| CmdError::owned(format!("ERR {e}")))
}

fn save(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    save_now(ctx)?;
    ctx.out.ok();
    Ok(())
}

fn lastsave(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let t = ctx.server.snapshots.last_save.load(Ordering::Relaxed);
    ctx.out.int(t as i64);
    Ok(())
}
