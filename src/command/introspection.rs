//! COMMAND and its subcommands: what commands exist, their arity, flags, keys and docs.

use super::args::is;
use super::keyspec::{self, Begin, Find, KeySpec};
use super::table::{Command, CommandSpec as C, FLAG_NAMES, LOADING, STALE};
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
    C::new("getkeysandflags", -4, INTRO, getkeysandflags).doc(
        "server",
        "7.0.0",
        "command [arg [arg ...]]",
        "Extracts the key names and access flags for an arbitrary command.",
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
    let mut flags: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(f, _)| s.flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    if c.movable_keys {
        flags.push("movablekeys");
    }
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
    let (first, last, step) = c.legacy_keys;
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    let cats = crate::acl::categories::names(c.acl);
    out.set(c.acl.count_ones() as usize);
    for cat in cats {
        out.simple(&format!("@{cat}"));
    }
    out.array(0); // tips
    out.set(s.key_specs.len());
    for spec in s.key_specs {
        write_key_spec(out, spec);
    }
    out.array(c.subcommands().len());
    for sub in c.subcommands() {
        write_info(out, sub);
    }
}

/// Key flags as COMMAND INFO and GETKEYSANDFLAGS list them.
fn write_key_flags(out: &mut Reply, flags: u16) {
    let names: Vec<&str> = keyspec::FLAG_NAMES
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(names.len());
    for n in names {
        out.simple(n);
    }
}

/// One key spec, in Redis's map shape.
fn write_key_spec(out: &mut Reply, spec: &KeySpec) {
    out.map(3);
    out.bulk(b"flags");
    write_key_flags(out, spec.flags);
    out.bulk(b"begin_search");
    match spec.begin {
        Begin::Index(i) => typed_spec(out, "index", &[("index", i)]),
        Begin::Keyword { word, from } => {
            // The one spec with a word in it.
            out.map(2);
            out.bulk(b"type");
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(word.as_bytes());
            out.bulk(b"startfrom");
            out.int(from as i64);
        }
        Begin::Unknown => typed_spec(out, "unknown", &[]),
    }
    out.bulk(b"find_keys");
    match spec.find {
        Find::Range { last, step, limit } => typed_spec(
            out,
            "range",
            &[("lastkey", last), ("keystep", step), ("limit", limit)],
        ),
        Find::Keynum { index, first, step } => typed_spec(
            out,
            "keynum",
            &[("keynumidx", index), ("firstkey", first), ("keystep", step)],
        ),
        Find::Unknown => typed_spec(out, "unknown", &[]),
    }
}

/// `{type: <kind>, spec: {<name>: <number>, ...}}`.
fn typed_spec(out: &mut Reply, kind: &str, fields: &[(&str, i32)]) {
    out.map(2);
    out.bulk(b"type");
    out.bulk(kind.as_bytes());
    out.bulk(b"spec");
    out.map(fields.len());
    for (name, v) in fields {
        out.bulk(name.as_bytes());
        out.int(*v as i64);
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
        docs::write_args(out, &args, s.key_specs.len(), &mut 0);
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
                let cat = crate::acl::categories::by_name(v).unwrap_or(0);
                ctx.server
                    .commands
                    .iter_all()
                    .filter(|c| c.acl & cat != 0)
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
    getkeys_generic(ctx, argv, false)
}

fn getkeysandflags(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    getkeys_generic(ctx, argv, true)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS: the keys of the command given, found by its key specs.
fn getkeys_generic(ctx: &mut Ctx, argv: &[&[u8]], with_flags: bool) -> CmdResult {
    let target = &argv[2..];
    let mut cmd = find(ctx, target[0]).ok_or(CmdError::new("ERR Invalid command specified"))?;
    if target.len() > 1 && !cmd.subcommands().is_empty() {
        let sub = String::from_utf8_lossy(target[1]).to_ascii_lowercase();
        cmd = cmd
            .sub(sub.as_bytes())
            .ok_or(CmdError::new("ERR Invalid command specified"))?;
    }
    let spec = cmd.spec;
    if !keyspec::has_keys(spec.key_specs, spec.getkeys) {
        return Err(CmdError::new("ERR The command has no key arguments"));
    }
    let a = spec.arity;
    if (a > 0 && target.len() != a as usize) || target.len() < a.unsigned_abs() as usize {
        return Err(CmdError::new(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let mut keys = keyspec::Keys::new();
    spec.keys_of(target, &mut keys);
    if keys.is_empty() && spec.flags & super::table::NO_MANDATORY_KEYS == 0 {
        return Err(CmdError::new("ERR Invalid arguments specified for command"));
    }
    ctx.out.array(keys.len());
    for k in keys {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(target[k.pos]);
            write_key_flags(ctx.out, k.flags);
        } else {
            ctx.out.bulk(target[k.pos]);
        }
    }
    Ok(())
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
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}
