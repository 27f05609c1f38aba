//! Access control lists, as Redis 7 has them: users with passwords and selectors that allow
//! commands (by name, subcommand or category), keys (read, write or both, by glob) and pub/sub
//! channels. ElastiCache's RBAC access strings are these same rules.
//!
//! The registry holds each user as an immutable `Arc<User>`: ACL SETUSER builds a changed copy
//! and swaps it in, then bumps `generation`. A connection keeps its user's `Arc` and looks it
//! up again only when the generation moved, so the per-command cost is one relaxed load and,
//! for a user allowed everything (the default user, unless changed), one flag.

pub mod categories;
pub mod file;
pub mod log;
pub mod user;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::command::keyspec::{self, Keys};
use crate::command::table::{Command, CommandTable, NO_AUTH};
pub use user::{RuleError, Selector, User};

/// Why a command was refused (ordered as Redis ranks them when selectors disagree: the
/// highest wins, then the furthest argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    /// The command (or subcommand) itself.
    Cmd,
    /// The key at this argument.
    Key(usize),
    /// The channel at this argument.
    Channel(usize),
}

impl Denied {
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Cmd => (1, 0),
            Denied::Key(i) => (2, i),
            Denied::Channel(i) => (4, i),
        }
    }

    pub fn reason(self) -> log::Reason {
        match self {
            Denied::Cmd => log::Reason::Cmd,
            Denied::Key(_) => log::Reason::Key,
            Denied::Channel(_) => log::Reason::Channel,
        }
    }

    /// Redis's text for the refusal; `verbose` (ACL DRYRUN) names the key or channel.
    pub fn message(self, user: &User, cmd: &Command, argv: &[&[u8]], verbose: bool) -> String {
        let name = String::from_utf8_lossy(&user.name);
        match self {
            Denied::Cmd => format!(
                "User {name} has no permissions to run the '{}' command",
                cmd.fullname
            ),
            Denied::Key(i) if verbose => format!(
                "User {name} has no permissions to access the '{}' key",
                String::from_utf8_lossy(argv[i])
            ),
            Denied::Key(_) => "No permissions to access a key".into(),
            Denied::Channel(i) if verbose => format!(
                "User {name} has no permissions to access the '{}' channel",
                String::from_utf8_lossy(argv[i])
            ),
            Denied::Channel(_) => "No permissions to access a channel".into(),
        }
    }
}

/// The registry of users, the ACL log, and what changes to them mean for connections.
#[derive(Debug)]
pub struct Acl {
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    generation: AtomicU64,
    next_uid: AtomicU64,
    /// The default user needs no password and is on: connections start authenticated.
    open: AtomicBool,
    /// `acl-pubsub-default allchannels`: new users and selectors may use every channel.
    pub all_channels_default: AtomicBool,
    pub log: Mutex<log::Log>,
    commands: usize,
}

impl Acl {
    /// The registry with only `default`: on, no password, everything allowed.
    pub fn new(table: &CommandTable) -> Acl {
        let acl = Acl {
            users: RwLock::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
            next_uid: AtomicU64::new(1),
            open: AtomicBool::new(true),
            all_channels_default: AtomicBool::new(false),
            log: Mutex::new(log::Log::default()),
            commands: table.count(),
        };
        let d = acl.default_definition(table);
        acl.users.write().insert(b"default".to_vec(), Arc::new(d));
        acl
    }

    fn default_definition(&self, table: &CommandTable) -> User {
        let mut d = self.blank(b"default");
        for rule in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = d.apply(table, rule.as_bytes(), false);
        }
        d
    }

    /// A new user as ACL SETUSER creates it: off, no password, nothing allowed.
    pub fn blank(&self, name: &[u8]) -> User {
        User::new(
            name,
            self.next_uid.fetch_add(1, Ordering::Relaxed),
            self.commands,
            self.all_channels_default(),
        )
    }

    pub fn all_channels_default(&self) -> bool {
        self.all_channels_default.load(Ordering::Relaxed)
    }

    /// Moves when any user changes: connections then look their user up again.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether connections must authenticate (the default user has a password or is off).
    #[inline]
    pub fn auth_required(&self) -> bool {
        !self.open.load(Ordering::Relaxed)
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    pub fn default_user(&self) -> Arc<User> {
        self.get(b"default")
            .expect("the default user always exists")
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    fn published(&self) {
        let open = self.get(b"default").is_some_and(|d| d.nopass && d.enabled);
        self.open.store(open, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// ACL SETUSER: applies `rules` to a copy of the user (a new one if absent) and swaps it in,
    /// all or nothing. Returns (the user before, the user now).
    pub fn set_user(
        &self,
        table: &CommandTable,
        name: &[u8],
        rules: &[&[u8]],
    ) -> Result<(Option<Arc<User>>, Arc<User>), String> {
        let rules = user::merge_selectors(rules).map_err(|i| {
            format!(
                "Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(rules[i])
            )
        })?;
        let mut users = self.users.write();
        let old = users.get(name).cloned();
        let mut u = match &old {
            Some(o) => User::clone(o),
            None => self.blank(name),
        };
        let all_channels = self.all_channels_default();
        for r in &rules {
            u.apply(table, r, all_channels).map_err(|e| {
                format!(
                    "Error in ACL SETUSER modifier '{}': {}",
                    String::from_utf8_lossy(r),
                    e.text()
                )
            })?;
        }
        let u = Arc::new(u);
        users.insert(name.to_vec(), u.clone());
        drop(users);
        self.published();
        Ok((old, u))
    }

    /// ACL DELUSER: the users removed (their connections are the caller's to close).
    pub fn delete(&self, names: &[&[u8]]) -> Vec<Arc<User>> {
        let mut users = self.users.write();
        let gone: Vec<Arc<User>> = names.iter().filter_map(|n| users.remove(*n)).collect();
        drop(users);
        if !gone.is_empty() {
            self.published();
        }
        gone
    }

    /// Replaces every user (ACL LOAD, the `user` lines at startup); the default user is made
    /// as at startup when the set has none, and stays the one its connections run as. Returns
    /// the other users replaced (whose connections Redis closes).
    pub fn replace_all(
        &self,
        table: &CommandTable,
        mut new: BTreeMap<Vec<u8>, User>,
    ) -> Vec<Arc<User>> {
        if !new.contains_key(b"default".as_slice()) {
            new.insert(b"default".to_vec(), self.default_definition(table));
        }
        let mut users = self.users.write();
        if let (Some(d), Some(old)) = (
            new.get_mut(b"default".as_slice()),
            users.get(b"default".as_slice()),
        ) {
            d.uid = old.uid;
        }
        let new = new.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        let old = std::mem::replace(&mut *users, new);
        drop(users);
        self.published();
        old.into_iter()
            .filter(|(k, _)| k != b"default")
            .map(|(_, v)| v)
            .collect()
    }

    /// The users of the config file's `user` lines, or of `aclfile`, at startup.
    pub fn load_at_startup(
        &self,
        table: &CommandTable,
        lines: &[Vec<String>],
        aclfile: &str,
    ) -> Result<(), String> {
        if !aclfile.is_empty() && !lines.is_empty() {
            return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
        }
        if !aclfile.is_empty() {
            let users = file::load(self, table, aclfile)
                .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
            self.replace_all(table, users);
            return Ok(());
        }
        for line in lines {
            let Some((name, rules)) = line.split_first() else {
                continue;
            };
            if name.contains([' ', '\0']) {
                return Err("Spaces not allowed in ACL usernames".into());
            }
            let mut rules: Vec<&[u8]> = rules.iter().map(|r| r.as_bytes()).collect();
            // (A `user default` line describes the default user from scratch.)
            if name == "default" {
                rules.insert(0, b"reset");
            }
            self.set_user(table, name.as_bytes(), &rules)
                .map_err(|e| format!("Error loading ACL rules for the user named '{name}': {e}"))?;
        }
        Ok(())
    }

    /// `requirepass`: the default user's one password, or none at all.
    pub fn set_default_password(&self, table: &CommandTable, pass: &[u8]) {
        let mut rule = b">".to_vec();
        rule.extend_from_slice(pass);
        let rules: [&[u8]; 2] = if pass.is_empty() {
            [b"resetpass", b"nopass"]
        } else {
            [b"resetpass", &rule]
        };
        let _ = self.set_user(table, b"default", &rules);
    }

    /// The user `name` if `pass` authenticates it (on, and a password matches or none is
    /// needed).
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<Arc<User>> {
        self.get(name).filter(|u| u.password_ok(pass))
    }
}

/// Whether `user` may run `cmd` with these arguments: some selector must allow the command
/// and every key and channel it names.
pub fn check(user: &User, cmd: &Command, argv: &[&[u8]]) -> Result<(), Denied> {
    if user.unrestricted {
        return Ok(());
    }
    let mut keys: Option<Keys> = None;
    let mut worst = Denied::Cmd;
    for s in &user.selectors {
        match check_selector(s, cmd, argv, &mut keys) {
            Ok(()) => return Ok(()),
            Err(e) if e.rank() > worst.rank() => worst = e,
            Err(_) => {}
        }
    }
    Err(worst)
}

/// One selector's answer for `check` (`keys` caches the command's keys across selectors).
pub fn check_selector(
    s: &Selector,
    cmd: &Command,
    argv: &[&[u8]],
    keys: &mut Option<Keys>,
) -> Result<(), Denied> {
    if !s.all_commands && cmd.spec.flags & NO_AUTH == 0 && !s.allows_id(cmd.id) {
        let at = if cmd.fullname.contains('|') { 2 } else { 1 };
        let ok = match (s.first_args(cmd.id), argv.get(at)) {
            (Some(list), Some(a)) => list.iter().any(|x| x.eq_ignore_ascii_case(a)),
            _ => false,
        };
        if !ok {
            return Err(Denied::Cmd);
        }
    }
    if !s.all_keys {
        let keys = keys.get_or_insert_with(|| {
            let mut k = Keys::new();
            cmd.spec.keys_of(argv, &mut k);
            k.retain(|k| k.flags & keyspec::NOT_KEY == 0);
            k
        });
        for k in keys.iter() {
            if !key_allowed(s, argv[k.pos], k.flags) {
                return Err(Denied::Key(k.pos));
            }
        }
    }
    if !s.all_channels {
        if let Some((first, last, pattern)) = channels(cmd, argv.len()) {
            for (i, ch) in argv.iter().enumerate().take(last).skip(first) {
                if !channel_allowed(&s.channels, ch, pattern) {
                    return Err(Denied::Channel(i));
                }
            }
        }
    }
    Ok(())
}

/// Whether a key pattern of the selector grants what a key spec's flags need: reading for
/// `access`, writing for `insert`, `delete` and `update` (a key that needs neither, EXISTS's
/// say, just has to match).
pub fn key_allowed(s: &Selector, key: &[u8], flags: u16) -> bool {
    if s.all_keys {
        return true;
    }
    let need = key_need(flags);
    s.keys
        .iter()
        .any(|p| p.perm & need == need && crate::engine::glob::matches(&p.pattern, key, false))
}

fn key_need(flags: u16) -> u8 {
    let mut need = 0;
    if flags & keyspec::ACCESS != 0 {
        need |= user::READ;
    }
    if flags & (keyspec::INSERT | keyspec::DELETE | keyspec::UPDATE) != 0 {
        need |= user::WRITE;
    }
    need
}

/// Whether the selector grants `need` (READ/WRITE) over every key: `~*`, `%R~*`, allkeys
/// (SORT's BY and GET, which read keys no spec names).
pub fn all_keys_for(s: &Selector, need: u8) -> bool {
    s.all_keys
        || s.keys
            .iter()
            .any(|p| p.perm & need == need && p.pattern == b"*")
}

/// A channel against a selector's patterns: a channel name is matched as by PSUBSCRIBE, a
/// pattern being subscribed to must equal one of them literally.
pub fn channel_allowed(list: &[Vec<u8>], ch: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            p.as_slice() == ch
        } else {
            crate::engine::glob::matches(p, ch, false)
        }
    })
}

/// The channel arguments of the commands that publish or subscribe: (first, end, patterns?).
fn channels(cmd: &Command, argc: usize) -> Option<(usize, usize, bool)> {
    match cmd.fullname.as_str() {
        "subscribe" | "ssubscribe" => Some((1, argc, false)),
        "psubscribe" => Some((1, argc, true)),
        "publish" | "spublish" => Some((1, 2.min(argc), false)),
        _ => None,
    }
}

/// Whether `user` may still hold every subscription in `subs` (channels, patterns, shard
/// channels), after its channel permissions changed.
pub fn may_keep_subscriptions(
    user: &User,
    channels: &[Vec<u8>],
    patterns: &[Vec<u8>],
    shard: &[Vec<u8>],
) -> bool {
    if user.selectors.iter().any(|s| s.all_channels) {
        return true;
    }
    let all: Vec<Vec<u8>> = user
        .selectors
        .iter()
        .flat_map(|s| s.channels.iter().cloned())
        .collect();
    patterns.iter().all(|p| channel_allowed(&all, p, true))
        && channels
            .iter()
            .chain(shard)
            .all(|c| channel_allowed(&all, c, false))
}

/// Whether `new` keeps every channel permission `old` had (then no subscriber of the user
/// needs to be checked).
pub fn channels_kept(old: &User, new: &User) -> bool {
    if new.selectors.iter().any(|s| s.all_channels) {
        return true;
    }
    if old.selectors.iter().any(|s| s.all_channels) {
        return false;
    }
    let upcoming: Vec<&Vec<u8>> = new.selectors.iter().flat_map(|s| &s.channels).collect();
    old.selectors
        .iter()
        .flat_map(|s| &s.channels)
        .all(|c| upcoming.contains(&c))
}
