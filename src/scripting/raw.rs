//! The hot path of a script run on Lua's C API, under mlua: a reply pushed as a Lua value, a
//! result read back into a reply, a call's arguments read off the stack. mlua keeps every
//! value it hands out in a reference slot (moved there and back per value); that bookkeeping
//! was two fifths of a 3-command script's cost, more than the Lua VM's own. What is rare (a
//! result that nests, an error) still goes through mlua and `convert`.
//!
//! Every function here runs with the stack of a state whose lock the caller holds, and checks
//! the stack room it uses.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};

use crate::protocol::reply::Reply;

/// The state an mlua `Lua` runs on, outside any callback: its main thread.
pub fn main_state(lua: &mlua::Lua) -> *mut lua_State {
    lua.exec_raw_lua(|raw| raw.state())
}

/// Pushes `s` as a Lua string.
///
/// # Safety
/// `l` is a live state with room for one more value.
#[inline]
pub unsafe fn push_bytes(l: *mut lua_State, s: &[u8]) {
    ffi::lua_pushlstring_(l, s.as_ptr().cast(), s.len());
}

/// The string at `idx`, if it is one (numbers are not taken for strings).
///
/// # Safety
/// `l` is a live state; the slice lives as long as the value stays on the stack.
#[inline]
pub unsafe fn string_at<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a [u8]> {
    if ffi::lua_type(l, idx) != ffi::LUA_TSTRING {
        return None;
    }
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    Some(std::slice::from_raw_parts(p.cast(), len))
}

/// Pushes field `name` of the table at `idx` (raw get).
///
/// # Safety
/// The value at `idx` is a table, `idx` counted from the bottom or the top before this push.
#[inline]
pub unsafe fn get_field(l: *mut lua_State, idx: c_int, name: &[u8]) -> c_int {
    let idx = if idx < 0 && idx > ffi::LUA_REGISTRYINDEX {
        ffi::lua_gettop(l) + idx + 1
    } else {
        idx
    };
    push_bytes(l, name);
    ffi::lua_rawget_(l, idx);
    ffi::lua_type(l, -1)
}

/// Sets field `name` of the table on top to the value pushed by `value` (raw set).
///
/// # Safety
/// The top of the stack is a table; `value` pushes exactly one value.
#[inline]
pub unsafe fn set_field(l: *mut lua_State, name: &[u8], value: impl FnOnce()) {
    push_bytes(l, name);
    value();
    ffi::lua_rawset(l, -3);
}

/// Pushes a table of `items` (KEYS, ARGV, a function's arguments).
///
/// # Safety
/// `l` is a live state with room for three more values.
pub unsafe fn push_list(l: *mut lua_State, items: &[&[u8]]) {
    ffi::lua_createtable(l, items.len() as c_int, 0);
    for (i, item) in items.iter().enumerate() {
        push_bytes(l, item);
        ffi::lua_rawseti_(l, -2, i as c_int + 1);
    }
}

/// Pushes `{<name> = <value>}`.
unsafe fn push_wrapped(l: *mut lua_State, name: &[u8], value: impl FnOnce()) {
    ffi::lua_createtable(l, 0, 1);
    set_field(l, name, value);
}

/// A number as mlua reads it: an integer when it is one exactly.
#[inline]
pub fn as_integer(n: f64) -> Option<i64> {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if !(-TWO_63..TWO_63).contains(&n) {
        return None;
    }
    let i = n as i64;
    ((i as f64).to_bits() == n.to_bits()).then_some(i)
}

/// Pushes one reply (RESP2 or RESP3) from `buf` at `*at` as Redis gives it to a script (see
/// `convert`), moving `*at` past it. False, with nothing pushed, when the reply is cut short
/// or nests deeper than the stack can take.
///
/// # Safety
/// `l` is a live state.
pub unsafe fn push_reply(l: *mut lua_State, buf: &[u8], at: &mut usize) -> bool {
    let top = ffi::lua_gettop(l);
    let ok = push_reply_inner(l, buf, at);
    if !ok {
        ffi::lua_settop(l, top);
    }
    ok
}

unsafe fn push_reply_inner(l: *mut lua_State, buf: &[u8], at: &mut usize) -> bool {
    if ffi::lua_checkstack(l, 6) == 0 {
        return false;
    }
    let Some(len) = buf
        .get(*at..)
        .and_then(|b| b.iter().position(|&c| c == b'\r'))
    else {
        return false;
    };
    let (kind, line) = (buf[*at], &buf[*at + 1..*at + len]);
    *at += len + 2;
    let mut body = |n: i64| -> Option<&[u8]> {
        let data = buf.get(*at..*at + usize::try_from(n).ok()?)?;
        *at += data.len() + 2;
        Some(data)
    };
    let count = crate::num::parse_i64(line);
    match kind {
        b':' => match count {
            Some(n) => ffi::lua_pushnumber(l, n as f64),
            None => return false,
        },
        b'+' => push_wrapped(l, b"ok", || push_bytes(l, line)),
        b'-' => push_wrapped(l, b"err", || push_bytes(l, line)),
        b'$' => match count {
            Some(n) if n < 0 => ffi::lua_pushboolean(l, 0),
            Some(n) => match body(n) {
                Some(data) => push_bytes(l, data),
                None => return false,
            },
            None => return false,
        },
        b'*' | b'>' => match count {
            Some(n) if n < 0 => ffi::lua_pushboolean(l, 0),
            Some(n) => {
                ffi::lua_createtable(l, n.min(1 << 20) as c_int, 0);
                for i in 1..=n {
                    if !push_reply_inner(l, buf, at) {
                        return false;
                    }
                    ffi::lua_rawseti_(l, -2, i as c_int);
                }
            }
            None => return false,
        },
        b'%' | b'~' => {
            let Some(n) = count else { return false };
            let map = kind == b'%';
            ffi::lua_createtable(l, 0, 1);
            push_bytes(l, if map { b"map" } else { b"set" });
            ffi::lua_createtable(l, 0, n.min(1 << 20) as c_int);
            for _ in 0..n {
                if !push_reply_inner(l, buf, at) {
                    return false;
                }
                if map {
                    if !push_reply_inner(l, buf, at) {
                        return false;
                    }
                } else {
                    ffi::lua_pushboolean(l, 1);
                }
                // (A nil or NaN key cannot go into a table: Lua would raise.)
                let key = ffi::lua_type(l, -2);
                if key == ffi::LUA_TNIL
                    || (key == ffi::LUA_TNUMBER && ffi::lua_tonumber(l, -2).is_nan())
                {
                    ffi::lua_settop(l, -3);
                    continue;
                }
                ffi::lua_rawset(l, -3);
            }
            ffi::lua_rawset(l, -3);
        }
        b',' => {
            let v = match line {
                b"inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                b"nan" | b"-nan" => f64::NAN,
                t => match std::str::from_utf8(t).ok().and_then(|t| t.parse().ok()) {
                    Some(v) => v,
                    None => return false,
                },
            };
            push_wrapped(l, b"double", || ffi::lua_pushnumber(l, v));
        }
        b'#' => ffi::lua_pushboolean(l, (line == b"t") as c_int),
        b'_' => ffi::lua_pushnil(l),
        b'(' => push_wrapped(l, b"big_number", || push_bytes(l, line)),
        b'=' => {
            let Some(data) = count.and_then(&mut body) else {
                return false;
            };
            let (format, text) = data.split_at(data.len().min(3));
            push_wrapped(l, b"verbatim_string", || {
                ffi::lua_createtable(l, 0, 2);
                set_field(l, b"format", || push_bytes(l, format));
                set_field(l, b"string", || push_bytes(l, text.get(1..).unwrap_or(b"")));
            });
        }
        b'|' => {
            // Attributes are not shown to scripts: skipped, the reply is what follows.
            let Some(n) = count else { return false };
            for _ in 0..2 * n {
                if !push_reply_inner(l, buf, at) {
                    return false;
                }
                ffi::lua_settop(l, -2);
            }
            return push_reply_inner(l, buf, at);
        }
        _ => return false,
    }
    true
}

/// The fields that make a table one of the reply forms rather than an array.
const FORMS: [&[u8]; 7] = [
    b"err",
    b"ok",
    b"double",
    b"big_number",
    b"verbatim_string",
    b"map",
    b"set",
];

/// Writes the script result at `idx` as a reply when it is a value or an array of values;
/// false (nothing written) for what `convert::lua_to_reply` must take: a table of tables or
/// one of the reply forms.
///
/// # Safety
/// `l` is a live state with room for two more values; `idx` is absolute.
pub unsafe fn simple_result(l: *mut lua_State, idx: c_int, out: &mut Reply, resp: u8) -> bool {
    if ffi::lua_type(l, idx) != ffi::LUA_TTABLE {
        return scalar(l, idx, out, resp);
    }
    for name in FORMS {
        let t = get_field(l, idx, name);
        ffi::lua_settop(l, -2);
        if t != ffi::LUA_TNIL {
            return false;
        }
    }
    // An array up to its first nil: counted (and checked flat) first, then written.
    let mut n = 0;
    loop {
        ffi::lua_rawgeti_(l, idx, n + 1);
        let t = ffi::lua_type(l, -1);
        ffi::lua_settop(l, -2);
        match t {
            ffi::LUA_TNIL => break,
            ffi::LUA_TTABLE => return false,
            _ => n += 1,
        }
    }
    out.array(n as usize);
    for i in 1..=n {
        ffi::lua_rawgeti_(l, idx, i);
        scalar(l, -1, out, resp);
        ffi::lua_settop(l, -2);
    }
    true
}

/// A value that is not a table, as a reply.
unsafe fn scalar(l: *mut lua_State, idx: c_int, out: &mut Reply, resp: u8) -> bool {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TSTRING => {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, idx, &mut len);
            out.bulk(std::slice::from_raw_parts(p.cast(), len));
        }
        ffi::LUA_TBOOLEAN => {
            let b = ffi::lua_toboolean(l, idx) != 0;
            if resp == 3 {
                out.boolean(b)
            } else if b {
                out.int(1)
            } else {
                out.null()
            }
        }
        ffi::LUA_TNUMBER => {
            let n = ffi::lua_tonumber(l, idx);
            out.int(as_integer(n).unwrap_or_else(|| super::libs::c_i64(n)));
        }
        ffi::LUA_TTABLE => return false,
        _ => out.null(),
    }
    true
}

/// The line the function `level` up the stack is at (0 when there is none).
///
/// # Safety
/// `l` is a live state.
pub unsafe fn line_at(l: *mut lua_State, level: c_int) -> i64 {
    let mut ar: ffi::lua_Debug = std::mem::zeroed();
    if ffi::lua_getstack(l, level, &mut ar) == 0 || ffi::lua_getinfo(l, c"l".as_ptr(), &mut ar) == 0
    {
        return 0;
    }
    ar.currentline.max(0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_mlua_reads_them() {
        assert_eq!(as_integer(3.0), Some(3));
        assert_eq!(as_integer(-0.0), None);
        assert_eq!(as_integer(2.5), None);
        assert_eq!(as_integer(f64::NAN), None);
        assert_eq!(as_integer(9.3e18), None);
    }

    /// Each reply pushed raw reads back, through mlua, as `convert::reply_to_lua` makes it.
    #[test]
    fn push_reply_matches_convert() {
        let lua = mlua::Lua::new();
        let l = main_state(&lua);
        let replies: &[&[u8]] = &[
            b":42\r\n",
            b"+OK\r\n",
            b"-ERR bad\r\n",
            b"$3\r\nabc\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*3\r\n:1\r\n$1\r\nx\r\n*1\r\n+QUEUED\r\n",
            b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n,2.5\r\n",
            b"~2\r\n$1\r\na\r\n$1\r\nb\r\n",
            b",inf\r\n",
            b"#t\r\n",
            b"_\r\n",
            b"(123456789012345678901234567890\r\n",
            b"=7\r\ntxt:abc\r\n",
            b"|1\r\n+k\r\n+v\r\n:5\r\n",
        ];
        let show: mlua::Function = lua
            .load(
                r#"local function show(v)
                     if type(v) ~= "table" then return type(v) .. ":" .. tostring(v) end
                     local parts = {}
                     for k, x in pairs(v) do parts[#parts + 1] = show(k) .. "=" .. show(x) end
                     table.sort(parts)
                     return "{" .. table.concat(parts, ",") .. "}"
                   end
                   return show"#,
            )
            .eval()
            .unwrap();
        for reply in replies {
            let mut at = 0;
            let expected = super::super::convert::reply_to_lua(&lua, reply, &mut at).unwrap();
            let mut raw_at = 0;
            unsafe {
                assert!(push_reply(l, reply, &mut raw_at));
                ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, c"pushed".as_ptr());
            }
            assert_eq!(raw_at, at);
            let got: mlua::Value = lua.named_registry_value("pushed").unwrap();
            let (a, b): (String, String) = (show.call(expected).unwrap(), show.call(got).unwrap());
            assert_eq!(a, b, "{}", String::from_utf8_lossy(reply));
        }
        let mut at = 0;
        unsafe {
            let top = ffi::lua_gettop(l);
            assert!(!push_reply(l, b"*2\r\n:1\r\n", &mut at));
            assert_eq!(ffi::lua_gettop(l), top);
        }
    }

    /// Values and flat arrays are written here as `convert::lua_to_reply` writes them; the rest
    /// is left to it.
    #[test]
    fn simple_results_match_convert() {
        let lua = mlua::Lua::new();
        let l = main_state(&lua);
        for (code, simple) in [
            ("return 'abc'", true),
            ("return 3.7", true),
            ("return -2", true),
            ("return true", true),
            ("return false", true),
            ("return nil", true),
            ("return {1, 'a', true, false, 2.5}", true),
            ("return {1, nil, 3}", true),
            ("return {1, {2}}", false),
            ("return {ok='x'}", false),
            ("return {err='x'}", false),
        ] {
            for resp in [2u8, 3] {
                let v: mlua::Value = lua.load(code).eval().unwrap();
                let mut expected = Reply::new();
                super::super::convert::lua_to_reply(&v, &mut expected, resp);
                lua.set_named_registry_value("result", v).unwrap();
                let mut got = Reply::new();
                let wrote = unsafe {
                    ffi::lua_getfield_(l, ffi::LUA_REGISTRYINDEX, c"result".as_ptr());
                    let top = ffi::lua_gettop(l);
                    let wrote = simple_result(l, top, &mut got, resp);
                    ffi::lua_settop(l, top - 1);
                    wrote
                };
                assert_eq!(wrote, simple, "{code}");
                if wrote {
                    assert_eq!(got.buf, expected.buf, "{code}");
                }
            }
        }
    }
}
