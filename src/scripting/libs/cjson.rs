//! `cjson`: Lua CJSON 2.1.0 as Redis ships it. Numbers are written with `%.14g` (the
//! precision is configurable), strings escape `"`, `\`, `/`, control characters and DEL, a
//! table is an array when all its keys are positive integers and it is not too sparse, JSON
//! null is `cjson.null` (a NULL light userdata), and parse errors name the character position.
//! The settings (depth limits, sparse-array rules, invalid numbers) belong to one module table
//! and last as long as the Lua state, as in Redis.

use std::sync::Arc;

use mlua::{LightUserData, Lua, LuaString, MultiValue, Table, Value};
use parking_lot::Mutex;

use super::{c_i32, format_g, function, type_name, Args, Fail, LibResult, LuaStack, MAX_C_STACK};

#[derive(Clone, Copy)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 refuses NaN and infinities, 1 writes them (`nan`, `inf`), 2 writes `null`.
    encode_invalid_numbers: i32,
    decode_invalid_numbers: bool,
    encode_keep_buffer: bool,
    precision: i32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            encode_keep_buffer: true,
            precision: 14,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

/// A cjson module table with its own settings (`cjson.new()` makes another).
pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Shared = Arc::default();
    let t = lua.create_table()?;
    let with = |f: fn(&Lua, Args, &Shared) -> LibResult| {
        let cfg = cfg.clone();
        function(lua, move |lua, a| f(lua, a, &cfg))
    };
    t.raw_set("encode", with(encode)?)?;
    t.raw_set("decode", with(decode)?)?;
    t.raw_set("encode_sparse_array", with(cfg_sparse_array)?)?;
    t.raw_set("encode_max_depth", with(cfg_encode_max_depth)?)?;
    t.raw_set("decode_max_depth", with(cfg_decode_max_depth)?)?;
    t.raw_set("encode_number_precision", with(cfg_precision)?)?;
    t.raw_set("encode_keep_buffer", with(cfg_keep_buffer)?)?;
    t.raw_set("encode_invalid_numbers", with(cfg_encode_invalid)?)?;
    t.raw_set("decode_invalid_numbers", with(cfg_decode_invalid)?)?;
    t.raw_set(
        "new",
        function(lua, |lua, _| {
            Ok(MultiValue::from_vec(vec![Value::Table(module(lua)?)]))
        })?,
    )?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn one(v: Value) -> LibResult {
    Ok(MultiValue::from_vec(vec![v]))
}

// ===== Settings =====

/// Refuses more than `n` arguments.
fn at_most(a: &Args, n: usize) -> Result<(), Fail> {
    if a.len() > n {
        return Err(Fail::arg(n as i32 + 1, "found too many arguments"));
    }
    Ok(())
}

/// An integer setting at argument `i`: unchanged when nil, else checked against the range (the
/// error always names argument #1, as the original does). Returns the value in force.
fn int_option(
    lua: &Lua,
    a: &Args,
    i: usize,
    v: &mut i32,
    min: i32,
    max: i32,
) -> Result<Value, Fail> {
    if !a.is_none_or_nil(i) {
        let n = a.check_integer(lua, i)? as i32;
        if !(min..=max).contains(&n) {
            return Err(Fail::arg(
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *v = n;
    }
    Ok(Value::Number(*v as f64))
}

/// An option among `names` at argument `i` (a boolean also does for the first two when
/// `bool_ok`); unchanged when nil. Returns the index in force.
fn enum_option(lua: &Lua, a: &Args, i: usize, v: &mut i32, names: &[&str]) -> Result<(), Fail> {
    match a.get(i) {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *v = *b as i32,
        Some(_) => {
            let s = a.check_string(lua, i)?;
            let s = s.as_bytes();
            let name = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
            match names.iter().position(|n| n.as_bytes() == name) {
                Some(k) => *v = k as i32,
                None => {
                    let mut m = b"invalid option '".to_vec();
                    m.extend_from_slice(name);
                    m.push(b'\'');
                    return Err(Fail::arg(i as i32, m));
                }
            }
        }
    }
    Ok(())
}

/// An on/off setting's value in force, as the original reports it: a boolean for off and on,
/// the option's name otherwise.
fn enum_value(lua: &Lua, v: i32, names: &[&str]) -> mlua::Result<Value> {
    Ok(match v {
        0 | 1 => Value::Boolean(v == 1),
        _ => Value::String(lua.create_string(names[v as usize])?),
    })
}

const ON_OFF: &[&str] = &["off", "on"];

fn cfg_sparse_array(lua: &Lua, a: Args, cfg: &Shared) -> LibResult {
    at_most(&a, 3)?;
    let mut c = cfg.lock();
    let mut convert = c.sparse_convert as i32;
    enum_option(lua, &a, 1, &mut convert, ON_OFF)?;
    c.sparse_convert = convert != 0;
    let convert = enum_value(lua, convert, ON_OFF)?;
    let ratio = int_option(lua, &a, 2, &mut c.sparse_ratio, 0, i32::MAX)?;
    let safe = int_option(lua, &a, 3, &mut c.sparse_safe, 0, i32::MAX)?;
    Ok(MultiValue::from_vec(vec![convert, ratio, safe]))
}

fn cfg_encode_max_depth(lua: &Lua, a: Args, cfg: &Shared) -> LibResult {
    at_most(&a, 1)?;
    one(int_option(
        lua,
        &a,
        1,
        &mut cfg.lock().encode_max_depth,
        1,
        i32::MAX,
    )?)
}

fn cfg_decode_max_depth(lua: &Lua, a: Args, cfg: &Shared) -> LibResult {
    at_most(&a, 1)?;
    one(int_option(
        lua,
        &a,
        1,
        &mut cfg.lock().decode_max_depth,
        1,
        i32::MAX,
    )?)
}

fn cfg_precision(lua: &Lua, a: Args, cfg: &Shared) -> LibResult {
    at_most(&a, 1)?;
    one(int_option(lua, &a, 1, &mut cfg.lock().precision, 1, 14)?)
}

/// Keeping the buffer only saves allocations; the setting is kept and reported.
fn cfg_keep_buffer(lua: &Lua, a: Args, cfg: &Shared) -> LibResult {
    at_most(&a, 1)?;
    let mut c = cfg.lock();
    let mut v = c.encode_keep_buffer as i32;
    enum_option(lua, &a, 1, &mut v, ON_OFF)?;
    c.encode_keep_buffer = v != 0;
    one(enum_value(lua, v, ON_OFF)?)
}

fn cfg_encode_invalid(lua: &Lua, a: Args, cfg: &Shared) -> LibResult {
    const NAMES: &[&str] = &["off", "on", "null"];
    at_most(&a, 1)?;
    let mut c = cfg.lock();
    enum_option(lua, &a, 1, &mut c.encode_invalid_numbers, NAMES)?;
    one(enum_value(lua, c.encode_invalid_numbers, NAMES)?)
}

fn cfg_decode_invalid(lua: &Lua, a: Args, cfg: &Shared) -> LibResult {
    at_most(&a, 1)?;
    let mut c = cfg.lock();
    let mut v = c.decode_invalid_numbers as i32;
    enum_option(lua, &a, 1, &mut v, ON_OFF)?;
    c.decode_invalid_numbers = v != 0;
    one(enum_value(lua, v, ON_OFF)?)
}

// ===== Encoding =====

fn encode(lua: &Lua, a: Args, cfg: &Shared) -> LibResult {
    if a.len() != 1 {
        return Err(Fail::arg(1, "expected 1 argument"));
    }
    let cfg = *cfg.lock();
    let mut out = Vec::new();
    Encoder {
        cfg: &cfg,
        out: &mut out,
    }
    .root(lua, &a.0[0])?;
    one(Value::String(lua.create_string(&out)?))
}

struct Encoder<'a> {
    cfg: &'a Config,
    out: &'a mut Vec<u8>,
}

fn cannot(what: &Value, reason: &str) -> Fail {
    Fail::msg(format!("Cannot serialise {}: {reason}", type_name(what)))
}

impl Encoder<'_> {
    /// Writes `v` and everything in it. Nesting is followed with an explicit stack rather than
    /// recursion (the deepest tables the limits allow must not exhaust the thread's stack);
    /// the open tables and objects' current keys sit in a Lua table (slots 2d-1 and 2d), not
    /// in mlua references, whose number is bounded too.
    fn root(&mut self, lua: &Lua, v: &Value) -> Result<(), Fail> {
        let next: mlua::Function = lua.named_registry_value(super::NEXT)?;
        let stack = LuaStack::new(lua)?;
        let mut open: Vec<Frame> = Vec::new();
        // One stack slot is taken by the argument itself.
        if let Some(f) = self.value(v, 1, 1)? {
            stack.set(1, v.clone())?;
            open.push(f);
        }
        loop {
            let d = open.len();
            let Some(top) = open.last_mut() else { break };
            let t: Table = stack.get(2 * d - 1)?;
            let (child, slots) = match top {
                Frame::Array { n, next, slots } => {
                    if *next > *n {
                        self.out.push(b']');
                        stack.set(2 * d - 1, Value::Nil)?;
                        open.pop();
                        continue;
                    }
                    if *next > 1 {
                        self.out.push(b',');
                    }
                    let v: Value = t.raw_get(*next)?;
                    *next += 1;
                    (v, *slots + 1)
                }
                Frame::Object { started, slots } => {
                    let key: Value = stack.get(2 * d)?;
                    let (k, v): (Value, Value) = next.call((t, key))?;
                    if k.is_nil() {
                        self.out.push(b'}');
                        stack.set(2 * d - 1, Value::Nil)?;
                        open.pop();
                        continue;
                    }
                    if *started {
                        self.out.push(b',');
                    }
                    *started = true;
                    let slots = *slots + 2;
                    self.key(&k)?;
                    stack.set(2 * d, k)?;
                    (v, slots)
                }
            };
            if let Some(f) = self.value(&child, d as i32 + 1, slots)? {
                stack.set(2 * d + 1, child)?;
                stack.set(2 * d + 2, Value::Nil)?;
                open.push(f);
            }
        }
        Ok(())
    }

    /// Writes a scalar, or opens a table (returned to be filled in). `depth` is the table's
    /// nesting, `slots` the Lua stack slots the original would use (its depth check also
    /// fails when Lua's C stack would overflow).
    fn value(&mut self, v: &Value, depth: i32, slots: usize) -> Result<Option<Frame>, Fail> {
        match v {
            Value::String(s) => self.string(&s.as_bytes()),
            Value::Integer(n) => self.number(*n as f64, v)?,
            Value::Number(n) => self.number(*n, v)?,
            Value::Boolean(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Table(t) => {
                if depth > self.cfg.encode_max_depth || slots + 3 > MAX_C_STACK {
                    return Err(Fail::msg(format!(
                        "Cannot serialise, excessive nesting ({depth})"
                    )));
                }
                return Ok(Some(match self.array_length(t, v)? {
                    Some(n) if n > 0 => {
                        self.out.push(b'[');
                        Frame::Array { n, next: 1, slots }
                    }
                    _ => {
                        self.out.push(b'{');
                        Frame::Object {
                            started: false,
                            slots,
                        }
                    }
                }));
            }
            _ => return Err(cannot(v, "type not supported")),
        }
        Ok(None)
    }

    /// An object's key: a string, or a number written as a string.
    fn key(&mut self, k: &Value) -> Result<(), Fail> {
        match k {
            Value::Integer(i) => self.number_key(*i as f64, k),
            Value::Number(n) => self.number_key(*n, k),
            Value::String(s) => {
                self.string(&s.as_bytes());
                self.out.push(b':');
                Ok(())
            }
            _ => Err(cannot(k, "table key must be a number or string")),
        }
    }

    fn number_key(&mut self, n: f64, k: &Value) -> Result<(), Fail> {
        self.out.push(b'"');
        self.number(n, k)?;
        self.out.extend_from_slice(b"\":");
        Ok(())
    }

    fn string(&mut self, s: &[u8]) {
        self.out.push(b'"');
        for &c in s {
            match c {
                b'"' => self.out.extend_from_slice(b"\\\""),
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'/' => self.out.extend_from_slice(b"\\/"),
                b'\x08' => self.out.extend_from_slice(b"\\b"),
                b'\t' => self.out.extend_from_slice(b"\\t"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                b'\x0c' => self.out.extend_from_slice(b"\\f"),
                b'\r' => self.out.extend_from_slice(b"\\r"),
                0..=0x1f | 0x7f => self.out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
                _ => self.out.push(c),
            }
        }
        self.out.push(b'"');
    }

    fn number(&mut self, n: f64, v: &Value) -> Result<(), Fail> {
        let invalid = n.is_nan() || n.is_infinite();
        match self.cfg.encode_invalid_numbers {
            0 if invalid => return Err(cannot(v, "must not be NaN or Inf")),
            1 if n.is_nan() => {
                self.out.extend_from_slice(b"nan");
                return Ok(());
            }
            2 if invalid => {
                self.out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {}
        }
        self.out
            .extend_from_slice(format_g(n, self.cfg.precision).as_bytes());
        Ok(())
    }

    /// The array length when every key is a positive integer, else None. Too sparse an array
    /// is an error, or an object when `encode_sparse_array` says convert. The running maximum
    /// is a C `int`, so keys from 2^31 on make it negative and the table an object.
    fn array_length(&mut self, t: &Table, v: &Value) -> Result<Option<i32>, Fail> {
        let (mut max, mut items) = (0i32, 0i32);
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair?;
            let k = match k {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => return Ok(None),
            };
            if k == 0.0 || k.floor() != k || k < 1.0 {
                return Ok(None);
            }
            if k > max as f64 {
                max = c_i32(k);
            }
            items = items.wrapping_add(1);
        }
        let c = self.cfg;
        if c.sparse_ratio > 0 && max > items.wrapping_mul(c.sparse_ratio) && max > c.sparse_safe {
            if !c.sparse_convert {
                return Err(cannot(v, "excessively sparse array"));
            }
            return Ok(None);
        }
        Ok(Some(max))
    }
}

/// A table being written (the table itself is in the walk's `LuaStack`).
enum Frame {
    Array { n: i32, next: i32, slots: usize },
    Object { started: bool, slots: usize },
}

// ===== Decoding =====

#[derive(Clone, Copy, PartialEq, Debug)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    /// A lexical error, with what it was.
    Error(&'static str),
}

impl Tok {
    /// The name an error message gives the token.
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Num(_) => "T_NUMBER",
            Tok::Bool(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(what) => what,
        }
    }
}

fn decode(lua: &Lua, a: Args, cfg: &Shared) -> LibResult {
    if a.len() != 1 {
        return Err(Fail::arg(1, "expected 1 argument"));
    }
    let cfg = *cfg.lock();
    let s = a.check_string(lua, 1)?;
    let s = s.as_bytes();
    if s.len() >= 2 && (s[0] == 0 || s[1] == 0) {
        return Err(Fail::msg("JSON parser does not support UTF-16 or UTF-32"));
    }
    // The text is read as a C string: a NUL byte (or the end) is the end of the input.
    let mut data = s.to_vec();
    data.push(0);
    let mut p = Parser {
        lua,
        cfg: &cfg,
        data: &data,
        at: 0,
        depth: 0,
        text: Vec::new(),
    };
    let tok = p.next_token();
    let v = p.value(tok)?;
    let tok = p.next_token();
    if tok.0 != Tok::End {
        return Err(p.expected("the end", tok));
    }
    one(v)
}

struct Parser<'a> {
    lua: &'a Lua,
    cfg: &'a Config,
    data: &'a [u8],
    at: usize,
    depth: i32,
    /// The last string token's bytes.
    text: Vec<u8>,
}

impl Parser<'_> {
    fn byte(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn expected(&self, what: &str, tok: (Tok, usize)) -> Fail {
        Fail::msg(format!(
            "Expected {what} but found {} at character {}",
            tok.0.name(),
            tok.1 + 1
        ))
    }

    /// The next token and where it is (for errors inside strings and numbers, where the
    /// error is).
    fn next_token(&mut self) -> (Tok, usize) {
        while matches!(self.byte(self.at), b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
        let start = self.at;
        let c = self.byte(start);
        let single = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(t) = single {
            self.at += 1;
            return (t, start);
        }
        match c {
            0 => (Tok::End, start),
            b'"' => self.string_token(),
            b'-' | b'0'..=b'9' => {
                if !self.cfg.decode_invalid_numbers && self.invalid_number() {
                    return (Tok::Error("invalid number"), self.at);
                }
                self.number_token()
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                let rest = &self.data[self.at..];
                if rest.starts_with(b"true") {
                    self.at += 4;
                    (Tok::Bool(true), start)
                } else if rest.starts_with(b"false") {
                    self.at += 5;
                    (Tok::Bool(false), start)
                } else if rest.starts_with(b"null") {
                    self.at += 4;
                    (Tok::Null, start)
                } else if self.cfg.decode_invalid_numbers && self.invalid_number() {
                    self.number_token()
                } else {
                    (Tok::Error("invalid token"), self.at)
                }
            }
            _ => (Tok::Error("invalid token"), start),
        }
    }

    /// Numbers strict JSON refuses but C's strtod reads: a leading '+', hex, leading zeros,
    /// inf and nan.
    fn invalid_number(&self) -> bool {
        let mut p = self.at;
        if self.byte(p) == b'+' {
            return true;
        }
        if self.byte(p) == b'-' {
            p += 1;
        }
        let c = self.byte(p);
        if c == b'0' {
            let c2 = self.byte(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word = |w: &[u8]| (0..3).all(|i| self.byte(p + i).to_ascii_lowercase() == w[i]);
        word(b"inf") || word(b"nan")
    }

    fn number_token(&mut self) -> (Tok, usize) {
        let start = self.at;
        let mut end: *mut libc::c_char = std::ptr::null_mut();
        // SAFETY: `data` ends with a NUL byte, so strtod stops inside it.
        let n = unsafe {
            let p = self.data.as_ptr().add(start) as *const libc::c_char;
            let n = libc::strtod(p, &mut end);
            let used = (end as *const libc::c_char).offset_from(p);
            self.at += used.max(0) as usize;
            n
        };
        if self.at == start {
            return (Tok::Error("invalid number"), start);
        }
        (Tok::Num(n), start)
    }

    fn string_token(&mut self) -> (Tok, usize) {
        let start = self.at;
        self.at += 1;
        self.text.clear();
        loop {
            let c = self.byte(self.at);
            match c {
                b'"' => break,
                0 => return (Tok::Error("unexpected end of string"), self.at),
                b'\\' => {
                    let unescaped = match self.byte(self.at + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => b'\x08',
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => b'\x0c',
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape() {
                                continue;
                            }
                            return (Tok::Error("invalid unicode escape code"), self.at);
                        }
                        _ => return (Tok::Error("invalid escape code"), self.at),
                    };
                    self.text.push(unescaped);
                    self.at += 2;
                }
                _ => {
                    self.text.push(c);
                    self.at += 1;
                }
            }
        }
        self.at += 1;
        (Tok::Str, start)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0;
        for i in 0..4 {
            v = v << 4 | (self.byte(at + i) as char).to_digit(16)?;
        }
        Some(v)
    }

    /// `\uXXXX` (or a surrogate pair of them) at the cursor, appended as UTF-8.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = self.hex4(self.at + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.byte(self.at + 6) != b'\\' || self.byte(self.at + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.at + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let mut buf = [0u8; 4];
        let s = char::from_u32(cp).map(|ch| ch.encode_utf8(&mut buf).len());
        match s {
            Some(n) => self.text.extend_from_slice(&buf[..n]),
            None => return false,
        }
        self.at += len;
        true
    }

    /// Enters an array or object; `need` is the stack slots the original asks for.
    fn descend(&mut self, slots: usize, need: usize) -> Result<(), Fail> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth && slots + need <= MAX_C_STACK {
            return Ok(());
        }
        Err(Fail::msg(format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.at
        )))
    }

    /// The value starting with `tok`. Arrays and objects being filled are kept on an explicit
    /// stack (deep input must not exhaust the thread's stack); `slots` counts the Lua stack
    /// slots the original would hold, as its depth check also watches Lua's C stack limit.
    fn value(&mut self, mut tok: (Tok, usize)) -> Result<Value, Fail> {
        // Open containers: their tables and objects' keys sit in `stack` (slots 2d-1 and
        // 2d), arrays' next index here.
        let stack = LuaStack::new(self.lua)?;
        let mut open: Vec<Option<i64>> = Vec::new();
        // One stack slot is taken by the argument.
        let mut slots = 1;
        loop {
            // `tok` starts a value.
            let mut v = match tok.0 {
                Tok::Str => Value::String(self.lua.create_string(&self.text)?),
                Tok::Num(n) => Value::Number(n),
                Tok::Bool(b) => Value::Boolean(b),
                Tok::Null => null(),
                Tok::ObjBegin => {
                    self.descend(slots, 3)?;
                    let t = self.lua.create_table()?;
                    let first = self.next_token();
                    if first.0 == Tok::ObjEnd {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        let key = self.key(first)?;
                        let d = open.len() + 1;
                        stack.set(2 * d - 1, t)?;
                        stack.set(2 * d, key)?;
                        open.push(None);
                        slots += 2;
                        tok = self.next_token();
                        continue;
                    }
                }
                Tok::ArrBegin => {
                    self.descend(slots, 2)?;
                    let t = self.lua.create_table()?;
                    let first = self.next_token();
                    if first.0 == Tok::ArrEnd {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        let d = open.len() + 1;
                        stack.set(2 * d - 1, t)?;
                        open.push(Some(1));
                        slots += 1;
                        tok = first;
                        continue;
                    }
                }
                _ => return Err(self.expected("value", tok)),
            };
            // `v` is complete: store it in the innermost container, closing those that end.
            loop {
                let d = open.len();
                let Some(top) = open.last_mut() else {
                    return Ok(v);
                };
                let t: Table = stack.get(2 * d - 1)?;
                match top {
                    Some(i) => {
                        t.raw_set(*i, v)?;
                        *i += 1;
                        let next = self.next_token();
                        if next.0 == Tok::Comma {
                            tok = self.next_token();
                            break;
                        }
                        if next.0 != Tok::ArrEnd {
                            return Err(self.expected("comma or array end", next));
                        }
                        slots -= 1;
                    }
                    None => {
                        let key: LuaString = stack.get(2 * d)?;
                        t.raw_set(key, v)?;
                        let next = self.next_token();
                        if next.0 == Tok::Comma {
                            let first = self.next_token();
                            stack.set(2 * d, self.key(first)?)?;
                            tok = self.next_token();
                            break;
                        }
                        if next.0 != Tok::ObjEnd {
                            return Err(self.expected("comma or object end", next));
                        }
                        slots -= 2;
                    }
                }
                stack.set(2 * d - 1, Value::Nil)?;
                v = Value::Table(t);
                self.depth -= 1;
                open.pop();
            }
        }
    }

    /// An object's key (`tok`) and the colon after it.
    fn key(&mut self, tok: (Tok, usize)) -> Result<LuaString, Fail> {
        if tok.0 != Tok::Str {
            return Err(self.expected("object key string", tok));
        }
        let key = self.lua.create_string(&self.text)?;
        let colon = self.next_token();
        if colon.0 != Tok::Colon {
            return Err(self.expected("colon", colon));
        }
        Ok(key)
    }
}
