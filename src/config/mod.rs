//! Configuration: the parameter table, redis.conf-syntax files, command-line overrides, and the
//! runtime store behind CONFIG GET / SET / REWRITE.

pub mod params;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;

pub use params::{find, normalize, Kind, ParamDef, PARAMS};

/// A configuration error at start-up, naming where it came from.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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

/// Values read on hot paths, refreshed after every change (one relaxed load to read).
#[derive(Debug, Default)]
pub struct Live {
    pub timeout_secs: AtomicU64,
    pub tcp_keepalive: AtomicU64,
    pub maxclients: AtomicU64,
    pub proto_max_bulk_len: AtomicU64,
    pub maxmemory: AtomicU64,
    pub maxmemory_samples: AtomicU64,
    pub eviction_tenacity: AtomicU64,
    pub reserved_memory_percent: AtomicU64,
    pub min_replicas_to_write: AtomicU64,
    pub replica_read_only: std::sync::atomic::AtomicBool,
    pub replica_serve_stale_data: std::sync::atomic::AtomicBool,
    pub min_replicas_max_lag: AtomicU64,
    pub hll_sparse_max_bytes: AtomicU64,
    pub stream_node_max_entries: AtomicU64,
    /// `client-output-buffer-limit` of the pubsub, normal and replica classes.
    pub pubsub_limit: BufferLimit,
    pub normal_limit: BufferLimit,
    /// The replica class's hard limit: a replica link whose unsent stream passes it is closed.
    pub replica_limit: BufferLimit,
    /// `maxmemory-clients` in bytes (a percentage resolved against maxmemory); 0 = off.
    pub maxmemory_clients: AtomicU64,
    pub query_buffer_limit: AtomicU64,
    pub hz: AtomicU64,
    /// SLOWLOG threshold in microseconds; negative = off.
    pub slowlog_slower_than: std::sync::atomic::AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// LATENCY spikes threshold in milliseconds; 0 = off.
    pub latency_threshold_ms: AtomicU64,
    /// Per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM).
    pub latency_tracking: AtomicBool,
    /// `tracking-table-max-keys` (0 = no limit).
    pub tracking_max_keys: AtomicU64,
    pub protected_mode: AtomicBool,
    pub has_password: AtomicBool,
    /// Collection encoding thresholds.
    pub limits: RwLock<crate::engine::collections::Limits>,
}

/// The running configuration.
#[derive(Debug)]
pub struct Config {
    values: RwLock<Vec<String>>,
    pub file: Option<PathBuf>,
    pub live: Live,
}

/// One directive: a parameter name and its arguments (redis.conf line or `--name args...`).
#[derive(Debug, Clone)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    /// Where it came from, for error messages (`line 12` or `the command line`).
    pub origin: String,
    pub text: String,
}

impl Config {
    /// All defaults.
    pub fn defaults() -> Config {
        let c = Config {
            values: RwLock::new(PARAMS.iter().map(|p| p.default.to_string()).collect()),
            file: None,
            live: Live::default(),
        };
        c.refresh();
        c
    }

    /// Builds the configuration from an optional file and command-line directives.
    pub fn load(file: Option<&Path>, overrides: &[Directive]) -> Result<Config, ConfigError> {
        let mut c = Config::defaults();
        let mut directives = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!(
                    "Fatal error, can't open config file '{}': {e}",
                    path.display()
                ))
            })?;
            directives = parse_text(&text)?;
            c.file = Some(path.to_path_buf());
        }
        directives.extend_from_slice(overrides);
        for d in &directives {
            c.apply_directive(d)?;
        }
        c.refresh();
        Ok(c)
    }

    fn apply_directive(&self, d: &Directive) -> Result<(), ConfigError> {
        let fail = |msg: &str| {
            ConfigError(format!(
                "\n*** FATAL CONFIG FILE ERROR (ferrocache {}) ***\nReading the configuration file, at {}\n>>> '{}'\n{}",
                env!("CARGO_PKG_VERSION"),
                d.origin,
                d.text,
                msg
            ))
        };
        let idx =
            find(&d.name).ok_or_else(|| fail("Bad directive or wrong number of arguments"))?;
        let def = &PARAMS[idx];
        let joined = d.args.join(" ");
        // Multi-word values are only meaningful for these (as in redis.conf).
        let multi = matches!(
            def.name,
            "bind"
                | "save"
                | "client-output-buffer-limit"
                | "replicaof"
                | "latency-tracking-info-percentiles"
                | "oom-score-adj-values"
        );
        if d.args.len() != 1 && !multi {
            return Err(fail("wrong number of arguments"));
        }
        let v = normalize(def, &joined).map_err(|e| fail(&e))?;
        self.values.write()[idx] = v;
        Ok(())
    }

    /// Current value of a parameter by name. Panics on an unknown name (a programming error).
    pub fn get(&self, name: &str) -> String {
        let i = find(name).unwrap_or_else(|| panic!("unknown config parameter {name}"));
        self.values.read()[i].clone()
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    /// Name/value pairs of every parameter matching any of the glob patterns (CONFIG GET).
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(&'static str, String)> {
        let values = self.values.read();
        let mut out = Vec::new();
        for (i, def) in PARAMS.iter().enumerate() {
            let names = std::iter::once(def.name).chain(def.alias);
            for name in names {
                if patterns
                    .iter()
                    .any(|p| crate::engine::glob::matches(p, name.as_bytes(), true))
                {
                    out.push((name, values[i].clone()));
                }
            }
        }
        out
    }

    /// Sets several parameters at once: all are validated first, and none change unless all
    /// are valid (CONFIG SET). Errors are the text after `ERR `.
    pub fn set_many(&self, pairs: &[(&str, &str)]) -> Result<(), String> {
        let mut staged: Vec<(usize, String)> = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let Some(idx) = find(name) else {
                return Err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            };
            let def = &PARAMS[idx];
            let fail = |e: &str| {
                format!("CONFIG SET failed (possibly related to argument '{name}') - {e}")
            };
            if staged.iter().any(|(i, _)| *i == idx) {
                return Err(fail("duplicate parameter"));
            }
            if !def.mutable {
                return Err(fail("can't set immutable config"));
            }
            staged.push((idx, normalize(def, value).map_err(|e| fail(&e))?));
        }
        let mut values = self.values.write();
        for (idx, v) in staged {
            values[idx] = v;
        }
        drop(values);
        self.refresh();
        Ok(())
    }

    /// Recomputes the hot-path copies.
    pub fn refresh(&self) {
        let l = &self.live;
        let num = |n: &str| self.get_i64(n).max(0) as u64;
        l.timeout_secs.store(num("timeout"), Ordering::Relaxed);
        l.tcp_keepalive
            .store(num("tcp-keepalive"), Ordering::Relaxed);
        l.maxclients.store(num("maxclients"), Ordering::Relaxed);
        l.proto_max_bulk_len
            .store(num("proto-max-bulk-len"), Ordering::Relaxed);
        l.maxmemory.store(num("maxmemory"), Ordering::Relaxed);
        l.maxmemory_samples
            .store(num("maxmemory-samples"), Ordering::Relaxed);
        l.eviction_tenacity
            .store(num("maxmemory-eviction-tenacity"), Ordering::Relaxed);
        l.reserved_memory_percent
            .store(num("reserved-memory-percent"), Ordering::Relaxed);
        crate::engine::evict::configure(
            crate::engine::evict::Policy::from_name(&self.get("maxmemory-policy"))
                .unwrap_or(crate::engine::evict::Policy::NoEviction),
            num("lfu-log-factor") as u32,
            num("lfu-decay-time") as u32,
        );
        crate::metrics::memory::background_thread(self.get_bool("jemalloc-bg-thread"));
        l.min_replicas_to_write
            .store(num("min-replicas-to-write"), Ordering::Relaxed);
        l.min_replicas_max_lag
            .store(num("min-replicas-max-lag"), Ordering::Relaxed);
        l.replica_read_only
            .store(self.get("replica-read-only") == "yes", Ordering::Relaxed);
        l.replica_serve_stale_data
            .store(self.get_bool("replica-serve-stale-data"), Ordering::Relaxed);
        l.hll_sparse_max_bytes
            .store(num("hll-sparse-max-bytes"), Ordering::Relaxed);
        l.stream_node_max_entries
            .store(num("stream-node-max-entries"), Ordering::Relaxed);
        crate::engine::notify::set_flags(
            crate::engine::notify::parse(&self.get("notify-keyspace-events")).unwrap_or(0),
        );
        let obl = params::output_buffer_limits(&self.get("client-output-buffer-limit"));
        for (class, limit) in [
            ("pubsub", &l.pubsub_limit),
            ("normal", &l.normal_limit),
            ("slave", &l.replica_limit),
        ] {
            if let Some(v) = obl.get(class) {
                limit.set(*v);
            }
        }
        l.maxmemory_clients.store(
            params::memory_or_percent(&self.get("maxmemory-clients"), num("maxmemory")),
            Ordering::Relaxed,
        );
        l.query_buffer_limit
            .store(num("client-query-buffer-limit"), Ordering::Relaxed);
        l.hz.store(num("hz"), Ordering::Relaxed);
        crate::server::busy_poll::set_max_us(num("busy-poll-us"));
        l.slowlog_slower_than
            .store(self.get_i64("slowlog-log-slower-than"), Ordering::Relaxed);
        l.slowlog_max_len
            .store(num("slowlog-max-len"), Ordering::Relaxed);
        l.latency_threshold_ms
            .store(num("latency-monitor-threshold"), Ordering::Relaxed);
        l.tracking_max_keys
            .store(num("tracking-table-max-keys"), Ordering::Relaxed);
        l.latency_tracking
            .store(self.get_bool("latency-tracking"), Ordering::Relaxed);
        l.protected_mode
            .store(self.get_bool("protected-mode"), Ordering::Relaxed);
        l.has_password
            .store(!self.get("requirepass").is_empty(), Ordering::Relaxed);
        let size = |n: &str| self.get_i64(n).max(0) as usize;
        *l.limits.write() = crate::engine::collections::Limits {
            hash_entries: size("hash-max-listpack-entries"),
            hash_value: size("hash-max-listpack-value"),
            set_intset_entries: size("set-max-intset-entries"),
            zset_entries: size("zset-max-listpack-entries"),
            zset_value: size("zset-max-listpack-value"),
        };
    }

    /// Rewrites the config file with the current values (CONFIG REWRITE): lines for changed
    /// parameters are replaced in place, comments are kept, new settings are appended.
    pub fn rewrite(&self) -> Result<(), String> {
        let path = self
            .file
            .as_ref()
            .ok_or_else(|| "The server is running without a config file".to_string())?;
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let values = self.values.read().clone();
        let mut written = vec![false; PARAMS.len()];
        let mut out = String::new();
        for line in old.lines() {
            let idx = parse_line(line).ok().flatten().and_then(|d| find(&d.name));
            match idx {
                Some(i) if written[i] => continue,
                Some(i) => {
                    written[i] = true;
                    out.push_str(&render(PARAMS[i].name, &values[i]));
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
        let mut header = false;
        for (i, def) in PARAMS.iter().enumerate() {
            if !written[i] && values[i] != def.default {
                if !header {
                    out.push_str("# Generated by CONFIG REWRITE\n");
                    header = true;
                }
                out.push_str(&render(def.name, &values[i]));
                out.push('\n');
            }
        }
        let tmp = path.with_extension("rewrite.tmp");
        std::fs::write(&tmp, out)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("Rewriting config file: {e}"))
    }
}

/// A value as a config-file line: quoted when empty or containing spaces (except bind/save).
fn render(name: &str, value: &str) -> String {
    if value.is_empty() {
        format!("{name} \"\"")
    } else if matches!(name, "bind" | "save") || !value.contains([' ', '"', '\'']) {
        format!("{name} {value}")
    } else {
        format!(
            "{name} \"{}\"",
            value.replace('\\', "\\\\").replace('"', "\\\"")
        )
    }
}

/// Parses one config-file line; `Ok(None)` for blanks and comments.
fn parse_line(line: &str) -> Result<Option<Directive>, ()> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let mut scratch = Vec::new();
    let mut ranges = Vec::new();
    crate::protocol::parser::split_inline_args(t.as_bytes(), &mut scratch, &mut ranges)?;
    let mut words = ranges
        .iter()
        .map(|r| String::from_utf8_lossy(&scratch[r.clone()]).into_owned());
    let Some(name) = words.next() else {
        return Ok(None);
    };
    Ok(Some(Directive {
        name: name.to_ascii_lowercase(),
        args: words.collect(),
        origin: String::new(),
        text: t.to_string(),
    }))
}

/// Parses redis.conf-syntax text into directives.
pub fn parse_text(text: &str) -> Result<Vec<Directive>, ConfigError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(mut d)) => {
                d.origin = format!("line {}", n + 1);
                out.push(d);
            }
            Ok(None) => {}
            Err(()) => {
                return Err(ConfigError(format!(
                    "\n*** FATAL CONFIG FILE ERROR ***\nReading the configuration file, at line {}\n>>> '{}'\nUnbalanced quotes in configuration line",
                    n + 1,
                    line.trim()
                )))
            }
        }
    }
    Ok(out)
}

/// Turns `--port 6380 --save "" --bind a b` into directives, as redis-server does.
pub fn parse_args(args: &[String]) -> Result<Vec<Directive>, ConfigError> {
    let mut out: Vec<Directive> = Vec::new();
    for a in args {
        if let Some(name) = a.strip_prefix("--") {
            out.push(Directive {
                name: name.to_ascii_lowercase(),
                args: vec![],
                origin: "the command line".into(),
                text: a.clone(),
            });
        } else if let Some(d) = out.last_mut() {
            d.args.push(a.clone());
            d.text.push(' ');
            d.text.push_str(a);
        } else {
            return Err(ConfigError(format!(
                "Unexpected argument '{a}': options are written --name value"
            )));
        }
    }
    // `--save` alone means an empty value, like `save ""`.
    for d in &mut out {
        if d.args.is_empty() {
            d.args.push(String::new());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README says every parameter is in the shipped file, set or shown commented out.
    #[test]
    fn the_shipped_file_lists_every_parameter() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/ferrocache.conf");
        let text = std::fs::read_to_string(path).unwrap();
        let listed: std::collections::HashSet<&str> = text
            .lines()
            .map(|l| l.trim_start_matches("# ").trim())
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let missing: Vec<&str> = PARAMS
            .iter()
            .map(|p| p.name)
            .filter(|n| !listed.contains(n))
            .collect();
        assert!(
            missing.is_empty(),
            "not in config/ferrocache.conf: {missing:?}"
        );
    }

    #[test]
    fn file_then_args_override() {
        let dir = std::env::temp_dir().join(format!("fc-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.conf");
        std::fs::write(
            &path,
            "# comment\nport 7000\ntimeout 5\nrequirepass \"a b\"\n",
        )
        .unwrap();
        let args = parse_args(&["--port".into(), "7001".into()]).unwrap();
        let c = Config::load(Some(&path), &args).unwrap();
        assert_eq!(c.get("port"), "7001");
        assert_eq!(c.get("timeout"), "5");
        assert_eq!(c.get("requirepass"), "a b");
        c.set_many(&[("timeout", "9")]).unwrap();
        c.rewrite().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# comment"));
        assert!(text.contains("timeout 9"));
        assert!(text.contains("requirepass \"a b\""));
    }

    #[test]
    fn bad_line_is_named() {
        let err =
            Config::load(None, &parse_args(&["--nosuch".into(), "1".into()]).unwrap()).unwrap_err();
        assert!(err.0.contains("Bad directive"), "{}", err.0);
        let e = match parse_text("port 1\nport abc\n").map(|d| {
            let c = Config::defaults();
            d.iter().try_for_each(|d| c.apply_directive(d))
        }) {
            Ok(Err(e)) => e.0,
            _ => panic!(),
        };
        assert!(e.contains("line 2") && e.contains("port abc"), "{e}");
    }

    #[test]
    fn set_many_is_all_or_nothing() {
        let c = Config::defaults();
        let err = c
            .set_many(&[("timeout", "5"), ("maxclients", "x")])
            .unwrap_err();
        assert!(err.contains("maxclients"));
        assert_eq!(c.get("timeout"), "0");
        assert!(c
            .set_many(&[("port", "1")])
            .unwrap_err()
            .contains("immutable"));
        assert!(c
            .set_many(&[("nosuch", "1")])
            .unwrap_err()
            .starts_with("Unknown option"));
    }
}
