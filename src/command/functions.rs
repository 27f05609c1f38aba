//! FUNCTION and FCALL / FCALL_RO: function libraries (`crate::scripting::functions`). A
//! function runs as an EVAL script does (`scripting::invoke`); FUNCTION LOAD, DELETE, FLUSH
//! and RESTORE are writes, replicated and journaled as sent.

use super::keyspec::{numkeys_at_2, KeySpec as K, ACCESS, RO, RW, UPDATE};
use super::table::{
    CommandSpec as C, ALLOW_BUSY, DENYOOM, EXCLUSIVE, LOADING, MAY_REPLICATE, NOSCRIPT,
    NO_MANDATORY_KEYS, READONLY, SKIP_MONITOR, STALE, WRITE,
};
use super::{args, CmdError, CmdResult, Ctx};
use crate::scripting::flags;

const FCALL: u32 = NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | NO_MANDATORY_KEYS | STALE | EXCLUSIVE;
const FCALL_RO: u32 = NOSCRIPT | SKIP_MONITOR | NO_MANDATORY_KEYS | STALE | READONLY | EXCLUSIVE;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("fcall", -3, FCALL, fcall).keys(&[K::numkeys(2, RW | ACCESS | UPDATE)]).getkeys(numkeys_at_2)
        .doc("scripting", "7.0.0", "function numkeys [key [key ...]] [arg [arg ...]]", "Invokes a function."),
    C::new("fcall_ro", -3, FCALL_RO, fcall_ro).keys(&[K::numkeys(2, RO | ACCESS)]).getkeys(numkeys_at_2)
        .doc("scripting", "7.0.0", "function numkeys [key [key ...]] [arg [arg ...]]", "Invokes a read-only function."),
    C::container("function", FUNCTION).doc("scripting", "7.0.0", "", "A container for function commands."),
];

#[rustfmt::skip]
static FUNCTION: &[C] = &[
    C::new("load", -3, NOSCRIPT | WRITE | DENYOOM, load)
        .doc("scripting", "7.0.0", "[REPLACE] function-code", "Creates a library."),
    C::new("list", -2, NOSCRIPT, list)
        .doc("scripting", "7.0.0", "[LIBRARYNAME library-name-pattern] [WITHCODE]", "Returns information about all libraries."),
    C::new("delete", 3, NOSCRIPT | WRITE, delete)
        .doc("scripting", "7.0.0", "library-name", "Deletes a library and its functions."),
    C::new("flush", -2, NOSCRIPT | WRITE, flush)
        .doc("scripting", "7.0.0", "[ASYNC | SYNC]", "Deletes all libraries and functions."),
    C::new("dump", 2, NOSCRIPT, dump)
        .doc("scripting", "7.0.0", "", "Dumps all libraries into a serialized binary payload."),
    C::new("restore", -3, NOSCRIPT | WRITE | DENYOOM, restore)
        .doc("scripting", "7.0.0", "serialized-value [FLUSH | APPEND | REPLACE]", "Restores all libraries from a payload."),
    C::new("stats", 2, NOSCRIPT | ALLOW_BUSY, stats)
        .doc("scripting", "7.0.0", "", "Returns information about a function during execution."),
    C::new("kill", 2, NOSCRIPT | ALLOW_BUSY, kill)
        .doc("scripting", "7.0.0", "", "Terminates a function during execution."),
    C::new("help", 2, LOADING | STALE, help)
        .doc("scripting", "7.0.0", "", "Returns helpful text about the different subcommands."),
];

fn fcall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    call(ctx, argv, false)
}

fn fcall_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    call(ctx, argv, true)
}

fn call(ctx: &mut Ctx, argv: &[&[u8]], ro: bool) -> CmdResult {
    let server = ctx.server;
    let _exclusive = super::scripting::exclusive(ctx)?;
    let registry = server.scripting.functions.lock();
    // (A name that is not UTF-8 names no function.)
    let name = std::str::from_utf8(argv[1]).unwrap_or("");
    let Some((lua, func, fflags)) = registry.function(name) else {
        return Err(CmdError::new("ERR Function not found"));
    };
    let n = args::int(argv[2]).map_err(|_| CmdError::new("ERR Bad number of keys provided"))?;
    if n > (argv.len() - 3) as i64 {
        return Err(CmdError::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(CmdError::new("ERR Number of keys can't be negative"));
    }
    flags::check(ctx, fflags, ro).map_err(CmdError::owned)?;
    let read_only = ro || fflags & flags::NO_WRITES != 0;
    super::scripting::invoke(
        ctx,
        false,
        fflags,
        n as usize,
        argv,
        |ctx, running, keys, args| {
            let target = crate::scripting::Target::Function { name, func };
            crate::scripting::run(lua, ctx, running, target, keys, args, read_only)
        },
    )
}

fn load(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut replace = false;
    let mut i = 2;
    while i < argv.len() - 1 {
        if argv[i].eq_ignore_ascii_case(b"replace") {
            replace = true;
            i += 1;
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(argv[i])
            )));
        }
    }
    if i != argv.len() - 1 {
        return Err(CmdError::new("ERR Function code is missing"));
    }
    let name = ctx
        .server
        .scripting
        .load_library(argv[i], replace)
        .map_err(CmdError::owned)?;
    ctx.dirty(1);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut code, mut pattern) = (false, None);
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i];
        if !code && a.eq_ignore_ascii_case(b"withcode") {
            code = true;
        } else if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
            if i + 1 >= argv.len() {
                return Err(CmdError::new("ERR library name argument was not given"));
            }
            i += 1;
            pattern = Some(argv[i]);
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    let registry = ctx.server.scripting.functions.lock();
    let libs: Vec<_> = registry
        .libs
        .values()
        .filter(|l| {
            pattern.is_none_or(|p| crate::engine::glob::matches(p, l.name.as_bytes(), true))
        })
        .collect();
    let out = &mut *ctx.out;
    out.array(libs.len());
    for lib in libs {
        out.map(if code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(lib.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = flags::NAMES
                .iter()
                .filter(|(b, _)| f.flags & b != 0)
                .map(|(_, n)| *n)
                .collect();
            out.set(names.len());
            for n in names {
                out.simple(n);
            }
        }
        if code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

fn delete(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let name = String::from_utf8_lossy(argv[2]);
    if !ctx.server.scripting.delete_library(&name) {
        return Err(CmdError::new("ERR Library not found"));
    }
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

fn flush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax("flush"));
    }
    let ok = match argv {
        [_, _] => true,
        [_, _, m] => m.eq_ignore_ascii_case(b"async") || m.eq_ignore_ascii_case(b"sync"),
        _ => false,
    };
    if !ok {
        return Err(CmdError::new(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    ctx.server.scripting.flush_functions();
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

/// The libraries as a DUMP-style payload: a function record (RDB opcode 245 and the code)
/// for each, then the RDB version and a CRC-64.
fn dump(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let codes = ctx.server.scripting.library_codes();
    let payload = crate::persistence::rdb::dump_functions(&codes);
    ctx.out.bulk(&payload);
    Ok(())
}

fn restore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 4 {
        return Err(subcommand_syntax("restore"));
    }
    let policy =
        match argv.get(3) {
            None => Restore::Append,
            Some(p) if argv.len() == 4 && p.eq_ignore_ascii_case(b"append") => Restore::Append,
            Some(p) if argv.len() == 4 && p.eq_ignore_ascii_case(b"replace") => Restore::Replace,
            Some(p) if argv.len() == 4 && p.eq_ignore_ascii_case(b"flush") => Restore::Flush,
            Some(_) => return Err(CmdError::new(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    let codes = crate::persistence::rdb::undump_functions(argv[2]).map_err(CmdError::owned)?;
    ctx.server
        .scripting
        .restore_libraries(&codes, policy)
        .map_err(CmdError::owned)?;
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

pub use crate::scripting::Restore;

/// Redis's reply to a FUNCTION subcommand given too many arguments.
fn subcommand_syntax(name: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{name}'. Try FUNCTION HELP."
    ))
}

fn stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let scripting = &ctx.server.scripting;
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match scripting.running() {
        Some(r) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(r.name().as_bytes());
            out.bulk(b"command");
            let args = r.command.args();
            out.array(args.len());
            for a in args {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(r.started.elapsed().as_millis() as i64);
        }
        None => out.null(),
    }
    let (libraries, functions) = scripting.function_counts();
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libraries as i64);
    out.bulk(b"functions_count");
    out.int(functions as i64);
    Ok(())
}

fn kill(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.scripting.kill(false).map_err(CmdError::new)?;
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::server::help(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(())
}
