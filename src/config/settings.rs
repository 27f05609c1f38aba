//! Typed settings: one slot per parameter of the table (`params::PARAMS`), generated with it,
//! so that code reads `config.maxmemory.u()` (a relaxed load; a misspelt name does not
//! compile) instead of looking a string up. A parameter's slot is loaded from its normalised
//! text whenever it is set, then the row's apply hook runs: what the engine keeps of it
//! (eviction policy, event classes), or values derived from several rows (`Derived`).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

/// A yes/no parameter.
#[derive(Debug, Default)]
pub struct Flag(AtomicBool);

impl Flag {
    #[inline]
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(super) fn load(&self, v: &str) {
        self.0.store(v == "yes", Ordering::Relaxed);
    }
}

/// An integer or byte-size parameter.
#[derive(Debug, Default)]
pub struct Num(AtomicI64);

impl Num {
    #[inline]
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// The value as an unsigned number (negative values read as 0).
    #[inline]
    pub fn u(&self) -> u64 {
        self.get().max(0) as u64
    }

    pub(super) fn load(&self, v: &str) {
        // Byte sizes are normalised to a number of bytes, below i64::MAX.
        self.0.store(v.parse().unwrap_or(0), Ordering::Relaxed);
    }
}

/// A textual parameter (a word from a list, a path, a composite value).
#[derive(Debug)]
pub struct Text(RwLock<Arc<str>>);

impl Default for Text {
    fn default() -> Self {
        Text(RwLock::new(Arc::from("")))
    }
}

impl Text {
    /// The value (a copy: text parameters are read off the hot path).
    pub fn get(&self) -> String {
        self.0.read().to_string()
    }

    pub(super) fn load(&self, v: &str) {
        *self.0.write() = Arc::from(v);
    }
}

/// One class of `client-output-buffer-limit`: hard and soft limits in bytes (0 = none) and
/// how long the soft one may be exceeded.
#[derive(Debug, Default)]
pub struct BufferLimit {
    pub hard: AtomicU64,
    pub soft: AtomicU64,
    pub soft_secs: AtomicU64,
}

impl BufferLimit {
    fn set(&self, (hard, soft, secs): (u64, u64, u64)) {
        self.hard.store(hard, Ordering::Relaxed);
        self.soft.store(soft, Ordering::Relaxed);
        self.soft_secs.store(secs, Ordering::Relaxed);
    }
}

/// Values computed from one or more parameters by their apply hooks.
#[derive(Debug, Default)]
pub struct Derived {
    /// `client-output-buffer-limit` of the pubsub, normal and replica classes.
    pub pubsub_limit: BufferLimit,
    pub normal_limit: BufferLimit,
    /// A replica link whose unsent stream passes its hard limit is closed.
    pub replica_limit: BufferLimit,
    /// `maxmemory-clients` in bytes (a percentage resolved against maxmemory); 0 = off.
    pub maxmemory_clients: AtomicU64,
    /// Collection encoding thresholds.
    pub limits: RwLock<crate::engine::collections::Limits>,
}

/// What the server must do when a parameter changes, beyond storing it (the server's own
/// state, which this layer does not see): `Server::config_changed` acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    Nothing,
    /// Sample the allocator again: the OOM check reads the last sample (maxmemory).
    Memory,
    /// Resize the replication backlog (repl-backlog-size).
    Backlog,
    /// Change the log filter (loglevel).
    LogLevel,
    /// Set the busy-poll window's limit (busy-poll-us).
    BusyPoll,
    /// Turn jemalloc's background thread on or off (jemalloc-bg-thread).
    AllocatorThread,
    /// Turn the AOF on or off at run time (appendonly; at startup `persistence` starts it).
    AppendOnly,
    /// Give the default ACL user this password (requirepass).
    Password,
    /// New ACL users' channel permissions (acl-pubsub-default).
    AclPubsub,
    /// Delete the AOF's history files at once when they are no longer kept
    /// (aof-disable-auto-gc no).
    AofHistory,
}

// The apply hooks: what the engine and the derived values keep of a parameter.

pub(super) fn apply_eviction(s: &super::params::Settings) {
    use crate::engine::evict::{configure, Policy};
    configure(
        Policy::from_name(&s.maxmemory_policy.get()).unwrap_or(Policy::NoEviction),
        s.lfu_log_factor.u() as u32,
        s.lfu_decay_time.u() as u32,
    );
}

pub(super) fn apply_appendfsync(s: &super::params::Settings) {
    crate::persistence::aof::set_fsync(&s.appendfsync.get());
}

pub(super) fn apply_rdb_compression(s: &super::params::Settings) {
    crate::persistence::rdb::set_compression(s.rdbcompression.get());
}

pub(super) fn apply_notify(s: &super::params::Settings) {
    let f = crate::engine::notify::parse(&s.notify_keyspace_events.get()).unwrap_or(0);
    crate::engine::notify::set_flags(f);
}

pub(super) fn apply_output_limits(s: &super::params::Settings) {
    let d = &s.derived;
    let obl = super::params::output_buffer_limits(&s.client_output_buffer_limit.get());
    for (class, limit) in [
        ("pubsub", &d.pubsub_limit),
        ("normal", &d.normal_limit),
        ("slave", &d.replica_limit),
    ] {
        if let Some(v) = obl.get(class) {
            limit.set(*v);
        }
    }
}

pub(super) fn apply_client_memory(s: &super::params::Settings) {
    let bytes = super::params::memory_or_percent(&s.maxmemory_clients.get(), s.maxmemory.u());
    s.derived.maxmemory_clients.store(bytes, Ordering::Relaxed);
}

pub(super) fn apply_encoding_limits(s: &super::params::Settings) {
    *s.derived.limits.write() = crate::engine::collections::Limits {
        hash_entries: s.hash_max_listpack_entries.u() as usize,
        hash_value: s.hash_max_listpack_value.u() as usize,
        set_intset_entries: s.set_max_intset_entries.u() as usize,
        zset_entries: s.zset_max_listpack_entries.u() as usize,
        zset_value: s.zset_max_listpack_value.u() as usize,
    };
}
