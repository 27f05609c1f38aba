//! The parameter table: every configuration parameter, its type, default and mutability.
//! Adding a parameter means adding one row here (and reading it where it acts).

/// How a parameter's value is parsed and normalised.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` / `no`.
    Bool,
    /// A signed integer within bounds.
    Int { min: i64, max: i64 },
    /// A byte size (`100mb`, `1gb`, `4096`) within bounds, stored as bytes.
    Memory { min: u64, max: u64 },
    /// One of a fixed list of words.
    Enum(&'static [&'static str]),
    /// Free text.
    Str,
    /// Text checked by a function that returns the normalised value or the error.
    Custom(fn(&str) -> Result<String, String>),
}

#[derive(Debug)]
pub struct ParamDef {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub mutable: bool,
}

const fn p(name: &'static str, kind: Kind, default: &'static str, mutable: bool) -> ParamDef {
    ParamDef {
        name,
        alias: None,
        kind,
        default,
        mutable,
    }
}

/// A mutable non-negative size parameter with an old name that still works.
const fn a(name: &'static str, alias: &'static str, default: &'static str) -> ParamDef {
    ParamDef {
        name,
        alias: Some(alias),
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default,
        mutable: true,
    }
}

/// `latency-tracking-info-percentiles`: numbers from 0 to 100, space-separated.
fn check_percentiles(v: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for w in v.split_whitespace() {
        match w.parse::<f64>() {
            Ok(p) if (0.0..=100.0).contains(&p) => out.push(w.to_string()),
            _ => {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                        .into(),
                )
            }
        }
    }
    Ok(out.join(" "))
}

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];

/// Every parameter ferrocache understands, one row each.
#[rustfmt::skip]
pub static PARAMS: &[ParamDef] = &[
    // Network
    p("bind", Kind::Custom(check_bind), "127.0.0.1 -::1", false),
    p("port", Kind::Int { min: 0, max: 65535 }, "6379", false),
    p("tcp-backlog", Kind::Int { min: 0, max: i32::MAX as i64 }, "511", false),
    p("timeout", Kind::Int { min: 0, max: i32::MAX as i64 }, "0", true),
    p("tcp-keepalive", Kind::Int { min: 0, max: i32::MAX as i64 }, "300", true),
    p("protected-mode", Kind::Bool, "yes", true),
    p("maxclients", Kind::Int { min: 1, max: u32::MAX as i64 }, "10000", true),
    // Threads that run connections and their commands; 0 = one per CPU core. One thread (a
    // single-threaded runtime, no cross-thread wake-ups) is fastest when the server shares a
    // small machine with its clients; more threads scale across cores given the cores.
    p("io-threads", Kind::Int { min: 0, max: 128 }, "1", false),
    // TLS
    p("tls-port", Kind::Int { min: 0, max: 65535 }, "0", false),
    p("tls-cert-file", Kind::Str, "", false),
    p("tls-key-file", Kind::Str, "", false),
    p("tls-ca-cert-file", Kind::Str, "", false),
    p("tls-auth-clients", Kind::Enum(&["yes", "no", "optional"]), "yes", false),
    // ElastiCache transit-encryption modes: `off` = Redis's behaviour (TLS only on tls-port);
    // `preferred` = `port` accepts both TLS and plaintext; `required` = `port` accepts TLS only.
    p("tls-mode", Kind::Enum(&["off", "preferred", "required"]), "off", false),
    // Security and protocol limits (Redis's minimum of 1 MB keeps a CONFIG SET from locking
    // every client out).
    p("requirepass", Kind::Str, "", true),
    // Memory limit. Over it, commands that add data fail with -OOM (the `noeviction` policy);
    // eviction policies come with issue 5.
    p("maxmemory", Kind::Memory { min: 0, max: i64::MAX as u64 }, "0", true),
    // What goes when over maxmemory (Redis's default; ElastiCache's is volatile-lru), how many
    // keys each eviction samples per database, and how long one round may run.
    p("maxmemory-policy", Kind::Enum(&crate::engine::evict::Policy::NAMES), "noeviction", true),
    p("maxmemory-samples", Kind::Int { min: 1, max: 64 }, "5", true),
    p("maxmemory-eviction-tenacity", Kind::Int { min: 0, max: 100 }, "10", true),
    p("lfu-log-factor", Kind::Int { min: 0, max: i32::MAX as i64 }, "10", true),
    p("lfu-decay-time", Kind::Int { min: 0, max: i32::MAX as i64 }, "1", true),
    // jemalloc's background thread returns freed pages to the system (Redis's default too):
    // without it RSS keeps the pages a growing table freed until the next allocator activity.
    p("jemalloc-bg-thread", Kind::Bool, "yes", true),
    // ElastiCache's share of maxmemory kept back from data for buffers and snapshots: keys are
    // evicted (or writes refused) at maxmemory * (100 - this) / 100.
    p("reserved-memory-percent", Kind::Int { min: 0, max: 100 }, "0", true),
    // Per class: hard limit, soft limit, soft seconds. Enforced for pubsub subscribers. A SET
    // names the classes it changes; the others return to their defaults.
    p("notify-keyspace-events", Kind::Custom(check_notify), "", true),
    // Memory all clients' buffers may take together before the largest clients are closed
    // (client eviction, Redis 7): bytes, or a percentage of maxmemory; 0 = no limit.
    p("maxmemory-clients", Kind::Custom(check_memory_or_percent), "0", true),
    p("client-output-buffer-limit", Kind::Custom(check_output_buffer_limit), "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", true),
    p("proto-max-bulk-len", Kind::Memory { min: 1 << 20, max: i64::MAX as u64 }, "536870912", true),
    p("client-query-buffer-limit", Kind::Memory { min: 1 << 20, max: i64::MAX as u64 }, "1073741824", true),
    // Writes need this many replicas that acked within min-replicas-max-lag seconds (0 or a
    // lag of 0 turns the check off), else -NOREPLICAS.
    ParamDef { name: "min-replicas-to-write", alias: Some("min-slaves-to-write"), kind: Kind::Int { min: 0, max: i32::MAX as i64 }, default: "0", mutable: true },
    ParamDef { name: "min-replicas-max-lag", alias: Some("min-slaves-max-lag"), kind: Kind::Int { min: 0, max: i32::MAX as i64 }, default: "10", mutable: true },
    // Replication: the backlog a replica resumes from after a broken link, how often the
    // primary PINGs its replicas, and how long a silent link lives.
    p("repl-backlog-size", Kind::Memory { min: 16384, max: i64::MAX as u64 }, "1048576", true),
    ParamDef { name: "repl-ping-replica-period", alias: Some("repl-ping-slave-period"), kind: Kind::Int { min: 1, max: i32::MAX as i64 }, default: "10", mutable: true },
    p("repl-timeout", Kind::Int { min: 1, max: i32::MAX as i64 }, "60", true),
    // The primary to follow ("host port"; empty: none), how to authenticate to it, and
    // whether clients may write to the replica.
    ParamDef { name: "replicaof", alias: Some("slaveof"), kind: Kind::Str, default: "", mutable: false },
    p("masterauth", Kind::Str, "", true),
    p("masteruser", Kind::Str, "", true),
    ParamDef { name: "replica-read-only", alias: Some("slave-read-only"), kind: Kind::Bool, default: "yes", mutable: true },
    p("enable-debug-command", Kind::Enum(&["no", "yes", "local"]), "no", false),
    // Keyspace
    p("databases", Kind::Int { min: 1, max: 1024 }, "16", false),
    p("keyspace-shards", Kind::Custom(check_shards), "16", false),
    // Background task frequency; values outside 1..=500 are clamped when used, as in Redis.
    p("hz", Kind::Int { min: 0, max: i32::MAX as i64 }, "10", true),
    // Encoding thresholds of small collections (OBJECT ENCODING), as Redis's.
    a("hash-max-listpack-entries", "hash-max-ziplist-entries", "512"),
    a("hash-max-listpack-value", "hash-max-ziplist-value", "64"),
    // Sparse HyperLogLogs become dense past this many bytes.
    p("hll-sparse-max-bytes", Kind::Memory { min: 0, max: i64::MAX as u64 }, "3000", true),
    // Stream node sizes: entries shape `~` trimming; the byte limit is accepted, not modelled.
    p("stream-node-max-entries", Kind::Int { min: 0, max: i64::MAX }, "100", true),
    p("stream-node-max-bytes", Kind::Memory { min: 0, max: i64::MAX as u64 }, "4096", true),
    p("set-max-intset-entries", Kind::Int { min: 0, max: i64::MAX }, "512", true),
    a("zset-max-listpack-entries", "zset-max-ziplist-entries", "128"),
    a("zset-max-listpack-value", "zset-max-ziplist-value", "64"),
    // Lists are one VecDeque whatever their size (Redis 7.0 reports "quicklist" for every list),
    // so the quicklist node size and compression depth are accepted and have no effect.
    ParamDef { name: "list-max-listpack-size", alias: Some("list-max-ziplist-size"), kind: Kind::Int { min: i32::MIN as i64, max: i32::MAX as i64 }, default: "-2", mutable: true },
    p("list-compress-depth", Kind::Int { min: 0, max: i32::MAX as i64 }, "0", true),
    // Persistence: SAVE (and SHUTDOWN SAVE, DEBUG RELOAD) write `dir`/`dbfilename`, loaded at
    // startup; automatic save points and the AOF are not there yet.
    p("save", Kind::Custom(check_save), "", true),
    p("appendonly", Kind::Custom(check_appendonly), "no", true),
    p("dir", Kind::Str, ".", false),
    p("dbfilename", Kind::Str, "dump.rdb", true),
    // Commands slower than this many microseconds go to SLOWLOG (negative = none, 0 = all),
    // which keeps the newest slowlog-max-len; latency spikes of at least this many ms go to
    // LATENCY (0 = off); per-command latency histograms feed INFO latencystats at these
    // percentiles.
    p("slowlog-log-slower-than", Kind::Int { min: i64::MIN, max: i64::MAX }, "10000", true),
    p("slowlog-max-len", Kind::Int { min: 0, max: i64::MAX }, "128", true),
    p("latency-monitor-threshold", Kind::Int { min: 0, max: i64::MAX }, "0", true),
    p("latency-tracking", Kind::Bool, "yes", true),
    // Keys the client-tracking table may hold; past it, keys are dropped from the table and
    // their readers told (as if the keys had changed). 0 = no limit.
    p("tracking-table-max-keys", Kind::Int { min: 0, max: i64::MAX }, "1000000", true),
    p("latency-tracking-info-percentiles", Kind::Custom(check_percentiles), "50 99 99.9", true),
    // Metrics: CloudWatch-named metrics over periods of this many seconds (INFO cloudwatch),
    // Prometheus /metrics on this port (0 = off), and an EMF document per period appended to
    // this file ("-" = standard output, empty = off) with these dimensions and namespace.
    p("metrics-period", Kind::Int { min: 1, max: 86400 }, "60", true),
    p("metrics-port", Kind::Int { min: 0, max: 65535 }, "0", false),
    p("metrics-emf-file", Kind::Str, "", true),
    p("cloudwatch-cluster-id", Kind::Str, "ferrocache", true),
    p("cloudwatch-node-id", Kind::Str, "0001", true),
    p("cloudwatch-namespace", Kind::Str, "Ferrocache/ElastiCache", true),
    // Logging
    p("loglevel", Kind::Enum(LOGLEVELS), "notice", true),
    p("logfile", Kind::Str, "", false),
    // elasticache-json / elasticache-text: ElastiCache's engine-log delivery fields.
    p("log-format", Kind::Enum(&["plain", "json", "elasticache-json", "elasticache-text"]), "plain", false),
    // The slow log as ElastiCache delivers it, appended to this file ("-" = stdout, empty = off).
    p("slowlog-delivery-file", Kind::Str, "", true),
    p("slowlog-delivery-format", Kind::Enum(&["json", "text"]), "json", true),
    p("pidfile", Kind::Str, "", false),
    // ferrocache's: with one I/O thread, poll the sockets for up to this many microseconds
    // (an adaptive window) before the event loop sleeps; 0 = never (src/server/busy_poll.rs).
    p("busy-poll-us", Kind::Int { min: 0, max: 1_000_000 }, "50", true),
    // Redis's: fork into the background. ferrocache stays in the foreground under its
    // supervisor (systemd, Docker); `yes` is refused at startup rather than ignored.
    p("daemonize", Kind::Bool, "no", false),
    // How a supervisor is told the server is ready: `systemd` (or `auto` under systemd) sends
    // READY=1 to $NOTIFY_SOCKET once listening, for units of Type=notify (Debian's).
    p("supervised", Kind::Enum(&["upstart", "systemd", "auto", "no"]), "no", false),
    // A replica whose link is down answers only commands flagged `stale` (INFO, PING, ...)
    // when this is no: the others get -MASTERDOWN. Its priority is reported for Sentinel.
    ParamDef { name: "replica-serve-stale-data", alias: Some("slave-serve-stale-data"), kind: Kind::Bool, default: "yes", mutable: true },
    ParamDef { name: "replica-priority", alias: Some("slave-priority"), kind: Kind::Int { min: 0, max: i32::MAX as i64 }, default: "100", mutable: true },
    // `no`: snapshots (SAVE and a replica's full sync) end with a zero checksum, and loading
    // one (at startup, or a primary's) does not verify its checksum, as in Redis. A zero
    // checksum is never verified.
    p("rdbchecksum", Kind::Bool, "yes", false),

    // Accepted so that a Redis 7 configuration file loads, reported by CONFIG GET, and with
    // no effect, for the reason given.
    // Strings are written to snapshots uncompressed whatever this says (every reader takes both).
    p("rdbcompression", Kind::Bool, "yes", true),
    // No background save, so none can fail, and no sync files to delete or fsync in steps.
    p("stop-writes-on-bgsave-error", Kind::Bool, "yes", true),
    p("rdb-del-sync-files", Kind::Bool, "no", true),
    p("rdb-save-incremental-fsync", Kind::Bool, "yes", true),
    // The AOF's parameters: they matter only with `appendonly yes`, refused until the AOF exists.
    p("appendfilename", Kind::Str, "appendonly.aof", false),
    p("appenddirname", Kind::Str, "appendonlydir", false),
    p("appendfsync", Kind::Enum(&["always", "everysec", "no"]), "everysec", true),
    p("no-appendfsync-on-rewrite", Kind::Bool, "no", true),
    p("auto-aof-rewrite-percentage", Kind::Int { min: 0, max: i32::MAX as i64 }, "100", true),
    p("auto-aof-rewrite-min-size", Kind::Memory { min: 0, max: i64::MAX as u64 }, "67108864", true),
    p("aof-load-truncated", Kind::Bool, "yes", true),
    p("aof-use-rdb-preamble", Kind::Bool, "yes", true),
    p("aof-timestamp-enabled", Kind::Bool, "no", true),
    p("aof-rewrite-incremental-fsync", Kind::Bool, "yes", true),
    // A primary always streams a full sync from memory at once, and a replica always loads it
    // into memory as it arrives (diskless both ways); Nagle stays off on the link.
    p("repl-diskless-sync", Kind::Bool, "yes", true),
    p("repl-diskless-sync-delay", Kind::Int { min: 0, max: i32::MAX as i64 }, "5", true),
    p("repl-diskless-sync-max-replicas", Kind::Int { min: 0, max: i32::MAX as i64 }, "0", true),
    p("repl-diskless-load", Kind::Enum(&["disabled", "on-empty-db", "swapdb"]), "disabled", true),
    p("repl-disable-tcp-nodelay", Kind::Bool, "no", true),
    // Values are freed on the thread that deletes them; large collections are one allocation
    // tree each, not Redis's lazily freed objects.
    ParamDef { name: "replica-lazy-flush", alias: Some("slave-lazy-flush"), kind: Kind::Bool, default: "no", mutable: true },
    p("lazyfree-lazy-eviction", Kind::Bool, "no", true),
    p("lazyfree-lazy-expire", Kind::Bool, "no", true),
    p("lazyfree-lazy-server-del", Kind::Bool, "no", true),
    p("lazyfree-lazy-user-del", Kind::Bool, "no", true),
    p("lazyfree-lazy-user-flush", Kind::Bool, "no", true),
    // Tables grow and shrink in steps of their own; `hz` is used as set.
    p("activerehashing", Kind::Bool, "yes", true),
    p("dynamic-hz", Kind::Bool, "yes", true),
    // No ACL users beyond `default`, so no ACL log to bound.
    p("acllog-max-len", Kind::Int { min: 0, max: i64::MAX }, "128", true),
    // The process: no logo, no process title, no transparent-huge-pages or OOM-score changes.
    p("always-show-logo", Kind::Bool, "no", false),
    p("set-proc-title", Kind::Bool, "yes", false),
    p("proc-title-template", Kind::Str, "{title} {listen-addr} {server-mode}", true),
    p("disable-thp", Kind::Bool, "yes", false),
    p("oom-score-adj", Kind::Enum(&["no", "yes", "relative", "absolute"]), "no", true),
    p("oom-score-adj-values", Kind::Custom(check_oom_values), "0 200 800", true),
];

/// `oom-score-adj-values`: three scores from -2000 to 2000 (primary, replica, background child).
fn check_oom_values(v: &str) -> Result<String, String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    let ok = words.len() == 3
        && words
            .iter()
            .all(|w| w.parse::<i64>().is_ok_and(|n| (-2000..=2000).contains(&n)));
    if ok {
        Ok(words.join(" "))
    } else {
        Err("Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into())
    }
}

pub fn find(name: &str) -> Option<usize> {
    PARAMS.iter().position(|p| {
        p.name.eq_ignore_ascii_case(name) || p.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Parses a byte size as Redis does: plain bytes, or k/kb/m/mb/g/gb (k = 1000, kb = 1024).
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let units: [(&str, u64); 7] = [
        ("kb", 1024),
        ("mb", 1024 * 1024),
        ("gb", 1024 * 1024 * 1024),
        ("k", 1000),
        ("m", 1_000_000),
        ("g", 1_000_000_000),
        ("b", 1),
    ];
    for (suffix, mul) in units {
        if let Some(num) = lower.strip_suffix(suffix) {
            return num.parse::<u64>().ok()?.checked_mul(mul);
        }
    }
    lower.parse::<u64>().ok()
}

/// Validates and normalises a value for a parameter.
pub fn normalize(def: &ParamDef, value: &str) -> Result<String, String> {
    match def.kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int { min, max } => {
            let n: i64 = value
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(n.to_string())
        }
        Kind::Memory { min, max } => {
            let n =
                parse_memory(value).ok_or_else(|| "argument must be a memory value".to_string())?;
            if n < min || n > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(n.to_string())
        }
        Kind::Enum(options) => {
            let v = value.to_ascii_lowercase();
            if options.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(format!(
                    "argument(s) must be one of the following: {}",
                    options.join(", ")
                ))
            }
        }
        Kind::Str => Ok(value.to_string()),
        Kind::Custom(check) => check(value),
    }
}

fn check_bind(v: &str) -> Result<String, String> {
    let addrs: Vec<&str> = v.split_whitespace().collect();
    if addrs.is_empty() {
        return Err("Too many bind addresses specified.".into());
    }
    for a in &addrs {
        let a = a.strip_prefix('-').unwrap_or(a);
        if a != "*" && a != "::*" && a.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("Invalid bind address '{a}'"));
        }
    }
    Ok(addrs.join(" "))
}

fn check_shards(v: &str) -> Result<String, String> {
    match v.parse::<usize>() {
        Ok(n) if n.is_power_of_two() && n <= 4096 => Ok(n.to_string()),
        _ => Err("argument must be a power of two between 1 and 4096".into()),
    }
}

/// Parses `class hard soft seconds ...` into limits per class (`replica` is `slave`).
pub fn output_buffer_limits(v: &str) -> std::collections::HashMap<&'static str, (u64, u64, u64)> {
    check_output_buffer_limit(v)
        .ok()
        .map(|canon| {
            let w: Vec<String> = canon.split_whitespace().map(str::to_string).collect();
            w.chunks(4)
                .filter_map(|c| {
                    let class = match c[0].as_str() {
                        "normal" => "normal",
                        "slave" => "slave",
                        _ => "pubsub",
                    };
                    Some((
                        class,
                        (c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn check_output_buffer_limit(v: &str) -> Result<String, String> {
    let w: Vec<&str> = v.split_whitespace().collect();
    if w.is_empty() || w.len() % 4 != 0 {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut classes = [
        ("normal", 0, 0, 0),
        ("slave", 268435456, 67108864, 60),
        ("pubsub", 33554432, 8388608, 60),
    ];
    for c in w.chunks(4) {
        let i = match c[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(c[1]);
        let soft = parse_memory(c[2]);
        let secs = c[3].parse::<u64>().ok();
        match (hard, soft, secs) {
            (Some(h), Some(s), Some(t)) => classes[i] = (classes[i].0, h, s, t),
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                )
            }
        }
    }
    Ok(classes
        .iter()
        .map(|(n, h, s, t)| format!("{n} {h} {s} {t}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// A byte size, or a percentage ("10%") of `of`.
pub fn memory_or_percent(v: &str, of: u64) -> u64 {
    match v.strip_suffix('%') {
        Some(p) => p
            .parse::<u64>()
            .map_or(0, |p| of / 100 * p + of % 100 * p / 100),
        None => parse_memory(v).unwrap_or(0),
    }
}

fn check_memory_or_percent(v: &str) -> Result<String, String> {
    if let Some(p) = v.strip_suffix('%') {
        return match p.parse::<u64>() {
            Ok(p) if p <= 100 => Ok(format!("{p}%")),
            Ok(_) => Err("percentage argument must be less or equal to 100".into()),
            Err(_) => Err("argument must be a memory or percent value".into()),
        };
    }
    parse_memory(v)
        .map(|b| b.to_string())
        .ok_or_else(|| "argument must be a memory or percent value".into())
}

fn check_notify(v: &str) -> Result<String, String> {
    crate::engine::notify::parse(v)
        .map(crate::engine::notify::to_string)
        .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string())
}

fn check_save(v: &str) -> Result<String, String> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    if parts.len() % 2 != 0 || parts.iter().any(|p| p.parse::<u64>().is_err()) {
        return Err("Invalid save parameters".into());
    }
    if !parts.is_empty() {
        return Err("automatic snapshots (save points) are not supported yet: only save \"\" is accepted; SAVE writes a snapshot".into());
    }
    Ok(String::new())
}

fn check_appendonly(v: &str) -> Result<String, String> {
    match v.to_ascii_lowercase().as_str() {
        "no" => Ok("no".into()),
        "yes" => Err("the append-only file is not supported yet".into()),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_valid() {
        for def in PARAMS {
            assert_eq!(
                normalize(def, def.default).as_deref(),
                Ok(def.default),
                "{}",
                def.name
            );
        }
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("2GB"), Some(2 << 30));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("1b"), Some(1));
        assert_eq!(parse_memory("x"), None);
    }
}
