//! Differential tests: the same command scripts against Debian's redis-server and ferrocache,
//! replies compared byte for byte.

mod common;

use common::{ferrocache, redis_server, send, words, Raw};

/// Runs each script (blocks separated by blank lines, after FLUSHALL) on both servers and
/// reports every reply that differs.
fn compare(scripts: &str) {
    compare_with(scripts, &[]);
}

/// `compare`, with extra ferrocache arguments.
fn compare_with(scripts: &str, args: &[&str]) {
    run_compare(scripts, args, false);
}

fn run_compare(scripts: &str, args: &[&str], sorted: bool) {
    let norm = |r: &str| {
        let mut lines: Vec<&str> = r.split("\r\n").collect();
        if sorted {
            lines.sort();
        }
        lines.join("\r\n")
    };
    let reference = redis_server();
    let ours = ferrocache(args);
    let mut a = Raw::connect(reference.port);
    let mut b = Raw::connect(ours.port);
    // `@2 cmd` runs on a second connection (another client, for WATCH and friends).
    let mut a2 = Raw::connect(reference.port);
    let mut b2 = Raw::connect(ours.port);
    let mut diffs = Vec::new();
    let mut count = 0;
    for line in scripts.lines().map(str::trim) {
        if line.is_empty() {
            a.cmd(&["FLUSHALL"]);
            b.cmd(&["FLUSHALL"]);
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        // `!cmd` runs on both servers without comparing (replies that name the server or client).
        let (compare_it, line) = match line.strip_prefix('!') {
            Some(rest) => (false, rest),
            None => (true, line),
        };
        // `~cmd` compares with clock readings (numbers of 12 digits or more) masked.
        let (mask, line) = match line.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (second, line) = match line.strip_prefix("@2 ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let args = words(line);
        // `READ` reads one more reply (a pushed message) without sending anything.
        let read = args.len() == 1 && args[0] == b"READ";
        let (ra, rb) = match (second, read) {
            (true, true) => (a2.read_reply(), b2.read_reply()),
            (false, true) => (a.read_reply(), b.read_reply()),
            (true, false) => (send(&mut a2, &args), send(&mut b2, &args)),
            (false, false) => (send(&mut a, &args), send(&mut b, &args)),
        };
        count += 1;
        if line == "KEYS \"*\"" {
            assert!(rb.starts_with("*16\r\n"), "all keys present: {rb:?}");
        }
        let (ra, rb) = if mask {
            (common::mask_clock(&ra), common::mask_clock(&rb))
        } else {
            (ra, rb)
        };
        if compare_it && norm(&ra) != norm(&rb) {
            diffs.push(format!(
                "{line}\n  redis:      {ra:?}\n  ferrocache: {rb:?}"
            ));
        }
    }
    assert!(count > 0);
    assert!(
        diffs.is_empty(),
        "{} of {count} replies differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn strings() {
    compare(
        r#"
        SET k v
        GET k
        GET missing
        SET k v2 XX
        SET k v3 NX
        SET n v NX
        SET n v XX GET
        SET k new GET
        SET k x NX XX
        SET k x EX 10 PX 100
        SET k x EX 0
        SET k x EX -1
        SET k x EX abc
        SET k x PX 9223372036854775807
        SET k x KEEPTTL EX 10
        SET k x EX 100
        TTL k
        SET k y KEEPTTL
        TTL k
        SET k z
        TTL k
        SET k x bogus
        SETNX k v
        SETNX k2 v
        SETEX k3 100 v
        SETEX k3 0 v
        SETEX k3 abc v
        PSETEX k4 100000 v
        TTL k4
        GETSET k4 new
        TTL k4
        GETSET nokey v
        GETDEL k4
        GETDEL k4
        EXISTS k4
        MSET a 1 b 2 c 3
        MSET a 1 b
        MGET a b c nokey
        MSETNX a 1 d 4
        MSETNX d 4 e 5
        MGET d e
        APPEND a xyz
        APPEND newkey hello
        GET a
        STRLEN a
        STRLEN nokey
        GETRANGE newkey 0 2
        GETRANGE newkey -3 -1
        GETRANGE newkey 5 1
        GETRANGE newkey -1 -5
        GETRANGE newkey 0 100
        GETRANGE newkey -100 -1
        GETRANGE nokey 0 1
        GETRANGE newkey a b
        SUBSTR newkey 1 3
        SETRANGE newkey 1 EL
        GET newkey
        SETRANGE fresh 5 abc
        GET fresh
        SETRANGE fresh -1 x
        SETRANGE other 0 ""
        EXISTS other
        SETRANGE fresh 0 ""
        GETEX a
        GETEX a EX 100
        TTL a
        GETEX a PERSIST
        TTL a
        GETEX a PX 0
        GETEX a EX 10 PX 10
        GETEX a bogus
        GETEX nokey EX 10

        SET n 10
        INCR n
        INCRBY n 5
        DECR n
        DECRBY n 3
        INCRBY n abc
        INCRBY n 1.5
        INCRBY n 01
        INCRBY n -0
        INCRBY n " 1"
        SET big 9223372036854775807
        INCR big
        SET small -9223372036854775808
        DECR small
        DECRBY n -9223372036854775808
        SET s hello
        INCR s
        SET sp " 11"
        INCR sp
        INCR fresh
        DECR fresh2
        INCRBYFLOAT f 10.5
        INCRBYFLOAT f 0.1
        INCRBYFLOAT f -5
        INCRBYFLOAT f 1e3
        INCRBYFLOAT f abc
        INCRBYFLOAT s 1
        INCRBYFLOAT f nan
        SET fi 17179869184
        INCRBYFLOAT fi 1.5
        SET inf 1
        INCRBYFLOAT inf inf
        OBJECT ENCODING n
        SET e abc
        OBJECT ENCODING e
        APPEND e d
        OBJECT ENCODING e
        SET r aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        OBJECT ENCODING r
        SET z 0123
        OBJECT ENCODING z
        OBJECT ENCODING nokey

        SET a ohmytext
        SET b mynewtext
        LCS a b
        LCS a b LEN
        LCS a b IDX
        LCS a b IDX MINMATCHLEN 4
        LCS a b IDX WITHMATCHLEN
        LCS a b IDX MINMATCHLEN 2 WITHMATCHLEN
        LCS a b LEN IDX
        LCS a nokey
        LCS a b BOGUS
        SETRANGE la 11999 x
        SETRANGE lb 11999 y
        LCS la lb LEN
        SET k v EX abc NX XX
        INCRBYFLOAT fl 1.5
        OBJECT ENCODING fl
        INCRBYFLOAT fl 1
        OBJECT ENCODING fl
        "#,
    );
}

/// Generic key commands and TTLs; also run with several I/O threads (cross-shard and cross-db
/// locking on a multi-threaded runtime).
const KEYS_AND_EXPIRY: &str = r#"
        SET a 1
        SET b 2
        DEL a b c
        DEL a
        UNLINK a
        SET a 1
        EXISTS a a b
        TOUCH a b
        TYPE a
        TYPE nokey
        RENAME a b
        GET b
        RENAME nokey x
        RENAME b b
        RENAMENX b b
        SET c 3
        RENAMENX b c
        RENAMENX b d
        KEYS d
        KEYS nomatch*
        KEYS [cd]x
        FLUSHDB
        RANDOMKEY
        KEYS *
        SET only 1
        RANDOMKEY
        KEYS *
        KEYS o?ly
        KEYS \only
        DEL only
        DBSIZE
        SET x 1
        DBSIZE
        MOVE x 1
        MOVE x 1
        MOVE x 99
        MOVE x abc
        SELECT 1
        GET x
        MOVE x 0
        SELECT 0
        MOVE x 0
        COPY x y
        GET y
        COPY x y
        COPY x y REPLACE
        COPY x x
        COPY x z DB 2
        SELECT 2
        GET z
        SELECT 0
        COPY x y DB 16
        COPY nokey y
        COPY x y BOGUS
        SWAPDB 0 2
        GET z
        SWAPDB 0 2
        SWAPDB 0 99
        SWAPDB a 1
        SWAPDB 0 b
        SELECT 16
        SELECT abc
        SELECT -1

        SET k v
        EXPIRE k 100
        TTL k
        EXPIRE k 100 NX
        EXPIRE k 200 XX
        TTL k
        EXPIRE k 50 GT
        EXPIRE k 300 GT
        TTL k
        EXPIRE k 400 LT
        EXPIRE k 100 LT
        TTL k
        EXPIRE k 10 NX XX
        EXPIRE k 10 GT LT
        EXPIRE k 10 BOGUS
        EXPIRE k abc
        EXPIRE k 9223372036854775807
        PERSIST k
        PERSIST k
        TTL k
        EXPIRE k 10 XX
        EXPIRE k 10 GT
        EXPIRE k 10 LT
        TTL k
        EXPIRE nokey 10
        TTL nokey
        PTTL nokey
        EXPIRETIME nokey
        PEXPIRETIME nokey
        SET k2 v
        EXPIRETIME k2
        PEXPIREAT k2 32503680000000
        PEXPIRETIME k2
        EXPIRETIME k2
        EXPIREAT k2 32503680000
        EXPIRETIME k2
        PEXPIREAT k2 4000000000600
        EXPIRETIME k2
        PEXPIREAT k2 4000000000400
        EXPIRETIME k2
        EXPIRE k2 -1
        EXISTS k2
        SET k3 v
        PEXPIRE k3 0
        GET k3
        SET k4 v
        EXPIREAT k4 1
        GET k4
        SCAN 0 COUNT 0
        SCAN abc
        SCAN 0 BOGUS 1
        "#;

#[test]
fn keys_and_expiry() {
    compare(KEYS_AND_EXPIRY);
}

#[test]
fn keys_and_expiry_multithreaded() {
    compare_with(KEYS_AND_EXPIRY, &["--io-threads", "4"]);
}

#[test]
fn errors_and_connection() {
    compare(
        r#"
        GET
        GET a b
        SET a
        NOSUCHCOMMAND a b
        nosuchcommand
        PING
        PING hello
        PING a b
        ECHO hi
        ECHO
        CONFIG
        CONFIG BOGUS
        CONFIG GET
        CONFIG SET timeout
        CONFIG SET nosuch 1
        CONFIG SET timeout abc
        CONFIG SET timeout 0
        CONFIG GET timeout
        CONFIG SET databases 5
        CONFIG SET timeout 1 timeout 2
        CONFIG GET tim*ut
        CLIENT SETNAME "a b"
        CLIENT SETNAME myname
        CLIENT GETNAME
        CLIENT REPLY BOGUS
        CLIENT NO-EVICT maybe
        CLIENT NO-EVICT on
        CLIENT NO-EVICT off
        CLIENT BOGUS
        CLIENT LIST ID 0
        COMMAND GETKEYS GET a
        COMMAND GETKEYS MSET a 1 b 2
        COMMAND GETKEYS PING
        COMMAND GETKEYS NOSUCH a
        COMMAND INFO GET
        COMMAND INFO nosuch
        COMMAND BOGUS
        AUTH x
        AUTH a b
        HELLO 4
        HELLO abc
        HELLO 2 BOGUS
        FLUSHALL BOGUS
        FLUSHDB SYNC
        FLUSHALL ASYNC
        OBJECT BOGUS a
        OBJECT FREQ a
        SET a 1
        OBJECT REFCOUNT nokey
        DEBUG SLEEP 0
        SHUTDOWN ABORT
        FUNCTION FLUSH
        "#,
    );
}

#[test]
fn sets_complete() {
    compare_sorted(
        r#"
        SADD s a b c d e
        SADD t c d e f
        SADD n 1 2 3 4 5
        SET str x
        SINTER s t
        SINTER s missing
        SINTER s str
        SINTER missing str
        SUNION s t n
        SUNION s str
        SDIFF s t
        SDIFF s missing
        SDIFF missing s
        SINTERSTORE dst s t
        SMEMBERS dst
        OBJECT ENCODING dst
        SINTERSTORE dst s missing
        EXISTS dst
        SUNIONSTORE dst n s
        SCARD dst
        SDIFFSTORE dst n missing
        OBJECT ENCODING dst
        SDIFFSTORE str s t
        TYPE str
        SINTERSTORE dst str s
        SINTERCARD 2 s t
        SINTERCARD 2 s t LIMIT 2
        SINTERCARD 2 s t LIMIT 0
        SINTERCARD 0 s
        SINTERCARD abc s
        SINTERCARD 3 s t
        SINTERCARD 2 s t LIMIT -1
        SINTERCARD 2 s t LIMIT
        SINTERCARD 2 s t FOO 1
        SINTERCARD 1 str
        SMOVE s t a
        SMOVE s t a
        SMEMBERS t
        SMOVE s s b
        SMOVE s s zz
        SMOVE missing str a
        SMOVE s str b
        SMOVE str s b
        SMOVE s newset b
        SMEMBERS newset
        SADD one x
        SMOVE one other x
        EXISTS one
        SPOP missing
        SPOP missing 3
        SPOP str
        SPOP s 0
        SPOP s -1
        SPOP s abc
        SPOP s 1 2
        SADD p 7
        SPOP p
        EXISTS p
        SADD p 1 2 3
        SPOP p 10
        EXISTS p
        SSCAN s 0
        SSCAN n 0 MATCH 1*
        SSCAN n 0 COUNT 0
        SSCAN n abc
        SSCAN missing 0
        SSCAN str 0
        SSCAN n 0 MATCH
        "#,
    );
}

#[test]
fn hashes_complete() {
    compare(
        r#"
        HSET h a 1 b 2 c x f 1.5 big 9223372036854775807
        SET str x
        HINCRBY h a 10
        HINCRBY h new 5
        HINCRBY h c 1
        HINCRBY h a abc
        HINCRBY h big 1
        HINCRBY h a -9223372036854775808
        HINCRBY str a 1
        HINCRBY missing a 3
        HGETALL missing
        HINCRBYFLOAT h f 0.1
        HINCRBYFLOAT h a 2.5
        HINCRBYFLOAT h c 1
        HINCRBYFLOAT h f abc
        HINCRBYFLOAT h f inf
        HINCRBYFLOAT h f 1e308
        HINCRBYFLOAT h huge 1e308
        HINCRBYFLOAT h huge 1e308
        HINCRBYFLOAT nokey f 3
        EXISTS nokey
        HINCRBYFLOAT h f 5.0e3
        HINCRBYFLOAT h g -1.5
        HSTRLEN h a
        HSTRLEN h nope
        HSTRLEN nokey2 a
        HSTRLEN str a
        HSET s a 1 b 2 c 3 d 4
        HRANDFIELD missing
        HRANDFIELD missing 5
        HRANDFIELD s 0
        HRANDFIELD s 100
        HRANDFIELD s 4 WITHVALUES
        HRANDFIELD s 100 withvalues x
        HRANDFIELD s 1 foo
        HRANDFIELD s abc
        HRANDFIELD s -9223372036854775808
        HRANDFIELD s 9223372036854775807 WITHVALUES
        HRANDFIELD str
        HRANDFIELD str 3
        HSCAN s 0
        HSCAN s 0 MATCH b*
        HSCAN s 0 COUNT 1
        HSCAN s abc
        HSCAN missing 0
        HSCAN str 0
        !HELLO 3
        HRANDFIELD s 100 WITHVALUES
        !HELLO 2
        "#,
    );
}

#[test]
fn lists_complete() {
    compare(
        r#"
        RPUSH l a b c b d b
        SET str x
        LINSERT l BEFORE b X
        LINSERT l AFTER d Y
        LINSERT l after nope Z
        LINSERT l MIDDLE b Z
        LINSERT missing BEFORE a b
        LINSERT str BEFORE a b
        LRANGE l 0 -1
        LPOS l b
        LPOS l b RANK 2
        LPOS l b RANK -1
        LPOS l b RANK -2 COUNT 2
        LPOS l b COUNT 0
        LPOS l b COUNT 2 MAXLEN 3
        LPOS l b RANK 0
        LPOS l b COUNT -1
        LPOS l b MAXLEN -1
        LPOS l b RANK
        LPOS l b FOO 1
        LPOS l zz
        LPOS l zz COUNT 1
        LPOS missing a
        LPOS missing a COUNT 1
        LPOS str a
        LREM l 1 b
        LRANGE l 0 -1
        LREM l -1 b
        LRANGE l 0 -1
        LREM l 0 b
        LREM l 0 nothing
        LREM l x b
        LREM missing 0 a
        LREM str 0 a
        LSET l 0 first
        LSET l -1 last
        LSET l 100 x
        LSET l abc x
        LSET missing 0 x
        LSET str 0 x
        LRANGE l 0 -1
        LTRIM l 1 -2
        LRANGE l 0 -1
        LTRIM l 5 10
        EXISTS l
        LTRIM missing 0 1
        LTRIM str 0 1
        LTRIM l a b
        RPUSH src 1 2 3
        LMOVE src dst LEFT RIGHT
        LMOVE src dst RIGHT LEFT
        LMOVE src src LEFT RIGHT
        LRANGE src 0 -1
        LRANGE dst 0 -1
        LMOVE src str LEFT LEFT
        LMOVE str dst LEFT LEFT
        LMOVE src dst UP LEFT
        LMOVE missing dst LEFT LEFT
        RPOPLPUSH src dst
        RPOPLPUSH src dst
        EXISTS src
        LRANGE dst 0 -1
        RPOPLPUSH missing dst
        RPUSH a 1 2 3 4 5
        LMPOP 2 missing a LEFT
        LMPOP 2 missing a RIGHT COUNT 2
        LMPOP 2 missing a LEFT COUNT 10
        EXISTS a
        LMPOP 1 missing LEFT
        LMPOP 2 str a LEFT
        LMPOP 0 a LEFT
        LMPOP 3 a LEFT
        LMPOP 1 a UP
        LMPOP 1 a LEFT COUNT 0
        LMPOP 1 a LEFT COUNT 1 COUNT 2
        LMPOP 1 a LEFT FOO
        LMPOP x a LEFT
        LMPOP 9223372036854775807 a LEFT
        ZMPOP 9223372036854775807 a MIN
        "#,
    );
}

#[test]
fn pubsub() {
    compare(
        r#"
        @2 SUBSCRIBE news sport
        @2 READ
        PUBLISH news hello
        PUBLISH nobody x
        @2 READ
        @2 GET k
        @2 PING
        @2 PING hi
        @2 PSUBSCRIBE s*
        PUBLISH sport goal
        @2 READ
        @2 READ
        !PUBSUB CHANNELS
        PUBSUB CHANNELS n*
        PUBSUB NUMSUB news sport none
        PUBSUB NUMPAT
        PUBSUB SHARDCHANNELS
        PUBSUB SHARDNUMSUB x
        PUBSUB FOO
        @2 UNSUBSCRIBE news
        @2 PUNSUBSCRIBE
        @2 UNSUBSCRIBE
        @2 UNSUBSCRIBE
        @2 PING
        @2 SSUBSCRIBE sh
        SPUBLISH sh m
        PUBLISH sh m
        @2 READ
        @2 SUNSUBSCRIBE sh
        @2 RESET
        !@2 HELLO 3
        @2 SUBSCRIBE c3
        PUBLISH c3 resp3
        @2 READ
        @2 GET k
        @2 PING
        @2 UNSUBSCRIBE c3
        SUBSCRIBE
        "#,
    );
}

#[test]
fn zset_ranges() {
    compare(
        r#"
        ZADD mixed 1 a 4 b 3 c 4 d 2 e
        ZRANGE mixed [a (c BYLEX
        ZRANGEBYLEX mixed [a (c
        ZRANGEBYLEX mixed - +
        ZRANGEBYLEX mixed [b + LIMIT 1 2
        ZREVRANGEBYLEX mixed (c [a
        ZREVRANGEBYLEX mixed + -
        ZRANGE mixed (d [a BYLEX REV
        ZLEXCOUNT mixed [a (c
        ZLEXCOUNT mixed [c +
        ZREMRANGEBYLEX mixed [c [d
        ZRANGE mixed 0 -1 WITHSCORES

        ZADD z 1 a 2 b 3 c 4 d 5 e 5 f -inf g +inf h
        ZADD lex 0 a 0 b 0 c 0 d 0 e 0 f
        SET str x
        ZRANGE z 0 -1
        ZRANGE z 0 -1 WITHSCORES
        ZRANGE z 2 3 REV WITHSCORES
        ZRANGE z -3 -1
        ZRANGE z 5 2
        ZRANGE z 1 5 BYSCORE
        ZRANGE z (1 5 BYSCORE WITHSCORES
        ZRANGE z 1 (5 BYSCORE
        ZRANGE z -inf +inf BYSCORE LIMIT 2 3
        ZRANGE z +inf -inf BYSCORE REV LIMIT 1 2 WITHSCORES
        ZRANGE z 5 1 BYSCORE REV
        ZRANGE z 1 5 BYSCORE LIMIT 0 -1
        ZRANGE z 1 5 BYSCORE LIMIT -1 2
        ZRANGE z 1 5 LIMIT 0 1
        ZRANGE z a b BYSCORE
        ZRANGE z 1 2 BYSCORE BYLEX
        ZRANGE z 1 2 FOO
        ZRANGE lex [b (e BYLEX
        ZRANGE lex - + BYLEX LIMIT 1 2
        ZRANGE lex + - BYLEX REV
        ZRANGE lex (e [b BYLEX REV
        ZRANGE lex b c BYLEX
        ZRANGE lex - + BYLEX WITHSCORES
        ZRANGE missing 0 -1
        ZRANGE str 0 -1
        ZREVRANGE z 0 2 WITHSCORES
        ZREVRANGE z 0 2 BYSCORE
        ZRANGEBYSCORE z 2 4 WITHSCORES LIMIT 1 1
        ZRANGEBYSCORE z 2 4 REV
        ZREVRANGEBYSCORE z 4 2
        ZREVRANGEBYSCORE z +inf (4 WITHSCORES
        ZRANGEBYLEX lex [a [c
        ZREVRANGEBYLEX lex [c [a LIMIT 0 2
        ZRANGEBYLEX lex a c
        ZCOUNT z 2 4
        ZCOUNT z (2 (4
        ZCOUNT z -inf +inf
        ZCOUNT z x 1
        ZCOUNT missing 0 1
        ZLEXCOUNT lex - +
        ZLEXCOUNT lex [b (d
        ZLEXCOUNT lex b d
        ZRANK z c
        ZRANK z nope
        ZREVRANK z c
        ZRANK missing a
        ZRANK str a
        ZRANGESTORE dst z 1 3
        ZRANGE dst 0 -1 WITHSCORES
        ZRANGESTORE dst z 1 3 BYSCORE REV
        ZRANGESTORE dst z 3 1 BYSCORE REV LIMIT 0 1
        ZRANGE dst 0 -1 WITHSCORES
        ZRANGESTORE dst missing 0 -1
        EXISTS dst
        ZRANGESTORE dst z 0 -1 WITHSCORES
        ZRANGESTORE str z 0 0
        TYPE str
        ZREMRANGEBYRANK z 0 1
        ZREMRANGEBYSCORE z (4 5
        ZREMRANGEBYLEX lex [b [c
        ZRANGE z 0 -1 WITHSCORES
        ZRANGE lex 0 -1
        ZREMRANGEBYRANK z 0 -1
        EXISTS z
        ZREMRANGEBYSCORE missing 0 1
        ZREMRANGEBYLEX lex x y
        !HELLO 3
        ZADD r3 1 a 2 b
        ZRANGE r3 0 -1 WITHSCORES
        ZRANGEBYSCORE r3 -inf +inf WITHSCORES
        "#,
    );
}

#[test]
fn zset_ops() {
    compare(
        r#"
        ZADD z 1 a 2 b 3 c 4 d
        ZADD y 10 b 20 c 30 e
        SADD s a e x
        SET str x
        ZPOPMIN z
        ZPOPMAX z 2
        ZPOPMIN z 0
        ZPOPMIN z -1
        ZPOPMIN z 1 2
        ZPOPMIN missing
        ZPOPMIN missing 2
        ZPOPMIN str
        ZADD z 1 a 2 b 3 c 4 d
        ZMPOP 2 missing z MIN
        ZMPOP 2 missing z MAX COUNT 2
        ZMPOP 1 missing MIN
        ZMPOP 0 z MIN
        ZMPOP 1 z MID
        ZMPOP 1 z MIN COUNT 0
        ZMPOP 2 str z MIN
        ZMSCORE y b nope e
        ZMSCORE missing a
        ZMSCORE str a
        ZRANDMEMBER missing
        ZRANDMEMBER missing 3
        ZRANDMEMBER y 0
        ZRANDMEMBER y 10 WITHSCORES
        ZRANDMEMBER y 10 FOO
        ZRANDMEMBER y abc
        ZRANDMEMBER str
        ZADD z 1 a 2 b 3 c 4 d
        ZUNION 2 z y
        ZUNION 2 z y WITHSCORES
        ZUNION 3 z y s WITHSCORES
        ZUNION 2 z y WEIGHTS 2 0.5 WITHSCORES
        ZUNION 2 z y AGGREGATE MIN WITHSCORES
        ZUNION 2 z y AGGREGATE MAX WITHSCORES
        ZUNION 2 z y AGGREGATE AVG
        ZUNION 2 z y WEIGHTS 1
        ZUNION 2 z y WEIGHTS 1 x
        ZUNION 0 z
        ZUNION 3 z y
        ZUNION 2 z str
        ZUNION abc z
        ZINTER 2 z y WITHSCORES
        ZINTER 2 y z WEIGHTS 1 2 AGGREGATE SUM WITHSCORES
        ZINTER 2 z s WITHSCORES
        ZINTER 2 z missing
        ZDIFF 2 z y WITHSCORES
        ZDIFF 2 z y WEIGHTS 1 1
        ZDIFF 1 missing
        ZUNIONSTORE dst 2 z y WEIGHTS 1 2
        ZRANGE dst 0 -1 WITHSCORES
        ZINTERSTORE dst 2 z y AGGREGATE MAX
        ZRANGE dst 0 -1 WITHSCORES
        ZINTERSTORE dst 2 z missing
        EXISTS dst
        ZDIFFSTORE dst 2 z y
        ZRANGE dst 0 -1 WITHSCORES
        ZUNIONSTORE dst 2 z y WITHSCORES
        ZINTERCARD 2 z y
        ZINTERCARD 2 z y LIMIT 1
        ZINTERCARD 2 z y LIMIT -1
        ZINTERCARD 0 z
        ZINTERCARD 2 z y WEIGHTS 1 1
        ZADD inf1 +inf a
        ZADD inf2 -inf a
        ZUNION 2 inf1 inf2 WITHSCORES
        ZSCAN z 0
        ZSCAN z 0 MATCH a*
        ZSCAN missing 0
        ZSCAN str 0
        !HELLO 3
        ZPOPMIN z 2
        ZPOPMIN z
        ZMPOP 1 z MAX COUNT 1
        ZUNION 2 z y WITHSCORES
        ZRANDMEMBER y 10 WITHSCORES
        "#,
    );
}

#[test]
fn sort() {
    compare(
        r#"
        RPUSH l 3 1 2 10 -5 2.5
        RPUSH words banana apple cherry
        SADD s 5 3 9
        ZADD z 3 c 1 a 2 b
        MSET w_3 30 w_1 10 w_2 20 w_10 5 w_-5 0 w_2.5 25
        HSET h_1 f x1 HSET
        HSET h_1 f one
        HSET h_2 f two
        HSET h_3 f three
        SET str x
        SORT l
        SORT l DESC
        SORT l LIMIT 1 2
        SORT l LIMIT -1 2
        SORT l LIMIT 10 2
        SORT l LIMIT 0 -1
        SORT l LIMIT 0 100 DESC
        SORT words
        SORT words ALPHA
        SORT words ALPHA DESC LIMIT 0 2
        SORT s
        SORT z
        SORT z BY nosort
        SORT z BY nosort DESC
        SORT z BY nosort LIMIT 1 1
        SORT l BY nosort
        SORT l BY nosort DESC LIMIT 1 2
        SORT l BY w_*
        SORT l BY w_* DESC
        SORT l BY w_* GET # GET w_*
        SORT l BY missing_* GET h_*->f
        SORT l GET h_*->f GET nofield_*->x GET w_*
        SORT words BY w_* ALPHA
        SORT l STORE dst
        LRANGE dst 0 -1
        SORT missing
        SORT missing STORE dst
        EXISTS dst
        SORT l GET # STORE dst
        LRANGE dst 0 -1
        SORT l GET h_*->f STORE dst
        LRANGE dst 0 -1
        SORT s BY nosort STORE dst
        LRANGE dst 0 -1
        SORT str
        SORT l FOO
        SORT l LIMIT 1
        SORT l LIMIT a b
        SORT_RO l STORE dst
        SORT_RO l DESC LIMIT 0 3
        SORT l BY w_* GET # LIMIT 0 2
        "#,
    );
}

/// `keymiss` (class m): a read that finds no key, expired keys included (after `expired`).
#[test]
fn keymiss_notifications() {
    compare(
        r#"
        CONFIG SET notify-keyspace-events KEmx
        @2 PSUBSCRIBE __key*__:*
        GET nope
        @2 READ
        @2 READ
        SET k v
        GET k
        HGET nope f
        @2 READ
        @2 READ
        LRANGE nope 0 -1
        @2 READ
        @2 READ
        SET gone v PX 1
        DEBUG SLEEP 0.01
        GET gone
        @2 READ
        @2 READ
        @2 READ
        @2 READ
        EXISTS nope2
        @2 READ
        @2 READ
        "#,
    );
}

/// Consumer-group events: a consumer made implicitly (XREADGROUP, XCLAIM, XAUTOCLAIM) is an
/// `xgroup-createconsumer` event, as is XGROUP CREATECONSUMER; deleting a missing one is none.
#[test]
fn stream_group_notifications() {
    compare(
        r#"
        CONFIG SET notify-keyspace-events Kt
        @2 PSUBSCRIBE *
        XGROUP CREATE mystream mygroup $ MKSTREAM
        @2 READ
        XGROUP CREATECONSUMER mystream mygroup Bob
        @2 READ
        XADD mystream 1-0 field1 A
        @2 READ
        XREADGROUP GROUP mygroup Alice STREAMS mystream >
        @2 READ
        XREADGROUP GROUP mygroup Zed STREAMS mystream 0
        @2 READ
        XCLAIM mystream mygroup Mike 0 1-0 FORCE
        @2 READ
        XGROUP DELCONSUMER mystream mygroup Lee
        XAUTOCLAIM mystream mygroup Bob 0 1-0
        XAUTOCLAIM mystream mygroup Nina 0 1-0
        @2 READ
        XGROUP DELCONSUMER mystream mygroup Bob
        @2 READ
        "#,
    );
}

#[test]
fn keyspace_notifications() {
    compare(
        r#"
        CONFIG SET notify-keyspace-events KA
        CONFIG GET notify-keyspace-events
        @2 PSUBSCRIBE __keyspace@0__:*
        SET k v EX 100
        @2 READ
        @2 READ
        INCR n
        @2 READ
        APPEND k x
        @2 READ
        RPUSH l a b
        @2 READ
        LPOP l
        @2 READ
        RPOP l
        @2 READ
        @2 READ
        SADD s a
        @2 READ
        SREM s nope
        SREM s a
        @2 READ
        @2 READ
        HSET h f 1
        @2 READ
        HINCRBY h f 2
        @2 READ
        HDEL h f
        @2 READ
        @2 READ
        ZADD z 1 a 2 b
        @2 READ
        ZADD z 1 a
        ZINCRBY z 1 a
        @2 READ
        ZREM z a
        @2 READ
        ZPOPMIN z
        @2 READ
        @2 READ
        SET a 1
        @2 READ
        RENAME a b
        @2 READ
        @2 READ
        EXPIRE b 100
        @2 READ
        PERSIST b
        @2 READ
        DEL b nothere
        @2 READ
        RPUSH src x
        @2 READ
        LMOVE src dst LEFT RIGHT
        @2 READ
        @2 READ
        @2 READ
        SADD s1 a b
        @2 READ
        SADD s2 b
        @2 READ
        SINTERSTORE s3 s1 s2
        @2 READ
        CONFIG SET notify-keyspace-events Ex
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events Q
        CONFIG SET notify-keyspace-events ""
        "#,
    );
}

#[test]
fn bitmaps() {
    compare(
        r#"
        SET s foobar
        SET n 12345
        HSET h f v
        BITCOUNT s
        BITCOUNT s 0 0
        BITCOUNT s 1 1
        BITCOUNT s 1 -2
        BITCOUNT s -3 -1
        BITCOUNT s 5 30 BIT
        BITCOUNT s 0 -1 BIT
        BITCOUNT s -5 -1 BIT
        BITCOUNT s 2 1
        BITCOUNT s 9223372036854775807 0
        BITCOUNT s 9223372036854775807 9223372036854775807
        BITCOUNT s -9223372036854775808 -1
        BITPOS s 1 9223372036854775807
        BITPOS s 0 -9223372036854775808 9223372036854775807
        BITCOUNT s -1 -2
        BITCOUNT s 0 1 BITS
        BITCOUNT s 0
        BITCOUNT s a b
        BITCOUNT missing
        BITCOUNT missing 0 1 FOO
        BITCOUNT h
        BITCOUNT n
        SET z "\xff\xf0\x00"
        BITPOS z 0
        BITPOS z 1
        BITPOS z 0 2
        BITPOS z 1 2
        BITPOS z 0 0 0
        BITPOS z 0 0 -1
        BITPOS z 1 7 15 BIT
        BITPOS z 0 7 15 BIT
        BITPOS z 0 12 BIT
        BITPOS z 1 -1 -1 BIT
        BITPOS z 2
        BITPOS z 1 a
        BITPOS z 1 0 1 FOO
        BITPOS missing 0
        BITPOS missing 1
        SET ones "\xff\xff"
        BITPOS ones 0
        BITPOS ones 0 0 -1
        BITPOS ones 0 0 BIT
        SET empty ""
        BITPOS empty 0
        BITPOS h 1
        SET a "\x0f\xf0"
        SET b "\xff"
        BITOP AND dst a b
        GET dst
        BITOP OR dst a b missing
        GET dst
        BITOP XOR dst a b
        GET dst
        BITOP NOT dst a
        GET dst
        BITOP NOT dst a b
        BITOP NAND dst a
        BITOP AND dst missing other
        EXISTS dst
        BITOP AND dst h
        BITFIELD bf SET u8 0 200
        BITFIELD bf GET u8 0 GET i8 0 GET u4 4 GET i4 #1
        BITFIELD bf INCRBY u8 0 100
        BITFIELD bf OVERFLOW SAT INCRBY u8 0 100
        BITFIELD bf OVERFLOW FAIL INCRBY u8 0 100 GET u8 0
        BITFIELD bf OVERFLOW WRAP INCRBY i8 0 100
        BITFIELD bf SET i8 #1 -100 INCRBY i8 #1 -100
        BITFIELD bf OVERFLOW SAT SET i8 #1 -1000 GET i8 #1
        BITFIELD bf OVERFLOW SAT SET u8 #2 -1 GET u8 #2
        BITFIELD bf SET u8 #2 -1 GET u8 #2
        BITFIELD bf OVERFLOW FAIL SET u3 100 9
        STRLEN bf
        BITFIELD bf SET i64 0 -1 GET i64 0 GET u63 1 INCRBY i64 0 1
        BITFIELD bf OVERFLOW SAT INCRBY i64 0 9223372036854775807 INCRBY i64 0 9223372036854775807
        BITFIELD bf GET u64 0
        BITFIELD bf GET i65 0
        BITFIELD bf GET x8 0
        BITFIELD bf GET u8 -1
        BITFIELD bf GET u8 a
        BITFIELD bf SET u8 0 abc
        BITFIELD bf OVERFLOW NONE SET u8 0 1
        BITFIELD bf FOO
        BITFIELD bf GET u8
        BITFIELD missing GET u8 0
        EXISTS missing
        BITFIELD h GET u8 0
        BITFIELD_RO bf GET u8 0
        BITFIELD_RO bf SET u8 0 1
        BITFIELD_RO bf OVERFLOW SAT GET u8 0
        BITFIELD n GET u8 0
        BITFIELD
        "#,
    );
}

#[test]
fn geo() {
    compare(
        r#"
        GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        GEOADD Sicily 12.758489 38.788135 edge1 17.241510 38.788135 edge2
        GEOADD Sicily 200 100 bad
        GEOADD Sicily 13 38
        GEOADD Sicily NX XX 13 38 x
        GEOADD Sicily CH 13.361389 38.115556 Palermo 13.5 38.2 Other
        GEOADD Sicily XX 1 1 Nope
        SET str x
        GEOADD str 1 1 a
        ZRANGE Sicily 0 -1 WITHSCORES
        GEODIST Sicily Palermo Catania
        GEODIST Sicily Palermo Catania km
        GEODIST Sicily Palermo Catania mi
        GEODIST Sicily Palermo Catania ft
        GEODIST Sicily Palermo Catania parsec
        GEODIST Sicily Palermo Nope
        GEODIST missing a b
        GEODIST Sicily Palermo Catania km extra
        GEOHASH Sicily Palermo Catania Nope
        GEOHASH missing a
        GEOPOS Sicily Palermo Catania Nope
        GEOPOS missing a
        GEOPOS str a
        GEORADIUS Sicily 15 37 200 km WITHDIST
        GEORADIUS Sicily 15 37 200 km WITHDIST ASC
        GEORADIUS Sicily 15 37 200 km WITHCOORD DESC
        GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH COUNT 2
        GEORADIUS Sicily 15 37 200 km COUNT 1 ANY
        GEORADIUS Sicily 15 37 200 km ANY
        GEORADIUS Sicily 15 37 200 km COUNT 0
        GEORADIUS Sicily 15 37 -1 km
        GEORADIUS Sicily 15 37 abc km
        GEORADIUS Sicily 15 37 1 parsec
        GEORADIUS Sicily 15 37 200 km FOO
        GEORADIUS Sicily 15 37 200 km STORE dst
        ZRANGE dst 0 -1 WITHSCORES
        GEORADIUS Sicily 15 37 200 km STOREDIST dst ASC
        # Redis 7.0 prints these scores with 17 digits, 7.2 (and we) the shortest form.
        ZRANGE dst 0 -1
        GEORADIUS Sicily 15 37 200 km STORE dst WITHDIST
        GEORADIUS Sicily 15 37 1 m STORE dst
        EXISTS dst
        GEORADIUS_RO Sicily 15 37 200 km STORE dst
        GEORADIUS_RO Sicily 15 37 200 km ASC
        GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST ASC
        GEORADIUSBYMEMBER Sicily Nope 200 km
        GEORADIUSBYMEMBER missing Nope 200 km
        GEORADIUSBYMEMBER_RO Sicily Catania 100 km ASC WITHDIST
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHCOORD WITHDIST
        GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 400 400 km ASC WITHDIST
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km DESC COUNT 2
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km FROMMEMBER Palermo
        GEOSEARCH Sicily BYRADIUS 200 km
        GEOSEARCH Sicily FROMLONLAT 15 37
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km BYBOX 1 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX -1 1 km
        GEOSEARCH Sicily FROMMEMBER Nope BYRADIUS 1 km
        GEOSEARCH missing FROMMEMBER Nope BYRADIUS 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STORE x
        GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC COUNT 3
        ZRANGE dst 0 -1 WITHSCORES
        GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST
        ZRANGE dst 0 -1
        GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST
        GEOSEARCH str FROMLONLAT 15 37 BYRADIUS 200 km
        GEOADD near 0 0 a 0.001 0.001 b -0.001 -0.001 c 179.999 0 d -179.999 0 e 0 85 f 0 -85 g
        GEOSEARCH near FROMLONLAT 0 0 BYRADIUS 500 km ASC WITHDIST
        GEOSEARCH near FROMLONLAT 180 0 BYRADIUS 100 km WITHDIST
        GEOSEARCH near FROMLONLAT 0 85 BYRADIUS 100 km
        GEORADIUS near 0 0 1 km
        !HELLO 3
        GEOPOS Sicily Palermo
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHCOORD WITHDIST
        "#,
    );
}

#[test]
fn hyperloglog() {
    compare(
        r#"
        PFADD h a b c d e f g
        PFADD h a
        PFADD h
        PFADD new
        GET new
        PFCOUNT h
        GET h
        PFCOUNT h missing
        PFCOUNT missing
        PFADD h2 x y z a b
        PFCOUNT h h2
        PFMERGE m h h2
        PFCOUNT m
        GET m
        PFDEBUG ENCODING m
        PFDEBUG DECODE m
        PFDEBUG TODENSE m
        PFDEBUG ENCODING m
        PFDEBUG TODENSE m
        PFDEBUG DECODE m
        PFCOUNT m
        PFMERGE m2 m h
        PFDEBUG ENCODING m2
        PFCOUNT m2
        PFDEBUG FOO m
        PFDEBUG ENCODING missing
        SET str hello
        PFADD str a
        PFCOUNT str
        PFMERGE str h
        PFCOUNT h str
        HSET hash f v
        PFADD hash a
        PFCOUNT hash
        SET fake "HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00abc"
        PFCOUNT fake
        PFSELFTEST
        "#,
    );
}

#[test]
fn streams_basics() {
    compare(
        r#"
        XADD s 1-1 a 1
        XADD s 1-2 b 2 c 3
        XADD s 1-* d 4
        XADD s 2 e 5
        XADD s 2-0 x 1
        XADD s 1-5 x 1
        XADD s 0-0 x 1
        XADD s 3-1 odd
        XADD s abc x 1
        XADD s 5-x x 1
        XADD s NOMKSTREAM 6-0 f 6
        XADD missing NOMKSTREAM 1-1 a 1
        EXISTS missing
        SET str x
        XADD str 1-1 a 1
        XLEN s
        XLEN missing
        XLEN str
        XRANGE s - +
        XRANGE s - + COUNT 2
        XRANGE s 1 1
        XRANGE s (1-1 +
        XRANGE s - (2-0
        XRANGE s 2 1
        XRANGE s - + COUNT 0
        XRANGE s - + COUNT -1
        XRANGE s - + FOO
        XRANGE s x +
        XRANGE s (- +
        XRANGE missing - +
        XREVRANGE s + -
        XREVRANGE s + - COUNT 1
        XREVRANGE s 1-2 1-1
        XDEL s 1-2 9-9
        XDEL s bad
        XDEL missing 1-1
        XLEN s
        XRANGE s - +
        XTRIM s MAXLEN 2
        XRANGE s - +
        XTRIM s MAXLEN = 1
        XTRIM s MINID 7
        XLEN s
        XTRIM s
        XTRIM s MAXLEN -1
        XTRIM s MAXLEN 1 LIMIT 10
        XTRIM s MAXLEN 1 MINID 0
        XTRIM missing MAXLEN 0
        XADD t MAXLEN 2 1-1 a 1
        XADD t MAXLEN 2 2-1 a 2
        XADD t MAXLEN 2 3-1 a 3
        XRANGE t - +
        XADD t MINID 3 4-1 a 4
        XRANGE t - +
        XREAD STREAMS t 0
        XREAD COUNT 1 STREAMS t s 0 0
        XREAD STREAMS t 9-9
        XREAD STREAMS t $
        XREAD STREAMS t missing 0 0
        XREAD STREAMS t
        XREAD COUNT 1 t 0
        XREAD GROUP g c STREAMS t 0
        XREAD STREAMS t >
        XREAD STREAMS str 0
        XSETID t 10-0
        XADD t 9-0 a 1
        XADD t 10-* a 1
        XSETID t 1-0
        XSETID missing 1-1
        XSETID t 20-0 ENTRIESADDED 1
        XSETID t 20-0 ENTRIESADDED 100 MAXDELETEDID 30-0
        XSETID t 20-0 ENTRIESADDED 100 MAXDELETEDID 5-0
        TYPE t
        OBJECT ENCODING t
        XDEL t 1-1 2-1 3-1 4-1 10-1
        XLEN t
        EXISTS t
        XADD info 1-1 a 1
        XADD info 2-1 b 2 c 3
        XDEL info 1-1
        XINFO STREAM info
        XINFO STREAM info FULL
        XINFO STREAM info FULL COUNT 1
        XINFO STREAM info FOO
        XINFO STREAM missing
        XINFO STREAM str
        XINFO GROUPS info
        XINFO GROUPS missing
        XINFO CONSUMERS info g
        XINFO NOPE info
        XADD empty MAXLEN 0 1-1 a 1
        XINFO STREAM empty
        !HELLO 3
        XREAD STREAMS s 0
        XRANGE s - +
        XINFO STREAM info
        "#,
    );
}

#[test]
fn command_getkeys_for_movable_keys() {
    compare(
        r#"
        COMMAND GETKEYS sort abc store def
        COMMAND GETKEYS sort abc store invalid store stillbad store def
        COMMAND GETKEYS sort abc limit store 1 store x get store by store
        COMMAND GETKEYS sort abc store limit 0 1 store
        COMMAND GETKEYS georadius g 0 0 1 km STORE a STOREDIST b
        COMMAND GETKEYS georadius g 0 0 1 km STORE STORE
        COMMAND GETKEYS georadius g 0 0 1 km STORE a STORE b
        COMMAND GETKEYS georadius g 0 0 1 km STOREDIST a STORE b STOREDIST c
        COMMAND GETKEYS georadius g 0 0 1 km STOREDIST STORE x
        COMMAND GETKEYS georadiusbymember g m 1 km STORE a STOREDIST b
        COMMAND GETKEYS sort abc
        COMMAND GETKEYS sort_ro abc
        COMMAND GETKEYS zunionstore dst 2 a b WEIGHTS 1 2
        COMMAND GETKEYS zunion 2 a b
        COMMAND GETKEYS zinter 3 a b c WITHSCORES
        COMMAND GETKEYS lmpop 2 a b LEFT
        COMMAND GETKEYS blmpop 0 2 a b LEFT
        COMMAND GETKEYS sintercard 2 a b LIMIT 1
        COMMAND GETKEYS xread COUNT 2 STREAMS s1 s2 0 0
        COMMAND GETKEYS georadius g 0 0 1 km STORE dst
        COMMAND GETKEYS georadiusbymember g m 1 km STOREDIST dst
        COMMAND GETKEYS get k
        COMMAND GETKEYS mset a 1 b 2
        "#,
    );
}

#[test]
fn stream_consumer_groups() {
    compare(
        r#"
        XADD s 1-1 a 1
        XADD s 2-1 b 2
        XADD s 3-1 c 3
        XGROUP CREATE s g 0
        XGROUP CREATE s g 0
        XGROUP CREATE s g2 $
        XGROUP CREATE missing g 0
        XGROUP CREATE m2 g $ MKSTREAM
        XLEN m2
        XGROUP CREATE s g3 bad
        XGROUP CREATE s g4 0 FOO
        SET str x
        XGROUP CREATE str g 0
        XREADGROUP GROUP g alice COUNT 1 STREAMS s >
        XREADGROUP GROUP g bob STREAMS s >
        XREADGROUP GROUP g bob STREAMS s >
        XREADGROUP GROUP g alice STREAMS s 0
        XREADGROUP GROUP g alice STREAMS s 1-1
        XREADGROUP GROUP g2 alice STREAMS s >
        XREADGROUP GROUP nope alice STREAMS s >
        XREADGROUP GROUP g alice STREAMS missing >
        XREADGROUP GROUP g alice STREAMS s $
        XREADGROUP GROUP g alice STREAMS s
        XREADGROUP COUNT 1 STREAMS s >
        XREAD GROUP g a STREAMS s >
        XPENDING s g
        XPENDING s g2
        XPENDING s nope
        XPENDING missing g
        XPENDING s g IDLE 3600000000 - + 10 bob
        XPENDING s g - + 10 nobody
        XPENDING s g 1 1
        XINFO GROUPS s
        XACK s g 1-1 9-9
        XACK s g bad
        XACK s nope 1-1
        XACK missing g 1-1
        XPENDING s g
        XDEL s 2-1
        XREADGROUP GROUP g bob STREAMS s 0
        XADD s 4-1 d 4
        XREADGROUP GROUP g carol NOACK STREAMS s >
        XPENDING s g
        XGROUP CREATECONSUMER s g dave
        XGROUP CREATECONSUMER s g dave
        XGROUP CREATECONSUMER s nope dave
        XGROUP DELCONSUMER s g bob
        XGROUP DELCONSUMER s g nobody
        XPENDING s g
        XGROUP SETID s g 0
        XREADGROUP GROUP g erin STREAMS s >
        XGROUP SETID s g $
        XGROUP SETID s nope $
        XGROUP DESTROY s g2
        XGROUP DESTROY s g2
        XINFO STREAM s
        XGROUP FOO s g
        !HELLO 3
        XREADGROUP GROUP g frank STREAMS s 0
        "#,
    );
}

#[test]
fn stream_claims() {
    compare(
        r#"
        XADD s 1-0 f v
        XADD s 2-0 f v
        XADD s 3-0 f v
        XADD s 4-0 f v
        XGROUP CREATE s g 0
        XREADGROUP GROUP g alice STREAMS s >
        XCLAIM s g bob 0 1-0
        XCLAIM s g bob 0 1-0 2-0 JUSTID
        XPENDING s g
        XCLAIM s g bob 0 3-0 TIME 1000 RETRYCOUNT 5
        ~XPENDING s g IDLE 3600000000 - + 10
        XPENDING s g
        XCLAIM s g carol 3600000000 1-0 2-0 3-0
        XCLAIM s g carol 0 9-0 FORCE
        XDEL s 4-0
        XCLAIM s g dave 0 4-0
        XPENDING s g
        XACK s g 2-0
        XCLAIM s g erin 0 2-0 TIME 2000 FORCE JUSTID
        XCLAIM s g erin 3600000000 2-0 TIME 3000 FORCE
        XCLAIM s g erin 0 2-0 TIME 4000 RETRYCOUNT -3
        ~XINFO STREAM s FULL
        ~XINFO STREAM s FULL COUNT 1
        XCLAIM s g bob 0 1-0 LASTID 10-0 JUSTID
        XINFO GROUPS s
        XCLAIM s g bob 0 1-0 LASTID 5-0 JUSTID
        XINFO GROUPS s
        XCLAIM s g bob 0 1-0 LASTID bad
        XCLAIM s g bob 0 1-0 FOO
        XCLAIM s g bob 0 1-0 IDLE
        XCLAIM s g bob 0 1-0 IDLE x
        XCLAIM s g bob 0 1-0 TIME x
        XCLAIM s g bob 0 1-0 RETRYCOUNT x
        XCLAIM s g bob x 1-0
        XCLAIM s g bob -5 1-0 JUSTID
        XCLAIM s g bob 0 1-0 IDLE 99999999999999 JUSTID
        XCLAIM s g bob 0 1-0 IDLE -99999999999999 JUSTID
        XCLAIM s g bob 0 1-0 TIME -1 JUSTID
        XCLAIM s g bob 0 1-0 1-0 JUSTID
        XCLAIM s g bob 0 - 1-0
        XCLAIM s g bob 0 + 1-0
        XCLAIM s g bob 0 FORCE 1-0
        XCLAIM s g bob 0
        XCLAIM s nope bob 0 1-0
        XCLAIM missing g bob 0 1-0
        ~XPENDING s g IDLE 3600000000 - + 10
        XPENDING s g
        SET str x
        XCLAIM str g bob 0 1-0
        XCLAIM str g bob x 1-0
        XAUTOCLAIM str g bob 0 0-0
        XAUTOCLAIM str g bob x 0-0

        XADD x 1-0 f v
        XADD x 2-0 f v
        XADD x 3-0 f v
        XADD x 4-0 f v
        XADD x 5-0 f v
        XGROUP CREATE x grp 0
        XREADGROUP GROUP grp Alice STREAMS x >
        XDEL x 2-0 4-0
        XAUTOCLAIM x grp Bob 0 0-0 COUNT 1
        XAUTOCLAIM x grp Bob 0 (1-0 COUNT 1
        XAUTOCLAIM x grp Bob 0 - COUNT 2 JUSTID
        XPENDING x grp
        XAUTOCLAIM x grp Carol 0 -
        XAUTOCLAIM x grp Dan 3600000000 -
        XAUTOCLAIM x grp Dan 0 +
        XAUTOCLAIM x grp Dan 0 (18446744073709551615-18446744073709551615
        XAUTOCLAIM x grp Dan 0 0-0 COUNT 0
        XAUTOCLAIM x grp Dan 0 0-0 COUNT 8070450532247928833
        XAUTOCLAIM x grp Dan 0 0-0 COUNT x
        XAUTOCLAIM x grp Dan 0 0-0 FOO
        XAUTOCLAIM x grp Dan 0 0-0 COUNT
        XAUTOCLAIM x grp Dan x 0-0
        XAUTOCLAIM x grp Dan 0 bad
        XAUTOCLAIM x nope Dan 0 0-0
        XAUTOCLAIM missing grp Dan 0 0-0
        ~XINFO STREAM x FULL

        XADD y 1-0 f v
        XADD y 2-0 f v
        XADD y 3-0 f v
        XADD y 4-0 f v
        XADD y 5-0 f v
        XADD y 6-0 f v
        XADD y 7-0 f v
        XADD y 8-0 f v
        XADD y 9-0 f v
        XADD y 10-0 f v
        XADD y 11-0 f v
        XADD y 12-0 f v
        XGROUP CREATE y g 0
        XREADGROUP GROUP g a STREAMS y >
        XCLAIM y g a 0 12-0 TIME 1000 JUSTID
        XAUTOCLAIM y g b 3600000000 - COUNT 1 JUSTID
        XAUTOCLAIM y g b 3600000000 11-0 COUNT 1 JUSTID
        XAUTOCLAIM y g b 3600000000 - COUNT 2 JUSTID
        XPENDING y g
        "#,
    );
}

#[test]
fn transactions() {
    compare(
        r#"
        MULTI
        SET a 1
        INCR a
        LPUSH a x
        GET a
        EXEC
        EXEC
        DISCARD
        MULTI
        MULTI
        WATCH a
        PING
        EXEC

        MULTI
        SET a 1
        NOSUCHCOMMAND
        GET a b c
        EXEC
        GET a
        MULTI
        DISCARD
        GET a

        SET a 1
        WATCH a b
        @2 SET a 2
        MULTI
        SET c 1
        EXEC
        GET c
        WATCH b
        @2 SET other 1
        MULTI
        SET c 2
        EXEC
        GET c

        SET a 1
        WATCH a
        UNWATCH
        @2 SET a 2
        MULTI
        INCR a
        EXEC

        WATCH a
        @2 SET a 1
        MULTI
        DISCARD
        MULTI
        INCR a
        EXEC

        SET x 30
        WATCH x
        MULTI
        PING
        EXEC
        @2 SET x 40
        MULTI
        PING
        EXEC

        SELECT 5
        SET x 30
        WATCH x
        @2 SET x 10
        MULTI
        PING
        EXEC
        @2 SELECT 5
        @2 SET x 11
        MULTI
        PING
        EXEC
        SELECT 0

        SET x 1
        WATCH x
        @2 FLUSHALL
        MULTI
        PING
        EXEC
        WATCH y
        @2 FLUSHDB
        MULTI
        PING
        EXEC
        SET x 1
        WATCH x
        @2 EXPIRE x 100
        MULTI
        PING
        EXEC
        @2 SELECT 1
        @2 SET z 1
        WATCH z
        @2 SWAPDB 0 1
        MULTI
        PING
        EXEC
        WATCH nothere
        @2 SWAPDB 0 1
        MULTI
        PING
        EXEC

        SET k v
        WATCH k
        MULTI
        SET k w
        EXEC
        MULTI
        GET k
        EXEC
        MULTI
        WATCH k
        EXEC
        SET s 1
        MULTI
        SET s 2
        RESET
        GET s
        "#,
    );
}

/// A write that changes nothing (SETBIT or BITFIELD SET to the bits already there, BITFIELD
/// GET) raises no event and leaves WATCH alone; one that changes something does both.
#[test]
fn unchanged_writes() {
    compare(
        r#"
        SETBIT k 3 1
        BITFIELD b SET u8 0 7
        WATCH k b
        @2 SETBIT k 3 1
        @2 BITFIELD b SET u8 0 7
        @2 BITFIELD b GET u8 0
        MULTI
        PING
        EXEC
        WATCH k
        @2 SETBIT k 3 0
        MULTI
        PING
        EXEC
        WATCH b
        @2 BITFIELD b INCRBY u8 0 0
        MULTI
        PING
        EXEC
        WATCH b
        @2 BITFIELD b SET u8 100 0
        MULTI
        PING
        EXEC
        SADD s a b
        HSET h f v
        WATCH s h k
        @2 SADD s a
        @2 SREM s nope
        @2 SREM missing x
        @2 HSETNX h f other
        @2 SETNX k x
        MULTI
        PING
        EXEC
        WATCH s
        @2 SREM s a
        MULTI
        PING
        EXEC
        WATCH h
        @2 HSETNX h g 1
        MULTI
        PING
        EXEC
        SADD src a b
        SADD dst a
        WATCH dst
        @2 SMOVE src dst a
        MULTI
        PING
        EXEC
        WATCH src
        @2 SMOVE src dst b
        MULTI
        PING
        EXEC
        WATCH dst
        @2 SMOVE src dst nope
        @2 SMOVE missing dst a
        MULTI
        PING
        EXEC
        CONFIG SET notify-keyspace-events KA
        @2 PSUBSCRIBE __keyspace@0__:*
        SETBIT k 3 0
        BITFIELD b SET u8 0 7
        SETBIT k 3 1
        @2 READ
        SETBIT k 100 0
        @2 READ
        BITFIELD b SET u8 0 8
        @2 READ
        "#,
    );
}

#[test]
fn debug_populate() {
    compare(
        r#"
        DEBUG POPULATE 5 k 10
        DBSIZE
        GET k:3
        DEBUG POPULATE 3
        GET key:1
        SET k:1 mine
        DEBUG POPULATE 3 k 2
        GET k:1
        GET k:2
        DEBUG POPULATE 2 p 1000
        STRLEN p:1
        OBJECT ENCODING p:1
        OBJECT ENCODING k:0
        DEBUG POPULATE -1
        DEBUG POPULATE 1 x -5
        DEBUG POPULATE x
        "#,
    );
}

/// Writes refused by the server's state: `min-replicas-to-write` with no replica (NOREPLICAS)
/// and `maxmemory` (OOM), outside and inside transactions.
#[test]
fn state_rejections() {
    compare(
        r#"
        SET xx 1
        CONFIG SET min-replicas-to-write 2
        INCR xx
        GET xx
        MULTI
        GET xx
        EXEC
        MULTI
        INCR xx
        EXEC
        CONFIG SET min-replicas-max-lag 0
        INCR xx
        CONFIG SET min-replicas-max-lag 10
        CONFIG SET min-replicas-to-write 0
        MULTI
        INCR xx
        @2 CONFIG SET min-replicas-to-write 1
        EXEC
        GET xx
        @2 CONFIG SET min-replicas-to-write 0
        CONFIG GET min-slaves-to-write
        CONFIG GET min-slaves-max-lag
        WATCH xx
        MULTI
        INCR xx
        @2 CONFIG SET min-replicas-to-write 1
        EXEC
        @2 CONFIG SET min-replicas-to-write 0
        MULTI
        INCR xx
        EXEC

        SET x value
        MULTI
        GET x
        PING
        @2 CONFIG SET maxmemory 1
        EXEC
        MULTI
        SET x 1
        GET x
        EXEC
        SET y 1
        DEL x
        GET x
        @2 CONFIG SET maxmemory 0
        MULTI
        SET x 1
        @2 CONFIG SET maxmemory 1
        EXEC
        @2 CONFIG SET maxmemory 0
        GET x
        "#,
    );
}

#[test]
fn resp3_replies_match() {
    compare(
        r#"
        !HELLO 3
        SET a 1
        GET nokey
        CONFIG GET timeout
        DEBUG PROTOCOL map
        DEBUG PROTOCOL set
        DEBUG PROTOCOL true
        DEBUG PROTOCOL null
        DEBUG PROTOCOL bignum
        DEBUG PROTOCOL attrib
        DEBUG PROTOCOL verbatim
        LCS a nokey IDX
        !HELLO 2
        GET nokey
        DEBUG PROTOCOL map
        "#,
    );
}

#[test]
fn collections_basics() {
    compare(
        r#"
        RPUSH l a b c
        LPUSH l z
        LRANGE l 0 -1
        LRANGE l -2 10
        LRANGE l 5 1
        LLEN l
        LINDEX l 0
        LINDEX l -1
        LINDEX l 99
        LPOP l
        RPOP l 2
        LPOP l 0
        LPOP l -1
        LPOP l 1 2
        RPOP l
        EXISTS l
        LPOP l
        LPOP l 2
        LPUSHX l x
        RPUSHX nolist x
        SET s str
        LPUSH s x
        LRANGE s 0 1
        GET l
        TYPE s
        OBJECT ENCODING nolist

        SADD si 3 1 2 2
        SMEMBERS si
        OBJECT ENCODING si
        SCARD si
        SISMEMBER si 2
        SISMEMBER si 9
        SMISMEMBER si 1 9 3
        SREM si 1 9
        SMEMBERS si
        SADD si x
        OBJECT ENCODING si
        SCARD si
        SRANDMEMBER nokey
        SRANDMEMBER nokey 5
        SRANDMEMBER si 0
        SRANDMEMBER si 1 2
        SRANDMEMBER si -9223372036854775808
        SREM si 2 3 x
        EXISTS si
        TYPE si
        SET str v
        SADD str a
        SCARD str

        HSET h a 1 b 2
        HSET h a 3 c 4
        HGETALL h
        HGET h a
        HGET h zz
        HMGET h a zz c
        HLEN h
        HEXISTS h b
        HDEL h b zz
        HKEYS h
        HVALS h
        HSETNX h a 9
        HSETNX h n 9
        HMSET h x 1 y
        HMSET h x 1
        OBJECT ENCODING h
        HSET h longfieldlongfieldlongfieldlongfieldlongfieldlongfieldlongfieldlongfield v
        OBJECT ENCODING h
        HDEL h a c n x longfieldlongfieldlongfieldlongfieldlongfieldlongfieldlongfieldlongfield
        EXISTS h
        HGETALL h
        TYPE h

        ZADD z 1 a 2 b 3 c
        ZADD z NX 5 a 4 d
        ZADD z XX CH 10 a 20 e
        ZADD z GT CH 1 b 30 c
        ZADD z LT CH 0 b
        ZADD z INCR 5 a
        ZADD z INCR NX 5 a
        ZADD z XX NX 1 a
        ZADD z GT LT 1 a
        ZADD z NX GT 1 a
        ZADD z INCR 1 a 2 b
        ZADD z 1 a 2
        ZADD z abc a
        ZADD z nan a
        ZADD z 1e400 a
        ZADD z 1e-400 a
        ZADD z 0x10 hex
        ZSCORE z hex
        ZADD z " 1" a
        ZREM z hex
        ZADD nz XX 1 a
        EXISTS nz
        ZRANGE z 0 -1
        ZRANGE z 0 -1 WITHSCORES
        ZRANGE z 0 1 REV WITHSCORES
        ZRANGE z -2 -1
        ZRANGE z 0 -1 BOGUS
        ZCARD z
        ZSCORE z a
        ZSCORE z none
        ZINCRBY z 2.5 b
        ZINCRBY z 1 new
        ZREM z a none
        ZRANGE z 0 -1 WITHSCORES
        ZADD z inf i -inf ni
        ZRANGE z 0 -1 WITHSCORES
        ZINCRBY z -inf i
        OBJECT ENCODING z
        TYPE z
        SET str v
        ZADD str 1 a
        ZSCORE str a

        RPUSH l a b
        SADD s 1
        HSET h f v
        ZADD z 1 m
        COPY l l2
        LRANGE l2 0 -1
        RENAME s s2
        SMEMBERS s2
        MOVE h 1
        SELECT 1
        HGETALL h
        SELECT 0
        SCAN 0 TYPE zset
        GET l
        GETSET l x
        APPEND l x
        STRLEN l
        INCR l
        GETRANGE l 0 1
        SETRANGE l 0 x
        SETBIT l 0 1
        DEL l l2 s2 z
        DBSIZE

        SETBIT b 7 1
        GET b
        GETBIT b 7
        GETBIT b 6
        GETBIT b 100
        SETBIT b 7 0
        SETBIT b 100 1
        STRLEN b
        SETBIT b 0 2
        SETBIT b -1 1
        SETBIT b 4294967296 1
        SET n 10
        SETBIT n 1 1
        GET n
        OBJECT ENCODING n
        GETBIT nokey 3
        SET small 5
        OBJECT REFCOUNT small
        SET big 50000
        OBJECT REFCOUNT big
        "#,
    );
}

#[test]
fn encoding_thresholds_follow_config() {
    compare(
        r#"
        CONFIG SET zset-max-ziplist-entries 2 hash-max-ziplist-entries 1 set-max-intset-entries 2
        ZADD z 1 a 2 b
        OBJECT ENCODING z
        ZADD z 3 c
        OBJECT ENCODING z
        HSET h a 1
        OBJECT ENCODING h
        HSET h b 2
        OBJECT ENCODING h
        SADD s 1 2
        OBJECT ENCODING s
        SADD s 3
        OBJECT ENCODING s
        CONFIG SET zset-max-ziplist-entries 128 hash-max-ziplist-entries 128 set-max-intset-entries 512
        CONFIG GET zset-max-ziplist-entries
        "#,
    );
}

#[test]
fn glob_patterns_match_redis() {
    let mut script = String::from(
        "MSET hello 1 hallo 1 hxllo 1 hllo 1 heeeello 1 a*b 1 a?b 1 axb 1 \"a[b\" 1 ab] 1 \"a\\\\b\" 1 Hello 1 h-llo 1 x 1 xyz 1 \"\" 1\n",
    );
    for p in [
        "h?llo",
        "h*llo",
        "h[ae]llo",
        "h[^e]llo",
        "h[a-b]llo",
        "h[b-a]llo",
        "a\\*b",
        "a\\?b",
        "a*",
        "*b",
        "a[*]b",
        "[a-z]",
        "x*z",
        "*x*",
        "??",
        "h[a-",
        "h[",
        "\\",
        "a\\\\b",
        "[[]*",
        "*]",
        "h[!e]llo",
        "H*",
        "*",
    ] {
        script.push_str(&format!(
            "KEYS \"{}\"\n",
            p.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    compare_sorted(&script);
}

/// Like `compare`, but array replies are compared as sorted sets of lines (KEYS order is
/// the hash table's, which differs between servers).
/// `compare` for replies whose order is unspecified (set members, glob matches): the lines of
/// each reply are compared as a sorted list.
fn compare_sorted(scripts: &str) {
    run_compare(scripts, &[], true);
}

#[test]
fn slowlog_and_latency() {
    compare(
        r#"
        SLOWLOG RESET
        SLOWLOG LEN
        SLOWLOG GET
        SLOWLOG GET 0
        SLOWLOG GET -2
        SLOWLOG GET x
        SLOWLOG LEN extra
        SLOWLOG NOPE
        SLOWLOG
        LATENCY RESET
        LATENCY RESET command expire-cycle
        LATENCY LATEST
        LATENCY HISTORY command
        LATENCY HISTORY
        LATENCY NOPE
        CONFIG SET slowlog-max-len -1
        CONFIG SET latency-tracking maybe
        CONFIG SET latency-tracking-info-percentiles "50 101"
        CONFIG GET slowlog-log-slower-than
        CONFIG GET slowlog-max-len
        CONFIG GET latency-monitor-threshold
        CONFIG GET latency-tracking
        CONFIG GET latency-tracking-info-percentiles
        "#,
    );
}

/// MONITOR's lines from both servers for the same commands, timestamps and ports masked.
#[test]
fn monitor_lines() {
    let mask = |line: &str| -> String {
        let (_, rest) = line.split_once(" [").expect("a monitor line");
        let (db_addr, args) = rest.split_once("] ").unwrap_or((rest, ""));
        let db = db_addr.split(' ').next().unwrap();
        format!("[{db}] {args}")
    };
    let run = |port: u16| -> Vec<String> {
        let mut mon = Raw::connect(port);
        assert_eq!(mon.cmd(&["MONITOR"]), "+OK\r\n");
        let mut c = Raw::connect(port);
        c.send_raw(&resp_words(&["SET", "k", "a\"b\\c\n\x01"]));
        c.read_reply();
        for cmd in [
            &["select", "2"][..],
            &["incr", "n"],
            &["AUTH", "default", "x"],
            &["HELLO", "2", "AUTH", "default", "x", "SETNAME", "app"],
            &["CONFIG", "GET", "maxmemory"],
            &["get", "nothing"],
            &["PING"],
        ] {
            c.cmd(cmd);
        }
        (0..7).map(|_| mask(mon.read_reply().trim_end())).collect()
    };
    let reference = redis_server();
    let ours = ferrocache(&[]);
    assert_eq!(run(ours.port), run(reference.port));
}

fn resp_words(words: &[&str]) -> Vec<u8> {
    let w: Vec<&[u8]> = words.iter().map(|s| s.as_bytes()).collect();
    common::resp(&w)
}

#[test]
fn client_memory_config_and_kill_user() {
    compare(
        r#"
        CONFIG GET maxmemory-clients
        CONFIG SET maxmemory-clients 10%
        CONFIG GET maxmemory-clients
        CONFIG SET maxmemory-clients 5mb
        CONFIG GET maxmemory-clients
        CONFIG SET maxmemory-clients 101%
        CONFIG SET maxmemory-clients -1
        CONFIG SET maxmemory-clients abc
        CONFIG SET maxmemory-clients 0
        CONFIG GET maxmemory-clients
        CLIENT KILL USER wrong_user
        CLIENT KILL USER default
        "#,
    );
}

#[test]
fn client_pause_errors() {
    compare(
        r#"
        CLIENT PAUSE abc
        CLIENT PAUSE -1
        CLIENT PAUSE 10 foo
        CLIENT PAUSE 10 write extra
        CLIENT PAUSE
        CLIENT PAUSE 10 WRITE
        CLIENT UNPAUSE
        CLIENT UNPAUSE extra
        "#,
    );
}

#[test]
fn client_tracking_replies() {
    compare(
        r#"
        CLIENT TRACKING maybe
        CLIENT TRACKING on OPTIN OPTOUT
        CLIENT TRACKING on PREFIX x
        CLIENT TRACKING on BCAST OPTIN
        CLIENT TRACKING on REDIRECT 99999
        CLIENT TRACKING on REDIRECT abc
        CLIENT CACHING yes
        CLIENT GETREDIR
        CLIENT TRACKINGINFO
        CLIENT TRACKING on
        CLIENT TRACKINGINFO
        CLIENT GETREDIR
        CLIENT TRACKING on BCAST
        CLIENT CACHING yes
        CLIENT TRACKING off
        CLIENT TRACKING on OPTIN NOLOOP
        CLIENT CACHING no
        CLIENT CACHING yes
        CLIENT TRACKINGINFO
        CLIENT TRACKING off
        CLIENT TRACKING on BCAST
        CLIENT TRACKINGINFO
        CLIENT TRACKING off
        CLIENT TRACKING on BCAST PREFIX a PREFIX b
        CLIENT TRACKINGINFO
        CLIENT TRACKING off
        CLIENT TRACKINGINFO
        CLIENT TRACKING on BCAST PREFIX FOOBAR PREFIX FOO
        CLIENT TRACKING on BCAST PREFIX FOO PREFIX BAR
        CLIENT TRACKING on BCAST PREFIX FO
        CLIENT TRACKING on BCAST PREFIX BARB
        CLIENT TRACKING on BCAST PREFIX FOO
        CLIENT TRACKING off
        "#,
    );
}
