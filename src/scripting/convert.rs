//! Replies to Lua values and back, by Redis's rules: an integer is a number, a bulk a string,
//! a nil bulk or nil array `false`, a status `{ok=...}`, an error `{err=...}`, an array a
//! table; the other way a number is truncated to an integer, `true` is 1, `false` nil, a table
//! is an array up to its first nil (unless it holds `ok` or `err`).

use mlua::{Lua, Table, Value};

use crate::protocol::reply::Reply;

/// One RESP2 reply from `buf` at `*at` as a Lua value; `*at` moves past it.
pub fn reply_to_lua(lua: &Lua, buf: &[u8], at: &mut usize) -> mlua::Result<Value> {
    let bad = || mlua::Error::RuntimeError("malformed reply".into());
    let line_end = buf[*at..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or_else(bad)?
        + *at;
    let kind = buf[*at];
    let line = &buf[*at + 1..line_end];
    *at = line_end + 2;
    let num = || -> mlua::Result<i64> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    Ok(match kind {
        b':' => Value::Integer(num()?),
        b'+' => Value::Table(field(lua, "ok", line)?),
        b'-' => Value::Table(field(lua, "err", line)?),
        b'$' => {
            let n = num()?;
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let data = buf.get(*at..*at + n as usize).ok_or_else(bad)?;
            *at += n as usize + 2;
            Value::String(lua.create_string(data)?)
        }
        b'*' => {
            let n = num()?;
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table_with_capacity(n as usize, 0)?;
            for i in 1..=n {
                t.raw_set(i, reply_to_lua(lua, buf, at)?)?;
            }
            Value::Table(t)
        }
        _ => return Err(bad()),
    })
}

fn field(lua: &Lua, name: &str, text: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(name, lua.create_string(text)?)?;
    Ok(t)
}

/// Writes a script's result as a reply.
pub fn lua_to_reply(v: &Value, out: &mut Reply) {
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(true) => out.int(1),
        Value::Boolean(false) | Value::Nil => out.null(),
        Value::Integer(n) => out.int(*n),
        Value::Number(n) => out.int(super::libs::c_i64(*n)),
        Value::Table(t) => table_to_reply(t, out),
        _ => out.null(),
    }
}

fn table_to_reply(t: &Table, out: &mut Reply) {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        out.error(&e.to_string_lossy());
        return;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        out.simple(&s.to_string_lossy());
        return;
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for v in &items {
        lua_to_reply(v, out);
    }
}
