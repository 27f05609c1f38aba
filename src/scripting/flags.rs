//! Script flags: what a script declares in its `#!lua flags=...` line, or a function at
//! registration, and the checks Redis makes before running it (a script without a shebang
//! runs in the compatibility mode of Redis 6, where its commands are checked one by one).

use crate::command::Ctx;

pub const NO_WRITES: u32 = 1 << 0;
pub const ALLOW_OOM: u32 = 1 << 1;
pub const ALLOW_STALE: u32 = 1 << 2;
pub const NO_CLUSTER: u32 = 1 << 3;
pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
/// An EVAL script without a shebang.
pub const EVAL_COMPAT: u32 = 1 << 31;

/// The flags by name, in the order FUNCTION LIST gives them.
pub const NAMES: &[(u32, &str)] = &[
    (NO_WRITES, "no-writes"),
    (ALLOW_OOM, "allow-oom"),
    (ALLOW_STALE, "allow-stale"),
    (NO_CLUSTER, "no-cluster"),
    (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
];

/// A flag by name (functions' flags are case-insensitive, a shebang's are not).
pub fn by_name(name: &str, nocase: bool) -> Option<u32> {
    NAMES
        .iter()
        .find(|(_, n)| {
            if nocase {
                n.eq_ignore_ascii_case(name)
            } else {
                *n == name
            }
        })
        .map(|(f, _)| *f)
}

/// A shebang line's words as Redis splits them (its `sdssplitargs`): quotes may open anywhere
/// in a word and are removed, `"..."` takes backslash escapes; None when a quote is left
/// open or a closing quote runs into the next character.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Some(words);
        }
        let mut word = Vec::new();
        let mut quote = None;
        loop {
            let Some(&c) = line.get(i) else {
                if quote.is_some() {
                    return None;
                }
                break;
            };
            match quote {
                Some(q) if c == q => {
                    if line.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return None;
                    }
                    i += 1;
                    break;
                }
                Some(b'"') if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' => {
                    match (hex(line[i + 2]), hex(line[i + 3])) {
                        (Some(h), Some(l)) => {
                            word.push((h << 4) | l);
                            i += 3;
                        }
                        _ => word.push(c),
                    }
                }
                Some(b'"') if c == b'\\' && i + 1 < line.len() => {
                    i += 1;
                    word.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        o => o,
                    });
                }
                Some(b'\'') if c == b'\\' && line.get(i + 1) == Some(&b'\'') => {
                    i += 1;
                    word.push(b'\'');
                }
                Some(_) => word.push(c),
                None if c.is_ascii_whitespace() => break,
                None if c == b'"' || c == b'\'' => quote = Some(c),
                None => word.push(c),
            }
            i += 1;
        }
        words.push(word);
    }
}

/// An EVAL body's flags and where its code starts (after the shebang line, at its newline),
/// or the error reply for a bad shebang.
pub fn of_script(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let words: Vec<String> = split_args(&body[..end])
        .unwrap_or_default()
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let Some(engine) = words.first() else {
        return Err("ERR Invalid engine in script shebang".into());
    };
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = 0;
    for p in &words[1..] {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {p}"));
        };
        // (An empty list is no flags; an empty name among others is an unknown flag.)
        for f in list.split(',').filter(|_| !list.is_empty()) {
            match by_name(f, false) {
                Some(b) => flags |= b,
                None => return Err(format!("ERR Unexpected flag in script shebang: {f}")),
            }
        }
    }
    Ok((flags, end))
}

/// The checks before a script runs, by its flags (Redis's scriptPrepareForRun); `ro` for
/// EVAL_RO, EVALSHA_RO and FCALL_RO.
pub fn check(ctx: &Ctx, flags: u32, ro: bool) -> Result<(), String> {
    let server = ctx.server;
    if ctx.client.master {
        return Ok(());
    }
    let replica = crate::replication::replica::is_replica();
    let stale = replica
        && !server.config.replica_serve_stale_data.get()
        && !server.replication.upstream.link_up();
    if flags & EVAL_COMPAT != 0 {
        if stale {
            return Err(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
                    .into(),
            );
        }
        return Ok(());
    }
    if stale && flags & ALLOW_STALE == 0 {
        return Err("MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and 'allow-stale' flag is not set on the script.".into());
    }
    if flags & NO_WRITES == 0 {
        if replica && server.config.replica_read_only.get() {
            return Err("READONLY Can not run script with write flag on readonly replica".into());
        }
        if crate::persistence::snapshot::refuses_writes(server) {
            return Err("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.".into());
        }
        if ro {
            return Err("ERR Can not execute a script with write flag using *_ro command.".into());
        }
        if !crate::command::enough_replicas(server) {
            return Err("NOREPLICAS Not enough good replicas to write.".into());
        }
        if flags & ALLOW_OOM == 0
            && server.config.maxmemory.u() > 0
            && crate::command::out_of_memory(ctx)
        {
            return Err("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'".into());
        }
    }
    Ok(())
}
