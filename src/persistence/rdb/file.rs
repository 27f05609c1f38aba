//! RDB files: every database, as Redis lays them out (header, auxiliary fields, per database
//! a selector, sizes and the keys with their expire times, then EOF and a CRC-64).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{crc64, read_value, write_keyed, write_len, write_string, RdbError, Reader, VERSION};
use crate::engine::collections::Limits;
use crate::engine::snapshot::{self, Begun};
use crate::engine::{Entry, Keyspace};

mod op {
    pub const FUNCTION2: u8 = 0xf5;
    pub const MODULE_AUX: u8 = 0xf7;
    pub const IDLE: u8 = 0xf8;
    pub const FREQ: u8 = 0xf9;
    pub const AUX: u8 = 0xfa;
    pub const RESIZEDB: u8 = 0xfb;
    pub const EXPIRETIME_MS: u8 = 0xfc;
    pub const EXPIRETIME: u8 = 0xfd;
    pub const SELECTDB: u8 = 0xfe;
    pub const EOF: u8 = 0xff;
}

/// A writer that keeps the running CRC-64 of what went through it (unless `on` is false:
/// `rdbchecksum no`, where the file ends with a zero checksum).
struct Crc<W> {
    inner: W,
    crc: u64,
    on: bool,
}

impl<W: Write> Crc<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        if self.on {
            self.crc = crc64::crc64(self.crc, b);
        }
        self.inner.write_all(b)
    }
}

/// What a save wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct Saved {
    pub keys: u64,
}

/// How a save goes: its progress for INFO, a way to stop it, and `rdb-key-save-delay`
/// (microseconds per key, for tests that need a save to last).
#[derive(Default)]
pub struct Pace<'a> {
    pub processed: Option<&'a AtomicU64>,
    pub abort: Option<&'a AtomicBool>,
    pub key_delay_us: Option<&'a (dyn Fn() -> i64 + Sync)>,
}

/// Keys encoded per visit of a shard: short enough that a command waiting for the shard
/// waits tens of microseconds.
const BUDGET: usize = 256;

/// The snapshot's encoding of one key: its expire time, then its type, name and value.
pub fn encode_entry(key: &[u8], e: &Entry, out: &mut Vec<u8>) {
    if e.expire_at != 0 {
        out.push(op::EXPIRETIME_MS);
        out.extend(e.expire_at.to_le_bytes());
    }
    write_keyed(out, key, &e.value);
}

/// Writes a snapshot that has begun (`Keyspace::begin_snapshot` with `encode_entry`), as
/// of its beginning, while commands go on: the header and `aux` fields, every database
/// that held keys, EOF and the CRC-64 (zero without `checksum`: `rdbchecksum no`). Returns
/// the writer, flushed.
pub fn write<W: Write>(
    ks: &Keyspace,
    begun: &Begun,
    out: W,
    aux: &[(&str, String)],
    functions: &[Vec<u8>],
    checksum: bool,
    pace: &Pace,
) -> io::Result<(W, Saved)> {
    let mut w = Crc {
        inner: out,
        crc: 0,
        on: checksum,
    };
    w.put(format!("REDIS{VERSION:04}").as_bytes())?;
    let mut buf = Vec::new();
    for (k, v) in aux {
        buf.clear();
        buf.push(op::AUX);
        write_string(&mut buf, k.as_bytes());
        write_string(&mut buf, v.as_bytes());
        w.put(&buf)?;
    }
    // The function libraries, by their code, before the keys (as Redis writes them).
    for code in functions {
        buf.clear();
        buf.push(op::FUNCTION2);
        write_string(&mut buf, code);
        w.put(&buf)?;
    }
    let saved = walk(
        ks,
        begun,
        pace,
        &mut |b| w.put(b),
        &|buf, i, (keys, volatile)| {
            buf.push(op::SELECTDB);
            write_len(buf, i as u64);
            buf.push(op::RESIZEDB);
            write_len(buf, keys);
            write_len(buf, volatile);
        },
    )?;
    w.put(&[op::EOF])?;
    let crc = w.crc;
    w.inner.write_all(&crc.to_le_bytes())?;
    w.inner.flush()?;
    Ok((w.inner, saved))
}

/// Writes a begun snapshot as commands (`begin_snapshot` with `aof_commands::encode_entry`):
/// an AOF base without an RDB preamble, starting with a `#TS:` annotation when `timestamp` is
/// given (aof-timestamp-enabled).
pub fn write_commands<W: Write>(
    ks: &Keyspace,
    begun: &Begun,
    mut out: W,
    timestamp: Option<u64>,
    pace: &Pace,
) -> io::Result<(W, Saved)> {
    if let Some(t) = timestamp {
        write!(out, "#TS:{t}\r\n")?;
    }
    let saved = walk(ks, begun, pace, &mut |b| out.write_all(b), &|buf, i, _| {
        crate::persistence::aof_commands::select(buf, i)
    })?;
    out.flush()?;
    Ok((out, saved))
}

/// Writes what opens a database in the file: its number and its sizes (keys, keys with a TTL).
type OpenDb = dyn Fn(&mut Vec<u8>, usize, (u64, u64));

/// The walk both formats share: database by database (`select` opens each one that held
/// keys), shard by shard in small steps, what the shards encoded handed to `put`.
fn walk(
    ks: &Keyspace,
    begun: &Begun,
    pace: &Pace,
    put: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    select: &OpenDb,
) -> io::Result<Saved> {
    let stop = |why| io::Error::new(io::ErrorKind::Interrupted, why);
    let mut buf = Vec::new();
    let mut saved = Saved::default();
    let mut detached = Vec::new();
    for (i, db) in ks.dbs().iter().enumerate() {
        if begun.sizes[i].0 > 0 {
            buf.clear();
            select(&mut buf, i, begun.sizes[i]);
            put(&buf)?;
        }
        for s in 0..db.nshards() {
            loop {
                if pace.abort.is_some_and(|a| a.load(Ordering::Relaxed)) {
                    return Err(stop("the save was stopped"));
                }
                let delay = pace.key_delay_us.map_or(0, |d| d()).max(0) as u64;
                buf.clear();
                let budget = if delay > 0 { 1 } else { BUDGET };
                let (mut n, done) = db
                    .lock_shard(s)
                    .snapshot_step(budget, &mut buf, &mut detached);
                for d in detached.drain(..) {
                    n += snapshot::encode_detached(
                        &d,
                        begun.epoch,
                        begun.cutoff,
                        begun.encode,
                        &mut buf,
                    );
                }
                put(&buf)?;
                saved.keys += n;
                if let Some(p) = pace.processed {
                    p.fetch_add(n, Ordering::Relaxed);
                }
                if delay > 0 && n > 0 {
                    // In slices, so that a stop (SHUTDOWN, FLUSHALL) is not kept waiting.
                    let until =
                        std::time::Instant::now() + std::time::Duration::from_micros(delay * n);
                    while std::time::Instant::now() < until
                        && !pace.abort.is_some_and(|a| a.load(Ordering::Relaxed))
                    {
                        std::thread::sleep(
                            (until - std::time::Instant::now())
                                .min(std::time::Duration::from_millis(5)),
                        );
                    }
                }
                if done {
                    break;
                }
            }
        }
    }
    Ok(saved)
}

/// Writes every database at once (the caller keeps commands out meanwhile). Keys expired but
/// not yet reclaimed are written, as Redis writes them (a loading primary skips them).
pub fn save<W: Write>(
    ks: &Keyspace,
    out: W,
    now: u64,
    aux: &[(&str, String)],
    checksum: bool,
) -> io::Result<Saved> {
    let begun = ks.begin_snapshot(encode_entry, now, true);
    write(ks, &begun, out, aux, &[], checksum, &Pace::default()).map(|(_, s)| s)
}

/// What a load found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub keys: u64,
    /// Keys skipped because their expire time had passed.
    pub expired: u64,
    /// Where the RDB ended in the data (an AOF's RDB preamble may have commands after it).
    pub end: usize,
    /// The function libraries' code, for the caller to load.
    pub functions: Vec<Vec<u8>>,
}

/// Loads an RDB file into `ks` (which should be empty; keys already there are replaced).
/// `verify`: check the file's checksum (`rdbchecksum yes`; a zero checksum is never checked).
pub fn load(
    data: &[u8],
    ks: &Keyspace,
    lim: &Limits,
    now: u64,
    verify: bool,
) -> Result<Loaded, String> {
    load_with(data, ks, lim, now, verify, &mut |_| {})
}

/// `load`, calling `progress` with the bytes read so far after each key (INFO loading*,
/// `key-load-delay`).
pub fn load_with(
    data: &[u8],
    ks: &Keyspace,
    lim: &Limits,
    now: u64,
    verify: bool,
    progress: &mut dyn FnMut(usize),
) -> Result<Loaded, String> {
    if data.len() < 9 || &data[..5] != b"REDIS" {
        return Err("Wrong signature trying to load DB from file".into());
    }
    let version: u16 = std::str::from_utf8(&data[5..9])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or("Wrong signature trying to load DB from file")?;
    if version == 0 || version > super::MAX_VERSION {
        return Err(format!("Can't handle RDB format version {version}"));
    }
    let mut r = Reader::new(&data[9..]);
    // Errors name the offset of the record being read.
    let mut at: usize;
    let bad =
        |what: &str, at: usize| format!("Short read or corrupt RDB file ({what} at offset {at})");
    let mut loaded = Loaded::default();
    let mut db = 0usize;
    let mut expire_at = 0u64;
    loop {
        at = 9 + r.pos();
        let t = r.u8().map_err(|_| bad("opcode", at))?;
        match t {
            op::EOF => break,
            op::SELECTDB => {
                db = r.length().map_err(|_| bad("SELECT", at))? as usize;
                if db >= ks.len() {
                    return Err(format!(
                        "FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting",
                        ks.len()
                    ));
                }
            }
            op::RESIZEDB => {
                r.length().map_err(|_| bad("RESIZEDB", at))?;
                r.length().map_err(|_| bad("RESIZEDB", at))?;
            }
            op::AUX => {
                r.string().map_err(|_| bad("AUX", at))?;
                r.string().map_err(|_| bad("AUX", at))?;
            }
            op::EXPIRETIME_MS => {
                let b = r.bytes(8).map_err(|_| bad("expire", at))?;
                expire_at = u64::from_le_bytes(b.try_into().expect("8 bytes"));
            }
            op::EXPIRETIME => {
                let b = r.bytes(4).map_err(|_| bad("expire", at))?;
                expire_at = u32::from_le_bytes(b.try_into().expect("4 bytes")) as u64 * 1000;
            }
            op::IDLE => {
                r.length().map_err(|_| bad("IDLE", at))?;
            }
            op::FREQ => {
                r.u8().map_err(|_| bad("FREQ", at))?;
            }
            op::FUNCTION2 => {
                let code = r.string().map_err(|_| bad("function", at))?;
                loaded.functions.push(code);
            }
            op::MODULE_AUX => {
                return Err("The RDB file holds module data, which is not supported".into())
            }
            _ => {
                let key = r.string().map_err(|_| bad("key", at))?;
                let value = read_value(t, &mut r, lim).map_err(|e| match e {
                    RdbError::BadFormat => bad("value", at),
                    RdbError::Unsupported => format!(
                        "The value at '{}' (RDB type {t}) cannot be loaded yet",
                        String::from_utf8_lossy(&key)
                    ),
                })?;
                let at = std::mem::take(&mut expire_at);
                if at != 0 && at <= now {
                    loaded.expired += 1;
                    continue;
                }
                let mut entry = Entry::new(value);
                entry.expire_at = at;
                let d = ks.db(db);
                d.lock_key(&key).load(&key, entry);
                loaded.keys += 1;
                progress(9 + r.pos());
            }
        }
    }
    let rest = r.rest();
    loaded.end = data.len() - rest.len();
    // Version 5 and later end with a CRC-64 of everything before it; 0 means "not computed".
    if version >= 5 {
        loaded.end += 8;
        let crc = rest
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| bad("checksum", at))?;
        let body = &data[..data.len() - rest.len()];
        if verify && crc != 0 && crc != crc64::crc64(0, body) {
            return Err(format!(
                "RDB CRC error: wrong RDB checksum at offset {}. Aborting now.",
                body.len()
            ));
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Str, Value};

    #[test]
    fn a_keyspace_round_trips() {
        let ks = Keyspace::new(4, 2);
        let lim = Limits::default();
        let now = 1_000_000;
        {
            let db = ks.db(2);
            let mut s = db.lock_key(b"a");
            s.insert(b"a", Entry::new(Value::Str(Str::from_bytes(b"1"))));
            let mut e = Entry::new(Value::Str(Str::from_bytes(b"later")));
            e.expire_at = now + 5000;
            drop(s);
            db.lock_key(b"b").insert(b"b", e);
            let mut gone = Entry::new(Value::Str(Str::from_bytes(b"x")));
            gone.expire_at = now - 1;
            db.lock_key(b"c").insert(b"c", gone);
        }
        let mut file = Vec::new();
        let saved = save(&ks, &mut file, now, &[("redis-ver", "7.2.4".into())], true).unwrap();
        // The expired key not yet reclaimed is written (as Redis writes it); a load skips it.
        assert_eq!(saved.keys, 3);
        // rdbchecksum no: the same bytes, ending with a zero checksum that loads unverified.
        let mut unsummed = Vec::new();
        save(
            &ks,
            &mut unsummed,
            now,
            &[("redis-ver", "7.2.4".into())],
            false,
        )
        .unwrap();
        assert_eq!(unsummed[..unsummed.len() - 8], file[..file.len() - 8]);
        assert_eq!(unsummed[unsummed.len() - 8..], [0; 8]);
        assert_ne!(file[file.len() - 8..], [0; 8]);
        let back = Keyspace::new(4, 2);
        assert_eq!(load(&unsummed, &back, &lim, now, true).unwrap().keys, 2);
        let back = Keyspace::new(4, 2);
        let loaded = load(&file, &back, &lim, now, true).unwrap();
        assert_eq!(
            (loaded.keys, loaded.expired, loaded.end),
            (2, 1, file.len())
        );
        assert_eq!(back.db(2).len(), 2);
        assert_eq!(
            back.db(2).lock_key(b"b").peek(b"b").unwrap().expire_at,
            now + 5000
        );
        // A flipped byte fails the checksum; a short file fails to parse.
        let mut bad = file.clone();
        bad[12] ^= 1;
        assert!(load(&bad, &Keyspace::new(4, 2), &lim, now, true).is_err());
        // A wrong checksum fails only while checksums are checked (rdbchecksum no: not).
        let mut wrong_sum = file.clone();
        *wrong_sum.last_mut().unwrap() ^= 1;
        assert!(load(&wrong_sum, &Keyspace::new(4, 2), &lim, now, true).is_err());
        assert_eq!(
            load(&wrong_sum, &Keyspace::new(4, 2), &lim, now, false)
                .unwrap()
                .keys,
            2
        );
        assert!(load(
            &file[..file.len() - 3],
            &Keyspace::new(4, 2),
            &lim,
            now,
            true
        )
        .is_err());
        // Loading later skips what has expired by then.
        let l = load(&file, &Keyspace::new(4, 2), &lim, now + 10_000, true).unwrap();
        assert_eq!((l.keys, l.expired), (1, 2));
    }
}
