//! Persistence: the RDB format (values for DUMP/RESTORE, whole files for snapshots) and the
//! snapshots on disk, and the append-only file.

pub mod aof;
pub mod aof_commands;
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
    // An AOF turned on at run time whose first base is still being written holds less than
    // the dataset: exiting now would lose the rest at the next start.
    if aof::initial_rewrite_running(server) && !how.force {
        tracing::warn!("Writing initial AOF, can't exit.");
        return Err(std::io::Error::other("the initial AOF is being written"));
    }
    snapshot::stop_background(server);
    aof::flush_all(server);
    // A dataset still loading is not saved over the file it comes from.
    let save = !server.loading.on()
        && (how.save || (!how.nosave && !snapshot::save_points(server).is_empty()));
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

/// Loading the dataset at start (INFO loading*, `-LOADING` for commands that need the data).
#[derive(Debug, Default)]
pub struct Loading {
    pub on: std::sync::atomic::AtomicBool,
    /// Unix seconds it began; bytes of the files to read, and read so far.
    pub started: std::sync::atomic::AtomicU64,
    pub total: std::sync::atomic::AtomicU64,
    pub loaded: std::sync::atomic::AtomicU64,
}

impl Loading {
    #[inline]
    pub fn on(&self) -> bool {
        self.on.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Reports a load's progress: bytes of the current file read (`base` bytes of earlier files
/// before it), a log line every few seconds, and `key-load-delay` per key.
pub(crate) struct Progress<'a> {
    server: &'a crate::server::Server,
    pub base: u64,
    last_log: std::time::Instant,
    delay_us: i64,
}

impl<'a> Progress<'a> {
    pub fn new(server: &'a crate::server::Server) -> Self {
        Progress {
            server,
            base: 0,
            last_log: std::time::Instant::now(),
            delay_us: server.config.key_load_delay.get(),
        }
    }

    pub fn at(&mut self, pos: usize) {
        use std::sync::atomic::Ordering;
        let l = &self.server.loading;
        let done = self.base + pos as u64;
        l.loaded.store(done, Ordering::Relaxed);
        if self.delay_us > 0 {
            std::thread::sleep(std::time::Duration::from_micros(self.delay_us as u64));
        }
        if self.last_log.elapsed() >= std::time::Duration::from_secs(5) {
            self.last_log = std::time::Instant::now();
            let total = l.total.load(Ordering::Relaxed).max(1);
            tracing::info!(
                "Loading the dataset: {:.1}% ({done} of {total} bytes)",
                done as f64 * 100.0 / total as f64
            );
        }
    }
}

/// Loads the dataset at start, on a thread of its own while clients get `-LOADING`: from the
/// AOF when it is on (the RDB is then not read, as in Redis), else from the RDB; then starts
/// writing the AOF. Returns the log line to write.
pub fn load_at_start(server: &crate::server::Server) -> Result<Option<String>, String> {
    use std::sync::atomic::Ordering;
    let started = std::time::Instant::now();
    let now = crate::engine::now_ms();
    let l = &server.loading;
    l.started.store(now / 1000, Ordering::Relaxed);
    let aof_on = server.config.appendonly.get() == "yes";
    let msg = if aof_on {
        aof::load(server, now)?.map(|l| {
            format!(
                "DB loaded from append only file: {:.3} seconds ({} keys from the base, {} commands)",
                started.elapsed().as_secs_f64(),
                l.keys_from_base,
                l.commands
            )
        })
    } else {
        snapshot::load(server, now)?.map(|l| {
            format!(
                "DB loaded from disk: {:.3} seconds ({} keys, {} expired)",
                started.elapsed().as_secs_f64(),
                l.keys,
                l.expired
            )
        })
    };
    // Replayed commands are already on disk: nothing to save for them.
    server.stats.dirty.reset();
    if aof_on {
        aof::start(server, crate::engine::now_ms())
            .map_err(|e| format!("Can't open the append-only file: {e}"))?;
    }
    Ok(msg)
}
