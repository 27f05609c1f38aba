//! Replication with a real redis-server as the replica of ferrocache: the snapshot it loads,
//! the stream that follows (with the writes whose effects are rewritten: TTLs, floats, SPOP,
//! served blocking pops, XADD IDs, transactions, expiry and eviction), partial resync after a
//! lost link, WAIT, ROLE and INFO.

mod common;

use std::time::{Duration, Instant};

use common::{
    assert_same, canonical, ferrocache, in_sync, info_u64, populate_shapes, redis_server_with,
    replica_of, wait_for, Raw,
};

#[test]
fn a_redis_replica_follows_every_kind_of_write() {
    let fc = ferrocache(&[]);
    let mut p = Raw::connect(fc.port);
    // Before the replica: it gets these in the snapshot.
    populate_shapes(&mut p);
    p.cmd(&["SET", "ttl-before", "x", "EX", "1000"]);
    p.cmd(&["SELECT", "5"]);
    p.cmd(&["SET", "in-db5", "y"]);
    p.cmd(&["SELECT", "0"]);
    let (_r, mut r) = replica_of(&fc);

    // Writes whose effects are rewritten.
    let writes: &[&[&str]] = &[
        &["SET", "a", "1", "EX", "500"],
        &["SET", "b", "2", "PX", "500000", "GET"],
        &["SETEX", "c", "300", "3"],
        &["PSETEX", "d", "300000", "4"],
        &["SET", "e", "5"],
        &["EXPIRE", "e", "700"],
        &["PEXPIRE", "str", "900000"],
        &["EXPIREAT", "int", "4000000000"],
        &["GETEX", "e", "EX", "800"],
        &["GETEX", "d", "PERSIST"],
        &["SET", "f", "1.5"],
        &["INCRBYFLOAT", "f", "0.1"],
        &["INCRBYFLOAT", "f", "1e3"],
        &["HINCRBYFLOAT", "hash", "fl", "2.7"],
        &["SPOP", "bigset"],
        &["SPOP", "bigset", "7"],
        &["SPOP", "set", "10"],
        &["XADD", "stream", "*", "k", "v"],
        &["XADD", "s2", "MAXLEN", "~", "3", "*", "k", "v"],
        &["XADD", "s2", "*", "k", "w"],
        &["XTRIM", "stream", "MAXLEN", "~", "100"],
        &["EXPIRE", "long", "-1"],
        &["SET", "gone", "1", "PX", "1"],
        &["SADD", "src", "m", "n"],
        &["SADD", "dst", "m"],
        &["SMOVE", "src", "dst", "m"],
        &["RPUSH", "q", "1", "2", "3"],
        &["BLPOP", "q", "0"],
        &["BLMOVE", "q", "q2", "RIGHT", "LEFT", "0"],
        &["BZPOPMIN", "zset", "0"],
        &[
            "BLMPOP", "0", "2", "nolist", "biglist", "RIGHT", "COUNT", "5",
        ],
        &["BZMPOP", "0", "1", "bigzset", "MAX", "COUNT", "4"],
        &["COPY", "f", "f-in-7", "DB", "7"],
    ];
    for w in writes {
        let reply = p.cmd(w);
        assert!(!reply.starts_with('-'), "{w:?}: {reply}");
    }
    // Consumer groups: reads (with and without NOACK), claims, an automatic claim.
    for w in [
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "alice",
            "COUNT",
            "2",
            "STREAMS",
            "stream",
            ">",
        ][..],
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "dave",
            "COUNT",
            "1",
            "NOACK",
            "STREAMS",
            "stream",
            ">",
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g2",
            "carol",
            "STREAMS",
            "stream",
            "0",
        ],
        &["XCLAIM", "stream", "g1", "bob", "0", "2-1", "3-1"],
        &["XAUTOCLAIM", "stream", "g1", "erin", "0", "0", "COUNT", "3"],
        &["XGROUP", "CREATE", "s3", "g", "$", "MKSTREAM"],
    ] {
        let reply = p.cmd(w);
        assert!(!reply.starts_with('-'), "{w:?}: {reply}");
    }
    // RESTORE with a relative TTL, and a PFCOUNT that caches its count in the value.
    let dump = p.cmd_bytes(&[b"DUMP", b"list"]);
    let start = dump.iter().position(|&b| b == b'\n').unwrap() + 1;
    let payload = &dump[start..dump.len() - 2];
    let restored = p.cmd_bytes(&[b"RESTORE", b"restored", b"600000", payload]);
    assert_eq!(restored, b"+OK\r\n");
    p.cmd(&["PFADD", "hll", "a", "b", "c"]);
    assert_eq!(p.cmd(&["PFCOUNT", "hll"]), ":3\r\n");
    // A transaction that changes databases inside.
    for cmd in [
        &["MULTI"][..],
        &["INCR", "counter"],
        &["SELECT", "3"],
        &["SET", "in-db3", "z", "EX", "100"],
        &["SPOP", "nothing"],
        &["EXEC"],
    ] {
        p.cmd(cmd);
    }
    p.cmd(&["SELECT", "0"]);

    // Blocking pops and a group read served by a later write, on another connection.
    let port = fc.port;
    let waiter = std::thread::spawn(move || {
        let mut w = Raw::connect(port);
        let a = w.cmd(&["BRPOP", "later", "5"]);
        let b = w.cmd(&["BLMOVE", "later2", "moved", "LEFT", "RIGHT", "5"]);
        let g = w.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "frank",
            "BLOCK",
            "5000",
            "STREAMS",
            "s3",
            ">",
        ]);
        (a, b, g)
    });
    wait_for(|| info_u64(&mut p, "clients", "blocked_clients") == 1);
    p.cmd(&["RPUSH", "later", "x", "y"]);
    wait_for(|| info_u64(&mut p, "clients", "blocked_clients") == 1);
    p.cmd(&["RPUSH", "later2", "u", "v"]);
    wait_for(|| info_u64(&mut p, "clients", "blocked_clients") == 1);
    p.cmd(&["XADD", "s3", "*", "x", "1"]);
    let (a, b, g) = waiter.join().unwrap();
    assert!(a.contains("later") && a.contains('y'), "{a}");
    assert_eq!(b, "$1\r\nu\r\n");
    // The entry XADD gave the waiting reader: [[s3, [[id, [x, 1]]]]].
    let id = p.cmd(&["XRANGE", "s3", "-", "+"]);
    let id = id.split("\r\n").nth(3).expect("one entry");
    assert_eq!(
        g,
        format!(
            "*1\r\n*2\r\n$2\r\ns3\r\n*1\r\n*2\r\n${}\r\n{id}\r\n*2\r\n$1\r\nx\r\n$1\r\n1\r\n",
            id.len()
        )
    );

    // The key that lived a millisecond is reclaimed (lazily here) and its DEL replicated.
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(p.cmd(&["GET", "gone"]), "$-1\r\n");

    assert_eq!(p.cmd(&["WAIT", "1", "5000"]), ":1\r\n");
    in_sync(&mut p, &mut r);
    for db in [0, 3, 5, 7] {
        let (mine, theirs) = (canonical(&mut p, db), canonical(&mut r, db));
        assert!(!mine.is_empty(), "db {db} is empty");
        assert_same(&mine, &theirs, db);
    }
    // Keys the replica still holds but cannot show (expired without a DEL) would only be
    // visible in the counts.
    for db in [0, 3] {
        p.cmd(&["SELECT", &db.to_string()]);
        r.cmd(&["SELECT", &db.to_string()]);
        assert_eq!(p.cmd(&["DBSIZE"]), r.cmd(&["DBSIZE"]), "db {db}");
    }
}

#[test]
fn expiry_and_eviction_reach_the_replica_as_deletes() {
    let fc = ferrocache(&["--maxmemory-policy", "allkeys-random"]);
    let mut p = Raw::connect(fc.port);
    let (_r, mut r) = replica_of(&fc);
    // Keys that expire with nobody reading them: the active cycle deletes them.
    for i in 0..50 {
        p.cmd(&["SET", &format!("short:{i}"), "v", "PX", "50"]);
    }
    for i in 0..2000 {
        p.cmd(&["SET", &format!("key:{i}"), &"x".repeat(200)]);
    }
    in_sync(&mut p, &mut r);
    wait_for(|| info_u64(&mut p, "stats", "expired_keys") == 50);
    in_sync(&mut p, &mut r);
    assert_eq!(r.cmd(&["DBSIZE"]), ":2000\r\n");

    // Eviction: a limit below what the keys take.
    let used = info_u64(&mut p, "memory", "used_memory");
    p.cmd(&["CONFIG", "SET", "maxmemory", &(used - 200_000).to_string()]);
    p.cmd(&["SET", "one-more", "v"]);
    let evicted = info_u64(&mut p, "stats", "evicted_keys");
    assert!(evicted > 0);
    // Every command evicts while memory is over the limit: lift it before comparing.
    p.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    in_sync(&mut p, &mut r);
    assert_eq!(p.cmd(&["DBSIZE"]), r.cmd(&["DBSIZE"]));
    assert_same(&canonical(&mut p, 0), &canonical(&mut r, 0), 0);
}

#[test]
fn a_lost_link_resumes_from_the_backlog() {
    let fc = ferrocache(&[]);
    let mut p = Raw::connect(fc.port);
    p.cmd(&["SET", "k", "1"]);
    let (_r, mut r) = replica_of(&fc);
    assert_eq!(info_u64(&mut p, "stats", "sync_full"), 1);
    assert_eq!(p.cmd(&["CLIENT", "KILL", "TYPE", "replica"]), ":1\r\n");
    for i in 0..100 {
        p.cmd(&["INCR", "k"]);
        p.cmd(&["RPUSH", "l", &i.to_string()]);
    }
    wait_for(|| info_u64(&mut p, "replication", "connected_slaves") == 1);
    in_sync(&mut p, &mut r);
    assert_eq!(info_u64(&mut p, "stats", "sync_partial_ok"), 1);
    assert_eq!(info_u64(&mut p, "stats", "sync_full"), 1);
    assert_eq!(r.cmd(&["GET", "k"]), "$3\r\n101\r\n");
    assert_same(&canonical(&mut p, 0), &canonical(&mut r, 0), 0);
}

#[test]
fn role_info_and_wait_describe_the_replicas() {
    let fc = ferrocache(&["--repl-backlog-size", "65536"]);
    let mut p = Raw::connect(fc.port);
    // Without replicas: WAIT 0 answers at once, WAIT 1 waits out its timeout.
    assert_eq!(p.cmd(&["WAIT", "0", "0"]), ":0\r\n");
    let t = Instant::now();
    assert_eq!(p.cmd(&["WAIT", "1", "200"]), ":0\r\n");
    assert!(t.elapsed() >= Duration::from_millis(190));
    assert_eq!(info_u64(&mut p, "replication", "repl_backlog_active"), 0);

    let (r, mut rc) = replica_of(&fc);
    p.cmd(&["SET", "x", "1"]);
    assert_eq!(p.cmd(&["WAIT", "1", "0"]), ":1\r\n");
    // The replica acknowledges the GETACK that WAIT sent too (and the PINGs the primary
    // sends every 10 s, so the offsets are read together).
    in_sync(&mut p, &mut rc);
    let mut role = String::new();
    wait_for(|| {
        role = p.cmd(&["ROLE"]);
        let offset = info_u64(&mut p, "replication", "master_repl_offset");
        let want = format!(
            "*3\r\n$6\r\nmaster\r\n:{offset}\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n${}\r\n{}\r\n${}\r\n{offset}\r\n",
            r.port.to_string().len(),
            r.port,
            offset.to_string().len()
        );
        role == want
    });
    let info = p.cmd(&["INFO", "replication"]);
    let offset = info_u64(&mut p, "replication", "master_repl_offset");
    assert!(offset > 0);
    let line = format!("slave0:ip=127.0.0.1,port={},state=online,offset=", r.port);
    assert!(info.contains(&line), "{info}");
    assert!(info.contains("connected_slaves:1\r\n"), "{info}");
    assert!(info.contains("repl_backlog_size:65536\r\n"), "{info}");
    // Resized at run time, keeping the newest bytes.
    p.cmd(&["CONFIG", "SET", "repl-backlog-size", "16384"]);
    let info = p.cmd(&["INFO", "replication"]);
    assert!(info.contains("repl_backlog_size:16384\r\n"), "{info}");
    let list = p.cmd(&["CLIENT", "LIST", "TYPE", "replica"]);
    assert!(list.contains("flags=S"), "{list}");
    // min-replicas-to-write counts the replica that acknowledges every second.
    p.cmd(&["CONFIG", "SET", "min-replicas-to-write", "1"]);
    assert_eq!(p.cmd(&["SET", "y", "2"]), "+OK\r\n");
    p.cmd(&["CONFIG", "SET", "min-replicas-to-write", "2"]);
    assert!(p.cmd(&["SET", "y", "3"]).starts_with("-NOREPLICAS"));
    p.cmd(&["CONFIG", "SET", "min-replicas-to-write", "0"]);
    // ReplicationBytes is the stream's growth in a period (of a second here).
    p.cmd(&["CONFIG", "SET", "metrics-period", "1"]);
    std::thread::sleep(Duration::from_millis(1100));
    p.cmd(&["SET", "z", "1"]);
    wait_for(|| {
        let cw = p.cmd(&["INFO", "cloudwatch"]);
        cw.split("\r\n").any(|l| {
            l.strip_prefix("ReplicationBytes:")
                .is_some_and(|v| v.parse::<f64>().unwrap() >= 27.0)
        })
    });
    drop(r);
    wait_for(|| info_u64(&mut p, "replication", "connected_slaves") == 0);
    // Replication commands' errors, as Redis words them.
    assert_eq!(
        p.cmd(&["REPLCONF", "listening-port"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        p.cmd(&["REPLCONF", "bogus", "1"]),
        "-ERR Unrecognized REPLCONF option: bogus\r\n"
    );
    assert_eq!(p.cmd(&["REPLICAOF", "NO", "ONE"]), "+OK\r\n");
}

/// `replica` follows `primary` (both ferrocache or Redis): waits for the link.
fn follow(replica: &mut Raw, primary_port: u16) {
    assert_eq!(
        replica.cmd(&["REPLICAOF", "127.0.0.1", &primary_port.to_string()]),
        "+OK\r\n"
    );
    wait_for(|| {
        replica
            .cmd(&["INFO", "replication"])
            .contains("master_link_status:up")
    });
}

#[test]
fn ferrocache_replicates_from_redis() {
    // Diskless (EOF-marked) snapshot, Redis 7's default, without its 5 s wait for replicas.
    let redis = redis_server_with(&["--repl-diskless-sync-delay", "0"]);
    let mut p = Raw::connect(redis.port);
    populate_shapes(&mut p);
    p.cmd(&["SET", "ttl", "x", "EX", "1000"]);
    p.cmd(&["SELECT", "4"]);
    p.cmd(&["SET", "in-db4", "y"]);
    p.cmd(&["SELECT", "0"]);
    let fc = ferrocache(&["--metrics-period", "1"]);
    let mut r = Raw::connect(fc.port);
    r.cmd(&["SET", "mine", "goes away"]);
    follow(&mut r, redis.port);
    // The stream after the snapshot, as Redis writes it.
    for w in [
        &["SET", "a", "1", "EX", "500"][..],
        &["INCRBYFLOAT", "f", "2.5"],
        &["SPOP", "bigset", "5"],
        &["EXPIRE", "str", "900"],
        &["XADD", "stream", "*", "k", "v"],
        &["RPUSH", "q", "1", "2"],
        &["LPOP", "q"],
        &["SET", "short", "v", "PX", "100"],
    ] {
        assert!(!p.cmd(w).starts_with('-'), "{w:?}");
    }
    for cmd in [
        &["MULTI"][..],
        &["INCR", "n"],
        &["SELECT", "4"],
        &["HSET", "h4", "f", "v"],
        &["EXEC"],
    ] {
        p.cmd(cmd);
    }
    p.cmd(&["SELECT", "0"]);
    // Redis counts our acknowledgements.
    assert_eq!(p.cmd(&["WAIT", "1", "5000"]), ":1\r\n");
    // The short-lived key: Redis expires it and sends the DEL.
    wait_for(|| p.cmd(&["EXISTS", "short"]) == ":0\r\n");
    wait_for(|| {
        info_u64(&mut r, "replication", "slave_repl_offset")
            >= info_u64(&mut p, "replication", "master_repl_offset")
    });
    for db in [0, 4] {
        assert_same(&canonical(&mut p, db), &canonical(&mut r, db), db);
    }
    p.cmd(&["SELECT", "0"]);
    r.cmd(&["SELECT", "0"]);
    assert_eq!(r.cmd(&["EXISTS", "mine"]), ":0\r\n");

    // A replica refuses writes from its clients, serves reads, and says what it is.
    assert_eq!(
        r.cmd(&["SET", "x", "1"]),
        "-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(r.cmd(&["GET", "a"]), "$1\r\n1\r\n");
    let info = r.cmd(&["INFO", "replication"]);
    assert!(info.contains("role:slave\r\n"), "{info}");
    assert!(
        info.contains(&format!("master_port:{}\r\n", redis.port)),
        "{info}"
    );
    let role = r.cmd(&["ROLE"]);
    assert!(
        role.starts_with("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n"),
        "{role}"
    );
    assert!(role.contains("$9\r\nconnected\r\n"), "{role}");
    assert!(r
        .cmd(&["CLIENT", "LIST", "TYPE", "master"])
        .contains("flags=M"));
    // CloudWatch: a replica is not the master and publishes its lag (0: in sync).
    wait_for(|| {
        let cw = r.cmd(&["INFO", "cloudwatch"]);
        cw.contains("IsMaster:0\r\n") && cw.contains("ReplicationLag:0\r\n")
    });

    // A lost link resumes where it stopped, in the database the stream had selected (the
    // primary does not select it again).
    p.cmd(&["SELECT", "4"]);
    p.cmd(&["SET", "before-the-break", "1"]);
    assert_eq!(p.cmd(&["WAIT", "1", "5000"]), ":1\r\n");
    assert_eq!(p.cmd(&["CLIENT", "KILL", "TYPE", "replica"]), ":1\r\n");
    p.cmd(&["SET", "after-the-break", "1"]);
    p.cmd(&["SELECT", "0"]);
    wait_for(|| info_u64(&mut p, "stats", "sync_partial_ok") == 1);
    r.cmd(&["SELECT", "4"]);
    wait_for(|| r.cmd(&["GET", "after-the-break"]) == "$1\r\n1\r\n");
    r.cmd(&["SELECT", "0"]);
    assert_eq!(info_u64(&mut p, "stats", "sync_full"), 1);
    // Killing the link from the replica's side: it is made again, resuming.
    assert_eq!(r.cmd(&["CLIENT", "KILL", "TYPE", "master"]), ":1\r\n");
    wait_for(|| info_u64(&mut p, "stats", "sync_partial_ok") == 2);
    assert_eq!(info_u64(&mut p, "stats", "sync_full"), 1);

    // Promoted: the data stays and writes are taken again.
    assert_eq!(r.cmd(&["REPLICAOF", "NO", "ONE"]), "+OK\r\n");
    assert!(r.cmd(&["INFO", "replication"]).contains("role:master\r\n"));
    assert_eq!(r.cmd(&["SET", "x", "1"]), "+OK\r\n");
    assert_eq!(r.cmd(&["GET", "a"]), "$1\r\n1\r\n");
    // Following the old primary again takes a full copy: the writes taken meanwhile go.
    follow(&mut r, redis.port);
    assert_eq!(info_u64(&mut p, "stats", "sync_full"), 2);
    assert_eq!(r.cmd(&["EXISTS", "x"]), ":0\r\n");
    assert_same(&canonical(&mut p, 0), &canonical(&mut r, 0), 0);
}

#[test]
fn ferrocache_replicates_from_ferrocache() {
    let primary = ferrocache(&[]);
    let mut p = Raw::connect(primary.port);
    populate_shapes(&mut p);
    let emf = common::temp_dir("lag").join("emf.jsonl");
    let replica = ferrocache(&[
        "--metrics-period",
        "1",
        "--metrics-emf-file",
        emf.to_str().unwrap(),
    ]);
    let mut r = Raw::connect(replica.port);
    follow(&mut r, primary.port);
    for i in 0..200 {
        p.cmd(&["SET", &format!("k{i}"), &i.to_string(), "EX", "1000"]);
        p.cmd(&["HINCRBYFLOAT", "hf", &format!("f{}", i % 7), "0.1"]);
    }
    p.cmd(&["SPOP", "bigset", "50"]);
    assert_eq!(p.cmd(&["WAIT", "1", "5000"]), ":1\r\n");
    in_sync(&mut p, &mut r);
    assert_same(&canonical(&mut p, 0), &canonical(&mut r, 0), 0);

    // Lag inside a working link: the replica's only I/O thread is kept busy (a large DEBUG
    // POPULATE) while the primary takes writes; the periods that end meanwhile see it behind.
    let port = primary.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_writer = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut w = Raw::connect(port);
        while !stop_writer.load(std::sync::atomic::Ordering::Relaxed) {
            w.cmd(&["INCR", "ticks"]);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    // Sized to the machine: a faster one gets a larger populate, until one call is long enough.
    let (mut n, mut busy) = (1_500_000f64, Duration::ZERO);
    for round in 0..4 {
        let t = Instant::now();
        r.cmd(&[
            "DEBUG",
            "POPULATE",
            &(n as u64).to_string(),
            &format!("pop{round}"),
        ]);
        busy = t.elapsed();
        if busy >= Duration::from_millis(2000) {
            break;
        }
        n *= 2600.0 / busy.as_millis().max(1) as f64;
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    in_sync(&mut p, &mut r);
    std::thread::sleep(Duration::from_millis(1200));
    let docs = std::fs::read_to_string(&emf).unwrap();
    let lags: Vec<f64> = docs
        .lines()
        .filter_map(|d| {
            let at = d.rfind("\"ReplicationLag\":")? + "\"ReplicationLag\":".len();
            d[at..].split([',', '}']).next()?.parse().ok()
        })
        .collect();
    let worst = lags.iter().cloned().fold(0.0, f64::max);
    // The thread was busy for `busy`; periods close every second, samples every 250 ms, so a
    // period ended while it was at least a second behind.
    assert!(
        busy >= Duration::from_millis(2000),
        "not kept busy long enough: {busy:?}"
    );
    assert!(worst >= 1.0, "busy {busy:?}, lags {lags:?}");
    assert!(lags.last().is_some_and(|&l| l < 0.5), "caught up: {lags:?}");
    let link_lost = Instant::now();
    drop(primary);
    // The link is down: ReplicationLag counts from when it was last in sync.
    wait_for(|| {
        r.cmd(&["INFO", "replication"])
            .contains("master_link_status:down")
    });
    std::thread::sleep(Duration::from_millis(1100));
    let info = r.cmd(&["INFO", "replication"]);
    assert!(info.contains("master_link_down_since_seconds:"), "{info}");
    assert!(link_lost.elapsed() >= Duration::from_secs(1));
}

/// SHUTDOWN on a primary whose replica is behind (here stopped with SIGSTOP, its socket
/// full): writes pause, INFO shows shutdown_in_milliseconds and the SHUTDOWN client is
/// blocked; once the replica wakes and acknowledges, the primary exits and the replica holds
/// the last write. SHUTDOWN ABORT during such a wait resumes writes and fails the waiting
/// SHUTDOWN. The same with redis-server as the primary.
#[test]
fn shutdown_waits_for_a_lagging_replica() {
    for primary_is_ferrocache in [false, true] {
        for abort in [false, true] {
            let args = ["--shutdown-timeout", "60"];
            let mut fc = if primary_is_ferrocache {
                ferrocache(&args)
            } else {
                redis_server_with(&args)
            };
            let mut p = Raw::connect(fc.port);
            let (replica, mut r) = replica_of(&fc);
            p.cmd(&["SET", "k", "1"]);
            in_sync(&mut p, &mut r);
            let stop = |sig: &str| {
                std::process::Command::new("kill")
                    .args([sig, &replica.child.id().to_string()])
                    .status()
                    .unwrap()
            };
            stop("-STOP");
            // Fill the replica's socket so that the next write cannot reach it.
            let big = "x".repeat(1 << 20);
            for i in 0..8 {
                p.cmd(&["SET", &format!("filler-{i}"), &big]);
            }
            p.cmd(&["INCR", "k"]);
            let mut s = Raw::connect(fc.port);
            s.send_raw(b"SHUTDOWN\r\n");
            wait_for(|| {
                p.cmd(&["INFO", "server"])
                    .contains("shutdown_in_milliseconds:")
            });
            assert!(p
                .cmd(&["INFO", "clients"])
                .contains("blocked_clients:1\r\n"));
            if abort {
                assert_eq!(p.cmd(&["SHUTDOWN", "ABORT"]), "+OK\r\n");
                let e = s.read_reply();
                assert!(e.starts_with("-ERR Errors trying to SHUTDOWN"), "{e}");
                assert_eq!(p.cmd(&["SET", "after", "1"]), "+OK\r\n");
                assert!(!p
                    .cmd(&["INFO", "server"])
                    .contains("shutdown_in_milliseconds:"));
                stop("-CONT");
                continue;
            }
            stop("-CONT");
            assert!(
                common::wait_exit(&mut fc).is_some(),
                "the primary did not exit"
            );
            assert_eq!(r.cmd(&["GET", "k"]), "$1\r\n2\r\n");
        }
    }
}
