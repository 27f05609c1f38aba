//! `/metrics` in the Prometheus text format (version 0.0.4). What redis_exporter already names
//! keeps its name (`redis_keyspace_hits_total`, ...), so dashboards built on it work as they
//! are; the rest carries its CloudWatch name. Counters are cumulative, as Prometheus expects;
//! the CloudWatch rates and averages (hit rate, CPU, latencies) are gauges from the last
//! completed period.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::cloudwatch;
use crate::command::connection::REDIS_VERSION;
use crate::command::table::{CALLS, FAILED, REJECTED, USEC};
use crate::server::Server;

/// Names redis_exporter gives to what the CloudWatch list also has; those CloudWatch names
/// are not repeated here.
const EXPORTER_COVERED: &[&str] = &[
    "CurrConnections",
    "BlockedConnections",
    "CurrItems",
    "BytesUsedForCache",
    "UsedMemoryDataset",
    "MemoryFragmentationRatio",
    "AllocatorFragmentationBytes",
    "AllocatorFragmentationRatio",
    "DB0AverageTTL",
    "SaveInProgress",
    "PubSubChannels",
    "PubSubShardChannels",
    "KeysTracked",
];

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = write!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        let _ = writeln!(self.0, "{name} {value}");
    }
}

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(server: &Server) -> String {
    let mut o = Out(String::with_capacity(16 * 1024));
    let st = &server.stats;
    let ld = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let ks = server.keyspace.stats();
    let mem = server.memory_breakdown();
    let m = mem.m;

    o.one("redis_up", "gauge", "Whether the server answers.", 1);
    o.one(
        "redis_uptime_in_seconds",
        "gauge",
        "Seconds since the server started.",
        st.started.elapsed().as_secs(),
    );
    o.family("redis_instance_info", "gauge", "Server version and role.");
    let _ = writeln!(
        o.0,
        "redis_instance_info{{role=\"master\",redis_version=\"{REDIS_VERSION}\",ferrocache_version=\"{}\",run_id=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        server.run_id
    );
    #[rustfmt::skip]
    let gauges: [(&str, &str, f64); 12] = [
        ("redis_connected_clients", "Client connections (not replicas).", server.clients.len().saturating_sub(server.replication.count()) as f64),
        ("redis_blocked_clients", "Clients waiting in a blocking command.", (server.clients.blocking.blocked_clients() + server.pause.held()) as f64),
        ("redis_memory_used_bytes", "Bytes allocated (used_memory).", m.allocated as f64),
        ("redis_memory_used_rss_bytes", "Resident set size.", m.rss as f64),
        ("redis_memory_used_peak_bytes", "Highest used_memory.", m.peak as f64),
        ("redis_memory_used_dataset_bytes", "Bytes of keys and values.", mem.dataset as f64),
        ("redis_memory_max_bytes", "maxmemory (0 = no limit).", server.config.maxmemory.u() as f64),
        ("redis_mem_fragmentation_ratio", "RSS over used_memory.", crate::metrics::memory::ratio(m.rss, m.allocated)),
        ("redis_allocator_frag_ratio", "Allocator active over allocated.", crate::metrics::memory::ratio(m.active, m.allocated)),
        ("redis_allocator_frag_bytes", "Allocator active minus allocated.", m.active as f64 - m.allocated as f64),
        ("redis_rdb_bgsave_in_progress", "A background save is running.", server.snapshots.in_progress() as u8 as f64),
        ("redis_master_repl_offset", "Replication offset.", 0.0),
    ];
    for (name, help, v) in gauges {
        o.one(name, "gauge", help, cloudwatch::format_value(v));
    }
    let [channels, patterns, shard] = server.clients.pubsub.counts();
    o.one(
        "redis_pubsub_channels",
        "gauge",
        "Channels with subscribers.",
        channels,
    );
    o.one(
        "redis_pubsub_patterns",
        "gauge",
        "Subscribed patterns.",
        patterns,
    );
    o.one(
        "redis_pubsub_shard_channels",
        "gauge",
        "Shard channels with subscribers.",
        shard,
    );
    #[rustfmt::skip]
    let counters: [(&str, &str, u64); 15] = [
        ("redis_connections_received_total", "Connections accepted.", ld(&st.total_connections_received)),
        ("redis_rejected_connections_total", "Connections refused (maxclients).", ld(&st.rejected_connections)),
        ("redis_commands_processed_total", "Commands run.", ld(&st.total_commands_processed)),
        ("redis_net_input_bytes_total", "Bytes read from clients.", ld(&st.total_net_input_bytes)),
        ("redis_net_output_bytes_total", "Bytes written to clients.", ld(&st.total_net_output_bytes)),
        ("redis_keyspace_hits_total", "Successful key lookups.", ks.hits),
        ("redis_keyspace_misses_total", "Failed key lookups.", ks.misses),
        ("redis_evicted_keys_total", "Keys evicted for maxmemory.", ks.evicted),
        ("redis_expired_keys_total", "Keys expired.", ks.expired),
        ("redis_total_error_replies", "Error replies sent.", ld(&st.total_error_replies)),
        ("redis_acl_access_denied_auth_total", "Failed authentications.", ld(&st.acl_access_denied_auth)),
        ("redis_acl_access_denied_cmd_total", "Commands refused by ACL rules.", ld(&st.acl_access_denied_cmd)),
        ("redis_acl_access_denied_key_total", "Keys refused by ACL rules.", ld(&st.acl_access_denied_key)),
        ("redis_acl_access_denied_channel_total", "Channels refused by ACL rules.", ld(&st.acl_access_denied_channel)),
        ("redis_connected_slaves", "Connected replicas.", 0),
    ];
    for (name, help, v) in counters {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        o.one(name, kind, help, v);
    }
    let cpu = crate::metrics::host::process_cpu_us();
    o.one(
        "redis_cpu_seconds_total",
        "counter",
        "CPU time of the server process (user and system).",
        cpu as f64 / 1e6,
    );

    o.family(
        "redis_errors_total",
        "counter",
        "Error replies by error code.",
    );
    for (code, n) in st.error_counts() {
        let _ = writeln!(o.0, "redis_errors_total{{err=\"{}\"}} {n}", label(&code));
    }

    let dbs = server.keyspace.dbs();
    let per_db = |o: &mut Out, name: &str, help: &str, f: &dyn Fn(usize) -> f64| {
        o.family(name, "gauge", help);
        for (i, db) in dbs.iter().enumerate() {
            if !db.is_empty() {
                let _ = writeln!(
                    o.0,
                    "{name}{{db=\"db{i}\"}} {}",
                    cloudwatch::format_value(f(i))
                );
            }
        }
    };
    per_db(&mut o, "redis_db_keys", "Keys per database.", &|i| {
        dbs[i].len() as f64
    });
    per_db(
        &mut o,
        "redis_db_keys_expiring",
        "Keys with a TTL per database.",
        &|i| dbs[i].volatile_len() as f64,
    );
    per_db(
        &mut o,
        "redis_db_avg_ttl_seconds",
        "Average TTL per database.",
        &|i| dbs[i].avg_ttl() as f64 / 1000.0,
    );

    let cmds: Vec<_> = server
        .commands
        .iter_all()
        .filter(|c| c.stats.get(CALLS) + c.stats.get(REJECTED) + c.stats.get(FAILED) > 0)
        .collect();
    let per_cmd = |o: &mut Out,
                   name: &str,
                   help: &str,
                   f: &dyn Fn(&crate::command::table::Command) -> f64| {
        o.family(name, "counter", help);
        for c in &cmds {
            let _ = writeln!(
                o.0,
                "{name}{{cmd=\"{}\"}} {}",
                label(&c.fullname),
                cloudwatch::format_value(f(c))
            );
        }
    };
    per_cmd(&mut o, "redis_commands_total", "Calls per command.", &|c| {
        c.stats.get(CALLS) as f64
    });
    per_cmd(
        &mut o,
        "redis_commands_duration_seconds_total",
        "Execution time per command.",
        &|c| c.stats.get(USEC) as f64 / 1e6,
    );
    per_cmd(
        &mut o,
        "redis_commands_rejected_calls_total",
        "Calls refused before running.",
        &|c| c.stats.get(REJECTED) as f64,
    );
    per_cmd(
        &mut o,
        "redis_commands_failed_calls_total",
        "Calls that ran and failed.",
        &|c| c.stats.get(FAILED) as f64,
    );

    // CloudWatch names for the rest: cumulative counters now...
    for (name, v) in cloudwatch::cumulative(server) {
        o.one(name, "counter", "CloudWatch metric, cumulative.", v);
    }
    // ...and the samples, ratios and averages of the last completed period (the counts are
    // above: the exporter's counters or the cumulative CloudWatch ones).
    if let Some(p) = server.cloudwatch.last() {
        for m in &p.metrics {
            if m.kind == cloudwatch::Kind::Counted || EXPORTER_COVERED.contains(&m.name) {
                continue;
            }
            o.one(
                m.name,
                "gauge",
                &format!("CloudWatch metric ({}), last period.", m.unit.name()),
                cloudwatch::format_value(m.value),
            );
        }
    }
    o.0
}
