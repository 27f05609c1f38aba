//! Blocking list commands with several clients, run against redis-server and ferrocache:
//! each scenario returns the replies its clients saw, and the two servers must agree.

mod common;

use std::time::{Duration, Instant};

use common::{ferrocache, redis_server, Raw};

/// Waits until the server reports `n` blocked clients.
fn wait_blocked(c: &mut Raw, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let want = format!("blocked_clients:{n}\r\n");
    while !c.cmd(&["INFO", "clients"]).contains(&want) {
        assert!(Instant::now() < deadline, "never saw {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn send(c: &mut Raw, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send_raw(&common::resp(&a));
}

/// `calls=...,failed_calls=...` of a command, from INFO commandstats.
fn failed_calls(r: &mut Raw, command: &str) -> String {
    let info = r.cmd(&["INFO", "commandstats"]);
    let prefix = format!("cmdstat_{command}:");
    let line = info
        .split("\r\n")
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_default();
    line.split(',')
        .filter(|f| f.starts_with("calls=") || f.starts_with("failed_calls="))
        .collect::<Vec<_>>()
        .join(",")
}

/// Sends `XREADGROUP GROUP grp <consumer> BLOCK 0 STREAMS gs >`.
fn block_in_group(c: &mut Raw, consumer: &str) {
    let args = [
        "XREADGROUP",
        "GROUP",
        "grp",
        consumer,
        "BLOCK",
        "0",
        "STREAMS",
        "gs",
        ">",
    ];
    send(c, &args);
}

/// Every scenario on one server; returns the replies in order.
fn scenarios(port: u16) -> Vec<String> {
    let mut log = Vec::new();
    let mut r = Raw::connect(port);
    let mut a = Raw::connect(port);
    let mut b = Raw::connect(port);

    // FIFO: the client that blocked first is served first; each gets one element.
    send(&mut a, &["BLPOP", "q", "0"]);
    wait_blocked(&mut r, 1);
    send(&mut b, &["BLPOP", "q", "other", "0"]);
    wait_blocked(&mut r, 2);
    log.push(r.cmd(&["RPUSH", "q", "x", "y", "z"]));
    log.push(a.read_reply());
    log.push(b.read_reply());
    log.push(r.cmd(&["LRANGE", "q", "0", "-1"]));

    // A push inside MULTI is served after EXEC: inside, the list is still whole.
    send(&mut a, &["BRPOP", "m", "0"]);
    wait_blocked(&mut r, 1);
    r.cmd(&["MULTI"]);
    r.cmd(&["LPUSH", "m", "1", "2"]);
    r.cmd(&["LLEN", "m"]);
    log.push(r.cmd(&["EXEC"]));
    log.push(a.read_reply());
    log.push(r.cmd(&["LRANGE", "m", "0", "-1"]));

    // BLMOVE chains into a client blocked on the destination.
    send(&mut a, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut r, 1);
    send(&mut b, &["BLPOP", "dst", "0"]);
    wait_blocked(&mut r, 2);
    log.push(r.cmd(&["LPUSH", "src", "v"]));
    log.push(a.read_reply());
    log.push(b.read_reply());
    log.push(r.cmd(&["EXISTS", "src", "dst"]));

    // Wrong destination type: the waiter gets the error and the element stays.
    r.cmd(&["SET", "strdst", "s"]);
    send(&mut a, &["BRPOPLPUSH", "l2", "strdst", "0"]);
    wait_blocked(&mut r, 1);
    log.push(r.cmd(&["RPUSH", "l2", "e"]));
    log.push(a.read_reply());
    log.push(r.cmd(&["LRANGE", "l2", "0", "-1"]));
    r.cmd(&["DEL", "l2"]);

    // BLMPOP with COUNT, and a key that is not a list does not wake anyone.
    send(
        &mut a,
        &["BLMPOP", "0", "2", "k1", "k2", "RIGHT", "COUNT", "2"],
    );
    wait_blocked(&mut r, 1);
    log.push(r.cmd(&["SET", "k1", "string"]));
    log.push(r.cmd(&["RPUSH", "k2", "a", "b", "c"]));
    log.push(a.read_reply());

    // Timeouts (fractional seconds) and CLIENT UNBLOCK.
    log.push(a.cmd(&["BLPOP", "none", "0.05"]));
    log.push(a.cmd(&["BLMOVE", "none", "x", "LEFT", "LEFT", "0.05"]));
    let id = a.cmd(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim().to_string();
    send(&mut a, &["BLPOP", "none", "0"]);
    wait_blocked(&mut r, 1);
    log.push(r.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]));
    log.push(a.read_reply());
    send(&mut a, &["BLPOP", "none", "0"]);
    wait_blocked(&mut r, 1);
    log.push(r.cmd(&["CLIENT", "UNBLOCK", &id]));
    log.push(a.read_reply());
    log.push(r.cmd(&["CLIENT", "UNBLOCK", &id]));

    // Requests pipelined behind a blocking one wait for it.
    a.send_raw(b"*3\r\n$5\r\nBLPOP\r\n$1\r\np\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n");
    wait_blocked(&mut r, 1);
    log.push(r.cmd(&["RPUSH", "p", "1"]));
    log.push(a.read_reply());
    log.push(a.read_reply());

    // A client that hangs up while blocked is not handed data: nothing is lost.
    let mut gone = Raw::connect(port);
    send(&mut gone, &["BLPOP", "lost", "0"]);
    wait_blocked(&mut r, 1);
    drop(gone);
    wait_blocked(&mut r, 0);
    log.push(r.cmd(&["RPUSH", "lost", "keep"]));
    log.push(r.cmd(&["LRANGE", "lost", "0", "-1"]));

    // Sorted sets: BZPOPMIN/BZPOPMAX/BZMPOP, served in order, and not woken by a list.
    send(&mut a, &["BZPOPMIN", "zq", "0"]);
    wait_blocked(&mut r, 1);
    send(&mut b, &["BZMPOP", "0", "1", "zq", "MAX", "COUNT", "2"]);
    wait_blocked(&mut r, 2);
    log.push(r.cmd(&["ZADD", "zq", "1", "a", "2", "b", "3", "c", "4", "d"]));
    log.push(a.read_reply());
    log.push(b.read_reply());
    log.push(r.cmd(&["ZRANGE", "zq", "0", "-1", "WITHSCORES"]));
    log.push(r.cmd(&["BZPOPMAX", "zq", "0"]));
    send(&mut a, &["BZPOPMAX", "zlist", "0"]);
    wait_blocked(&mut r, 1);
    log.push(r.cmd(&["RPUSH", "zlist", "x"]));
    log.push(r.cmd(&["DEL", "zlist"]));
    log.push(r.cmd(&["ZADD", "zlist", "5", "m"]));
    log.push(a.read_reply());
    log.push(a.cmd(&["BZPOPMIN", "none", "0.05"]));

    // XREAD BLOCK: served by the next XADD, with `$` meaning "after the current last entry".
    log.push(r.cmd(&["XADD", "st", "1-1", "f", "v"]));
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "st", "$"]);
    wait_blocked(&mut r, 1);
    send(
        &mut b,
        &[
            "XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", "other", "st", "0", "1-1",
        ],
    );
    wait_blocked(&mut r, 2);
    log.push(r.cmd(&["XADD", "st", "2-1", "g", "w"]));
    log.push(a.read_reply());
    log.push(b.read_reply());
    log.push(a.cmd(&["XREAD", "BLOCK", "50", "STREAMS", "st", "$"]));

    // A waiter that a key cannot serve (a sorted-set pop on a list) does not hold up the
    // list waiter behind it.
    send(&mut a, &["BZPOPMIN", "mixed", "0"]);
    wait_blocked(&mut r, 1);
    send(&mut b, &["BLPOP", "mixed", "0"]);
    wait_blocked(&mut r, 2);
    log.push(r.cmd(&["RPUSH", "mixed", "x"]));
    log.push(b.read_reply());
    log.push(r.cmd(&["DEL", "mixed"]));
    log.push(r.cmd(&["ZADD", "mixed", "1", "m"]));
    log.push(a.read_reply());

    // XREADGROUP BLOCK with `>` is served with the next entry, which becomes pending.
    log.push(r.cmd(&["XGROUP", "CREATE", "gs", "grp", "$", "MKSTREAM"]));
    block_in_group(&mut a, "alice");
    wait_blocked(&mut r, 1);
    log.push(r.cmd(&["XADD", "gs", "1-1", "f", "v"]));
    log.push(a.read_reply());
    log.push(r.cmd(&["XPENDING", "gs", "grp"]));

    // CLIENT REPLY SKIP covers the reply a blocked command gets when it is served.
    send(&mut a, &["CLIENT", "REPLY", "SKIP"]);
    send(&mut a, &["BLPOP", "sk", "0"]);
    wait_blocked(&mut r, 1);
    log.push(r.cmd(&["RPUSH", "sk", "v"]));
    wait_blocked(&mut r, 0);
    log.push(a.cmd(&["PING"]));
    log.push(r.cmd(&["EXISTS", "sk"]));

    // A blocked reader answered with an error (its group destroyed, CLIENT UNBLOCK ERROR)
    // counts as a failed call of the command that blocked.
    r.cmd(&["CONFIG", "RESETSTAT"]);
    block_in_group(&mut a, "bob");
    wait_blocked(&mut r, 1);
    log.push(r.cmd(&["XGROUP", "DESTROY", "gs", "grp"]));
    log.push(a.read_reply());
    let id = a.cmd(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim_end();
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "gs", "$"]);
    wait_blocked(&mut r, 1);
    log.push(r.cmd(&["CLIENT", "UNBLOCK", id, "ERROR"]));
    log.push(a.read_reply());
    log.push(failed_calls(&mut r, "xreadgroup"));
    log.push(failed_calls(&mut r, "xread"));

    // Inside MULTI a blocking pop on an empty list answers at once, as a timeout.
    r.cmd(&["MULTI"]);
    r.cmd(&["BLPOP", "empty", "0"]);
    log.push(r.cmd(&["EXEC"]));
    log
}

#[test]
fn blocking_pops_match_redis() {
    let reference = redis_server();
    let ours = ferrocache(&[]);
    let expected = scenarios(reference.port);
    let got = scenarios(ours.port);
    assert_eq!(expected.len(), got.len());
    for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(e, g, "reply {i} differs");
    }
}

#[test]
fn blocking_pops_with_io_threads() {
    let reference = redis_server();
    let ours = ferrocache(&["--io-threads", "4"]);
    assert_eq!(scenarios(reference.port), scenarios(ours.port));
}
