//! The Lua libraries Redis gives scripts besides the standard ones: `cjson`, `cmsgpack`, `bit`
//! and `struct`, written in Rust on mlua with Redis's encodings and error texts.
//!
//! Scripts see these errors as Lua strings (so `pcall` hands back the same text Redis does), not
//! as mlua's error userdata. Each library function is therefore a Rust callback wrapped in a
//! small C closure (`trampoline`): the callback reports a failure as a marked return value and
//! the closure raises it with `lua_error`, from a C frame, exactly where Lua's own C libraries
//! raise theirs. Being a C function also keeps Lua's naming of the callee in "bad argument"
//! messages (`bad argument #1 to 'tobit'`), which a Lua wrapper would lose on tail calls.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod random;
pub mod structlib;

use std::ffi::{c_int, c_void};

use mlua::{ffi, Function, LightUserData, Lua, LuaString, MultiValue, Table, Value};

/// Installs the globals `cjson`, `cmsgpack`, `bit` and `struct` (before `_G` is protected).
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    // Lua's `next`, for walking tables a step at a time (taken before scripts can run).
    lua.set_named_registry_value(NEXT, g.raw_get::<Function>("next")?)?;
    g.raw_set("cjson", cjson::module(lua)?)?;
    g.raw_set("struct", structlib::module(lua)?)?;
    g.raw_set("cmsgpack", cmsgpack::module(lua)?)?;
    g.raw_set("bit", bit::module(lua)?)?;
    random::install(lua, &g.raw_get::<Table>("math")?)?;
    Ok(())
}

/// The registry name of Lua's `next`.
pub(crate) const NEXT: &str = "ferrocache.libs.next";

/// How a library function fails, in the shapes of Lua's C API.
#[derive(Debug)]
pub(crate) enum Fail {
    /// `luaL_error`: the text, prefixed with where the script called from.
    Msg(Vec<u8>),
    /// `luaL_argerror`: argument number and the reason.
    Arg(i32, Vec<u8>),
    /// An error Lua's core raises from inside the function (no position: the running function
    /// is a C function), e.g. "table index is nil".
    Raw(Vec<u8>),
    /// An error from mlua itself (out of memory and the like), passed on as it is.
    Lua(mlua::Error),
}

impl Fail {
    pub(crate) fn msg(m: impl Into<Vec<u8>>) -> Fail {
        Fail::Msg(m.into())
    }
    pub(crate) fn arg(n: i32, m: impl Into<Vec<u8>>) -> Fail {
        Fail::Arg(n, m.into())
    }
    /// `luaL_checkstack`'s failure.
    pub(crate) fn stack(what: &str) -> Fail {
        Fail::msg(format!("stack overflow ({what})"))
    }
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Fail {
        Fail::Lua(e)
    }
}

pub(crate) type LibResult = Result<MultiValue, Fail>;

/// Lua's C stack limit (`LUAI_MAXCSTACK`): `lua_checkstack` refuses to grow a C function's
/// stack beyond this many slots, which bounds how many values a function may return.
pub(crate) const MAX_C_STACK: usize = 8000;

/// The address that marks a failure returned by a callback (nothing else can produce it).
static FAILURE_MARK: u8 = 0;
/// The address that marks results handed over in a table (see `many`).
static SPREAD_MARK: u8 = 0;

fn failure_mark() -> *mut c_void {
    std::ptr::addr_of!(FAILURE_MARK) as *mut c_void
}

fn spread_mark() -> *mut c_void {
    std::ptr::addr_of!(SPREAD_MARK) as *mut c_void
}

/// Results collected in a Lua table and handed to the trampoline, which pushes them on its
/// own stack. Collecting in Lua keeps mlua from holding one reference per value (its
/// reference stack is bounded too), and lets a function return right up to Lua's C stack
/// limit as the originals can (mlua keeps a few slots back for itself).
pub(crate) struct Results {
    t: Table,
    n: usize,
}

impl Results {
    pub(crate) fn new(lua: &Lua) -> mlua::Result<Results> {
        Ok(Results {
            t: lua.create_table()?,
            n: 0,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.n
    }

    pub(crate) fn push(&mut self, v: Value) -> mlua::Result<()> {
        self.n += 1;
        self.t.raw_set(self.n, v)
    }

    pub(crate) fn set(&mut self, i: usize, v: Value) -> mlua::Result<()> {
        self.t.raw_set(i, v)
    }

    pub(crate) fn last(&self) -> mlua::Result<Value> {
        if self.n == 0 {
            return Ok(Value::Nil);
        }
        self.t.raw_get(self.n)
    }

    pub(crate) fn pop(&mut self) -> mlua::Result<()> {
        if self.n > 0 {
            self.t.raw_set(self.n, Value::Nil)?;
            self.n -= 1;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> LibResult {
        Ok(MultiValue::from_vec(vec![
            Value::LightUserData(LightUserData(spread_mark())),
            Value::Table(self.t),
            Value::Number(self.n as f64),
        ]))
    }
}

/// A stack of Lua values kept in a Lua table (1-based), for walking nested tables without
/// recursion and without holding an mlua reference per level.
pub(crate) struct LuaStack(Table);

impl LuaStack {
    pub(crate) fn new(lua: &Lua) -> mlua::Result<LuaStack> {
        Ok(LuaStack(lua.create_table()?))
    }

    pub(crate) fn get<V: mlua::FromLua>(&self, i: usize) -> mlua::Result<V> {
        self.0.raw_get(i)
    }

    pub(crate) fn set(&self, i: usize, v: impl mlua::IntoLua) -> mlua::Result<()> {
        self.0.raw_set(i, v)
    }
}

fn is_mark(l: *mut ffi::lua_State, mark: *mut c_void) -> bool {
    // SAFETY: only called with a valid index (the caller checked the stack's height).
    unsafe { ffi::lua_type(l, 1) == ffi::LUA_TLIGHTUSERDATA && ffi::lua_touserdata(l, 1) == mark }
}

/// Calls the Rust callback held as upvalue 1 with all arguments; raises the message if the
/// callback returned the failure mark, else returns what it returned.
unsafe extern "C-unwind" fn trampoline(l: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(l);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, nargs, ffi::LUA_MULTRET);
    let top = ffi::lua_gettop(l);
    if top == 2 && is_mark(l, failure_mark()) {
        ffi::lua_error(l);
    }
    if top == 3 && is_mark(l, spread_mark()) {
        let n = ffi::lua_tointeger(l, 3) as c_int;
        // Keep only the table (in slot 1), then push its items above it.
        ffi::lua_settop(l, 2);
        ffi::lua_replace(l, 1);
        if ffi::lua_checkstack(l, n) == 0 {
            ffi::lua_pushstring(l, c"stack overflow".as_ptr());
            ffi::lua_error(l);
        }
        for i in 1..=n {
            ffi::lua_rawgeti(l, 1, i as ffi::lua_Integer);
        }
        return n;
    }
    top
}

/// Makes a library function from `f` (see the module's note on errors).
pub(crate) fn function<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, Args) -> LibResult + Send + 'static,
{
    let inner =
        lua.create_function(
            move |lua, args: MultiValue| match f(lua, Args(args.into_vec())) {
                Ok(v) => Ok(v),
                Err(Fail::Lua(e)) => Err(e),
                Err(fail) => {
                    let text = lua.create_string(failure_text(lua, fail))?;
                    Ok(MultiValue::from_vec(vec![
                        Value::LightUserData(LightUserData(failure_mark())),
                        Value::String(text),
                    ]))
                }
            },
        )?;
    // SAFETY: pushcclosure takes the callback (the one argument on the stack) as the upvalue
    // and leaves the closure as the one result.
    unsafe {
        lua.exec_raw(inner, |l| {
            ffi::lua_pushcclosure(l, trampoline, 1);
        })
    }
}

/// The error text as `luaL_error`/`luaL_argerror` would make it: Lua's position of the caller
/// (stack level 2: level 0 is the callback, 1 the trampoline) and, for argument errors, the
/// name the caller used for the function.
fn failure_text(lua: &Lua, fail: Fail) -> Vec<u8> {
    let mut out = Vec::new();
    let place = lua
        .inspect_stack(2, |d| {
            let line = d.current_line()?;
            let src = d.source().short_src?.into_owned();
            Some(format!("{src}:{line}: "))
        })
        .flatten();
    if let Some(p) = place {
        out.extend_from_slice(p.as_bytes());
    }
    match fail {
        Fail::Raw(m) => return m,
        Fail::Msg(m) => out.extend_from_slice(&m),
        Fail::Arg(mut n, extra) => {
            let (name, what) = lua
                .inspect_stack(1, |d| {
                    let names = d.names();
                    (names.name.map(|s| s.into_owned()), names.name_what)
                })
                .unwrap_or((None, None));
            if what == Some("method") {
                n -= 1;
                if n == 0 {
                    let name = name.unwrap_or_default();
                    out.extend_from_slice(format!("calling '{name}' on bad self (").as_bytes());
                    out.extend_from_slice(&extra);
                    out.push(b')');
                    return out;
                }
            }
            let name = name.unwrap_or_else(|| "?".to_string());
            out.extend_from_slice(format!("bad argument #{n} to '{name}' (").as_bytes());
            out.extend_from_slice(&extra);
            out.push(b')');
        }
        Fail::Lua(_) => {}
    }
    out
}

/// A library function's arguments, read with the rules of Lua 5.1's `luaL_check*` helpers.
pub(crate) struct Args(pub(crate) Vec<Value>);

impl Args {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Argument `i` (1-based); `None` when not given (Lua's "none").
    pub(crate) fn get(&self, i: usize) -> Option<&Value> {
        self.0.get(i.wrapping_sub(1))
    }

    pub(crate) fn is_none_or_nil(&self, i: usize) -> bool {
        matches!(self.get(i), None | Some(Value::Nil))
    }

    /// `lua_tonumber`'s view: numbers, and strings that read as numbers.
    pub(crate) fn to_number(&self, lua: &Lua, i: usize) -> Option<f64> {
        self.get(i).and_then(|v| to_number(lua, v))
    }

    fn type_error(&self, i: usize, expected: &str) -> Fail {
        let got = self.get(i).map_or("no value", type_name);
        Fail::arg(i as i32, format!("{expected} expected, got {got}"))
    }

    /// `luaL_checknumber`.
    pub(crate) fn check_number(&self, lua: &Lua, i: usize) -> Result<f64, Fail> {
        self.to_number(lua, i)
            .ok_or_else(|| self.type_error(i, "number"))
    }

    /// `luaL_checkinteger` (Lua 5.1 truncates as C's cast does).
    pub(crate) fn check_integer(&self, lua: &Lua, i: usize) -> Result<i64, Fail> {
        self.check_number(lua, i).map(c_i64)
    }

    /// `luaL_optinteger`.
    pub(crate) fn opt_integer(&self, lua: &Lua, i: usize, default: i64) -> Result<i64, Fail> {
        if self.is_none_or_nil(i) {
            return Ok(default);
        }
        self.check_integer(lua, i)
    }

    /// `luaL_checklstring`: strings, and numbers written as Lua writes them.
    pub(crate) fn check_string(&self, lua: &Lua, i: usize) -> Result<LuaString, Fail> {
        match self.get(i) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v @ (Value::Integer(_) | Value::Number(_))) => lua
                .coerce_string(v.clone())?
                .ok_or_else(|| self.type_error(i, "string")),
            _ => Err(self.type_error(i, "string")),
        }
    }
}

/// `lua_tonumber` on one value.
pub(crate) fn to_number(lua: &Lua, v: &Value) -> Option<f64> {
    match v {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(_) => lua.coerce_number(v.clone()).ok().flatten(),
        _ => None,
    }
}

/// Lua's name for a value's type (`lua_typename`).
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// A double cast to a 64-bit integer the way x86-64 C code does it: truncation, and the
/// "integer indefinite" value (i64::MIN) for NaN and anything out of range.
pub(crate) fn c_i64(n: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0; // 2^63, exactly
    if n.is_nan() || !(-TWO_63..TWO_63).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// As `c_i64`, for a cast to a 32-bit `int`.
pub(crate) fn c_i32(n: f64) -> i32 {
    if n.is_nan() || n <= -2_147_483_649.0 || n >= 2_147_483_648.0 {
        i32::MIN
    } else {
        n as i32
    }
}

/// `printf("%.<precision>g", n)`, through the C library so every digit is the one Redis writes.
pub(crate) fn format_g(n: f64, precision: i32) -> String {
    let mut buf = [0u8; 64];
    let fmt = c"%.*g";
    // SAFETY: the buffer's size is passed; %.*g takes an int and a double.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            fmt.as_ptr(),
            precision as c_int,
            n,
        )
    };
    let len = (len.max(0) as usize).min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_casts_match_x86() {
        assert_eq!(c_i64(f64::NAN), i64::MIN);
        assert_eq!(c_i64(1e300), i64::MIN);
        assert_eq!(c_i64(-2.9), -2);
        assert_eq!(c_i64(-(2f64.powi(63))), i64::MIN);
        assert_eq!(c_i64(2f64.powi(63)), i64::MIN);
        assert_eq!(c_i32(2_147_483_648.0), i32::MIN);
        assert_eq!(c_i32(2_147_483_647.9), i32::MAX);
        assert_eq!(c_i32(-2_147_483_648.5), i32::MIN);
    }

    #[test]
    fn g_format() {
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1e300, 14), "1e+300");
        assert_eq!(format_g(-0.0, 14), "-0");
        assert_eq!(format_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(format_g(f64::INFINITY, 14), "inf");
    }
}
