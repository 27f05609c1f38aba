//! Function libraries (FUNCTION, FCALL, FCALL_RO) and EVAL shebang flags: replies and errors
//! as redis-server gives them; libraries kept in RDB files both servers read, carried by
//! FUNCTION DUMP/RESTORE, and replicated to a redis-server replica with the data their
//! functions wrote.

mod common;

use common::{
    assert_same, canonical, ferrocache, in_sync, redis_server_with, replica_of, same_as_redis, Raw,
};

const LIB: &str = "#!lua name=lib
redis.register_function('f', function(keys, args) return redis.call('ping') end)
redis.register_function{function_name='g', callback=function(keys, args) return #keys + #args end, flags={'no-writes'}, description='desc g'}";

const WRITER: &str = "#!lua name=writer
redis.register_function('put', function(keys, args)
  for i, k in ipairs(keys) do redis.call('set', k, args[i]) end
  redis.call('incr', 'calls')
  return #keys
end)";

#[test]
fn function_replies_and_errors_match_redis() {
    same_as_redis(|port| {
        let mut c = Raw::connect(port);
        let mut t = String::new();
        let cases: &[&[&str]] = &[
            &["FUNCTION", "LOAD", "return 1"],
            &["FUNCTION", "LOAD", "#!lua"],
            &["FUNCTION", "LOAD", "#!lua name=x foo=bar\nreturn 1"],
            &["FUNCTION", "LOAD", "#!nosuch name=x\nreturn 1"],
            &["FUNCTION", "LOAD", "#!lua name=a-b\nreturn 1"],
            &["FUNCTION", "LOAD", "#!lua name=l\nreturn 1"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function()"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function('f')"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function(1, 2)"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function{function_name='f', callback=function() end, flags={'bad'}}"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function{function_name='f'}"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function{callback=function() end}"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function{function_name='f', callback=1}"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function{function_name='f', callback=function() end, nope=1}"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function('a-b', function() end)"],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function('f', function() end)\nredis.register_function('f', function() end)"],
            &["FUNCTION", "LOAD", "#!lua name=l\nreturn 'a' .."],
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.call('ping')"],
            &["FUNCTION", "LOAD", "#!lua name=l\nx = 1"],
            &["FUNCTION", "LOAD", LIB],
            &["FUNCTION", "LOAD", LIB],
            &["FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('f', function() end)"],
            &["FUNCTION", "LOAD", "BADOPT", LIB],
            &["FCALL", "f", "0"],
            &["FCALL", "g", "2", "a", "b", "c"],
            &["FCALL", "nosuch", "0"],
            &["FCALL_RO", "f", "0"],
            &["FCALL_RO", "g", "0"],
            &["FCALL", "g", "-1"],
            &["FCALL", "g", "5", "a"],
            &["FCALL", "g", "x"],
            &["FUNCTION", "STATS"],
            &["FUNCTION", "DELETE", "nolib"],
            &["FUNCTION", "LOAD", "#!lua name=lib5\nredis.register_function('f5', function() error('boom') end)"],
            &["FCALL", "f5", "0"],
            &["FUNCTION", "LOAD", "#!lua name=lib6\nredis.register_function('f6', function() return redis.call('nosuch') end)"],
            &["FCALL", "f6", "0"],
            &["FUNCTION", "LOAD", "#!lua name=lib7\nredis.register_function{function_name='f7', callback=function(k) return redis.call('set', k[1], 'v') end, flags={'no-writes'}}"],
            &["FCALL", "f7", "1", "k"],
            &["FUNCTION", "LOAD", "#!lua name=lib8\nredis.register_function{function_name='f8', callback=function(k, a) return {k, a} end, flags={'allow-oom', 'NO-CLUSTER'}, description='eight'}"],
            &["FCALL", "f8", "2", "a", "b", "c", "d"],
            &["FUNCTION", "LIST", "LIBRARYNAME", "lib8", "WITHCODE"],
            &["FUNCTION", "LIST", "LIBRARYNAME", "lib7"],
            &["FUNCTION", "LIST", "LIBRARYNAME"],
            &["FUNCTION", "LIST", "BAD"],
            &["FUNCTION", "DELETE", "lib5"],
            &["FCALL", "f5", "0"],
            &["FUNCTION", "LOAD", "REPLACE", "#!lua name=lib6\nredis.register_function('f6', function() return 66 end)"],
            &["FCALL", "f6", "0"],
            &["FUNCTION", "LOAD", "REPLACE", "#!lua name=lib6\nredis.register_function('f', function() end)"],
            &["FUNCTION", "RESTORE", "garbage"],
            &["FUNCTION", "RESTORE", "x", "badpolicy"],
            &["FUNCTION", "KILL"],
            &["FUNCTION", "FLUSH", "bad"],
            &["FUNCTION", "FLUSH", "async"],
            &["FUNCTION", "LIST"],
            &["FCALL", "f", "0"],
            // EVAL's shebang flags.
            &["EVAL", "#!lua flags=no-writes\nreturn redis.call('set','a','b')", "0"],
            &["EVAL", "#!lua flags=bad\nreturn 1", "0"],
            &["EVAL", "#!lua foo=bar\nreturn 1", "0"],
            &["EVAL", "#!lu\nreturn 1", "0"],
            &["EVAL", "#!lua", "0"],
            &["EVAL", "#!lua\nreturn redis.call('set','a','b')", "0"],
            &["EVAL_RO", "#!lua\nreturn 1", "0"],
            &["EVAL_RO", "#!lua flags=no-writes\nreturn 2", "0"],
            &["EVAL", "#!lua flags=no-writes,allow-oom\nreturn 3", "0"],
            &["EVAL", "#!lua\nreturn error('x')", "0"],
        ];
        for case in cases {
            t += &format!("{case:?} -> {}", c.cmd(case));
        }
        t
    });
}

/// A library saved in our RDB loads in redis-server and the other way round; FUNCTION DUMP's
/// payload restores in both; each server's FCALL then gives the same.
#[test]
fn libraries_persist_in_rdb_files_and_dumps_both_servers_read() {
    // Ours to theirs.
    let ours = ferrocache(&[]);
    let mut c = Raw::connect(ours.port);
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", LIB]), "$3\r\nlib\r\n");
    assert_eq!(c.cmd(&["SAVE"]), "+OK\r\n");
    let dir = ours.dir.to_str().unwrap().to_string();
    let theirs = redis_server_with(&["--dir", &dir]);
    let mut r = Raw::connect(theirs.port);
    assert_eq!(r.cmd(&["FCALL", "g", "1", "a", "b"]), ":2\r\n");
    assert_eq!(r.cmd(&["FCALL", "f", "0"]), "+PONG\r\n");
    // Theirs to ours.
    assert_eq!(r.cmd(&["FUNCTION", "LOAD", WRITER]), "$6\r\nwriter\r\n");
    assert_eq!(r.cmd(&["SAVE"]), "+OK\r\n");
    // (redis-server saved into the directory it loaded from.)
    let ours2 = ferrocache(&["--dir", &dir]);
    let mut c2 = Raw::connect(ours2.port);
    assert_eq!(c2.cmd(&["FCALL", "put", "1", "k", "v"]), ":1\r\n");
    assert_eq!(c2.cmd(&["FCALL", "g", "0"]), ":0\r\n");
    // DUMP and RESTORE across the two, each policy.
    let payload = {
        let mut frame = c2.cmd_bytes(&[b"FUNCTION", b"DUMP"]);
        // "$<n>\r\n<payload>\r\n"
        let start = frame.iter().position(|&b| b == b'\n').unwrap() + 1;
        frame.truncate(frame.len() - 2);
        frame.split_off(start)
    };
    let restore = |conn: &mut Raw, policy: &[u8]| {
        let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &payload];
        if !policy.is_empty() {
            args.push(policy);
        }
        String::from_utf8_lossy(&conn.cmd_bytes(&args)).into_owned()
    };
    let transcript = |conn: &mut Raw| {
        let mut t = String::new();
        t += &restore(conn, b"");
        // (Which colliding library Redis names depends on its hash table's order.)
        t += &restore(conn, b"APPEND")
            .replace("Library lib ", "Library <one> ")
            .replace("Library writer ", "Library <one> ");
        t += &restore(conn, b"REPLACE");
        t += &restore(conn, b"FLUSH");
        t += &conn.cmd(&["FCALL", "put", "2", "x", "y", "1", "2"]);
        t += &conn.cmd(&["FUNCTION", "STATS"]);
        t
    };
    let fresh_theirs = redis_server_with(&[]);
    let fresh_ours = ferrocache(&[]);
    let expected = transcript(&mut Raw::connect(fresh_theirs.port));
    assert_eq!(transcript(&mut Raw::connect(fresh_ours.port)), expected);
    assert!(expected.contains("already exists"), "{expected}");
}

/// FUNCTION LOAD reaches a redis-server replica as a command, FCALL as the effects of its
/// function; the replica ends with the same libraries and data.
#[test]
fn functions_and_their_writes_reach_a_redis_replica() {
    let primary = ferrocache(&[]);
    let mut p = Raw::connect(primary.port);
    let (_replica, mut r) = replica_of(&primary);
    assert_eq!(p.cmd(&["FUNCTION", "LOAD", WRITER]), "$6\r\nwriter\r\n");
    for i in 0..20 {
        let (k1, k2, v) = (format!("a{i}"), format!("b{i}"), i.to_string());
        p.cmd(&["FCALL", "put", "2", &k1, &k2, &v, &v]);
    }
    p.cmd(&["FUNCTION", "LOAD", LIB]);
    p.cmd(&["FUNCTION", "DELETE", "lib"]);
    in_sync(&mut p, &mut r);
    assert_eq!(
        r.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "writer", "WITHCODE"]),
        p.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "writer", "WITHCODE"])
    );
    assert_eq!(r.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "lib"]), "*0\r\n");
    assert_same(&canonical(&mut p, 0), &canonical(&mut r, 0), 0);
    assert_eq!(r.cmd(&["GET", "calls"]), "$2\r\n20\r\n");
}

/// With several I/O threads, FCALL and FUNCTION LOAD on different threads take the gate and
/// the libraries' lock in the same order (they once deadlocked: FCALL held the libraries
/// waiting for the gate, FUNCTION LOAD the gate waiting for the libraries).
#[test]
fn fcall_and_function_load_on_several_io_threads_do_not_deadlock() {
    let server = ferrocache(&["--io-threads", "2"]);
    let mut c = Raw::connect(server.port);
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", WRITER]), "$6\r\nwriter\r\n");
    let port = server.port;
    let callers: Vec<_> = (0..3)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Raw::connect(port);
                for i in 0..300 {
                    let (k, v) = (format!("k{t}-{i}"), i.to_string());
                    assert_eq!(c.cmd(&["FCALL", "put", "1", &k, &v]), ":1\r\n");
                }
            })
        })
        .collect();
    let loader = std::thread::spawn(move || {
        let mut c = Raw::connect(port);
        for i in 0..150 {
            let code = format!(
                "#!lua name=other\nredis.register_function('o', function() return {i} end)"
            );
            assert_eq!(
                c.cmd(&["FUNCTION", "LOAD", "REPLACE", &code]),
                "$5\r\nother\r\n"
            );
            c.cmd(&["EVAL", "return redis.call('incr', 'evals')", "0"]);
        }
    });
    for t in callers {
        t.join()
            .expect("an FCALL client failed (a hang times out its read)");
    }
    loader.join().expect("the loader failed");
    assert_eq!(c.cmd(&["GET", "calls"]), "$3\r\n900\r\n");
}
