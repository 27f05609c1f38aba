//! Lua scripting as Redis runs it (EVAL and friends, `command::scripting`): one Lua 5.1 state
//! (mlua, vendored: the language version Redis embeds), scripts kept by their SHA-1 and
//! compiled once into a global function `f_<sha>`, `redis.call` running commands through the
//! ordinary dispatcher as the script's client, and Redis's conversions between Lua values and
//! replies (`convert`).

pub mod convert;
pub mod flags;
pub mod functions;
mod iterate;
pub mod libs;
pub mod raw;

use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mlua::ffi::{self, lua_State};
use mlua::Lua;
use parking_lot::Mutex;

/// The scripting state: the Lua interpreter (made on first use), the scripts' bodies, and the
/// script running now.
#[derive(Default)]
pub struct Scripting {
    lua: Mutex<Option<LuaState>>,
    /// Each script's body and its shebang's flags.
    bodies: Mutex<HashMap<String, (Vec<u8>, u32)>>,
    current: Mutex<Option<Arc<Running>>>,
    /// Function libraries (FUNCTION LOAD, FCALL), in a Lua state of their own.
    pub functions: Mutex<functions::Registry>,
    /// A script ran past `busy-reply-threshold`: other clients are answered -BUSY.
    busy: AtomicBool,
    /// Libraries << 32 | functions.
    function_counts: std::sync::atomic::AtomicUsize,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call noscript commands.
    pub allow_noscript: AtomicBool,
}

/// FUNCTION RESTORE's policy for libraries already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// A name already there fails the restore.
    Append,
    /// The restored library replaces the one of its name.
    Replace,
    /// Every library goes first.
    Flush,
}

/// The script running now, as SCRIPT KILL, FUNCTION STATS and the busy replies see it.
#[derive(Debug)]
pub struct Running {
    pub started: Instant,
    /// EVAL (else FCALL): which KILL applies, and the -BUSY text.
    pub eval: bool,
    /// The command that runs it (its name is derived: `name`).
    pub command: Command,
    killed: AtomicBool,
    /// It ran a write command: killing it would leave half its work done.
    wrote: AtomicBool,
    /// The server was out of memory when it started and it may not ignore that: commands
    /// that add data are refused until it wrote something.
    pub deny_oom: bool,
}

/// A Lua state that may move between threads. mlua's `send` feature would make every API call
/// take a reentrant lock (a third of a script's cost in profiles); instead each state is only
/// touched under the `Scripting` mutex that holds it (the EVAL state) or the function
/// registry's, one thread at a time, and no Lua value outlives that hold.
pub struct LuaState {
    pub lua: Lua,
    /// Its main thread, for the raw API (`raw`), and the registry slots a run pushes from.
    raw: *mut lua_State,
    globals: c_int,
    handlers: [c_int; 2],
    _keys: Vec<mlua::RegistryKey>,
    /// Runs since the last garbage collection step (`GC_PERIOD`).
    runs: std::cell::Cell<u32>,
}

/// Every so many runs, a step of Lua's collector sized to them, as Redis does: a script's
/// garbage is then reclaimed in small steps instead of waiting for a full cycle.
const GC_PERIOD: u32 = 50;

// SAFETY: see above: every use is under a mutex, and no handle escapes it.
unsafe impl Send for LuaState {}

impl LuaState {
    /// A state with Redis's environment (`new_state`).
    pub fn new() -> mlua::Result<LuaState> {
        let lua = new_state()?;
        let mut keys = Vec::new();
        let mut slot = |name: &str| -> mlua::Result<c_int> {
            let v: mlua::Value = lua.named_registry_value(name)?;
            let key = lua.create_registry_value(v)?;
            let id = key.id();
            keys.push(key);
            Ok(id)
        };
        let globals = slot("globals")?;
        let handlers = [slot("@user_script")?, slot("@user_function")?];
        Ok(LuaState {
            raw: raw::main_state(&lua),
            lua,
            globals,
            handlers,
            _keys: keys,
            runs: std::cell::Cell::new(0),
        })
    }
}

/// The command running a script (FUNCTION STATS shows it): its arguments in one buffer, each
/// after its length, so that keeping it costs one allocation a call.
#[derive(Debug)]
pub struct Command(Vec<u8>);

impl Command {
    pub fn new(argv: &[&[u8]]) -> Command {
        let mut buf = Vec::with_capacity(argv.iter().map(|a| a.len() + 4).sum());
        for a in argv {
            buf.extend_from_slice(&(a.len() as u32).to_le_bytes());
            buf.extend_from_slice(a);
        }
        Command(buf)
    }

    pub fn args(&self) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 4 <= self.0.len() {
            let n = u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap_or_default()) as usize;
            out.push(&self.0[at + 4..at + 4 + n]);
            at += 4 + n;
        }
        out
    }
}

impl Running {
    /// The function's name, or a script's `f_<sha>` (FUNCTION STATS, the slow-script log):
    /// derived from the command when asked, rather than made for every call.
    pub fn name(&self) -> String {
        let args = self.command.args();
        let (Some(cmd), Some(arg)) = (args.first(), args.get(1)) else {
            return String::new();
        };
        if !self.eval {
            String::from_utf8_lossy(arg).into_owned()
        } else if cmd.len() >= 7 && cmd[..7].eq_ignore_ascii_case(b"evalsha") {
            format!("f_{}", String::from_utf8_lossy(arg).to_ascii_lowercase())
        } else {
            format!("f_{}", sha1hex(arg))
        }
    }
}

/// -BUSY, worded for what is running.
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

impl std::fmt::Debug for Scripting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripting")
            .field("scripts", &self.bodies.lock().len())
            .finish()
    }
}

/// The function libraries of an RDB being loaded: they replace those there were (a snapshot
/// holds the whole dataset, functions included).
pub fn load_from_rdb(
    server: &crate::server::Server,
    codes: &[Vec<u8>],
    policy: Restore,
) -> Result<(), String> {
    server
        .scripting
        .restore_libraries(codes, policy)
        .map_err(|e| format!("Failed loading library: {e}"))
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
    pub fn with_lua<R>(&self, f: impl FnOnce(&LuaState) -> R) -> R {
        let mut guard = self.lua.lock();
        let state = guard.get_or_insert_with(|| LuaState::new().expect("the Lua environment"));
        f(state)
    }

    pub fn body(&self, sha: &str) -> Option<Vec<u8>> {
        self.bodies.lock().get(sha).map(|b| b.0.clone())
    }

    /// A loaded script's flags (`flags::EVAL_COMPAT` without a shebang).
    pub fn flags_of(&self, sha: &str) -> Option<u32> {
        self.bodies.lock().get(sha).map(|b| b.1)
    }

    /// Whether the script `sha` (lower case) is loaded.
    pub fn exists(&self, sha: &str) -> bool {
        self.bodies.lock().contains_key(sha)
    }

    /// Compiles `body` into `f_<sha>` unless it already is; Err is Redis's compile error text.
    pub fn load(&self, body: &[u8]) -> Result<String, String> {
        let sha = sha1hex(body);
        if self.bodies.lock().contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, start) = flags::of_script(body)?;
        self.with_lua(|state| {
            let lua = &state.lua;
            let f = lua
                .load(&body[start..])
                .set_name("@user_script")
                .into_function()
                .map_err(|e| {
                    format!(
                        "ERR Error compiling script (new function): {}",
                        lua_message(&e)
                    )
                })?;
            globals(lua)
                .and_then(|g| g.raw_set(format!("f_{sha}"), f))
                .map_err(|e| format!("ERR {e}"))
        })?;
        self.bodies
            .lock()
            .insert(sha.clone(), (body.to_vec(), flags));
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

    /// FUNCTION LOAD.
    pub fn load_library(&self, code: &[u8], replace: bool) -> Result<String, String> {
        let mut reg = self.functions.lock();
        let r = reg.load(code, replace);
        self.count_functions(&reg);
        r
    }

    pub fn delete_library(&self, name: &str) -> bool {
        let mut reg = self.functions.lock();
        let r = reg.delete(name);
        self.count_functions(&reg);
        r
    }

    pub fn flush_functions(&self) {
        let mut reg = self.functions.lock();
        reg.flush();
        self.count_functions(&reg);
    }

    /// Every library's code (FUNCTION DUMP, the RDB's function records).
    pub fn library_codes(&self) -> Vec<Vec<u8>> {
        let reg = self.functions.lock();
        reg.libs.values().map(|l| l.code.clone()).collect()
    }

    /// FUNCTION RESTORE and loading an RDB: the libraries given, by `policy`; all or none.
    pub fn restore_libraries(&self, codes: &[Vec<u8>], policy: Restore) -> Result<(), String> {
        // Checked apart first (each library, then how they join those there are), so that a
        // failure changes nothing.
        let mut incoming = functions::Registry::default();
        for code in codes {
            incoming.load(code, false)?;
        }
        let mut reg = self.functions.lock();
        if policy == Restore::Append {
            if let Some(name) = incoming.libs.keys().find(|n| reg.libs.contains_key(*n)) {
                return Err(format!("ERR Library {name} already exists"));
            }
        }
        if policy != Restore::Flush {
            for lib in incoming.libs.values() {
                for f in &lib.functions {
                    if reg.owner_of(&f.name).is_some_and(|o| o != lib.name) {
                        return Err(format!("ERR Function {} already exists", f.name));
                    }
                }
            }
        }
        if policy == Restore::Flush {
            reg.flush();
        }
        let mut result = Ok(());
        for code in codes {
            if let Err(e) = reg.load(code, true) {
                result = Err(e);
            }
        }
        self.count_functions(&reg);
        result
    }

    fn count_functions(&self, reg: &functions::Registry) {
        let n = (reg.libs.len() << 32) | reg.function_count();
        self.function_counts.store(n, Ordering::Relaxed);
    }

    /// (libraries, functions), readable while a function runs (FUNCTION STATS when busy).
    pub fn function_counts(&self) -> (usize, usize) {
        let n = self.function_counts.load(Ordering::Relaxed);
        (n >> 32, n & 0xffff_ffff)
    }

    /// Memory for INFO: (EVAL's Lua state, the script cache, the functions' Lua state, the
    /// libraries' code and names).
    pub fn memory(&self) -> (u64, u64, u64, u64) {
        let vm_eval = self
            .lua
            .lock()
            .as_ref()
            .map_or(0, |l| l.lua.used_memory() as u64);
        let scripts: u64 = self
            .bodies
            .lock()
            .iter()
            .map(|(sha, (body, _))| (sha.len() + body.len() + 64) as u64)
            .sum();
        let reg = self.functions.lock();
        let vm_functions = reg.lua_memory();
        let libs: u64 = reg
            .libs
            .values()
            .map(|l| {
                let names: usize = l.functions.iter().map(|f| f.name.len() + 64).sum();
                (l.code.len() + l.name.len() + names + 64) as u64
            })
            .sum();
        (vm_eval, scripts, vm_functions, libs)
    }

    /// Whether EVAL/EVALSHA/FCALL `argv` may write: unless its flags say no-writes (a script
    /// without a shebang may).
    pub fn may_write(&self, name: &str, argv: &[&[u8]]) -> bool {
        let Some(arg) = argv.get(1) else {
            return true;
        };
        let script_flags = match name {
            "eval" => flags::of_script(arg).ok().map(|(f, _)| f),
            "evalsha" => self.flags_of(&String::from_utf8_lossy(arg).to_ascii_lowercase()),
            _ => self
                .functions
                .lock()
                .flags_of(&String::from_utf8_lossy(arg)),
        };
        script_flags.is_none_or(|f| f & flags::EVAL_COMPAT != 0 || f & flags::NO_WRITES == 0)
    }

    /// A script starts running.
    pub fn begin(&self, eval: bool, command: Command, deny_oom: bool) -> Arc<Running> {
        let r = Arc::new(Running {
            deny_oom,
            started: Instant::now(),
            eval,
            command,
            killed: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
        });
        *self.current.lock() = Some(r.clone());
        r
    }

    /// The script ended.
    pub fn end(&self) {
        *self.current.lock() = None;
        self.busy.store(false, Ordering::Relaxed);
    }

    pub fn running(&self) -> Option<Arc<Running>> {
        self.current.lock().clone()
    }

    /// Past the threshold: other clients get `busy_error()` until the script ends.
    #[inline]
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }

    fn set_busy(&self) {
        self.busy.store(true, Ordering::Relaxed);
    }

    /// The -BUSY text for the script running now.
    pub fn busy_error(&self) -> &'static str {
        match self.running() {
            Some(r) if !r.eval => BUSY_FUNCTION,
            _ => BUSY_EVAL,
        }
    }

    /// SCRIPT KILL (`eval`) or FUNCTION KILL: marks the running script to stop at its next
    /// check, or says why it cannot be.
    pub fn kill(&self, eval: bool) -> Result<(), &'static str> {
        let Some(r) = self.running() else {
            return Err("NOTBUSY No scripts in execution right now.");
        };
        if r.wrote.load(Ordering::Relaxed) {
            return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
        }
        if eval && !r.eval {
            return Err(BUSY_FUNCTION);
        }
        if !eval && r.eval {
            return Err(BUSY_EVAL);
        }
        r.killed.store(true, Ordering::Relaxed);
        Ok(())
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
        lua.create_function(|lua, args: mlua::MultiValue| {
            let s = match (args.len(), args.front()) {
                (1, Some(mlua::Value::String(s))) => s.as_bytes().to_vec(),
                (1, Some(mlua::Value::Integer(n))) => n.to_string().into_bytes(),
                (1, Some(mlua::Value::Number(n))) => lua_number(*n).into_bytes(),
                _ => return Err(raise(lua, "ERR wrong number of arguments")),
            };
            Ok(sha1hex(&s))
        })?,
    )?;
    // redis.error_reply(s) is {err="CODE msg"} (ERR when s names no code), status_reply(s)
    // {ok=s}; other arguments give an error table, not a raised error.
    for (name, field) in [("error_reply", "err"), ("status_reply", "ok")] {
        let f = lua.create_function(move |lua, args: mlua::MultiValue| {
            let t = lua.create_table()?;
            let s = match args.front() {
                Some(mlua::Value::String(s)) if args.len() == 1 => s.as_bytes().to_vec(),
                _ => {
                    t.raw_set("err", "ERR wrong number or type of arguments")?;
                    return Ok(t);
                }
            };
            if field == "ok" {
                t.raw_set("ok", lua.create_string(&s)?)?;
                return Ok(t);
            }
            let body = s.strip_prefix(b"-").unwrap_or(&s);
            let (code, msg) = match body.iter().position(|&b| b == b' ') {
                Some(i) => (&body[..i], &body[i + 1..]),
                None => (&b"ERR"[..], body),
            };
            let trim = |b: &u8| *b == b'\r' || *b == b'\n';
            let start = msg.iter().position(|b| !trim(b)).unwrap_or(msg.len());
            let end = msg.iter().rposition(|b| !trim(b)).map_or(start, |i| i + 1);
            let mut err = code.to_vec();
            err.push(b' ');
            err.extend_from_slice(&msg[start..end.max(start)]);
            t.raw_set("err", lua.create_string(&err)?)?;
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
    install_run_api(&lua, &redis)?;
    install_hook(&lua)?;
    g.raw_set("redis", redis.clone())?;
    lua.set_named_registry_value("redis_api", redis)?;
    libs::register(&lua)?;
    install_pcall(&lua)?;
    let (backing, readonly, proxies): (mlua::Table, mlua::Function, mlua::Table) =
        lua.load(PROTECT).set_name("=protect").eval()?;
    lua.set_named_registry_value(iterate::BACKING.to_str().unwrap_or_default(), proxies)?;
    // SAFETY: C functions on the stack they are given (see `iterate`).
    unsafe {
        backing.raw_set("pairs", lua.create_c_function(iterate::pairs)?)?;
        backing.raw_set("ipairs", lua.create_c_function(iterate::ipairs)?)?;
        backing.raw_set("next", lua.create_c_function(iterate::next)?)?;
    }
    lua.set_named_registry_value("globals", backing)?;
    lua.set_named_registry_value("readonly", readonly)?;
    Ok(lua)
}

/// Lua's `pcall` as Redis replaces it: an error raised as a table with an `err` message (what
/// redis.call raises) comes back as that message, a string, as scripts written before Redis 7
/// expect; so does an error raised by one of our Rust functions (not a userdata).
fn install_pcall(lua: &Lua) -> mlua::Result<()> {
    let as_message = lua.create_function(|lua, e: mlua::Value| {
        Ok(match e {
            mlua::Value::Table(ref t) => match t.raw_get::<mlua::Value>("err")? {
                s @ mlua::Value::String(_) => s,
                _ => e,
            },
            mlua::Value::Error(ref err) => {
                let msg = call_error(err).map_or_else(|| lua_message(err), |c| c.msg.clone());
                mlua::Value::String(lua.create_string(msg)?)
            }
            other => other,
        })
    })?;
    lua.set_named_registry_value("pcall_error", as_message)?;
    // SAFETY: a C function on the stack it is given (see `pcall`).
    let f = unsafe { lua.create_c_function(pcall)? };
    lua.globals().raw_set("pcall", f)
}

/// `pcall(f, ...)`: true and f's results, or false and the error (as `install_pcall` says).
unsafe extern "C-unwind" fn pcall(l: *mut lua_State) -> c_int {
    let argc = ffi::lua_gettop(l);
    if argc == 0 {
        // (Nothing to call: Redis's gives false, as here.)
        ffi::lua_pushboolean(l, 0);
        raw::push_bytes(l, b"attempt to call a nil value");
        return 2;
    }
    ffi::lua_pushboolean(l, 1);
    ffi::lua_insert(l, 1);
    if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
        ffi::lua_remove(l, 1);
        ffi::lua_getfield_(l, ffi::LUA_REGISTRYINDEX, c"pcall_error".as_ptr());
        ffi::lua_insert(l, -2);
        ffi::lua_call(l, 1, 1);
        ffi::lua_pushboolean(l, 0);
        ffi::lua_insert(l, 1);
    }
    ffi::lua_gettop(l)
}

/// A command's error reply raised by `redis.call`, with the script line that called it (taken
/// in the call: `return redis.call(...)` is a tail call, so the line is not on the stack later).
#[derive(Debug)]
struct CallError {
    msg: String,
    line: usize,
    /// Already counted in the error stats (a command's error, or a rejected call).
    counted: bool,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for CallError {}

/// Raises `msg` as Redis raises its library's errors: an error reply, with the calling line.
fn raise(lua: &Lua, msg: &str) -> mlua::Error {
    raise_at(lua, msg, 1)
}

/// `raise` for the function `level` calls up the stack (0 in a hook: the script itself).
fn raise_at(lua: &Lua, msg: &str, level: usize) -> mlua::Error {
    let line = lua
        .inspect_stack(level, |d| d.current_line())
        .flatten()
        .unwrap_or(0);
    mlua::Error::external(CallError {
        msg: msg.to_string(),
        line,
        counted: false,
    })
}

/// What one script run knows: its client, whether it may write (EVAL_RO), and where its
/// effects go (`redis.set_repl`).
struct RunState<'c, 'a> {
    ctx: &'c mut crate::command::Ctx<'a>,
    running: &'c Running,
    read_only: bool,
    repl: i64,
    /// The protocol its commands reply in (`redis.setresp`).
    resp: u8,
    /// A call's arguments, end to end, and where each ends; its reply (reused call to call).
    argv: Vec<u8>,
    ends: Vec<usize>,
    reply: crate::protocol::reply::Reply,
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

/// Redis's sandbox, on a stock Lua 5.1 (Redis patches its Lua with read-only tables): the
/// globals move to a backing table, and `_G` and the library tables become empty proxies
/// whose writes fail with Redis's words, as do `setmetatable` and `rawset` on them; reading a
/// global that does not exist fails too. `print` goes, and `loadstring` refuses bytecode.
/// Returns the backing table (where KEYS, ARGV and the scripts' functions are put).
const PROTECT: &str = r#"
local pairs, ipairs, loadstring = pairs, ipairs, loadstring
local readonly_msg = "Attempt to modify a readonly table"
local protected = setmetatable({}, {__mode = "k"})
local set_mt, raw_set, error_, tostring_, type_ = setmetatable, rawset, error, tostring, type
local function deny() error_(readonly_msg, 2) end
local function face()
  local f = set_mt({}, {__newindex = deny, __metatable = false})
  protected[f] = true
  return f
end
local backing = set_mt({}, {__mode = "k"})
local function readonly(t)
  local p = set_mt({}, {__index = t, __newindex = deny, __metatable = face()})
  protected[p] = true
  backing[p] = t
  return p
end
local G, G0 = _G, {}
for k, v in pairs(G) do G0[k] = v end
for k in pairs(G0) do raw_set(G, k, nil) end
for _, name in ipairs({"string", "math", "table", "coroutine", "cjson", "bit", "struct", "cmsgpack", "redis"}) do
  if G0[name] then G0[name] = readonly(G0[name]) end
end
G0.print = nil
G0.setmetatable = function(t, m)
  if protected[t] then error_(readonly_msg, 0) end
  return set_mt(t, m)
end
G0.rawset = function(t, k, v)
  if protected[t] then error_(readonly_msg, 0) end
  return raw_set(t, k, v)
end
local loadstring_ = loadstring
G0.loadstring = function(s, name)
  if type_(s) == "string" and s:byte(1) == 27 then
    return nil, "binary chunks are not allowed"
  end
  return loadstring_(s, name)
end
set_mt(G0, {__index = function(_, k)
  error_("Script attempted to access nonexistent global variable '" .. tostring_(k) .. "'", 2)
end})
set_mt(G, {__index = G0, __newindex = deny, __metatable = face()})
protected[G] = true
protected[G0] = true
backing[G] = G0
return G0, readonly, backing
"#;

/// The table behind the protected globals (see `PROTECT`).
fn globals(lua: &Lua) -> mlua::Result<mlua::Table> {
    lua.named_registry_value("globals")
}

/// A read-only proxy of `t` (see `PROTECT`).
fn readonly(lua: &Lua, t: mlua::Table) -> mlua::Result<mlua::Table> {
    let f: mlua::Function = lua.named_registry_value("readonly")?;
    f.call(t)
}

/// The real `redis` table (scripts see a read-only proxy of it).
fn redis_api(lua: &Lua) -> mlua::Result<mlua::Table> {
    lua.named_registry_value("redis_api")
}

/// A script's failure: the error reply, and whether the error stats already counted it (a
/// command's error passed on: Redis counts each error once).
#[derive(Debug)]
pub struct ScriptError {
    pub msg: String,
    pub counted: bool,
}

/// The field of an error table that says it was counted (Redis's name for it).
const COUNTED: &str = "ignore_error_stats_update";

/// What a run calls: an EVAL script (`f_<sha>`, KEYS and ARGV as globals) or a function
/// (called with the keys and arguments; its registry slot).
pub enum Target<'a> {
    Script { sha: &'a str },
    Function { name: &'a str, func: c_int },
}

/// Runs `target` as this client; the reply, or the error reply's text (Redis's, with where
/// the script failed).
pub fn run(
    state: &LuaState,
    ctx: &mut crate::command::Ctx,
    running: &Arc<Running>,
    target: Target,
    keys: &[&[u8]],
    args: &[&[u8]],
    read_only: bool,
) -> Result<crate::protocol::reply::Reply, ScriptError> {
    let (label, chunk) = match &target {
        Target::Script { sha } => (*sha, "@user_script"),
        Target::Function { name, .. } => (*name, "@user_function"),
    };
    let mut out = crate::protocol::reply::Reply::new();
    out.resp3 = ctx.out.resp3;
    let mut st = RunState {
        ctx,
        running,
        read_only,
        repl: REPL_ALL,
        resp: 2,
        argv: Vec::new(),
        ends: Vec::new(),
        reply: crate::protocol::reply::Reply::new(),
    };
    let l = state.raw;
    // SAFETY: the state is ours while its lock is held (the caller's); the stack is put back as
    // it was before returning, and room is checked before pushing.
    unsafe {
        let base = ffi::lua_gettop(l);
        if ffi::lua_checkstack(l, 8) == 0 {
            return Err(ScriptError {
                msg: "ERR Lua stack exhausted".into(),
                counted: false,
            });
        }
        let is_script = matches!(target, Target::Script { .. });
        ffi::lua_rawgeti_(
            l,
            ffi::LUA_REGISTRYINDEX,
            state.handlers[!is_script as usize],
        );
        let nargs = match target {
            Target::Script { sha } => {
                ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, state.globals);
                raw::set_field(l, b"KEYS", || raw::push_list(l, keys));
                raw::set_field(l, b"ARGV", || raw::push_list(l, args));
                let mut name = [0u8; 64];
                let n = sha.len().min(62);
                name[..2].copy_from_slice(b"f_");
                name[2..2 + n].copy_from_slice(&sha.as_bytes()[..n]);
                raw::get_field(l, -1, &name[..2 + n]);
                ffi::lua_remove(l, -2);
                0
            }
            Target::Function { func, .. } => {
                ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, func);
                raw::push_list(l, keys);
                raw::push_list(l, args);
                2
            }
        };
        let status = {
            let _current = Current::enter(&mut st);
            ffi::lua_pcall(l, nargs, 1, base + 1)
        };
        if running.killed.load(Ordering::Relaxed) {
            // The kill made the hook fire at every instruction: back to the usual one.
            let _ = install_hook(&state.lua);
        }
        let result = finish(state, base + 2, status, st.resp, &mut out);
        ffi::lua_settop(l, base);
        state.runs.set(state.runs.get() + 1);
        if state.runs.get() >= GC_PERIOD {
            state.runs.set(0);
            ffi::lua_gc(l, ffi::LUA_GCSTEP, GC_PERIOD as c_int);
        }
        result
            .map(|()| out)
            .map_err(|(msg, line, counted)| ScriptError {
                msg: match line {
                    Some(line) => format!("{msg} script: {label}, on {chunk}:{line}."),
                    None => msg,
                },
                counted,
            })
    }
}

/// Reads what a run left at `idx` (its result, or what the error handler made of its error)
/// into `out`, or the error: (message, the script's line, already counted).
unsafe fn finish(
    state: &LuaState,
    idx: c_int,
    status: c_int,
    resp: u8,
    out: &mut crate::protocol::reply::Reply,
) -> Result<(), (String, Option<i64>, bool)> {
    let l = state.raw;
    let is_table = ffi::lua_type(l, idx) == ffi::LUA_TTABLE;
    let text = |field: &[u8]| {
        raw::get_field(l, idx, field);
        let s = raw::string_at(l, -1).map(|s| String::from_utf8_lossy(s).into_owned());
        ffi::lua_settop(l, -2);
        s
    };
    let flag = |field: &[u8]| {
        raw::get_field(l, idx, field);
        let b = ffi::lua_toboolean(l, -1) != 0;
        ffi::lua_settop(l, -2);
        b
    };
    if status != 0 {
        if !is_table {
            let msg = raw::string_at(l, idx).map(String::from_utf8_lossy);
            return Err((format!("ERR {}", msg.unwrap_or_default()), Some(0), false));
        }
        raw::get_field(l, idx, b"line");
        let line = ffi::lua_tonumber(l, -1) as i64;
        ffi::lua_settop(l, -2);
        let msg = text(b"err").unwrap_or_default();
        return Err((msg, Some(line), flag(COUNTED.as_bytes())));
    }
    // An error table returned is the command's error reply (and fails it).
    if is_table {
        if let Some(e) = text(b"err") {
            return Err((e, None, flag(COUNTED.as_bytes())));
        }
    }
    if !raw::simple_result(l, idx, out, resp) {
        // Nested tables and the reply forms: through mlua, by way of the registry.
        ffi::lua_pushvalue(l, idx);
        ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, c"script_result".as_ptr());
        let v: mlua::Value = state
            .lua
            .named_registry_value("script_result")
            .unwrap_or(mlua::Value::Nil);
        let _ = state.lua.unset_named_registry_value("script_result");
        convert::lua_to_reply(&v, out, resp);
    }
    Ok(())
}

thread_local! {
    /// The run in progress on this thread (`RunState`), for what is installed once per state
    /// (redis.call and its kin, the hook): set only while a script runs.
    static CURRENT: std::cell::Cell<*mut ()> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

struct Current;

impl Current {
    /// Makes `st` the current run until the guard drops.
    fn enter(st: &mut RunState) -> Current {
        CURRENT.with(|c| c.set(st as *mut RunState as *mut ()));
        Current
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(std::ptr::null_mut()));
    }
}

/// The current run, if a script is running on this thread.
fn current<'r>() -> Option<&'r mut RunState<'r, 'r>> {
    let p = CURRENT.with(|c| c.get());
    // SAFETY: set by `Current::enter` from a live `&mut RunState` for the length of the run;
    // the callbacks that read it run inside that run, on its thread, one at a time.
    (!p.is_null()).then(|| unsafe { &mut *(p as *mut RunState<'r, 'r>) })
}

/// FUNCTION LOAD's deadline for the code that registers the functions (see `install_hook`).
pub(crate) struct LoadDeadline(pub std::time::Instant);

/// The hook, every 100,000 instructions as Redis checks: a library loading past its deadline
/// fails; a script past `busy-reply-threshold` is busy, other clients are served from here
/// (`server::while_busy`), and SCRIPT KILL takes effect.
fn install_hook(lua: &Lua) -> mlua::Result<()> {
    let every = mlua::HookTriggers::new().every_nth_instruction(100_000);
    lua.set_hook(every, |lua, _| {
        if let Some(d) = lua.app_data_ref::<LoadDeadline>() {
            if std::time::Instant::now() > d.0 {
                return Err(raise_at(lua, "ERR FUNCTION LOAD timeout", 0));
            }
            return Ok(mlua::VmState::Continue);
        }
        let Some(st) = current() else {
            return Ok(mlua::VmState::Continue);
        };
        let (server, running) = (st.ctx.server, st.running);
        let scripting = &server.scripting;
        if !scripting.busy() {
            let limit = server.config.busy_reply_threshold.u();
            let elapsed = running.started.elapsed().as_millis() as u64;
            if limit == 0 || elapsed < limit {
                return Ok(mlua::VmState::Continue);
            }
            tracing::warn!(
                "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
                if running.eval { "SCRIPT KILL" } else { "FUNCTION KILL" },
                running.name()
            );
            scripting.set_busy();
        }
        crate::server::while_busy::serve(server);
        if running.killed.load(Ordering::Relaxed) {
            tracing::info!("Lua script killed by user with SCRIPT KILL.");
            // From here at every instruction, so that a pcall in the script cannot go on.
            lua.set_hook(mlua::HookTriggers::new().every_nth_instruction(1), |lua, _| {
                Err(raise_at(lua, KILLED, 0))
            })?;
            return Err(raise_at(lua, KILLED, 0));
        }
        Ok(mlua::VmState::Continue)
    })
}

/// redis.call, redis.pcall, redis.set_repl and redis.setresp, made once per state: they act
/// on the current run.
fn install_run_api(lua: &Lua, redis: &mlua::Table) -> mlua::Result<()> {
    fn run_state<'r>(lua: &Lua) -> mlua::Result<&'r mut RunState<'r, 'r>> {
        current().ok_or_else(|| raise(lua, OUTSIDE))
    }
    // SAFETY: both are C functions on the stack they are given (see `redis_call`).
    unsafe {
        redis.raw_set("call", lua.create_c_function(redis_call)?)?;
        redis.raw_set("pcall", lua.create_c_function(redis_pcall)?)?;
    }
    redis.raw_set(
        "set_repl",
        lua.create_function(|lua, flags: i64| {
            if !(REPL_NONE..=REPL_ALL).contains(&flags) {
                return Err(raise(
                    lua,
                    "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                ));
            }
            run_state(lua)?.repl = flags;
            Ok(())
        })?,
    )?;
    redis.raw_set(
        "setresp",
        lua.create_function(|lua, v: mlua::Value| {
            let n = match v {
                mlua::Value::Integer(n) => n,
                mlua::Value::Number(n) => n as i64,
                _ => 0,
            };
            if n != 2 && n != 3 {
                return Err(raise(lua, "ERR RESP version must be 2 or 3."));
            }
            run_state(lua)?.resp = n as u8;
            Ok(())
        })?,
    )?;
    // The error handlers, by chunk name.
    for chunk in ["@user_script", "@user_function"] {
        let h = lua.create_function(move |lua, e| error_handler(lua, e, chunk))?;
        lua.set_named_registry_value(chunk, h)?;
    }
    Ok(())
}

const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// xpcall's handler: the error as a table with its message (a raised string becomes
/// `ERR <where>: <text>`) and the line of the script where it was raised.
fn error_handler(lua: &Lua, err: mlua::Value, chunk: &str) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    let msg = match &err {
        mlua::Value::Table(e) => {
            t.raw_set(COUNTED, e.raw_get::<bool>(COUNTED).unwrap_or(false))?;
            let msg = match e.raw_get::<mlua::Value>("err")? {
                mlua::Value::String(s) => s.to_string_lossy(),
                _ => "ERR unknown error".to_string(),
            };
            // redis.call's errors say where the script called it.
            if let Ok(line) = e.raw_get::<i64>("line") {
                t.raw_set("err", msg)?;
                t.raw_set("line", line)?;
                return Ok(t);
            }
            msg
        }
        mlua::Value::String(s) => format!("ERR {}", s.to_string_lossy()),
        mlua::Value::Error(e) => match call_error(e) {
            Some(c) => {
                t.raw_set("err", c.msg.as_str())?;
                t.raw_set("line", c.line)?;
                t.raw_set(COUNTED, c.counted)?;
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
            (d.source().source.as_deref() == Some(chunk)).then(|| d.current_line())
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

const OUTSIDE: &str = "ERR redis API called outside a script run";

/// redis.call: the command's reply; an error reply is raised, as a table with the line of the
/// script that called (taken here: `return redis.call(...)` is a tail call, so the line is not
/// on the stack later).
///
/// Raised from C with `lua_error`, which jumps over this frame: `command_call` has returned by
/// then, and nothing here has a destructor.
unsafe extern "C-unwind" fn redis_call(l: *mut lua_State) -> c_int {
    if command_call(l) {
        let line = raw::line_at(l, 1);
        raw::set_field(l, b"line", || ffi::lua_pushnumber(l, line as f64));
        ffi::lua_error(l);
    }
    1
}

/// redis.pcall: as redis.call, with an error reply returned as its table.
unsafe extern "C-unwind" fn redis_pcall(l: *mut lua_State) -> c_int {
    command_call(l);
    1
}

/// Pushes `{err = msg}`, saying whether the error stats counted it already.
unsafe fn push_error(l: *mut lua_State, msg: &str, counted: bool) {
    ffi::lua_createtable(l, 0, 2);
    raw::set_field(l, b"err", || raw::push_bytes(l, msg.as_bytes()));
    if counted {
        raw::set_field(l, COUNTED.as_bytes(), || ffi::lua_pushboolean(l, 1));
    }
}

/// One `redis.call` / `redis.pcall` with the arguments on `l`'s stack: pushes the command's
/// reply as a Lua value; true when it is an error (which `redis.call` raises).
unsafe fn command_call(l: *mut lua_State) -> bool {
    let nargs = ffi::lua_gettop(l);
    let Some(st) = current() else {
        push_error(l, OUTSIDE, false);
        return true;
    };
    if nargs == 0 {
        push_error(
            l,
            "ERR Please specify at least one argument for this redis lib call",
            false,
        );
        return true;
    }
    st.argv.clear();
    st.ends.clear();
    for i in 1..=nargs {
        if let Some(s) = raw::string_at(l, i) {
            st.argv.extend_from_slice(s);
        } else if ffi::lua_type(l, i) == ffi::LUA_TNUMBER {
            let n = ffi::lua_tonumber(l, i);
            match raw::as_integer(n) {
                Some(n) => st
                    .argv
                    .extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
                None => st.argv.extend_from_slice(lua_number(n).as_bytes()),
            }
        } else {
            ffi::lua_settop(l, 0);
            push_error(
                l,
                "ERR Lua redis lib command arguments must be strings or integers",
                false,
            );
            return true;
        }
        st.ends.push(st.argv.len());
    }
    // Copied: off the stack, which must have room for the reply (thousands of arguments
    // leave none: Lua caps a C function's stack at 8,000).
    ffi::lua_settop(l, 0);
    match dispatch(st) {
        Err(msg) => {
            push_error(l, &msg, true);
            true
        }
        Ok(()) => {
            let buf = &st.reply.buf;
            let mut at = 0;
            if !raw::push_reply(l, buf, &mut at) {
                push_error(l, "ERR malformed reply", false);
                return true;
            }
            let failed = buf.first() == Some(&b'-');
            if failed {
                // The command's own error reply was counted when it was made.
                raw::set_field(l, COUNTED.as_bytes(), || ffi::lua_pushboolean(l, 1));
            }
            failed
        }
    }
}

/// Runs the command in `st.argv` as the script's client, its reply into `st.reply`; or why it
/// is refused (counted as an error, and as the command's rejected call, as Redis counts it).
fn dispatch(st: &mut RunState) -> Result<(), std::borrow::Cow<'static, str>> {
    let ctx = &mut *st.ctx;
    let server = ctx.server;
    let mut refs: smallvec::SmallVec<[&[u8]; 8]> = smallvec::SmallVec::new();
    let mut start = 0;
    for &end in &st.ends {
        refs.push(&st.argv[start..end]);
        start = end;
    }
    let refuse = |m: std::borrow::Cow<'static, str>,
                  cmd: Option<&crate::command::table::Command>| {
        server.stats.count_error(&m);
        if let Some(c) = cmd {
            c.stats.add(crate::command::table::REJECTED, 1);
        }
        Err(m)
    };
    let Some(cmd) = crate::command::resolve(&server.commands, &refs) else {
        return refuse("ERR Unknown Redis command called from script".into(), None);
    };
    let spec = cmd.spec;
    if spec.flags & crate::command::table::NOSCRIPT != 0
        && !server.scripting.allow_noscript.load(Ordering::Relaxed)
    {
        return refuse(
            "ERR This Redis command is not allowed from script".into(),
            Some(cmd),
        );
    }
    if !spec.arity_ok(refs.len()) {
        return refuse(
            "ERR Wrong number of args calling Redis command from script".into(),
            Some(cmd),
        );
    }
    // ACLs come before the script's own rules, as in Redis.
    {
        let mut check = crate::command::Ctx {
            server,
            client: &mut *ctx.client,
            out: &mut st.reply,
            now: ctx.now,
            started: ctx.started,
        };
        if let Some(e) = crate::command::acl::script_rejection(&mut check, cmd, &refs) {
            return refuse(e.into(), Some(cmd));
        }
    }
    // (What may replicate, PUBLISH say, counts as a write here, as in Redis.)
    let writes = crate::command::table::WRITE | crate::command::table::MAY_REPLICATE;
    if st.read_only && spec.flags & writes != 0 {
        return refuse(
            "ERR Write commands are not allowed from read-only scripts.".into(),
            Some(cmd),
        );
    }
    if st.running.deny_oom
        && spec.flags & crate::command::table::DENYOOM != 0
        && !st.running.wrote.load(Ordering::Relaxed)
    {
        return refuse(
            "OOM command not allowed when used memory > 'maxmemory'.".into(),
            Some(cmd),
        );
    }
    if spec.flags & crate::command::table::WRITE != 0 {
        st.running.wrote.store(true, Ordering::Relaxed);
    }
    // redis.set_repl(redis.REPL_NONE): what follows is done here only. (The AOF and the
    // replicas read one stream: REPL_AOF and REPL_REPLICA both record it.)
    let recorded = crate::engine::effects::with(|r| (r.items.len(), r.journal.len()));
    let out = &mut st.reply;
    out.buf.clear();
    out.resp3 = st.resp == 3;
    {
        let mut inner = crate::command::Ctx {
            server,
            client: &mut *ctx.client,
            out: &mut *out,
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
    Ok(())
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
