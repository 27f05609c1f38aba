//! Bitmap commands over strings: BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO (SETBIT and
//! GETBIT live with the other string commands). Bits are numbered from the most significant
//! bit of the first byte, as in Redis.

use super::args::{self, is};
use super::keyspec::{self as ks, KeySpec as K, ACCESS, OW, RO, RW, UPDATE, VARIABLE_FLAGS};
use super::strings::{as_str, as_str_mut, store_raw};
use super::table::{CommandSpec as C, DENYOOM, READONLY, WRITE};
use super::{CmdError, CmdResult, Ctx, SYNTAX};
use crate::engine::notify as ev;
use crate::engine::Str;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("bitcount", -2, READONLY, bitcount).keys(&[K::at(1, RO | ACCESS)])
        .doc("bitmap", "2.6.0", "key [start end [BYTE | BIT]]", "Counts the number of set bits (population counting) in a string."),
    C::new("bitpos", -3, READONLY, bitpos).keys(&[K::at(1, RO | ACCESS)])
        .doc("bitmap", "2.8.7", "key bit [start [end [BYTE | BIT]]]", "Finds the first set (1) or clear (0) bit in a string."),
    C::new("bitop", -4, WRITE | DENYOOM, bitop).keys(&[K::at(2, OW | UPDATE), K::rest(3, RO | ACCESS)])
        .doc("bitmap", "2.6.0", "<AND | OR | XOR | NOT> destkey key [key ...]", "Performs bitwise operations on multiple strings, and stores the result."),
    C::new("bitfield", -2, WRITE | DENYOOM, bitfield).keys(&[K::at(1, RW | ACCESS | UPDATE | VARIABLE_FLAGS)]).getkeys(ks::bitfield)
        .doc("bitmap", "3.2.0", "key [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>] <SET encoding offset value | INCRBY encoding offset increment> [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>] <SET encoding offset value | INCRBY encoding offset increment> ...]]", "Performs arbitrary bitfield integer operations on strings."),
    C::new("bitfield_ro", -2, READONLY, bitfield_ro).keys(&[K::at(1, RO | ACCESS)])
        .doc("bitmap", "6.0.0", "key [GET encoding offset [GET encoding offset ...]]", "Performs arbitrary read-only bitfield integer operations on strings."),
];

/// The string at `key` (None when missing); WRONGTYPE for another type.
fn read_bytes(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, CmdError> {
    let mut shard = ctx.db().lock_key(key);
    let touch = ctx.touch();
    match shard.read(key, ctx.now, touch) {
        None => Ok(None),
        Some(e) => {
            let mut tmp = itoa::Buffer::new();
            Ok(Some(as_str(e)?.as_bytes(&mut tmp).to_vec()))
        }
    }
}

fn bit(data: &[u8], i: u64) -> bool {
    data[(i >> 3) as usize] & (0x80 >> (i & 7)) != 0
}

/// Normalizes a `start end` range (negative from the end, clamped) over `total` units.
fn clamp(mut start: i64, mut end: i64, total: i64) -> (i64, i64) {
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    (start.max(0), end.max(0).min(total - 1))
}

/// The inclusive bit range a `start end` in bytes or bits names in a string of `len` bytes.
fn bit_range(start: i64, end: i64, len: i64, isbit: bool) -> (i64, i64) {
    let total = if isbit { len * 8 } else { len };
    let (s, e) = clamp(start, end, total);
    if isbit {
        (s, e)
    } else {
        // A start past the end (up to i64::MAX) stays past it: an empty range.
        (s.saturating_mul(8), e.saturating_mul(8).saturating_add(7))
    }
}

/// Parses `[start end [BYTE | BIT]]` style unit arguments.
fn unit(a: &[u8]) -> Result<bool, CmdError> {
    if is(a, "BIT") {
        Ok(true)
    } else if is(a, "BYTE") {
        Ok(false)
    } else {
        Err(SYNTAX)
    }
}

fn bitcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // As in Redis, a missing key answers 0 before the arguments are looked at.
    let Some(data) = read_bytes(ctx, argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let len = data.len() as i64;
    let (bs, be) = match argv.len() {
        2 => (0, len * 8 - 1),
        4 | 5 => {
            let start = args::int(argv[2])?;
            let end = args::int(argv[3])?;
            if start < 0 && end < 0 && start > end {
                ctx.out.int(0);
                return Ok(());
            }
            let isbit = match argv.get(4) {
                Some(a) => unit(a)?,
                None => false,
            };
            bit_range(start, end, len, isbit)
        }
        _ => return Err(SYNTAX),
    };
    let n = if bs > be || len == 0 {
        0
    } else {
        count_bits(&data, bs as u64, be as u64)
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// Set bits in the inclusive bit range [from, to].
fn count_bits(data: &[u8], from: u64, to: u64) -> u64 {
    let (fb, tb) = ((from >> 3) as usize, (to >> 3) as usize);
    if fb == tb {
        return (from..=to).filter(|&i| bit(data, i)).count() as u64;
    }
    let head = (from..(fb as u64 + 1) * 8)
        .filter(|&i| bit(data, i))
        .count() as u64;
    let tail = ((tb as u64) * 8..=to).filter(|&i| bit(data, i)).count() as u64;
    let mid: u64 = data[fb + 1..tb].iter().map(|b| b.count_ones() as u64).sum();
    head + mid + tail
}

fn bitpos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let target = match args::int(argv[2])? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::new("ERR The bit argument must be 1 or 0.")),
    };
    let Some(data) = read_bytes(ctx, argv[1])? else {
        ctx.out.int(if target { -1 } else { 0 });
        return Ok(());
    };
    let len = data.len() as i64;
    let mut end_given = false;
    let (bs, be) = match argv.len() {
        3 => (0, len * 8 - 1),
        4..=6 => {
            let start = args::int(argv[3])?;
            let isbit = match argv.get(5) {
                Some(a) => unit(a)?,
                None => false,
            };
            let end = match argv.get(4) {
                Some(a) => {
                    end_given = true;
                    args::int(a)?
                }
                None if isbit => len * 8 + 7,
                None => len - 1,
            };
            bit_range(start, end, len, isbit)
        }
        _ => return Err(SYNTAX),
    };
    if bs > be || len == 0 {
        ctx.out.int(-1);
        return Ok(());
    }
    let found = (bs as u64..=be as u64).find(|&i| bit(&data, i) == target);
    let pos = match found {
        Some(p) => p as i64,
        // No clear bit: past the end of the string counts as zeros unless an end was given.
        None if !target && !end_given => be + 1,
        None => -1,
    };
    ctx.out.int(pos);
    Ok(())
}

fn bitop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    #[derive(PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match argv[1] {
        a if is(a, "AND") => Op::And,
        a if is(a, "OR") => Op::Or,
        a if is(a, "XOR") => Op::Xor,
        a if is(a, "NOT") => Op::Not,
        _ => return Err(SYNTAX),
    };
    let (dst, srcs) = (argv[2], &argv[3..]);
    if op == Op::Not && srcs.len() != 1 {
        return Err(CmdError::new(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let mut inputs = Vec::with_capacity(srcs.len());
    for k in srcs {
        inputs.push(read_bytes(ctx, k)?.unwrap_or_default());
    }
    let maxlen = inputs.iter().map(Vec::len).max().unwrap_or(0);
    let mut res = vec![0u8; maxlen];
    for (i, r) in res.iter_mut().enumerate() {
        let byte = |v: &Vec<u8>| v.get(i).copied().unwrap_or(0);
        *r = match op {
            Op::Not => !byte(&inputs[0]),
            Op::And => inputs.iter().fold(0xff, |a, v| a & byte(v)),
            Op::Or => inputs.iter().fold(0, |a, v| a | byte(v)),
            Op::Xor => inputs.iter().fold(0, |a, v| a ^ byte(v)),
        };
    }
    let mut shard = ctx.db().lock_key(dst);
    if maxlen == 0 {
        if shard.remove(dst).is_some() {
            ctx.changed(ev::GENERIC, "del", dst);
            ctx.dirty(1);
        }
    } else {
        shard.remove(dst);
        store_raw(&mut shard, dst, ctx.now, res);
        ctx.changed(ev::STRING, "set", dst);
        ctx.dirty(1);
    }
    ctx.out.int(maxlen as i64);
    Ok(())
}

#[derive(Clone, Copy)]
struct FieldType {
    signed: bool,
    bits: u32,
}

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

enum FieldOp {
    Get(FieldType, u64),
    Set(FieldType, u64, i64, Overflow),
    Incr(FieldType, u64, i64, Overflow),
}

fn field_type(a: &[u8]) -> Result<FieldType, CmdError> {
    let err = || {
        CmdError::new("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
    };
    let signed = match a.first() {
        Some(b'i') | Some(b'I') => true,
        Some(b'u') | Some(b'U') => false,
        _ => return Err(err()),
    };
    let bits = std::str::from_utf8(&a[1..])
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or_else(err)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(err());
    }
    Ok(FieldType { signed, bits })
}

fn field_offset(ctx: &Ctx, a: &[u8], t: FieldType) -> Result<u64, CmdError> {
    let err = || CmdError::new("ERR bit offset is not an integer or out of range");
    let (hash, num) = match a.strip_prefix(b"#") {
        Some(rest) => (true, rest),
        None => (false, a),
    };
    let n = args::strict_i64(num).ok_or_else(err)?;
    let off = if hash {
        n.checked_mul(t.bits as i64).ok_or_else(err)?
    } else {
        n
    };
    if off < 0 || (off as u64) >> 3 >= ctx.max_bulk_len() {
        return Err(err());
    }
    Ok(off as u64)
}

fn get_field(data: &[u8], off: u64, t: FieldType) -> i64 {
    let mut v: u64 = 0;
    for i in 0..t.bits as u64 {
        let idx = off + i;
        let b = data
            .get((idx >> 3) as usize)
            .is_some_and(|byte| byte & (0x80 >> (idx & 7)) != 0);
        v = (v << 1) | b as u64;
    }
    if t.signed && t.bits < 64 && v & (1 << (t.bits - 1)) != 0 {
        // Sign-extend.
        (v | (u64::MAX << t.bits)) as i64
    } else {
        v as i64
    }
}

fn set_field(data: &mut [u8], off: u64, t: FieldType, value: i64) {
    let v = value as u64;
    for i in 0..t.bits as u64 {
        let idx = off + i;
        let on = (v >> (t.bits as u64 - 1 - i)) & 1 == 1;
        let (byte, mask) = ((idx >> 3) as usize, 0x80u8 >> (idx & 7));
        if on {
            data[byte] |= mask;
        } else {
            data[byte] &= !mask;
        }
    }
}

/// Applies the overflow policy to an exact result; None when FAIL refuses it.
fn fit(exact: i128, t: FieldType, ov: Overflow) -> Option<i64> {
    let (min, max): (i128, i128) = if t.signed {
        (-(1i128 << (t.bits - 1)), (1i128 << (t.bits - 1)) - 1)
    } else {
        (0, (1i128 << t.bits) - 1)
    };
    if (min..=max).contains(&exact) {
        return Some(exact as i64);
    }
    match ov {
        Overflow::Fail => None,
        Overflow::Sat => Some(exact.clamp(min, max) as i64),
        Overflow::Wrap => {
            let m = 1i128 << t.bits;
            let mut w = exact.rem_euclid(m);
            if t.signed && w > max {
                w -= m;
            }
            Some(w as i64)
        }
    }
}

fn parse_fields(ctx: &Ctx, argv: &[&[u8]], readonly: bool) -> Result<Vec<FieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut ov = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = argv[j];
        if is(a, "GET") && left >= 2 {
            let t = field_type(argv[j + 1])?;
            ops.push(FieldOp::Get(t, field_offset(ctx, argv[j + 2], t)?));
            j += 3;
        } else if (is(a, "SET") || is(a, "INCRBY")) && left >= 3 {
            if readonly {
                return Err(CmdError::new(
                    "ERR BITFIELD_RO only supports the GET subcommand",
                ));
            }
            let t = field_type(argv[j + 1])?;
            let off = field_offset(ctx, argv[j + 2], t)?;
            let v = args::int(argv[j + 3])?;
            ops.push(if is(a, "SET") {
                FieldOp::Set(t, off, v, ov)
            } else {
                FieldOp::Incr(t, off, v, ov)
            });
            j += 4;
        } else if is(a, "OVERFLOW") && left >= 1 {
            ov = match argv[j + 1] {
                x if is(x, "WRAP") => Overflow::Wrap,
                x if is(x, "SAT") => Overflow::Sat,
                x if is(x, "FAIL") => Overflow::Fail,
                _ => return Err(CmdError::new("ERR Invalid OVERFLOW type specified")),
            };
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    Ok(ops)
}

fn bitfield_generic(ctx: &mut Ctx, argv: &[&[u8]], readonly: bool) -> CmdResult {
    let ops = parse_fields(ctx, argv, readonly)?;
    let key = argv[1];
    // The highest bit any write touches: the string grows to hold it before anything runs.
    let grow_to = ops
        .iter()
        .filter_map(|op| match op {
            FieldOp::Set(t, off, ..) | FieldOp::Incr(t, off, ..) => Some(off + t.bits as u64 - 1),
            FieldOp::Get(..) => None,
        })
        .max();
    let mut shard = ctx.db().lock_key(key);
    let (mut data, created) = match shard.get_mut(key, ctx.now) {
        Some(e) => {
            if grow_to.is_some() {
                (
                    std::mem::replace(as_str_mut(e)?, Str::Int(0)).into_vec(),
                    false,
                )
            } else {
                let mut tmp = itoa::Buffer::new();
                (as_str(e)?.as_bytes(&mut tmp).to_vec(), false)
            }
        }
        None => (Vec::new(), true),
    };
    let mut grown = false;
    if let Some(hi) = grow_to {
        let need = (hi >> 3) as usize + 1;
        if data.len() < need {
            data.resize(need, 0);
            grown = true;
        }
    }
    // As in Redis, a write counts as a change when it made or grew the string, or when it
    // changed the bits.
    let dirty = created || grown;
    let mut changes = 0;
    ctx.out.array(ops.len());
    for op in &ops {
        match *op {
            FieldOp::Get(t, off) => ctx.out.int(get_field(&data, off, t)),
            FieldOp::Set(t, off, v, ov) => {
                let old = get_field(&data, off, t);
                let exact = if t.signed {
                    v as i128
                } else {
                    v as u64 as i128
                };
                match fit(exact, t, ov) {
                    Some(nv) => {
                        set_field(&mut data, off, t, nv);
                        changes += (dirty || nv != old) as u32;
                        ctx.out.int(old);
                    }
                    None => ctx.out.null(),
                }
            }
            FieldOp::Incr(t, off, by, ov) => {
                let old = get_field(&data, off, t);
                let base = if t.signed {
                    old as i128
                } else {
                    old as u64 as i128
                };
                match fit(base + by as i128, t, ov) {
                    Some(nv) => {
                        set_field(&mut data, off, t, nv);
                        changes += (dirty || nv != old) as u32;
                        ctx.out.int(nv);
                    }
                    None => ctx.out.null(),
                }
            }
        }
    }
    // Only GETs write nothing; writes count the fields they changed.
    if grow_to.is_some() {
        store_raw(&mut shard, key, ctx.now, data);
        if changes > 0 {
            ctx.changed(ev::STRING, "setbit", key);
            ctx.dirty(changes as u64);
        }
    }
    Ok(())
}

fn bitfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, false)
}

fn bitfield_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, true)
}
