//! A script that runs past `busy-reply-threshold` (alias `lua-time-limit`): other clients,
//! connected before or after, get -BUSY; SCRIPT KILL ends it (or is refused once it wrote),
//! SHUTDOWN NOSAVE ends the server; every key stays. The same transcript as redis-server's,
//! with one I/O thread (the script's hook answers the others) and with several (the other
//! threads do).

mod common;

use common::{canonical, ferrocache, redis_server_with, resp, same_as_redis_in, wait_exit, Raw};

/// ferrocache's configurations each transcript is checked in.
const CONFIGS: &[&[&str]] = &[&[], &["--io-threads", "2"], &["--io-threads", "4"]];

/// Starts `script` looping on a connection of its own, and returns that connection once
/// another client is answered -BUSY (the script is past the threshold).
fn start_busy(port: u16, script: &str) -> Raw {
    let mut looping = Raw::connect(port);
    looping.send_raw(&resp(&[b"EVAL", script.as_bytes(), b"0"]));
    let mut probe = Raw::connect(port);
    while !probe.cmd(&["PING"]).starts_with("-BUSY") {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    looping
}

#[test]
fn a_looping_script_gets_busy_replies_and_dies_by_script_kill() {
    let out = same_as_redis_in(CONFIGS, |port| {
        let mut t = String::new();
        let mut admin = Raw::connect(port);
        admin.cmd(&["CONFIG", "SET", "lua-time-limit", "50"]);
        for cmd in [
            &["SET", "k", "v"][..],
            &["RPUSH", "l", "a", "b"],
            &["HSET", "h", "f", "v"],
            &["SET", "ttl", "v", "EX", "100"],
        ] {
            admin.cmd(cmd);
        }
        let before = canonical(&mut admin, 0);
        let mut early = Raw::connect(port);
        let mut looping = start_busy(port, "local i = 0 while true do i = i + 1 end");
        // A client connected before the script, one request and then a pipeline.
        t += &early.cmd(&["PING"]);
        t += &early.cmd(&["GET", "k"]);
        let mut batch = resp(&[b"GET", b"k"]);
        batch.extend(resp(&[b"SET", b"k2", b"v"]));
        batch.extend(resp(&[b"NOSUCH", b"x"]));
        batch.extend(resp(&[b"GET"]));
        early.send_raw(&batch);
        for _ in 0..4 {
            t += &early.read_reply();
        }
        // One connected while it runs.
        let mut late = Raw::connect(port);
        t += &late.cmd(&["INCR", "k"]);
        t += &late.cmd(&["SHUTDOWN"]);
        t += &late.cmd(&["SHUTDOWN", "SAVE"]);
        t += &late.cmd(&["SCRIPT", "KILL"]);
        t += &looping.read_reply();
        t += &late.cmd(&["SCRIPT", "KILL"]);
        t += &early.cmd(&["GET", "k"]);
        t += &early.cmd(&["EXISTS", "k2"]);
        assert_eq!(
            canonical(&mut admin, 0),
            before,
            "a killed script lost a key"
        );
        // The looping connection is usable again.
        t += &looping.cmd(&["PING"]);
        t += &looping.cmd(&["EVAL", "return redis.call('get', KEYS[1])", "1", "k"]);
        t
    });
    assert!(out.contains(
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    ));
    assert!(out.contains("Script killed by user with SCRIPT KILL..."));
}

/// A script that wrote cannot be killed; SHUTDOWN NOSAVE ends the server, and what was
/// saved before is all there is at the next start.
#[test]
fn a_script_that_wrote_is_unkillable_and_shutdown_nosave_ends_the_server() {
    let transcript = |port: u16| {
        let mut t = String::new();
        let mut admin = Raw::connect(port);
        admin.cmd(&["CONFIG", "SET", "lua-time-limit", "50"]);
        let _looping = start_busy(port, "redis.call('set', 'x', '1') while true do end");
        let mut c = Raw::connect(port);
        t += &c.cmd(&["SCRIPT", "KILL"]);
        t += &c.cmd(&["SHUTDOWN"]);
        c.send_raw(&resp(&[b"SHUTDOWN", b"NOSAVE"]));
        assert!(c.try_read_reply().is_none(), "SHUTDOWN NOSAVE replied");
        t
    };
    let mut theirs = redis_server_with(&[]);
    let expected = transcript(theirs.port);
    assert!(
        wait_exit(&mut theirs).is_some(),
        "redis-server did not exit"
    );
    for extra in CONFIGS {
        let mut ours = ferrocache(extra);
        assert_eq!(transcript(ours.port), expected, "{extra:?}");
        let status = wait_exit(&mut ours).expect("ferrocache did not exit on SHUTDOWN NOSAVE");
        assert!(status.success(), "{extra:?}: {status:?}");
    }
    assert!(expected.contains("-UNKILLABLE Sorry the script already executed write commands"));
}

/// With a password, a client connected while the script runs may authenticate and kill it
/// (as `redis-cli -a ... SCRIPT KILL` does); one that did not is told so.
#[test]
fn a_new_client_can_authenticate_and_kill_a_busy_script() {
    let transcript = |port: u16| {
        let mut t = String::new();
        let mut admin = Raw::connect(port);
        admin.cmd(&["AUTH", "secret"]);
        admin.cmd(&["CONFIG", "SET", "lua-time-limit", "50"]);
        let mut looping = Raw::connect(port);
        looping.cmd(&["AUTH", "secret"]);
        looping.send_raw(&resp(&[b"EVAL", b"while true do end", b"0"]));
        while !admin.cmd(&["PING"]).starts_with("-BUSY") {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut stranger = Raw::connect(port);
        t += &stranger.cmd(&["SCRIPT", "KILL"]);
        t += &stranger.cmd(&["PING"]);
        let mut c = Raw::connect(port);
        t += &c.cmd(&["AUTH", "secret"]);
        t += &c.cmd(&["PING"]);
        t += &c.cmd(&["SCRIPT", "KILL"]);
        t += &looping.read_reply();
        t += &c.cmd(&["PING"]);
        t
    };
    let theirs = redis_server_with(&["--requirepass", "secret"]);
    let expected = transcript(theirs.port);
    for extra in CONFIGS {
        let ours = ferrocache(&[&["--requirepass", "secret"], *extra].concat());
        assert_eq!(transcript(ours.port), expected, "{extra:?}");
    }
    assert!(expected.contains("-NOAUTH"));
}

/// With a threshold of 0 nothing is ever busy: a long script delays the others, no more.
#[test]
fn a_zero_threshold_never_makes_a_script_busy() {
    let server = ferrocache(&["--busy-reply-threshold", "0"]);
    let mut a = Raw::connect(server.port);
    a.send_raw(&resp(&[
        b"EVAL",
        b"local i = 0 while i < 3000000 do i = i + 1 end return i",
        b"0",
    ]));
    let mut b = Raw::connect(server.port);
    assert_eq!(b.cmd(&["PING"]), "+PONG\r\n");
    assert_eq!(a.read_reply(), ":3000000\r\n");
}

/// A busy function: -BUSY names FUNCTION KILL, SCRIPT KILL is refused, FUNCTION STATS shows it
/// running, FUNCTION KILL ends it.
#[test]
fn a_looping_function_dies_by_function_kill() {
    same_as_redis_in(CONFIGS, |port| {
        let mut t = String::new();
        let mut admin = Raw::connect(port);
        admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "50"]);
        admin.cmd(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=spin\nredis.register_function('spin', function() while true do end end)",
        ]);
        let mut looping = Raw::connect(port);
        looping.send_raw(&resp(&[b"FCALL", b"spin", b"1", b"somekey"]));
        while !admin.cmd(&["PING"]).starts_with("-BUSY") {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        t += &admin.cmd(&["GET", "k"]);
        t += &admin.cmd(&["SCRIPT", "KILL"]);
        let stats = admin.cmd(&["FUNCTION", "STATS"]);
        // The duration is the one thing that differs.
        let at = stats.find("duration_ms").expect("a running function");
        t += &stats[..at];
        t += &admin.cmd(&["FUNCTION", "KILL"]);
        t += &looping.read_reply();
        t += &admin.cmd(&["FUNCTION", "KILL"]);
        t += &looping.cmd(&["PING"]);
        t
    });
}
