//! The CloudWatch-named metrics: known traffic in one period, then the same numbers in INFO, in
//! `INFO cloudwatch`, in `/metrics` (parsed by Prometheus's own Python parser) and in the EMF
//! document (parsed as JSON).

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{ferrocache, free_port, run_python, Raw};

fn fields(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn info(c: &mut Raw, section: &str) -> HashMap<String, String> {
    let r = c.cmd(&["INFO", section]);
    // A bulk string: drop its length line.
    fields(r.split_once("\r\n").map_or("", |(_, body)| body))
}

fn num(m: &HashMap<String, String>, k: &str) -> f64 {
    m.get(k)
        .unwrap_or_else(|| panic!("{k} missing from {m:?}"))
        .parse()
        .unwrap()
}

fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

/// Ends the running period (changing `metrics-period` does) and waits until INFO shows it.
fn close_period(c: &mut Raw, seconds: &str) -> HashMap<String, String> {
    let before = info(c, "cloudwatch").get("period_end_ms").cloned();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "metrics-period", seconds]),
        "+OK\r\n"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let cw = info(c, "cloudwatch");
        if cw.get("period_end_ms") != before.as_ref() {
            return cw;
        }
        assert!(Instant::now() < deadline, "the period did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn known_traffic_in_every_surface() {
    let metrics_port = free_port();
    let dir = common::temp_dir("emf");
    let emf = dir.join("metrics.jsonl");
    let s = ferrocache(&[
        "--metrics-period",
        "3600",
        "--metrics-port",
        &metrics_port.to_string(),
        "--metrics-emf-file",
        emf.to_str().unwrap(),
        "--cloudwatch-cluster-id",
        "cache-0001-001",
        "--cloudwatch-node-id",
        "0001",
    ]);
    let mut c = Raw::connect(s.port);
    // The period that covers start-up ends here; the next starts from zeroed counters.
    close_period(&mut c, "3599");
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), "+OK\r\n");

    // 70 hits and 30 misses.
    for i in 0..10 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v"]), "+OK\r\n");
    }
    for i in 0..70 {
        assert_eq!(c.cmd(&["GET", &format!("k{}", i % 10)]), "$1\r\nv\r\n");
    }
    for i in 0..30 {
        assert_eq!(c.cmd(&["GET", &format!("missing{i}")]), "$-1\r\n");
    }
    // 3 keys reclaimed by active expiry (nobody reads them, so no extra misses).
    for i in 0..3 {
        c.cmd(&["SET", &format!("short{i}"), "v", "PX", "1"]);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while num(&info(&mut c, "stats"), "expired_keys") < 3.0 {
        assert!(Instant::now() < deadline, "keys did not expire");
        std::thread::sleep(Duration::from_millis(20));
    }
    // 2 rejected connections: no room above this one client.
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "1"]), "+OK\r\n");
    for _ in 0..2 {
        let mut extra = Raw::connect(s.port);
        assert!(extra
            .read_reply()
            .starts_with("-ERR max number of clients reached"));
    }
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "10000"]), "+OK\r\n");
    // 1 failed authentication.
    assert!(c
        .cmd(&["AUTH", "someone", "wrong"])
        .starts_with("-WRONGPASS"));
    // Evictions: a limit just above what is used, then writes past it.
    let used = num(&info(&mut c, "memory"), "used_memory");
    let limit = (used as u64 + 200_000).to_string();
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]);
    c.cmd(&["CONFIG", "SET", "maxmemory", &limit]);
    let big = "x".repeat(10_000);
    for i in 0..100 {
        assert_eq!(c.cmd(&["SET", &format!("big{i}"), &big]), "+OK\r\n");
    }
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    // A write that fails: counted among string commands and errors, not among the
    // successful writes whose latency is averaged.
    assert_eq!(c.cmd(&["SET", "word", "abc"]), "+OK\r\n");
    assert!(c
        .cmd(&["INCR", "word"])
        .starts_with("-ERR value is not an integer"));
    let stats = info(&mut c, "stats");
    let evicted = num(&stats, "evicted_keys");
    assert!(evicted > 0.0);
    let keys = c.cmd(&["DBSIZE"]);
    let dbsize: f64 = keys.trim_start_matches(':').trim().parse().unwrap();

    // INFO, as Redis counts.
    assert_eq!(num(&stats, "keyspace_hits"), 70.0);
    assert_eq!(num(&stats, "keyspace_misses"), 30.0);
    assert_eq!(num(&stats, "expired_keys"), 3.0);
    assert_eq!(num(&stats, "rejected_connections"), 2.0);
    assert_eq!(num(&stats, "acl_access_denied_auth"), 1.0);

    // The period that holds exactly that traffic.
    let cw = close_period(&mut c, "3600");
    assert_eq!(num(&cw, "CacheHits"), 70.0);
    assert_eq!(num(&cw, "CacheMisses"), 30.0);
    assert_eq!(num(&cw, "CacheHitRate"), 70.0);
    assert_eq!(num(&cw, "Reclaimed"), 3.0);
    assert_eq!(num(&cw, "RejectedConnections"), 2.0);
    // Refused connections are not new ones (as Redis counts total_connections_received).
    assert_eq!(num(&cw, "NewConnections"), 0.0);
    assert_eq!(num(&cw, "AuthenticationFailures"), 1.0);
    assert_eq!(num(&cw, "Evictions"), evicted);
    assert_eq!(num(&cw, "CurrItems"), dbsize);
    assert_eq!(num(&cw, "CurrConnections"), 1.0);
    // 100 GETs and the DBSIZE are reads; the GETs, 114 SETs and the INCR are string commands.
    assert_eq!(num(&cw, "GetTypeCmds"), 101.0);
    assert_eq!(num(&cw, "StringBasedCmds"), 215.0);
    assert!(num(&cw, "StringBasedCmdsLatency") > 0.0);
    assert_eq!(num(&cw, "ErrorCount"), 2.0);
    // Mean time of the successful reads (GET, DBSIZE) and writes (SET; the INCR failed), as
    // commandstats has them for the same span (both restarted at the RESETSTAT).
    let cmdstats = info(&mut c, "commandstats");
    let stat = |name: &str, field: &str| -> f64 {
        let line = cmdstats
            .get(&format!("cmdstat_{name}"))
            .unwrap_or_else(|| panic!("no {name} in commandstats"));
        line.split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(stat("incr", "failed_calls"), 1.0);
    let reads = (stat("get", "usec") + stat("dbsize", "usec")) / 101.0;
    let writes = stat("set", "usec") / 114.0;
    assert!((num(&cw, "SuccessfulReadRequestLatency") - reads).abs() < 1e-6);
    assert!((num(&cw, "SuccessfulWriteRequestLatency") - writes).abs() < 1e-6);
    // Their distributions' percentiles, from the same samples EMF carries.
    for name in [
        "SuccessfulReadRequestLatency",
        "SuccessfulWriteRequestLatency",
    ] {
        let (p50, p90, p99) = (
            num(&cw, &format!("{name}.p50")),
            num(&cw, &format!("{name}.p90")),
            num(&cw, &format!("{name}.p99")),
        );
        // (In whole microseconds: a fast machine serves most GETs in less than one.)
        assert!(
            0.0 <= p50 && p50 <= p90 && p90 <= p99 && p99.is_finite(),
            "{name}: {p50} {p90} {p99}"
        );
    }
    assert!(num(&cw, "BytesUsedForCache") > 0.0);
    assert!(
        !cw.contains_key("HashBasedCmdsLatency"),
        "no latency without calls"
    );
    assert_eq!(num(&cw, "IsMaster"), 1.0);

    // /metrics and the EMF document, read by their own parsers.
    let (head, _) = http_get(metrics_port, "/nothing");
    assert!(head.starts_with("HTTP/1.1 404"));
    run_python(
        "metrics_scrape.py",
        &[
            &metrics_port.to_string(),
            emf.to_str().unwrap(),
            &evicted.to_string(),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn periods_add_up_to_the_totals() {
    let dir = common::temp_dir("emf");
    let emf = dir.join("metrics.jsonl");
    let s = ferrocache(&[
        "--metrics-period",
        "1",
        "--metrics-emf-file",
        emf.to_str().unwrap(),
    ]);
    let mut c = Raw::connect(s.port);
    c.cmd(&["CONFIG", "RESETSTAT"]);
    let started = Instant::now();
    let mut n = 0;
    // Misses spread over about three periods.
    while started.elapsed() < Duration::from_millis(2500) {
        c.cmd(&["GET", "nothing"]);
        n += 1;
    }
    close_period(&mut c, "2");
    let misses = num(&info(&mut c, "stats"), "keyspace_misses");
    assert_eq!(misses, n as f64);
    // Sum CacheMisses over the documents written since the reset: the documents are whole
    // lines of JSON, summed here without a JSON library by their flat "Name":value members.
    let text = std::fs::read_to_string(&emf).unwrap();
    let docs: Vec<&str> = text.lines().collect();
    assert!(docs.len() >= 3, "{} documents", docs.len());
    let value = |doc: &str, name: &str| -> f64 {
        let key = format!(",\"{name}\":");
        let at = doc.rfind(&key).unwrap() + key.len();
        doc[at..].split([',', '}']).next().unwrap().parse().unwrap()
    };
    // The first document may hold misses from before the reset only if it ended before it;
    // RESETSTAT zeroes the running period's baseline, so every document counts after it.
    let total: f64 = docs.iter().map(|d| value(d, "CacheMisses")).sum();
    assert_eq!(total, misses);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn slowlog_records_slow_commands() {
    let s = ferrocache(&["--slowlog-log-slower-than", "0", "--slowlog-max-len", "3"]);
    let mut c = Raw::connect(s.port);
    c.cmd(&["CLIENT", "SETNAME", "app"]);
    c.cmd(&["SLOWLOG", "RESET"]);
    let long = "v".repeat(200);
    c.cmd(&["SET", "k", &long]);
    c.cmd(&["AUTH", "default", "secret"]);
    // Newest first; AUTH's arguments never reach the log; a long argument is cut at 128 bytes.
    let r = c.cmd(&["SLOWLOG", "GET", "2"]);
    let auth = r
        .find("$4\r\nAUTH\r\n$10\r\n(redacted)\r\n$10\r\n(redacted)\r\n")
        .unwrap();
    let set = r
        .find("$3\r\nSET\r\n$1\r\nk\r\n$147\r\n")
        .expect("SET with its value cut");
    assert!(auth < set);
    assert!(r.contains("... (72 more bytes)"));
    assert!(r.contains("$3\r\napp\r\n"));
    assert!(r.contains("127.0.0.1:"));
    // The log keeps slowlog-max-len entries, and a lowered limit applies at once.
    for i in 0..5 {
        c.cmd(&["GET", &format!("x{i}")]);
    }
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), ":3\r\n");
    c.cmd(&["CONFIG", "SET", "slowlog-max-len", "1"]);
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), ":1\r\n");
    // Negative: nothing is logged.
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["GET", "x"]);
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), ":0\r\n");
}

#[test]
fn latency_monitor_and_histograms() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    // Off by default: a 50 ms command is no spike.
    c.cmd(&["DEBUG", "SLEEP", "0.05"]);
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), "*0\r\n");
    c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "20"]);
    c.cmd(&["DEBUG", "SLEEP", "0.05"]);
    c.cmd(&["GET", "fast"]);
    let latest = c.cmd(&["LATENCY", "LATEST"]);
    assert!(
        latest.starts_with("*1\r\n*4\r\n$7\r\ncommand\r\n:"),
        "{latest}"
    );
    let ms: Vec<i64> = latest
        .split("\r\n")
        .filter_map(|l| l.strip_prefix(':')?.parse().ok())
        .collect();
    assert!(ms[1] >= 50 && ms[2] >= ms[1], "{ms:?}");
    let history = c.cmd(&["LATENCY", "HISTORY", "command"]);
    assert!(history.starts_with("*1\r\n*2\r\n:"), "{history}");
    assert!(c.cmd(&["LATENCY", "DOCTOR"]).contains("command: 1 spikes"));
    // The slow DEBUG shows in commandstats too, as in Redis.
    let stats = info(&mut c, "commandstats");
    let debug = stats.get("cmdstat_debug").unwrap();
    let usec: u64 = debug.split(['=', ',']).nth(3).unwrap().parse().unwrap();
    assert!(usec >= 100_000, "{debug}");
    assert_eq!(c.cmd(&["LATENCY", "RESET"]), ":1\r\n");
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), "*0\r\n");

    // Per-command latency: 200 GETs in the histogram and in INFO latencystats.
    for _ in 0..199 {
        c.cmd(&["GET", "fast"]);
    }
    let h = c.cmd(&["LATENCY", "HISTOGRAM", "get"]);
    assert!(
        h.starts_with("*2\r\n$3\r\nget\r\n*4\r\n$5\r\ncalls\r\n:200\r\n$14\r\nhistogram_usec\r\n"),
        "{h}"
    );
    assert!(
        h.trim_end().ends_with(":200"),
        "cumulative to every call: {h}"
    );
    let ls = info(&mut c, "latencystats");
    let get = ls.get("latency_percentiles_usec_get").unwrap();
    assert!(get.starts_with("p50=") && get.contains(",p99=") && get.contains(",p99.9="));
    c.cmd(&["CONFIG", "SET", "latency-tracking-info-percentiles", "90"]);
    let ls = info(&mut c, "latencystats");
    assert!(ls["latency_percentiles_usec_get"].starts_with("p90="));
    assert!(!ls["latency_percentiles_usec_get"].contains(','));
    c.cmd(&["CONFIG", "RESETSTAT"]);
    assert!(!info(&mut c, "latencystats").contains_key("latency_percentiles_usec_get"));
    // A container's name stands for its subcommands.
    c.cmd(&["CLIENT", "ID"]);
    c.cmd(&["CLIENT", "GETNAME"]);
    let h = c.cmd(&["LATENCY", "HISTOGRAM", "client"]);
    assert!(h.starts_with("*4\r\n"), "{h}");
    assert!(h.contains("$9\r\nclient|id\r\n") && h.contains("$14\r\nclient|getname\r\n"));
}

#[test]
fn logs_in_elasticache_delivery_format() {
    let dir = common::temp_dir("logs");
    let engine = dir.join("engine.log");
    let slow = dir.join("slow.log");
    let s = ferrocache(&[
        "--log-format",
        "elasticache-json",
        "--logfile",
        engine.to_str().unwrap(),
        "--cloudwatch-cluster-id",
        "cache-001",
        "--slowlog-log-slower-than",
        "0",
        "--slowlog-delivery-file",
        slow.to_str().unwrap(),
    ]);
    let mut c = Raw::connect(s.port);
    c.cmd(&["CLIENT", "SETNAME", "app"]);
    c.cmd(&["SET", "secretkey123", "secretvalue"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let t = std::fs::read_to_string(&slow).unwrap_or_default();
        if t.contains("\"SET ... (2 more arguments)\"") {
            break t;
        }
        assert!(Instant::now() < deadline, "slow log not delivered: {t}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        !text.contains("secret"),
        "keys and values stay on the node: {text}"
    );
    let line = text.lines().find(|l| l.contains("SET ...")).unwrap();
    assert!(line.starts_with("{\"CacheClusterId\":\"cache-001\",\"CacheNodeId\":\"0001\",\"Id\":"));
    assert!(line.contains(",\"Duration (us)\":") && line.ends_with(",\"ClientName\":\"app\"}"));
    // Each entry is delivered once.
    c.cmd(&["GET", "x"]);
    std::thread::sleep(Duration::from_millis(300));
    let again = std::fs::read_to_string(&slow).unwrap();
    assert_eq!(again.matches("\"SET ... (2 more arguments)\"").count(), 1);
    assert!(again.contains("\"GET ... (1 more arguments)\""));

    // The engine log: one JSON object per line with ElastiCache's fields.
    let log = std::fs::read_to_string(&engine).unwrap();
    let first = log.lines().next().expect("a start-up line");
    assert!(
        first.starts_with(
            "{\"CacheClusterId\":\"cache-001\",\"CacheNodeId\":\"0001\",\"LogLevel\":\""
        ),
        "{first}"
    );
    assert!(
        first.contains(",\"Role\":\"M\",\"Time\":\"") && first.contains(" UTC\",\"Message\":\"")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reply_buffer_growth_is_counted() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    c.cmd(&["CONFIG", "RESETSTAT"]);
    let before = num(&info(&mut c, "stats"), "reply_buffer_expands");
    // Small replies fit the buffer a connection starts with.
    for _ in 0..10 {
        c.cmd(&["PING"]);
    }
    assert_eq!(num(&info(&mut c, "stats"), "reply_buffer_expands"), before);
    // A 2 MB reply does not.
    let big = "x".repeat(2 << 20);
    c.cmd(&["SET", "big", &big]);
    assert_eq!(c.cmd(&["STRLEN", "big"]), ":2097152\r\n");
    let reply = c.cmd(&["GET", "big"]);
    assert_eq!(reply.len(), (2 << 20) + 12); // $2097152\r\n...\r\n
    let after = num(&info(&mut c, "stats"), "reply_buffer_expands");
    assert!(after > before, "{before} -> {after}");
    // Redis prints both fields, shrinks first.
    let text = c.cmd(&["INFO", "stats"]);
    let (shrinks, expands) = (
        text.find("reply_buffer_shrinks:").unwrap(),
        text.find("reply_buffer_expands:").unwrap(),
    );
    assert!(shrinks < expands);
}

/// With one I/O thread the server polls its sockets before it sleeps while requests come
/// close together (a lone client's back-to-back requests), not while it is idle, and never
/// with `busy-poll-us 0`. The polling shows as `used_cpu_busy_poll` and is left out of
/// EngineCPUUtilization, which counts engine work.
#[test]
fn busy_polling_follows_the_load_and_is_not_engine_work() {
    let s = ferrocache(&["--metrics-period", "1", "--busy-poll-us", "1000"]);
    let mut c = Raw::connect(s.port);
    let cpu = |c: &mut Raw| {
        let m = info(c, "cpu");
        (
            num(&m, "used_cpu_sys") + num(&m, "used_cpu_user"),
            num(&m, "used_cpu_busy_poll"),
        )
    };
    c.cmd(&["SET", "k", "v"]);
    // Back-to-back requests for 3 s; a period that ended inside the loop is read at 2.5 s.
    let (cpu0, poll0) = cpu(&mut c);
    let started = Instant::now();
    let mut engine = None;
    while started.elapsed() < Duration::from_secs(3) {
        assert_eq!(c.cmd(&["GET", "k"]), "$1\r\nv\r\n");
        if engine.is_none() && started.elapsed() > Duration::from_millis(2500) {
            engine = Some(num(&info(&mut c, "cloudwatch"), "EngineCPUUtilization"));
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let (cpu1, poll1) = cpu(&mut c);
    let (busy, polled) = ((cpu1 - cpu0) / wall * 100.0, (poll1 - poll0) / wall * 100.0);
    assert!(
        polled >= 5.0,
        "polled {polled:.1}% of the time (cpu {busy:.1}%)"
    );
    let engine = engine.unwrap();
    eprintln!("cpu {busy:.1}%, polling {polled:.1}%, EngineCPUUtilization {engine:.1}%");
    assert!(
        engine < busy - polled / 2.0,
        "EngineCPUUtilization {engine:.1}% against {busy:.1}% of CPU, {polled:.1}% of it polling"
    );

    // Idle: the first long sleep takes the window down, so at most one window is polled.
    std::thread::sleep(Duration::from_millis(500));
    let (_, idle0) = cpu(&mut c);
    std::thread::sleep(Duration::from_millis(500));
    let (_, idle1) = cpu(&mut c);
    assert!(
        idle1 - idle0 < 0.005,
        "polled {:.6} s while idle",
        idle1 - idle0
    );

    assert_eq!(c.cmd(&["CONFIG", "SET", "busy-poll-us", "0"]), "+OK\r\n");
    let (_, off0) = cpu(&mut c);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        c.cmd(&["GET", "k"]);
    }
    let (_, off1) = cpu(&mut c);
    assert_eq!(off0, off1, "no polling with busy-poll-us 0");
}

/// EvalBasedCmds counts EVAL and EVALSHA calls as ElastiCache derives it (from their
/// commandstats; FCALL and SCRIPT are not in it), with their mean latency.
#[test]
fn eval_based_commands_are_counted() {
    let s = ferrocache(&["--metrics-period", "60"]);
    let mut c = Raw::connect(s.port);
    close_period(&mut c, "3600");
    let script = "return redis.call('incr', KEYS[1])";
    c.cmd(&["EVAL", script, "1", "n"]);
    c.cmd(&["EVAL", script, "1", "n"]);
    let sha = c.cmd(&["SCRIPT", "LOAD", script]);
    let sha = sha.lines().nth(1).unwrap().to_string();
    assert_eq!(c.cmd(&["EVALSHA", &sha, "1", "n"]), ":3\r\n");
    let lib = "#!lua name=m\nredis.register_function('f', function(k) return 1 end)";
    c.cmd(&["FUNCTION", "LOAD", lib]);
    assert_eq!(c.cmd(&["FCALL", "f", "0"]), ":1\r\n");
    let cw = close_period(&mut c, "60");
    assert_eq!(num(&cw, "EvalBasedCmds"), 3.0);
    assert!(num(&cw, "EvalBasedCmdsLatency") > 0.0);
}
