//! ACL commands (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, GENPASS, LOG, DRYRUN,
//! LOAD, SAVE), and what dispatch, scripts and EXEC ask of ACLs: the check, its error and its
//! log entry.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::args::is;
use super::table::{Command, CommandSpec as C, ADMIN, LOADING, NOSCRIPT, STALE};
use super::{CmdError, CmdResult, Ctx};
use crate::acl::log::{Context, Entry, Reason};
use crate::acl::{categories, Denied, User};
use crate::clients::Client;
use crate::server::Server;

const F: u32 = NOSCRIPT | LOADING | STALE;
const A: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

static ACL: &[C] = &[
    C::new("cat", -2, F, cat).doc(
        "server",
        "6.0.0",
        "[category]",
        "Lists the ACL categories, or the commands inside a category.",
    ),
    C::new("deluser", -3, A, deluser).doc(
        "server",
        "6.0.0",
        "username [username ...]",
        "Deletes ACL users, and terminates their connections.",
    ),
    C::new("dryrun", -4, A, dryrun).doc(
        "server",
        "7.0.0",
        "username command [arg [arg ...]]",
        "Simulates the execution of a command by a user, without executing the command.",
    ),
    C::new("genpass", -2, F, genpass).doc(
        "server",
        "6.0.0",
        "[bits]",
        "Generates a pseudorandom, secure password that can be used to identify ACL users.",
    ),
    C::new("getuser", 3, A, getuser).doc(
        "server",
        "6.0.0",
        "username",
        "Lists the ACL rules of a user.",
    ),
    C::new("help", 2, LOADING | STALE, help).doc(
        "server",
        "6.0.0",
        "",
        "Returns helpful text about the different subcommands.",
    ),
    C::new("list", 2, A, list).doc(
        "server",
        "6.0.0",
        "",
        "Dumps the effective rules in ACL file format.",
    ),
    C::new("load", 2, A, load).doc(
        "server",
        "6.0.0",
        "",
        "Reloads the rules from the configured ACL file.",
    ),
    C::new("log", -2, A, log).doc(
        "server",
        "6.0.0",
        "[count | RESET]",
        "Lists recent security events generated due to ACL rules.",
    ),
    C::new("save", 2, A, save).doc(
        "server",
        "6.0.0",
        "",
        "Saves the effective ACL rules in the configured ACL file.",
    ),
    C::new("setuser", -3, A, setuser).doc(
        "server",
        "6.0.0",
        "username [rule [rule ...]]",
        "Creates and modifies an ACL user and its rules.",
    ),
    C::new("users", 2, A, users).doc("server", "6.0.0", "", "Lists all ACL users."),
    C::new("whoami", 2, F, whoami).doc(
        "server",
        "6.0.0",
        "",
        "Returns the authenticated username of the current connection.",
    ),
];

pub static COMMANDS: &[C] = &[C::container("acl", ACL).doc(
    "server",
    "6.0.0",
    "",
    "A container for Access List Control commands.",
)];

/// The client's user, looked up again if any user changed since (a deleted user's
/// connection falls back to an unauthenticated default, as it is being closed).
#[inline]
pub fn refresh(server: &Server, client: &mut Client) {
    let g = server.acl.generation();
    if client.acl_gen != g {
        refresh_slow(server, client, g);
    }
}

#[inline(never)]
fn refresh_slow(server: &Server, client: &mut Client, g: u64) {
    client.acl_gen = g;
    let Some(u) = &client.user else { return };
    match server.acl.get(&u.name) {
        Some(now) if now.uid == u.uid => client.set_user(now),
        _ => {
            client.set_user(server.acl.default_user());
            client.authenticated = false;
            client.handle.authed.store(false, Ordering::Relaxed);
        }
    }
}

/// Logs a refusal in ACL LOG and counts it (INFO acl_access_denied_*).
pub fn log_denial(ctx: &Ctx, reason: Reason, context: Context, object: &[u8], username: &[u8]) {
    let stats = &ctx.server.stats;
    let counter = match reason {
        Reason::Auth => &stats.acl_access_denied_auth,
        Reason::Cmd => &stats.acl_access_denied_cmd,
        Reason::Key => &stats.acl_access_denied_key,
        Reason::Channel => &stats.acl_access_denied_channel,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let mut info = String::new();
    super::client::describe(ctx.server, &ctx.client.handle, None, &mut info);
    let now = crate::engine::now_ms();
    let entry = Entry {
        count: 1,
        reason,
        context,
        object: object.to_vec(),
        username: username.to_vec(),
        updated_ms: now,
        client_info: info.trim_end().to_string(),
        id: 0,
        created_ms: now,
    };
    let max = ctx.server.config.acllog_max_len.u() as usize;
    ctx.server.acl.log.lock().add(entry, max);
}

/// The ACL check for a command about to run (or be queued): None when allowed; else the
/// refusal, logged, and its user (for the message).
pub fn denied(
    ctx: &mut Ctx,
    cmd: &Command,
    argv: &[&[u8]],
    context: Context,
) -> Option<(Denied, Arc<User>)> {
    refresh(ctx.server, ctx.client);
    let user = ctx.client.user.as_ref()?;
    if user.unrestricted {
        return None;
    }
    let d = crate::acl::check(user, cmd, argv).err()?;
    let user = user.clone();
    let object: &[u8] = match d {
        Denied::Cmd => cmd.fullname.as_bytes(),
        Denied::Key(i) | Denied::Channel(i) => argv[i],
    };
    log_denial(ctx, d.reason(), context, object, &user.name);
    Some((d, user))
}

/// Dispatch's ACL rejection: -NOPERM with Redis's text (at EXEC, the text for rules that
/// changed since the command was queued).
#[inline]
pub fn rejection(ctx: &mut Ctx, cmd: &Command, argv: &[&[u8]]) -> Option<CmdError> {
    refresh(ctx.server, ctx.client);
    if ctx.client.in_script || ctx.client.user.as_ref().is_none_or(|u| u.unrestricted) {
        return None;
    }
    let context = if ctx.client.in_exec || ctx.client.multi.is_some() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    let (d, user) = denied(ctx, cmd, argv, context)?;
    if ctx.client.in_exec {
        let reason = match d {
            Denied::Cmd => "no permission to execute the command or subcommand",
            Denied::Key(_) => "no permission to touch the specified keys",
            Denied::Channel(_) => "no permission to access one of the channels used as arguments",
        };
        return Some(CmdError::owned(format!(
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}"
        )));
    }
    Some(CmdError::owned(format!(
        "NOPERM {}",
        d.message(&user, cmd, argv, false)
    )))
}

/// A script's `redis.call` refused by ACLs: the error it raises.
pub fn script_rejection(ctx: &mut Ctx, cmd: &Command, argv: &[&[u8]]) -> Option<String> {
    let (d, user) = denied(ctx, cmd, argv, Context::Lua)?;
    Some(format!(
        "ERR ACL failure in script: {}",
        d.message(&user, cmd, argv, false)
    ))
}

/// Whether the client's user may run this command with read access to every key (SORT's BY
/// and GET patterns).
pub fn reads_every_key(ctx: &mut Ctx, argv: &[&[u8]]) -> bool {
    refresh(ctx.server, ctx.client);
    let Some(user) = &ctx.client.user else {
        return true;
    };
    if user.unrestricted {
        return true;
    }
    let Some(cmd) = super::resolve(&ctx.server.commands, argv) else {
        return false;
    };
    user.selectors.iter().any(|s| {
        crate::acl::all_keys_for(s, crate::acl::user::READ)
            && crate::acl::check_selector(s, cmd, argv, &mut None).is_ok()
    })
}

/// AUTH and HELLO AUTH: runs as the user from now on, or the failure is logged.
pub fn authenticate(ctx: &mut Ctx, object: &[u8], name: &[u8], pass: &[u8]) -> CmdResult {
    match ctx.server.acl.authenticate(name, pass) {
        Some(u) => {
            ctx.client.authenticated = true;
            ctx.client.handle.authed.store(true, Ordering::Relaxed);
            ctx.client.set_user(u);
            ctx.client.acl_gen = ctx.server.acl.generation();
            Ok(())
        }
        None => {
            let context = if ctx.client.multi.is_some() {
                Context::Multi
            } else {
                Context::Toplevel
            };
            log_denial(ctx, Reason::Auth, context, object, name);
            Err(CmdError::new(
                "WRONGPASS invalid username-password pair or user is disabled.",
            ))
        }
    }
}

fn setuser(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let name = argv[2];
    if name.iter().any(|&c| c == b' ' || c == 0) {
        return Err(CmdError::new(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    let (old, new) = ctx
        .server
        .acl
        .set_user(&ctx.server.commands, name, &argv[3..])
        .map_err(|e| CmdError::owned(format!("ERR {e}")))?;
    if let Some(old) = old {
        if !crate::acl::channels_kept(&old, &new) {
            close_subscribers_beyond(ctx, &new);
        }
    }
    ctx.out.ok();
    Ok(())
}

/// Closes the user's subscribers that hold a subscription its new rules no longer allow.
fn close_subscribers_beyond(ctx: &mut Ctx, user: &User) {
    let subs = ctx.clients().pubsub.by_client();
    close_where(ctx, |h, u| {
        u.uid == user.uid
            && subs
                .get(&h.id)
                .is_some_and(|s| !crate::acl::may_keep_subscriptions(user, &s[0], &s[1], &s[2]))
    });
}

/// Closes the connections of users that no longer exist.
fn close_clients_of(ctx: &mut Ctx, gone: &[Arc<User>]) {
    close_where(ctx, |_, u| gone.iter().any(|g| g.uid == u.uid));
}

/// Closes every connection whose user `pick` names.
fn close_where(ctx: &mut Ctx, pick: impl Fn(&crate::clients::ClientHandle, &User) -> bool) {
    for h in ctx.clients().snapshot() {
        let picked = h.user.lock().as_deref().is_some_and(|u| pick(&h, u));
        if picked {
            super::client::kill_client(ctx, &h);
        }
    }
}

fn deluser(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv[2..].iter().any(|n| *n == b"default") {
        return Err(CmdError::new("ERR The 'default' user cannot be removed"));
    }
    let gone = ctx.server.acl.delete(&argv[2..]);
    close_clients_of(ctx, &gone);
    ctx.out.int(gone.len() as i64);
    Ok(())
}

fn getuser(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(u) = ctx.server.acl.get(argv[2]) else {
        ctx.out.null();
        return Ok(());
    };
    let out = &mut *ctx.out;
    out.map(6);
    out.bulk(b"flags");
    let flags = u.flags();
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(u.passwords.len());
    for p in &u.passwords {
        out.bulk(p.as_bytes());
    }
    selector_fields(out, u.root());
    out.bulk(b"selectors");
    out.array(u.selectors.len() - 1);
    for s in &u.selectors[1..] {
        out.map(3);
        selector_fields(out, s);
    }
    Ok(())
}

fn selector_fields(out: &mut crate::protocol::Reply, s: &crate::acl::Selector) {
    out.bulk(b"commands");
    out.bulk(s.describe_commands().as_bytes());
    out.bulk(b"keys");
    out.bulk(&s.describe_keys());
    out.bulk(b"channels");
    out.bulk(&s.describe_channels());
}

/// `user <name> <rules>`, as ACL LIST and the ACL file have it.
pub fn user_line(u: &User) -> Vec<u8> {
    let mut line = b"user ".to_vec();
    line.extend_from_slice(&u.name);
    line.push(b' ');
    line.extend_from_slice(&u.describe());
    line
}

fn list(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let users = ctx.server.acl.users();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(&user_line(&u));
    }
    Ok(())
}

fn users(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let users = ctx.server.acl.users();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(&u.name);
    }
    Ok(())
}

fn whoami(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    refresh(ctx.server, ctx.client);
    match &ctx.client.user {
        Some(u) => {
            let name = u.name.clone();
            ctx.out.bulk(&name);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn cat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        2 => {
            ctx.out.array(categories::NAMES.len());
            for (_, n) in categories::NAMES {
                ctx.out.bulk(n.as_bytes());
            }
        }
        3 => {
            let cat = categories::by_name(argv[2]).ok_or_else(|| {
                CmdError::owned(format!(
                    "ERR Unknown category '{}'",
                    super::trunc(argv[2], 128)
                ))
            })?;
            let names: Vec<&str> = ctx
                .server
                .commands
                .iter_all()
                .filter(|c| c.acl & cat != 0)
                .map(|c| c.fullname.as_str())
                .collect();
            ctx.out.array(names.len());
            for n in names {
                ctx.out.bulk(n.as_bytes());
            }
        }
        _ => return Err(subcommand_syntax(argv)),
    }
    Ok(())
}

fn subcommand_syntax(argv: &[&[u8]]) -> CmdError {
    CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        super::trunc(argv[1], 128)
    ))
}

fn genpass(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax(argv));
    }
    let bits = match argv.get(2) {
        Some(a) => super::args::strict_i64(a).ok_or(super::NOT_INT)?,
        None => 256,
    };
    if !(1..=4096).contains(&bits) {
        return Err(CmdError::new("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
    }
    let chars = (bits as usize).div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| CmdError::new("ERR could not read random bytes"))?;
    let hex: Vec<u8> = bytes
        .iter()
        .flat_map(|b| [b >> 4, b & 15])
        .take(chars)
        .map(|d| b"0123456789abcdef"[d as usize])
        .collect();
    ctx.out.bulk(&hex);
    Ok(())
}

fn log(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax(argv));
    }
    let mut count = 10usize;
    if let Some(a) = argv.get(2) {
        if is(a, "RESET") {
            ctx.server.acl.log.lock().reset();
            ctx.out.ok();
            return Ok(());
        }
        count = super::args::strict_i64(a).ok_or(super::NOT_INT)?.max(0) as usize;
    }
    let now = crate::engine::now_ms();
    let entries: Vec<Entry> = ctx
        .server
        .acl
        .log
        .lock()
        .entries
        .iter()
        .take(count)
        .cloned()
        .collect();
    let out = &mut *ctx.out;
    out.array(entries.len());
    for e in entries {
        out.map(10);
        out.bulk(b"count");
        out.int(e.count as i64);
        out.bulk(b"reason");
        out.bulk(e.reason.name().as_bytes());
        out.bulk(b"context");
        out.bulk(e.context.name().as_bytes());
        out.bulk(b"object");
        out.bulk(&e.object);
        out.bulk(b"username");
        out.bulk(&e.username);
        out.bulk(b"age-seconds");
        out.double(now.saturating_sub(e.updated_ms) as f64 / 1000.0);
        out.bulk(b"client-info");
        out.bulk(e.client_info.as_bytes());
        out.bulk(b"entry-id");
        out.int(e.id as i64);
        out.bulk(b"timestamp-created");
        out.int(e.created_ms as i64);
        out.bulk(b"timestamp-last-updated");
        out.int(e.updated_ms as i64);
    }
    Ok(())
}

fn dryrun(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(user) = ctx.server.acl.get(argv[2]) else {
        return Err(CmdError::owned(format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(argv[2])
        )));
    };
    let args = &argv[3..];
    let Some(cmd) = super::resolve(&ctx.server.commands, args) else {
        return Err(CmdError::owned(format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(args[0])
        )));
    };
    if !cmd.spec.arity_ok(args.len()) {
        return Err(CmdError::owned(format!(
            "ERR wrong number of arguments for '{}' command",
            cmd.fullname
        )));
    }
    match crate::acl::check(&user, cmd, args) {
        Ok(()) => ctx.out.ok(),
        Err(d) => ctx.out.bulk(d.message(&user, cmd, args, true).as_bytes()),
    }
    Ok(())
}

fn load(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let path = ctx.server.aclfile();
    if path.is_empty() {
        return Err(NO_FILE);
    }
    let acl = &ctx.server.acl;
    let users = crate::acl::file::load(acl, &ctx.server.commands, &path)
        .map_err(|e| CmdError::owned(format!("ERR {e}")))?;
    let replaced = acl.replace_all(&ctx.server.commands, users);
    // (Redis 7.2 closes the connections of every user but the default one.)
    close_clients_of(ctx, &replaced);
    ctx.out.ok();
    Ok(())
}

fn save(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let path = ctx.server.aclfile();
    if path.is_empty() {
        return Err(NO_FILE);
    }
    crate::acl::file::save(&ctx.server.acl, &path).map_err(|e| {
        tracing::warn!("Saving the ACL file {path}: {e}");
        CmdError::new("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
    })?;
    ctx.out.ok();
    Ok(())
}

const NO_FILE: CmdError = CmdError::new("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.");

fn help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::server::help(
        ctx,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(())
}
