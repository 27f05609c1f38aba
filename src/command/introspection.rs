//! COMMAND and its subcommands: what commands exist, their arity, flags, keys and docs.

use super::args::is;
use super::table::{Command, CommandSpec as C, FLAG_NAMES, LOADING, STALE, WRITE};
use super::{docs, CmdError, CmdResult, Ctx, SYNTAX};
use crate::protocol::Reply;

const INTRO: u32 = LOADING | STALE;

pub static COMMANDS: &[C] = &[C {
    subcommands: SUBCOMMANDS,
    ..C::new("command", -1, INTRO, command_all).doc(
        "server",
        "2.8.13",
        "",
        "Returns detailed information about all commands.",
    )
}];

static SUBCOMMANDS: &[C] = &[
    C::new("count", 2, INTRO, count).doc("server", "2.8.13", "", "Returns a count of commands."),
    C::new("info", -2, INTRO, info).doc(
        "server",
        "2.8.13",
        "[command-name [command-name ...]]",
        "Returns information about one, multiple or all commands.",
    ),
    C::new("docs", -2, INTRO, docs_cmd).doc(
        "server",
        "7.0.0",
        "[command-name [command-name ...]]",
        "Returns documentary information about one, multiple or all commands.",
    ),
    C::new("list", -2, INTRO, list).doc(
        "server",
        "7.0.0",
        "[FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]",
        "Returns a list of command names.",
    ),
    C::new("getkeys", -4, INTRO, getkeys).doc(
        "server",
        "2.8.13",
        "command [arg [arg ...]]",
        "Extracts the key names from an arbitrary command.",
    ),
    C::new("help", 2, INTRO, help).doc(
        "server",
        "5.0.0",
        "",
        "Returns helpful text about the different subcommands.",
    ),
];

fn write_info(out: &mut Reply, c: &Command) {
    let s = c.spec;
    out.array(10);
    out.bulk(c.fullname.as_bytes());
    out.int(s.arity as i64);
    let flags: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(f, _)| s.flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
    out.int(s.first_key as i64);
    out.int(s.last_key as i64);
    out.int(s.step as i64);
    let cats = s.acl_categories();
    out.set(cats.len());
    for cat in cats {
        out.simple(cat);
    }
    out.array(0); // tips
    if s.first_key > 0 {
        // One key spec describing the (first, last, step) range.
        out.array(1);
        out.map(3);
        out.bulk(b"flags");
        let kflags: &[&str] = if s.flags & WRITE != 0 {
            &["RW", "update"]
        } else {
            &["RO", "access"]
        };
        out.array(kflags.len());
        for f in kflags {
            out.simple(f);
        }
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"index");
        out.bulk(b"spec");
        out.map(1);
        out.bulk(b"index");
        out.int(s.first_key as i64);
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"range");
        out.bulk(b"spec");
        out.map(3);
        out.bulk(b"lastkey");
        out.int(if s.last_key < 0 {
            s.last_key as i64
        } else {
            (s.last_key - s.first_key) as i64
        });
        out.bulk(b"keystep");
        out.int(s.step as i64);
        out.bulk(b"limit");
        out.int(0);
    } else {
        out.array(0);
    }
    out.array(c.subcommands().len());
    for sub in c.subcommands() {
        write_info(out, sub);
    }
}

fn write_docs(out: &mut Reply, c: &Command) {
    let s = c.spec;
    let args = docs::parse(s.syntax);
    let has_subs = !c.subcommands().is_empty();
    out.map(4 + !args.is_empty() as usize + has_subs as usize);
    out.bulk(b"summary");
    out.bulk(s.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(s.since.as_bytes());
    out.bulk(b"group");
    out.bulk(s.group.as_bytes());
    out.bulk(b"complexity");
    out.bulk(b"");
    if !args.is_empty() {
        out.bulk(b"arguments");
        docs::write_args(out, &args);
    }
    if has_subs {
        out.bulk(b"subcommands");
        out.map(c.subcommands().len());
        for sub in c.subcommands() {
            out.bulk(sub.fullname.as_bytes());
            write_docs(out, sub);
        }
    }
}

fn find<'a>(ctx: &Ctx<'a>, name: &[u8]) -> Option<&'a Command> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    let table = &ctx.server.commands;
    match lower.split_once('|') {
        Some((parent, sub)) => table.lookup(parent.as_bytes())?.sub(sub.as_bytes()),
        None => table.lookup(lower.as_bytes()),
    }
}

fn command_all(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 1 {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(argv[1])
        )));
    }
    let all = ctx.server.commands.all();
    ctx.out.array(all.len());
    for c in all {
        write_info(ctx.out, c);
    }
    Ok(())
}

fn count(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.commands.all().len() as i64);
    Ok(())
}

fn info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 2 {
        return command_all(ctx, &argv[..1]);
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match find(ctx, name) {
            Some(c) => write_info(ctx.out, c),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn docs_cmd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found: Vec<&Command> = if argv.len() == 2 {
        ctx.server.commands.all().iter().collect()
    } else {
        argv[2..].iter().filter_map(|n| find(ctx, n)).collect()
    };
    ctx.out.map(found.len());
    for c in found {
        ctx.out.bulk(c.fullname.as_bytes());
        write_docs(ctx.out, c);
    }
    Ok(())
}

fn list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let names: Vec<&str> = ctx
        .server
        .commands
        .iter_all()
        .map(|c| c.fullname.as_str())
        .collect();
    let filtered: Vec<&str> = match argv.len() {
        2 => names,
        5 if is(argv[2], "FILTERBY") => {
            let v = argv[4];
            if is(argv[3], "PATTERN") {
                names
                    .into_iter()
                    .filter(|n| crate::engine::glob::matches(v, n.as_bytes(), true))
                    .collect()
            } else if is(argv[3], "ACLCAT") {
                let cat = format!("@{}", String::from_utf8_lossy(v).to_ascii_lowercase());
                ctx.server
                    .commands
                    .iter_all()
                    .filter(|c| c.spec.acl_categories().contains(&cat.as_str()))
                    .map(|c| c.fullname.as_str())
                    .collect()
            } else if is(argv[3], "MODULE") {
                vec![]
            } else {
                return Err(SYNTAX);
            }
        }
        _ => return Err(SYNTAX),
    };
    ctx.out.array(filtered.len());
    for n in filtered {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

fn getkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let target = &argv[2..];
    let mut cmd = find(ctx, target[0]).ok_or(CmdError::new("ERR Invalid command specified"))?;
    if target.len() > 1 {
        let sub = String::from_utf8_lossy(target[1]).to_ascii_lowercase();
        if let Some(s) = cmd.sub(sub.as_bytes()) {
            cmd = s;
        }
    }
    let a = cmd.spec.arity;
    if (a > 0 && target.len() != a as usize) || target.len() < a.unsigned_abs() as usize {
        return Err(CmdError::new(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let pos =
        movable_keys(cmd.spec.name, target).unwrap_or_else(|| cmd.spec.key_positions(target.len()));
    if pos.is_empty() {
        return Err(CmdError::new("ERR The command has no key arguments"));
    }
    ctx.out.array(pos.len());
    for p in pos {
        ctx.out.bulk(target[p]);
    }
    Ok(())
}

/// Key positions of the commands whose keys the (first, last, step) triple cannot describe:
/// a numkeys count, STORE options, XREAD's STREAMS list. None for every other command.
fn movable_keys(name: &str, argv: &[&[u8]]) -> Option<Vec<usize>> {
    let is = |a: &[u8], kw: &str| a.eq_ignore_ascii_case(kw.as_bytes());
    // `numkeys` at `at`, keys right after it.
    let counted = |at: usize| -> Vec<usize> {
        let n = argv
            .get(at)
            .and_then(|a| super::args::strict_i64(a))
            .filter(|n| *n > 0)
            .map_or(0, |n| n as usize);
        (at + 1..(at + 1 + n).min(argv.len())).collect()
    };
    // The key after the first `kw` found from position `from` (a keyword key spec).
    let option_key = |from: usize, kw: &str| -> Option<usize> {
        (from..argv.len().saturating_sub(1))
            .find(|&i| is(argv[i], kw))
            .map(|i| i + 1)
    };
    // SORT's STORE, found as Redis finds it: LIMIT, GET and BY skip their arguments, and the
    // last STORE wins.
    let sort_store = || -> Option<usize> {
        let (mut found, mut i) = (None, 2);
        while i < argv.len() {
            if is(argv[i], "LIMIT") {
                i += 2;
            } else if is(argv[i], "GET") || is(argv[i], "BY") {
                i += 1;
            } else if is(argv[i], "STORE") && i + 1 < argv.len() {
                found = Some(i + 1);
            }
            i += 1;
        }
        found
    };
    Some(match name {
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            counted(1)
        }
        "blmpop" | "bzmpop" => counted(2),
        "zunionstore" | "zinterstore" | "zdiffstore" => {
            std::iter::once(1).chain(counted(2)).collect()
        }
        "sort" => std::iter::once(1).chain(sort_store()).collect(),
        // One key spec per keyword: both keys are listed when both options are given.
        "georadius" | "georadiusbymember" => {
            let from = if name == "georadius" { 6 } else { 5 };
            std::iter::once(1)
                .chain(option_key(from, "STORE"))
                .chain(option_key(from, "STOREDIST"))
                .collect()
        }
        "xread" | "xreadgroup" => {
            let s = (1..argv.len()).find(|&i| is(argv[i], "STREAMS"))? + 1;
            (s..s + (argv.len() - s) / 2).collect()
        }
        _ => return None,
    })
}

fn help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::server::help(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ],
    );
    Ok(())
}
