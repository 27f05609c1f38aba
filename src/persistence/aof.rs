//! The append-only file, in Redis 7's multi-part layout: `dir`/`appenddirname` holds a
//! manifest (`<appendfilename>.manifest`) naming a base file (a snapshot in RDB form) and the
//! incremental files of commands written after it, in order. Redis and ferrocache load each
//! other's directories, and `redis-check-aof` accepts ours.
//!
//! The commands come from the journal, the stream the replicas and the backlog read, so a
//! restart loads what a replica holds. They are written before any reply leaves the server:
//! the reply writers call [`before_replies`] first, once per event-loop round with one I/O
//! thread, so with `appendfsync always` one `fdatasync` covers every reply of the round
//! (group commit). With `everysec` a thread syncs once a second; with `no`, the kernel does.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::journal::Feed;
use crate::server::Server;

/// On once the AOF is written to (a relaxed load for every round while it is off).
static ON: AtomicBool = AtomicBool::new(false);

pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// `appendfsync`, kept by its apply hook: read every event-loop round, where the setting's
/// text would cost an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

static FSYNC: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);

pub fn set_fsync(policy: &str) {
    let v = match policy {
        "always" => 0,
        "no" => 2,
        _ => 1,
    };
    FSYNC.store(v, Ordering::Relaxed);
}

fn fsync() -> Fsync {
    match FSYNC.load(Ordering::Relaxed) {
        0 => Fsync::Always,
        2 => Fsync::No,
        _ => Fsync::EverySec,
    }
}

/// The AOF's state.
#[derive(Debug, Default)]
pub struct Aof {
    writer: Mutex<Option<Writer>>,
    /// The manifest in force (taken before `writer` when both are held).
    manifest: Mutex<Manifest>,
    pub rewrites: Rewrites,
    /// CONFIG SET appendonly yes, waiting for a point between commands with no save running.
    pub enable_requested: AtomicBool,
    /// Turned on at run time, and its first base not written yet (Redis's WAIT_REWRITE).
    initial: AtomicBool,
    /// What the journal recorded and is not written yet.
    feed: Arc<Feed>,
    /// The last write failed (INFO aof_last_write_status; writes get -MISCONF).
    pub write_failed: AtomicBool,
    pub last_error: Mutex<String>,
    /// INFO aof_current_size / aof_base_size.
    pub size: AtomicU64,
    pub base_size: AtomicU64,
}

#[derive(Debug, Default)]
struct Manifest {
    parts: Vec<Part>,
    /// Files of an older AOF that the next rewrite's manifest replaces (AOF turned on at run
    /// time, or a rewrite while it is off): deleted once it is written.
    stale: Vec<String>,
}

#[derive(Debug)]
struct Writer {
    file: File,
    /// Bytes written and not yet synced.
    unsynced: bool,
    last_sync_ms: u64,
    /// The second of the last `#TS:` annotation (aof-timestamp-enabled).
    stamped: u64,
}

impl Aof {
    /// Bytes recorded and not yet written (INFO aof_buffer_length).
    pub fn pending(&self) -> usize {
        self.feed.pending()
    }
}

/// `dir`/`appenddirname`.
pub fn dir(server: &Server) -> PathBuf {
    PathBuf::from(server.config.dir.get()).join(server.config.appenddirname.get())
}

fn manifest_name(server: &Server) -> String {
    format!("{}.manifest", server.config.appendfilename.get())
}

/// One line of the manifest: a file, its sequence number and type (`b` base, `h` history,
/// `i` incremental).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub seq: u64,
    pub kind: char,
}

/// Reads a manifest: `file <name> seq <n> type <b|h|i>` per line (keys in any case and order,
/// unknown keys ignored, names quoted as Redis quotes them), refusing what Redis refuses, with
/// its words: the log is how an operator finds the line at fault.
pub fn parse_manifest(text: &[u8]) -> Result<Vec<Part>, String> {
    const MAX_LINE: usize = 1024;
    if text.is_empty() {
        return Err(manifest_error(None, "Found an empty AOF manifest"));
    }
    let mut parts = Vec::new();
    let mut last_incr = 0;
    let (mut scratch, mut ranges) = (Vec::new(), Vec::new());
    for (n, raw) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        if raw.starts_with(b"#") {
            continue;
        }
        if raw.len() > MAX_LINE || !raw.ends_with(b"\n") {
            return Err(manifest_error(
                None,
                "The AOF manifest file contains too long line",
            ));
        }
        let line = raw.trim_ascii();
        let at = Some((n + 1, line));
        scratch.clear();
        ranges.clear();
        let split = crate::protocol::parser::split_inline_args(line, &mut scratch, &mut ranges);
        if line.is_empty() || split.is_err() || ranges.len() < 6 || ranges.len() % 2 == 1 {
            return Err(manifest_error(at, "Invalid AOF manifest file format"));
        }
        let (mut name, mut seq, mut kind) = (None, 0u64, None);
        for kv in ranges.chunks(2) {
            let (k, v) = (&scratch[kv[0].clone()], &scratch[kv[1].clone()]);
            if k.eq_ignore_ascii_case(b"file") {
                if v.contains(&b'/') || v.contains(&b'\\') {
                    return Err(manifest_error(at, "File can't be a path, just a filename"));
                }
                name = Some(String::from_utf8_lossy(v).into_owned());
            } else if k.eq_ignore_ascii_case(b"seq") {
                // As atoll: the leading digits, 0 (refused below) when there are none.
                let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
                seq = std::str::from_utf8(&v[..digits])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
            } else if k.eq_ignore_ascii_case(b"type") {
                kind = v.first().map(|&b| b as char);
            }
        }
        let (Some(name), Some(kind)) = (name, kind) else {
            return Err(manifest_error(at, "Invalid AOF manifest file format"));
        };
        if seq == 0 {
            return Err(manifest_error(at, "Invalid AOF manifest file format"));
        }
        match kind {
            'b' if parts.iter().any(|p: &Part| p.kind == 'b') => {
                return Err(manifest_error(at, "Found duplicate base file information"))
            }
            'i' if seq <= last_incr => {
                return Err(manifest_error(at, "Found a non-monotonic sequence number"))
            }
            'i' => last_incr = seq,
            'b' | 'h' => {}
            _ => return Err(manifest_error(at, "Unknown AOF file type")),
        }
        parts.push(Part { name, seq, kind });
    }
    Ok(parts)
}

/// A manifest's fault as Redis reports it: the banner, where (when a line was read) and why.
fn manifest_error(at: Option<(usize, &[u8])>, why: &str) -> String {
    let mut s = String::from("\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
    if let Some((n, line)) = at {
        s += &format!(
            "Reading the manifest file, at line {n}\n>>> '{}'\n",
            String::from_utf8_lossy(line)
        );
    }
    s + why
}

/// The manifest's text: the base, then history, then incremental files, each name quoted when
/// it holds spaces, quotes or unprintable bytes (as Redis writes it).
fn format_manifest(parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for kind in ['b', 'h', 'i'] {
        for p in parts.iter().filter(|p| p.kind == kind) {
            out.extend_from_slice(b"file ");
            let name = p.name.as_bytes();
            if crate::protocol::parser::needs_repr(name) {
                crate::protocol::parser::repr(name, &mut out);
            } else {
                out.extend_from_slice(name);
            }
            out.extend_from_slice(format!(" seq {} type {}\n", p.seq, p.kind).as_bytes());
        }
    }
    out
}

/// Writes a file whole and durably: a temp file, fsynced, renamed, the directory fsynced.
fn write_durably(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("temp-{name}"));
    let mut f = File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

/// What a load found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub keys_from_base: u64,
    pub commands: u64,
}

/// Loads the AOF directory, if its manifest exists (Ok(None) if not): the base, then every
/// incremental file in order. A last file cut short loads up to its last whole command (and
/// is truncated there) when `aof-load-truncated` allows, else the load fails.
pub fn load(server: &Server, now_ms: u64) -> Result<Option<Loaded>, String> {
    upgrade_old_file(server)?;
    let d = dir(server);
    let path = d.join(manifest_name(server));
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "Fatal error: can't open the AOF manifest file {} for reading: {e}",
                path.display()
            ))
        }
    };
    let parts = parse_manifest(&text)?;
    let files: Vec<&Part> = parts
        .iter()
        .filter(|p| p.kind == 'b')
        .chain(parts.iter().filter(|p| p.kind == 'i'))
        .collect();
    let mut loaded = Loaded::default();
    let lim = *server.config.derived.limits.read();
    let mut total = 0;
    for p in &files {
        let m = std::fs::metadata(d.join(&p.name))
            .map_err(|e| format!("Unable to obtain the AOF file {} length. stat: {e}", p.name))?;
        total += m.len();
    }
    server.loading.total.store(total, Ordering::Relaxed);
    let mut progress = super::Progress::new(server);
    struct Replaying;
    impl Drop for Replaying {
        fn drop(&mut self) {
            crate::engine::expiry::set_loading(false);
        }
    }
    crate::engine::expiry::set_loading(true);
    let _replaying = Replaying;
    for (i, p) in files.iter().enumerate() {
        let path = d.join(&p.name);
        let data =
            std::fs::read(&path).map_err(|e| format!("Can't read the AOF file {}: {e}", p.name))?;
        let last = i + 1 == files.len();
        // An RDB preamble (a base, or an old single-file AOF) may have commands after it.
        let mut commands_at = 0;
        if data.starts_with(b"REDIS") {
            let l = super::rdb::file::load_with(
                &data,
                &server.keyspace,
                &lim,
                now_ms,
                true,
                &mut |at| progress.at(at),
            )
            .map_err(|e| format!("{e} in {}", p.name))?;
            crate::scripting::load_from_rdb(
                server,
                &l.functions,
                crate::scripting::Restore::Flush,
            )?;
            loaded.keys_from_base += l.keys;
            commands_at = l.end;
        }
        if commands_at < data.len() {
            loaded.commands += replay(server, &data, commands_at, &path, last, &mut progress)?;
        }
        progress.base += data.len() as u64;
    }
    let base = files.first().filter(|p| p.kind == 'b');
    if let Some(b) = base {
        let size = std::fs::metadata(d.join(&b.name)).map_or(0, |m| m.len());
        server.aof.base_size.store(size, Ordering::Relaxed);
    }
    Ok(Some(loaded))
}

/// Moves a single-file AOF of Redis before 7 (`dir`/`appendfilename`) into the AOF directory as
/// its base, when the directory does not already hold this AOF: no directory, a manifest
/// naming no base and no incremental file, or a move that was cut short (the manifest names
/// the old file as base, which is not in the directory yet). A copy already in the directory
/// wins, and the old file is left alone.
fn upgrade_old_file(server: &Server) -> Result<(), String> {
    let name = server.config.appendfilename.get();
    let old = PathBuf::from(server.config.dir.get()).join(&name);
    if !old.is_file() {
        return Ok(());
    }
    let d = dir(server);
    let mut parts = if d.is_dir() {
        read_manifest(server).map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    let base = parts.iter().find(|p| p.kind == 'b');
    let has_incr = parts.iter().any(|p| p.kind == 'i');
    let due = !d.is_dir()
        || (base.is_none() && !has_incr)
        || (!has_incr && base.is_some_and(|b| b.name == name) && !d.join(&name).exists());
    if !due {
        return Ok(());
    }
    std::fs::create_dir_all(&d)
        .map_err(|e| format!("Can't open or create append-only dir {}: {e}", d.display()))?;
    parts.retain(|p| p.kind != 'b');
    parts.insert(
        0,
        Part {
            name: name.clone(),
            seq: 1,
            kind: 'b',
        },
    );
    persist_manifest(server, &parts).map_err(|e| format!("Can't write the AOF manifest: {e}"))?;
    std::fs::rename(&old, d.join(&name))
        .and_then(|_| File::open(&d)?.sync_all())
        .map_err(|e| {
            format!(
                "Error trying to move the old AOF file {name} into dir {}: {e}",
                d.display()
            )
        })?;
    tracing::info!(
        "Successfully migrated an old-style AOF file ({name}) into the AOF directory ({}).",
        d.display()
    );
    Ok(())
}

/// Runs the commands of one file, as the primary's stream is run on a replica.
fn replay(
    server: &Server,
    data: &[u8],
    start: usize,
    path: &Path,
    last: bool,
    progress: &mut super::Progress,
) -> Result<u64, String> {
    use crate::protocol::parser::{Parsed, Parser};
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut parser = Parser::new(Default::default());
    let mut client = crate::replication::replica::master_client(server);
    let mut out = crate::protocol::reply::Reply::new();
    let (mut pos, mut n) = (start, 0u64);
    // Where the last MULTI began: a transaction cut short is dropped from there.
    let mut multi_at = start;
    while pos < data.len() {
        // An annotation (`#TS:<unix time>`, aof-timestamp-enabled) is not a command.
        if data[pos] == b'#' {
            match data[pos..].iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    pos += nl + 1;
                    continue;
                }
                None => break,
            }
        }
        // Every command in the file is a RESP array (no inline commands).
        if data[pos] != b'*' {
            return Err(format!(
                "Bad file format reading the append only file {name} (offset {pos})"
            ));
        }
        let (end, source) = match parser.parse(data, pos) {
            Ok(Parsed::Request { end, source }) => (end, source),
            Ok(Parsed::Empty { end }) => {
                pos = end;
                continue;
            }
            Ok(Parsed::Incomplete) => break,
            Err(e) => {
                return Err(format!(
                    "Bad file format reading the append only file {name} at offset {pos}: {}",
                    e.0
                ))
            }
        };
        let argv: Vec<&[u8]> = parser.argv(data, source).collect();
        let known = argv.first().is_some_and(|a| {
            let lower = a.to_ascii_lowercase();
            server.commands.lookup(&lower).is_some()
        });
        if !known {
            return Err(format!(
                "Unknown command '{}' reading the append only file {name}",
                String::from_utf8_lossy(argv.first().copied().unwrap_or_default())
            ));
        }
        if argv
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case(b"multi"))
        {
            multi_at = pos;
        }
        let mut ctx = crate::command::Ctx {
            server,
            client: &mut client,
            out: &mut out,
            now: crate::engine::now_ms(),
            started: crate::engine::mono_us(),
        };
        crate::command::execute_unrecorded(&mut ctx, &argv);
        out.buf.clear();
        n += 1;
        pos = end;
        progress.at(pos);
    }
    // A transaction left open at the end was never acknowledged: it is not applied.
    if client.multi.is_some() {
        tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
        pos = multi_at;
    }
    if pos < data.len() {
        if !last && server.config.aof_load_truncated.get() {
            return Err("Fatal error: the truncated file is not the last file".into());
        }
        if !last || !server.config.aof_load_truncated.get() {
            return Err(format!(
                "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
            ));
        }
        tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
        tracing::warn!(
            "!!! Truncating the AOF {name} at offset {pos} ({} bytes dropped) !!!",
            data.len() - pos
        );
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("Can't truncate {name}: {e}"))?;
        f.set_len(pos as u64)
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("Can't truncate {name}: {e}"))?;
        tracing::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
    }
    Ok(n)
}

/// Starts writing the AOF at startup, after loading: the incremental file the manifest names
/// last is appended to; with no manifest, a base is written from the dataset as it is now
/// (empty: with the AOF on nothing else was loaded), a first incremental file is created, and
/// the manifest names both. From here on the journal records every write for it.
pub fn start(server: &Server, now_ms: u64) -> io::Result<()> {
    let d = dir(server);
    std::fs::create_dir_all(&d)?;
    let mut parts = read_manifest(server)?;
    let incr = match parts.iter().filter(|p| p.kind == 'i').max_by_key(|p| p.seq) {
        Some(i) => {
            tracing::info!("Opening AOF incr file {} on server start", i.name);
            i.name.clone()
        }
        None => {
            if !parts.iter().any(|p| p.kind == 'b') {
                let seq = 1;
                let (rdb, encode) = base_format(server);
                let base = base_name(server, seq, rdb);
                tracing::info!("Creating AOF base file {base} on server start");
                let begun = server.keyspace.begin_snapshot(encode, now_ms, rdb);
                write_base(server, &begun, &base, rdb, &Default::default())?;
                parts.push(Part {
                    name: base,
                    seq,
                    kind: 'b',
                });
            }
            // A base without incremental files (a fresh one, or an old single-file AOF
            // moved in): the first one is created.
            let incr = incr_name(server, 1);
            tracing::info!("Creating AOF incr file {incr} on server start");
            write_durably(&d, &incr, b"")?;
            parts.push(Part {
                name: incr.clone(),
                seq: 1,
                kind: 'i',
            });
            persist_manifest(server, &parts)?;
            incr
        }
    };
    open_incr(server, &incr, parts, Vec::new(), now_ms)?;
    Ok(())
}

fn base_name(server: &Server, seq: u64, rdb: bool) -> String {
    let kind = if rdb { "rdb" } else { "aof" };
    format!("{}.{seq}.base.{kind}", server.config.appendfilename.get())
}

fn incr_name(server: &Server, seq: u64) -> String {
    format!("{}.{seq}.incr.aof", server.config.appendfilename.get())
}

/// The manifest on disk (empty if there is none).
fn read_manifest(server: &Server) -> io::Result<Vec<Part>> {
    match std::fs::read(dir(server).join(manifest_name(server))) {
        Ok(t) => parse_manifest(&t).map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn persist_manifest(server: &Server, parts: &[Part]) -> io::Result<()> {
    write_durably(
        &dir(server),
        &manifest_name(server),
        &format_manifest(parts),
    )
}

/// Makes `incr` the file written to, with `parts` the manifest in force and `stale` the
/// files of an older AOF to delete once a rewrite has replaced them; turns writing on.
fn open_incr(
    server: &Server,
    incr: &str,
    parts: Vec<Part>,
    stale: Vec<String>,
    now_ms: u64,
) -> io::Result<()> {
    let d = dir(server);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.join(incr))?;
    let sizes: u64 = parts
        .iter()
        .filter_map(|p| std::fs::metadata(d.join(&p.name)).ok())
        .map(|m| m.len())
        .sum();
    let aof = &server.aof;
    aof.size.store(sizes, Ordering::Relaxed);
    *aof.manifest.lock() = Manifest { parts, stale };
    let mut w = aof.writer.lock();
    let first = w.is_none();
    *w = Some(Writer {
        file,
        unsynced: false,
        last_sync_ms: now_ms,
        stamped: 0,
    });
    drop(w);
    if first {
        server.journal.record_for(aof.feed.clone());
        ON.store(true, Ordering::Relaxed);
        let me = server.arc();
        std::thread::Builder::new()
            .name("aof".into())
            .spawn(move || syncer(&me))?;
    }
    Ok(())
}

/// Writes a base file of the begun snapshot into the AOF directory (an RDB, or commands when
/// `rdb` is false): a temp file, fsynced, renamed.
fn write_base(
    server: &Server,
    begun: &crate::engine::snapshot::Begun,
    name: &str,
    rdb: bool,
    pace: &super::rdb::file::Pace,
) -> io::Result<u64> {
    use super::snapshot::Body;
    let d = dir(server);
    let tmp = d.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let aux = super::snapshot::aux(begun.now, None, true);
    let stamp = server
        .config
        .aof_timestamp_enabled
        .get()
        .then_some(begun.now / 1000);
    let body = if rdb {
        Body::Rdb(&aux)
    } else {
        Body::Commands(stamp)
    };
    let incremental = server.config.aof_rewrite_incremental_fsync.get();
    super::snapshot::write_durably(server, begun, &d.join(name), &tmp, body, pace, incremental)
        .map(|(_, size)| size)
}

/// Whether a new base is an RDB (`aof-use-rdb-preamble`), and the encoder its snapshot takes.
pub(super) fn base_format(server: &Server) -> (bool, crate::engine::snapshot::Encode) {
    if server.config.aof_use_rdb_preamble.get() {
        (true, super::rdb::file::encode_entry)
    } else {
        (false, super::aof_commands::encode_entry)
    }
}

/// Rewrite bookkeeping (INFO aof_rewrite_*).
#[derive(Debug, Default)]
pub struct Rewrites {
    pub scheduled: AtomicBool,
    pub in_progress: AtomicBool,
    pub count: AtomicU64,
    pub failures_in_a_row: AtomicU64,
    pub last_failed: AtomicBool,
    /// Seconds the last one took (-1 none), and when the running one began (ms).
    pub last_secs: std::sync::atomic::AtomicI64,
    pub started_ms: AtomicU64,
    /// aof_current_size after the last rewrite: auto-aof-rewrite-percentage grows from it.
    pub base_size: AtomicU64,
    /// Holds back rewrites that keep failing (a full disk would be written every tick).
    pub limit: parking_lot::Mutex<Limit>,
}

/// After `FAILURES_BEFORE_LIMIT` rewrites failed in a row, the cron's rewrites (automatic or
/// scheduled; not BGREWRITEAOF) wait 1 minute, then 2, 4, ... up to an hour between tries, as
/// Redis holds them back.
#[derive(Debug, Default)]
pub struct Limit {
    delay_min: u64,
    until_secs: u64,
}

const FAILURES_BEFORE_LIMIT: u64 = 3;

impl Limit {
    /// Whether a rewrite must wait now, after `failures` in a row; logs each new wait.
    pub fn holds(&mut self, failures: u64, now_secs: u64) -> bool {
        if failures < FAILURES_BEFORE_LIMIT {
            *self = Limit::default();
            return false;
        }
        if self.until_secs != 0 {
            if now_secs < self.until_secs {
                return true;
            }
            self.until_secs = 0;
            return false;
        }
        self.delay_min = (self.delay_min * 2).clamp(1, 60);
        self.until_secs = now_secs + self.delay_min * 60;
        tracing::warn!(
            "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
            self.delay_min
        );
        true
    }
}

/// Why BGREWRITEAOF did not start at once.
#[derive(Debug, PartialEq, Eq)]
pub enum NotNow {
    AlreadyRunning,
    /// A background save runs: the rewrite starts after it.
    Scheduled,
}

/// Begins a rewrite (BGREWRITEAOF, CONFIG SET appendonly yes, the automatic trigger): the
/// writes from now on go to a new incremental file (named in the manifest at once, so that a
/// crash meanwhile loses nothing), and a background snapshot becomes the new base; when it is
/// written the manifest names the new base and the new incremental file only, and the older
/// files are deleted. With the AOF off, the rewrite writes a base and a manifest naming it.
/// Call between commands.
pub fn rewrite(server: &Server, now_ms: u64) -> Result<(), NotNow> {
    let rw = &server.aof.rewrites;
    if rw.in_progress.load(Ordering::Relaxed) {
        return Err(NotNow::AlreadyRunning);
    }
    if server.snapshots.in_progress() {
        rw.scheduled.store(true, Ordering::Relaxed);
        return Err(NotNow::Scheduled);
    }
    match next_incr(server) {
        Ok((base, incr)) => rewrite_from(server, now_ms, base, incr),
        Err(e) => {
            rw.scheduled.store(false, Ordering::Relaxed);
            rewrite_finished(server, Err(e), 0);
            Ok(())
        }
    }
}

/// The next base's and incremental file's sequence numbers; with the AOF on, what was
/// recorded so far ends the current incremental file and the writes go to the new one,
/// named in the manifest.
fn next_incr(server: &Server) -> io::Result<(u64, u64)> {
    let d = dir(server);
    std::fs::create_dir_all(&d)?;
    let on_disk = read_manifest(server)?;
    // Held until the new file is in place: nothing is recorded in between, and the new
    // file starts with a SELECT.
    let mut stream = server.journal.lock();
    if on() {
        write_pending(server, fsync() != Fsync::No);
    }
    let mut m = server.aof.manifest.lock();
    let (base, seq) = next_seqs(m.parts.iter().chain(on_disk.iter()));
    if !on() {
        m.stale = on_disk.into_iter().map(|p| p.name).collect();
        m.parts.clear();
        return Ok((base, seq));
    }
    let incr = incr_name(server, seq);
    File::create(d.join(&incr))?.sync_all()?;
    let mut parts = m.parts.clone();
    parts.push(Part {
        name: incr.clone(),
        seq,
        kind: 'i',
    });
    // An AOF turned on at run time has no manifest until its first base is written.
    if parts.iter().any(|p| p.kind == 'b') {
        persist_manifest(server, &parts)?;
    }
    m.parts = parts;
    let file = OpenOptions::new().append(true).open(d.join(&incr))?;
    if let Some(w) = server.aof.writer.lock().as_mut() {
        // (The old file's writes were synced above, as the policy asks.)
        w.file = file;
        w.unsynced = false;
    }
    stream.reselect();
    Ok((base, seq))
}

/// The sequence numbers of the next base and the next incremental file: each one more than
/// the last of its kind (history files do not count), as Redis numbers them.
fn next_seqs<'a>(parts: impl Iterator<Item = &'a Part>) -> (u64, u64) {
    let (mut base, mut incr) = (0, 0);
    for p in parts {
        match p.kind {
            'b' => base = base.max(p.seq),
            'i' => incr = incr.max(p.seq),
            _ => {}
        }
    }
    (base + 1, incr + 1)
}

/// The rewrite's snapshot thread: writes the base of sequence `seq`, then the manifest, which
/// keeps the incremental files from `incr_from` on (those written since the rewrite began).
pub(super) fn write_rewrite_base(
    server: &Server,
    begun: &crate::engine::snapshot::Begun,
    seq: u64,
    incr_from: u64,
    rdb: bool,
    pace: &super::rdb::file::Pace,
) -> io::Result<()> {
    let base = base_name(server, seq, rdb);
    let size = write_base(server, begun, &base, rdb, pace)?;
    let d = dir(server);
    let mut m = server.aof.manifest.lock();
    let mut parts = vec![Part {
        name: base,
        seq,
        kind: 'b',
    }];
    let incrs: Vec<Part> = m
        .parts
        .iter()
        .filter(|p| p.kind == 'i' && p.seq >= incr_from)
        .cloned()
        .collect();
    // The files the new manifest no longer reads (the old base and incremental files):
    // deleted, or with aof-disable-auto-gc kept and named as history, newest first as Redis
    // lists them (the incremental files, the base they followed, then older history).
    let stale = std::mem::take(&mut m.stale);
    let (parts_now, kept) = (&m.parts, &incrs);
    let of = |kind: char| {
        parts_now
            .iter()
            .filter(move |p| p.kind == kind && !kept.iter().any(|i| i.name == p.name))
            .cloned()
    };
    let old: Vec<Part> = of('i')
        .chain(of('b'))
        .chain(of('h'))
        .chain(stale.into_iter().map(|name| Part {
            name,
            seq: 0,
            kind: 'h',
        }))
        .collect();
    let keep = server.config.aof_disable_auto_gc.get();
    if keep {
        parts.extend(old.iter().map(|p| Part {
            kind: 'h',
            ..p.clone()
        }));
    }
    parts.extend(incrs);
    persist_manifest(server, &parts)?;
    if !keep {
        for p in old {
            let _ = std::fs::remove_file(d.join(p.name));
        }
    }
    let sizes: u64 = parts
        .iter()
        .filter_map(|p| std::fs::metadata(d.join(&p.name)).ok())
        .map(|m| m.len())
        .sum();
    m.parts = parts;
    drop(m);
    server.aof.base_size.store(size, Ordering::Relaxed);
    server.aof.size.store(sizes, Ordering::Relaxed);
    server
        .aof
        .rewrites
        .base_size
        .store(sizes, Ordering::Relaxed);
    Ok(())
}

/// Deletes the history files the manifest names, and names them no more (aof-disable-auto-gc
/// turned off).
pub fn delete_history(server: &Server) {
    let mut m = server.aof.manifest.lock();
    if !m.parts.iter().any(|p| p.kind == 'h') {
        return;
    }
    let d = dir(server);
    for p in m.parts.iter().filter(|p| p.kind == 'h') {
        tracing::info!("Removing the history file {} in the background", p.name);
        let _ = std::fs::remove_file(d.join(&p.name));
    }
    m.parts.retain(|p| p.kind != 'h');
    if let Err(e) = persist_manifest(server, &m.parts) {
        tracing::warn!("Can't write the AOF manifest: {e}");
    }
}

/// A rewrite ended (on the snapshot's thread).
pub(super) fn rewrite_finished(server: &Server, result: io::Result<()>, started_ms: u64) {
    let rw = &server.aof.rewrites;
    let now = crate::engine::now_ms();
    if started_ms > 0 {
        rw.last_secs.store(
            (now.saturating_sub(started_ms) / 1000) as i64,
            Ordering::Relaxed,
        );
    }
    match result {
        Ok(()) => {
            rw.count.fetch_add(1, Ordering::Relaxed);
            rw.failures_in_a_row.store(0, Ordering::Relaxed);
            rw.last_failed.store(false, Ordering::Relaxed);
            server.aof.initial.store(false, Ordering::Relaxed);
            tracing::info!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            rw.failures_in_a_row.fetch_add(1, Ordering::Relaxed);
            rw.last_failed.store(true, Ordering::Relaxed);
            tracing::warn!("Background AOF rewrite failed: {e}");
        }
    }
    rw.in_progress.store(false, Ordering::Relaxed);
}

/// CONFIG SET appendonly: off at once; on between two commands with no background save
/// running (the persistence cron calls [`switch`]), so that the new base and the first
/// incremental file meet at one point of the stream.
pub fn config_changed(server: &Server) {
    let want = server.config.appendonly.get() == "yes";
    server
        .aof
        .enable_requested
        .store(want && !on(), Ordering::Relaxed);
    if !want && on() {
        stop(server);
    }
}

/// The AOF was turned on at run time and its first base is not written yet.
pub fn initial_rewrite_running(server: &Server) -> bool {
    server.aof.enable_requested.load(Ordering::Relaxed)
        || server.aof.initial.load(Ordering::Relaxed)
}

/// Turning the AOF on waits for this (see `config_changed`).
pub fn enable_due(server: &Server) -> bool {
    server.aof.enable_requested.load(Ordering::Relaxed) && !server.snapshots.in_progress()
}

/// Turns the AOF on or off at run time (a new incremental file, then a
/// rewrite writes its base; as Redis does) or off (what is pending is written and synced
/// first). Call between commands.
pub fn switch(server: &Server, on_now: bool, now_ms: u64) -> io::Result<()> {
    server.aof.enable_requested.store(false, Ordering::Relaxed);
    if on_now == on() {
        return Ok(());
    }
    if on_now {
        let d = dir(server);
        std::fs::create_dir_all(&d)?;
        let old = read_manifest(server)?;
        let (base, seq) = next_seqs(old.iter());
        let incr = incr_name(server, seq);
        File::create(d.join(&incr))?;
        let parts = vec![Part {
            name: incr.clone(),
            seq,
            kind: 'i',
        }];
        open_incr(
            server,
            &incr,
            parts,
            old.into_iter().map(|p| p.name).collect(),
            now_ms,
        )?;
        // The base follows from a rewrite, now or after a running save.
        server.aof.initial.store(true, Ordering::Relaxed);
        let _ = rewrite_from(server, now_ms, base, seq);
    } else {
        stop(server);
    }
    Ok(())
}

/// Turns the AOF off: a rewrite stops, what is pending is written and synced, and nothing
/// more is recorded for it.
fn stop(server: &Server) {
    if server.aof.rewrites.in_progress.load(Ordering::Relaxed) {
        super::snapshot::stop_background(server);
    }
    write_pending(server, true);
    server.journal.lock().unsubscribe(&server.aof.feed);
    server.aof.initial.store(false, Ordering::Relaxed);
    ON.store(false, Ordering::Relaxed);
    *server.aof.writer.lock() = None;
}

/// A rewrite writing base `seq` whose new incremental file (`incr_from`) is already open.
fn rewrite_from(server: &Server, now_ms: u64, seq: u64, incr_from: u64) -> Result<(), NotNow> {
    let rw = &server.aof.rewrites;
    if server.snapshots.in_progress() || rw.in_progress.load(Ordering::Relaxed) {
        rw.scheduled.store(true, Ordering::Relaxed);
        return Err(NotNow::Scheduled);
    }
    rw.scheduled.store(false, Ordering::Relaxed);
    rw.in_progress.store(true, Ordering::Relaxed);
    rw.started_ms.store(now_ms, Ordering::Relaxed);
    tracing::info!("Background append only file rewriting started");
    let job = super::snapshot::Job::AofBase {
        seq,
        incr_from,
        rdb: base_format(server).0,
    };
    if super::snapshot::begin_background(server, now_ms, job).is_err() {
        rw.in_progress.store(false, Ordering::Relaxed);
        rw.scheduled.store(true, Ordering::Relaxed);
        return Err(NotNow::Scheduled);
    }
    Ok(())
}

/// Checked between commands a few times a second: a rewrite that was scheduled, or that
/// `auto-aof-rewrite-percentage` calls for (the AOF grew that much since the last rewrite and
/// is past `auto-aof-rewrite-min-size`).
pub fn rewrite_due(server: &Server) -> bool {
    let rw = &server.aof.rewrites;
    if rw.in_progress.load(Ordering::Relaxed) || server.snapshots.in_progress() {
        return false;
    }
    let limited = || {
        let failures = rw.failures_in_a_row.load(Ordering::Relaxed);
        rw.limit
            .lock()
            .holds(failures, crate::engine::now_ms() / 1000)
    };
    if rw.scheduled.load(Ordering::Relaxed) {
        return !limited();
    }
    let cfg = &*server.config;
    let perc = cfg.auto_aof_rewrite_percentage.u();
    if !on() || perc == 0 {
        return false;
    }
    let size = server.aof.size.load(Ordering::Relaxed);
    let base = rw.base_size.load(Ordering::Relaxed).max(1);
    size > cfg.auto_aof_rewrite_min_size.u()
        && (size.saturating_sub(base)) * 100 / base >= perc
        && !limited()
}

/// Writes what the journal recorded since the last call, and with `appendfsync always`
/// syncs it, before replies leave: nothing is acknowledged that is not in the file (and on
/// disk, with `always`). Cheap when the AOF is off or nothing was written.
#[inline]
pub fn before_replies(server: &Server) {
    if on() {
        write_pending(server, fsync() == Fsync::Always && !sync_held(server));
    }
}

/// no-appendfsync-on-rewrite: while a snapshot or rewrite is being written, the AOF is
/// written but not synced (the configuration accepts losing what the kernel holds then, to
/// spare the disk two writers at once).
fn sync_held(server: &Server) -> bool {
    server.config.no_appendfsync_on_rewrite.get() && server.snapshots.in_progress()
}

/// Microseconds each write of the AOF waits first (DEBUG AOF-FLUSH-SLEEP; 0: none).
pub static FLUSH_SLEEP_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn write_pending(server: &Server, sync: bool) {
    let aof = &server.aof;
    let mut w = aof.writer.lock();
    let Some(w) = w.as_mut() else {
        return;
    };
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        aof.feed.take(&mut b);
        if !b.is_empty() {
            // DEBUG AOF-FLUSH-SLEEP: tests widen the window between a reply's command and
            // its write, to see that the reply still waits for it.
            let nap = FLUSH_SLEEP_US.load(Ordering::Relaxed);
            if nap > 0 {
                std::thread::sleep(std::time::Duration::from_micros(nap));
            }
            // aof-timestamp-enabled: the time, once per second that has writes.
            let stamp = server.config.aof_timestamp_enabled.get().then(|| {
                let secs = crate::engine::now_ms() / 1000;
                (std::mem::replace(&mut w.stamped, secs) != secs).then(|| format!("#TS:{secs}\r\n"))
            });
            let written = match stamp.flatten() {
                Some(ts) => w.file.write_all(ts.as_bytes()).map(|_| ts.len()),
                None => Ok(0),
            };
            match written.and_then(|n| w.file.write_all(&b).map(|_| n)) {
                Ok(n) => {
                    w.unsynced = true;
                    aof.size.fetch_add((n + b.len()) as u64, Ordering::Relaxed);
                    if aof.write_failed.swap(false, Ordering::Relaxed) {
                        tracing::warn!("AOF write error looks solved, Redis can write again.");
                    }
                }
                Err(e) => fail(aof, &e),
            }
        }
    });
    if sync && w.unsynced {
        match w.file.sync_data() {
            Ok(()) => {
                w.unsynced = false;
                w.last_sync_ms = crate::engine::now_ms();
            }
            Err(e) => fail(aof, &e),
        }
    }
}

fn fail(aof: &Aof, e: &io::Error) {
    if !aof.write_failed.swap(true, Ordering::Relaxed) {
        tracing::warn!("Error writing to the AOF file: {e}");
    }
    *aof.last_error.lock() = e.to_string();
}

/// The AOF thread: writes what commands recorded when no reply did (the active expiry
/// cycle's deletions), and with `everysec` syncs once a second.
fn syncer(server: &Server) {
    while on() && !server.shutting_down() {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = crate::engine::now_ms();
        let due = {
            let w = server.aof.writer.lock();
            w.as_ref()
                .is_some_and(|w| now.saturating_sub(w.last_sync_ms) >= 1000)
        };
        let policy = fsync();
        write_pending(
            server,
            (policy == Fsync::Always || (policy == Fsync::EverySec && due)) && !sync_held(server),
        );
    }
    // The last words before exit.
    write_pending(server, fsync() != Fsync::No);
}

/// Writes and syncs everything pending (at shutdown).
pub fn flush_all(server: &Server) {
    if on() {
        write_pending(server, true);
    }
}

/// Writes refused because the AOF cannot be written, as Redis refuses them.
pub fn refusal(server: &Server) -> Option<String> {
    (on() && server.aof.write_failed.load(Ordering::Relaxed)).then(|| {
        format!(
            "MISCONF Errors writing to the AOF file: {}",
            server.aof.last_error.lock()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_that_keep_failing_are_held_back() {
        let mut l = Limit::default();
        assert!(!l.holds(2, 1000));
        // The third failure in a row: a minute, then retried once, then 2, 4, ... 60 minutes.
        assert!(l.holds(3, 1000));
        assert!(l.holds(3, 1059));
        assert!(!l.holds(3, 1060));
        assert!(l.holds(4, 1061));
        assert!(l.holds(4, 1061 + 119));
        assert!(!l.holds(4, 1061 + 120));
        for _ in 0..10 {
            l.holds(5, 0);
            l.until_secs = 0;
        }
        assert_eq!(l.delay_min, 60);
        // A success resets it.
        assert!(!l.holds(0, 5000));
        assert!(l.holds(3, 5000));
        assert_eq!(l.delay_min, 1);
    }

    #[test]
    fn manifests_round_trip_and_bad_ones_are_refused() {
        let text = b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";
        let parts = parse_manifest(text).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].kind, 'i');
        assert_eq!(format_manifest(&parts), text);
        // Keys in any case and order, unknown keys ignored, comments skipped, gaps allowed.
        let parts =
            parse_manifest(b"# note\nSEQ 3 TYPE i File a new v\nfile b seq 1 type b\n").unwrap();
        assert_eq!(
            (parts[0].name.as_str(), parts[0].seq, parts[1].kind),
            ("a", 3, 'b')
        );
        // Names with spaces, quotes and newlines are quoted, and read back.
        let odd = Part {
            name: " file seq \n\n.aof .2.base.rdb".into(),
            seq: 2,
            kind: 'b',
        };
        let text = format_manifest(std::slice::from_ref(&odd));
        assert_eq!(
            text,
            b"file \" file seq \\n\\n.aof .2.base.rdb\" seq 2 type b\n"
        );
        assert_eq!(parse_manifest(&text).unwrap(), vec![odd]);
        let refused = [
            (&b""[..], "Found an empty AOF manifest"),
            (b"file x seq 1 type b", "too long line"),
            (
                b"file x seq 1 type b\n\nfile y seq 1 type i\n",
                "Invalid AOF manifest file format",
            ),
            (b"file x type i\n", "Invalid AOF manifest file format"),
            (b"filx x seq 1 type b\n", "Invalid AOF manifest file format"),
            (
                b"file x seq 1 type i new\n",
                "Invalid AOF manifest file format",
            ),
            (b"file x seq z type i\n", "Invalid AOF manifest file format"),
            (
                b"file \"x seq 1 type i\n",
                "Invalid AOF manifest file format",
            ),
            (b"file x seq 1 type z\n", "Unknown AOF file type"),
            (b"file a/x seq 1 type i\n", "File can't be a path"),
            (
                b"file x seq 1 type b\nfile y seq 2 type b\n",
                "Found duplicate base file information",
            ),
            (
                b"file x seq 2 type i\nfile y seq 2 type i\n",
                "Found a non-monotonic sequence number",
            ),
        ];
        for (text, why) in refused {
            let e = parse_manifest(text).unwrap_err();
            assert!(e.contains(why), "{e}");
            assert_eq!(e.matches(why).count(), 1);
        }
        let long = format!("file {} seq 1 type i\n", "x".repeat(1100));
        assert!(parse_manifest(long.as_bytes())
            .unwrap_err()
            .contains("too long line"));
    }
}
