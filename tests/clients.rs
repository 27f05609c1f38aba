//! Real clients against the real binary: the `redis` crate, redis-py and valkey-glide.

mod common;

use common::{ferrocache, run_python};

#[test]
fn redis_crate_sync_and_pipeline() {
    let s = ferrocache(&[]);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/3", s.port)).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let v: i64 = redis::cmd("INCRBY")
        .arg("a")
        .arg(41)
        .query(&mut con)
        .unwrap();
    assert_eq!(v, 42);
    let (x, y): (Option<String>, Option<String>) = redis::pipe()
        .cmd("GET")
        .arg("a")
        .cmd("GET")
        .arg("zz")
        .query(&mut con)
        .unwrap();
    assert_eq!(x.as_deref(), Some("42"));
    assert_eq!(y, None);
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 1, "the URL selected db 3");
    let err = redis::cmd("INCR")
        .arg("a")
        .arg("extra")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(
        err.to_string().contains("wrong number of arguments"),
        "{err}"
    );
}

#[test]
fn redis_crate_async_concurrent_clients() {
    // Several I/O threads, so commands really run in parallel on the sharded keyspace.
    let s = ferrocache(&["--io-threads", "2"]);
    let port = s.port;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let mut tasks = Vec::new();
        for t in 0..8 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut con = client.get_multiplexed_async_connection().await.unwrap();
                for i in 0..200 {
                    let _: i64 = redis::cmd("INCR")
                        .arg("counter")
                        .query_async(&mut con)
                        .await
                        .unwrap();
                    let _: () = redis::cmd("SET")
                        .arg(format!("t{t}:{i}"))
                        .arg(i)
                        .query_async(&mut con)
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let n: i64 = redis::cmd("GET")
            .arg("counter")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(n, 1600, "no increment lost under concurrency");
        let keys: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
        assert_eq!(keys, 1601);
    });
}

#[test]
fn redis_py_cache_aside() {
    let s = ferrocache(&[]);
    run_python("cache_aside_redis_py.py", &[&s.port.to_string()]);
}

#[test]
fn valkey_glide_resp3() {
    let s = ferrocache(&[]);
    run_python("glide_app.py", &[&s.port.to_string()]);
}

/// CLIENT PAUSE holds commands (writes only, or all) until its deadline or CLIENT UNPAUSE;
/// nothing is refused.
#[test]
fn client_pause_holds_commands() {
    use common::Raw;
    use std::time::{Duration, Instant};
    let s = ferrocache(&[]);
    let mut admin = Raw::connect(s.port);
    let port = s.port;
    // WRITE: reads go through at once, a write waits for UNPAUSE.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "10000", "WRITE"]), "+OK\r\n");
    let mut c = Raw::connect(port);
    let t = Instant::now();
    assert_eq!(c.cmd(&["GET", "k"]), "$-1\r\n");
    assert!(t.elapsed() < Duration::from_millis(500));
    let writer = std::thread::spawn(move || {
        let t = Instant::now();
        assert_eq!(c.cmd(&["SET", "k", "v"]), "+OK\r\n");
        t.elapsed()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(admin.cmd(&["GET", "k"]), "$-1\r\n", "the write has not run");
    // A held client counts as blocked, as in Redis.
    assert!(admin
        .cmd(&["INFO", "clients"])
        .contains("blocked_clients:1"));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    let waited = writer.join().unwrap();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert_eq!(admin.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    // A write with the wrong number of arguments fails at once rather than wait; so does a
    // transaction of scripts that declared no-writes (EXEC is no write then).
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "10000", "WRITE"]), "+OK\r\n");
    let mut c = Raw::connect(port);
    let t = Instant::now();
    assert!(c
        .cmd(&["SET", "k"])
        .starts_with("-ERR wrong number of arguments"));
    assert_eq!(c.cmd(&["MULTI"]), "+OK\r\n");
    let ro = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])";
    assert_eq!(c.cmd(&["EVAL", ro, "1", "k"]), "+QUEUED\r\n");
    assert_eq!(c.cmd(&["EVAL", ro, "1", "k"]), "+QUEUED\r\n");
    assert_eq!(c.cmd(&["EXEC"]), "*2\r\n$1\r\nv\r\n$1\r\nv\r\n");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    // ALL: every command waits for the deadline, reads included.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "300", "ALL"]), "+OK\r\n");
    let mut c = Raw::connect(port);
    let t = Instant::now();
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    // MONITOR shows up in CLIENT LIST as flag O.
    let mut mon = Raw::connect(port);
    mon.cmd(&["MONITOR"]);
    assert!(admin.cmd(&["CLIENT", "LIST"]).contains("flags=O"));
}

/// Client-side caching: invalidation messages for keys read, for BCAST prefixes, through a
/// REDIRECT to a RESP2 subscriber, and on FLUSHALL.
#[test]
fn client_tracking_invalidates() {
    use common::Raw;
    let s = ferrocache(&[]);
    let mut a = Raw::connect(s.port);
    assert!(a.cmd(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(a.cmd(&["CLIENT", "TRACKING", "on"]), "+OK\r\n");
    assert_eq!(a.cmd(&["GET", "k"]), "_\r\n");
    let mut b = Raw::connect(s.port);
    assert_eq!(b.cmd(&["SET", "k", "1"]), "+OK\r\n");
    let push = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n";
    assert_eq!(a.read_reply(), push);
    // Told once: the key is forgotten until it is read again.
    assert_eq!(b.cmd(&["SET", "k", "2"]), "+OK\r\n");
    assert_eq!(a.cmd(&["PING"]), "+PONG\r\n");
    assert_eq!(a.cmd(&["GET", "k"]), "$1\r\n2\r\n");
    assert_eq!(b.cmd(&["DEL", "k"]), ":1\r\n");
    assert_eq!(a.read_reply(), push);
    let info = b.cmd(&["INFO", "clients"]);
    assert!(info.contains("tracking_clients:1"), "{info}");
    assert!(b.cmd(&["CLIENT", "LIST"]).contains("flags=t"));

    // NOLOOP: the client's own writes are not reported back to it.
    assert_eq!(a.cmd(&["CLIENT", "TRACKING", "on", "NOLOOP"]), "+OK\r\n");
    a.cmd(&["GET", "own"]);
    assert_eq!(a.cmd(&["SET", "own", "x"]), "+OK\r\n");
    assert_eq!(a.cmd(&["PING"]), "+PONG\r\n");

    // BCAST: every change under a prefix, read or not.
    let mut c = Raw::connect(s.port);
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:"]),
        "+OK\r\n"
    );
    b.cmd(&["SET", "user:1", "x"]);
    b.cmd(&["SET", "other", "x"]);
    assert_eq!(
        c.read_reply(),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nuser:1\r\n"
    );
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
    // A command's changes under one prefix go out as one message.
    b.cmd(&["MSET", "user:2", "x", "user:3", "y"]);
    assert_eq!(
        c.read_reply(),
        ">2\r\n$10\r\ninvalidate\r\n*2\r\n$6\r\nuser:2\r\n$6\r\nuser:3\r\n"
    );

    // REDIRECT to a RESP2 client subscribed to __redis__:invalidate.
    let mut sub = Raw::connect(s.port);
    let id = sub.cmd(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim();
    sub.cmd(&["SUBSCRIBE", "__redis__:invalidate"]);
    let mut d = Raw::connect(s.port);
    assert_eq!(
        d.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", id]),
        "+OK\r\n"
    );
    assert_eq!(d.cmd(&["CLIENT", "GETREDIR"]), format!(":{id}\r\n"));
    d.cmd(&["GET", "r"]);
    b.cmd(&["SET", "r", "1"]);
    assert_eq!(
        sub.read_reply(),
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nr\r\n"
    );

    // A key that expires is invalidated too (found by active expiry, nobody touching it).
    b.cmd(&["SET", "short", "1", "PX", "50"]);
    assert_eq!(a.cmd(&["GET", "short"]), "$1\r\n1\r\n");
    assert_eq!(
        a.read_reply(),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$5\r\nshort\r\n"
    );

    // FLUSHALL: everything is invalid (a null; in RESP2 the null bulk Redis sends, as
    // tests/effects.rs checks against redis-server).
    b.cmd(&["FLUSHALL"]);
    assert_eq!(a.read_reply(), ">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert_eq!(
        sub.read_reply(),
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"
    );
}

/// While clients are paused, keys past their TTL read as missing but are not reclaimed (so a
/// paused server's dataset does not change); once unpaused they go. Against both servers.
#[test]
fn client_pause_holds_expiry() {
    for (name, s) in [
        ("redis", common::redis_server()),
        ("ferrocache", ferrocache(&[])),
    ] {
        let mut c = common::Raw::connect(s.port);
        assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), "+OK\r\n");
        assert_eq!(c.cmd(&["SET", "soon", "v", "PX", "100"]), "+OK\r\n");
        assert_eq!(c.cmd(&["SET", "stays", "v"]), "+OK\r\n");
        assert_eq!(c.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]), "+OK\r\n");
        std::thread::sleep(std::time::Duration::from_millis(400));
        // Past its TTL: missing to readers, but neither the reads nor the active cycle
        // (a few passes by now) reclaimed it.
        assert_eq!(c.cmd(&["GET", "soon"]), "$-1\r\n", "{name}");
        assert_eq!(c.cmd(&["EXISTS", "soon"]), ":0\r\n", "{name}");
        // RANDOMKEY passes over it without reclaiming it.
        for _ in 0..20 {
            assert_eq!(c.cmd(&["RANDOMKEY"]), "$5\r\nstays\r\n", "{name}");
        }
        assert_eq!(c.cmd(&["DBSIZE"]), ":2\r\n", "{name}");
        assert_eq!(
            common::info_u64(&mut c, "stats", "expired_keys"),
            0,
            "{name}"
        );
        assert_eq!(c.cmd(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
        assert_eq!(c.cmd(&["GET", "soon"]), "$-1\r\n", "{name}");
        assert_eq!(c.cmd(&["DBSIZE"]), ":1\r\n", "{name}");
        assert_eq!(
            common::info_u64(&mut c, "stats", "expired_keys"),
            1,
            "{name}"
        );
    }
}

/// Where a tracking client's own invalidations fall among its replies, as Redis orders them:
/// after the reply of the write that caused them (before the next reply in a pipeline), but
/// before the reply of a command whose room was made by evicting a key it tracks.
#[test]
fn own_invalidations_in_redis_order() {
    for (name, _server, mut c) in tracking_clients() {
        assert_eq!(c.cmd(&["SET", "k", "v"]), "+OK\r\n", "{name}");
        assert_eq!(c.cmd(&["GET", "k"]), "$1\r\nv\r\n", "{name}");
        let push = |k: &str| format!(">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{k}\r\n", k.len());
        // Pipelined: the write's reply, its invalidation, the next reply.
        let mut batch = common::resp(&[b"SET", b"k", b"v2"]);
        batch.extend(common::resp(&[b"PING"]));
        c.send_raw(&batch);
        assert_eq!(c.read_reply(), "+OK\r\n", "{name}");
        assert_eq!(c.read_reply(), push("k"), "{name}");
        assert_eq!(c.read_reply(), "+PONG\r\n", "{name}");
        // Inside a transaction the message follows EXEC's whole reply.
        assert_eq!(c.cmd(&["GET", "k"]), "$2\r\nv2\r\n", "{name}");
        assert_eq!(c.cmd(&["MULTI"]), "+OK\r\n", "{name}");
        assert_eq!(c.cmd(&["SET", "k", "v3"]), "+QUEUED\r\n", "{name}");
        assert_eq!(c.cmd(&["GET", "k"]), "+QUEUED\r\n", "{name}");
        assert_eq!(c.cmd(&["EXEC"]), "*2\r\n+OK\r\n$2\r\nv3\r\n", "{name}");
        assert_eq!(c.read_reply(), push("k"), "{name}");
        // Eviction: a tracked volatile key makes room for the next command, and the client
        // hears of it before that command's reply.
        let used = common::info_u64(&mut c, "memory", "used_memory");
        c.cmd(&[
            "CONFIG",
            "SET",
            "maxmemory",
            &(used + 100 * 1024).to_string(),
        ]);
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "volatile-random"]);
        assert_eq!(
            c.cmd(&["SETEX", "volatile-key", "10000", "x"]),
            "+OK\r\n",
            "{name}"
        );
        assert_eq!(c.cmd(&["GET", "volatile-key"]), "$1\r\nx\r\n", "{name}");
        assert_eq!(
            c.cmd(&["SETBIT", "big-key", "16000000", "0"]),
            ":0\r\n",
            "{name}"
        );
        assert_eq!(
            c.cmd(&["GETBIT", "big-key", "0"]),
            push("volatile-key"),
            "{name}"
        );
        assert_eq!(c.read_reply(), ":0\r\n", "{name}");
        c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    }
}

/// `tracking-table-max-keys`: lowered below what the table holds, keys leave it and their
/// reader is told of each, until the limit holds. Against both servers.
#[test]
fn tracking_table_max_keys_drops_keys_with_invalidations() {
    for (name, _server, mut c) in tracking_clients() {
        for i in 0..250 {
            let k = format!("key{i}");
            c.cmd(&["SET", &k, "v"]);
            c.cmd(&["GET", &k]);
        }
        assert_eq!(
            common::info_u64(&mut c, "stats", "tracking_total_keys"),
            250,
            "{name}"
        );
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "1"]),
            "+OK\r\n",
            "{name}"
        );
        let mut told = std::collections::HashSet::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while told.len() < 249 {
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: told of {} keys",
                told.len()
            );
            c.send_raw(&common::resp(&[b"PING"]));
            loop {
                let frame = c.read_reply();
                if frame == "+PONG\r\n" {
                    break;
                }
                assert!(
                    frame.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n"),
                    "{name}: {frame}"
                );
                let key = frame.rsplit("\r\n").nth(1).unwrap().to_string();
                assert!(told.insert(key), "{name}: told twice");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(told.len(), 249, "{name}");
        assert_eq!(
            common::info_u64(&mut c, "stats", "tracking_total_keys"),
            1,
            "{name}"
        );
    }
}

/// The tracking table outlives its readers as in Redis: keys read by a client that stopped
/// tracking stay until they change or a flush empties the table. And a limit lowered by
/// CONFIG SET applies before the next command, not only from the cron (stopped here with
/// DEBUG PAUSE-CRON): the reader hears of the dropped key before that command's reply.
#[test]
fn tracking_table_empties_on_flush_and_limits_before_each_command() {
    for (name, _server, mut c) in tracking_clients() {
        for k in ["k1", "k2"] {
            c.cmd(&["GET", k]);
        }
        assert_eq!(c.cmd(&["CLIENT", "TRACKING", "off"]), "+OK\r\n", "{name}");
        let keys = |c: &mut common::Raw| common::info_u64(c, "stats", "tracking_total_keys");
        assert_eq!(keys(&mut c), 2, "{name}");
        assert_eq!(c.cmd(&["FLUSHALL"]), "+OK\r\n", "{name}");
        assert_eq!(keys(&mut c), 0, "{name}");

        assert_eq!(c.cmd(&["DEBUG", "PAUSE-CRON", "1"]), "+OK\r\n", "{name}");
        assert_eq!(c.cmd(&["CLIENT", "TRACKING", "on"]), "+OK\r\n", "{name}");
        for k in ["a{t}", "b{t}"] {
            c.cmd(&["GET", k]);
        }
        c.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "1"]);
        c.send_raw(&common::resp(&[b"PING"]));
        let first = c.read_reply();
        assert!(
            first.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n"),
            "{name}: {first}"
        );
        assert_eq!(c.read_reply(), "+PONG\r\n", "{name}");
        assert_eq!(keys(&mut c), 1, "{name}");
        c.cmd(&["DEBUG", "PAUSE-CRON", "0"]);
    }
}

/// A RESP3 connection with client tracking on, to redis-server and to ferrocache (each with
/// the server it talks to, which lives as long as it is held).
fn tracking_clients() -> Vec<(&'static str, common::Proc, common::Raw)> {
    [
        ("redis", common::redis_server()),
        ("ferrocache", ferrocache(&[])),
    ]
    .into_iter()
    .map(|(name, s)| {
        let mut c = common::Raw::connect(s.port);
        c.cmd(&["HELLO", "3"]);
        assert_eq!(c.cmd(&["CLIENT", "TRACKING", "on"]), "+OK\r\n", "{name}");
        (name, s, c)
    })
    .collect()
}

/// RESET leaves tracking and MONITOR as Redis does (it clears them, as a disconnection does):
/// the same transcript as redis-server.
#[test]
fn reset_clears_tracking_and_monitor() {
    common::same_as_redis(|port| {
        let mut t = String::new();
        let mut a = common::Raw::connect(port);
        let mut other = common::Raw::connect(port);
        for cmd in [
            &["CLIENT", "TRACKING", "ON", "BCAST"][..],
            &["CLIENT", "TRACKINGINFO"],
            &["RESET"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "GETREDIR"],
        ] {
            t.push_str(&a.cmd(cmd));
        }
        // A key changed now is no news to it any more.
        other.cmd(&["SET", "k", "v"]);
        t.push_str(&a.cmd(&["PING"]));
        let mut m = common::Raw::connect(port);
        t.push_str(&m.cmd(&["MONITOR"]));
        t.push_str(&m.cmd(&["RESET"]));
        other.cmd(&["SET", "seen-by-no-monitor", "v"]);
        t.push_str(&m.cmd(&["PING"]));
        let flags = m.cmd(&["CLIENT", "INFO"]);
        t.push_str(flags.split(' ').find(|f| f.starts_with("flags=")).unwrap());
        t
    });
}

/// redis-py's Lock, unchanged (release, extend and reacquire are Lua scripts): the same
/// outcomes as on redis-server, and processes contending for one lock never overlap.
#[test]
fn redis_py_lock() {
    let ours = ferrocache(&[]);
    let theirs = common::redis_server();
    run_python(
        "lock_redis_py.py",
        &[&theirs.port.to_string(), &ours.port.to_string()],
    );
}

/// BullMQ from npm, unchanged (a job queue built on Lua scripts and cmsgpack): jobs added in
/// bulk, delayed, prioritised, retried with fixed and exponential backoff, one failing for
/// good; each job's outcome and the queue's counts are the same as on redis-server.
#[test]
fn bullmq_queue_and_worker() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        dir.join("node_modules/bullmq").exists(),
        "BullMQ is not installed: run scripts/setup-test-env.sh (scripts/test.sh does)"
    );
    let run = |port: u16| {
        let out = std::process::Command::new("node")
            .arg(dir.join("bullmq_queue.mjs"))
            .arg(port.to_string())
            .current_dir(&dir)
            .output()
            .expect("node");
        assert!(
            out.status.success(),
            "bullmq_queue.mjs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let theirs = common::redis_server();
    let expected = run(theirs.port);
    let ours = ferrocache(&[]);
    assert_eq!(run(ours.port), expected);
    assert!(
        expected.contains(r#""completed":23,"failed":1"#),
        "{expected}"
    );
}
