//! Moving values between servers in Redis's serialized form: DUMP and RESTORE. The payload is
//! the RDB encoding of the value (`persistence::rdb`), so it travels between ferrocache and
//! Redis in both directions.

use super::args::{self, is};
use super::keyspec::{KeySpec as K, ACCESS, OW, RO, UPDATE};
use super::table::{CommandSpec as C, DENYOOM, READONLY, WRITE};
use super::{CmdError, CmdResult, Ctx, SYNTAX};
use crate::engine::notify as ev;
use crate::engine::Entry;
use crate::persistence::rdb::{self, RdbError};

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("dump", 2, READONLY, dump).keys(&[K::at(1, RO | ACCESS)])
        .doc("generic", "2.6.0", "key", "Returns a serialized representation of the value stored at a key."),
    C::new("restore", -4, WRITE | DENYOOM, restore).keys(&[K::at(1, OW | UPDATE)])
        .doc("generic", "2.6.0", "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]", "Creates a key from the serialized representation of a value."),
];

/// Module values and zipmaps (Redis 2.x hashes) cannot be restored here.
const UNSUPPORTED: CmdError =
    CmdError::new("ERR Bad data format: module values and zipmaps are not supported");

fn dump(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let Some(e) = shard.read(argv[1], ctx.now, ctx.touch()) else {
        ctx.out.null();
        return Ok(());
    };
    let payload = rdb::dump(&e.value);
    ctx.out.bulk(&payload);
    Ok(())
}

fn restore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (None, None);
    let mut j = 4;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if is(argv[j], "REPLACE") {
            replace = true;
        } else if is(argv[j], "ABSTTL") {
            absttl = true;
        } else if is(argv[j], "IDLETIME") && more && freq.is_none() {
            let n = args::int(argv[j + 1])?;
            if n < 0 {
                return Err(CmdError::new("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(n);
            j += 1;
        } else if is(argv[j], "FREQ") && more && idle.is_none() {
            let n = args::int(argv[j + 1])?;
            if !(0..=255).contains(&n) {
                return Err(CmdError::new(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(n);
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let key = argv[1];
    let now = ctx.now;
    let mut shard = ctx.db().lock_key(key);
    if !replace && shard.get_mut(key, now).is_some() {
        return Err(CmdError::new("BUSYKEY Target key name already exists."));
    }
    let ttl = args::int(argv[2])?;
    if ttl < 0 {
        return Err(CmdError::new("ERR Invalid TTL value, must be >= 0"));
    }
    let body = rdb::verify_dump(argv[3]).ok_or(CmdError::new(
        "ERR DUMP payload version or checksum are wrong",
    ))?;
    let lim = ctx.limits();
    let value = rdb::undump(body, &lim).map_err(|e| match e {
        RdbError::BadFormat => CmdError::new("ERR Bad data format"),
        RdbError::Unsupported => UNSUPPORTED,
    })?;
    let deleted = replace && shard.remove(key).is_some();
    let expire_at = match ttl {
        0 => 0,
        _ if absttl => ttl as u64,
        _ => now.saturating_add(ttl as u64),
    };
    // A TTL already past: the key is not created (but REPLACE has deleted the old one).
    if expire_at != 0 && expire_at <= now {
        if deleted {
            ctx.changed(ev::GENERIC, "del", key);
            ctx.dirty(1);
            ctx.record(&[b"DEL", key]);
        }
        ctx.out.ok();
        return Ok(());
    }
    let mut entry = Entry::new(value);
    entry.expire_at = expire_at;
    // As in Redis, FREQ applies under an LFU policy and IDLETIME under any other.
    if crate::engine::evict::policy().is_lfu() {
        if let Some(f) = freq {
            entry.access = crate::engine::evict::lfu_stamp(f as u8);
        }
    } else if let Some(secs) = idle {
        entry.access = crate::engine::lru_clock().wrapping_sub(secs.min(u32::MAX as i64) as u32);
    }
    shard.insert(key, entry);
    ctx.changed(ev::GENERIC, "restore", key);
    ctx.dirty(1);
    // A relative TTL replays as the absolute time.
    if ttl != 0 && !absttl && ctx.journaling() {
        let at = itoa::Buffer::new().format(expire_at).as_bytes().to_vec();
        let mut args: Vec<&[u8]> = argv.to_vec();
        args[2] = &at;
        args.push(b"ABSTTL");
        ctx.record(&args);
    }
    ctx.out.ok();
    Ok(())
}
