//! `cmsgpack`: lua-cmsgpack 0.4.0 as Redis ships it. Packing picks the smallest MessagePack
//! encoding for each value (integers by range, a 4-byte float when the double survives the
//! round trip, tables as arrays only when their keys are exactly 1..n), and cuts nesting at 16
//! tables (deeper tables pack as nil, which keeps self-referencing tables finite). Unpacking
//! knows the formats of the 2013 specification plus str8; bin and ext are refused.

use mlua::{Lua, MultiValue, Table, Value};

use super::{c_i32, c_i64, function, Args, Fail, LibResult, LuaStack, Results, MAX_C_STACK};

/// Tables nested deeper than this pack as nil.
const MAX_NESTING: usize = 16;

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", function(lua, pack)?)?;
    t.raw_set("unpack", function(lua, |lua, a| unpack(lua, a, Mode::All))?)?;
    t.raw_set(
        "unpack_one",
        function(lua, |lua, a| unpack(lua, a, Mode::One))?,
    )?;
    t.raw_set(
        "unpack_limit",
        function(lua, |lua, a| unpack(lua, a, Mode::Limit))?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

/// pack(v1, v2, ...): the encodings of all arguments, one after the other.
fn pack(lua: &Lua, a: Args) -> LibResult {
    if a.len() == 0 {
        return Err(Fail::arg(0, "MessagePack pack needs input."));
    }
    if a.len() * 2 > MAX_C_STACK {
        return Err(Fail::arg(0, "Too many arguments for MessagePack pack."));
    }
    let mut buf = Vec::new();
    for v in &a.0 {
        encode(v, 0, &mut buf)?;
    }
    Ok(MultiValue::from_vec(vec![Value::String(
        lua.create_string(&buf)?,
    )]))
}

fn encode(v: &Value, level: usize, buf: &mut Vec<u8>) -> Result<(), Fail> {
    match v {
        Value::String(s) => encode_bytes(&s.as_bytes(), buf),
        Value::Boolean(b) => buf.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => encode_number(*n as f64, buf),
        Value::Number(n) => encode_number(*n, buf),
        Value::Table(t) if level < MAX_NESTING => encode_table(t, level, buf)?,
        _ => buf.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(s: &[u8], buf: &mut Vec<u8>) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= 0xff {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

/// A Lua number: an integer encoding when the double is a 64-bit integer, else a float when
/// single precision holds it exactly, else a double.
fn encode_number(n: f64, buf: &mut Vec<u8>) {
    let i = c_i64(n);
    if !n.is_infinite() && i as f64 == n {
        encode_int(i, buf);
        return;
    }
    let f = n as f32;
    if f as f64 == n {
        buf.push(0xca);
        buf.extend_from_slice(&f.to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(n: i64, buf: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            buf.push(n as u8);
        } else if n <= 0xff {
            buf.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            buf.push(0xcd);
            buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            buf.push(0xce);
            buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            buf.push(0xcf);
            buf.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        buf.push(n as i8 as u8);
    } else if n >= -128 {
        buf.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

/// An array or map header: fix form up to 15 entries, then 16 and 32 bits.
fn encode_header(n: usize, fix: u8, wide: u8, buf: &mut Vec<u8>) {
    if n <= 15 {
        buf.push(fix | n as u8);
    } else if n <= 0xffff {
        buf.push(wide);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(wide + 1);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// True when the keys are exactly the integers 1..n (n may be 0: an empty table is an array).
fn is_array(t: &Table) -> Result<bool, Fail> {
    let (mut count, mut max) = (0i64, 0i32);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(false),
        };
        if n <= 0.0 || n.is_infinite() || c_i32(n) as f64 != n {
            return Ok(false);
        }
        max = max.max(n as i32);
        count += 1;
    }
    Ok(max as i64 == count)
}

fn encode_table(t: &Table, level: usize, buf: &mut Vec<u8>) -> Result<(), Fail> {
    if is_array(t)? {
        let len = t.raw_len();
        encode_header(len, 0x90, 0xdc, buf);
        for j in 1..=len {
            // A plain (not raw) read, as the original does: __index is honoured.
            let v: Value = t.get(j as f64)?;
            encode(&v, level + 1, buf)?;
        }
    } else {
        let len = t.pairs::<Value, Value>().count();
        encode_header(len, 0x80, 0xde, buf);
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            encode(&k, level + 1, buf)?;
            encode(&v, level + 1, buf)?;
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// unpack(s): every value.
    All,
    /// unpack_one(s [, offset]): the next offset (or -1 at the end) and one value.
    One,
    /// unpack_limit(s, limit [, offset]): the next offset and up to `limit` values.
    Limit,
}

/// Why decoding stopped.
enum Stop {
    Eof,
    BadFormat,
    Fail(Fail),
}

impl From<Fail> for Stop {
    fn from(f: Fail) -> Stop {
        Stop::Fail(f)
    }
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Stop {
        Stop::Fail(Fail::Lua(e))
    }
}

fn unpack(lua: &Lua, a: Args, mode: Mode) -> LibResult {
    let (limit, offset, base) = match mode {
        Mode::All => (0, 0, a.len()),
        Mode::One => (1, a.opt_integer(lua, 2, 0)?, 1),
        Mode::Limit => {
            let limit = a.check_integer(lua, 2)?;
            (limit, a.opt_integer(lua, 3, 0)?, 1)
        }
    };
    let s = a.check_string(lua, 1)?;
    let s = s.as_bytes();
    let len = s.len();
    if offset < 0 || limit < 0 {
        return Err(Fail::msg(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    if offset as u64 > len as u64 {
        return Err(Fail::msg(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let mut c = Cursor {
        data: &s[offset as usize..],
        at: 0,
    };
    let mut out = Results::new(lua)?;
    if !decode_all {
        // Slot 1 is for the next offset.
        out.push(Value::Nil)?;
    }
    let first = out.len();
    while c.left() > 0 && ((out.len() - first) as i64) < limit {
        let mut stack = LuaStack::new(lua)?;
        match decode(lua, &mut c, base + out.len() - first, &mut stack) {
            Ok(v) => out.push(v)?,
            Err(Stop::Eof) => return Err(Fail::msg("Missing bytes in input.")),
            Err(Stop::BadFormat) => return Err(Fail::msg("Bad data format in input.")),
            Err(Stop::Fail(f)) => return Err(f),
        }
    }
    if !decode_all {
        let next = if c.left() == 0 {
            -1
        } else {
            (len - c.left()) as i64
        };
        out.set(1, Value::Number(next as f64))?;
    }
    out.finish()
}

struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.data.len() - self.at
    }

    /// The next `n` bytes, consumed.
    fn take(&mut self, n: usize) -> Result<&[u8], Stop> {
        if self.left() < n {
            return Err(Stop::Eof);
        }
        let b = &self.data[self.at..self.at + n];
        self.at += n;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Result<u64, Stop> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }
}

/// A value being read: a scalar, or the header of an array or map still to be filled.
enum Item {
    Done(Value),
    Array(usize),
    Map(usize),
}

/// An array or map being filled (its table and pending key live in the `LuaStack`): entries
/// still to come, arrays' last index, the slots in use where the table sits, and whether a
/// map's key is waiting for its value.
struct Open {
    left: usize,
    next: usize,
    used: usize,
    map: bool,
    has_key: bool,
}

/// One value, nested ones included. Containers are filled from an explicit stack (deep input
/// must not exhaust the thread's stack); their tables and pending keys sit in `stack` (slots
/// 2k-1 and 2k), not in mlua references. `used` is how many Lua stack slots the C original
/// holds before pushing the value; it refuses to pass Lua's C stack limit, and so does this.
fn decode(lua: &Lua, c: &mut Cursor, used: usize, stack: &mut LuaStack) -> Result<Value, Stop> {
    let mut open: Vec<Open> = Vec::new();
    let mut at = used;
    loop {
        let (n, map) = match item(lua, c, at)? {
            Item::Done(v) => {
                if let Some(r) = store(v, &mut open, &mut at, stack)? {
                    return Ok(r);
                }
                continue;
            }
            Item::Array(n) => (n, false),
            Item::Map(n) => (n, true),
        };
        if !map && at + 2 > MAX_C_STACK {
            return Err(Fail::stack("in function mp_decode_to_lua_array").into());
        }
        let t = lua.create_table()?;
        if n == 0 {
            if let Some(r) = store(Value::Table(t), &mut open, &mut at, stack)? {
                return Ok(r);
            }
            continue;
        }
        stack.set(2 * open.len() + 1, t)?;
        open.push(Open {
            left: n,
            next: 0,
            used: at,
            map,
            has_key: false,
        });
        at += if map { 1 } else { 2 };
    }
}

/// Stores the complete value `v` in the innermost open container, closing the containers it
/// completes; the outermost value when there is none left, and `at` set for the next item.
fn store(
    mut v: Value,
    open: &mut Vec<Open>,
    at: &mut usize,
    stack: &mut LuaStack,
) -> Result<Option<Value>, Stop> {
    loop {
        let depth = open.len();
        let Some(o) = open.last_mut() else {
            return Ok(Some(v));
        };
        let (t_slot, k_slot) = (2 * depth - 1, 2 * depth);
        if o.map && !o.has_key {
            stack.set(k_slot, v)?;
            o.has_key = true;
            *at = o.used + 2;
            return Ok(None);
        }
        let t: Table = stack.get(t_slot)?;
        if o.map {
            let k: Value = stack.get(k_slot)?;
            match &k {
                Value::Nil => return Err(Fail::Raw(b"table index is nil".to_vec()).into()),
                Value::Number(x) if x.is_nan() => {
                    return Err(Fail::Raw(b"table index is NaN".to_vec()).into())
                }
                _ => {}
            }
            stack.set(k_slot, Value::Nil)?;
            o.has_key = false;
            t.raw_set(k, v)?;
        } else {
            o.next += 1;
            t.raw_set(Value::Number(o.next as f64), v)?;
        }
        o.left -= 1;
        if o.left > 0 {
            *at = o.used + if o.map { 1 } else { 2 };
            return Ok(None);
        }
        stack.set(t_slot, Value::Nil)?;
        v = Value::Table(t);
        open.pop();
    }
}

/// One item's header (scalars whole), consuming it.
fn item(lua: &Lua, c: &mut Cursor, used: usize) -> Result<Item, Stop> {
    if c.left() < 1 {
        return Err(Stop::Eof);
    }
    if used + 1 > MAX_C_STACK {
        return Err(Fail::stack(
            "too many return values at once; use unpack_one or unpack_limit instead.",
        )
        .into());
    }
    let tag = c.data[c.at];
    // Fixed-size payloads are checked whole before the tag is consumed, as the original does.
    let fixed = |c: &mut Cursor, n: usize| -> Result<u64, Stop> {
        if c.left() < 1 + n {
            return Err(Stop::Eof);
        }
        c.at += 1;
        c.be(n)
    };
    let num = |n: f64| Ok(Item::Done(Value::Number(n)));
    match tag {
        0xcc => num(fixed(c, 1)? as f64),
        0xcd => num(fixed(c, 2)? as f64),
        0xce => num(fixed(c, 4)? as f64),
        0xcf => num(fixed(c, 8)? as i64 as f64),
        0xd0 => num(fixed(c, 1)? as u8 as i8 as f64),
        0xd1 => num(fixed(c, 2)? as u16 as i16 as f64),
        0xd2 => num(fixed(c, 4)? as u32 as i32 as f64),
        0xd3 => num(fixed(c, 8)? as i64 as f64),
        0xc0 => {
            c.at += 1;
            Ok(Item::Done(Value::Nil))
        }
        0xc2 | 0xc3 => {
            c.at += 1;
            Ok(Item::Done(Value::Boolean(tag == 0xc3)))
        }
        0xca => num(f32::from_bits(fixed(c, 4)? as u32) as f64),
        0xcb => num(f64::from_bits(fixed(c, 8)?)),
        0xd9 => {
            let n = peek_len(c, 1)?;
            string(lua, c, 2, n)
        }
        0xda => {
            let n = peek_len(c, 2)?;
            string(lua, c, 3, n)
        }
        0xdb => {
            let n = fixed(c, 4)? as usize;
            string(lua, c, 0, n)
        }
        0xdc => Ok(Item::Array(fixed(c, 2)? as usize)),
        0xdd => Ok(Item::Array(fixed(c, 4)? as usize)),
        0xde => Ok(Item::Map(fixed(c, 2)? as usize)),
        0xdf => Ok(Item::Map(fixed(c, 4)? as usize)),
        t if t & 0x80 == 0 => {
            c.at += 1;
            num(t as f64)
        }
        t if t & 0xe0 == 0xe0 => {
            c.at += 1;
            num(t as i8 as f64)
        }
        t if t & 0xe0 == 0xa0 => string(lua, c, 1, (t & 0x1f) as usize),
        t if t & 0xf0 == 0x90 => {
            c.at += 1;
            Ok(Item::Array((t & 0xf) as usize))
        }
        t if t & 0xf0 == 0x80 => {
            c.at += 1;
            Ok(Item::Map((t & 0xf) as usize))
        }
        _ => Err(Stop::BadFormat),
    }
}

/// The length in the `n` bytes after the tag, without consuming anything.
fn peek_len(c: &Cursor, n: usize) -> Result<usize, Stop> {
    if c.left() < 1 + n {
        return Err(Stop::Eof);
    }
    Ok(c.data[c.at + 1..c.at + 1 + n]
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | b as usize))
}

/// A string of `n` bytes after a `head`-byte header (the header still unconsumed).
fn string(lua: &Lua, c: &mut Cursor, head: usize, n: usize) -> Result<Item, Stop> {
    if c.left() < head + n {
        return Err(Stop::Eof);
    }
    c.at += head;
    let b = c.take(n)?;
    Ok(Item::Done(Value::String(lua.create_string(b)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(n: f64) -> Vec<u8> {
        let mut b = Vec::new();
        encode_number(n, &mut b);
        b
    }

    #[test]
    fn smallest_number_encodings() {
        assert_eq!(enc(0.0), [0x00]);
        assert_eq!(enc(-0.0), [0x00]);
        assert_eq!(enc(127.0), [0x7f]);
        assert_eq!(enc(128.0), [0xcc, 0x80]);
        assert_eq!(enc(-32.0), [0xe0]);
        assert_eq!(enc(-33.0), [0xd0, 0xdf]);
        assert_eq!(enc(65536.0), [0xce, 0, 1, 0, 0]);
        assert_eq!(enc(-2147483649.0)[0], 0xd3);
        assert_eq!(enc(1.5), [0xca, 0x3f, 0xc0, 0, 0]);
        assert_eq!(enc(0.1)[0], 0xcb);
        assert_eq!(enc(f64::INFINITY)[0], 0xca);
        assert_eq!(enc(f64::NAN)[0], 0xcb);
        assert_eq!(enc(9_223_372_036_854_775_808.0)[0], 0xca);
    }
}
