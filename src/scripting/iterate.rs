//! `pairs`, `ipairs` and `next` that see through the sandbox's read-only proxies (`PROTECT`):
//! Redis's library tables are real read-only tables, so iterating `string` or `redis` lists
//! their functions; ours are empty proxies over the real tables. These are C functions, as
//! Lua's are, so that a bad argument fails with Lua's words at the script's line (a Lua wrapper
//! would be tail-called and lose it). The table behind a proxy never reaches the script: the
//! iterators keep it as an upvalue.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};

/// The registry field of the weak table proxy → the table it guards.
pub(super) const BACKING: &std::ffi::CStr = c"proxy_backing";

/// Checks argument 1 is a table and pushes what to iterate: the table behind it if it is a
/// proxy, else itself.
unsafe fn target(l: *mut lua_State) {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_getfield_(l, ffi::LUA_REGISTRYINDEX, BACKING.as_ptr());
    ffi::lua_pushvalue(l, 1);
    ffi::lua_rawget_(l, -2);
    ffi::lua_remove(l, -2);
    if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
        ffi::lua_settop(l, -2);
        ffi::lua_pushvalue(l, 1);
    }
}

/// next(t [, k])
pub(super) unsafe extern "C-unwind" fn next(l: *mut lua_State) -> c_int {
    ffi::lua_settop(l, 2);
    target(l);
    next_after(l)
}

/// The iterator pairs returns: `next` over its upvalue.
unsafe extern "C-unwind" fn next_of_upvalue(l: *mut lua_State) -> c_int {
    ffi::lua_settop(l, 2);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    next_after(l)
}

/// With the table on top and the key at 2: the next key and value, or nil.
unsafe fn next_after(l: *mut lua_State) -> c_int {
    ffi::lua_pushvalue(l, 2);
    if ffi::lua_next(l, -2) != 0 {
        2
    } else {
        ffi::lua_pushnil(l);
        1
    }
}

/// pairs(t): an iterator, t, nil.
pub(super) unsafe extern "C-unwind" fn pairs(l: *mut lua_State) -> c_int {
    target(l);
    ffi::lua_pushcclosure(l, next_of_upvalue, 1);
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushnil(l);
    3
}

/// The iterator ipairs returns: index i + 1 of its upvalue, until a nil.
unsafe extern "C-unwind" fn index_of_upvalue(l: *mut lua_State) -> c_int {
    let i = ffi::lua_tonumber(l, 2) as c_int + 1;
    ffi::lua_pushnumber(l, i as f64);
    ffi::lua_rawgeti_(l, ffi::lua_upvalueindex(1), i);
    if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
        0
    } else {
        2
    }
}

/// ipairs(t): an iterator, t, 0.
pub(super) unsafe extern "C-unwind" fn ipairs(l: *mut lua_State) -> c_int {
    target(l);
    ffi::lua_pushcclosure(l, index_of_upvalue, 1);
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushnumber(l, 0.0);
    3
}
