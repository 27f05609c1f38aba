//! Replies to Lua values and back, by Redis's rules: an integer is a number, a bulk a string,
//! a nil bulk or nil array `false`, a status `{ok=...}`, an error `{err=...}`, an array a
//! table; after `redis.setresp(3)` also a map `{map={...}}`, a set `{set={...}}`, a double
//! `{double=n}`, a boolean, a null `nil`, a big number `{big_number=...}` and a verbatim
//! string `{verbatim_string={format=..., string=...}}`. The other way a number is truncated to
//! an integer, a table is an array up to its first nil unless it holds one of those fields,
//! and the reply takes the caller's protocol.

use mlua::{Lua, Table, Value};

use crate::protocol::reply::Reply;

/// One reply (RESP2 or RESP3) from `buf` at `*at` as a Lua value; `*at` moves past it.
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
    let mut body = |n: i64| -> mlua::Result<&[u8]> {
        let data = buf.get(*at..*at + n as usize).ok_or_else(bad)?;
        *at += n as usize + 2;
        Ok(data)
    };
    Ok(match kind {
        b':' => Value::Integer(num()?),
        b'+' => Value::Table(field(lua, "ok", lua.create_string(line)?)?),
        b'-' => Value::Table(field(lua, "err", lua.create_string(line)?)?),
        b'$' => {
            let n = num()?;
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            Value::String(lua.create_string(body(n)?)?)
        }
        b'*' | b'>' => {
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
        b'%' => {
            let n = num()?;
            let m = lua.create_table()?;
            for _ in 0..n {
                let k = reply_to_lua(lua, buf, at)?;
                let v = reply_to_lua(lua, buf, at)?;
                m.raw_set(k, v)?;
            }
            Value::Table(field(lua, "map", m)?)
        }
        b'~' => {
            let n = num()?;
            let s = lua.create_table()?;
            for _ in 0..n {
                s.raw_set(reply_to_lua(lua, buf, at)?, true)?;
            }
            Value::Table(field(lua, "set", s)?)
        }
        b',' => {
            let text = std::str::from_utf8(line).map_err(|_| bad())?;
            let v = match text {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" | "-nan" => f64::NAN,
                t => t.parse().map_err(|_| bad())?,
            };
            Value::Table(field(lua, "double", v)?)
        }
        b'#' => Value::Boolean(line == b"t"),
        b'_' => Value::Nil,
        b'(' => Value::Table(field(lua, "big_number", lua.create_string(line)?)?),
        b'=' => {
            let data = body(num()?)?;
            let (format, text) = data.split_at(data.len().min(3));
            let v = lua.create_table()?;
            v.raw_set("format", lua.create_string(format)?)?;
            v.raw_set("string", lua.create_string(text.get(1..).unwrap_or(b""))?)?;
            Value::Table(field(lua, "verbatim_string", v)?)
        }
        b'|' => {
            // Attributes are not shown to scripts: skipped, the reply is what follows.
            for _ in 0..2 * num()? {
                reply_to_lua(lua, buf, at)?;
            }
            reply_to_lua(lua, buf, at)?
        }
        _ => return Err(bad()),
    })
}

fn field(lua: &Lua, name: &str, v: impl mlua::IntoLua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(name, v)?;
    Ok(t)
}

/// How deep a script's result may nest, as far as Redis's Lua stack lets its conversion go
/// (a table holding itself ends there with an error rather than exhausting the stack).
const MAX_DEPTH: usize = 7995;

/// Writes a script's result as a reply in `out`'s protocol; `resp` is the script's own
/// (`redis.setresp`), which decides what a boolean becomes. Iterative: results may nest
/// thousands deep.
pub fn lua_to_reply(v: &Value, out: &mut Reply, resp: u8) {
    let mut todo: Vec<(Value, usize)> = vec![(v.clone(), 0)];
    while let Some((v, depth)) = todo.pop() {
        match v {
            Value::String(s) => out.bulk(&s.as_bytes()),
            Value::Boolean(b) if resp == 3 => out.boolean(b),
            Value::Boolean(true) => out.int(1),
            Value::Boolean(false) | Value::Nil => out.null(),
            Value::Integer(n) => out.int(n),
            Value::Number(n) => out.int(super::libs::c_i64(n)),
            Value::Table(_) if depth >= MAX_DEPTH => out.error("ERR reached lua stack limit"),
            Value::Table(t) => {
                let start = todo.len();
                table_to_reply(&t, out, depth + 1, &mut todo);
                // Pushed in order: reversed so that they pop in order.
                todo[start..].reverse();
            }
            _ => out.null(),
        }
    }
}

/// A status or big number's text: CR and LF would break the line, so they become spaces.
fn one_line(s: &mlua::LuaString) -> String {
    s.to_string_lossy().replace(['\r', '\n'], " ")
}

/// Writes a table's header (or the whole reply, for the one-field forms) and queues what it
/// holds, in order, at `depth`.
fn table_to_reply(t: &Table, out: &mut Reply, depth: usize, todo: &mut Vec<(Value, usize)>) {
    let get = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
    if let Value::String(e) = get("err") {
        out.error(&e.to_string_lossy());
        return;
    }
    if let Value::String(s) = get("ok") {
        out.simple(&one_line(&s));
        return;
    }
    match get("double") {
        Value::Number(n) => return out.double(n),
        Value::Integer(n) => return out.double(n as f64),
        _ => {}
    }
    if let Value::String(s) = get("big_number") {
        let text = one_line(&s);
        if out.resp3 {
            out.raw(format!("({text}\r\n").as_bytes());
        } else {
            out.bulk(text.as_bytes());
        }
        return;
    }
    if let Value::Table(v) = get("verbatim_string") {
        if let (Ok(Value::String(f)), Ok(Value::String(s))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            let (f, s) = (f.as_bytes(), s.as_bytes());
            if out.resp3 {
                out.raw(format!("={}\r\n", s.len() + 4).as_bytes());
                out.raw(&f[..f.len().min(3)]);
                out.raw(b":");
                out.raw(&s);
                out.raw(b"\r\n");
            } else {
                out.bulk(&s);
            }
            return;
        }
    }
    if let Value::Table(m) = get("map") {
        let pairs: Vec<(Value, Value)> = m.pairs().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in pairs {
            todo.push((k, depth));
            todo.push((v, depth));
        }
        return;
    }
    if let Value::Table(s) = get("set") {
        let items: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| k)
            .collect();
        out.set(items.len());
        todo.extend(items.into_iter().map(|k| (k, depth)));
        return;
    }
    let first = todo.len();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => todo.push((v, depth)),
        }
    }
    out.array(todo.len() - first);
}
