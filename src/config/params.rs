//! The parameter table: every configuration parameter, its type, default and mutability, and
//! the typed `Settings` generated with it (one slot per row, see `settings`). Adding a
//! parameter means adding one row here and reading its slot where it acts.

use super::settings::{self, Flag, Num, OnChange, Text};

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

pub struct ParamDef {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub mutable: bool,
    /// Stores the normalised text in the parameter's slot.
    pub load: fn(&Settings, &str),
    /// Runs after the slot changed: what the engine or the derived values keep of it.
    pub apply: Option<fn(&Settings)>,
    /// What the server must do about the change.
    pub on_change: OnChange,
}

impl std::fmt::Debug for ParamDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamDef")
            .field("name", &self.name)
            .finish()
    }
}

impl ParamDef {
    const fn alias(mut self, alias: &'static str) -> Self {
        self.alias = Some(alias);
        self
    }

    const fn apply(mut self, hook: fn(&Settings)) -> Self {
        self.apply = Some(hook);
        self
    }

    const fn on_change(mut self, what: OnChange) -> Self {
        self.on_change = what;
        self
    }
}

/// The row's loader is filled in by `settings!`.
fn unset(_: &Settings, _: &str) {}

const fn p(name: &'static str, kind: Kind, default: &'static str, mutable: bool) -> ParamDef {
    ParamDef {
        name,
        alias: None,
        kind,
        default,
        mutable,
        load: unset,
        apply: None,
        on_change: OnChange::Nothing,
    }
}

/// A mutable non-negative size parameter with an old name that still works.
const fn a(name: &'static str, alias: &'static str, default: &'static str) -> ParamDef {
    p(
        name,
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default,
        true,
    )
    .alias(alias)
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

/// Generates `Settings` (a slot per row, and the values derived from them) and `PARAMS` (the
/// rows, each with a loader into its slot).
macro_rules! settings {
    ($($field:ident: $ty:ident = $row:expr;)*) => {
        /// Every parameter's current value, typed (see `settings`).
        #[derive(Debug, Default)]
        pub struct Settings {
            $(pub $field: $ty,)*
            pub derived: settings::Derived,
        }

        #[rustfmt::skip]
        pub static PARAMS: &[ParamDef] = &[
            $(ParamDef { load: |s, v| s.$field.load(v), ..$row },)*
        ];
    };
}

// Every parameter ferrocache understands, one row each: its slot in `Settings` (the field),
// the slot's type, and the row (name, kind, default, mutable; an alias; an apply hook, and
// what the server must do when it changes).
settings! {
    // Network
    bind: Text = p("bind", Kind::Custom(check_bind), "127.0.0.1 -::1", false);
    port: Num = p("port", Kind::Int { min: 0, max: 65535 }, "6379", false);
    tcp_backlog: Num = p("tcp-backlog", Kind::Int { min: 0, max: i32::MAX as i64 }, "511", false);
    timeout: Num = p("timeout", Kind::Int { min: 0, max: i32::MAX as i64 }, "0", true);
    tcp_keepalive: Num = p("tcp-keepalive", Kind::Int { min: 0, max: i32::MAX as i64 }, "300", true);
    protected_mode: Flag = p("protected-mode", Kind::Bool, "yes", true);
    maxclients: Num = p("maxclients", Kind::Int { min: 1, max: u32::MAX as i64 }, "10000", true);
    // Threads that run connections and their commands; 0 = one per CPU core. One thread (a
    // single-threaded runtime, no cross-thread wake-ups) is fastest when the server shares a
    // small machine with its clients; more threads scale across cores given the cores.
    io_threads: Num = p("io-threads", Kind::Int { min: 0, max: 128 }, "1", false);
    // TLS
    tls_port: Num = p("tls-port", Kind::Int { min: 0, max: 65535 }, "0", false);
    tls_cert_file: Text = p("tls-cert-file", Kind::Str, "", false);
    tls_key_file: Text = p("tls-key-file", Kind::Str, "", false);
    tls_ca_cert_file: Text = p("tls-ca-cert-file", Kind::Str, "", false);
    tls_auth_clients: Text = p("tls-auth-clients", Kind::Enum(&["yes", "no", "optional"]), "yes", false);
    // ElastiCache transit-encryption modes: `off` = Redis's behaviour (TLS only on tls-port);
    // `preferred` = `port` accepts both TLS and plaintext; `required` = `port` accepts TLS only.
    tls_mode: Text = p("tls-mode", Kind::Enum(&["off", "preferred", "required"]), "off", false);
    // Security and protocol limits (Redis's minimum of 1 MB keeps a CONFIG SET from locking
    // every client out).
    // The default ACL user's password (as in Redis: setting it replaces the user's passwords).
    requirepass: Text = p("requirepass", Kind::Str, "", true).on_change(OnChange::Password);
    // Memory limit. Over it, commands that add data fail with -OOM (the `noeviction` policy);
    // eviction policies come with issue 5.
    maxmemory: Num = p("maxmemory", Kind::Memory { min: 0, max: i64::MAX as u64 }, "0", true).apply(settings::apply_client_memory).on_change(OnChange::Memory);
    // What goes when over maxmemory (Redis's default; ElastiCache's is volatile-lru), how many
    // keys each eviction samples per database, and how long one round may run.
    maxmemory_policy: Text = p("maxmemory-policy", Kind::Enum(&crate::engine::evict::Policy::NAMES), "noeviction", true).apply(settings::apply_eviction);
    maxmemory_samples: Num = p("maxmemory-samples", Kind::Int { min: 1, max: 64 }, "5", true);
    maxmemory_eviction_tenacity: Num = p("maxmemory-eviction-tenacity", Kind::Int { min: 0, max: 100 }, "10", true);
    lfu_log_factor: Num = p("lfu-log-factor", Kind::Int { min: 0, max: i32::MAX as i64 }, "10", true).apply(settings::apply_eviction);
    lfu_decay_time: Num = p("lfu-decay-time", Kind::Int { min: 0, max: i32::MAX as i64 }, "1", true).apply(settings::apply_eviction);
    // jemalloc's background thread returns freed pages to the system (Redis's default too):
    // without it RSS keeps the pages a growing table freed until the next allocator activity.
    jemalloc_bg_thread: Flag = p("jemalloc-bg-thread", Kind::Bool, "yes", true).on_change(OnChange::AllocatorThread);
    // ElastiCache's share of maxmemory kept back from data for buffers and snapshots: keys are
    // evicted (or writes refused) at maxmemory * (100 - this) / 100.
    reserved_memory_percent: Num = p("reserved-memory-percent", Kind::Int { min: 0, max: 100 }, "0", true);
    // Per class: hard limit, soft limit, soft seconds. Enforced for pubsub subscribers. A SET
    // names the classes it changes; the others return to their defaults.
    notify_keyspace_events: Text = p("notify-keyspace-events", Kind::Custom(check_notify), "", true).apply(settings::apply_notify);
    // Memory all clients' buffers may take together before the largest clients are closed
    // (client eviction, Redis 7): bytes, or a percentage of maxmemory; 0 = no limit.
    maxmemory_clients: Text = p("maxmemory-clients", Kind::Custom(check_memory_or_percent), "0", true).apply(settings::apply_client_memory);
    client_output_buffer_limit: Text = p("client-output-buffer-limit", Kind::Custom(check_output_buffer_limit), "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", true).apply(settings::apply_output_limits);
    proto_max_bulk_len: Num = p("proto-max-bulk-len", Kind::Memory { min: 1 << 20, max: i64::MAX as u64 }, "536870912", true);
    client_query_buffer_limit: Num = p("client-query-buffer-limit", Kind::Memory { min: 1 << 20, max: i64::MAX as u64 }, "1073741824", true);
    // Writes need this many replicas that acked within min-replicas-max-lag seconds (0 or a
    // lag of 0 turns the check off), else -NOREPLICAS.
    min_replicas_to_write: Num = p("min-replicas-to-write", Kind::Int { min: 0, max: i32::MAX as i64 }, "0", true).alias("min-slaves-to-write");
    min_replicas_max_lag: Num = p("min-replicas-max-lag", Kind::Int { min: 0, max: i32::MAX as i64 }, "10", true).alias("min-slaves-max-lag");
    // Replication: the backlog a replica resumes from after a broken link, how often the
    // primary PINGs its replicas, and how long a silent link lives.
    repl_backlog_size: Num = p("repl-backlog-size", Kind::Memory { min: 1, max: i64::MAX as u64 }, "1048576", true).on_change(OnChange::Backlog);
    repl_ping_replica_period: Num = p("repl-ping-replica-period", Kind::Int { min: 1, max: i32::MAX as i64 }, "10", true).alias("repl-ping-slave-period");
    repl_timeout: Num = p("repl-timeout", Kind::Int { min: 1, max: i32::MAX as i64 }, "60", true);
    // The primary to follow ("host port"; empty: none), how to authenticate to it, and
    // whether clients may write to the replica.
    replicaof: Text = p("replicaof", Kind::Str, "", false).alias("slaveof");
    masterauth: Text = p("masterauth", Kind::Str, "", true);
    masteruser: Text = p("masteruser", Kind::Str, "", true);
    replica_read_only: Flag = p("replica-read-only", Kind::Bool, "yes", true).alias("slave-read-only");
    enable_debug_command: Text = p("enable-debug-command", Kind::Enum(&["no", "yes", "local"]), "no", false);
    // Keyspace
    databases: Num = p("databases", Kind::Int { min: 1, max: 1024 }, "16", false);
    keyspace_shards: Text = p("keyspace-shards", Kind::Custom(check_shards), "16", false);
    // Background task frequency; values outside 1..=500 are clamped when used, as in Redis.
    hz: Num = p("hz", Kind::Int { min: 0, max: i32::MAX as i64 }, "10", true);
    // Encoding thresholds of small collections (OBJECT ENCODING), as Redis's.
    hash_max_listpack_entries: Num = a("hash-max-listpack-entries", "hash-max-ziplist-entries", "512").apply(settings::apply_encoding_limits);
    hash_max_listpack_value: Num = a("hash-max-listpack-value", "hash-max-ziplist-value", "64").apply(settings::apply_encoding_limits);
    // Sparse HyperLogLogs become dense past this many bytes.
    hll_sparse_max_bytes: Num = p("hll-sparse-max-bytes", Kind::Memory { min: 0, max: i64::MAX as u64 }, "3000", true);
    // Stream node sizes: entries shape `~` trimming; the byte limit is accepted, not modelled.
    stream_node_max_entries: Num = p("stream-node-max-entries", Kind::Int { min: 0, max: i64::MAX }, "100", true);
    stream_node_max_bytes: Num = p("stream-node-max-bytes", Kind::Memory { min: 0, max: i64::MAX as u64 }, "4096", true);
    set_max_intset_entries: Num = p("set-max-intset-entries", Kind::Int { min: 0, max: i64::MAX }, "512", true).apply(settings::apply_encoding_limits);
    zset_max_listpack_entries: Num = a("zset-max-listpack-entries", "zset-max-ziplist-entries", "128").apply(settings::apply_encoding_limits);
    zset_max_listpack_value: Num = a("zset-max-listpack-value", "zset-max-ziplist-value", "64").apply(settings::apply_encoding_limits);
    // Lists are one VecDeque whatever their size (Redis 7.0 reports "quicklist" for every list),
    // so the quicklist node size and compression depth are accepted and have no effect.
    list_max_listpack_size: Num = p("list-max-listpack-size", Kind::Int { min: i32::MIN as i64, max: i32::MAX as i64 }, "-2", true).alias("list-max-ziplist-size");
    list_compress_depth: Num = p("list-compress-depth", Kind::Int { min: 0, max: i32::MAX as i64 }, "0", true);
    // Persistence: SAVE, BGSAVE and the save points write `dir`/`dbfilename`, loaded at
    // startup (Redis's default save points).
    save: Text = p("save", Kind::Custom(check_save), "3600 1 300 100 60 10000", true);
    // Microseconds a save waits per key, and a load per key: for tests that need a save or a
    // load to last (as in Redis).
    rdb_key_save_delay: Num = p("rdb-key-save-delay", Kind::Int { min: i32::MIN as i64, max: i32::MAX as i64 }, "0", true);
    key_load_delay: Num = p("key-load-delay", Kind::Int { min: i32::MIN as i64, max: i32::MAX as i64 }, "0", true);
    // How often Redis serves clients (with -LOADING) while it loads; here clients are served
    // throughout, on other threads than the load.
    loading_process_events_interval_bytes: Num = p("loading-process-events-interval-bytes", Kind::Int { min: 1024, max: i32::MAX as i64 }, "2097152", true);
    // The AOF (`persistence::aof`); CONFIG SET turns it on (a rewrite writes its base first)
    // or off.
    appendonly: Text = p("appendonly", Kind::Custom(check_appendonly), "no", true).on_change(OnChange::AppendOnly);
    // What SIGTERM does (SHUTDOWN's flags); shutdown-timeout: how long a primary waits for its
    // replicas to catch up before it exits (`server::shutdown`).
    shutdown_on_sigterm: Text = p("shutdown-on-sigterm", Kind::Custom(check_shutdown_flags), "default", true);
    shutdown_on_sigint: Text = p("shutdown-on-sigint", Kind::Custom(check_shutdown_flags), "default", true);
    shutdown_timeout: Num = p("shutdown-timeout", Kind::Int { min: 0, max: i32::MAX as i64 }, "10", true);
    // How far RESTORE and loads check a payload: here always fully (every payload is decoded
    // into the keyspace's own structures, so a bad one is refused whole, never half read);
    // accepted with Redis's values for its configs and test suites.
    sanitize_dump_payload: Text = p("sanitize-dump-payload", Kind::Enum(&["no", "yes", "clients"]), "no", true);
    // yes: a rewrite keeps the AOF's older files, named as history in the manifest.
    aof_disable_auto_gc: Flag = p("aof-disable-auto-gc", Kind::Bool, "no", true).on_change(OnChange::AofHistory);
    dir: Text = p("dir", Kind::Str, ".", false);
    dbfilename: Text = p("dbfilename", Kind::Str, "dump.rdb", true);
    // Commands slower than this many microseconds go to SLOWLOG (negative = none, 0 = all),
    // which keeps the newest slowlog-max-len; latency spikes of at least this many ms go to
    // LATENCY (0 = off); per-command latency histograms feed INFO latencystats at these
    // percentiles.
    slowlog_log_slower_than: Num = p("slowlog-log-slower-than", Kind::Int { min: i64::MIN, max: i64::MAX }, "10000", true);
    slowlog_max_len: Num = p("slowlog-max-len", Kind::Int { min: 0, max: i64::MAX }, "128", true);
    // A script running longer than this many ms is "busy": other clients get -BUSY and may
    // SCRIPT KILL it (0 = never).
    busy_reply_threshold: Num = p("busy-reply-threshold", Kind::Int { min: 0, max: i64::MAX }, "5000", true).alias("lua-time-limit");
    latency_monitor_threshold: Num = p("latency-monitor-threshold", Kind::Int { min: 0, max: i64::MAX }, "0", true);
    latency_tracking: Flag = p("latency-tracking", Kind::Bool, "yes", true);
    // Keys the client-tracking table may hold; past it, keys are dropped from the table and
    // their readers told (as if the keys had changed). 0 = no limit.
    tracking_table_max_keys: Num = p("tracking-table-max-keys", Kind::Int { min: 0, max: i64::MAX }, "1000000", true);
    latency_tracking_info_percentiles: Text = p("latency-tracking-info-percentiles", Kind::Custom(check_percentiles), "50 99 99.9", true);
    // Metrics: CloudWatch-named metrics over periods of this many seconds (INFO cloudwatch),
    // Prometheus /metrics on this port (0 = off), and an EMF document per period appended to
    // this file ("-" = standard output, empty = off) with these dimensions and namespace.
    metrics_period: Num = p("metrics-period", Kind::Int { min: 1, max: 86400 }, "60", true);
    metrics_port: Num = p("metrics-port", Kind::Int { min: 0, max: 65535 }, "0", false);
    metrics_emf_file: Text = p("metrics-emf-file", Kind::Str, "", true);
    cloudwatch_cluster_id: Text = p("cloudwatch-cluster-id", Kind::Str, "ferrocache", true);
    cloudwatch_node_id: Text = p("cloudwatch-node-id", Kind::Str, "0001", true);
    cloudwatch_namespace: Text = p("cloudwatch-namespace", Kind::Str, "Ferrocache/ElastiCache", true);
    // Logging
    loglevel: Text = p("loglevel", Kind::Enum(LOGLEVELS), "notice", true).on_change(OnChange::LogLevel);
    logfile: Text = p("logfile", Kind::Str, "", false);
    // elasticache-json / elasticache-text: ElastiCache's engine-log delivery fields.
    log_format: Text = p("log-format", Kind::Enum(&["plain", "json", "elasticache-json", "elasticache-text"]), "plain", false);
    // The slow log as ElastiCache delivers it, appended to this file ("-" = stdout, empty = off).
    slowlog_delivery_file: Text = p("slowlog-delivery-file", Kind::Str, "", true);
    slowlog_delivery_format: Text = p("slowlog-delivery-format", Kind::Enum(&["json", "text"]), "json", true);
    pidfile: Text = p("pidfile", Kind::Str, "", false);
    // ferrocache's: with one I/O thread, poll the sockets for up to this many microseconds
    // (an adaptive window) before the event loop sleeps; 0 = never (src/server/busy_poll.rs).
    busy_poll_us: Num = p("busy-poll-us", Kind::Int { min: 0, max: 1_000_000 }, "50", true).on_change(OnChange::BusyPoll);
    // Redis's: fork into the background. ferrocache stays in the foreground under its
    // supervisor (systemd, Docker); `yes` is refused at startup rather than ignored.
    daemonize: Flag = p("daemonize", Kind::Bool, "no", false);
    // How a supervisor is told the server is ready: `systemd` (or `auto` under systemd) sends
    // READY=1 to $NOTIFY_SOCKET once listening, for units of Type=notify (Debian's).
    supervised: Text = p("supervised", Kind::Enum(&["upstart", "systemd", "auto", "no"]), "no", false);
    // A replica whose link is down answers only commands flagged `stale` (INFO, PING, ...)
    // when this is no: the others get -MASTERDOWN. Its priority is reported for Sentinel.
    replica_serve_stale_data: Flag = p("replica-serve-stale-data", Kind::Bool, "yes", true).alias("slave-serve-stale-data");
    replica_priority: Num = p("replica-priority", Kind::Int { min: 0, max: i32::MAX as i64 }, "100", true).alias("slave-priority");
    // `no`: snapshots (SAVE and a replica's full sync) end with a zero checksum, and loading
    // one (at startup, or a primary's) does not verify its checksum, as in Redis. A zero
    // checksum is never verified.
    rdbchecksum: Flag = p("rdbchecksum", Kind::Bool, "yes", false);

    // Accepted so that a Redis 7 configuration file loads, reported by CONFIG GET, and with
    // no effect, for the reason given.
    // Strings are written to snapshots uncompressed whatever this says (every reader takes both).
    rdbcompression: Flag = p("rdbcompression", Kind::Bool, "yes", true).apply(settings::apply_rdb_compression);
    // No background save, so none can fail, and no sync files to delete or fsync in steps.
    stop_writes_on_bgsave_error: Flag = p("stop-writes-on-bgsave-error", Kind::Bool, "yes", true);
    rdb_del_sync_files: Flag = p("rdb-del-sync-files", Kind::Bool, "no", true);
    rdb_save_incremental_fsync: Flag = p("rdb-save-incremental-fsync", Kind::Bool, "yes", true);
    // The AOF's files, sync, load and rewrite policies (`persistence::aof`).
    appendfilename: Text = p("appendfilename", Kind::Str, "appendonly.aof", false);
    appenddirname: Text = p("appenddirname", Kind::Str, "appendonlydir", false);
    appendfsync: Text = p("appendfsync", Kind::Enum(&["always", "everysec", "no"]), "everysec", true).apply(settings::apply_appendfsync);
    no_appendfsync_on_rewrite: Flag = p("no-appendfsync-on-rewrite", Kind::Bool, "no", true);
    auto_aof_rewrite_percentage: Num = p("auto-aof-rewrite-percentage", Kind::Int { min: 0, max: i32::MAX as i64 }, "100", true);
    auto_aof_rewrite_min_size: Num = p("auto-aof-rewrite-min-size", Kind::Memory { min: 0, max: i64::MAX as u64 }, "67108864", true);
    aof_load_truncated: Flag = p("aof-load-truncated", Kind::Bool, "yes", true);
    aof_use_rdb_preamble: Flag = p("aof-use-rdb-preamble", Kind::Bool, "yes", true);
    aof_timestamp_enabled: Flag = p("aof-timestamp-enabled", Kind::Bool, "no", true);
    aof_rewrite_incremental_fsync: Flag = p("aof-rewrite-incremental-fsync", Kind::Bool, "yes", true);
    // A full sync: streamed (diskless) or through dbfilename, after a delay that lets replicas
    // share one snapshot (`replication::fullsync`). A replica loads it into memory as it
    // arrives; Nagle stays off on the link.
    repl_diskless_sync: Flag = p("repl-diskless-sync", Kind::Bool, "yes", true);
    repl_diskless_sync_delay: Num = p("repl-diskless-sync-delay", Kind::Int { min: 0, max: i32::MAX as i64 }, "5", true);
    repl_diskless_sync_max_replicas: Num = p("repl-diskless-sync-max-replicas", Kind::Int { min: 0, max: i32::MAX as i64 }, "0", true);
    repl_diskless_load: Text = p("repl-diskless-load", Kind::Enum(&["disabled", "on-empty-db", "swapdb"]), "disabled", true);
    repl_disable_tcp_nodelay: Flag = p("repl-disable-tcp-nodelay", Kind::Bool, "no", true);
    // Values are freed on the thread that deletes them; large collections are one allocation
    // tree each, not Redis's lazily freed objects.
    replica_lazy_flush: Flag = p("replica-lazy-flush", Kind::Bool, "no", true).alias("slave-lazy-flush");
    lazyfree_lazy_eviction: Flag = p("lazyfree-lazy-eviction", Kind::Bool, "no", true);
    lazyfree_lazy_expire: Flag = p("lazyfree-lazy-expire", Kind::Bool, "no", true);
    lazyfree_lazy_server_del: Flag = p("lazyfree-lazy-server-del", Kind::Bool, "no", true);
    lazyfree_lazy_user_del: Flag = p("lazyfree-lazy-user-del", Kind::Bool, "no", true);
    lazyfree_lazy_user_flush: Flag = p("lazyfree-lazy-user-flush", Kind::Bool, "no", true);
    // Tables grow and shrink in steps of their own; `hz` is used as set.
    activerehashing: Flag = p("activerehashing", Kind::Bool, "yes", true);
    dynamic_hz: Flag = p("dynamic-hz", Kind::Bool, "yes", true);
    // ACL: the log's length, and whether new users may use every pub/sub channel.
    acllog_max_len: Num = p("acllog-max-len", Kind::Int { min: 0, max: i64::MAX }, "128", true);
    aclfile: Text = p("aclfile", Kind::Str, "", false);
    acl_pubsub_default: Text = p("acl-pubsub-default", Kind::Enum(&["allchannels", "resetchannels"]), "resetchannels", true).on_change(OnChange::AclPubsub);
    // The process: no logo, no process title, no transparent-huge-pages or OOM-score changes.
    always_show_logo: Flag = p("always-show-logo", Kind::Bool, "no", false);
    set_proc_title: Flag = p("set-proc-title", Kind::Bool, "yes", false);
    proc_title_template: Text = p("proc-title-template", Kind::Str, "{title} {listen-addr} {server-mode}", true);
    disable_thp: Flag = p("disable-thp", Kind::Bool, "yes", false);
    oom_score_adj: Text = p("oom-score-adj", Kind::Enum(&["no", "yes", "relative", "absolute"]), "no", true);
    oom_score_adj_values: Text = p("oom-score-adj-values", Kind::Custom(check_oom_values), "0 200 800", true);
}

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
    Ok(parts.join(" "))
}

/// `default`, or any of `save`/`nosave`, `now`, `force` (not save and nosave together).
fn check_shutdown_flags(v: &str) -> Result<String, String> {
    let words: Vec<String> = v.split_whitespace().map(str::to_ascii_lowercase).collect();
    let ok = match words.as_slice() {
        [w] if w == "default" => true,
        ws => {
            !ws.is_empty()
                && ws
                    .iter()
                    .all(|w| ["save", "nosave", "now", "force"].contains(&w.as_str()))
                && !(ws.contains(&"save".to_string()) && ws.contains(&"nosave".to_string()))
        }
    };
    if ok {
        Ok(words.join(" "))
    } else {
        Err("argument(s) must be one of the following: default, save, nosave, now, force".into())
    }
}

fn check_appendonly(v: &str) -> Result<String, String> {
    match v.to_ascii_lowercase().as_str() {
        "no" => Ok("no".into()),
        "yes" => Ok("yes".into()),
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
