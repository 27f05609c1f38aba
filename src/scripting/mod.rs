//! Lua scripting as Redis runs it (EVAL and friends, `command::scripting`): one Lua 5.1 state
//! (mlua, vendored: the language version Redis embeds), scripts kept by their SHA-1 and
//! compiled once into a global function `f_<sha>`, `redis.call` running commands through the
//! ordinary dispatcher as the script's client, and Redis's conversions between Lua values and
//! replies (`convert`).

pub mod convert;
pub mod libs;

use std::collections::HashMap;

use mlua::Lua;
use parking_lot::Mutex;

/// The scripting state: the Lua interpreter (made on first use) and the scripts' bodies.
#[derive(Default)]
pub struct Scripting {
    lua: Mutex<Option<Lua>>,
    bodies: Mutex<HashMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for Scripting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripting")
            .field("scripts", &self.bodies.lock().len())
            .finish()
    }
}

/// Lower-case hex SHA-1, as `redis.sha1hex` and script names write it.
pub fn sha1hex(data: &[u8]) -> String {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(data);
    let mut s = String::with_capacity(40);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Scripting {
    /// Runs `f` with the interpreter (made, with Redis's environment, on first use).
    pub fn with_lua<R>(&self, f: impl FnOnce(&Lua) -> R) -> R {
        let mut guard = self.lua.lock();
        let lua = guard.get_or_insert_with(|| new_state().expect("the Lua environment"));
        f(lua)
    }

    pub fn body(&self, sha: &str) -> Option<Vec<u8>> {
        self.bodies.lock().get(sha).cloned()
    }

    pub fn exists(&self, sha: &str) -> bool {
        self.bodies.lock().contains_key(&sha.to_ascii_lowercase())
    }

    /// Compiles `body` into `f_<sha>` unless it already is; Err is Redis's compile error text.
    pub fn load(&self, body: &[u8]) -> Result<String, String> {
        let sha = sha1hex(body);
        if self.bodies.lock().contains_key(&sha) {
            return Ok(sha);
        }
        self.with_lua(|lua| {
            let f = lua
                .load(body)
                .set_name("@user_script")
                .into_function()
                .map_err(|e| {
                    format!(
                        "ERR Error compiling script (new function): {}",
                        lua_message(&e)
                    )
                })?;
            lua.globals()
                .raw_set(format!("f_{sha}"), f)
                .map_err(|e| format!("ERR {e}"))
        })?;
        self.bodies.lock().insert(sha.clone(), body.to_vec());
        Ok(sha)
    }

    /// SCRIPT FLUSH: every script forgotten, and a new interpreter.
    pub fn flush(&self) {
        self.bodies.lock().clear();
        *self.lua.lock() = None;
    }

    pub fn count(&self) -> usize {
        self.bodies.lock().len()
    }
}

/// The text of a Lua error as Lua itself would print it (without mlua's decorations).
pub fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        other => other.to_string(),
    }
}

/// A Lua state with Redis's environment: the base, table, string and math libraries (no
/// io, os, loadfile, dofile), and the `redis` table (its `call` and `pcall` are bound per
/// script run).
fn new_state() -> mlua::Result<Lua> {
    use mlua::StdLib;
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        mlua::LuaOptions::default(),
    )?;
    let g = lua.globals();
    for name in ["loadfile", "dofile"] {
        g.raw_set(name, mlua::Value::Nil)?;
    }
    let redis = lua.create_table()?;
    redis.set(
        "sha1hex",
        lua.create_function(|_, s: mlua::LuaString| Ok(sha1hex(&s.as_bytes())))?,
    )?;
    // redis.error_reply(s) is {err=s}, redis.status_reply(s) {ok=s}.
    for (name, field) in [("error_reply", "err"), ("status_reply", "ok")] {
        let f = lua.create_function(move |lua, s: mlua::LuaString| {
            let t = lua.create_table()?;
            t.set(field, s)?;
            Ok(t)
        })?;
        redis.set(name, f)?;
    }
    let version = crate::command::connection::REDIS_VERSION;
    redis.set("REDIS_VERSION", version)?;
    let num = version
        .split('.')
        .fold(0i64, |n, p| (n << 8) | p.parse::<i64>().unwrap_or(0));
    redis.set("REDIS_VERSION_NUM", num)?;
    for (name, v) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", REPL_NONE),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", REPL_ALL),
    ] {
        redis.set(name, v)?;
    }
    redis.set("log", lua.create_function(log)?)?;
    redis.set(
        "setresp",
        lua.create_function(|lua, v: i64| {
            if v != 2 && v != 3 {
                return Err(raise(lua, "ERR RESP version must be 2 or 3."));
            }
            Ok(())
        })?,
    )?;
    // Effects are always what is replicated (Redis 7), and there is no debugger.
    redis.set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    for name in ["breakpoint", "debug"] {
        redis.set(name, lua.create_function(|_, _: mlua::MultiValue| Ok(()))?)?;
    }
    g.raw_set("redis", redis)?;
    libs::register(&lua)?;
    lua.load(PROTECT).set_name("=protect").exec()?;
    Ok(lua)
}

/// A command's error reply raised by `redis.call`, with the script line that called it (taken
/// in the call: `return redis.call(...)` is a tail call, so the line is not on the stack later).
#[derive(Debug)]
struct CallError {
    msg: String,
    line: usize,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for CallError {}

/// Raises `msg` as Redis raises its library's errors: an error reply, with the calling line.
fn raise(lua: &Lua, msg: &str) -> mlua::Error {
    let line = lua
        .inspect_stack(1, |d| d.current_line())
        .flatten()
        .unwrap_or(0);
    mlua::Error::external(CallError {
        msg: msg.to_string(),
        line,
    })
}

/// What one script run knows: its client, whether it may write (EVAL_RO), and where its
/// effects go (`redis.set_repl`).
struct RunState<'c, 'a> {
    ctx: &'c mut crate::command::Ctx<'a>,
    read_only: bool,
    repl: i64,
}

const REPL_NONE: i64 = 0;
const REPL_ALL: i64 = 3;

/// The `CallError` inside an error mlua wrapped, if there is one.
fn call_error(e: &mlua::Error) -> Option<&CallError> {
    match e {
        mlua::Error::CallbackError { cause, .. } => call_error(cause),
        mlua::Error::ExternalError(x) => x.downcast_ref::<CallError>(),
        _ => None,
    }
}

/// Scripts may not create globals nor read ones that do not exist (Redis's words).
const PROTECT: &str = r#"
setmetatable(_G, {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
  __newindex = function()
    error("Attempt to modify a readonly table", 2)
  end,
})
"#;

/// Runs the loaded script `sha` with KEYS and ARGV as this client; the reply, or the error
/// reply's text (Redis's, with where the script failed).
pub fn run(
    lua: &Lua,
    ctx: &mut crate::command::Ctx,
    sha: &str,
    keys: &[&[u8]],
    args: &[&[u8]],
    read_only: bool,
) -> Result<crate::protocol::reply::Reply, String> {
    let lua_err = |e: mlua::Error| format!("ERR {}", lua_message(&e));
    let g = lua.globals();
    let f: mlua::Function = g
        .raw_get(format!("f_{sha}"))
        .map_err(|_| "NOSCRIPT No matching script. Please use EVAL.".to_string())?;
    let list = |items: &[&[u8]]| -> mlua::Result<mlua::Table> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, a) in items.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(a)?)?;
        }
        Ok(t)
    };
    g.raw_set("KEYS", list(keys).map_err(lua_err)?)
        .map_err(lua_err)?;
    g.raw_set("ARGV", list(args).map_err(lua_err)?)
        .map_err(lua_err)?;
    let handler = lua.create_function(error_handler).map_err(lua_err)?;
    let cell = Mutex::new(RunState {
        ctx,
        read_only,
        repl: REPL_ALL,
    });
    let mut out = crate::protocol::reply::Reply::new();
    lua.scope(|scope| {
        let call = scope.create_function(|lua, args: mlua::MultiValue| {
            let (v, failed) = command_call(lua, &mut cell.lock(), args)?;
            if !failed {
                return Ok(v);
            }
            let msg = match &v {
                mlua::Value::Table(t) => t.raw_get::<String>("err").unwrap_or_default(),
                _ => String::new(),
            };
            Err(raise(lua, &msg))
        })?;
        let set_repl = scope.create_function(|lua, flags: i64| {
            if !(REPL_NONE..=REPL_ALL).contains(&flags) {
                return Err(raise(
                    lua,
                    "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                ));
            }
            cell.lock().repl = flags;
            Ok(())
        })?;
        let pcall = scope.create_function(|lua, args: mlua::MultiValue| {
            Ok(command_call(lua, &mut cell.lock(), args)?.0)
        })?;
        let redis: mlua::Table = g.raw_get("redis")?;
        redis.raw_set("call", call)?;
        redis.raw_set("pcall", pcall)?;
        redis.raw_set("set_repl", set_repl)?;
        let xpcall: mlua::Function = g.raw_get("xpcall")?;
        let (ok, v): (bool, mlua::Value) = xpcall.call((f, handler))?;
        if ok {
            convert::lua_to_reply(&v, &mut out);
            return Ok(Ok(()));
        }
        let (msg, line) = match &v {
            mlua::Value::Table(t) => (
                t.raw_get::<String>("err").unwrap_or_default(),
                t.raw_get::<i64>("line").unwrap_or(0),
            ),
            other => (format!("ERR {other:?}"), 0),
        };
        Ok(Err(format!("{msg} script: {sha}, on @user_script:{line}.")))
    })
    .map_err(lua_err)??;
    Ok(out)
}

/// xpcall's handler: the error as a table with its message (a raised string becomes
/// `ERR <where>: <text>`) and the line of the script where it was raised.
fn error_handler(lua: &Lua, err: mlua::Value) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    let msg = match &err {
        mlua::Value::Table(e) => match e.raw_get::<mlua::Value>("err")? {
            mlua::Value::String(s) => s.to_string_lossy(),
            _ => "ERR unknown error".to_string(),
        },
        mlua::Value::String(s) => format!("ERR {}", s.to_string_lossy()),
        mlua::Value::Error(e) => match call_error(e) {
            Some(c) => {
                t.raw_set("err", c.msg.as_str())?;
                t.raw_set("line", c.line)?;
                return Ok(t);
            }
            None => format!("ERR {}", lua_message(e)),
        },
        other => format!("ERR {}", other.to_string().unwrap_or_default()),
    };
    t.raw_set("err", msg)?;
    let mut line = 0;
    for level in 0..64 {
        let found = lua.inspect_stack(level, |d| {
            (d.source().source.as_deref() == Some("@user_script")).then(|| d.current_line())
        });
        match found {
            None => break,
            Some(Some(l)) => {
                line = l.unwrap_or(0);
                break;
            }
            Some(None) => {}
        }
    }
    t.raw_set("line", line)?;
    Ok(t)
}

/// One `redis.call` / `redis.pcall`: the command's reply as a Lua value, and whether it is an
/// error (which `redis.call` raises).
fn command_call(
    lua: &Lua,
    st: &mut RunState,
    args: mlua::MultiValue,
) -> mlua::Result<(mlua::Value, bool)> {
    let ctx = &mut *st.ctx;
    let fail = |m: &str| -> mlua::Result<(mlua::Value, bool)> {
        let t = lua.create_table()?;
        t.raw_set("err", m)?;
        Ok((mlua::Value::Table(t), true))
    };
    if args.is_empty() {
        return fail("ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv: Vec<Vec<u8>> = Vec::with_capacity(args.len());
    for v in args {
        match v {
            mlua::Value::String(s) => argv.push(s.as_bytes().to_vec()),
            mlua::Value::Integer(n) => argv.push(n.to_string().into_bytes()),
            mlua::Value::Number(n) => argv.push(lua_number(n).into_bytes()),
            _ => return fail("ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    let Some(cmd) = crate::command::resolve(&ctx.server.commands, &refs) else {
        return fail("ERR Unknown Redis command called from script");
    };
    let spec = cmd.spec;
    if spec.flags & crate::command::table::NOSCRIPT != 0 {
        return fail("ERR This Redis command is not allowed from script");
    }
    let arity_ok = if spec.arity > 0 {
        refs.len() == spec.arity as usize
    } else {
        refs.len() >= (-spec.arity) as usize
    };
    if !arity_ok {
        return fail("ERR Wrong number of args calling Redis command from script");
    }
    if st.read_only && spec.flags & crate::command::table::WRITE != 0 {
        return fail("ERR Write commands are not allowed from read-only scripts.");
    }
    // redis.set_repl(redis.REPL_NONE): what follows is done here only. (The AOF and the
    // replicas read one stream: REPL_AOF and REPL_REPLICA both record it.)
    let recorded = crate::engine::effects::with(|r| (r.items.len(), r.journal.len()));
    let mut out = crate::protocol::reply::Reply::new();
    {
        let mut inner = crate::command::Ctx {
            server: ctx.server,
            client: &mut *ctx.client,
            out: &mut out,
            now: ctx.now,
            started: ctx.started,
        };
        crate::command::execute(&mut inner, &refs);
    }
    if st.repl == REPL_NONE {
        crate::engine::effects::with(|r| {
            r.items.truncate(recorded.0);
            r.journal.truncate(recorded.1);
        });
    }
    let mut at = 0;
    let v = convert::reply_to_lua(lua, &out.buf, &mut at)?;
    let failed = out.buf.first() == Some(&b'-');
    Ok((v, failed))
}

/// redis.log(level, message ...): to the server's log at that level.
fn log(lua: &Lua, args: mlua::MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(raise(
            lua,
            "ERR redis.log() requires two arguments or more.",
        ));
    }
    let mut it = args.into_iter();
    let level = match it.next() {
        Some(mlua::Value::Integer(n)) => n,
        Some(mlua::Value::Number(n)) => n as i64,
        _ => -1,
    };
    if !(0..=3).contains(&level) {
        return Err(raise(lua, "ERR Invalid debug level."));
    }
    let text: Vec<String> = it
        .map(|v| match v {
            mlua::Value::String(s) => s.to_string_lossy(),
            other => other.to_string().unwrap_or_default(),
        })
        .collect();
    let text = text.join(" ");
    match level {
        0 => tracing::debug!("{text}"),
        1 => tracing::debug!("{text}"),
        2 => tracing::info!("{text}"),
        _ => tracing::warn!("{text}"),
    }
    Ok(())
}

/// A Lua number as Lua 5.1 prints it (`%.14g`).
fn lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}
