//! Snapshots on disk (`dir`/`dbfilename`): SAVE, BGSAVE, save points, the final save at
//! shutdown, DEBUG RELOAD, and loading at startup.
//!
//! Every save writes a snapshot begun between two commands (`engine::snapshot`): SAVE on the
//! calling thread, BGSAVE on a thread of its own while commands go on (no fork: the engine
//! keeps, for the save, the old form of what writes change meanwhile). Each writes a temp
//! file, fsyncs it and renames it over the old snapshot, so a crash or a failed write (a full
//! disk) leaves the old file whole.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::rdb::file::{self, Loaded, Pace, Saved};
use crate::engine::snapshot::{Begun, Encode};
use crate::journal::Feed;
use crate::server::Server;

/// Snapshot bookkeeping: INFO persistence, LASTSAVE, and the background save's state.
#[derive(Debug)]
pub struct Snapshots {
    /// Unix seconds of the last successful save (or of startup).
    pub last_save: AtomicU64,
    /// SAVEs and background saves begun (INFO rdb_saves).
    pub saves: AtomicU64,
    pub last_load_keys: AtomicU64,
    pub last_load_expired: AtomicU64,
    /// A background save is running (of any kind: one at a time).
    pub in_progress: AtomicBool,
    /// It is an AOF rewrite's (INFO shows it as aof_rewrite_in_progress, not as a BGSAVE).
    pub for_aof: AtomicBool,
    /// BGSAVE SCHEDULE (or BGSAVE inside EXEC): start one as soon as none is running.
    pub scheduled: AtomicBool,
    /// The last background save succeeded (rdb_last_bgsave_status).
    pub last_ok: AtomicBool,
    /// Seconds the last background save took (-1: none yet).
    pub last_secs: AtomicI64,
    /// When the running background save began, and when the last one was tried (ms).
    pub started_ms: AtomicU64,
    pub last_try_ms: AtomicU64,
    /// Keys written so far, and keys there were when it began (current_save_keys_*).
    pub processed: AtomicU64,
    pub total: AtomicU64,
    /// Bytes the last save held aside for writes during it (rdb_last_cow_size).
    pub last_cow: AtomicU64,
    /// The dirty counter when the running save began: what remains after it is unsaved.
    dirty_at_start: AtomicU64,
    abort: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Snapshots {
    pub fn new(now_ms: u64) -> Self {
        Snapshots {
            last_save: AtomicU64::new(now_ms / 1000),
            saves: AtomicU64::new(0),
            last_load_keys: AtomicU64::new(0),
            last_load_expired: AtomicU64::new(0),
            in_progress: AtomicBool::new(false),
            for_aof: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
            last_secs: AtomicI64::new(-1),
            started_ms: AtomicU64::new(0),
            last_try_ms: AtomicU64::new(0),
            processed: AtomicU64::new(0),
            total: AtomicU64::new(0),
            last_cow: AtomicU64::new(0),
            dirty_at_start: AtomicU64::new(0),
            abort: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    pub fn in_progress(&self) -> bool {
        self.in_progress.load(Ordering::Relaxed)
    }

    /// A BGSAVE (or a replica's snapshot) is running: INFO rdb_bgsave_in_progress.
    pub fn rdb_in_progress(&self) -> bool {
        self.in_progress() && !self.for_aof.load(Ordering::Relaxed)
    }
}

/// Where the snapshot lives.
pub fn path(server: &Server) -> PathBuf {
    PathBuf::from(server.config.dir.get()).join(server.config.dbfilename.get())
}

/// The auxiliary fields a snapshot starts with; a replica's copy also names the replication
/// history and offset it matches.
pub fn aux(now_ms: u64, repl: Option<(&str, u64)>, aof_base: bool) -> Vec<(&'static str, String)> {
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
    aux.push(("aof-base", (aof_base as u8).to_string()));
    aux
}

/// Writes a begun snapshot to `dir`/`dbfilename` through `tmp`: written, fsynced, renamed.
fn write_file(
    server: &Server,
    begun: &Begun,
    tmp: &str,
    aux: &[(&str, String)],
    pace: &Pace,
) -> io::Result<Saved> {
    let target = path(server);
    let incremental = server.config.rdb_save_incremental_fsync.get();
    write_durably(
        server,
        begun,
        &target,
        &target.with_file_name(tmp),
        Body::Rdb(aux),
        pace,
        incremental,
    )
    .map(|(saved, _)| saved)
}

/// What a snapshot file holds.
pub(super) enum Body<'a> {
    /// An RDB with these aux fields (begun with `rdb::file::encode_entry`).
    Rdb(&'a [(&'a str, String)]),
    /// Commands, an AOF base without preamble (begun with `aof_commands::encode_entry`),
    /// first stamped with this time when given.
    Commands(Option<u64>),
}

/// Writes a begun snapshot as a file at `target` durably: into `tmp` (fsynced every 4 MB
/// with `incremental`, and at the end), renamed, the directory fsynced; `tmp` removed on
/// failure, so the old `target` stays whole. Returns what was saved and the file's size. Both
/// `dbfilename` and the AOF's bases are written so.
pub(super) fn write_durably(
    server: &Server,
    begun: &Begun,
    target: &std::path::Path,
    tmp: &std::path::Path,
    body: Body,
    pace: &Pace,
    incremental: bool,
) -> io::Result<(Saved, u64)> {
    let result = (|| {
        let f = File::create(tmp)?;
        let sink = AutoSync {
            file: &f,
            on: incremental,
            since: 0,
        };
        let out = BufWriter::with_capacity(1 << 16, sink);
        let ks = &server.keyspace;
        let (w, saved) = match body {
            Body::Rdb(aux) => {
                let functions = server.scripting.library_codes();
                let checksum = server.config.rdbchecksum.get();
                file::write(ks, begun, out, aux, &functions, checksum, pace)?
            }
            Body::Commands(stamp) => file::write_commands(ks, begun, out, stamp, pace)?,
        };
        drop(w);
        f.sync_all()?;
        let size = f.metadata()?.len();
        std::fs::rename(tmp, target)?;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok((saved, size))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// A file written with an fsync every few megabytes (`rdb-save-incremental-fsync`,
/// `aof-rewrite-incremental-fsync`), so that the kernel never holds a whole snapshot's dirty
/// pages to write back at once (a stall for everything else on the machine).
struct AutoSync<'a> {
    file: &'a File,
    on: bool,
    since: usize,
}

const AUTOSYNC_BYTES: usize = 4 << 20;

impl Write for AutoSync<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = (&mut &*self.file).write(b)?;
        self.since += n;
        if self.on && self.since >= AUTOSYNC_BYTES {
            self.file.sync_data()?;
            self.since = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A save finished: the bookkeeping Redis does for it.
fn saved(server: &Server, now_ms: u64, dirty_at_start: u64) {
    let st = &server.snapshots;
    st.last_save.store(now_ms / 1000, Ordering::Relaxed);
    // Changes made while it ran are still unsaved.
    server.stats.dirty.sub(0, dirty_at_start);
}

/// SAVE: writes the snapshot on this thread. The caller keeps other commands out and checks
/// that no background save runs.
pub fn save(server: &Server, now_ms: u64) -> io::Result<Saved> {
    let dirty = server.stats.dirty.get(0);
    let begun = server
        .keyspace
        .begin_snapshot(file::encode_entry, now_ms, true);
    let tmp = format!("temp-{}.rdb", std::process::id());
    // rdb-key-save-delay slows this one too, as in Redis (tests make a final save last).
    let delay = || server.config.rdb_key_save_delay.get();
    let pace = Pace {
        key_delay_us: Some(&delay),
        ..Pace::default()
    };
    let result = write_file(server, &begun, &tmp, &aux(now_ms, None, false), &pace);
    match &result {
        Ok(s) => {
            saved(server, crate::engine::now_ms(), dirty);
            tracing::info!("DB saved on disk ({} keys)", s.keys);
        }
        Err(e) => {
            server.keyspace.abort_snapshot();
            tracing::warn!("Failed saving the DB: {e}");
        }
    }
    result
}

/// Why BGSAVE could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum NotStarted {
    AlreadyRunning,
}

/// Where a background save goes.
pub enum Job {
    /// BGSAVE, a save point: `dir`/`dbfilename`.
    Disk,
    /// A full resync: each feed gets the snapshot (after what it already holds, the
    /// `+FULLRESYNC` line), tagged with the replication history and offset it matches;
    /// `diskless` streams it as it is written (EOF-marked), otherwise it is saved to the
    /// file first and sent from there with its length.
    Replicas {
        feeds: Vec<Arc<Feed>>,
        diskless: bool,
        replid: String,
        offset: u64,
    },
    /// An AOF rewrite: the base of sequence number `seq` (`aof::rewrite`), an RDB or commands.
    AofBase { seq: u64, incr_from: u64, rdb: bool },
}

/// BGSAVE: begins a snapshot now and writes it on a thread of its own. The caller keeps other
/// commands out for the moment it begins (the thread that runs them, or the exclusive gate).
pub fn bgsave(server: &Server, now_ms: u64) -> Result<(), NotStarted> {
    begin_background(server, now_ms, Job::Disk)
}

/// Begins a snapshot now for `job`, written on a thread of its own (one at a time).
pub fn begin_background(server: &Server, now_ms: u64, job: Job) -> Result<(), NotStarted> {
    let st = &server.snapshots;
    if st.in_progress.swap(true, Ordering::AcqRel) {
        return Err(NotStarted::AlreadyRunning);
    }
    // A thread that finished has left its handle.
    if let Some(t) = st.thread.lock().take() {
        let _ = t.join();
    }
    if matches!(job, Job::Disk) {
        st.scheduled.store(false, Ordering::Relaxed);
    }
    st.abort.store(false, Ordering::Relaxed);
    let for_aof = matches!(job, Job::AofBase { .. });
    st.for_aof.store(for_aof, Ordering::Relaxed);
    if !for_aof {
        // INFO's rdb_saves counts saves as they begin, as Redis does.
        st.saves.fetch_add(1, Ordering::Relaxed);
    }
    st.started_ms.store(now_ms, Ordering::Relaxed);
    st.last_try_ms.store(now_ms, Ordering::Relaxed);
    st.processed.store(0, Ordering::Relaxed);
    st.dirty_at_start
        .store(server.stats.dirty.get(0), Ordering::Relaxed);
    // A base of commands leaves out keys already expired (as Redis's rewrite does); an RDB
    // keeps them.
    let (encode, rdb) = match job {
        Job::AofBase { rdb: false, .. } => (super::aof_commands::encode_entry as Encode, false),
        _ => (file::encode_entry as Encode, true),
    };
    let begun = server.keyspace.begin_snapshot(encode, now_ms, rdb);
    st.total.store(begun.keys(), Ordering::Relaxed);
    match &job {
        Job::Disk => tracing::info!("Background saving started"),
        Job::AofBase { .. } => {}
        Job::Replicas {
            diskless, feeds, ..
        } => tracing::info!(
            "Starting BGSAVE for SYNC with target: {} ({} replicas)",
            if *diskless {
                "replicas sockets"
            } else {
                "disk"
            },
            feeds.len()
        ),
    }
    let me = server.arc();
    let thread = std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || background(&me, begun, job));
    match thread {
        Ok(t) => *st.thread.lock() = Some(t),
        Err(e) => {
            server.keyspace.abort_snapshot();
            finish_background(server, Err(e), true);
        }
    }
    Ok(())
}

/// The background save's thread.
fn background(server: &Server, begun: Begun, job: Job) {
    // Below the threads that serve clients: where cores are scarce the save waits, not the
    // clients (it is paced by the shards it visits, never the other way round).
    // SAFETY: sched_setscheduler on this thread (id 0) changes only its scheduling class.
    unsafe {
        let p = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &p);
    }
    let st = &server.snapshots;
    let delay = || server.config.rdb_key_save_delay.get();
    let pace = Pace {
        processed: Some(&st.processed),
        abort: Some(&st.abort),
        key_delay_us: Some(&delay),
    };
    let tmp = format!("temp-{}-bg.rdb", std::process::id());
    let (result, to_disk) = match job {
        Job::Disk => (
            write_file(server, &begun, &tmp, &aux(begun.now, None, false), &pace),
            true,
        ),
        Job::AofBase {
            seq,
            incr_from,
            rdb,
        } => {
            let result = super::aof::write_rewrite_base(server, &begun, seq, incr_from, rdb, &pace);
            if result.is_err() {
                server.keyspace.abort_snapshot();
            }
            let started = st.started_ms.load(Ordering::Relaxed);
            super::aof::rewrite_finished(server, result, started);
            st.in_progress.store(false, Ordering::Release);
            return;
        }
        Job::Replicas {
            feeds,
            diskless,
            replid,
            offset,
        } => {
            let aux = aux(begun.now, Some((&replid, offset)), false);
            let result = if diskless {
                to_replicas(server, &begun, &feeds, &aux, &pace)
            } else {
                write_file(server, &begun, &tmp, &aux, &pace)
                    .and_then(|saved| send_file(server, &feeds).map(|_| saved))
            };
            for f in &feeds {
                match &result {
                    Ok(_) => f.done.store(true, Ordering::Release),
                    Err(_) => f.closed.store(true, Ordering::Release),
                }
                f.ready.notify_one();
            }
            (result, !diskless)
        }
    };
    if result.is_err() {
        server.keyspace.abort_snapshot();
    }
    finish_background(server, result, to_disk);
}

/// A full sync's snapshot straight into the replicas' feeds, EOF-marked, as it is written.
fn to_replicas(
    server: &Server,
    begun: &Begun,
    feeds: &[Arc<Feed>],
    aux: &[(&str, String)],
    pace: &Pace,
) -> io::Result<Saved> {
    let mark: String = {
        use rand::Rng;
        let mut rng = rand::rng();
        (0..40)
            .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
            .collect()
    };
    let mut out = FanOut { feeds };
    out.write_all(format!("$EOF:{mark}\r\n").as_bytes())?;
    let (mut w, saved) = file::write(
        &server.keyspace,
        begun,
        BufWriter::with_capacity(1 << 16, out),
        aux,
        &server.scripting.library_codes(),
        server.config.rdbchecksum.get(),
        pace,
    )?;
    w.write_all(mark.as_bytes())?;
    w.flush()?;
    Ok(saved)
}

/// Sends the snapshot just saved to the replicas' feeds, with its length up front (and
/// removes the file if `rdb-del-sync-files` asks, when nothing else wants it).
fn send_file(server: &Server, feeds: &[Arc<Feed>]) -> io::Result<()> {
    let p = path(server);
    let mut f = File::open(&p)?;
    let len = f.metadata()?.len();
    let mut out = FanOut { feeds };
    out.write_all(format!("${len}\r\n").as_bytes())?;
    io::copy(&mut f, &mut out)?;
    if server.config.rdb_del_sync_files.get() && save_points(server).is_empty() {
        let _ = std::fs::remove_file(&p);
    }
    Ok(())
}

/// Writes to every replica's feed that is still open, waiting while one holds more than
/// `FANOUT_LIMIT` unsent bytes (the slowest replica paces the save, as Redis's pipe does).
struct FanOut<'a> {
    feeds: &'a [Arc<Feed>],
}

const FANOUT_LIMIT: usize = 8 << 20;

impl Write for FanOut<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let mut open = 0;
        for f in self.feeds {
            while !f.closed.load(Ordering::Relaxed) && f.pending() > FANOUT_LIMIT {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if !f.closed.load(Ordering::Relaxed) {
                f.push(b);
                open += 1;
            }
        }
        if open == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "no replica is left to send the snapshot to",
            ));
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A background save ended; `to_disk`: it wrote `dbfilename` (which counts as a save).
fn finish_background(server: &Server, result: io::Result<Saved>, to_disk: bool) {
    let st = &server.snapshots;
    let now = crate::engine::now_ms();
    let secs = now.saturating_sub(st.started_ms.load(Ordering::Relaxed)) / 1000;
    st.last_secs.store(secs as i64, Ordering::Relaxed);
    st.last_cow
        .store(crate::engine::snapshot::peak_held(), Ordering::Relaxed);
    match result {
        Ok(s) if !to_disk => {
            tracing::info!("Snapshot of {} keys sent to the replicas", s.keys);
        }
        Ok(s) => {
            saved(server, now, st.dirty_at_start.load(Ordering::Relaxed));
            st.last_ok.store(true, Ordering::Relaxed);
            tracing::info!(
                "Background saving terminated with success ({} keys, {} bytes held for writes meanwhile)",
                s.keys,
                st.last_cow.load(Ordering::Relaxed)
            );
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            // Stopped on purpose (SHUTDOWN, FLUSHALL): not a failure of the disk.
            tracing::warn!("Background saving stopped: {e}");
        }
        Err(e) if !to_disk => tracing::warn!("Snapshot for the replicas failed: {e}"),
        Err(e) => {
            st.last_ok.store(false, Ordering::Relaxed);
            tracing::warn!("Background saving error: {e}");
        }
    }
    st.in_progress.store(false, Ordering::Release);
}

/// Stops a running background save and waits for its thread (the old snapshot stays).
pub fn stop_background(server: &Server) {
    let st = &server.snapshots;
    if !st.in_progress() {
        return;
    }
    st.abort.store(true, Ordering::Relaxed);
    let t = st.thread.lock().take();
    if let Some(t) = t {
        let _ = t.join();
    }
}

/// The save points (`save <seconds> <changes> ...`).
pub fn save_points(server: &Server) -> Vec<(u64, u64)> {
    let v = server.config.save.get();
    let n: Vec<u64> = v
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    n.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

/// A failed background save is retried after this long (unless a save point says the last
/// one succeeded), as Redis does.
const RETRY_DELAY_MS: u64 = 5_000;

/// Checked a few times a second: true when a BGSAVE was scheduled, or a save point calls for
/// one (enough changes, long enough since the last save; a failed save is retried after
/// `RETRY_DELAY_MS`).
pub fn save_due(server: &Server, now_ms: u64) -> bool {
    let st = &server.snapshots;
    if st.in_progress() || server.loading.on() {
        return false;
    }
    if st.scheduled.load(Ordering::Relaxed) {
        return true;
    }
    let dirty = server.stats.dirty.get(0);
    let since = (now_ms / 1000).saturating_sub(st.last_save.load(Ordering::Relaxed));
    let may_try = st.last_ok.load(Ordering::Relaxed)
        || now_ms.saturating_sub(st.last_try_ms.load(Ordering::Relaxed)) > RETRY_DELAY_MS;
    let point = save_points(server)
        .into_iter()
        .find(|&(secs, changes)| dirty >= changes && since >= secs);
    match point {
        Some((secs, changes)) if may_try => {
            tracing::info!("{changes} changes in {secs} seconds. Saving...");
            true
        }
        _ => false,
    }
}

/// Writes refused because saving fails (`stop-writes-on-bgsave-error`), as Redis refuses.
pub fn refuses_writes(server: &Server) -> bool {
    let st = &server.snapshots;
    !st.last_ok.load(Ordering::Relaxed)
        && server.config.stop_writes_on_bgsave_error.get()
        && !server.config.save.get().is_empty()
}

/// Loads the snapshot into the keyspace, if there is one. Ok(None) when there is no file.
pub fn load(server: &Server, now_ms: u64) -> Result<Option<Loaded>, String> {
    load_with_functions(server, now_ms, crate::scripting::Restore::Flush)
}

/// `load`, with how the file's function libraries join those loaded (DEBUG RELOAD NOFLUSH
/// keeps them: a library already there fails the load, unless MERGE replaces it).
pub fn load_with_functions(
    server: &Server,
    now_ms: u64,
    functions: crate::scripting::Restore,
) -> Result<Option<Loaded>, String> {
    let p = path(server);
    let data = match std::fs::read(&p) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("Can't open {}: {e}", p.display())),
    };
    let lim = *server.config.derived.limits.read();
    let verify = server.config.rdbchecksum.get();
    server
        .loading
        .total
        .store(data.len() as u64, Ordering::Relaxed);
    let mut progress = super::Progress::new(server);
    let loaded = file::load_with(&data, &server.keyspace, &lim, now_ms, verify, &mut |p| {
        progress.at(p)
    })
    .map_err(|e| format!("{e} in {}", p.display()))?;
    crate::scripting::load_from_rdb(server, &loaded.functions, functions)?;
    let st = &server.snapshots;
    st.last_load_keys.store(loaded.keys, Ordering::Relaxed);
    st.last_load_expired
        .store(loaded.expired, Ordering::Relaxed);
    Ok(Some(loaded))
}
