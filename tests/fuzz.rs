//! Randomized differential tests: seeded, reproducible command sequences per data type, run
//! against redis-server and ferrocache, replies compared one by one. Small key and member
//! spaces make the commands collide, so edge cases (empty collections, wrong types, missing
//! keys, encoding conversions) come up often.

mod common;

use common::{ferrocache, redis_server, Raw};

/// A seeded generator (reproducible per seed) with the picks the generators need.
/// The second field is a counter for generators that need increasing values (stream IDs).
struct Rng(rand::rngs::SmallRng, u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        use rand::SeedableRng;
        Rng(rand::rngs::SmallRng::seed_from_u64(seed), 0)
    }

    fn next(&mut self) -> u64 {
        rand::RngCore::next_u64(&mut self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }

    fn int(&mut self, lo: i64, hi: i64) -> String {
        (lo + self.below((hi - lo + 1) as u64) as i64).to_string()
    }
}

const KEYS: &[&str] = &["k1", "k2", "k3", "str"];
/// Members: a few integers (intset/listpack-friendly) and strings.
const MEMBERS: &[&str] = &["1", "2", "3", "10", "-5", "a", "b", "c", "dd", "eee"];

fn key(r: &mut Rng) -> String {
    r.pick(KEYS).to_string()
}

fn member(r: &mut Rng) -> String {
    r.pick(MEMBERS).to_string()
}

fn members(r: &mut Rng, n: u64) -> Vec<String> {
    (0..1 + r.below(n)).map(|_| member(r)).collect()
}

fn score(r: &mut Rng) -> String {
    r.pick(&["0", "1", "1.5", "-2", "3", "10", "-inf", "+inf", "2.25"])
        .to_string()
}

/// One command (and whether its reply's order is unspecified).
type Gen = fn(&mut Rng) -> (Vec<String>, bool);

fn strings(r: &mut Rng) -> (Vec<String>, bool) {
    let k = key(r);
    let v = member(r);
    let c: Vec<String> = match r.below(14) {
        0 => vec!["SET".into(), k, v],
        1 => vec!["GET".into(), k],
        2 => vec!["INCRBY".into(), k, r.int(-5, 5)],
        3 => vec!["APPEND".into(), k, v],
        4 => vec!["STRLEN".into(), k],
        5 => vec!["SETRANGE".into(), k, r.int(0, 6), v],
        6 => vec!["GETRANGE".into(), k, r.int(-4, 4), r.int(-4, 4)],
        7 => vec!["SETNX".into(), k, v],
        8 => vec!["GETSET".into(), k, v],
        9 => vec!["MSET".into(), k, v, key(r), member(r)],
        10 => vec!["MGET".into(), k, key(r), key(r)],
        11 => vec!["DECR".into(), k],
        12 => vec!["GETDEL".into(), k],
        _ => vec![
            "INCRBYFLOAT".into(),
            k,
            r.pick(&["0.5", "-1.25", "3"]).into(),
        ],
    };
    (c, false)
}

fn lists(r: &mut Rng) -> (Vec<String>, bool) {
    let k = key(r);
    let mut c: Vec<String> = match r.below(16) {
        0 | 1 => vec!["LPUSH".into(), k],
        2 | 3 => vec!["RPUSH".into(), k],
        4 => vec!["LPOP".into(), k],
        5 => vec!["RPOP".into(), k, r.int(0, 3)],
        6 => vec!["LRANGE".into(), k, r.int(-5, 5), r.int(-5, 5)],
        7 => vec!["LINDEX".into(), k, r.int(-4, 4)],
        8 => vec![
            "LINSERT".into(),
            k,
            r.pick(&["BEFORE", "AFTER"]).into(),
            member(r),
            member(r),
        ],
        9 => vec!["LREM".into(), k, r.int(-2, 2), member(r)],
        10 => vec!["LSET".into(), k, r.int(-3, 3), member(r)],
        11 => vec!["LTRIM".into(), k, r.int(-4, 4), r.int(-4, 4)],
        12 => vec![
            "LPOS".into(),
            k,
            member(r),
            "RANK".into(),
            r.pick(&["1", "-1", "2"]).into(),
        ],
        13 => vec![
            "LMOVE".into(),
            k,
            key(r),
            r.pick(&["LEFT", "RIGHT"]).into(),
            r.pick(&["LEFT", "RIGHT"]).into(),
        ],
        14 => vec!["LLEN".into(), k],
        _ => vec![
            "LMPOP".into(),
            "2".into(),
            k,
            key(r),
            r.pick(&["LEFT", "RIGHT"]).into(),
            "COUNT".into(),
            r.int(1, 3),
        ],
    };
    if c[0].ends_with("PUSH") {
        c.extend(members(r, 4));
    }
    (c, false)
}

fn hashes(r: &mut Rng) -> (Vec<String>, bool) {
    let k = key(r);
    let f = member(r);
    let c: Vec<String> = match r.below(12) {
        0 | 1 => vec!["HSET".into(), k, f, member(r), member(r), member(r)],
        2 => vec!["HGET".into(), k, f],
        3 => vec!["HDEL".into(), k, f, member(r)],
        4 => vec!["HINCRBY".into(), k, f, r.int(-3, 3)],
        5 => vec!["HLEN".into(), k],
        6 => vec!["HEXISTS".into(), k, f],
        7 => vec!["HSETNX".into(), k, f, member(r)],
        8 => vec!["HMGET".into(), k, f, member(r)],
        9 => vec!["HSTRLEN".into(), k, f],
        10 => vec!["HGETALL".into(), k],
        _ => vec!["HINCRBYFLOAT".into(), k, f, r.pick(&["0.5", "-1.5"]).into()],
    };
    (c, false)
}

fn sets(r: &mut Rng) -> (Vec<String>, bool) {
    let k = key(r);
    let mut unordered = false;
    let mut c: Vec<String> = match r.below(14) {
        0..=2 => vec!["SADD".into(), k],
        3 => vec!["SREM".into(), k],
        4 => vec!["SISMEMBER".into(), k, member(r)],
        5 => vec!["SCARD".into(), k],
        6 => {
            unordered = true;
            vec!["SMEMBERS".into(), k]
        }
        7 => vec!["SMOVE".into(), k, key(r), member(r)],
        8 => {
            unordered = true;
            vec![
                r.pick(&["SINTER", "SUNION", "SDIFF"]).into(),
                k,
                key(r),
                key(r),
            ]
        }
        9 => vec![
            r.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]).into(),
            k,
            key(r),
            key(r),
        ],
        10 => vec!["SINTERCARD".into(), "2".into(), k, key(r)],
        11 => vec!["SMISMEMBER".into(), k, member(r), member(r)],
        12 => vec!["OBJECT".into(), "ENCODING".into(), k],
        _ => vec!["SCARD".into(), k],
    };
    if c[0] == "SADD" || c[0] == "SREM" {
        c.extend(members(r, 5));
    }
    (c, unordered)
}

fn zsets(r: &mut Rng) -> (Vec<String>, bool) {
    let k = key(r);
    let c: Vec<String> = match r.below(18) {
        0..=2 => {
            let mut c = vec!["ZADD".into(), k];
            if r.below(4) == 0 {
                c.push(r.pick(&["NX", "XX", "GT", "LT", "CH"]).into());
            }
            for _ in 0..1 + r.below(3) {
                c.push(score(r));
                c.push(member(r));
            }
            c
        }
        3 => vec!["ZREM".into(), k, member(r), member(r)],
        4 => vec!["ZSCORE".into(), k, member(r)],
        5 => vec!["ZINCRBY".into(), k, score(r), member(r)],
        6 => vec![
            "ZRANGE".into(),
            k,
            r.int(-4, 4),
            r.int(-4, 4),
            "WITHSCORES".into(),
        ],
        7 => vec![
            "ZRANGE".into(),
            k,
            score(r),
            score(r),
            "BYSCORE".into(),
            "LIMIT".into(),
            r.int(0, 2),
            r.int(-1, 3),
        ],
        8 => vec![
            "ZREVRANGEBYSCORE".into(),
            k,
            score(r),
            score(r),
            "WITHSCORES".into(),
        ],
        9 => vec!["ZRANK".into(), k, member(r)],
        10 => vec!["ZREVRANK".into(), k, member(r)],
        11 => vec!["ZCOUNT".into(), k, score(r), score(r)],
        12 => vec!["ZPOPMIN".into(), k, r.int(0, 3)],
        13 => vec!["ZPOPMAX".into(), k],
        14 => vec![
            r.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]).into(),
            k,
            "2".into(),
            key(r),
            key(r),
        ],
        15 => vec![
            r.pick(&["ZUNION", "ZINTER", "ZDIFF"]).into(),
            "2".into(),
            k,
            key(r),
            "WITHSCORES".into(),
        ],
        16 => vec!["ZREMRANGEBYRANK".into(), k, r.int(-3, 3), r.int(-3, 3)],
        _ => vec!["ZMSCORE".into(), k, member(r), member(r)],
    };
    (c, false)
}

fn generic(r: &mut Rng) -> (Vec<String>, bool) {
    let k = key(r);
    let c: Vec<String> = match r.below(12) {
        0 => vec!["SET".into(), k, member(r)],
        1 => vec!["RPUSH".into(), k, member(r)],
        2 => vec!["SADD".into(), k, member(r)],
        3 => vec!["DEL".into(), k, key(r)],
        4 => vec!["EXISTS".into(), k, key(r)],
        5 => vec!["TYPE".into(), k],
        6 => vec!["RENAME".into(), k, key(r)],
        7 => vec!["RENAMENX".into(), k, key(r)],
        8 => vec!["EXPIRE".into(), k, "1000".into()],
        9 => vec!["PERSIST".into(), k],
        10 => vec!["COPY".into(), k, key(r)],
        _ => vec![
            "SORT".into(),
            k,
            "ALPHA".into(),
            "LIMIT".into(),
            "0".into(),
            "3".into(),
        ],
    };
    (c, false)
}

/// Bitmaps: bits set and read at small offsets (so strings stay short and collide), counts
/// and positions over byte and bit ranges, BITOP across keys, BITFIELD with every overflow
/// mode.
fn bitmaps(r: &mut Rng) -> (Vec<String>, bool) {
    let k = key(r);
    let range = |r: &mut Rng| vec![r.int(-6, 6), r.int(-6, 6)];
    let c: Vec<String> = match r.below(10) {
        0..=2 => vec!["SETBIT".into(), k, r.int(0, 60), r.int(0, 1)],
        3 => vec!["GETBIT".into(), k, r.int(0, 70)],
        4 => {
            let mut v = vec!["BITCOUNT".into(), k];
            if r.below(2) == 0 {
                v.extend(range(r));
                v.push(r.pick(&["BYTE", "BIT"]).into());
            }
            v
        }
        5 => {
            let mut v = vec!["BITPOS".into(), k, r.int(0, 1)];
            if r.below(2) == 0 {
                v.extend(range(r));
                v.push(r.pick(&["BYTE", "BIT"]).into());
            }
            v
        }
        6 => {
            let op = r.pick(&["AND", "OR", "XOR", "NOT"]);
            let mut v = vec!["BITOP".into(), op.into(), key(r), k];
            if op != "NOT" {
                v.push(key(r));
            }
            v
        }
        7 | 8 => {
            let ty = r.pick(&["u4", "i5", "u8", "i16", "u1", "i63"]).to_string();
            let mut v = vec!["BITFIELD".into(), k];
            v.extend(["OVERFLOW".into(), r.pick(&["WRAP", "SAT", "FAIL"]).into()]);
            match r.below(3) {
                0 => v.extend([
                    "SET".into(),
                    ty,
                    r.pick(&["0", "#1", "7"]).into(),
                    r.int(-200, 200),
                ]),
                1 => v.extend([
                    "INCRBY".into(),
                    ty,
                    r.pick(&["3", "#0"]).into(),
                    r.int(-100, 100),
                ]),
                _ => v.extend(["GET".into(), ty, r.int(0, 20)]),
            }
            v
        }
        _ => vec!["GET".into(), k],
    };
    (c, false)
}

/// Geo: members added around a few places, then distances, hashes, positions and searches by
/// radius and box, from a member or a point, sorted, counted and stored.
fn geo(r: &mut Rng) -> (Vec<String>, bool) {
    let k = key(r);
    let lon = |r: &mut Rng| format!("{}.{}", r.int(-10, 10), r.below(1000));
    let lat = |r: &mut Rng| format!("{}.{}", r.int(40, 50), r.below(1000));
    let unit = |r: &mut Rng| r.pick(&["m", "km", "mi", "ft"]).to_string();
    let c: Vec<String> = match r.below(9) {
        0..=2 => vec!["GEOADD".into(), k, lon(r), lat(r), member(r)],
        3 => vec!["GEODIST".into(), k, member(r), member(r), unit(r)],
        4 => vec!["GEOHASH".into(), k, member(r), member(r)],
        5 => vec!["GEOPOS".into(), k, member(r)],
        6 | 7 => {
            let mut v = vec!["GEOSEARCH".into(), k];
            if r.below(2) == 0 {
                v.extend(["FROMMEMBER".into(), member(r)]);
            } else {
                v.extend(["FROMLONLAT".into(), lon(r), lat(r)]);
            }
            if r.below(2) == 0 {
                v.extend(["BYRADIUS".into(), r.int(1, 2000), "km".into()]);
            } else {
                v.extend(["BYBOX".into(), r.int(1, 2000), r.int(1, 2000), "km".into()]);
            }
            v.push(r.pick(&["ASC", "DESC"]).into());
            if r.below(2) == 0 {
                v.extend(["COUNT".into(), r.int(1, 4)]);
            }
            v.extend(["WITHDIST".into(), "WITHHASH".into()]);
            v
        }
        _ => vec![
            "GEOSEARCHSTORE".into(),
            key(r),
            k,
            "FROMLONLAT".into(),
            lon(r),
            lat(r),
            "BYRADIUS".into(),
            "3000".into(),
            "km".into(),
            "ASC".into(),
        ],
    };
    (c, false)
}

/// Streams with consumer groups: entries are added with increasing IDs, deleted, trimmed,
/// read by groups, acknowledged and claimed. Idle times depend on the clock, so claims ask
/// for none or for more than any entry can have, and XPENDING is asked for its summary.
fn stream_groups(r: &mut Rng) -> (Vec<String>, bool) {
    let k = r.pick(&["s1", "s2", "str"]).to_string();
    let g = r.pick(&["g1", "g2"]).to_string();
    let c = r.pick(&["alice", "bob", "carol"]).to_string();
    let top = r.1.max(1);
    let id = |r: &mut Rng| format!("{}-0", 1 + r.below(top));
    let idle = |r: &mut Rng| r.pick(&["0", "3600000000"]).to_string();
    let mut cmd: Vec<String> = match r.below(16) {
        0..=2 => {
            r.1 += 1;
            vec![
                "XADD".into(),
                k,
                format!("{}-0", r.1),
                "f".into(),
                r.int(0, 9),
            ]
        }
        3 => vec!["XDEL".into(), k, id(r), id(r)],
        4 => vec!["XTRIM".into(), k, "MAXLEN".into(), r.int(0, 6)],
        5 => {
            let start = r.pick(&["0", "$"]).to_string();
            let mut v = vec!["XGROUP".into(), "CREATE".into(), k, g, start];
            if r.below(2) == 0 {
                v.push("MKSTREAM".into());
            }
            v
        }
        6 => match r.below(4) {
            0 => vec!["XGROUP".into(), "DESTROY".into(), k, g],
            1 => vec!["XGROUP".into(), "CREATECONSUMER".into(), k, g, c],
            2 => vec!["XGROUP".into(), "DELCONSUMER".into(), k, g, c],
            _ => vec!["XGROUP".into(), "SETID".into(), k, g, id(r)],
        },
        7 | 8 => {
            let from = if r.below(3) == 0 {
                "0".into()
            } else {
                ">".into()
            };
            let mut v = vec!["XREADGROUP".into(), "GROUP".into(), g, c];
            v.extend(["COUNT".into(), r.int(1, 4)]);
            if r.below(5) == 0 {
                v.push("NOACK".into());
            }
            v.extend(["STREAMS".into(), k, from]);
            v
        }
        9 => vec!["XACK".into(), k, g, id(r), id(r)],
        10 | 11 => {
            let mut v = vec!["XCLAIM".into(), k, g, c, idle(r), id(r), id(r)];
            for opt in ["JUSTID", "FORCE"] {
                if r.below(3) == 0 {
                    v.push(opt.into());
                }
            }
            if r.below(4) == 0 {
                v.extend(["RETRYCOUNT".into(), r.int(-1, 5)]);
            }
            if r.below(6) == 0 {
                v.extend(["LASTID".into(), id(r)]);
            }
            v
        }
        12 | 13 => {
            let start = r.pick(&["-", "0-0", "(1-0", "3-0"]).to_string();
            let mut v = vec!["XAUTOCLAIM".into(), k, g, c, idle(r), start];
            v.extend(["COUNT".into(), r.int(1, 4)]);
            if r.below(3) == 0 {
                v.push("JUSTID".into());
            }
            v
        }
        14 => vec!["XPENDING".into(), k, g],
        _ => vec!["XINFO".into(), "GROUPS".into(), k],
    };
    if cmd[1] == "str" && r.below(8) == 0 {
        cmd = vec!["SET".into(), "str".into(), "x".into()];
    }
    (cmd, false)
}

/// FUZZ_SEED and FUZZ_STEPS override the fixed seed and length (to explore locally).
fn run(name: &str, gen: Gen, seed: u64, steps: usize) {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(seed);
    let steps = std::env::var("FUZZ_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(steps);
    let reference = redis_server();
    let ours = ferrocache(&[]);
    let mut a = Raw::connect(reference.port);
    let mut b = Raw::connect(ours.port);
    let mut r = Rng::new(seed);
    let norm = |s: &str, unordered: bool| {
        let mut l: Vec<&str> = s.split("\r\n").collect();
        if unordered {
            l.sort();
        }
        l.join("\r\n")
    };
    let mut history = Vec::new();
    let mut errors = 0;
    for step in 0..steps {
        let (cmd, unordered) = gen(&mut r);
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let (ra, rb) = (a.cmd(&args), b.cmd(&args));
        history.push(cmd.join(" "));
        errors += rb.starts_with('-') as usize;
        if norm(&ra, unordered) != norm(&rb, unordered) {
            let recent = history[history.len().saturating_sub(8)..].join("\n  ");
            panic!(
                "{name} seed {seed} step {step}: {}\n  redis:      {ra:?}\n  ferrocache: {rb:?}\nrecent commands:\n  {recent}",
                cmd.join(" ")
            );
        }
    }
    // A generator that only produced errors would compare nothing of interest.
    assert!(
        errors < steps / 2,
        "{name}: {errors} of {steps} replies were errors"
    );
}

#[test]
fn fuzz_strings() {
    run("strings", strings, 11, 3000);
}

#[test]
fn fuzz_lists() {
    run("lists", lists, 12, 3000);
}

#[test]
fn fuzz_hashes() {
    run("hashes", hashes, 13, 3000);
}

#[test]
fn fuzz_sets() {
    run("sets", sets, 14, 3000);
}

#[test]
fn fuzz_zsets() {
    run("zsets", zsets, 15, 3000);
}

#[test]
fn fuzz_bitmaps() {
    run("bitmaps", bitmaps, 18, 3000);
}

#[test]
fn fuzz_geo() {
    run("geo", geo, 19, 3000);
}

#[test]
fn fuzz_stream_groups() {
    run("stream groups", stream_groups, 17, 3000);
}

#[test]
fn fuzz_generic() {
    run("generic", generic, 16, 3000);
}

/// Large HyperLogLogs: the same elements give byte-identical values (through the sparse to
/// dense promotion) and identical counts on both servers.
#[test]
fn hyperloglog_bytes_match_redis() {
    let reference = redis_server();
    let ours = ferrocache(&[]);
    let mut a = Raw::connect(reference.port);
    let mut b = Raw::connect(ours.port);
    for chunk in 0..20 {
        let elems: Vec<String> = (0..1000)
            .map(|i| format!("el:{}", chunk * 1000 + i))
            .collect();
        let mut args = vec!["PFADD", "big"];
        args.extend(elems.iter().map(String::as_str));
        assert_eq!(a.cmd(&args), b.cmd(&args));
        // A second key stays small and sparse.
        let small = format!("s{chunk}");
        assert_eq!(
            a.cmd(&["PFADD", "small", &small]),
            b.cmd(&["PFADD", "small", &small])
        );
        for cmd in [
            &["PFCOUNT", "big"][..],
            &["PFCOUNT", "small"],
            &["PFCOUNT", "big", "small"],
        ] {
            assert_eq!(a.cmd(cmd), b.cmd(cmd), "{cmd:?} after chunk {chunk}");
        }
    }
    for cmd in [
        &["GET", "big"][..],
        &["GET", "small"],
        &["PFMERGE", "m", "small", "big"],
        &["GET", "m"],
    ] {
        assert_eq!(a.cmd(cmd), b.cmd(cmd), "{cmd:?}");
    }
}

/// Stream trimming works node by node as in Redis: `~` leaves the same lengths, exact trims
/// and deletions in between included.
#[test]
fn stream_trimming_matches_redis() {
    let reference = redis_server();
    let ours = ferrocache(&[]);
    let mut a = Raw::connect(reference.port);
    let mut b = Raw::connect(ours.port);
    let mut r = Rng::new(21);
    for i in 1..=1000 {
        let id = format!("{i}-1");
        let item = format!("item{}", r.below(100));
        assert_eq!(
            a.cmd(&["XADD", "s", &id, "f", &item]),
            b.cmd(&["XADD", "s", &id, "f", &item])
        );
        if i % 97 == 0 {
            let victim = format!("{}-1", r.int(1, i as i64));
            assert_eq!(
                a.cmd(&["XDEL", "s", &victim]),
                b.cmd(&["XDEL", "s", &victim])
            );
        }
    }
    let steps: &[&[&str]] = &[
        &["XTRIM", "s", "MAXLEN", "666"],
        &["XTRIM", "s", "MAXLEN", "~", "444"],
        &["XTRIM", "s", "MAXLEN", "~", "400"],
        &["XTRIM", "s", "MINID", "~", "750"],
        &["XTRIM", "s", "MINID", "760"],
        &["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "30"],
        &["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "100"],
        &["XADD", "s", "MAXLEN", "~", "10", "2000-1", "f", "v"],
        &["XLEN", "s"],
        &["XRANGE", "s", "-", "+", "COUNT", "3"],
    ];
    for cmd in steps {
        assert_eq!(a.cmd(cmd), b.cmd(cmd), "{cmd:?}");
        assert_eq!(
            a.cmd(&["XLEN", "s"]),
            b.cmd(&["XLEN", "s"]),
            "after {cmd:?}"
        );
    }
}

/// Random commands with random arguments drawn from option names, edge numbers and IDs: every
/// one must get a reply (an error is fine) and the connection must stay open — no panics.
#[test]
fn random_arguments_never_break_the_server() {
    let server = ferrocache(&[]);
    let mut c = Raw::connect(server.port);
    let list = c.cmd(&["COMMAND", "LIST"]);
    let skip = [
        "shutdown",
        "debug",
        "quit",
        "reset",
        "monitor",
        "subscribe",
        "psubscribe",
        "ssubscribe",
        "client",
        "config",
        "multi",
        "swapdb",
        "select",
        "hello",
        "auth",
        "blpop",
        "brpop",
        "blmove",
        "brpoplpush",
        "blmpop",
        "bzpopmin",
        "bzpopmax",
        "bzmpop",
        "xread",
        "pfselftest",
        "flushall",
        "flushdb",
        // The connection becomes a replica link, or waits for replicas that never come:
        "psync",
        "sync",
        "wait",
        // One reply per argument:
        "unsubscribe",
        "punsubscribe",
        "sunsubscribe",
    ];
    let names: Vec<&str> = list
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with(['*', '$']) && !skip.contains(l))
        .collect();
    let vals = [
        "k",
        "k2",
        "0",
        "1",
        "-1",
        "2",
        "*",
        "$",
        "+",
        "-",
        "(1",
        "[a",
        "inf",
        "-inf",
        "1.5",
        "",
        "WITHSCORES",
        "LIMIT",
        "COUNT",
        "STORE",
        "BYSCORE",
        "BYLEX",
        "REV",
        "GET",
        "SET",
        "INCRBY",
        "OVERFLOW",
        "u8",
        "i64",
        "#1",
        "1-1",
        "18446744073709551615-18446744073709551615",
        "STREAMS",
        "MAXLEN",
        "MINID",
        "~",
        "9223372036854775807",
        "-9223372036854775808",
        "NX",
        "XX",
        "FROMLONLAT",
        "BYRADIUS",
        "km",
        "180",
        "AND",
        "NOT",
        "WEIGHTS",
        "AGGREGATE",
        "LEFT",
        "BEFORE",
        "RANK",
        "ALPHA",
        "BY",
        "a*",
        "h_*->f",
        "BIT",
    ];
    let mut r = Rng::new(99);
    for step in 0..20_000 {
        if step % 200 == 0 {
            for setup in [
                &["RPUSH", "k", "a", "1"][..],
                &["ZADD", "k2", "1", "a"],
                &["SADD", "k3", "a", "2"],
                &["XADD", "k4", "*", "f", "v"],
            ] {
                c.cmd(setup);
            }
        }
        let name = names[r.below(names.len() as u64) as usize];
        let mut args = vec![name];
        for _ in 0..r.below(8) {
            args.push(vals[r.below(vals.len() as u64) as usize]);
        }
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        c.send_raw(&common::resp(&a));
        assert!(c.try_read_reply().is_some(), "no reply to {args:?}");
    }
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
}
