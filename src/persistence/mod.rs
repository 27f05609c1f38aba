//! Persistence: the RDB format (values for DUMP/RESTORE, whole files for snapshots) and the
//! snapshots on disk, and the append-only file.

pub mod aof;
pub mod rdb;
pub mod snapshot;

/// How to shut down (SHUTDOWN's options; a signal asks for the defaults).
#[derive(Debug, Default, Clone, Copy)]
pub struct Shutdown {
    pub save: bool,
    pub nosave: bool,
    /// Shut down even if the final save fails.
    pub force: bool,
}

/// What persistence does before the server exits: a background save is stopped (its
/// temp file removed), and a final snapshot is written when save points are set or SAVE was
/// asked for (not with NOSAVE). Err when that save failed and FORCE was not given: the
/// server then keeps running. The caller keeps other commands out.
pub fn prepare_shutdown(server: &crate::server::Server, how: Shutdown) -> std::io::Result<()> {
    snapshot::stop_background(server);
    aof::flush_all(server);
    let save = how.save || (!how.nosave && !snapshot::save_points(server).is_empty());
    if save {
        tracing::info!("Saving the final RDB snapshot before exiting.");
        if let Err(e) = snapshot::save(server, crate::engine::now_ms()) {
            tracing::warn!("Error trying to save the DB, can't exit: {e}");
            if !how.force {
                return Err(e);
            }
        }
    }
    Ok(())
}
