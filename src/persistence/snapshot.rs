//! Snapshots on disk (`dir`/`dbfilename`): SAVE, DEBUG RELOAD, and loading at startup.
//!
//! A save is synchronous: it runs with the keyspace still (the event loop with one I/O thread,
//! the exclusive gate with more), writes a temp file, fsyncs it and renames it over the old
//! snapshot, so a crash leaves either the old file or the new one.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::rdb::file::{self, Loaded, Saved};
use crate::server::Server;

/// Snapshot bookkeeping for INFO persistence and LASTSAVE.
#[derive(Debug, Default)]
pub struct SnapshotStats {
    /// Unix seconds of the last successful save (or of startup).
    pub last_save: AtomicU64,
    pub saves: AtomicU64,
    pub last_load_keys: AtomicU64,
    pub last_load_expired: AtomicU64,
}

/// Where the snapshot lives.
pub fn path(server: &Server) -> PathBuf {
    PathBuf::from(server.config.dir.get()).join(server.config.dbfilename.get())
}

/// The auxiliary fields a snapshot starts with; a replica's copy also names the replication
/// history and offset it matches.
pub fn aux(now_ms: u64, repl: Option<(&str, u64)>) -> Vec<(&'static str, String)> {
    let mut aux = vec![
        (
            "redis-ver",
            crate::command::connection::REDIS_VERSION.to_string(),
        ),
        ("redis-bits", "64".to_string()),
        ("ctime", (now_ms / 1000).to_string()),
        (
            "used-mem",
            crate::metrics::memory::used_cached().to_string(),
        ),
    ];
    if let Some((id, offset)) = repl {
        aux.push(("repl-stream-db", "0".to_string()));
        aux.push(("repl-id", id.to_string()));
        aux.push(("repl-offset", offset.to_string()));
    }
    aux.push(("aof-base", "0".to_string()));
    aux
}

/// Writes the snapshot. The caller holds the keyspace still.
pub fn save(server: &Server, now_ms: u64) -> io::Result<Saved> {
    let target = path(server);
    let tmp = target.with_file_name(format!("temp-{}.rdb", std::process::id()));
    let result = (|| {
        let f = File::create(&tmp)?;
        let saved = file::save(
            &server.keyspace,
            BufWriter::new(&f),
            now_ms,
            &aux(now_ms, None),
            server.config.rdbchecksum.get(),
        )?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)?;
        Ok(saved)
    })();
    match &result {
        Ok(s) => {
            let st = &server.snapshots;
            st.last_save.store(now_ms / 1000, Ordering::Relaxed);
            st.saves.fetch_add(1, Ordering::Relaxed);
            server.stats.dirty.reset();
            tracing::info!("DB saved on disk ({} keys)", s.keys);
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!("Failed saving the DB: {e}");
        }
    }
    result
}

/// Loads the snapshot into the keyspace, if there is one. Ok(None) when there is no file.
pub fn load(server: &Server, now_ms: u64) -> Result<Option<Loaded>, String> {
    let p = path(server);
    let data = match std::fs::read(&p) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("Can't open {}: {e}", p.display())),
    };
    let lim = *server.config.derived.limits.read();
    let verify = server.config.rdbchecksum.get();
    let loaded = file::load(&data, &server.keyspace, &lim, now_ms, verify)?;
    let st = &server.snapshots;
    st.last_load_keys.store(loaded.keys, Ordering::Relaxed);
    st.last_load_expired
        .store(loaded.expired, Ordering::Relaxed);
    Ok(Some(loaded))
}
