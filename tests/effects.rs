//! What every write command changed, compared with redis-server: for a no-op form and an
//! effective form of each write command in the table, run while another client WATCHes the
//! keys it names, a subscriber listens to every keyspace event (`KEA`), and a BCAST tracking
//! client redirects its invalidations to that subscriber: the same reply, the same EXEC
//! outcome for the watcher, the same events and invalidations in the same order, and the same
//! movement of INFO's rdb_changes_since_last_save.

mod common;

use common::{ferrocache, redis_server, send, words, Raw};

/// One case: commands that set the scene, the command under test, the keys watched.
struct Case {
    setup: &'static str,
    cmd: &'static str,
    watch: &'static str,
}

const fn case(setup: &'static str, cmd: &'static str, watch: &'static str) -> Case {
    Case { setup, cmd, watch }
}

/// Every write command, as it changes nothing and as it changes something. Setup commands are
/// separated by `;`.
const CASES: &[Case] = &[
    // strings
    case("SET k v", "SET k v2", "k"),
    case("SET k v", "SET k v2 NX", "k"),
    case("", "SET k v XX", "k"),
    case("SET k v", "SET k v3 GET", "k"),
    case("", "SET k v EX 100", "k"),
    case("SET k v", "SETNX k w", "k"),
    case("", "SETNX k w", "k"),
    case("", "SETEX k 100 v", "k"),
    case("", "PSETEX k 100000 v", "k"),
    case("SET k v", "GETSET k w", "k"),
    case("", "GETDEL k", "k"),
    case("SET k v", "GETDEL k", "k"),
    case("SET k v", "GETEX k", "k"),
    case("SET k v", "GETEX k EX 100", "k"),
    case("SET k v", "GETEX k PERSIST", "k"),
    case("SET k v EX 100", "GETEX k PERSIST", "k"),
    case("", "MSET a 1 b 2", "a b"),
    case("SET a 1", "MSETNX a 1 b 2", "a b"),
    case("", "MSETNX a 1 b 2", "a b"),
    case("", "APPEND k xyz", "k"),
    case("", "INCR n", "n"),
    case("SET n 5", "DECR n", "n"),
    case("", "INCRBY n 7", "n"),
    case("", "DECRBY n 7", "n"),
    case("SET s abc", "INCR s", "s"),
    case("", "INCRBYFLOAT f 1.5", "f"),
    case("SET k hello", "SETRANGE k 0 \"\"", "k"),
    case("SET k hello", "SETRANGE k 1 EY", "k"),
    case("", "SETRANGE k 3 \"\"", "k"),
    case("SETBIT b 7 1", "SETBIT b 7 1", "b"),
    case("SETBIT b 7 1", "SETBIT b 7 0", "b"),
    case("", "SETBIT b 100 0", "b"),
    case("SET k v", "LPUSH k a", "k"),
    // bitmaps
    case("SET b \"\\x0f\"", "BITFIELD b SET u4 4 15", "b"),
    case(
        "SET b \"\\x0f\"",
        "BITFIELD b SET u4 0 15 INCRBY u4 4 1",
        "b",
    ),
    case("SET b \"\\x0f\"", "BITFIELD b GET u4 0", "b"),
    case("", "BITOP AND d a b", "d a b"),
    case("SET d x", "BITOP AND d a b", "d"),
    case("SET a ab; SET b cd", "BITOP OR d a b", "d a b"),
    // keys
    case("", "DEL a b", "a b"),
    case("SET a 1; SET b 2", "DEL a b c", "a b c"),
    case("SET a 1", "UNLINK a b", "a b"),
    case("", "EXPIRE k 100", "k"),
    case("SET k v", "EXPIRE k 100", "k"),
    case("SET k v EX 100", "EXPIRE k 200 NX", "k"),
    case("SET k v", "EXPIRE k -1", "k"),
    case("SET k v", "PEXPIRE k 100000", "k"),
    case("SET k v", "EXPIREAT k 4000000000", "k"),
    case("SET k v", "PEXPIREAT k 4000000000000", "k"),
    case("SET k v", "PEXPIREAT k 1", "k"),
    case("SET k v", "PERSIST k", "k"),
    case("SET k v EX 100", "PERSIST k", "k"),
    case("SET a 1", "RENAME a b", "a b"),
    case("SET a 1", "RENAME a a", "a"),
    case("SET a 1; SET b 2", "RENAMENX a b", "a b"),
    case("SET a 1", "RENAMENX a b", "a b"),
    case("SET k v", "MOVE k 1", "k"),
    case("SET k v; SELECT 1; SET k w; SELECT 0", "MOVE k 1", "k"),
    case("SET a v", "COPY a b", "a b"),
    case("SET a v; SET b w", "COPY a b", "a b"),
    case("SET a v", "COPY a b DB 2", "a b"),
    case(
        "SET k v",
        "RESTORE k 0 \"\\x00\\x01x\\n\\x00\\xd0\\x0c\\x1cW\\x83\\x1a\\xb1\\xe6\"",
        "k",
    ),
    case(
        "",
        "RESTORE k 100000 \"\\x00\\x01x\\n\\x00\\xd0\\x0c\\x1cW\\x83\\x1a\\xb1\\xe6\"",
        "k",
    ),
    case(
        "SET k v",
        "RESTORE k 0 \"\\x00\\x01x\\n\\x00\\xd0\\x0c\\x1cW\\x83\\x1a\\xb1\\xe6\" REPLACE",
        "k",
    ),
    case("RPUSH l 3 1 2", "SORT l STORE d", "l d"),
    case("SET d x", "SORT missing STORE d", "d"),
    case("", "SORT missing STORE d", "d"),
    // lists
    case("", "LPUSH l a b", "l"),
    case("", "RPUSH l a b c", "l"),
    case("", "LPUSHX l a", "l"),
    case("RPUSH l x", "RPUSHX l a b", "l"),
    case("", "LPOP l", "l"),
    case("RPUSH l a b c", "LPOP l 2", "l"),
    case("RPUSH l a b c", "LPOP l 0", "l"),
    case("RPUSH l a", "RPOP l", "l"),
    case("RPUSH l a b", "LINSERT l BEFORE zz x", "l"),
    case("RPUSH l a b", "LINSERT l AFTER a x", "l"),
    case("RPUSH l a b a", "LREM l 0 zz", "l"),
    case("RPUSH l a b a", "LREM l 0 a", "l"),
    case("RPUSH l a b", "LSET l 0 z", "l"),
    case("RPUSH l a b c", "LTRIM l 0 -1", "l"),
    case("RPUSH l a b c", "LTRIM l 1 1", "l"),
    case("RPUSH l a b c", "LTRIM l 5 10", "l"),
    case("", "LTRIM l 0 1", "l"),
    case("RPUSH l a", "LMOVE l d LEFT RIGHT", "l d"),
    case("", "LMOVE l d LEFT RIGHT", "l d"),
    case("RPUSH l a b", "RPOPLPUSH l l", "l"),
    case("RPUSH l a b", "LMPOP 2 x l LEFT COUNT 5", "x l"),
    case("", "LMPOP 2 x l LEFT", "x l"),
    case("RPUSH l a", "BLPOP x l 0.01", "x l"),
    case("", "BLPOP x l 0.01", "x l"),
    case("RPUSH l a b", "BRPOP l 0.01", "l"),
    case("RPUSH l a", "BLMOVE l d RIGHT LEFT 0.01", "l d"),
    case("", "BLMOVE l d RIGHT LEFT 0.01", "l d"),
    case("RPUSH l a", "BRPOPLPUSH l d 0.01", "l d"),
    case("RPUSH l a b", "BLMPOP 0.01 1 l RIGHT COUNT 1", "l"),
    case("", "BLMPOP 0.01 1 l RIGHT", "l"),
    // hashes
    case("", "HSET h a 1 b 2", "h"),
    case("HSET h a 1", "HSET h a 1", "h"),
    case("", "HMSET h a 1 b 2", "h"),
    case("HSET h a 1", "HSETNX h a 2", "h"),
    case("", "HSETNX h a 2", "h"),
    case("HSET h a 1", "HDEL h zz", "h"),
    case("HSET h a 1 b 2", "HDEL h a b zz", "h"),
    case("HSET h a 1", "HDEL h a", "h"),
    case("", "HDEL h a", "h"),
    case("", "HINCRBY h f 3", "h"),
    case("HSET h f x", "HINCRBY h f 3", "h"),
    case("", "HINCRBYFLOAT h f 0.5", "h"),
    // sets
    case("", "SADD s a b", "s"),
    case("SADD s a", "SADD s a", "s"),
    case("SADD s a", "SREM s zz", "s"),
    case("SADD s a b", "SREM s a b", "s"),
    case("SADD s a", "SPOP s", "s"),
    case("", "SPOP s", "s"),
    case("SADD s a", "SPOP s 5", "s"),
    case("SADD s a b", "SPOP s 0", "s"),
    case("SADD s a; SADD d a", "SMOVE s d a", "s d"),
    case("SADD s a", "SMOVE s d a", "s d"),
    case("SADD s a", "SMOVE s d zz", "s d"),
    case("SADD s a", "SMOVE s s a", "s"),
    case("SADD a 1 2; SADD b 2 3", "SINTERSTORE d a b", "d a b"),
    case("SET d x", "SINTERSTORE d a b", "d"),
    case("", "SINTERSTORE d a b", "d"),
    case("SADD a 1", "SUNIONSTORE d a b", "d"),
    case("SADD a 1; SADD d z", "SDIFFSTORE d a a", "d"),
    // sorted sets
    case("", "ZADD z 1 a 2 b", "z"),
    case("ZADD z 1 a", "ZADD z 1 a", "z"),
    case("ZADD z 1 a", "ZADD z XX 5 b", "z"),
    case("ZADD z 1 a", "ZADD z CH 2 a 3 b", "z"),
    case("ZADD z 1 a", "ZADD z INCR 0 a", "z"),
    case("ZADD z 1 a", "ZINCRBY z 0 a", "z"),
    case("ZADD z 1 a", "ZINCRBY z 2 a", "z"),
    case("ZADD z 1 a", "ZREM z zz", "z"),
    case("ZADD z 1 a 2 b", "ZREM z a b", "z"),
    case("ZADD z 1 a 2 b", "ZREMRANGEBYRANK z 5 10", "z"),
    case("ZADD z 1 a 2 b", "ZREMRANGEBYRANK z 0 0", "z"),
    case("ZADD z 1 a 2 b", "ZREMRANGEBYSCORE z 1 2", "z"),
    case("ZADD z 0 a 0 b", "ZREMRANGEBYLEX z [x [y", "z"),
    case("ZADD z 0 a 0 b", "ZREMRANGEBYLEX z - [a", "z"),
    case("ZADD z 1 a 2 b", "ZPOPMIN z", "z"),
    case("ZADD z 1 a 2 b", "ZPOPMAX z 5", "z"),
    case("", "ZPOPMIN z", "z"),
    case("ZADD z 1 a", "ZPOPMIN z 0", "z"),
    case("ZADD z 1 a 2 b", "ZMPOP 1 z MIN COUNT 1", "z"),
    case("ZADD z 1 a", "BZPOPMIN x z 0.01", "x z"),
    case("", "BZPOPMAX z 0.01", "z"),
    case("ZADD z 1 a 2 b", "BZMPOP 0.01 1 z MAX", "z"),
    case("ZADD z 1 a 2 b", "ZRANGESTORE d z 0 -1", "d z"),
    case("SET d x", "ZRANGESTORE d z 0 -1", "d"),
    case("ZADD a 1 x; ZADD b 2 x", "ZUNIONSTORE d 2 a b", "d a b"),
    case("ZADD a 1 x", "ZINTERSTORE d 2 a b", "d"),
    case("ZADD a 1 x; ZADD d 1 y", "ZDIFFSTORE d 1 b", "d"),
    // geo
    case("", "GEOADD g 13.361389 38.115556 Palermo", "g"),
    case(
        "GEOADD g 13.361389 38.115556 Palermo",
        "GEOADD g NX 13.361389 38.115556 Palermo",
        "g",
    ),
    case(
        "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
        "GEORADIUS g 15 37 200 km STORE d",
        "g d",
    ),
    case(
        "GEOADD g 13.361389 38.115556 Palermo",
        "GEORADIUSBYMEMBER g Palermo 10 km STOREDIST d",
        "g d",
    ),
    case("SET d x", "GEORADIUS missing 15 37 200 km STORE d", "d"),
    case(
        "GEOADD g 13.361389 38.115556 Palermo",
        "GEOSEARCHSTORE d g FROMLONLAT 13 38 BYRADIUS 500 km",
        "d g",
    ),
    // hyperloglog
    case("", "PFADD h a b c", "h"),
    case("PFADD h a", "PFADD h a", "h"),
    case("PFADD h a", "PFCOUNT h", "h"),
    case("PFADD a x; PFADD b y", "PFMERGE d a b", "d a b"),
    case("PFADD h a", "PFDEBUG TODENSE h", "h"),
    // streams
    case("", "XADD s 1-1 f v", "s"),
    case("", "XADD s NOMKSTREAM * f v", "s"),
    case(
        "XADD s 1-1 f v; XADD s 2-1 f v",
        "XADD s MAXLEN 1 3-1 f v",
        "s",
    ),
    case("XADD s 1-1 f v", "XDEL s 9-9", "s"),
    case("XADD s 1-1 f v; XADD s 2-1 f v", "XDEL s 1-1 2-1", "s"),
    case("XADD s 1-1 f v", "XTRIM s MAXLEN 5", "s"),
    case("XADD s 1-1 f v; XADD s 2-1 f v", "XTRIM s MAXLEN 1", "s"),
    case("XADD s 1-1 f v", "XSETID s 5-5", "s"),
    case("XADD s 1-1 f v", "XGROUP CREATE s g 0", "s"),
    case("", "XGROUP CREATE s g $ MKSTREAM", "s"),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0",
        "XGROUP SETID s g 1-1",
        "s",
    ),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0",
        "XGROUP DESTROY s g",
        "s",
    ),
    case("XADD s 1-1 f v", "XGROUP DESTROY s g", "s"),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0",
        "XGROUP CREATECONSUMER s g c",
        "s",
    ),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0; XGROUP CREATECONSUMER s g c",
        "XGROUP CREATECONSUMER s g c",
        "s",
    ),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0; XGROUP CREATECONSUMER s g c",
        "XGROUP DELCONSUMER s g c",
        "s",
    ),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0",
        "XGROUP DELCONSUMER s g c",
        "s",
    ),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0",
        "XREADGROUP GROUP g c STREAMS s >",
        "s",
    ),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g $",
        "XREADGROUP GROUP g c STREAMS s >",
        "s",
    ),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0",
        "XREADGROUP GROUP g c STREAMS s 0",
        "s",
    ),
    // A consumer made on a stream with nothing new, beside one that delivers.
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g $; XADD t 1-1 f v; XGROUP CREATE t g 0",
        "XREADGROUP GROUP g c STREAMS s t > >",
        "s t",
    ),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0; XREADGROUP GROUP g c STREAMS s >",
        "XACK s g 1-1",
        "s",
    ),
    case("XADD s 1-1 f v; XGROUP CREATE s g 0", "XACK s g 1-1", "s"),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0; XREADGROUP GROUP g c STREAMS s >",
        "XCLAIM s g c 0 1-1 JUSTID",
        "s",
    ),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0; XREADGROUP GROUP g c STREAMS s >",
        "XCLAIM s g d 0 9-9",
        "s",
    ),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0; XREADGROUP GROUP g c STREAMS s >",
        "XAUTOCLAIM s g c 0 0 JUSTID",
        "s",
    ),
    case(
        "XADD s 1-1 f v; XGROUP CREATE s g 0",
        "XAUTOCLAIM s g c 0 0",
        "s",
    ),
    // server
    case("SET a 1; SET b 2", "FLUSHDB", "a b zz"),
    case("", "FLUSHDB", "a"),
    case("SET a 1", "FLUSHALL", "a zz"),
    case("SET a 1", "SWAPDB 0 1", "a zz"),
    case("SET a 1", "SWAPDB 0 0", "a"),
    case("", "FUNCTION FLUSH", "a"),
    case(
        "",
        "FUNCTION LOAD \"#!lua name=l1\\nredis.register_function('f1', function() return 1 end)\"",
        "a",
    ),
    case(
        "FUNCTION LOAD \"#!lua name=l2\\nredis.register_function('f2', function() return 2 end)\"",
        "FUNCTION DELETE l2",
        "a",
    ),
    // FUNCTION DUMP of library l3 (from redis-server).
    case(
        "",
        "FUNCTION RESTORE \"\\xf5@D#!lua name=l3\\x0aredis.register_function(\\x27f3\\x27, function() return 3 end)\\x0a\\x00\\x07\\xc3DY\\xd4{d4\" REPLACE",
        "a",
    ),
];

/// One server under test with its four clients.
struct Rig {
    _server: common::Proc,
    /// Runs the commands.
    c: Raw,
    /// WATCHes the keys.
    w: Raw,
    /// Subscribed to every keyspace event, and the tracking client's redirect target.
    s: Raw,
    /// Tracks every key (BCAST), redirected to `s`.
    _t: Raw,
}

impl Rig {
    fn new(server: common::Proc) -> Rig {
        let port = server.port;
        let mut c = Raw::connect(port);
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        let w = Raw::connect(port);
        let mut s = Raw::connect(port);
        // Its id is taken before it subscribes (a RESP2 subscriber may only (un)subscribe).
        let sid = s.cmd(&["CLIENT", "ID"]);
        let sid = sid.trim_start_matches(':').trim_end().to_string();
        s.cmd(&["PSUBSCRIBE", "__key*__:*"]);
        s.cmd(&["SUBSCRIBE", "__redis__:invalidate"]);
        let mut t = Raw::connect(port);
        assert_eq!(
            t.cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "REDIRECT", &sid]),
            "+OK\r\n"
        );
        Rig {
            _server: server,
            c,
            w,
            s,
            _t: t,
        }
    }

    /// The subscriber's messages up to a marker published now (the marker excluded).
    fn drain(&mut self) -> Vec<String> {
        self.c.cmd(&["PUBLISH", "__keyspace@0__:~end", "mark"]);
        let mut got = Vec::new();
        loop {
            let m = self.s.read_reply();
            if m.contains("~end") {
                return got;
            }
            got.push(m);
        }
    }

    /// Runs one case: (reply, EXEC outcome, messages, dirty movement).
    fn run(&mut self, case: &Case) -> (String, String, Vec<String>, u64) {
        self.c.cmd(&["FLUSHALL"]);
        common::run_script(&mut self.c, case.setup);
        let mut watch = vec!["WATCH".to_string()];
        watch.extend(case.watch.split_whitespace().map(String::from));
        let watch: Vec<&str> = watch.iter().map(String::as_str).collect();
        assert_eq!(self.w.cmd(&watch), "+OK\r\n");
        self.drain();
        let before = common::info_u64(&mut self.c, "persistence", "rdb_changes_since_last_save");
        let reply = send(&mut self.c, &words(case.cmd));
        let after = common::info_u64(&mut self.c, "persistence", "rdb_changes_since_last_save");
        assert_eq!(self.w.cmd(&["MULTI"]), "+OK\r\n");
        assert_eq!(self.w.cmd(&["PING"]), "+QUEUED\r\n");
        let exec = self.w.cmd(&["EXEC"]);
        let messages = self.drain();
        (reply, exec, messages, after - before)
    }
}

#[test]
fn every_write_commands_effects_match_redis() {
    let mut redis = Rig::new(redis_server());
    let mut ours = Rig::new(ferrocache(&[]));
    // Every write command of the table has a case.
    let listed = ours
        .c
        .cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "write"]);
    let mut missing = Vec::new();
    for name in listed
        .split("\r\n")
        .filter(|l| !l.starts_with(['*', '$']) && !l.is_empty())
    {
        let (cmd, sub) = name.split_once('|').unwrap_or((name, ""));
        let covered = CASES.iter().any(|c| {
            let mut w = c.cmd.split_whitespace();
            w.next().is_some_and(|n| n.eq_ignore_ascii_case(cmd))
                && (sub.is_empty() || w.next().is_some_and(|n| n.eq_ignore_ascii_case(sub)))
        });
        if !covered {
            missing.push(name.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "write commands without a case: {missing:?}"
    );
    let mut diffs = Vec::new();
    for case in CASES {
        let a = redis.run(case);
        let b = ours.run(case);
        if a != b {
            diffs.push(format!(
                "[{}] {} (watching {})\n  redis:      {:?}\n  ferrocache: {:?}",
                case.setup, case.cmd, case.watch, a, b
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} cases differ:\n{}",
        diffs.len(),
        CASES.len(),
        diffs.join("\n")
    );
}

/// Every case again with a redis-server replicating from ferrocache: after each, the
/// replica holds what the primary holds (what each write journaled replays to the same data).
#[test]
fn every_write_command_reaches_a_redis_replica() {
    let primary = ferrocache(&[]);
    let (_replica, mut r) = common::replica_of(&primary);
    let mut p = Raw::connect(primary.port);
    // PUBLISH changes no data but reaches the replica's subscribers.
    let mut sub = Raw::connect(_replica.port);
    sub.cmd(&["SUBSCRIBE", "news"]);
    p.cmd(&["PUBLISH", "news", "hello"]);
    assert_eq!(
        sub.read_reply(),
        "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
    );
    for case in CASES {
        p.cmd(&["SELECT", "0"]);
        p.cmd(&["FLUSHALL"]);
        common::run_script(&mut p, case.setup);
        send(&mut p, &words(case.cmd));
        common::in_sync(&mut p, &mut r);
        for db in 0..3 {
            let mine = common::canonical(&mut p, db);
            let theirs = common::canonical(&mut r, db);
            assert!(
                mine == theirs,
                "after [{}] {}: database {db}\n primary: {mine:?}\n replica: {theirs:?}",
                case.setup,
                case.cmd
            );
        }
    }
}

/// A key watched after its TTL passed (not yet deleted), then written by another client: the
/// write deletes it first and recreates it, and the EXEC fails, as in Redis. And keys loaded
/// from a snapshot (DEBUG RELOAD) raise no `new` events.
#[test]
fn expired_watched_keys_and_reloads_as_redis() {
    common::same_as_redis(|port| {
        let mut t = String::new();
        let (mut c, mut w) = (Raw::connect(port), Raw::connect(port));
        c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        c.cmd(&["SET", "k", "v", "PX", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(10));
        t.push_str(&w.cmd(&["WATCH", "k"]));
        t.push_str(&c.cmd(&["SET", "k", "v2"]));
        w.cmd(&["MULTI"]);
        w.cmd(&["PING"]);
        t.push_str(&w.cmd(&["EXEC"]));
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEn"]);
        c.cmd(&["SET", "a", "1"]);
        let mut sub = Raw::connect(port);
        sub.cmd(&["PSUBSCRIBE", "__keyevent@*__:*"]);
        t.push_str(&c.cmd(&["DEBUG", "RELOAD"]));
        c.cmd(&["SET", "b", "1"]);
        // The first event after the reload is b's: no `new` for what was loaded.
        t.push_str(&sub.read_reply());
        t
    });
}
