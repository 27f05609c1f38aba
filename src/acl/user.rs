//! Users and selectors: what ACL SETUSER rules build, and how they read back (ACL LIST,
//! GETUSER). A user is immutable once published: SETUSER builds a changed copy and swaps it
//! in, so a connection's check never takes a lock.

use std::collections::HashMap;

use crate::command::table::{Command, CommandTable};

/// Key pattern permissions (`%R~`, `%W~`, `~`).
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
pub const RW: u8 = READ | WRITE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub perm: u8,
}

impl KeyPattern {
    pub fn describe(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.perm {
            READ => b"%R~",
            WRITE => b"%W~",
            _ => b"~",
        });
        out.extend_from_slice(&self.pattern);
    }
}

/// Why a rule was refused (the text ACL SETUSER appends to its error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    UnknownName,
    Syntax,
    KeyAfterAll,
    ChannelAfterAll,
    NoSuchPassword,
    BadHash,
    SubcommandFirstArg,
}

impl RuleError {
    pub fn text(self) -> &'static str {
        match self {
            RuleError::UnknownName => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeyAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::SubcommandFirstArg => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// One set of permissions: the user's root one, or a `(...)` selector beside it. A command
/// is allowed when any of the user's selectors allows the command with all its keys and
/// channels.
#[derive(Debug, Clone)]
pub struct Selector {
    pub all_keys: bool,
    pub all_channels: bool,
    pub all_commands: bool,
    /// One bit per command id (subcommands have their own).
    bits: Vec<u64>,
    /// +@all was the last word on commands: commands added later are allowed too (and ACL
    /// LIST starts the rules with +@all rather than -@all).
    future: bool,
    /// First arguments allowed for an otherwise denied command (`+select|0`).
    first_args: HashMap<u32, Vec<Vec<u8>>>,
    pub keys: Vec<KeyPattern>,
    pub channels: Vec<Vec<u8>>,
    /// The command rules as applied, later ones replacing earlier ones for the same command:
    /// (allowed, lower-case name such as `get`, `config|get` or `@read`).
    rules: Vec<(bool, String)>,
}

impl Selector {
    pub fn new(commands: usize, all_channels: bool) -> Selector {
        Selector {
            all_keys: false,
            all_channels,
            all_commands: false,
            bits: vec![0; commands.div_ceil(64)],
            future: false,
            first_args: HashMap::new(),
            keys: Vec::new(),
            channels: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// Whether nothing this selector allows needs checking (every command, key and channel).
    pub fn unrestricted(&self) -> bool {
        self.all_commands && self.all_keys && self.all_channels
    }

    #[inline]
    pub fn allows_id(&self, id: u32) -> bool {
        self.bits
            .get(id as usize / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: u32, on: bool) {
        let (w, b) = (id as usize / 64, 1u64 << (id % 64));
        if w >= self.bits.len() {
            self.bits.resize(w + 1, 0);
        }
        if on {
            self.bits[w] |= b;
        } else {
            self.bits[w] &= !b;
            self.all_commands = false;
        }
    }

    /// The first arguments allowed for command `id` without its bit.
    pub fn first_args(&self, id: u32) -> Option<&[Vec<u8>]> {
        self.first_args.get(&id).map(Vec::as_slice)
    }

    fn all(&mut self, on: bool) {
        self.bits
            .iter_mut()
            .for_each(|w| *w = if on { !0 } else { 0 });
        self.all_commands = on;
        self.future = on;
        self.rules.clear();
        self.first_args.clear();
    }

    /// Allows or denies `cmd` and, for a container, every subcommand of it.
    fn change(&mut self, cmd: &Command, on: bool) {
        self.set_bit(cmd.id, on);
        self.first_args.remove(&cmd.id);
        for sub in cmd.subcommands() {
            self.set_bit(sub.id, on);
        }
    }

    /// Records a command rule, dropping earlier rules for the same command (and for its
    /// subcommands), so that the list replays to the same permissions.
    fn note(&mut self, on: bool, name: &str) {
        let name = name.to_ascii_lowercase();
        self.rules.retain(|(_, r)| {
            !(r == &name
                || (r.len() > name.len()
                    && r.starts_with(&name)
                    && r.as_bytes()[name.len()] == b'|'))
        });
        self.rules.push((on, name));
    }

    fn category(&mut self, table: &CommandTable, name: &[u8], on: bool) -> Result<(), RuleError> {
        let cat = super::categories::by_name(&name[1..]).ok_or(RuleError::UnknownName)?;
        self.note(on, std::str::from_utf8(name).unwrap_or_default());
        for cmd in table.all() {
            if cmd.acl & cat != 0 {
                self.change(cmd, on);
            }
            for sub in cmd.subcommands() {
                if sub.acl & cat != 0 {
                    self.change(sub, on);
                }
            }
        }
        Ok(())
    }

    /// Applies one selector rule (everything but the user-level ones).
    pub fn apply(&mut self, table: &CommandTable, op: &[u8]) -> Result<(), RuleError> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if op.is_empty() {
            return Err(RuleError::Syntax);
        }
        if is("allkeys") || is("~*") {
            self.all_keys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.keys.clear();
        } else if is("allchannels") || is("&*") {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.all(true);
        } else if is("nocommands") || is("-@all") {
            self.all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.all_keys {
                return Err(RuleError::KeyAfterAll);
            }
            let (perm, pattern) = key_rule(op)?;
            if pattern.iter().any(|&c| c == b' ' || c == 0) {
                return Err(RuleError::Syntax);
            }
            match self.keys.iter_mut().find(|k| k.pattern == pattern) {
                Some(k) => k.perm |= perm,
                None => self.keys.push(KeyPattern {
                    pattern: pattern.to_vec(),
                    perm,
                }),
            }
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelAfterAll);
            }
            let pattern = &op[1..];
            if pattern.iter().any(|&c| c == b' ' || c == 0) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
        } else if op.len() >= 2 && op[1] == b'@' && (op[0] == b'+' || op[0] == b'-') {
            self.category(table, &op[1..], op[0] == b'+')?;
        } else if op[0] == b'+' {
            self.allow(table, &op[1..])?;
        } else if op[0] == b'-' {
            let cmd = lookup(table, &op[1..]).ok_or(RuleError::UnknownName)?;
            self.change(cmd, false);
            self.note(false, &cmd.fullname);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// `+name`: a command, a subcommand (`config|get`), or a first argument of a command
    /// without subcommands (`select|0`).
    fn allow(&mut self, table: &CommandTable, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&c| c == b'|') else {
            let cmd = lookup(table, name).ok_or(RuleError::UnknownName)?;
            self.change(cmd, true);
            self.note(true, &cmd.fullname);
            return Ok(());
        };
        let (base, sub) = (&name[..bar], &name[bar + 1..]);
        let cmd = lookup(table, base).ok_or(RuleError::UnknownName)?;
        if base.contains(&b'|') {
            return Err(RuleError::SubcommandFirstArg);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !cmd.spec.subcommands.is_empty() {
            let sub = lookup(table, name).ok_or(RuleError::UnknownName)?;
            self.change(sub, true);
        } else {
            tracing::warn!(
                "Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{})",
                String::from_utf8_lossy(name)
            );
            let list = self.first_args.entry(cmd.id).or_default();
            if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                list.push(sub.to_vec());
            }
        }
        self.note(true, &String::from_utf8_lossy(name));
        Ok(())
    }

    /// The command rules as ACL SETUSER would take them back: `+@all` or `-@all` first.
    pub fn describe_commands(&self) -> String {
        let mut s = String::from(if self.future { "+@all" } else { "-@all" });
        for (on, name) in &self.rules {
            s.push(' ');
            s.push(if *on { '+' } else { '-' });
            s.push_str(name);
        }
        s
    }

    /// Keys, channels and commands, as ACL LIST shows a selector.
    pub fn describe(&self, out: &mut Vec<u8>) {
        if self.all_keys {
            out.extend_from_slice(b"~* ");
        } else {
            for k in &self.keys {
                k.describe(out);
                out.push(b' ');
            }
        }
        if self.all_channels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for c in &self.channels {
                out.push(b'&');
                out.extend_from_slice(c);
                out.push(b' ');
            }
        }
        out.extend_from_slice(self.describe_commands().as_bytes());
    }

    /// ACL GETUSER's `keys` field.
    pub fn describe_keys(&self) -> Vec<u8> {
        if self.all_keys {
            return b"~*".to_vec();
        }
        let mut out = Vec::new();
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            k.describe(&mut out);
        }
        out
    }

    /// ACL GETUSER's `channels` field.
    pub fn describe_channels(&self) -> Vec<u8> {
        if self.all_channels {
            return b"&*".to_vec();
        }
        let mut out = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.push(b'&');
            out.extend_from_slice(c);
        }
        out
    }
}

/// `~pattern` or `%RW~pattern`: the permission and the pattern.
fn key_rule(op: &[u8]) -> Result<(u8, &[u8]), RuleError> {
    if op[0] == b'~' {
        return Ok((RW, &op[1..]));
    }
    let mut perm = 0;
    let mut i = 1;
    while i < op.len() {
        match op[i].to_ascii_uppercase() {
            b'R' if perm & READ == 0 => perm |= READ,
            b'W' if perm & WRITE == 0 => perm |= WRITE,
            // (`%~x` names no permission: refused, as Redis 7.2.6 does.)
            b'~' if perm != 0 => return Ok((perm, &op[i + 1..])),
            _ => return Err(RuleError::Syntax),
        }
        i += 1;
    }
    Err(RuleError::Syntax)
}

/// A command or `container|subcommand` by name, any case (None for more than one `|`, or a
/// subcommand of a command that has none).
pub fn lookup<'t>(table: &'t CommandTable, name: &[u8]) -> Option<&'t Command> {
    let lower = name.to_ascii_lowercase();
    let mut parts = lower.split(|&c| c == b'|');
    let base = table.lookup(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(base),
        (Some(sub), None) if !base.spec.subcommands.is_empty() => base.sub(sub),
        _ => None,
    }
}

/// A user: flags, password hashes (lower-case hex SHA-256, as Redis keeps them), the root
/// selector and any others.
#[derive(Debug, Clone)]
pub struct User {
    pub name: Vec<u8>,
    /// Unique per user created: a user deleted and made again under the same name is not
    /// the one its old connections authenticated as.
    pub uid: u64,
    pub enabled: bool,
    pub nopass: bool,
    pub skip_sanitize: bool,
    pub passwords: Vec<String>,
    /// The root selector first.
    pub selectors: Vec<Selector>,
    /// Every command, key and channel allowed: checks are skipped.
    pub unrestricted: bool,
}

impl User {
    pub fn new(name: &[u8], uid: u64, commands: usize, all_channels: bool) -> User {
        User {
            name: name.to_vec(),
            uid,
            enabled: false,
            nopass: false,
            skip_sanitize: false,
            passwords: Vec::new(),
            selectors: vec![Selector::new(commands, all_channels)],
            unrestricted: false,
        }
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// Applies one rule: user-level ones here, the rest to the root selector.
    pub fn apply(
        &mut self,
        table: &CommandTable,
        op: &[u8],
        all_channels: bool,
    ) -> Result<(), RuleError> {
        let r = self.apply_inner(table, op, all_channels);
        self.unrestricted = self.selectors.iter().any(Selector::unrestricted);
        r
    }

    fn apply_inner(
        &mut self,
        table: &CommandTable,
        op: &[u8],
        all_channels: bool,
    ) -> Result<(), RuleError> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if op.is_empty() {
            return Ok(());
        }
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.skip_sanitize = true;
        } else if is("sanitize-payload") {
            self.skip_sanitize = false;
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else {
                valid_hash(&op[1..])?
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else {
                valid_hash(&op[1..])?
            };
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::new(table.count(), all_channels);
            for rule in split_args(&op[1..op.len() - 1]).ok_or(RuleError::Syntax)? {
                s.apply(table, &rule)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            let root = &mut self.selectors[0];
            root.all_keys = false;
            root.keys.clear();
            root.all_channels = all_channels;
            root.channels.clear();
            self.enabled = false;
            self.skip_sanitize = false;
            self.selectors.truncate(1);
            self.selectors[0].all(false);
        } else {
            self.selectors[0].apply(table, op)?;
        }
        Ok(())
    }

    /// The rules that rebuild this user, as ACL LIST and the ACL file show them.
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.flags() {
            out.extend_from_slice(f.as_bytes());
            out.push(b' ');
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(p.as_bytes());
            out.push(b' ');
        }
        self.selectors[0].describe(&mut out);
        for s in &self.selectors[1..] {
            out.extend_from_slice(b" (");
            s.describe(&mut out);
            out.push(b')');
        }
        out
    }

    /// ACL GETUSER's flags, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        f.push(if self.skip_sanitize {
            "skip-sanitize-payload"
        } else {
            "sanitize-payload"
        });
        f
    }

    /// Whether `pass` authenticates this user (compared in constant time).
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = hash_password(pass);
        self.passwords
            .iter()
            .fold(false, |ok, p| ok | constant_eq(p.as_bytes(), h.as_bytes()))
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// SHA-256 of a password, as 64 lower-case hex digits (Redis's stored form).
pub fn hash_password(pass: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, pass);
    let mut s = String::with_capacity(64);
    for b in d.as_ref() {
        s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
        s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
    }
    s
}

fn valid_hash(h: &[u8]) -> Result<String, RuleError> {
    if h.len() != 64
        || !h
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(h).into_owned())
}

/// Splits a selector's inside on spaces, with quoting as redis.conf lines have it (None for
/// unbalanced quotes).
pub fn split_args(s: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (mut scratch, mut ranges) = (Vec::new(), Vec::new());
    crate::protocol::parser::split_inline_args(s, &mut scratch, &mut ranges).ok()?;
    Some(ranges.into_iter().map(|r| scratch[r].to_vec()).collect())
}

/// ACL SETUSER's arguments with `(` ... `)` selectors spread over several of them joined
/// into one; Err(index of the opening one) when a selector is not closed.
pub fn merge_selectors(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, a) in args.iter().enumerate() {
        match &mut open {
            None if a.first() == Some(&b'(') && a.last() != Some(&b')') => {
                open = Some((i, a.to_vec()));
            }
            None => out.push(a.to_vec()),
            Some((_, sel)) => {
                sel.push(b' ');
                sel.extend_from_slice(a);
                if a.last() == Some(&b')') {
                    out.push(std::mem::take(sel));
                    open = None;
                }
            }
        }
    }
    match open {
        Some((i, _)) => Err(i),
        None => Ok(out),
    }
}
