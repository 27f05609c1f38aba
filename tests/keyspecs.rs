//! Key specs against redis-server: COMMAND INFO's key specs field for field, and COMMAND
//! GETKEYS / GETKEYSANDFLAGS over a generated corpus (tests/python/keyspecs.py). Tracking
//! and blocking wake-ups, which read the same specs, are checked here too.

mod common;

use common::{ferrocache, redis_server, run_python, Raw};

#[test]
fn key_specs_and_getkeys_match_redis() {
    let reference = redis_server();
    let ours = ferrocache(&[]);
    run_python(
        "keyspecs.py",
        &[&reference.port.to_string(), &ours.port.to_string()],
    );
}

/// Splits a line into arguments (plain spaces; the lines here need no quoting).
fn args(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// A tracking client reads with a multi-key command; then each source key is written by
/// another client, one at a time, and the reader's invalidations are collected. The same
/// transcript as redis-server: every key the command read is remembered (numkeys, STREAMS
/// and range forms alike).
#[test]
fn tracking_remembers_every_key_a_read_names() {
    const READS: &[(&str, &str, &str)] = &[
        ("ZADD a 1 x; ZADD b 2 y", "ZUNION 2 a b", "a b"),
        ("ZADD a 1 x; ZADD b 2 x", "ZINTER 2 a b WITHSCORES", "a b"),
        ("ZADD a 1 x; ZADD b 2 y", "ZDIFF 2 a b", "a b"),
        ("ZADD a 1 x; ZADD b 2 x", "ZINTERCARD 2 a b", "a b"),
        ("SADD a x; SADD b x", "SINTERCARD 2 a b", "a b"),
        ("SADD a x; SADD b y", "SUNION a b", "a b"),
        ("SADD a x; SADD b y", "SDIFF a b", "a b"),
        (
            "XADD a 1-1 f v; XADD b 1-1 f v",
            "XREAD STREAMS a b 0 0",
            "a b",
        ),
        ("SET a 1; SET b 2", "MGET a b c", "a b c"),
        ("SET a ohmytext; SET b mynewtext", "LCS a b", "a b"),
        ("RPUSH a 1; RPUSH b 2", "SORT_RO a", "a"),
        ("SET a 1", "EXISTS a b", "a b"),
    ];
    let ours = common::same_as_redis(|port| {
        let mut reader = Raw::connect(port);
        let mut writer = Raw::connect(port);
        reader.cmd(&["HELLO", "3"]);
        assert_eq!(reader.cmd(&["CLIENT", "TRACKING", "ON"]), "+OK\r\n");
        let mut t = String::new();
        for (setup, read, keys) in READS {
            writer.cmd(&["FLUSHALL"]);
            // The flush's own message (a null) to everyone tracking.
            t.push_str(&reader.read_reply());
            common::run_script(&mut writer, setup);
            for key in keys.split_whitespace() {
                t.push_str(&format!("{read} / {key}: "));
                reader.cmd(&args(read));
                writer.cmd(&["SET", key, "changed"]);
                // Pushes come before the reply to the next command.
                loop {
                    let r = reader.cmd(&["PING"]);
                    if r == "+PONG\r\n" {
                        break;
                    }
                    t.push_str(&r);
                    t.push_str(&reader.read_reply());
                }
                t.push('\n');
            }
        }
        t
    });
    assert!(ours.matches("invalidate").count() >= 25);
}

/// Writes whose destination only their key specs' keyword, STORE option or numkeys form names
/// serve a client blocked on that destination, as in Redis.
#[test]
fn a_stored_destination_serves_its_blocked_clients() {
    const CASES: &[(&str, &str, &str)] = &[
        (
            "GEOADD g 13.361389 38.115556 Palermo",
            "BZPOPMIN dst 5",
            "GEORADIUS g 15 37 200 km STORE dst",
        ),
        (
            "GEOADD g 13.361389 38.115556 Palermo",
            "BZPOPMAX dst 5",
            "GEOSEARCHSTORE dst g FROMLONLAT 13 38 BYRADIUS 500 km",
        ),
        ("RPUSH l 3 1 2", "BLPOP dst 5", "SORT l STORE dst"),
        (
            "ZADD a 1 x; ZADD b 2 y",
            "BZPOPMIN dst 5",
            "ZUNIONSTORE dst 2 a b",
        ),
        ("ZADD a 1 x", "BZMPOP 5 1 dst MIN", "ZRANGESTORE dst a 0 -1"),
        ("RPUSH src a", "BLPOP dst 5", "LMOVE src dst LEFT RIGHT"),
        (
            "RPUSH src a b",
            "BRPOP dst 5",
            "BLMPOP 1 1 src LEFT COUNT 2",
        ),
        ("SADD a x", "BLPOP other 5", "SUNIONSTORE dst a"),
    ];
    common::same_as_redis(|port| {
        let mut c = Raw::connect(port);
        let mut blocked = Raw::connect(port);
        let mut t = String::new();
        for (setup, wait, write) in CASES {
            c.cmd(&["FLUSHALL"]);
            common::run_script(&mut c, setup);
            blocked.send_raw(&common::resp(
                &args(wait).iter().map(|a| a.as_bytes()).collect::<Vec<_>>(),
            ));
            // Blocked before the write runs.
            common::wait_for(|| common::info_u64(&mut c, "clients", "blocked_clients") == 1);
            t.push_str(&format!("{write}: {}", c.cmd(&args(write))));
            if wait.contains("other") {
                // Not fed: it times out (as it must), and BLPOP's null array is the reply.
                c.cmd(&["RPUSH", "other", "done"]);
            }
            t.push_str(&blocked.read_reply());
            t.push('\n');
        }
        t
    });
}
