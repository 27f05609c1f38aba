//! The metrics ElastiCache publishes to CloudWatch, under its names and units, computed from
//! the same counters INFO shows (see `../shared/research/elasticache-spec.md`).
//!
//! Time is cut into periods of `metrics-period` seconds (60, as CloudWatch). At the end of
//! each, a counter's metric is how much it grew during the period and a gauge's is its value
//! then. The last completed period is what `INFO cloudwatch` prints and what the EMF writer
//! ships. Since CONFIG RESETSTAT restarts the period's baseline from zero, the periods' counter
//! values add up to the counter's total since the reset.

use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use crate::command::table::{
    Command, CommandSpec, CALLS, FAILED, FAILED_USEC, READONLY, USEC, WRITE,
};
use crate::metrics::logdelivery::json_str;
use crate::metrics::{histogram, host};
use crate::server::Server;

/// CloudWatch units (the subset these metrics use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Percent,
    Bytes,
    Seconds,
    Milliseconds,
    Microseconds,
    /// AWS documents "Number" and "Boolean", which CloudWatch itself does not accept.
    None,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Percent => "Percent",
            Unit::Bytes => "Bytes",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
            Unit::Microseconds => "Microseconds",
            Unit::None => "None",
        }
    }
}

/// How a metric's value comes about over a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// How much a counter grew during the period.
    Counted,
    /// A ratio or mean over the period (hit rate, latency, CPU share).
    Average,
    /// A value sampled at the period's end.
    Sample,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub kind: Kind,
    pub value: f64,
    /// For a distribution (the request latencies, as AWS publishes them): the period's values
    /// as samples, which EMF carries instead of `value` (their mean, kept for INFO and
    /// /metrics).
    pub samples: Vec<f64>,
}

/// Per-bucket counts of a latency histogram (see `histogram`), summed over commands.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Hist([u64; histogram::BUCKETS]);

impl Default for Hist {
    fn default() -> Self {
        Hist([0; histogram::BUCKETS])
    }
}

impl Hist {
    fn add(&mut self, h: &histogram::Histogram) {
        for (a, b) in self.0.iter_mut().zip(histogram::counts(h)) {
            *a += b;
        }
    }

    fn since(&self, earlier: &Hist) -> [u64; histogram::BUCKETS] {
        std::array::from_fn(|i| self.0[i].saturating_sub(earlier.0[i]))
    }
}

/// The per-command-type groups, summed from commandstats (a command may be in several:
/// GET is in GetTypeCmds and StringBasedCmds). Each also has a `...Latency`: the average
/// execution time of the group's calls in the period, in microseconds.
pub const GROUPS: [(&str, &str); 15] = [
    ("GetTypeCmds", "GetTypeCmdsLatency"),
    ("SetTypeCmds", "SetTypeCmdsLatency"),
    ("KeyBasedCmds", "KeyBasedCmdsLatency"),
    ("StringBasedCmds", "StringBasedCmdsLatency"),
    ("HashBasedCmds", "HashBasedCmdsLatency"),
    ("ListBasedCmds", "ListBasedCmdsLatency"),
    ("SetBasedCmds", "SetBasedCmdsLatency"),
    ("SortedSetBasedCmds", "SortedSetBasedCmdsLatency"),
    ("GeoSpatialBasedCmds", "GeoSpatialBasedCmdsLatency"),
    ("HyperLogLogBasedCmds", "HyperLogLogBasedCmdsLatency"),
    ("PubSubBasedCmds", "PubSubBasedCmdsLatency"),
    ("StreamBasedCmds", "StreamBasedCmdsLatency"),
    ("EvalBasedCmds", "EvalBasedCmdsLatency"),
    ("ClusterBasedCmds", "ClusterBasedCmdsLatency"),
    ("NonKeyTypeCmds", "NonKeyTypeCmdsLatency"),
];

/// The groups a command counts in, as a bit set over [`GROUPS`]. A subcommand without a
/// group of its own takes its container's.
pub fn groups_of(spec: &CommandSpec, parent: Option<&CommandSpec>) -> u32 {
    let group = if spec.group.is_empty() {
        parent.map_or("", |p| p.group)
    } else {
        spec.group
    };
    let top = parent.unwrap_or(spec);
    let mut g = 0u32;
    let mut set = |i: usize| g |= 1 << i;
    if spec.flags & READONLY != 0 {
        set(0);
    }
    if spec.flags & WRITE != 0 {
        set(1);
    }
    let has_keys = !spec.key_specs.is_empty();
    match group {
        "generic" if has_keys => set(2),
        "string" | "bitmap" => set(3),
        "hash" => set(4),
        "list" => set(5),
        "set" => set(6),
        "sorted-set" => set(7),
        "geo" => set(8),
        "hyperloglog" => set(9),
        "pubsub" => set(10),
        "stream" => set(11),
        _ => {}
    }
    if matches!(top.name, "eval" | "evalsha") {
        set(12);
    }
    if top.name == "cluster" {
        set(13);
    }
    if !has_keys {
        set(14);
    }
    g
}

/// Counters CONFIG RESETSTAT zeroes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Engine {
    hits: u64,
    misses: u64,
    evicted: u64,
    expired: u64,
    connections: u64,
    rejected: u64,
    processed: u64,
    errors: u64,
    auth_failures: u64,
    cmd_denied: u64,
    key_denied: u64,
    channel_denied: u64,
    /// The replication stream's offset (master_repl_offset).
    repl_bytes: u64,
    calls: [u64; GROUPS.len()],
    usec: [u64; GROUPS.len()],
    /// Successful calls of read-only and of write commands, and their microseconds.
    ok_reads: (u64, u64),
    ok_writes: (u64, u64),
    /// Latency histograms of read-only and of write commands (with `latency-tracking` on).
    read_hist: Hist,
    write_hist: Hist,
}

/// Everything cumulative, read at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Sample {
    engine: Engine,
    host: host::Counters,
    cpu_us: u64,
    mono_us: u64,
    wall_ms: u64,
}

fn sample(server: &Server) -> Sample {
    let ks = server.keyspace.stats();
    let st = &server.stats;
    let ld = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let mut engine = Engine {
        hits: ks.hits,
        misses: ks.misses,
        evicted: ks.evicted,
        expired: ks.expired,
        connections: ld(&st.total_connections_received),
        rejected: ld(&st.rejected_connections),
        processed: ld(&st.total_commands_processed),
        errors: ld(&st.total_error_replies),
        auth_failures: ld(&st.acl_access_denied_auth),
        cmd_denied: ld(&st.acl_access_denied_cmd),
        key_denied: ld(&st.acl_access_denied_key),
        channel_denied: ld(&st.acl_access_denied_channel),
        repl_bytes: server.journal.offset(),
        ..Engine::default()
    };
    let mut add = |c: &Command, parent: Option<&CommandSpec>| {
        let ok = (
            c.stats.get(CALLS).saturating_sub(c.stats.get(FAILED)),
            c.stats.get(USEC).saturating_sub(c.stats.get(FAILED_USEC)),
        );
        let into = if c.spec.flags & WRITE != 0 {
            Some(&mut engine.ok_writes)
        } else if c.spec.flags & READONLY != 0 {
            Some(&mut engine.ok_reads)
        } else {
            None
        };
        if let Some(t) = into {
            t.0 += ok.0;
            t.1 += ok.1;
        }
        if let Some(h) = c.hist.get() {
            if c.spec.flags & WRITE != 0 {
                engine.write_hist.add(h);
            } else if c.spec.flags & READONLY != 0 {
                engine.read_hist.add(h);
            }
        }
        let g = groups_of(c.spec, parent);
        if g == 0 {
            return;
        }
        let (calls, usec) = (c.stats.get(CALLS), c.stats.get(USEC));
        for i in 0..GROUPS.len() {
            if g & (1 << i) != 0 {
                engine.calls[i] += calls;
                engine.usec[i] += usec;
            }
        }
    };
    for c in server.commands.all() {
        add(c, None);
        for s in c.subcommands() {
            add(s, Some(c.spec));
        }
    }
    Sample {
        engine,
        host: host::counters(),
        // Polling for the next request before sleeping is idle time, not engine work.
        cpu_us: host::process_cpu_us().saturating_sub(crate::server::busy_poll::polled_us()),
        mono_us: crate::engine::mono_us(),
        wall_ms: crate::engine::now_ms(),
    }
}

/// The cumulative counters behind the per-type command counts and the host's network
/// metrics, under their CloudWatch names (for `/metrics`, where counters are cumulative).
pub fn cumulative(server: &Server) -> Vec<(&'static str, u64)> {
    let s = sample(server);
    let mut v: Vec<(&'static str, u64)> = GROUPS
        .iter()
        .zip(s.engine.calls)
        .map(|((name, _), n)| (*name, n))
        .collect();
    v.extend([
        ("NetworkBytesIn", s.host.rx_bytes),
        ("NetworkBytesOut", s.host.tx_bytes),
        ("NetworkPacketsIn", s.host.rx_packets),
        ("NetworkPacketsOut", s.host.tx_packets),
    ]);
    v
}

/// One completed period and its metrics.
#[derive(Clone, Debug)]
pub struct Period {
    /// Unix milliseconds at its end (the EMF timestamp).
    pub end_ms: u64,
    pub seconds: f64,
    pub metrics: Vec<Metric>,
}

#[derive(Default)]
struct State {
    prev: Option<Sample>,
    last: Option<Period>,
}

/// Keeps the baseline of the running period and the last completed one.
#[derive(Default)]
pub struct Recorder {
    state: Mutex<State>,
}

impl Recorder {
    /// Starts a period now.
    pub fn start(&self, server: &Server) {
        self.state.lock().prev = Some(sample(server));
    }

    /// Ends the running period, starts the next, and returns the metrics of the one ended.
    /// INFO shows it once it is [`Recorder::publish`]ed (after the EMF writer has it).
    pub fn close(&self, server: &Server) -> Period {
        let now = sample(server);
        let prev = self.state.lock().prev.replace(now).unwrap_or(now);
        Period {
            end_ms: now.wall_ms,
            seconds: now.mono_us.saturating_sub(prev.mono_us) as f64 / 1e6,
            metrics: compute(server, &prev, &now),
        }
    }

    pub fn publish(&self, period: Period) {
        self.state.lock().last = Some(period);
    }

    /// CONFIG RESETSTAT: the engine counters restart from zero, and so does the baseline.
    pub fn reset(&self) {
        if let Some(prev) = self.state.lock().prev.as_mut() {
            prev.engine = Engine::default();
        }
    }

    pub fn last(&self) -> Option<Period> {
        self.state.lock().last.clone()
    }
}

// One metric per line reads as the table it is.
#[rustfmt::skip]
fn compute(server: &Server, prev: &Sample, now: &Sample) -> Vec<Metric> {
    let mut out = Vec::with_capacity(80);
    let mut put = |kind: Kind, name: &'static str, unit: Unit, value: f64| {
        out.push(Metric { name, unit, kind, value, samples: Vec::new() })
    };
    let (a, b) = (&prev.engine, &now.engine);
    let d = |x: u64, y: u64| y.saturating_sub(x) as f64;
    let pct = |part: f64, whole: f64| {
        if whole > 0.0 {
            100.0 * part / whole
        } else {
            0.0
        }
    };

    // Counters: growth during the period.
    let (hits, misses) = (d(a.hits, b.hits), d(a.misses, b.misses));
    put(Kind::Counted, "CacheHits", Unit::Count, hits);
    put(Kind::Counted, "CacheMisses", Unit::Count, misses);
    // No lookups, no hit rate: a datapoint of 0 would fire `CacheHitRate < 80` alarms.
    if hits + misses > 0.0 {
        put(Kind::Average, "CacheHitRate", Unit::Percent, pct(hits, hits + misses));
    }
    put(Kind::Counted, "Evictions", Unit::Count, d(a.evicted, b.evicted));
    put(Kind::Counted, "Reclaimed", Unit::Count, d(a.expired, b.expired));
    put(Kind::Counted, "NewConnections", Unit::Count, d(a.connections, b.connections));
    put(Kind::Counted, "RejectedConnections", Unit::Count, d(a.rejected, b.rejected));
    put(Kind::Counted, "ProcessedCommands", Unit::Count, d(a.processed, b.processed));
    put(Kind::Counted, "ErrorCount", Unit::Count, d(a.errors, b.errors));
    put(Kind::Counted, "AuthenticationFailures", Unit::Count, d(a.auth_failures, b.auth_failures));
    put(Kind::Counted, "CommandAuthorizationFailures", Unit::Count, d(a.cmd_denied, b.cmd_denied));
    put(Kind::Counted, "KeyAuthorizationFailures", Unit::Count, d(a.key_denied, b.key_denied));
    put(Kind::Counted, "ChannelAuthorizationFailures", Unit::Count, d(a.channel_denied, b.channel_denied));
    // The growth of master_repl_offset, as ElastiCache computes it: the write load replicas
    // receive (0 until a replica first attaches and the journal starts).
    put(Kind::Counted, "ReplicationBytes", Unit::Bytes, d(a.repl_bytes, b.repl_bytes));
    put(Kind::Counted, "ActiveDefragHits", Unit::None, 0.0);
    for (i, (name, latency)) in GROUPS.iter().enumerate() {
        let calls = d(a.calls[i], b.calls[i]);
        put(Kind::Counted, name, Unit::Count, calls);
        if calls > 0.0 {
            put(Kind::Average, latency, Unit::Microseconds, d(a.usec[i], b.usec[i]) / calls);
        }
    }
    // AWS publishes these as distributions; here each period gives the mean of the successful
    // calls of read-only and of write commands (left out without any, like the group latencies).
    for ((calls0, usec0), (calls1, usec1), name) in [
        (a.ok_reads, b.ok_reads, "SuccessfulReadRequestLatency"),
        (a.ok_writes, b.ok_writes, "SuccessfulWriteRequestLatency"),
    ] {
        let calls = d(calls0, calls1);
        if calls > 0.0 {
            put(Kind::Average, name, Unit::Microseconds, d(usec0, usec1) / calls);
        }
    }
    // ... and their distributions, as EMF samples (a histogram's buckets, so within 25%),
    // attached below.
    let distributions = [
        (&a.read_hist, &b.read_hist, "SuccessfulReadRequestLatency"),
        (&a.write_hist, &b.write_hist, "SuccessfulWriteRequestLatency"),
    ]
    .map(|(h0, h1, name)| (name, histogram::samples(&h1.since(h0), EMF_MAX_VALUES)));
    let wall_us = now.mono_us.saturating_sub(prev.mono_us) as f64;
    // The engine runs on the process's threads; its CPU over the period's wall time, as a
    // share of one core (Redis's main thread is one core too).
    put(Kind::Average, "EngineCPUUtilization", Unit::Percent, pct(d(prev.cpu_us, now.cpu_us), wall_us));

    // Gauges: the value at the end of the period.
    let mem = server.memory_breakdown();
    let m = mem.m;
    let maxmemory = server.config.maxmemory.u();
    let (available, swap, total) = host::memory();
    // ElastiCache always has a limit; without one, the machine's memory is the limit.
    let limit = if maxmemory > 0 { maxmemory } else { total } as f64;
    let (mut keys, mut volatile) = (0usize, 0usize);
    for db in server.keyspace.dbs() {
        keys += db.len();
        volatile += db.volatile_len();
    }
    let used = m.allocated as f64;
    // Client buffers are what Redis leaves out of the eviction count (mem_not_counted_for_evict
    // holds replication and AOF buffers, of which there are none yet).
    let counted = used;
    // connected_clients: replicas' links are not counted.
    let clients = server.clients.len().saturating_sub(server.replication.count());
    put(Kind::Sample, "CurrConnections", Unit::Count, clients as f64);
    put(Kind::Sample, "BlockedConnections", Unit::Count, (server.clients.blocking.blocked_clients() + server.pause.held()) as f64);
    put(Kind::Sample, "CurrItems", Unit::Count, keys as f64);
    put(Kind::Sample, "CurrVolatileItems", Unit::Count, volatile as f64);
    put(Kind::Sample, "BytesUsedForCache", Unit::Bytes, used);
    put(Kind::Sample, "UsedMemoryDataset", Unit::Bytes, mem.dataset as f64);
    put(Kind::Sample, "DatabaseMemoryUsagePercentage", Unit::Percent, pct(used, limit));
    put(Kind::Sample, "DatabaseMemoryUsageCountedForEvictPercentage", Unit::Percent, pct(counted, limit));
    put(Kind::Sample, "DatabaseCapacityUsagePercentage", Unit::Percent, pct(used, limit));
    put(Kind::Sample, "DatabaseCapacityUsageCountedForEvictPercentage", Unit::Percent, pct(counted, limit));
    put(Kind::Sample, "MemoryFragmentationRatio", Unit::None, crate::metrics::memory::ratio(m.rss, m.allocated));
    put(Kind::Sample, "AllocatorFragmentationBytes", Unit::Bytes, m.active as f64 - m.allocated as f64);
    put(Kind::Sample, "AllocatorFragmentationRatio", Unit::None, crate::metrics::memory::ratio(m.active, m.allocated));
    put(Kind::Sample, "DB0AverageTTL", Unit::Milliseconds, server.keyspace.db(0).avg_ttl() as f64);
    let replica = crate::replication::replica::is_replica();
    put(Kind::Sample, "IsMaster", Unit::Count, if replica { 0.0 } else { 1.0 });
    // Replicas only, as AWS publishes it.
    if let Some(lag) = server.replication.upstream.lag_seconds(crate::engine::now_ms()) {
        put(Kind::Sample, "ReplicationLag", Unit::Seconds, lag);
    }
    put(Kind::Sample, "SaveInProgress", Unit::None, server.snapshots.in_progress() as u8 as f64);
    let [channels, _patterns, shard] = server.clients.pubsub.counts();
    put(Kind::Sample, "PubSubChannels", Unit::Count, channels as f64);
    put(Kind::Sample, "PubSubShardChannels", Unit::Count, shard as f64);
    put(Kind::Sample, "KeysTracked", Unit::Count, 0.0);

    // The host.
    let (h0, h1) = (&prev.host, &now.host);
    put(Kind::Average, "CPUUtilization", Unit::Percent, pct(d(h0.cpu_busy, h1.cpu_busy), d(h0.cpu_total, h1.cpu_total)));
    put(Kind::Sample, "FreeableMemory", Unit::Bytes, available as f64);
    put(Kind::Sample, "SwapUsage", Unit::Bytes, swap as f64);
    put(Kind::Counted, "NetworkBytesIn", Unit::Bytes, d(h0.rx_bytes, h1.rx_bytes));
    put(Kind::Counted, "NetworkBytesOut", Unit::Bytes, d(h0.tx_bytes, h1.tx_bytes));
    put(Kind::Counted, "NetworkPacketsIn", Unit::Count, d(h0.rx_packets, h1.rx_packets));
    put(Kind::Counted, "NetworkPacketsOut", Unit::Count, d(h0.tx_packets, h1.tx_packets));
    for (name, samples) in distributions {
        if let Some(m) = out.iter_mut().find(|m| m.name == name) {
            m.samples = samples;
        }
    }
    out
}

/// A metric's value as INFO, EMF and /metrics print it: integers without a fraction, others
/// in the shortest form that reads back exactly (small durations in seconds stay visible).
pub fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.is_finite() {
        format!("{v}")
    } else {
        "0".to_string()
    }
}

/// Most values one EMF metric may carry.
const EMF_MAX_VALUES: usize = 100;

/// The nearest-rank percentile of sorted samples (None without any).
fn percentile_of(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1])
}

/// `INFO cloudwatch`: the last completed period, one `Name:value` per line.
pub fn render_info(server: &Server, o: &mut String) {
    use std::fmt::Write;
    o.push_str("# Cloudwatch\r\n");
    if let Some(p) = server.cloudwatch.last() {
        let _ = write!(
            o,
            "period_end_ms:{}\r\nperiod_seconds:{:.3}\r\n",
            p.end_ms, p.seconds
        );
        for m in &p.metrics {
            let _ = write!(o, "{}:{}\r\n", m.name, format_value(m.value));
            // A distribution also shows the percentiles CloudWatch would compute from it.
            for (label, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0)] {
                if let Some(v) = percentile_of(&m.samples, p) {
                    let _ = write!(o, "{}.{label}:{}\r\n", m.name, format_value(v));
                }
            }
        }
    }
}

/// One CloudWatch Embedded Metric Format document for a period, on one line.
pub fn emf(period: &Period, namespace: &str, cluster: &str, node: &str) -> String {
    use std::fmt::Write;
    let mut o = String::with_capacity(4096);
    let _ = write!(
        o,
        "{{\"_aws\":{{\"Timestamp\":{},\"CloudWatchMetrics\":[{{\"Namespace\":{},\
         \"Dimensions\":[[\"CacheClusterId\",\"CacheNodeId\"],[\"CacheClusterId\"]],\"Metrics\":[",
        period.end_ms,
        json_str(namespace)
    );
    for (i, m) in period.metrics.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "{{\"Name\":\"{}\",\"Unit\":\"{}\"}}",
            m.name,
            m.unit.name()
        );
    }
    let _ = write!(
        o,
        "]}}]}},\"CacheClusterId\":{},\"CacheNodeId\":{},\"PeriodSeconds\":{:.3}",
        json_str(cluster),
        json_str(node),
        period.seconds
    );
    for m in &period.metrics {
        if m.samples.is_empty() {
            let _ = write!(o, ",\"{}\":{}", m.name, format_value(m.value));
        } else {
            let values: Vec<String> = m.samples.iter().map(|v| format_value(*v)).collect();
            let _ = write!(o, ",\"{}\":[{}]", m.name, values.join(","));
        }
    }
    o.push('}');
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::table::FAST;

    fn spec(name: &'static str, flags: u32, first_key: i32, group: &'static str) -> CommandSpec {
        let handler: crate::command::Handler = |_, _| Ok(());
        const ONE_KEY: &[crate::command::keyspec::KeySpec] =
            &[crate::command::keyspec::KeySpec::at(1, 0)];
        CommandSpec::new(name, 2, flags, handler)
            .keys(if first_key > 0 { ONE_KEY } else { &[] })
            .doc(group, "1.0.0", "", "")
    }

    fn names(g: u32) -> Vec<&'static str> {
        (0..GROUPS.len())
            .filter(|i| g & (1 << i) != 0)
            .map(|i| GROUPS[i].0)
            .collect()
    }

    #[test]
    fn commands_fall_in_aws_groups() {
        let get = spec("get", READONLY | FAST, 1, "string");
        assert_eq!(
            names(groups_of(&get, None)),
            ["GetTypeCmds", "StringBasedCmds"]
        );
        let del = spec("del", WRITE, 1, "generic");
        assert_eq!(
            names(groups_of(&del, None)),
            ["SetTypeCmds", "KeyBasedCmds"]
        );
        let dbsize = spec("dbsize", READONLY, 0, "server");
        assert_eq!(
            names(groups_of(&dbsize, None)),
            ["GetTypeCmds", "NonKeyTypeCmds"]
        );
        let publish = spec("publish", 0, 0, "pubsub");
        assert_eq!(
            names(groups_of(&publish, None)),
            ["PubSubBasedCmds", "NonKeyTypeCmds"]
        );
        let setbit = spec("setbit", WRITE, 1, "bitmap");
        assert_eq!(
            names(groups_of(&setbit, None)),
            ["SetTypeCmds", "StringBasedCmds"]
        );
    }

    #[test]
    fn emf_is_one_json_line_with_its_dimensions() {
        let p = Period {
            end_ms: 1_767_225_600_000,
            seconds: 60.0,
            metrics: vec![
                Metric {
                    name: "CacheHits",
                    unit: Unit::Count,
                    kind: Kind::Counted,
                    value: 70.0,
                    samples: Vec::new(),
                },
                Metric {
                    name: "CacheHitRate",
                    unit: Unit::Percent,
                    kind: Kind::Average,
                    value: 70.0,
                    samples: Vec::new(),
                },
                Metric {
                    name: "MemoryFragmentationRatio",
                    unit: Unit::None,
                    kind: Kind::Sample,
                    value: 1.25,
                    samples: Vec::new(),
                },
                Metric {
                    name: "SuccessfulReadRequestLatency",
                    unit: Unit::Microseconds,
                    kind: Kind::Average,
                    value: 12.5,
                    samples: vec![10.0, 10.0, 15.0, 15.0],
                },
            ],
        };
        let doc = emf(&p, "ns", "c\"1", "0001");
        assert!(!doc.contains('\n'));
        assert!(doc.starts_with("{\"_aws\":{\"Timestamp\":1767225600000,"));
        assert!(doc.contains("\"CacheClusterId\":\"c\\\"1\",\"CacheNodeId\":\"0001\""));
        assert!(doc.contains("{\"Name\":\"CacheHitRate\",\"Unit\":\"Percent\"}"));
        // A distribution's values go as an array (CloudWatch computes its percentiles).
        assert!(doc.ends_with(
            ",\"CacheHits\":70,\"CacheHitRate\":70,\"MemoryFragmentationRatio\":1.25,\
             \"SuccessfulReadRequestLatency\":[10,10,15,15]}"
        ));
    }

    #[test]
    fn values_print_as_cloudwatch_takes_them() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(0.000012), "0.000012");
        assert_eq!(format_value(f64::NAN), "0");
        assert_eq!(format_value(-8.0), "-8");
    }
}
