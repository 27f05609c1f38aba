//! The binary as operators use it: CLI, config files, redis-cli, redis-benchmark, INFO, expiry,
//! logging and shutdown.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ferrocache, free_port, redis_cli, Raw};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferrocache"))
}

#[test]
fn version_and_help() {
    let out = bin().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = bin().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("--port 7777"),
        "{text}"
    );
}

#[test]
fn bad_config_fails_naming_the_line() {
    let dir = common::temp_dir("conf");
    let path = dir.join("bad.conf");
    std::fs::write(&path, "# ok\nport 7000\nmaxclients lots\n").unwrap();
    let out = bin().arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("line 3") && err.contains("maxclients lots"),
        "{err}"
    );
    std::fs::write(&path, "nosuchparam 1\n").unwrap();
    let out = bin().arg(&path).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("Bad directive"));
    let out = bin().args(["--port", "notaport"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--port notaport"));
}

#[test]
fn config_file_and_rewrite() {
    let dir = common::temp_dir("conf2");
    let path = dir.join("fc.conf");
    let port = free_port();
    std::fs::write(
        &path,
        format!("# my settings\nport {port}\nbind 127.0.0.1\ntimeout 0\n"),
    )
    .unwrap();
    let mut child = bin().arg(&path).stdout(Stdio::null()).spawn().unwrap();
    common::wait_ready(port, &mut child);
    let mut c = Raw::connect(port);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "timeout", "30", "maxclients", "500"]),
        "+OK\r\n"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "timeout", "10", "maxclients", "x"])
            .get(..4),
        Some("-ERR")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "timeout"]),
        "*2\r\n$7\r\ntimeout\r\n$2\r\n30\r\n",
        "all or nothing"
    );
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), "+OK\r\n");
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("# my settings")
            && text.contains("timeout 30")
            && text.contains("maxclients 500"),
        "{text}"
    );
}

#[test]
fn redis_cli_health_check_on_every_db() {
    let s = ferrocache(&[]);
    for db in 0..16 {
        let (out, err, ok) = redis_cli(s.port, &["-n", &db.to_string(), "PING"]);
        assert!(ok && out.trim() == "PONG", "db {db}: {out} {err}");
    }
    // As with Redis, redis-cli reports the failed SELECT for a database that does not exist.
    let (_, err, _) = redis_cli(s.port, &["-n", "16", "PING"]);
    assert!(
        err.contains("SELECT 16 failed: ERR DB index is out of range"),
        "{err}"
    );
}

#[test]
fn redis_cli_interactive_uses_command_docs() {
    let s = ferrocache(&[]);
    // Interactive mode (stdin not a tty still loads the command table through COMMAND DOCS).
    let mut child = Command::new("redis-cli")
        .args(["-p", &s.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"SET greeting hello\nGET greeting\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("OK") && text.contains("hello"), "{text}");
    let mut c = Raw::connect(s.port);
    let docs = c.cmd(&["COMMAND", "DOCS", "set"]);
    for needle in [
        "summary",
        "arguments",
        "oneof",
        "KEEPTTL",
        "unix-time-seconds",
    ] {
        assert!(
            docs.contains(needle),
            "COMMAND DOCS set lacks {needle}: {docs}"
        );
    }
}

#[test]
fn redis_benchmark_completes_without_errors() {
    let s = ferrocache(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &s.port.to_string(),
            "-q",
            "-t",
            "ping,set,get,incr,mset",
            "-n",
            "20000",
            "-P",
            "16",
        ])
        .output()
        .expect("redis-benchmark (apt-get install redis-tools)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout} {stderr}");
    assert!(
        !stdout.contains("failed to fetch CONFIG") && !stderr.contains("failed to fetch CONFIG"),
        "{stdout} {stderr}"
    );
    for t in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "MSET (10 keys)",
    ] {
        assert!(
            stdout.contains(&format!("{t}:")),
            "{t} missing from {stdout}"
        );
    }
    let mut c = Raw::connect(s.port);
    let info = c.cmd(&["INFO", "errorstats"]);
    assert!(
        !info.contains("errorstat_"),
        "benchmark produced errors: {info}"
    );
    assert_eq!(c.cmd(&["GET", "counter:__rand_int__"]), "$5\r\n20000\r\n");
}

#[test]
fn info_fields_are_truthful() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["GET", "a"]);
    c.cmd(&["GET", "nokey"]);
    c.cmd(&["SET", "v", "1", "EX", "100"]);
    c.cmd(&["NOSUCH"]);
    c.cmd(&["INCR", "v", "x"]);
    let info = c.cmd(&["INFO"]);
    for f in [
        "redis_version:7.2.4",
        "ferrocache_version:",
        "connected_clients:1",
        "keyspace_hits:1",
        "keyspace_misses:1",
        "db0:keys=2,expires=1,avg_ttl=0",
        "errorstat_ERR:count=2",
        "role:master",
        "loading:0",
        "used_memory:",
        "used_cpu_user:",
        "total_error_replies:2",
    ] {
        assert!(info.contains(f), "INFO lacks {f}:\n{info}");
    }
    assert!(
        !info.contains("# Commandstats"),
        "commandstats is not a default section"
    );
    let all = c.cmd(&["INFO", "commandstats"]);
    assert!(all.contains("cmdstat_get:calls=2,"), "{all}");
    assert!(
        all.contains(
            "cmdstat_incr:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0"
        ),
        "{all}"
    );
    let both = c.cmd(&["INFO", "keyspace", "server"]);
    assert!(
        both.contains("# Server") && both.contains("# Keyspace") && !both.contains("# Clients")
    );
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), "+OK\r\n");
    let after = c.cmd(&["INFO", "stats"]);
    assert!(
        after.contains("keyspace_hits:0") && after.contains("total_error_replies:0"),
        "{after}"
    );
}

#[test]
fn active_expiry_reclaims_untouched_keys() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    for i in 0..200 {
        c.cmd(&["SET", &format!("k{i}"), "v", "PX", "50"]);
    }
    c.cmd(&["SET", "keep", "v"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && c.cmd(&["DBSIZE"]) != ":1\r\n" {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        c.cmd(&["DBSIZE"]),
        ":1\r\n",
        "expired keys removed without being accessed"
    );
    assert!(c.cmd(&["INFO", "stats"]).contains("expired_keys:200"));

    // With active expiry off, keys linger until touched, then expire lazily.
    assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "+OK\r\n");
    c.cmd(&["SET", "lazy", "v", "PX", "20"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd(&["DBSIZE"]), ":2\r\n");
    assert_eq!(c.cmd(&["GET", "lazy"]), "$-1\r\n");
    assert_eq!(c.cmd(&["DBSIZE"]), ":1\r\n");
}

#[test]
fn shutdown_command_and_sigterm_exit_cleanly() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    c.send_raw(b"SHUTDOWN NOSAVE\r\n");
    assert!(c.is_closed());
    let mut s = s;
    let status = common::wait_exit(&mut s);
    assert!(
        status.is_some_and(|st| st.success()),
        "SHUTDOWN exits with 0: {status:?}"
    );

    let mut t = ferrocache(&[]);
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(t.child.id() as i32, libc::SIGTERM) };
    let status = common::wait_exit(&mut t);
    assert!(
        status.is_some_and(|st| st.success()),
        "SIGTERM exits with 0: {status:?}"
    );
}

#[test]
fn json_log_file_and_loglevel_change() {
    let dir = common::temp_dir("log");
    let log = dir.join("fc.log");
    let s = ferrocache(&["--logfile", log.to_str().unwrap(), "--log-format", "json"]);
    let mut c = Raw::connect(s.port);
    assert_eq!(c.cmd(&["DEBUG", "LOG", "hello-from-test"]), "+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "SET", "loglevel", "nothing"]), "+OK\r\n");
    assert_eq!(c.cmd(&["DEBUG", "LOG", "must-not-appear"]), "+OK\r\n");
    std::thread::sleep(Duration::from_millis(100));
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("hello-from-test"))
        .expect("logged");
    assert!(
        line.starts_with('{') && line.contains("\"level\":\"WARN\""),
        "{line}"
    );
    assert!(text.contains("Ready to accept connections"));
    assert!(!text.contains("must-not-appear"));
}

#[test]
fn flushall_swapdb_and_databases() {
    let s = ferrocache(&["--databases", "4"]);
    let mut c = Raw::connect(s.port);
    assert_eq!(c.cmd(&["SELECT", "3"]), "+OK\r\n");
    assert_eq!(c.cmd(&["SELECT", "4"]), "-ERR DB index is out of range\r\n");
    c.cmd(&["SET", "x", "3"]);
    assert_eq!(c.cmd(&["SWAPDB", "3", "0"]), "+OK\r\n");
    assert_eq!(c.cmd(&["DBSIZE"]), ":0\r\n");
    c.cmd(&["SELECT", "0"]);
    assert_eq!(c.cmd(&["GET", "x"]), "$1\r\n3\r\n");
    assert_eq!(c.cmd(&["FLUSHALL", "ASYNC"]), "+OK\r\n");
    assert_eq!(c.cmd(&["DBSIZE"]), ":0\r\n");
}

#[test]
fn scan_returns_every_key_while_the_table_changes() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    for i in 0..3000 {
        c.cmd(&["SET", &format!("stable:{i}"), "v"]);
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    let mut round = 0;
    loop {
        let reply = c.cmd(&["SCAN", &cursor, "COUNT", "50"]);
        let lines: Vec<&str> = reply.split("\r\n").collect();
        // *2, $len, cursor, *n, then ($len, key) pairs.
        cursor = lines[2].to_string();
        for k in lines[4..].iter().skip(1).step_by(2) {
            seen.insert(k.to_string());
        }
        // Grow and shrink the tables during the scan.
        for j in 0..40 {
            let k = format!("churn:{round}:{j}");
            c.cmd(&["SET", &k, "v"]);
            if round > 10 {
                c.cmd(&["DEL", &format!("churn:{}:{j}", round - 10)]);
            }
        }
        round += 1;
        if cursor == "0" {
            break;
        }
    }
    for i in 0..3000 {
        assert!(
            seen.contains(&format!("stable:{i}")),
            "SCAN missed stable:{i}"
        );
    }
    assert!(c.cmd(&["RANDOMKEY"]).starts_with('$'));
}

/// With several I/O threads, no client sees a transaction half applied: writers bump two
/// counters in one MULTI/EXEC while readers read both in one MULTI/EXEC.
#[test]
fn exec_is_atomic_across_io_threads() {
    let server = ferrocache(&["--io-threads", "4"]);
    let port = server.port;
    let writers: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Raw::connect(port);
                for _ in 0..300 {
                    c.cmd(&["MULTI"]);
                    c.cmd(&["INCR", "tx:a"]);
                    c.cmd(&["INCR", "tx:b"]);
                    let r = c.cmd(&["EXEC"]);
                    assert!(r.starts_with("*2\r\n"), "{r:?}");
                }
            })
        })
        .collect();
    let mut reader = Raw::connect(port);
    let mut checks = 0;
    while !writers.iter().all(|w| w.is_finished()) {
        reader.cmd(&["MULTI"]);
        reader.cmd(&["GET", "tx:a"]);
        reader.cmd(&["GET", "tx:b"]);
        let r = reader.cmd(&["EXEC"]);
        let vals: Vec<&str> = r.lines().filter(|l| !l.starts_with(['*', '$'])).collect();
        if vals.len() == 2 {
            assert_eq!(vals[0], vals[1], "half-applied transaction seen: {r:?}");
        }
        checks += 1;
    }
    for w in writers {
        w.join().unwrap();
    }
    assert!(checks > 0);
    assert_eq!(reader.cmd(&["GET", "tx:a"]), "$3\r\n900\r\n");
    assert_eq!(reader.cmd(&["GET", "tx:b"]), "$3\r\n900\r\n");
}

/// A subscriber that stops reading is disconnected once its pending messages pass the
/// `client-output-buffer-limit pubsub` hard limit, instead of growing without bound.
#[test]
fn slow_subscriber_is_disconnected() {
    let server = ferrocache(&["--client-output-buffer-limit", "pubsub 1mb 512kb 60"]);
    let mut sub = Raw::connect(server.port);
    sub.cmd(&["SUBSCRIBE", "firehose"]);
    let mut r = Raw::connect(server.port);
    let payload = "x".repeat(100_000);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut receivers = String::new();
    // Publish until the subscriber is gone (PUBLISH then reaches nobody).
    while Instant::now() < deadline {
        receivers = r.cmd(&["PUBLISH", "firehose", &payload]);
        if receivers == ":0\r\n" {
            break;
        }
    }
    assert_eq!(receivers, ":0\r\n", "the subscriber was never disconnected");
    let info = r.cmd(&["INFO", "stats"]);
    assert!(
        info.contains("client_output_buffer_limit_disconnections:1\r\n"),
        "{info}"
    );
    // What was written before the disconnection can still be read; then the stream ends.
    let mut frames = 0;
    while sub.try_read_reply().is_some() {
        frames += 1;
        assert!(frames < 10_000, "the connection stayed open");
    }
}

/// `Ex` keyspace events: a key that expires in the background and one found expired by a
/// read both publish `expired`, the way cache users watch for them.
#[test]
fn expired_events_are_published() {
    let server = ferrocache(&[
        "--notify-keyspace-events",
        "Ex",
        "--enable-debug-command",
        "yes",
    ]);
    let mut sub = Raw::connect(server.port);
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:expired"]);
    let mut r = Raw::connect(server.port);
    r.cmd(&["SET", "bg", "v", "PX", "30"]);
    assert_eq!(
        sub.read_reply(),
        "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$2\r\nbg\r\n"
    );
    r.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    r.cmd(&["SET", "lazy", "v", "PX", "10"]);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(r.cmd(&["GET", "lazy"]), "$-1\r\n");
    assert_eq!(
        sub.read_reply(),
        "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$4\r\nlazy\r\n"
    );
}

/// CLIENT LIST shows transactions (x, multi=<queued>), subscribers (P) and blocked clients (b).
#[test]
fn client_list_shows_client_states() {
    let server = ferrocache(&[]);
    let mut m = Raw::connect(server.port);
    m.cmd(&["CLIENT", "SETNAME", "tx"]);
    m.cmd(&["MULTI"]);
    m.cmd(&["SET", "a", "1"]);
    let mut s = Raw::connect(server.port);
    s.cmd(&["CLIENT", "SETNAME", "sub"]);
    s.cmd(&["SUBSCRIBE", "ch"]);
    let mut b = Raw::connect(server.port);
    b.cmd(&["CLIENT", "SETNAME", "blk"]);
    b.send_raw(&common::resp(&[b"BLPOP", b"q", b"0"]));
    let mut r = Raw::connect(server.port);
    let deadline = Instant::now() + Duration::from_secs(5);
    let list = loop {
        let l = r.cmd(&["CLIENT", "LIST"]);
        if l.contains("flags=b") || Instant::now() > deadline {
            break l;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let line = |name: &str| {
        list.lines()
            .find(|l| l.contains(&format!("name={name} ")))
            .unwrap()
            .to_string()
    };
    assert!(
        line("tx").contains("flags=x ") && line("tx").contains("multi=1 "),
        "{list}"
    );
    assert!(
        line("sub").contains("flags=P ") && line("sub").contains("sub=1 "),
        "{list}"
    );
    assert!(line("blk").contains("flags=b "), "{list}");
    assert!(line("blk").contains("cmd=blpop "), "{list}");
}

/// A RESP3 client that publishes to its own channel inside MULTI gets a well-formed EXEC
/// reply, with the message pushed after it.
#[test]
fn publish_to_self_inside_exec_keeps_the_reply_whole() {
    let server = ferrocache(&[]);
    let mut c = Raw::connect(server.port);
    c.cmd(&["HELLO", "3"]);
    c.cmd(&["SUBSCRIBE", "ch"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["PUBLISH", "ch", "hi"]);
    assert_eq!(c.cmd(&["EXEC"]), "*1\r\n:1\r\n");
    assert_eq!(
        c.read_reply(),
        ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
    );
}

/// MEMORY STATS is a well-formed map with Redis's fields; DOCTOR, PURGE and MALLOC-STATS answer.
#[test]
fn memory_subcommands() {
    let p = common::ferrocache(&[]);
    let mut c = common::Raw::connect(p.port);
    c.cmd(&["SET", "a", "b"]);
    let stats = c.cmd(&["MEMORY", "STATS"]);
    assert!(stats.starts_with("*54\r\n"), "{stats}");
    for field in [
        "peak.allocated",
        "keys.count",
        "dataset.bytes",
        "allocator-rss.ratio",
        "fragmentation.bytes",
    ] {
        assert!(
            stats.contains(&format!("\r\n{field}\r\n")),
            "{field} in {stats}"
        );
    }
    assert!(stats.contains("\r\nkeys.count\r\n:1\r\n"), "{stats}");
    // An almost empty server is too small to judge.
    assert!(c.cmd(&["MEMORY", "DOCTOR"]).contains("too little"));
    assert_eq!(c.cmd(&["MEMORY", "PURGE"]), "+OK\r\n");
    assert!(c.cmd(&["MEMORY", "MALLOC-STATS"]).contains("jemalloc"));
    // The connection still works after every subcommand (no malformed reply).
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
}

/// INFO memory lists the fields Redis lists, in Redis's order.
#[test]
fn info_memory_fields_match_redis() {
    let names = |port: u16| -> Vec<String> {
        let mut c = Raw::connect(port);
        c.cmd(&["INFO", "memory"])
            .split("\r\n")
            .filter(|l| l.contains(':') && !l.starts_with('$'))
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    let redis = common::redis_server();
    let ours = ferrocache(&[]);
    assert_eq!(names(ours.port), names(redis.port));
}

/// The annotated config the project ships starts a server, with its values in effect.
#[test]
fn shipped_config_file_starts_the_server() {
    let port = free_port();
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/config/ferrocache.conf");
    let dir = common::temp_dir("shipped-conf");
    let mut child = bin()
        .args([
            conf,
            "--port",
            &port.to_string(),
            "--dir",
            dir.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_ready(port, &mut child);
    let mut c = Raw::connect(port);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]),
        "*2\r\n$26\r\nclient-output-buffer-limit\r\n$67\r\nnormal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60\r\n"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "repl-backlog-size"]),
        "*2\r\n$17\r\nrepl-backlog-size\r\n$7\r\n1048576\r\n"
    );
    child.kill().ok();
    child.wait().ok();
}

/// Redis's `daemonize`: `no` loads (as redis.conf files carry it), `yes` is refused at startup
/// with the reason, and CONFIG SET calls it immutable, as Redis does.
#[test]
fn daemonize_is_known_and_refused_when_yes() {
    let dir = common::temp_dir("daemonize");
    let path = dir.join("fc.conf");
    std::fs::write(&path, "daemonize yes\n").unwrap();
    let out = bin().arg(&path).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not daemonize"));
    let s = common::ferrocache(&["--daemonize", "no"]);
    let mut c = Raw::connect(s.port);
    let err = c.cmd(&["CONFIG", "SET", "daemonize", "yes"]);
    assert!(
        err.starts_with("-ERR") && err.contains("immutable"),
        "{err}"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "daemonize"]),
        "*2\r\n$9\r\ndaemonize\r\n$2\r\nno\r\n"
    );
}

/// Debian's /etc/redis/redis.conf (redis-server's own, as its package ships it) loads with the
/// overrides its service passes, and every directive the file sets reads back through CONFIG
/// GET as redis-server reads it back from the same file.
#[test]
fn debians_redis_conf_loads_with_the_values_redis_reads() {
    let conf = "/etc/redis/redis.conf";
    let text = std::fs::read_to_string(conf)
        .expect("redis-server's package ships /etc/redis/redis.conf (scripts/test.sh installs it)");
    let mut directives: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap().to_ascii_lowercase())
        .collect();
    directives.sort();
    directives.dedup();
    assert!(directives.len() > 50, "{directives:?}");
    let start = |program: &str| {
        let port = free_port();
        let dir = common::temp_dir("debian-conf");
        let mut child = Command::new(program)
            .args([conf, "--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--daemonize", "no", "--supervised", "no", "--logfile", ""])
            .args(["--pidfile", dir.join("pid").to_str().unwrap()])
            .args(["--dir", dir.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        common::wait_ready(port, &mut child);
        common::Proc { child, port, dir }
    };
    let redis = start("redis-server");
    let ours = start(env!("CARGO_BIN_EXE_ferrocache"));
    let (mut r, mut o) = (Raw::connect(redis.port), Raw::connect(ours.port));
    let overridden = [
        "port",
        "bind",
        "daemonize",
        "supervised",
        "logfile",
        "pidfile",
        "dir",
    ];
    let mut compared = 0;
    for d in directives
        .iter()
        .filter(|d| !overridden.contains(&d.as_str()))
    {
        assert_eq!(
            o.cmd(&["CONFIG", "GET", d]),
            r.cmd(&["CONFIG", "GET", d]),
            "CONFIG GET {d}"
        );
        compared += 1;
    }
    assert!(compared > 50);
}

/// `supervised systemd` tells systemd the server is ready (READY=1 on $NOTIFY_SOCKET) once
/// it listens; without it nothing is sent.
#[test]
fn supervised_systemd_notifies_readiness() {
    use std::os::unix::net::UnixDatagram;
    let dir = common::temp_dir("notify");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = |mode: &str| {
        let port = free_port();
        let mut child = bin()
            .args(["--port", &port.to_string(), "--supervised", mode])
            .env("NOTIFY_SOCKET", &path)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        common::wait_ready(port, &mut child);
        common::Proc {
            child,
            port,
            dir: common::temp_dir("notify-run"),
        }
    };
    let quiet = start("no");
    drop(quiet);
    let notified = start("systemd");
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    // The one datagram came from the supervised server, none from the other.
    sock.set_nonblocking(true).unwrap();
    assert!(sock.recv(&mut buf).is_err());
    assert_eq!(
        Raw::connect(notified.port).cmd(&["CONFIG", "GET", "supervised"]),
        "*2\r\n$10\r\nsupervised\r\n$7\r\nsystemd\r\n"
    );
}

/// `replica-serve-stale-data no`: while a replica's link is down it answers only the commands
/// Redis flags `stale`, and the others (queued in MULTI too) get -MASTERDOWN; compared with
/// redis-server in the same state.
#[test]
fn a_stale_replica_refuses_what_redis_refuses() {
    let nowhere = free_port().to_string();
    let args = [
        "--replicaof",
        "127.0.0.1",
        &nowhere,
        "--replica-serve-stale-data",
        "no",
    ];
    let redis = common::redis_server_with(&args);
    let ours = ferrocache(&args);
    let (mut r, mut o) = (Raw::connect(redis.port), Raw::connect(ours.port));
    let script: &[&[&str]] = &[
        &["GET", "k"],
        &["PING"],
        &["SET", "k", "v"],
        &["DBSIZE"],
        &["CONFIG", "GET", "replica-serve-stale-data"],
        &["CONFIG", "GET", "slave-priority"],
        &["MULTI"],
        &["PING"],
        &["EXEC"],
        &["MULTI"],
        &["GET", "k"],
        &["EXEC"],
        &["CONFIG", "SET", "replica-serve-stale-data", "yes"],
        &["GET", "k"],
    ];
    for cmd in script {
        assert_eq!(o.cmd(cmd), r.cmd(cmd), "{cmd:?}");
    }
    let info = o.cmd(&["INFO", "replication"]);
    assert!(info.contains("master_link_status:down") && info.contains("slave_priority:100"));
}

/// With several I/O threads, commands that hold every other command off themselves (DEBUG
/// RELOAD, SHUTDOWN) do not wait for their own share of the gate: the key survives the reload
/// and the server exits.
#[test]
fn reload_and_shutdown_with_several_io_threads() {
    let mut server = ferrocache(&["--io-threads", "2"]);
    let mut c = Raw::connect(server.port);
    assert_eq!(c.cmd(&["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), "+OK\r\n");
    assert_eq!(c.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    c.send_raw(&common::resp(&[b"SHUTDOWN", b"NOSAVE"]));
    let status = common::wait_exit(&mut server).expect("SHUTDOWN with two I/O threads hung");
    assert!(status.success(), "{status:?}");
}
