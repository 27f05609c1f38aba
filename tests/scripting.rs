//! Lua scripts (EVAL, EVALSHA, SCRIPT): replies and errors as redis-server gives them, and a
//! script's writes reaching a redis-server replica and the AOF as its effects.

mod common;

use common::{assert_same, canonical, ferrocache, in_sync, replica_of, same_as_redis, Raw};

/// Every reply and error of a set of scripts, the same as redis-server's: conversions both
/// ways (integers, floats truncated, nil and false, status and error tables, arrays stopping
/// at the first nil, nested arrays), redis.call and redis.pcall errors with where they were
/// raised, the globals protection, compile errors, numkeys checks, EVALSHA and SCRIPT.
#[test]
fn replies_and_errors_match_redis() {
    same_as_redis(|port| {
        let mut c = Raw::connect(port);
        let mut t = String::new();
        let cases: &[&[&str]] = &[
            &["EVAL", "return redis.call('get')", "0"],
            &["EVAL", "return redis.call('nosuch')", "0"],
            &["EVAL", "return foo()", "0"],
            &["EVAL", "return redis.error_reply('My Error')", "0"],
            &["EVAL", "return {err='oops'}", "0"],
            &["EVAL", "return redis.pcall('get')", "0"],
            &["EVAL", "return redis.pcall('incr', 'k1', 'x')", "0"],
            &["EVAL", "return 3.99", "0"],
            &["EVAL", "return -2.5", "0"],
            &["EVAL", "return {1,2,nil,4}", "0"],
            &["EVAL", "return true", "0"],
            &["EVAL", "return false", "0"],
            &["EVAL", "return nil", "0"],
            &["EVAL", "return {ok='FINE'}", "0"],
            &["EVAL", "return redis.status_reply('DONE')", "0"],
            &["EVAL", "return redis.call('set','k','v')", "0"],
            &["EVAL", "return redis.call('get','nokey')", "0"],
            &["EVAL", "return redis.call('get','k')", "0"],
            &["EVAL", "x = 5", "0"],
            &["EVAL", "return 'a' .. ", "0"],
            &["EVAL", "return redis.call('set', {})", "0"],
            &["EVAL", "return redis.call()", "0"],
            &["EVAL", "return redis.call('subscribe','x')", "0"],
            &["EVAL", "error('boom')", "0"],
            &["EVAL", "error({err='E2 custom'})", "0"],
            &[
                "EVAL",
                "local x = 1\nlocal y = 2\nreturn redis.call('lpush', 'k', 'v')",
                "0",
            ],
            &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
            &["EVAL", "return 1", "-1"],
            &["EVAL", "return 1", "2", "a"],
            &["EVAL", "return 1", "x"],
            &["SCRIPT", "LOAD", "return 1"],
            &[
                "SCRIPT",
                "EXISTS",
                "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
                "ffff",
            ],
            &["EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"],
            &["EVAL", "return {1,{2,'x'},redis.call('ping')}", "0"],
            &["EVAL", "return redis.sha1hex()", "0"],
            &["EVAL", "return redis.sha1hex(1, 2)", "0"],
            &["EVAL", "return redis.sha1hex(12)", "0"],
            &["EVAL", "return tostring(redis.call('incr','n'))", "0"],
            &["EVAL", "return redis.call('hgetall','nokey')", "0"],
            &[
                "EVAL",
                "return KEYS[1]..ARGV[1]..#KEYS..#ARGV",
                "1",
                "a",
                "b",
                "c",
            ],
            &["EVAL", "return redis.call('incrbyfloat','f', 1.5)", "0"],
            &["EVAL", "return redis.call('rpush','l', 1, 2.5, 'x')", "0"],
            &["EVAL", "return redis.call('lrange','l', 0, -1)", "0"],
            &["EVAL", "return redis.sha1hex('')", "0"],
            &["MULTI"],
            &["EVAL", "return redis.call('incr', 'n')", "0"],
            &["EVAL", "return redis.call('get', 'n')", "0"],
            &["EXEC"],
            &["SCRIPT", "FLUSH"],
            &[
                "SCRIPT",
                "EXISTS",
                "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
            ],
            &["SCRIPT", "FLUSH", "LATER"],
            // Read-only scripts, and the rest of the redis library.
            &["EVAL_RO", "return redis.call('set','k','v')", "0"],
            &["EVAL_RO", "return redis.call('get',KEYS[1])", "1", "k"],
            &["EVALSHA_RO", "ffffffffffffffffffffffffffffffffffffffff", "0"],
            &["EVAL", "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}", "0"],
            &["EVAL", "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}", "0"],
            &["EVAL", "return redis.replicate_commands()", "0"],
            &["EVAL", "redis.log(redis.LOG_WARNING, 'from a script'); return 1", "0"],
            &["EVAL", "return redis.log()", "0"],
            &["EVAL", "return redis.setresp(4)", "0"],
            &["EVAL", "return redis.set_repl(99)", "0"],
            &["EVAL", "return redis.breakpoint()", "0"],
            &["EVAL", "return type(redis.REDIS_VERSION_NUM)", "0"],
            // The library tables are read-only, yet pairs, ipairs and next see what they hold.
            &["EVAL", "local n = 0 for k, v in pairs(string) do n = n + 1 end return n", "0"],
            &["EVAL", "local t = {} for k in pairs(math) do t[#t + 1] = k end table.sort(t) return t", "0"],
            &["EVAL", "return type(next(table))", "0"],
            &["EVAL", "local n = 0 for i, v in ipairs({1, 2, 3}) do n = n + v end return n", "0"],
            &["EVAL", "local n = 0 for k, v in pairs({a = 1, b = 2}) do n = n + v end return n", "0"],
            &["EVAL", "local t = {} for k, v in next, {x = 1} do t[#t + 1] = k end return t", "0"],
            &["EVAL", "return pairs(nil)", "0"],
            &["EVAL", "return ipairs()", "0"],
            &["EVAL", "return next(nil)", "0"],
            &["EVAL", "local n = 0 for k in pairs(redis) do n = n + 1 end return n > 10", "0"],
            &["EVAL", "local f, s = pairs(string) return rawequal(s, string)", "0"],
            // pcall as Redis replaces it: an error table comes back as its message.
            &["EVAL", "local ok, e = pcall(redis.call, 'incr', 'k'); return {tostring(ok), type(e), e}", "0"],
            &["EVAL", "local ok, e = pcall(redis.call, 'nosuch'); return {type(e), e}", "0"],
            &["EVAL", "local ok, e = pcall(error, {err='X custom'}); return {type(e), e}", "0"],
            &["EVAL", "local ok, e = pcall(error, {code=1}); return {type(e), e.code}", "0"],
            &["EVAL", "return {pcall(function() return 1, 'two' end)}", "0"],
            &["EVAL", "local ok, e = pcall(redis.setresp, 4); return {type(e), e}", "0"],
            &["EVAL", "local ok, e = pcall(cjson.decode, '{'); return {type(e), e}", "0"],
            &["EVAL", "local ok, e = pcall(error, 'plain'); return {type(e), e}", "0"],
            &["EVAL", "local ok, e = pcall(redis.call, 'set', {}); return {type(e), e}", "0"],
            &["EVAL", "local ok, e = pcall(redis.sha1hex); return {type(e), e}", "0"],
            &["EVAL", "return pcall()", "0"],
            // Thousands of arguments to one call; replies of every shape, back as Lua values.
            &["EVAL", "local a = {} for i=1,7999 do a[i]=i end return redis.call('lpush','biglist',unpack(a))", "0"],
            &["EVAL", "return redis.call('lrange','biglist',0,9)", "0"],
            &["EVAL", "return redis.pcall('hset','h','a','1','b','2')", "0"],
            &["EVAL", "local r = redis.call('hgetall','h') return {#r, r[1], r[4]}", "0"],
            &["EVAL", "local r = redis.call('set','s','v') return {type(r), r.ok}", "0"],
            &["EVAL", "local r = redis.call('get','nosuchkey') return {type(r), tostring(r)}", "0"],
            &["EVAL", "local r = redis.pcall('incr','s') return {type(r), r.err}", "0"],
            &["EVAL", "local r = redis.call('exec') return r", "0"],
            &["EVAL", "return {1, 'a', true, false, 2.5, -0.5, 1e20}", "0"],
            &["EVAL", "return {1, {2, {3, {4}}}, 'x'}", "0"],
        ];
        for case in cases {
            t += &c.cmd(case);
        }
        t
    });
}

/// A script's writes reach a redis-server replica as their effects, in one MULTI/EXEC block
/// when there are several, and the replica holds what the primary holds.
#[test]
fn script_writes_reach_a_replica() {
    let fc = ferrocache(&[]);
    let mut p = Raw::connect(fc.port);
    let (_r, mut r) = replica_of(&fc);
    let script = "redis.call('incr', KEYS[1]); redis.call('rpush', KEYS[2], ARGV[1], ARGV[2]); \
                  redis.call('select', 3); redis.call('set', 'in-3', 'x'); \
                  return redis.call('incrbyfloat', KEYS[3], '0.5')";
    for _ in 0..3 {
        let reply = p.cmd(&["EVAL", script, "3", "counter", "list", "float", "a", "b"]);
        assert!(reply.starts_with('$'), "{reply}");
    }
    // The script's SELECT ended with it: the caller is still in database 0.
    assert_eq!(p.cmd(&["GET", "counter"]), "$1\r\n3\r\n");
    p.cmd(&["SELECT", "3"]);
    assert_eq!(p.cmd(&["GET", "float"]), "$3\r\n1.5\r\n");
    p.cmd(&["SELECT", "0"]);
    in_sync(&mut p, &mut r);
    for db in [0, 3] {
        assert_same(&canonical(&mut p, db), &canonical(&mut r, db), db);
    }
    // redis.set_repl(redis.REPL_NONE): what follows stays on the primary.
    let script = "redis.set_repl(redis.REPL_NONE); redis.call('set', 'here-only', '1'); \
                  redis.set_repl(redis.REPL_ALL); return redis.call('set', 'everywhere', '1')";
    assert_eq!(p.cmd(&["EVAL", script, "0"]), "+OK\r\n");
    in_sync(&mut p, &mut r);
    assert_eq!(p.cmd(&["EXISTS", "here-only", "everywhere"]), ":2\r\n");
    assert_eq!(r.cmd(&["EXISTS", "here-only", "everywhere"]), ":1\r\n");
    assert_eq!(r.cmd(&["GET", "everywhere"]), "$1\r\n1\r\n");
}

/// RESP3 both ways: `redis.setresp(3)` gives scripts maps, sets, doubles, booleans, nulls,
/// big numbers and verbatim strings; a script's tables of those become the caller's
/// protocol's replies (RESP2 and RESP3 callers alike).
#[test]
fn resp3_conversions_match_redis() {
    same_as_redis(|port| {
        let mut t = String::new();
        let mut setup = Raw::connect(port);
        setup.cmd(&["HSET", "h", "f", "v"]);
        setup.cmd(&["ZADD", "z", "3.5", "m"]);
        setup.cmd(&["SADD", "s", "only"]);
        let scripts = [
            "redis.setresp(3); return redis.call('hgetall', 'h')",
            "redis.setresp(3); return redis.call('hgetall', 'h').map.f",
            "redis.setresp(3); return redis.call('zscore', 'z', 'm')",
            "redis.setresp(3); return redis.call('zscore', 'z', 'm').double * 2",
            "redis.setresp(3); return redis.call('smembers', 's')",
            "redis.setresp(3); return redis.call('get', 'nokey')",
            "redis.setresp(3); return type(redis.call('get', 'nokey'))",
            "redis.setresp(2); return type(redis.call('get', 'nokey'))",
            "redis.setresp(3); return true",
            "redis.setresp(3); return false",
            "return true",
            "return false",
            "return {double=3.5}",
            "return {double=-0.25}",
            "return {map={a=1}}",
            "return {set={x=true}}",
            "return {big_number='1234567890123456789012'}",
            "return {verbatim_string={format='txt', string='hi there'}}",
            "return {ok='two\\r\\nlines'}",
            "return redis.setresp(4)",
            "return redis.setresp('x')",
            "return {1, {double=1.5}, {map={k={1,2}}}}",
        ];
        for resp in ["2", "3"] {
            let mut c = Raw::connect(port);
            c.cmd(&["HELLO", resp]);
            for s in scripts {
                t += &format!("RESP{resp} {s} -> {}", c.cmd(&["EVAL", s, "0"]));
            }
        }
        t
    });
}

/// The sandbox: globals, `_G`'s metatable and the library tables cannot be changed (so no
/// script can break the next one), print/loadfile/dofile are gone, bytecode does not load.
#[test]
fn the_sandbox_matches_redis() {
    same_as_redis(|port| {
        let mut c = Raw::connect(port);
        let mut t = String::new();
        let scripts = [
            "setmetatable(_G, {})",
            "local g = getmetatable(_G) g.__index = {}",
            "redis = function() return 1 end",
            "_G = {}",
            "redis.call = function() return 1 end",
            "cjson.encode = function() return 1 end",
            "cmsgpack.pack = function() return 1 end",
            "bit.lshift = function() return 1 end",
            "string.len = nil",
            "math.x = 1",
            "rawset(_G, 'x', 1)",
            "x = 1",
            "return x",
            "loadfile('some file')",
            "dofile('some file')",
            "print('some data')",
            "return loadstring(string.dump(function() return 1 end))()",
            "return loadstring('return 7')()",
            "local t = setmetatable({}, {__index = function() return 5 end}) return t.any",
            "return redis.call('ping')",
            "return cjson.encode({1})",
            "return KEYS[1]",
            "KEYS = {}",
            "return type(_G)",
            "return string.len('abc')",
            "return ('ab'):rep(2)",
        ];
        for s in scripts {
            t += &format!("{s} -> {}", c.cmd(&["EVAL", s, "1", "k"]));
        }
        t
    });
}

/// redis.error_reply/status_reply's forms, and error stats counting each error once: a
/// command's error passed on by a script, a call the script refused, an error table returned.
#[test]
fn error_replies_and_their_stats_match_redis() {
    same_as_redis(|port| {
        let mut c = Raw::connect(port);
        let mut t = String::new();
        let scripts = [
            "return redis.error_reply('')",
            "return redis.error_reply('MY_ERR_CODE custom msg')",
            "return redis.error_reply('-X y')",
            "return redis.error_reply('nocode')",
            "return redis.error_reply('a\\nb')",
            "return redis.error_reply(1)",
            "return redis.error_reply()",
            "return redis.status_reply('fine')",
            "return redis.status_reply('a', 'b')",
            "return {err=''}",
            "local t = redis.error_reply('x y') return t.err",
            "return redis.call('select', 99)",
            "return redis.pcall('select', 99)",
            "local t = redis.pcall('select', 99) return 1",
            "return redis.call('nosuchcmd')",
            "return redis.pcall('nosuchcmd')",
            "return redis.call('get')",
            "return redis.call({})",
            "error('plain')",
        ];
        for s in scripts {
            c.cmd(&["CONFIG", "RESETSTAT"]);
            t += &format!("{s} -> {}", c.cmd(&["EVAL", s, "0"]));
            t += &c.cmd(&["INFO", "errorstats"]).replace("\r\n", " ");
            let stats = c.cmd(&["INFO", "commandstats"]);
            // (Sorted: Redis lists commands in its hash table's order.)
            let mut lines: Vec<&str> = stats
                .lines()
                .filter(|l| l.starts_with("cmdstat_eval:") || l.starts_with("cmdstat_select:"))
                .collect();
            lines.sort();
            for line in lines {
                // usec and usec_per_call differ run to run.
                let fields: Vec<&str> = line.split(',').filter(|f| !f.contains("usec")).collect();
                t += &fields.join(",");
                t += " ";
            }
            t += "\n";
        }
        t
    });
}

/// A result that holds itself nests as deep as Redis's Lua stack allows (7995 arrays), then
/// ends with Redis's error; the server and the connection carry on.
#[test]
fn a_self_referencing_result_ends_with_the_stack_limit_error() {
    use std::io::{BufRead, BufReader, Write};
    let server = common::ferrocache(&[]);
    let s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let script = b"local a = {}; local b = {a}; a[1] = b; return a";
    w.write_all(&common::resp(&[b"EVAL", script, b"0"]))
        .unwrap();
    let mut arrays = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        match line.as_str() {
            "*1\r\n" => arrays += 1,
            "-ERR reached lua stack limit\r\n" => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(arrays, 7995);
    w.write_all(&common::resp(&[b"EVAL", b"return redis.sha1hex('')", b"0"]))
        .unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "$40\r\n");
}

/// math.random is Redis's generator (one state for the server, lrand48's): the same numbers
/// from a fresh server, the same after math.randomseed, the same errors.
#[test]
fn math_random_matches_redis() {
    same_as_redis(|port| {
        let mut c = Raw::connect(port);
        let mut t = String::new();
        let scripts = [
            "return tostring(math.random())",
            "return {math.random(100), math.random(100), math.random(5, 10)}",
            "math.randomseed(42) return tostring(math.random())",
            "math.randomseed(-7) return {math.random(1000), math.random(-5, 5)}",
            "return math.random(0)",
            "return math.random(3, 1)",
            "return math.random(1, 2, 3)",
            "return math.random('x')",
            "return math.randomseed()",
        ];
        for s in scripts {
            t += &format!("{s} -> {}", c.cmd(&["EVAL", s, "0"]));
        }
        t
    });
}

/// Ten thousand runs of a script leave the Lua state about as small as one run does (Redis's
/// check: under 100 KB): each run's garbage is collected in steps as it goes, rather than left
/// to pile up until a full cycle, and nothing stays on Lua's stack.
#[test]
fn runs_do_not_grow_the_lua_state() {
    let server = common::ferrocache(&[]);
    let mut c = Raw::connect(server.port);
    let one = common::resp(&[b"EVAL", b"return redis.call('incr', KEYS[1])", b"1", b"x"]);
    c.send_raw(&one);
    c.read_reply();
    let first = common::info_u64(&mut c, "memory", "used_memory_lua");
    for _ in 0..10 {
        c.send_raw(&one.repeat(1000));
        for _ in 0..1000 {
            c.read_reply();
        }
    }
    assert_eq!(c.cmd(&["GET", "x"]), "$5\r\n10001\r\n");
    let lua = common::info_u64(&mut c, "memory", "used_memory_lua");
    assert!(lua < 100 * 1024, "used_memory_lua:{lua}");
    assert!(
        lua < first + 12 * 1024,
        "used_memory_lua:{lua}, after one run {first}"
    );
}
