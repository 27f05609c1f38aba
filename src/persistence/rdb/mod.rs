//! The RDB encoding of values, as Redis writes it into RDB files and DUMP payloads.
//!
//! Writing uses the plain forms every Redis since 2.x loads (a length, then the elements);
//! reading also takes the compact forms Redis 7 writes (listpacks, intsets, quicklists of
//! listpacks) and older ones (ziplists). Streams (node listpacks and groups) are in `stream`.

pub mod crc64;
pub mod file;
pub mod listpack;
pub mod lzf;
pub mod stream;

use crate::engine::collections::{Limits, Set};
use crate::engine::{Str, Value};
use listpack::Item;

/// The RDB version we write: Redis 7.0's, so a Redis 7.0 or later loads what we produce.
pub const VERSION: u16 = 10;
/// The newest version we read (Redis 7.2's).
pub const MAX_VERSION: u16 = 11;

/// Value type bytes.
mod ty {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const SET_LISTPACK: u8 = 20;
}

/// Why a value cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdbError {
    /// Malformed, truncated, or holding what no valid value holds (duplicates, NaN scores).
    BadFormat,
    /// A valid encoding this version does not read (zipmaps, module values).
    Unsupported,
}

// ---- writing ----

/// Appends a length in RDB's variable-size form.
pub fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend([0x40 | (n >> 8) as u8, n as u8]);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend((n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend(n.to_be_bytes());
    }
}

/// `rdbcompression`: strings longer than 20 bytes are stored LZF-compressed when that saves
/// at least 4 bytes, as Redis stores them.
static COMPRESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub fn set_compression(on: bool) {
    COMPRESS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Appends a string; integers that fit in 32 bits take the integer forms, as Redis writes them.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    match crate::engine::value::canonical_int(s) {
        Some(n) if s.len() <= 11 => write_int(out, n, s),
        _ => {
            if s.len() > 20 && COMPRESS.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(c) = lzf::compress(s, s.len() - 4) {
                    out.push(0xc3);
                    write_len(out, c.len() as u64);
                    write_len(out, s.len() as u64);
                    out.extend_from_slice(&c);
                    return;
                }
            }
            write_len(out, s.len() as u64);
            out.extend_from_slice(s);
        }
    }
}

fn write_int(out: &mut Vec<u8>, n: i64, text: &[u8]) {
    if let Ok(v) = i8::try_from(n) {
        out.extend([0xc0, v as u8]);
    } else if let Ok(v) = i16::try_from(n) {
        out.push(0xc1);
        out.extend(v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(n) {
        out.push(0xc2);
        out.extend(v.to_le_bytes());
    } else {
        write_len(out, text.len() as u64);
        out.extend_from_slice(text);
    }
}

/// The type byte a value is written with.
fn type_of(v: &Value) -> u8 {
    match v {
        Value::Str(_) => ty::STRING,
        Value::List(_) => ty::LIST,
        Value::Set(_) => ty::SET,
        Value::Hash(_) => ty::HASH,
        Value::ZSet(_) => ty::ZSET_2,
        Value::Stream(_) => stream::LISTPACKS_2,
    }
}

/// Appends a value's type byte and encoding.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    out.push(type_of(v));
    write_body(out, v);
}

/// Appends a key's record as files hold it: the value's type byte, the key, the value.
pub fn write_keyed(out: &mut Vec<u8>, key: &[u8], v: &Value) {
    out.push(type_of(v));
    write_string(out, key);
    write_body(out, v);
}

/// Appends a value's encoding (after its type byte).
fn write_body(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => match s {
            Str::Int(n) => write_int(out, *n, itoa::Buffer::new().format(*n).as_bytes()),
            _ => write_string(out, s.bytes().expect("not an integer")),
        },
        Value::List(l) => {
            write_len(out, l.len() as u64);
            for e in l.iter() {
                write_string(out, e);
            }
        }
        Value::Set(s) => {
            write_len(out, s.len() as u64);
            for m in s.members() {
                write_string(out, &m);
            }
        }
        Value::Hash(h) => {
            write_len(out, h.len() as u64);
            for (f, v) in h.iter() {
                write_string(out, f);
                write_string(out, v);
            }
        }
        Value::ZSet(z) => {
            write_len(out, z.len() as u64);
            for (m, score) in z.iter() {
                write_string(out, m);
                out.extend(score.to_le_bytes());
            }
        }
        Value::Stream(s) => stream::write(out, s),
    }
}

/// A DUMP payload: the value, the RDB version and a CRC-64 of both.
pub fn dump(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, v);
    out.extend(VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &out);
    out.extend(crc.to_le_bytes());
    out
}

/// FUNCTION DUMP's payload: a function record (opcode 245, the library's code) for each
/// library, then the RDB version and a CRC-64, as DUMP's.
pub fn dump_functions(codes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(FUNCTION2);
        write_string(&mut out, code);
    }
    out.extend(VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &out);
    out.extend(crc.to_le_bytes());
    out
}

/// The record type of a library (its code) in an RDB file and in FUNCTION DUMP.
pub const FUNCTION2: u8 = 0xf5;
/// Redis 7.0's release candidates' form, which Redis no longer reads either.
const FUNCTION_PRE_GA: u8 = 0xf6;

/// The libraries' code in a FUNCTION DUMP payload, or FUNCTION RESTORE's error.
pub fn undump_functions(payload: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let body = verify_dump(payload)
        .ok_or_else(|| "ERR DUMP payload version or checksum are wrong".to_string())?;
    let mut r = Reader::new(body);
    let mut codes = Vec::new();
    while r.pos() < body.len() {
        match r.u8() {
            Ok(FUNCTION2) => {}
            Ok(FUNCTION_PRE_GA) => return Err("ERR Pre-GA function format not supported".into()),
            Ok(_) => return Err("ERR given type is not a function".into()),
            Err(_) => return Err("ERR can not read data type".into()),
        }
        let code = r
            .string()
            .map_err(|_| "ERR failed loading the given functions payload".to_string())?;
        codes.push(code);
    }
    Ok(codes)
}

/// The value part of a DUMP payload, if its version is one we read and its checksum holds.
pub fn verify_dump(payload: &[u8]) -> Option<&[u8]> {
    let body_len = payload.len().checked_sub(10)?;
    let version = u16::from_le_bytes([payload[body_len], payload[body_len + 1]]);
    let crc = u64::from_le_bytes(payload[body_len + 2..].try_into().ok()?);
    (version <= MAX_VERSION && crc64::crc64(0, &payload[..body_len + 2]) == crc)
        .then_some(&payload[..body_len])
}

// ---- reading ----

/// A cursor over RDB bytes.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

type Res<T> = Result<T, RdbError>;

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    fn take(&mut self, n: u64) -> Res<&'a [u8]> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&e| e <= self.data.len())
            .ok_or(RdbError::BadFormat)?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn bytes(&mut self, n: usize) -> Res<&'a [u8]> {
        self.take(n as u64)
    }

    /// What has not been read yet.
    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    pub fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }

    /// A length, or (for strings) an encoding marker: (value, is_encoding).
    fn len_or_encoding(&mut self) -> Res<(u64, bool)> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => ((b & 0x3f) as u64, false),
            1 => ((((b & 0x3f) as u64) << 8) | self.u8()? as u64, false),
            2 => match b {
                0x80 => (
                    u32::from_be_bytes(self.take(4)?.try_into().unwrap()) as u64,
                    false,
                ),
                0x81 => (u64::from_be_bytes(self.take(8)?.try_into().unwrap()), false),
                _ => return Err(RdbError::BadFormat),
            },
            _ => ((b & 0x3f) as u64, true),
        })
    }

    pub fn length(&mut self) -> Res<u64> {
        match self.len_or_encoding()? {
            (n, false) => Ok(n),
            _ => Err(RdbError::BadFormat),
        }
    }

    /// A collection's element count, which cannot exceed the bytes left (each element takes
    /// at least one), so a corrupt count cannot make us reserve memory.
    fn count(&mut self) -> Res<usize> {
        let n = self.length()?;
        if n == 0 || n > (self.data.len() - self.pos) as u64 {
            return Err(RdbError::BadFormat);
        }
        Ok(n as usize)
    }

    pub fn string(&mut self) -> Res<Vec<u8>> {
        let (n, encoded) = self.len_or_encoding()?;
        if !encoded {
            return Ok(self.take(n)?.to_vec());
        }
        let int = |b: &[u8]| -> i64 {
            let mut v = [0u8; 8];
            v[..b.len()].copy_from_slice(b);
            let shift = 64 - 8 * b.len() as u32;
            (i64::from_le_bytes(v) << shift) >> shift
        };
        let n = match n {
            0 => int(self.take(1)?),
            1 => int(self.take(2)?),
            2 => int(self.take(4)?),
            3 => {
                let clen = self.length()?;
                let len = self.length()?;
                // LZF expands at most ~256x; anything beyond is corrupt (and would allocate).
                if len > clen.saturating_mul(256) {
                    return Err(RdbError::BadFormat);
                }
                let data = self.take(clen)?;
                return lzf::decompress(data, len as usize).ok_or(RdbError::BadFormat);
            }
            _ => return Err(RdbError::BadFormat),
        };
        Ok(itoa::Buffer::new().format(n).as_bytes().to_vec())
    }

    /// A score written as text (the old sorted-set encoding).
    fn text_double(&mut self) -> Res<f64> {
        let n = self.u8()?;
        let v = match n {
            253 => f64::NAN,
            254 => f64::INFINITY,
            255 => f64::NEG_INFINITY,
            _ => std::str::from_utf8(self.take(n as u64)?)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(RdbError::BadFormat)?,
        };
        Ok(v)
    }

    fn binary_double(&mut self) -> Res<f64> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
}

/// Builds collections from decoded elements, refusing duplicates and empty results.
struct Build<'l> {
    lim: &'l Limits,
}

impl Build<'_> {
    fn list(&self, items: impl IntoIterator<Item = Vec<u8>>) -> Res<Value> {
        let l: crate::engine::collections::List = items.into_iter().map(|e| e[..].into()).collect();
        if l.is_empty() {
            return Err(RdbError::BadFormat);
        }
        Ok(Value::List(Box::new(l)))
    }

    fn set(&self, members: impl IntoIterator<Item = Vec<u8>>) -> Res<Value> {
        let mut s = Set::default();
        for m in members {
            if !s.insert(&m, self.lim) {
                return Err(RdbError::BadFormat);
            }
        }
        if s.is_empty() {
            return Err(RdbError::BadFormat);
        }
        Ok(Value::Set(Box::new(s)))
    }

    fn hash(&self, pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Res<Value> {
        let mut h = crate::engine::collections::Hash::default();
        for (f, v) in pairs {
            if !h.insert(&f, &v, self.lim) {
                return Err(RdbError::BadFormat);
            }
        }
        if h.is_empty() {
            return Err(RdbError::BadFormat);
        }
        Ok(Value::Hash(Box::new(h)))
    }

    fn zset(&self, pairs: impl IntoIterator<Item = (Vec<u8>, f64)>) -> Res<Value> {
        let mut z = crate::engine::collections::ZSet::default();
        for (m, score) in pairs {
            if score.is_nan() || z.insert(&m, score, self.lim).is_some() {
                return Err(RdbError::BadFormat);
            }
        }
        if z.is_empty() {
            return Err(RdbError::BadFormat);
        }
        Ok(Value::ZSet(Box::new(z)))
    }
}

/// Splits flat elements into pairs; an odd count is corrupt.
fn pairs(items: Vec<Item>) -> Res<Vec<(Item, Item)>> {
    if items.len() % 2 != 0 {
        return Err(RdbError::BadFormat);
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

fn item_score(i: Item) -> Res<f64> {
    match i {
        Item::Int(n) => Ok(n as f64),
        Item::Str(s) => std::str::from_utf8(&s)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(RdbError::BadFormat),
    }
}

/// Reads one value of type `t` (the type byte already read).
pub fn read_value(t: u8, r: &mut Reader, lim: &Limits) -> Res<Value> {
    let b = Build { lim };
    let bad = RdbError::BadFormat;
    let lp = |blob: Vec<u8>| listpack::listpack(&blob).ok_or(bad);
    let zl = |blob: Vec<u8>| listpack::ziplist(&blob).ok_or(bad);
    let strings = |items: Vec<Item>| items.into_iter().map(Item::into_bytes);
    match t {
        ty::STRING => Ok(Value::Str(Str::from_bytes(&r.string()?))),
        ty::LIST => {
            let n = r.count()?;
            let items = (0..n).map(|_| r.string()).collect::<Res<Vec<_>>>()?;
            b.list(items)
        }
        ty::SET => {
            let n = r.count()?;
            let items = (0..n).map(|_| r.string()).collect::<Res<Vec<_>>>()?;
            b.set(items)
        }
        ty::ZSET | ty::ZSET_2 => {
            let n = r.count()?;
            let mut items = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                let m = r.string()?;
                let s = if t == ty::ZSET {
                    r.text_double()?
                } else {
                    r.binary_double()?
                };
                items.push((m, s));
            }
            b.zset(items)
        }
        ty::HASH => {
            let n = r.count()?;
            let items = (0..n)
                .map(|_| Ok((r.string()?, r.string()?)))
                .collect::<Res<Vec<_>>>()?;
            b.hash(items)
        }
        ty::HASH_ZIPMAP => b.hash(listpack::zipmap(&r.string()?).ok_or(bad)?),
        ty::LIST_ZIPLIST => b.list(strings(zl(r.string()?)?)),
        ty::SET_INTSET => {
            let ints = listpack::intset(&r.string()?).ok_or(bad)?;
            b.set(ints.into_iter().map(|n| Item::Int(n).into_bytes()))
        }
        ty::SET_LISTPACK => b.set(strings(lp(r.string()?)?)),
        ty::ZSET_ZIPLIST | ty::ZSET_LISTPACK => {
            let items = if t == ty::ZSET_ZIPLIST {
                zl(r.string()?)?
            } else {
                lp(r.string()?)?
            };
            let z = pairs(items)?
                .into_iter()
                .map(|(m, s)| Ok((m.into_bytes(), item_score(s)?)))
                .collect::<Res<Vec<_>>>()?;
            b.zset(z)
        }
        ty::HASH_ZIPLIST | ty::HASH_LISTPACK => {
            let items = if t == ty::HASH_ZIPLIST {
                zl(r.string()?)?
            } else {
                lp(r.string()?)?
            };
            let h = pairs(items)?
                .into_iter()
                .map(|(f, v)| (f.into_bytes(), v.into_bytes()));
            b.hash(h)
        }
        ty::LIST_QUICKLIST | ty::LIST_QUICKLIST_2 => {
            let nodes = r.count()?;
            let mut all = Vec::new();
            for _ in 0..nodes {
                // Quicklist 2 tags each node: 1 = one plain (large) element, 2 = a listpack.
                let container = if t == ty::LIST_QUICKLIST_2 {
                    r.length()?
                } else {
                    2
                };
                let blob = r.string()?;
                match (t, container) {
                    (ty::LIST_QUICKLIST, _) => all.extend(strings(zl(blob)?)),
                    (_, 1) => all.push(blob),
                    (_, 2) => {
                        let items = lp(blob)?;
                        // Redis never writes an empty node.
                        if items.is_empty() {
                            return Err(bad);
                        }
                        all.extend(strings(items));
                    }
                    _ => return Err(bad),
                }
            }
            b.list(all)
        }
        stream::LISTPACKS | stream::LISTPACKS_2 | stream::LISTPACKS_3 => {
            Ok(Value::Stream(Box::new(stream::read(t, r)?)))
        }
        // Module values.
        6 | 7 => Err(RdbError::Unsupported),
        _ => Err(bad),
    }
}

/// Decodes the value part of a DUMP payload: a type byte, the value, nothing after.
pub fn undump(body: &[u8], lim: &Limits) -> Res<Value> {
    let mut r = Reader::new(body);
    let t = r.u8()?;
    let v = read_value(t, &mut r, lim)?;
    if !r.at_end() {
        return Err(RdbError::BadFormat);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits::default()
    }

    #[test]
    fn lengths_and_strings_round_trip() {
        for n in [
            0u64,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
        ] {
            let mut out = Vec::new();
            write_len(&mut out, n);
            assert_eq!(Reader::new(&out).length().unwrap(), n);
        }
        for s in [
            &b""[..],
            b"abc",
            b"12",
            b"-129",
            b"70000",
            b"4294967296",
            b"007",
            b"-0",
        ] {
            let mut out = Vec::new();
            write_string(&mut out, s);
            assert_eq!(Reader::new(&out).string().unwrap(), s);
        }
    }

    #[test]
    fn values_round_trip_through_dump() {
        let l = lim();
        let mut vals = vec![
            Value::Str(Str::from_bytes(b"hello")),
            Value::Str(Str::Int(-5)),
        ];
        let mut list = Value::new_list();
        list.list_mut()
            .unwrap()
            .extend([b"a"[..].into(), b"1"[..].into()]);
        vals.push(list);
        let mut set = Value::new_set();
        set.set_mut().unwrap().insert(b"3", &l);
        set.set_mut().unwrap().insert(b"x", &l);
        vals.push(set);
        let mut hash = Value::new_hash();
        hash.hash_mut().unwrap().insert(b"f", b"v", &l);
        vals.push(hash);
        let mut z = Value::new_zset();
        z.zset_mut().unwrap().insert(b"m", 1.5, &l);
        z.zset_mut().unwrap().insert(b"n", f64::NEG_INFINITY, &l);
        vals.push(z);
        for v in vals {
            let payload = dump(&v);
            let body = verify_dump(&payload).unwrap();
            assert_eq!(undump(body, &l).unwrap(), v);
            let mut broken = payload.clone();
            broken[0] ^= 1;
            assert!(verify_dump(&broken).is_none());
        }
    }

    #[test]
    fn corrupt_values_are_refused() {
        let l = lim();
        // A set holding the same member twice, a count past the data, an empty hash.
        let dup = [ty::SET, 2, 1, b'a', 1, b'a'];
        assert_eq!(undump(&dup, &l), Err(RdbError::BadFormat));
        assert_eq!(
            undump(&[ty::LIST, 9, 1, b'a'], &l),
            Err(RdbError::BadFormat)
        );
        assert_eq!(undump(&[ty::HASH, 0], &l), Err(RdbError::BadFormat));
        assert_eq!(
            undump(&[ty::STRING, 1, b'a', 0], &l),
            Err(RdbError::BadFormat)
        );
        assert_eq!(undump(&[42], &l), Err(RdbError::BadFormat));
    }
}
