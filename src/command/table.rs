//! Command specifications and the one table that holds them all.

use std::collections::HashMap;

use super::keyspec::{GetKeys, KeySpec};
use super::Handler;

// Command flags, as COMMAND INFO names them.
pub const WRITE: u32 = 1 << 0;
pub const READONLY: u32 = 1 << 1;
pub const DENYOOM: u32 = 1 << 2;
pub const ADMIN: u32 = 1 << 3;
pub const PUBSUB: u32 = 1 << 4;
pub const NOSCRIPT: u32 = 1 << 5;
pub const BLOCKING: u32 = 1 << 6;
pub const LOADING: u32 = 1 << 7;
pub const STALE: u32 = 1 << 8;
pub const SKIP_MONITOR: u32 = 1 << 9;
pub const SKIP_SLOWLOG: u32 = 1 << 10;
pub const FAST: u32 = 1 << 11;
pub const NO_AUTH: u32 = 1 << 12;
pub const MAY_REPLICATE: u32 = 1 << 13;
pub const NO_MULTI: u32 = 1 << 14;
pub const ALLOW_BUSY: u32 = 1 << 15;
/// May name no key at all (EVAL with numkeys 0): COMMAND GETKEYS then replies empty.
pub const NO_MANDATORY_KEYS: u32 = 1 << 16;

// Internal flags (not shown by COMMAND INFO).
/// Acts at once inside MULTI instead of being queued (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
pub const TX_CONTROL: u32 = 1 << 24;
/// Takes the transaction gate exclusively itself (EXEC), so dispatch must not enter it.
pub const EXCLUSIVE: u32 = 1 << 25;
/// Replies with pushes (SUBSCRIBE and friends), which CLIENT REPLY OFF does not suppress.
pub const PUSHES: u32 = 1 << 27;

pub const FLAG_NAMES: &[(u32, &str)] = &[
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (ADMIN, "admin"),
    (PUBSUB, "pubsub"),
    (NOSCRIPT, "noscript"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (SKIP_MONITOR, "skip_monitor"),
    (SKIP_SLOWLOG, "skip_slowlog"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (MAY_REPLICATE, "may_replicate"),
    (NO_MULTI, "no_multi"),
    (ALLOW_BUSY, "allow_busy"),
    (NO_MANDATORY_KEYS, "no_mandatory_keys"),
];

/// A command's static description. Family modules declare these with [`CommandSpec::new`].
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis arity: positive = exact argc, negative = at least -arity.
    pub arity: i32,
    pub flags: u32,
    /// Where its keys are and what it does to them (see `keyspec`).
    pub key_specs: &'static [KeySpec],
    /// For arguments the key specs cannot locate keys in (Redis's `getkeys_proc`).
    pub getkeys: Option<GetKeys>,
    /// Redis's command group (`string`, `generic`, `connection`, `server`, ...).
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    /// Argument syntax (`key value [NX | XX]`), turned into COMMAND DOCS arguments.
    pub syntax: &'static str,
    pub handler: Option<Handler>,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// Whether `argc` arguments (the name included) fit the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        if self.arity > 0 {
            argc == self.arity as usize
        } else {
            argc >= self.arity.unsigned_abs() as usize
        }
    }

    pub const fn new(name: &'static str, arity: i32, flags: u32, handler: Handler) -> Self {
        CommandSpec {
            name,
            arity,
            flags,
            key_specs: &[],
            getkeys: None,
            group: "",
            since: "1.0.0",
            summary: "",
            syntax: "",
            handler: Some(handler),
            subcommands: &[],
        }
    }

    /// A container command (CONFIG, CLIENT, ...) whose work is done by its subcommands.
    pub const fn container(name: &'static str, subcommands: &'static [CommandSpec]) -> Self {
        CommandSpec {
            name,
            arity: -2,
            flags: 0,
            key_specs: &[],
            getkeys: None,
            group: "",
            since: "1.0.0",
            summary: "",
            syntax: "",
            handler: None,
            subcommands,
        }
    }

    pub const fn keys(mut self, specs: &'static [KeySpec]) -> Self {
        self.key_specs = specs;
        self
    }

    /// The command's own key finder, for what its specs cannot describe.
    pub const fn getkeys(mut self, f: GetKeys) -> Self {
        self.getkeys = Some(f);
        self
    }

    /// The keys `argv` names (see `keyspec::keys_of`).
    #[inline]
    pub fn keys_of(&self, argv: &[&[u8]], out: &mut super::keyspec::Keys) {
        super::keyspec::keys_of(self.key_specs, self.getkeys, argv, out);
    }

    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        syntax: &'static str,
        summary: &'static str,
    ) -> Self {
        self.group = group;
        self.since = since;
        self.syntax = syntax;
        self.summary = summary;
        self
    }
}

/// Per-command counters (INFO commandstats), striped by thread: see `metrics::striped`.
pub type CmdStats = crate::metrics::striped::Striped<5>;
pub const CALLS: usize = 0;
pub const USEC: usize = 1;
pub const REJECTED: usize = 2;
pub const FAILED: usize = 3;
/// Microseconds spent in failed calls (so that the successful ones' time is known).
pub const FAILED_USEC: usize = 4;

/// A command in the running table: its spec, full name, counters and subcommands.
#[derive(Debug)]
pub struct Command {
    pub spec: &'static CommandSpec,
    /// `get`, or `config|get` for a subcommand.
    pub fullname: String,
    /// Index into [`CommandTable::all`], stored as a client's last command.
    pub id: u32,
    pub stats: CmdStats,
    /// COMMAND INFO's (first, last, step), derived from the key specs.
    pub legacy_keys: (i32, i32, i32),
    /// Some keys are not where the legacy triple says (COMMAND INFO's `movablekeys`).
    pub movable_keys: bool,
    /// ACL categories (see `acl::categories`).
    pub acl: u32,
    /// Latency histogram, made at the first call (most commands are never called).
    pub hist: std::sync::OnceLock<Box<crate::metrics::histogram::Histogram>>,
    subs: Vec<Command>,
}

impl Command {
    pub fn sub(&self, lower_name: &[u8]) -> Option<&Command> {
        self.subs
            .iter()
            .find(|c| c.spec.name.as_bytes() == lower_name)
    }

    pub fn subcommands(&self) -> &[Command] {
        &self.subs
    }
}

/// Every command, by lower-case name.
#[derive(Debug)]
pub struct CommandTable {
    cmds: Vec<Command>,
    index: HashMap<&'static [u8], usize, foldhash::fast::RandomState>,
    names: Vec<String>,
}

impl CommandTable {
    pub fn new(families: &[&'static [CommandSpec]]) -> Self {
        let mut names = Vec::new();
        let mut build = |spec: &'static CommandSpec, parent: Option<&str>| -> Command {
            let fullname = match parent {
                Some(p) => format!("{p}|{}", spec.name),
                None => spec.name.to_string(),
            };
            names.push(fullname.clone());
            let (legacy_keys, movable_keys) = super::keyspec::legacy_range(spec.key_specs);
            Command {
                spec,
                acl: crate::acl::categories::of(&fullname, spec),
                fullname,
                id: names.len() as u32 - 1,
                stats: CmdStats::default(),
                legacy_keys,
                movable_keys,
                hist: std::sync::OnceLock::new(),
                subs: Vec::new(),
            }
        };
        let mut cmds = Vec::new();
        for family in families {
            for spec in family.iter() {
                let mut c = build(spec, None);
                c.subs = spec
                    .subcommands
                    .iter()
                    .map(|s| build(s, Some(spec.name)))
                    .collect();
                cmds.push(c);
            }
        }
        let mut index = HashMap::default();
        for (i, c) in cmds.iter().enumerate() {
            let prev = index.insert(c.spec.name.as_bytes(), i);
            assert!(prev.is_none(), "command {} declared twice", c.spec.name);
        }
        CommandTable { cmds, index, names }
    }

    #[inline]
    pub fn lookup(&self, lower_name: &[u8]) -> Option<&Command> {
        self.index.get(lower_name).map(|&i| &self.cmds[i])
    }

    /// How many commands and subcommands there are (one id each).
    pub fn count(&self) -> usize {
        self.names.len()
    }

    pub fn all(&self) -> &[Command] {
        &self.cmds
    }

    /// Full name of the command with the given id (CLIENT LIST's `cmd=`).
    pub fn name_of(&self, id: u32) -> &str {
        self.names
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("NULL")
    }

    /// The command with the given id (a linear walk: for rare paths only).
    pub fn by_id(&self, id: u32) -> Option<&Command> {
        self.iter_all().nth(id as usize)
    }

    /// Every command and subcommand.
    pub fn iter_all(&self) -> impl Iterator<Item = &Command> {
        self.cmds
            .iter()
            .flat_map(|c| std::iter::once(c).chain(c.subs.iter()))
    }

    pub fn reset_stats(&self) {
        for c in self.iter_all() {
            c.stats.reset();
            if let Some(h) = c.hist.get() {
                h.reset();
            }
        }
    }
}
