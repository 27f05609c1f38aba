//! Function libraries (FUNCTION LOAD and FCALL): each library is Lua code that starts with a
//! `#!lua name=<library>` line and registers its functions with `redis.register_function`
//! when loaded. They live in a Lua state of their own (as in Redis, apart from EVAL's), and
//! their code is what persists: the RDB's function records, FUNCTION DUMP and the journal
//! (FUNCTION LOAD replayed) all carry the library's source.

use std::collections::{BTreeMap, HashMap};

use mlua::Lua;

use super::flags;

pub struct Function {
    pub name: String,
    pub description: Option<Vec<u8>>,
    pub flags: u32,
    callback: mlua::RegistryKey,
}

pub struct Library {
    pub name: String,
    /// The whole source, shebang line included (what LIST WITHCODE, DUMP and the RDB give).
    pub code: Vec<u8>,
    pub functions: Vec<Function>,
}

/// Every library loaded, and which library each function belongs to.
#[derive(Default)]
pub struct Registry {
    lua: Option<super::LuaState>,
    pub libs: BTreeMap<String, Library>,
    owner: HashMap<String, String>,
}

/// What a library's first line says.
struct Metadata {
    engine: String,
    name: String,
    /// Where the code after the shebang line starts (at its newline, so lines keep their
    /// numbers).
    body: usize,
}

fn metadata(code: &[u8]) -> Result<Metadata, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let words: Vec<String> = super::flags::split_args(&code[..end])
        .unwrap_or_default()
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let Some((first, parts)) = words.split_first() else {
        return Err("ERR Invalid library metadata".into());
    };
    let mut name = None;
    for p in parts {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(p[5..].to_string());
            continue;
        }
        return Err(format!("ERR Invalid metadata value given: {p}"));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    Ok(Metadata {
        engine: first[2..].to_string(),
        name,
        body: end,
    })
}

/// Letters, digits and underscores, at least one (library and function names alike).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

const BAD_NAME: &str = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// FUNCTION LOAD's time limit for the code that registers the functions.
const LOAD_TIMEOUT_MS: u64 = 500;

impl Registry {
    /// The library that holds function `name`.
    pub fn owner_of(&self, name: &str) -> Option<&str> {
        // Lower-cased on the stack for the usual short name (FCALL's hot path).
        let mut buf = [0u8; 64];
        let key = match buf.get_mut(..name.len()) {
            Some(b) => {
                for (d, c) in b.iter_mut().zip(name.bytes()) {
                    *d = c.to_ascii_lowercase();
                }
                std::borrow::Cow::Borrowed(std::str::from_utf8(b).unwrap_or(""))
            }
            None => std::borrow::Cow::Owned(name.to_ascii_lowercase()),
        };
        self.owner.get(key.as_ref()).map(String::as_str)
    }

    /// Bytes the functions' Lua state holds (0 before the first library).
    pub fn lua_memory(&self) -> u64 {
        self.lua.as_ref().map_or(0, |l| l.lua.used_memory() as u64)
    }

    /// A function's flags.
    pub fn flags_of(&self, name: &str) -> Option<u32> {
        let lib = self.libs.get(self.owner_of(name)?)?;
        lib.functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.flags)
    }

    pub fn function_count(&self) -> usize {
        self.owner.len()
    }

    pub fn flush(&mut self) {
        self.libs.clear();
        self.owner.clear();
        self.lua = None;
    }

    /// The function `name`: its library's Lua state, its callback's registry slot and its
    /// flags.
    pub fn function(&self, name: &str) -> Option<(&super::LuaState, std::ffi::c_int, u32)> {
        let lib = self.libs.get(self.owner_of(name)?)?;
        let f = lib
            .functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))?;
        Some((self.lua.as_ref()?, f.callback.id(), f.flags))
    }

    pub fn delete(&mut self, name: &str) -> bool {
        let Some(lib) = self.libs.remove(name) else {
            return false;
        };
        for f in &lib.functions {
            self.owner.remove(&f.name.to_ascii_lowercase());
        }
        true
    }

    /// FUNCTION LOAD: compiles `code`, runs it to register its functions, and adds the
    /// library (replacing one of the same name if `replace`). The library's name, or the
    /// error reply.
    pub fn load(&mut self, code: &[u8], replace: bool) -> Result<String, String> {
        let md = metadata(code)?;
        if !valid_name(&md.name) {
            return Err(BAD_NAME.into());
        }
        if !md.engine.eq_ignore_ascii_case("lua") {
            return Err(format!("ERR Engine '{}' not found", md.engine));
        }
        if self.libs.contains_key(&md.name) && !replace {
            return Err(format!("ERR Library '{}' already exists", md.name));
        }
        if self.lua.is_none() {
            self.lua = Some(super::LuaState::new().map_err(|e| format!("ERR {e}"))?);
        }
        let lua = &self.lua.as_ref().expect("made above").lua;
        let functions = register(lua, &code[md.body..])?;
        if functions.is_empty() {
            return Err("ERR No functions registered".into());
        }
        for f in &functions {
            if self.owner_of(&f.name).is_some_and(|lib| lib != md.name) {
                return Err(format!("ERR Function {} already exists", f.name));
            }
        }
        self.delete(&md.name);
        for f in &functions {
            // Function names are case-insensitive (FCALL TEST finds test).
            self.owner
                .insert(f.name.to_ascii_lowercase(), md.name.clone());
        }
        self.libs.insert(
            md.name.clone(),
            Library {
                name: md.name.clone(),
                code: code.to_vec(),
                functions,
            },
        );
        Ok(md.name)
    }
}

/// Compiles a library's body and runs it with the load-time `redis` table (register_function,
/// log, the constants), collecting what it registers.
fn register(lua: &Lua, body: &[u8]) -> Result<Vec<Function>, String> {
    let chunk = lua
        .load(body)
        .set_name("@user_function")
        .into_function()
        .map_err(|e| format!("ERR Error compiling function: {}", super::lua_message(&e)))?;
    let fail = |e: mlua::Error| format!("ERR Error registering functions: ERR {e}");
    let g = super::globals(lua).map_err(fail)?;
    let api = load_api(lua, &g).map_err(fail)?;
    let found = std::cell::RefCell::new(Vec::new());
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(LOAD_TIMEOUT_MS);
    lua.set_app_data(super::LoadDeadline(deadline));
    let outcome = lua.scope(|scope| {
        let reg = scope.create_function(|lua, args: mlua::MultiValue| {
            let f = read_registration(lua, args)?;
            let mut found = found.borrow_mut();
            if !valid_name(&f.name) {
                return Err(super::raise(lua, BAD_NAME));
            }
            if found
                .iter()
                .any(|x: &Function| x.name.eq_ignore_ascii_case(&f.name))
            {
                return Err(super::raise(
                    lua,
                    "ERR Function already exists in the library",
                ));
            }
            found.push(f);
            Ok(())
        })?;
        api.raw_set("register_function", reg)?;
        // While the code loads, the globals are just `redis`: the registration API.
        let env = lua.create_table()?;
        env.raw_set("redis", super::readonly(lua, api.clone())?)?;
        env.set_metatable(g.metatable())?;
        if let Some(mt) = lua.globals().metatable() {
            mt.raw_set("__index", env)?;
        }
        let handler =
            lua.create_function(|lua, e| super::error_handler(lua, e, "@user_function"))?;
        let xpcall: mlua::Function = g.raw_get("xpcall")?;
        let r: (bool, mlua::Value) = xpcall.call((chunk, handler))?;
        Ok(r)
    });
    lua.remove_app_data::<super::LoadDeadline>();
    if let Some(mt) = lua.globals().metatable() {
        let _ = mt.raw_set("__index", g.clone());
    }
    // Kept by the library's code, the API refuses to register anything later.
    if let Ok(stub) = lua.create_function(|lua, _: mlua::MultiValue| -> mlua::Result<()> {
        Err(super::raise(
            lua,
            "ERR redis.register_function can only be called on FUNCTION LOAD command",
        ))
    }) {
        let _ = api.raw_set("register_function", stub);
    }
    let (ok, v) = outcome.map_err(fail)?;
    if !ok {
        let msg = match &v {
            mlua::Value::Table(t) => t.raw_get::<String>("err").unwrap_or_default(),
            _ => String::new(),
        };
        return Err(format!("ERR Error registering functions: {msg}"));
    }
    Ok(found.into_inner())
}

/// The `redis` table a library's code sees while it loads: registration, logging and the
/// constants; anything else is a missing global, as in Redis.
fn load_api(lua: &Lua, g: &mlua::Table) -> mlua::Result<mlua::Table> {
    let runtime = super::redis_api(lua)?;
    let api = lua.create_table()?;
    for name in [
        "log",
        "LOG_DEBUG",
        "LOG_VERBOSE",
        "LOG_NOTICE",
        "LOG_WARNING",
        "REDIS_VERSION",
        "REDIS_VERSION_NUM",
    ] {
        api.raw_set(name, runtime.raw_get::<mlua::Value>(name)?)?;
    }
    // A missing name fails as a missing global does.
    api.set_metatable(g.metatable())?;
    Ok(api)
}

/// redis.register_function's arguments: (name, callback) or a table of named arguments.
fn read_registration(lua: &Lua, args: mlua::MultiValue) -> mlua::Result<Function> {
    let err = |m: &str| super::raise(lua, &format!("ERR {m}"));
    let string = |v: &mlua::Value| -> Option<Vec<u8>> {
        match v {
            mlua::Value::String(s) => Some(s.as_bytes().to_vec()),
            mlua::Value::Integer(n) => Some(n.to_string().into_bytes()),
            mlua::Value::Number(n) => Some(super::lua_number(*n).into_bytes()),
            _ => None,
        }
    };
    let make = |name: Vec<u8>, description, flags, cb: mlua::Function| -> mlua::Result<Function> {
        Ok(Function {
            name: String::from_utf8_lossy(&name).into_owned(),
            description,
            flags,
            callback: lua.create_registry_value(cb)?,
        })
    };
    match args.len() {
        2 => {
            let Some(name) = string(&args[0]) else {
                return Err(err(
                    "first argument to redis.register_function must be a string",
                ));
            };
            let mlua::Value::Function(cb) = &args[1] else {
                return Err(err(
                    "second argument to redis.register_function must be a function",
                ));
            };
            make(name, None, 0, cb.clone())
        }
        1 => {
            let mlua::Value::Table(t) = &args[0] else {
                return Err(err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."));
            };
            let (mut name, mut desc, mut cb, mut fl) = (None, None, None, 0);
            for pair in t.clone().pairs::<mlua::Value, mlua::Value>() {
                let (k, v) = pair?;
                let Some(key) = string(&k) else {
                    return Err(err(
                        "named argument key given to redis.register_function is not a string",
                    ));
                };
                let key = String::from_utf8_lossy(&key).to_ascii_lowercase();
                match key.as_str() {
                    "function_name" => match string(&v) {
                        Some(s) => name = Some(s),
                        None => return Err(err("function_name argument given to redis.register_function must be a string")),
                    },
                    "description" => match string(&v) {
                        Some(s) => desc = Some(s),
                        None => return Err(err("description argument given to redis.register_function must be a string")),
                    },
                    "callback" => match v {
                        mlua::Value::Function(f) => cb = Some(f),
                        _ => return Err(err("callback argument given to redis.register_function must be a function")),
                    },
                    "flags" => {
                        let mlua::Value::Table(list) = v else {
                            return Err(err("flags argument to redis.register_function must be a table representing function flags"));
                        };
                        fl = 0;
                        for item in list.sequence_values::<mlua::Value>() {
                            let f = item?;
                            let bit = string(&f).and_then(|s| {
                                flags::by_name(&String::from_utf8_lossy(&s), true)
                            });
                            match bit {
                                Some(b) => fl |= b,
                                None => return Err(err("unknown flag given")),
                            }
                        }
                    }
                    _ => return Err(err("unknown argument given to redis.register_function")),
                }
            }
            let Some(name) = name else {
                return Err(err(
                    "redis.register_function must get a function name argument",
                ));
            };
            let Some(cb) = cb else {
                return Err(err("redis.register_function must get a callback argument"));
            };
            make(name, desc, fl, cb)
        }
        _ => Err(err("wrong number of arguments to redis.register_function")),
    }
}
