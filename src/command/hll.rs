//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST. The values are strings
//! in Redis's HLL format (see `engine::hll`).

use super::args::is;
use super::keyspec::{KeySpec as K, ACCESS, INSERT, RO, RW};
use super::strings::{as_str, as_str_mut};
use super::table::{CommandSpec as C, ADMIN, DENYOOM, FAST, MAY_REPLICATE, READONLY, WRITE};
use super::{CmdError, CmdResult, Ctx};
use crate::engine::notify as ev;
use crate::engine::{hll, Entry, Shard, Str, Value};

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("pfadd", -2, WRITE | DENYOOM | FAST, pfadd).keys(&[K::at(1, RW | INSERT)])
        .doc("hyperloglog", "2.8.9", "key [element [element ...]]", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist."),
    C::new("pfcount", -2, READONLY | MAY_REPLICATE, pfcount).keys(&[K::rest(1, RW | ACCESS)])
        .doc("hyperloglog", "2.8.9", "key [key ...]", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s)."),
    C::new("pfmerge", -2, WRITE | DENYOOM, pfmerge).keys(&[K::at(1, RW | ACCESS | INSERT), K::rest(2, RO | ACCESS)])
        .doc("hyperloglog", "2.8.9", "destkey [sourcekey [sourcekey ...]]", "Merges one or more HyperLogLog values into a single key."),
    C::new("pfdebug", 3, WRITE | DENYOOM | ADMIN, pfdebug).keys(&[K::at(2, RW | ACCESS)])
        .doc("hyperloglog", "2.8.9", "subcommand key", "Internal commands for debugging HyperLogLog values."),
    C::new("pfselftest", 1, ADMIN, pfselftest)
        .doc("hyperloglog", "2.8.9", "", "An internal command for testing HyperLogLog values."),
];

const NOT_HLL: CmdError = CmdError::new("WRONGTYPE Key is not a valid HyperLogLog string value.");
const CORRUPT: CmdError = CmdError::new("INVALIDOBJ Corrupted HLL object detected");

fn sparse_max(ctx: &Ctx) -> usize {
    ctx.config().hll_sparse_max_bytes.u() as usize
}

/// Takes the HLL bytes out of an entry for in-place work (put them back with `put`).
fn take(e: &mut Entry) -> Result<Vec<u8>, CmdError> {
    let s = as_str_mut(e)?;
    if !s.bytes().is_some_and(hll::valid) {
        return Err(NOT_HLL);
    }
    Ok(std::mem::replace(s, Str::Int(0)).into_vec())
}

fn put(e: &mut Entry, v: Vec<u8>) {
    e.value = Value::Str(Str::from_vec(v, true));
}

/// The HLL at `key` for a write, created empty when missing. Returns (bytes, created).
fn open(shard: &mut Shard, key: &[u8], now: u64) -> Result<(Vec<u8>, bool), CmdError> {
    match shard.get_mut(key, now) {
        Some(e) => Ok((take(e)?, false)),
        None => Ok((hll::new(), true)),
    }
}

fn store(shard: &mut Shard, key: &[u8], now: u64, v: Vec<u8>) {
    match shard.get_mut(key, now) {
        Some(e) => put(e, v),
        None => {
            shard.insert(key, Entry::new(Value::Str(Str::from_vec(v, true))));
        }
    }
}

fn pfadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let max = sparse_max(ctx);
    let mut shard = ctx.db().lock_key(argv[1]);
    let (mut v, created) = open(&mut shard, argv[1], ctx.now)?;
    // Counted as Redis counts it: the creation, and each element that changed a register.
    let mut updated = created as u64;
    let mut result = Ok(());
    for ele in &argv[2..] {
        match hll::add(&mut v, ele, max) {
            Ok(changed) => updated += changed as u64,
            Err(_) => {
                result = Err(CORRUPT);
                break;
            }
        }
    }
    if updated > 0 {
        hll::invalidate_cache(&mut v);
    }
    store(&mut shard, argv[1], ctx.now, v);
    result?;
    if updated > 0 {
        ctx.changed(ev::STRING, "pfadd", argv[1]);
        ctx.dirty(updated);
    }
    ctx.out.int((updated > 0) as i64);
    Ok(())
}

/// The register-wise maximum of the HLLs at `keys` (missing keys count as empty), and whether
/// any of them was dense.
fn merged_registers(ctx: &mut Ctx, keys: &[&[u8]]) -> Result<(Vec<u8>, bool), CmdError> {
    let mut regs = vec![0u8; hll::REGISTERS];
    let mut dense = false;
    for k in keys {
        let mut shard = ctx.db().lock_key(k);
        let touch = ctx.touch();
        let Some(e) = shard.read(k, ctx.now, touch) else {
            continue;
        };
        let s = as_str(e)?;
        let bytes = s.bytes().filter(|b| hll::valid(b)).ok_or(NOT_HLL)?;
        dense |= hll::encoding(bytes) == hll::DENSE;
        hll::merge_into(&mut regs, bytes).map_err(|_| CORRUPT)?;
    }
    Ok((regs, dense))
}

fn pfcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 2 {
        let (regs, _) = merged_registers(ctx, &argv[1..])?;
        ctx.out.int(hll::count_registers(&regs) as i64);
        return Ok(());
    }
    let mut shard = ctx.db().lock_key(argv[1]);
    let touch = ctx.touch();
    let Some(e) = shard.read_mut(argv[1], ctx.now, touch) else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut v = take(e)?;
    // The count is cached in the header, as Redis does (so the value changes).
    let card = match hll::cached(&v) {
        Some(c) => Ok(c),
        None => hll::count(&v)
            .inspect(|c| {
                hll::set_cache(&mut v, *c);
                // The value changed (a replica caches the same count from the same PFCOUNT).
                ctx.touched(argv[1]);
                ctx.dirty(1);
            })
            .map_err(|_| CORRUPT),
    };
    put(e, v);
    ctx.out.int(card? as i64);
    Ok(())
}

fn pfmerge(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (regs, dense) = merged_registers(ctx, &argv[1..])?;
    let max = sparse_max(ctx);
    let mut shard = ctx.db().lock_key(argv[1]);
    let (mut v, _) = open(&mut shard, argv[1], ctx.now)?;
    let mut result = Ok(());
    if dense && hll::to_dense(&mut v).is_err() {
        result = Err(CORRUPT);
    } else {
        for (i, r) in regs.iter().enumerate().filter(|(_, r)| **r > 0) {
            if hll::set_register(&mut v, i, *r, max).is_err() {
                result = Err(CORRUPT);
                break;
            }
        }
        hll::invalidate_cache(&mut v);
    }
    store(&mut shard, argv[1], ctx.now, v);
    result?;
    ctx.changed(ev::STRING, "pfadd", argv[1]);
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

fn pfdebug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sub = String::from_utf8_lossy(argv[1]).into_owned();
    let mut shard = ctx.db().lock_key(argv[2]);
    let Some(e) = shard.get_mut(argv[2], ctx.now) else {
        return Err(CmdError::new("ERR The specified key does not exist"));
    };
    let mut v = take(e)?;
    // A change of encoding counts, so that replicas convert too.
    let sparse = hll::encoding(&v) == hll::SPARSE;
    let result = if is(argv[1], "GETREG") {
        if sparse {
            ctx.dirty(1);
        }
        match hll::to_dense(&mut v) {
            Ok(()) => {
                ctx.out.array(hll::REGISTERS);
                for i in 0..hll::REGISTERS {
                    ctx.out.int(hll::dense_get(&v[hll::HDR..], i) as i64);
                }
                Ok(())
            }
            Err(_) => Err(CORRUPT),
        }
    } else if is(argv[1], "DECODE") {
        if hll::encoding(&v) != hll::SPARSE {
            Err(CmdError::new("ERR HLL encoding is not sparse"))
        } else {
            ctx.out.bulk(hll::decode_sparse(&v).as_bytes());
            Ok(())
        }
    } else if is(argv[1], "ENCODING") {
        ctx.out.simple(if hll::encoding(&v) == hll::DENSE {
            "dense"
        } else {
            "sparse"
        });
        Ok(())
    } else if is(argv[1], "TODENSE") {
        match hll::to_dense(&mut v) {
            Ok(()) => {
                ctx.dirty(sparse as u64);
                ctx.out.int(sparse as i64);
                Ok(())
            }
            Err(_) => Err(CORRUPT),
        }
    } else {
        Err(CmdError::owned(format!(
            "ERR Unknown PFDEBUG subcommand '{sub}'"
        )))
    };
    put(e, v);
    result
}

/// Checks that sparse and dense forms agree on every count, as Redis's self test does.
fn pfselftest(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let mut sparse = hll::new();
    let mut dense = hll::new();
    hll::to_dense(&mut dense).map_err(|_| CORRUPT)?;
    for i in 0..10_000u32 {
        let e = i.to_le_bytes();
        hll::add(&mut sparse, &e, usize::MAX).map_err(|_| CORRUPT)?;
        hll::add(&mut dense, &e, usize::MAX).map_err(|_| CORRUPT)?;
        if i % 1000 == 0 && hll::count(&sparse).ok() != hll::count(&dense).ok() {
            return Err(CmdError::new(
                "ERR TESTFAILED sparse and dense counts differ",
            ));
        }
    }
    ctx.out.ok();
    Ok(())
}
