//! The measurements: server-wide counters, latency histograms, the slow log and latency
//! spikes, allocator and host readings, log-delivery formats. Nothing here reads the server's
//! state: the reports built from these and from every layer's state (INFO, /metrics,
//! CloudWatch) are in `report`.

pub mod histogram;
pub mod host;
pub mod logdelivery;
pub mod memory;
pub mod slowlog;
pub mod striped;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

/// Counters updated by connections (once per batch where possible) and read by INFO.
#[derive(Debug)]
pub struct Stats {
    pub started: Instant,
    pub started_unix_ms: u64,
    pub total_connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub total_net_input_bytes: AtomicU64,
    pub total_net_output_bytes: AtomicU64,
    pub total_reads_processed: AtomicU64,
    pub total_writes_processed: AtomicU64,
    pub total_error_replies: AtomicU64,
    /// Failed AUTH and HELLO AUTH attempts (INFO acl_access_denied_auth).
    pub acl_access_denied_auth: AtomicU64,
    /// Commands, keys and channels ACL rules refused (INFO acl_access_denied_cmd/key/channel).
    pub acl_access_denied_cmd: AtomicU64,
    pub acl_access_denied_key: AtomicU64,
    pub acl_access_denied_channel: AtomicU64,
    pub query_buffer_limit_disconnections: AtomicU64,
    pub output_buffer_limit_disconnections: AtomicU64,
    /// Times a client's reply buffer grew to hold a batch's replies, and was given back
    /// after a large reply (INFO reply_buffer_expands / reply_buffer_shrinks).
    pub reply_buffer_expands: AtomicU64,
    pub reply_buffer_shrinks: AtomicU64,
    /// Clients closed by client eviction (`maxmemory-clients`).
    pub evicted_clients: AtomicU64,
    /// Successful write commands since start (reported as rdb_changes_since_last_save).
    pub dirty: striped::Striped<1>,
    pub expire_cycle_usec: AtomicU64,
    /// Error counts by code (`ERR`, `WRONGTYPE`, ...), for INFO errorstats.
    errors: Mutex<BTreeMap<String, u64>>,
    /// Samples for the instantaneous_* fields, taken by the cron.
    pub ops_sampler: Mutex<Sampler>,
}

/// Keeps the last few (time, counters) samples to compute per-second rates.
#[derive(Debug, Default)]
pub struct Sampler {
    samples: std::collections::VecDeque<(Instant, [u64; 3])>,
}

impl Sampler {
    pub fn record(&mut self, at: Instant, values: [u64; 3]) {
        self.samples.push_back((at, values));
        while self.samples.len() > 16 {
            self.samples.pop_front();
        }
    }

    /// Per-second rates of (commands, input bytes, output bytes) over the sampled window.
    pub fn rates(&self) -> [f64; 3] {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return [0.0; 3];
        };
        let secs = last.0.duration_since(first.0).as_secs_f64();
        if secs <= 0.0 {
            return [0.0; 3];
        }
        let mut r = [0.0; 3];
        for (i, slot) in r.iter_mut().enumerate() {
            *slot = last.1[i].saturating_sub(first.1[i]) as f64 / secs;
        }
        r
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            started_unix_ms: crate::engine::now_ms(),
            total_connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            total_commands_processed: AtomicU64::new(0),
            total_net_input_bytes: AtomicU64::new(0),
            total_net_output_bytes: AtomicU64::new(0),
            total_reads_processed: AtomicU64::new(0),
            total_writes_processed: AtomicU64::new(0),
            total_error_replies: AtomicU64::new(0),
            acl_access_denied_auth: AtomicU64::new(0),
            acl_access_denied_cmd: AtomicU64::new(0),
            acl_access_denied_key: AtomicU64::new(0),
            acl_access_denied_channel: AtomicU64::new(0),
            query_buffer_limit_disconnections: AtomicU64::new(0),
            output_buffer_limit_disconnections: AtomicU64::new(0),
            reply_buffer_expands: AtomicU64::new(0),
            reply_buffer_shrinks: AtomicU64::new(0),
            evicted_clients: AtomicU64::new(0),
            dirty: striped::Striped::default(),
            expire_cycle_usec: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            ops_sampler: Mutex::new(Sampler::default()),
        }
    }
}

impl Stats {
    /// Counts an error reply under its code (the first word of the message).
    pub fn count_error(&self, msg: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        // The code is what comes before a space in the first 32 bytes; ERR without one.
        let head = &msg.as_bytes()[..msg.len().min(32)];
        let code = match head.iter().position(|&b| b == b' ') {
            Some(i) => &msg[..i],
            None => "ERR",
        };
        let mut errors = self.errors.lock();
        // Redis caps the table at 128 distinct codes.
        if errors.len() < 128 || errors.contains_key(code) {
            *errors.entry(code.to_string()).or_insert(0) += 1;
        }
    }

    pub fn error_counts(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for c in [
            &self.total_connections_received,
            &self.rejected_connections,
            &self.total_commands_processed,
            &self.total_net_input_bytes,
            &self.total_net_output_bytes,
            &self.total_reads_processed,
            &self.total_writes_processed,
            &self.total_error_replies,
            &self.acl_access_denied_auth,
            &self.acl_access_denied_cmd,
            &self.acl_access_denied_key,
            &self.acl_access_denied_channel,
            &self.query_buffer_limit_disconnections,
            &self.output_buffer_limit_disconnections,
            &self.reply_buffer_expands,
            &self.reply_buffer_shrinks,
            &self.evicted_clients,
            &self.expire_cycle_usec,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.errors.lock().clear();
    }
}
