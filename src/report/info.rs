//! INFO: Redis's sections and field names, each computed from a live counter.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::command::connection::REDIS_VERSION;
use crate::metrics::memory;
use crate::server::Server;

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
    // ElastiCache's addition, shown by default there too.
    "ssl",
];
const ALL_EXTRA: &[&str] = &["commandstats", "latencystats"];
/// Only when asked for by name (or `everything`).
const NAMED_ONLY: &[&str] = &["cloudwatch"];

/// Renders the requested sections (`[]` = default; `all`, `everything`, `default` accepted).
pub fn render(server: &Server, requested: &[String]) -> String {
    let mut wanted: Vec<&str> = Vec::new();
    let mut add = |s: &str| {
        let s = DEFAULT
            .iter()
            .chain(ALL_EXTRA)
            .chain(NAMED_ONLY)
            .find(|d| **d == s);
        if let Some(s) = s {
            if !wanted.contains(s) {
                wanted.push(s);
            }
        }
    };
    if requested.is_empty() {
        DEFAULT.iter().for_each(|s| add(s));
    }
    for r in requested {
        match r.as_str() {
            "default" => DEFAULT.iter().for_each(|s| add(s)),
            "all" => DEFAULT.iter().chain(ALL_EXTRA).for_each(|s| add(s)),
            "everything" => DEFAULT
                .iter()
                .chain(ALL_EXTRA)
                .chain(NAMED_ONLY)
                .for_each(|s| add(s)),
            other => add(other),
        }
    }
    // Sections come out in Redis's order whatever order they were asked in.
    let order: Vec<&str> = DEFAULT
        .iter()
        .chain(ALL_EXTRA)
        .chain(NAMED_ONLY)
        .copied()
        .collect();
    wanted.sort_by_key(|s| order.iter().position(|o| o == s));
    let mut out = String::with_capacity(4096);
    for (i, s) in wanted.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        section(server, s, &mut out);
    }
    out
}

/// (system, user) CPU seconds, as INFO prints them.
fn cpu_times(who: libc::c_int) -> (f64, f64) {
    let (sys, user) = crate::metrics::host::cpu_times(who);
    (sys as f64 / 1e6, user as f64 / 1e6)
}

fn section(server: &Server, name: &str, o: &mut String) {
    let stats = &server.stats;
    let cfg = &server.config;
    let ld = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let uptime = stats.started.elapsed().as_secs();
    match name {
        "server" => {
            let _ = write!(
                o,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nferrocache_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n\
                 redis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\n\
                 multiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\n\
                 run_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\n\
                 configured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                server.run_id,
                server.tcp_port.load(Ordering::Relaxed),
                crate::engine::now_ms() * 1000,
                uptime,
                uptime / 86400,
                cfg.hz.get(),
                cfg.hz.get(),
                crate::engine::lru_clock() & 0xFF_FFFF,
                std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
                cfg.file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            );
            if let Some(ms) = server.shutdown_wait.remaining_ms() {
                let _ = write!(o, "shutdown_in_milliseconds:{ms}\r\n");
            }
        }
        "clients" => {
            let clients = server.clients.snapshot();
            let _ = write!(
                o,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
                 client_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:{}\r\n\
                 tracking_clients:{}\r\nclients_in_timeout_table:{}\r\ntotal_blocking_keys:{}\r\ntotal_blocking_keys_on_nokey:0\r\n",
                // Replicas' links are counted apart (connected_slaves), as Redis counts them.
                server.clients.len().saturating_sub(server.replication.count()),
                cfg.maxclients.get(),
                clients.iter().map(|h| h.rbs.load(Ordering::Relaxed)).max().unwrap_or(0),
                clients.iter().map(|h| h.mailbox.pending()).max().unwrap_or(0),
                server.clients.blocking.blocked_clients()
                    + server.pause.held()
                    + server.shutdown_wait.blocked.load(Ordering::Relaxed),
                server.clients.tracking.counts().0,
                server.clients.blocking.with_timeout(),
                server.clients.blocking.blocking_keys(),
            );
        }
        "memory" => {
            let memory::Breakdown {
                m,
                startup,
                clients,
                overhead,
                dataset,
            } = server.memory_breakdown();
            let total = memory::total_system_memory();
            let ratio = memory::ratio;
            let diff = |a: u64, b: u64| (a as i64 - b as i64).to_string();
            let maxmemory = server.config.maxmemory.u();
            let n = |v: u64| v.to_string();
            let (vm_eval, scripts_eval, vm_functions, libs) = server.scripting.memory();
            let (libraries, functions) = server.scripting.function_counts();
            let backlog = server
                .journal
                .lock()
                .backlog
                .as_ref()
                .map_or(0, |b| b.histlen());
            let unsent: u64 = server
                .replication
                .links()
                .iter()
                .map(|l| l.feed.pending() as u64)
                .sum();
            let fields: Vec<(&str, String)> = vec![
                ("used_memory", n(m.allocated)),
                ("used_memory_human", memory::human(m.allocated)),
                ("used_memory_rss", n(m.rss)),
                ("used_memory_rss_human", memory::human(m.rss)),
                ("used_memory_peak", n(m.peak)),
                ("used_memory_peak_human", memory::human(m.peak)),
                (
                    "used_memory_peak_perc",
                    format!("{:.2}%", ratio(m.allocated, m.peak) * 100.0),
                ),
                ("used_memory_overhead", n(overhead)),
                ("used_memory_startup", n(startup)),
                ("used_memory_dataset", n(dataset)),
                (
                    "used_memory_dataset_perc",
                    format!(
                        "{:.2}%",
                        ratio(dataset, m.allocated.saturating_sub(startup)) * 100.0
                    ),
                ),
                ("allocator_allocated", n(m.allocated)),
                ("allocator_active", n(m.active)),
                ("allocator_resident", n(m.resident)),
                ("total_system_memory", n(total)),
                ("total_system_memory_human", memory::human(total)),
                ("used_memory_lua", n(vm_eval)),
                ("used_memory_vm_eval", n(vm_eval)),
                ("used_memory_lua_human", memory::human(vm_eval)),
                ("used_memory_scripts_eval", n(scripts_eval)),
                (
                    "number_of_cached_scripts",
                    n(server.scripting.count() as u64),
                ),
                ("number_of_functions", n(functions as u64)),
                ("number_of_libraries", n(libraries as u64)),
                ("used_memory_vm_functions", n(vm_functions)),
                ("used_memory_vm_total", n(vm_eval + vm_functions)),
                (
                    "used_memory_vm_total_human",
                    memory::human(vm_eval + vm_functions),
                ),
                ("used_memory_functions", n(libs)),
                ("used_memory_scripts", n(scripts_eval + libs)),
                (
                    "used_memory_scripts_human",
                    memory::human(scripts_eval + libs),
                ),
                ("maxmemory", n(maxmemory)),
                ("maxmemory_human", memory::human(maxmemory)),
                (
                    "maxmemory_policy",
                    crate::engine::evict::policy().name().to_string(),
                ),
                (
                    "allocator_frag_ratio",
                    format!("{:.2}", ratio(m.active, m.allocated)),
                ),
                ("allocator_frag_bytes", diff(m.active, m.allocated)),
                (
                    "allocator_rss_ratio",
                    format!("{:.2}", ratio(m.resident, m.active)),
                ),
                ("allocator_rss_bytes", diff(m.resident, m.active)),
                (
                    "rss_overhead_ratio",
                    format!("{:.2}", ratio(m.rss, m.resident)),
                ),
                ("rss_overhead_bytes", diff(m.rss, m.resident)),
                (
                    "mem_fragmentation_ratio",
                    format!("{:.2}", ratio(m.rss, m.allocated)),
                ),
                ("mem_fragmentation_bytes", diff(m.rss, m.allocated)),
                ("mem_not_counted_for_evict", n(0)),
                ("mem_replication_backlog", n(backlog)),
                // The backlog and what replicas' links hold unsent (Redis shares one buffer
                // between them; here each link keeps its own).
                ("mem_total_replication_buffers", n(backlog + unsent)),
                ("mem_clients_slaves", n(0)),
                ("mem_clients_normal", n(clients)),
                ("mem_cluster_links", n(0)),
                ("mem_aof_buffer", n(0)),
                ("mem_allocator", "jemalloc".to_string()),
                ("active_defrag_running", n(0)),
                ("lazyfree_pending_objects", n(0)),
                ("lazyfreed_objects", n(0)),
            ];
            o.push_str("# Memory\r\n");
            for (k, v) in fields {
                let _ = write!(o, "{k}:{v}\r\n");
            }
        }
        "persistence" => {
            let snap = &server.snapshots;
            let rw = &server.aof.rewrites;
            let now_ms = crate::engine::now_ms();
            let running = snap.in_progress();
            let enabling = server.aof.enable_requested.load(Ordering::Relaxed);
            let (cow_peak, cow, processed, total, secs) = if running {
                (
                    crate::engine::snapshot::peak_held(),
                    crate::engine::snapshot::held(),
                    snap.processed.load(Ordering::Relaxed),
                    snap.total.load(Ordering::Relaxed),
                    (now_ms.saturating_sub(snap.started_ms.load(Ordering::Relaxed)) / 1000) as i64,
                )
            } else {
                (0, 0, 0, 0, -1)
            };
            let perc = if total > 0 {
                (processed as f64 * 100.0 / total as f64).min(100.0)
            } else {
                0.0
            };
            let _ = write!(
                o,
                "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:{cow_peak}\r\ncurrent_cow_size:{cow}\r\n\
                 current_cow_size_age:0\r\ncurrent_fork_perc:{perc:.2}\r\ncurrent_save_keys_processed:{processed}\r\ncurrent_save_keys_total:{total}\r\n\
                 rdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\n\
                 rdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{secs}\r\nrdb_saves:{}\r\nrdb_last_cow_size:{}\r\n\
                 rdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\naof_enabled:{}\r\naof_rewrite_in_progress:{}\r\n\
                 aof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\n\
                 aof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\n\
                 aof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
                server.loading.on() as u8,
                stats.dirty.get(0),
                snap.rdb_in_progress() as u8,
                snap.last_save.load(Ordering::Relaxed),
                if snap.last_ok.load(Ordering::Relaxed) { "ok" } else { "err" },
                snap.last_secs.load(Ordering::Relaxed),
                snap.saves.load(Ordering::Relaxed),
                snap.last_cow.load(Ordering::Relaxed),
                snap.last_load_expired.load(Ordering::Relaxed),
                snap.last_load_keys.load(Ordering::Relaxed),
                (crate::persistence::aof::on() || enabling) as u8,
                // Turning the AOF on is its first rewrite: begun at the next tick of the
                // persistence cron, or after a running save (then scheduled, as in Redis).
                (rw.in_progress.load(Ordering::Relaxed) || (enabling && !running)) as u8,
                (rw.scheduled.load(Ordering::Relaxed) || (enabling && running)) as u8,
                if rw.count.load(Ordering::Relaxed) + rw.failures_in_a_row.load(Ordering::Relaxed) == 0 {
                    -1
                } else {
                    rw.last_secs.load(Ordering::Relaxed)
                },
                if rw.in_progress.load(Ordering::Relaxed) {
                    (now_ms.saturating_sub(rw.started_ms.load(Ordering::Relaxed)) / 1000) as i64
                } else {
                    -1
                },
                if rw.last_failed.load(Ordering::Relaxed) { "err" } else { "ok" },
                rw.count.load(Ordering::Relaxed),
                rw.failures_in_a_row.load(Ordering::Relaxed),
                if server.aof.write_failed.load(Ordering::Relaxed) { "err" } else { "ok" },
            );
            if crate::persistence::aof::on() {
                let a = &server.aof;
                let _ = write!(
                    o,
                    "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\naof_buffer_length:{}\r\n\
                     aof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
                    a.size.load(Ordering::Relaxed),
                    a.base_size.load(Ordering::Relaxed),
                    a.pending(),
                );
            }
            let l = &server.loading;
            if l.on() {
                let start = l.started.load(Ordering::Relaxed);
                let (total, done) = (
                    l.total.load(Ordering::Relaxed),
                    l.loaded.load(Ordering::Relaxed),
                );
                let perc = if total > 0 {
                    done as f64 * 100.0 / total as f64
                } else {
                    0.0
                };
                let elapsed = (now_ms / 1000).saturating_sub(start);
                let eta = if done > 0 {
                    (elapsed as f64 * (total.saturating_sub(done)) as f64 / done as f64) as u64
                } else {
                    1
                };
                let _ = write!(
                    o,
                    "loading_start_time:{start}\r\nloading_total_bytes:{total}\r\nloading_rdb_used_mem:0\r\n\
                     loading_loaded_bytes:{done}\r\nloading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n"
                );
            }
        }
        "stats" => {
            let repl = &server.replication;
            let ks = server.keyspace.stats();
            let rates = stats.ops_sampler.lock().rates();
            let pubsub = server.clients.pubsub.counts();
            let tracking = server.clients.tracking.counts();
            let _ = write!(
                o,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\n\
                 total_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:{}\r\n\
                 instantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\ninstantaneous_input_repl_kbps:0.00\r\n\
                 instantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\n\
                 expired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:{}\r\n\
                 evicted_keys:{}\r\nevicted_clients:{}\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\n\
                 keyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\n\
                 latest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\n\
                 active_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\n\
                 total_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\n\
                 tracking_total_prefixes:{}\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\n\
                 total_reads_processed:{}\r\ntotal_writes_processed:{}\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\n\
                 client_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n\
                 reply_buffer_shrinks:{}\r\nreply_buffer_expands:{}\r\n\
                 acl_access_denied_auth:{}\r\nacl_access_denied_cmd:{}\r\nacl_access_denied_key:{}\r\nacl_access_denied_channel:{}\r\n",
                ld(&stats.total_connections_received),
                ld(&stats.total_commands_processed),
                rates[0].round() as u64,
                ld(&stats.total_net_input_bytes),
                ld(&stats.total_net_output_bytes),
                ld(&repl.output_bytes),
                rates[1] / 1024.0,
                rates[2] / 1024.0,
                ld(&stats.rejected_connections),
                ld(&repl.sync_full),
                ld(&repl.sync_partial_ok),
                ld(&repl.sync_partial_err),
                ks.expired,
                ld(&stats.expire_cycle_usec) / 1000,
                ks.evicted,
                ld(&stats.evicted_clients),
                ks.hits,
                ks.misses,
                pubsub[0],
                pubsub[1],
                pubsub[2],
                tracking.1,
                tracking.2,
                tracking.3,
                ld(&stats.total_error_replies),
                ld(&stats.total_reads_processed),
                ld(&stats.total_writes_processed),
                ld(&stats.query_buffer_limit_disconnections),
                ld(&stats.output_buffer_limit_disconnections),
                ld(&stats.reply_buffer_shrinks),
                ld(&stats.reply_buffer_expands),
                ld(&stats.acl_access_denied_auth),
                ld(&stats.acl_access_denied_cmd),
                ld(&stats.acl_access_denied_key),
                ld(&stats.acl_access_denied_channel),
            );
        }
        "replication" if crate::replication::replica::is_replica() => {
            let l = server.replication.upstream.link.lock().clone();
            let now = crate::engine::now_ms();
            let up = l.status == crate::replication::replica::Status::Connected;
            let _ = write!(
                o,
                "# Replication\r\nrole:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n\
                 master_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\n",
                l.host,
                l.port,
                if up { "up" } else { "down" },
                if l.last_io_ms == 0 { -1 } else { (now.saturating_sub(l.last_io_ms) / 1000) as i64 },
                u8::from(l.status == crate::replication::replica::Status::Sync),
            );
            if !up {
                let since = now.saturating_sub(l.behind_since_ms) / 1000;
                let _ = write!(o, "master_link_down_since_seconds:{since}\r\n");
            }
            let _ = write!(
                o,
                "slave_read_repl_offset:{off}\r\nslave_repl_offset:{off}\r\nslave_priority:{}\r\nslave_read_only:{}\r\n\
                 replica_announced:1\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\n\
                 master_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:{off}\r\nsecond_repl_offset:-1\r\n\
                 repl_backlog_active:0\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
                cfg.replica_priority.get(),
                u8::from(cfg.replica_read_only.get()),
                l.replid.as_deref().unwrap_or("0000000000000000000000000000000000000000"),
                cfg.repl_backlog_size.get(),
                off = l.offset,
            );
        }
        "replication" => {
            let links = server.replication.links();
            let (offset, backlog) = {
                let st = server.journal.lock();
                let b = st
                    .backlog
                    .as_ref()
                    .map(|b| (b.size(), b.first_byte(), b.histlen()));
                (st.offset, b)
            };
            let _ = write!(
                o,
                "# Replication\r\nrole:master\r\nconnected_slaves:{}\r\n",
                links.len()
            );
            let now = crate::engine::now_ms();
            for (i, l) in links.iter().enumerate() {
                let state = if l.online.load(Ordering::Relaxed) {
                    "online"
                } else {
                    "wait_bgsave"
                };
                let lag = now.saturating_sub(l.ack_at_ms.load(Ordering::Relaxed)) / 1000;
                let _ = write!(
                    o,
                    "slave{i}:ip={},port={},state={state},offset={},lag={lag}\r\n",
                    l.ip,
                    l.port,
                    l.ack.load(Ordering::Relaxed)
                );
            }
            let (size, first, histlen) =
                backlog.unwrap_or((server.config.repl_backlog_size.get().max(0) as usize, 0, 0));
            let _ = write!(
                o,
                "master_failover_state:no-failover\r\nmaster_replid:{}\r\n\
                 master_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:{offset}\r\nsecond_repl_offset:-1\r\n\
                 repl_backlog_active:{}\r\nrepl_backlog_size:{size}\r\nrepl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{histlen}\r\n",
                server.replication.replid(),
                u8::from(backlog.is_some()),
            );
        }
        "cpu" => {
            // used_cpu_busy_poll (ferrocache's): of the above, the time spent polling the
            // sockets before sleeping (src/server/busy_poll.rs).
            let (sys, user) = cpu_times(libc::RUSAGE_SELF);
            // With one I/O thread, INFO runs on the thread that runs every command.
            let (msys, muser) = cpu_times(libc::RUSAGE_THREAD);
            let _ = write!(
                o,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\n\
                 used_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{msys:.6}\r\nused_cpu_user_main_thread:{muser:.6}\r\n\
                 used_cpu_busy_poll:{poll:.6}\r\n",
                poll = crate::server::busy_poll::polled_us() as f64 / 1e6,
            );
        }
        "modules" => o.push_str("# Modules\r\n"),
        "errorstats" => {
            o.push_str("# Errorstats\r\n");
            for (code, n) in stats.error_counts() {
                let _ = write!(o, "errorstat_{code}:count={n}\r\n");
            }
        }
        "cluster" => o.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "ssl" => {
            let cert = crate::server::tls::certificate_info(cfg);
            let tls = server.clients.snapshot().iter().filter(|h| h.tls).count();
            let tcp = server.clients.len().saturating_sub(tls);
            let enabled = cfg.tls_port.get() != 0 || cfg.tls_mode.get() != "off";
            let _ = write!(
                o,
                "# SSL\r\nssl_enabled:{}\r\nssl_current_certificate_not_before_date:{}\r\n\
                 ssl_current_certificate_not_after_date:{}\r\nssl_current_certificate_serial:{}\r\n\
                 tls_mode_connected_tcp_clients:{tcp}\r\ntls_mode_connected_tls_clients:{tls}\r\n",
                if enabled { "yes" } else { "no" },
                cert.as_ref().map_or("", |c| &c.not_before),
                cert.as_ref().map_or("", |c| &c.not_after),
                cert.as_ref().map_or("", |c| &c.serial),
            );
        }
        "keyspace" => {
            o.push_str("# Keyspace\r\n");
            for (i, db) in server.keyspace.dbs().iter().enumerate() {
                let keys = db.len();
                if keys > 0 {
                    let _ = write!(
                        o,
                        "db{i}:keys={keys},expires={},avg_ttl={}\r\n",
                        db.volatile_len(),
                        db.avg_ttl()
                    );
                }
            }
        }
        "commandstats" => {
            o.push_str("# Commandstats\r\n");
            for c in server.commands.iter_all() {
                let calls = c.stats.get(crate::command::table::CALLS);
                let rejected = c.stats.get(crate::command::table::REJECTED);
                let failed = c.stats.get(crate::command::table::FAILED);
                if calls == 0 && rejected == 0 && failed == 0 {
                    continue;
                }
                let usec = c.stats.get(crate::command::table::USEC);
                let per = if calls > 0 {
                    usec as f64 / calls as f64
                } else {
                    0.0
                };
                let _ = write!(
                    o,
                    "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
                    c.fullname
                );
            }
        }
        "latencystats" => {
            o.push_str("# Latencystats\r\n");
            let pcts = cfg.latency_tracking_info_percentiles.get();
            let pcts: Vec<(&str, f64)> = pcts
                .split_whitespace()
                .filter_map(|w| Some((w, w.parse().ok()?)))
                .collect();
            for c in server.commands.iter_all() {
                let Some(h) = c.hist.get() else { continue };
                let counts = crate::metrics::histogram::counts(h);
                if counts.iter().all(|&n| n == 0) {
                    continue;
                }
                let _ = write!(o, "latency_percentiles_usec_{}:", c.fullname);
                for (i, (label, p)) in pcts.iter().enumerate() {
                    let v = crate::metrics::histogram::percentile(&counts, *p);
                    let sep = if i > 0 { "," } else { "" };
                    let _ = write!(o, "{sep}p{label}={v}.000");
                }
                o.push_str("\r\n");
            }
        }
        "cloudwatch" => super::cloudwatch::render_info(server, o),
        _ => {}
    }
}
