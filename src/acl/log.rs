//! ACL LOG: recent refusals, similar ones folded into one entry with a count.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Cmd,
    Key,
    Channel,
    Auth,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Cmd => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    /// The command, key or channel refused (AUTH/HELLO for a failed authentication).
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Last update, Unix milliseconds.
    pub updated_ms: u64,
    /// The client's CLIENT LIST line at the last update.
    pub client_info: String,
    pub id: u64,
    pub created_ms: u64,
}

/// Entries newest first.
#[derive(Debug, Default)]
pub struct Log {
    pub entries: VecDeque<Entry>,
    next_id: u64,
}

/// Entries this close in time (and alike) are one.
const GROUPING_MS: u64 = 60_000;

impl Log {
    /// Adds a refusal: folded into a like entry among the 10 newest (moved to the front), or
    /// a new entry, the oldest dropped past `max`.
    pub fn add(&mut self, mut e: Entry, max: usize) {
        let like = self.entries.iter().take(10).position(|o| {
            o.reason == e.reason
                && o.context == e.context
                && o.object == e.object
                && o.username == e.username
                && o.updated_ms.abs_diff(e.updated_ms) <= GROUPING_MS
        });
        if let Some(i) = like {
            let mut o = self.entries.remove(i).expect("found above");
            o.count += 1;
            o.updated_ms = e.updated_ms;
            o.client_info = e.client_info;
            self.entries.push_front(o);
            return;
        }
        e.id = self.next_id;
        self.next_id += 1;
        self.entries.push_front(e);
        self.entries.truncate(max);
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }
}
