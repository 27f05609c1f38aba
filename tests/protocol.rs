//! Wire-level behaviour: pipelining, inline commands, RESP3, and hostile input. Bad input gets
//! an error or a closed connection; other clients keep being served and no key is lost.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{ferrocache, redis_server, Raw};

#[test]
fn inline_commands_and_pipelining() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    c.send_raw(b"PING\r\nSET k \"a b\"\r\nGET k\r\n\r\nECHO 'x y'\n");
    assert_eq!(c.read_reply(), "+PONG\r\n");
    assert_eq!(c.read_reply(), "+OK\r\n");
    assert_eq!(c.read_reply(), "$3\r\na b\r\n");
    assert_eq!(c.read_reply(), "$3\r\nx y\r\n");

    // A large pipeline in one write: every reply arrives, in order.
    let mut batch = Vec::new();
    for i in 0..2000 {
        batch.extend(common::resp(&[
            b"SET",
            format!("k{i}").as_bytes(),
            format!("v{i}").as_bytes(),
        ]));
        batch.extend(common::resp(&[b"GET", format!("k{i}").as_bytes()]));
    }
    c.send_raw(&batch);
    for i in 0..2000 {
        assert_eq!(c.read_reply(), "+OK\r\n");
        assert_eq!(
            c.read_reply(),
            format!("${}\r\nv{i}\r\n", format!("v{i}").len())
        );
    }
}

/// Replies are queued and sent when the event loop runs out of work; these are the cases where
/// that must not lose or reorder a reply, nor hold one back.
#[test]
fn replies_at_the_end_of_the_round() {
    let s = ferrocache(&[]);

    // Requests and a half-close in one go: the replies still arrive, then the server closes.
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"PING\r\nECHO hi\r\n").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"+PONG\r\n$2\r\nhi\r\n");

    // A writer that keeps the server busy (it never goes idle while this client streams) is
    // answered while it writes, not only once it stops: otherwise both sides would block.
    let w = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut r = w.try_clone().unwrap();
    r.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let total = 300_000usize;
    let writer = std::thread::spawn(move || {
        let mut w = w;
        let chunk = b"INCR n\r\n".repeat(1000);
        for _ in 0..total / 1000 {
            w.write_all(&chunk).unwrap();
        }
    });
    // Each reply is one `:n\r\n` line: count them, and keep the end to check the last one.
    let mut seen = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let mut last = Vec::new();
    while seen < total {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {seen} replies");
        seen += buf[..n].iter().filter(|&&b| b == b'\n').count();
        last.extend_from_slice(&buf[..n]);
        last.drain(..last.len().saturating_sub(16));
    }
    assert!(last.ends_with(format!(":{total}\r\n").as_bytes()));
    writer.join().unwrap();

    // A reply far larger than the socket buffer goes out in pieces while a client that does
    // not read it keeps the server busy with nothing; another client is served meanwhile.
    let mut big = Raw::connect(s.port);
    assert_eq!(
        big.cmd_bytes(&[b"SET", b"big", &vec![b'v'; 8 << 20]]),
        b"+OK\r\n"
    );
    big.send_raw(&common::resp(&[b"GET", b"big"]));
    std::thread::sleep(Duration::from_millis(200));
    let mut other = Raw::connect(s.port);
    assert_eq!(
        other.cmd(&["GET", "n"]),
        format!("${}\r\n{total}\r\n", total.to_string().len())
    );
    let mut want = format!("${}\r\n", 8 << 20).into_bytes();
    want.extend(vec![b'v'; 8 << 20]);
    want.extend(b"\r\n");
    assert!(big.read_reply().as_bytes() == want);
    assert_eq!(big.cmd(&["PING"]), "+PONG\r\n");
}

#[test]
fn requests_split_across_reads() {
    let s = ferrocache(&[]);
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let value = vec![b'z'; 300_000];
    let req = common::resp(&[b"SET", b"big", &value]);
    for chunk in req.chunks(7919) {
        c.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"+OK\r\n");
    let mut r = Raw::connect(s.port);
    assert_eq!(r.cmd(&["STRLEN", "big"]), ":300000\r\n");
}

/// Sends `bad`, expects an error reply starting with `expect` and a closed connection, then
/// checks that the server still serves another client and kept its data.
fn hostile(port: u16, bad: &[u8], expect: &str) {
    let mut c = Raw::connect(port);
    c.send_raw(bad);
    let reply = c.try_read_reply().unwrap_or_default();
    assert!(reply.starts_with(expect), "got {reply:?}, want {expect:?}");
    assert!(
        c.is_closed(),
        "connection must be closed after a protocol error"
    );
    let mut other = Raw::connect(port);
    assert_eq!(other.cmd(&["GET", "survivor"]), "$4\r\nkept\r\n");
}

#[test]
fn bad_input_is_rejected_without_harm() {
    let s = ferrocache(&[]);
    let mut setup = Raw::connect(s.port);
    assert_eq!(setup.cmd(&["SET", "survivor", "kept"]), "+OK\r\n");

    hostile(
        s.port,
        b"*1\r\n$2147483648\r\n",
        "-ERR Protocol error: invalid bulk length",
    );
    hostile(
        s.port,
        b"*1\r\n$-7\r\n",
        "-ERR Protocol error: invalid bulk length",
    );
    hostile(
        s.port,
        b"*2\r\n*1\r\n",
        "-ERR Protocol error: expected '$', got '*'",
    );
    hostile(
        s.port,
        b"*x\r\n",
        "-ERR Protocol error: invalid multibulk length",
    );
    hostile(
        s.port,
        b"*99999999999\r\n",
        "-ERR Protocol error: invalid multibulk length",
    );
    hostile(
        s.port,
        b"SET \"unbalanced\r\n",
        "-ERR Protocol error: unbalanced quotes",
    );
    hostile(
        s.port,
        &vec![b'A'; 100 * 1024],
        "-ERR Protocol error: too big inline request",
    );
    // Random bytes: each line is read as an inline command and answered with an error (as Redis
    // does), or a line that looks like a malformed frame ends the connection; nothing else breaks.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut g = Raw::connect(s.port);
    g.send_raw(&garbage);
    g.send_raw(b"\r\nPING\r\n");
    while let Some(r) = g.try_read_reply() {
        if r == "+PONG\r\n" {
            break;
        }
        assert!(
            r.starts_with('-'),
            "garbage must only produce errors, got {r:?}"
        );
    }
    let mut other = Raw::connect(s.port);
    assert_eq!(other.cmd(&["GET", "survivor"]), "$4\r\nkept\r\n");

    // A 1M-element multibulk header followed by nothing: the server waits without allocating
    // for a million arguments, and other clients are unaffected.
    let mut waiting = Raw::connect(s.port);
    waiting.send_raw(b"*1000000\r\n$3\r\nSET\r\n");
    // An unterminated frame: a bulk that never completes.
    let mut unterminated = Raw::connect(s.port);
    unterminated.send_raw(b"*2\r\n$3\r\nGET\r\n$100\r\nabc");
    let mut other = Raw::connect(s.port);
    assert_eq!(other.cmd(&["GET", "survivor"]), "$4\r\nkept\r\n");
    assert_eq!(other.cmd(&["DBSIZE"]), ":1\r\n");
    drop(waiting);
    drop(unterminated);
    assert_eq!(other.cmd(&["PING"]), "+PONG\r\n");
}

#[test]
fn proto_max_bulk_len_and_query_buffer_limit() {
    let s = ferrocache(&["--proto-max-bulk-len", "1mb"]);
    let mut c = Raw::connect(s.port);
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n");
    assert!(c
        .read_reply()
        .starts_with("-ERR Protocol error: invalid bulk length"));
    assert!(c.is_closed());

    let s = ferrocache(&["--client-query-buffer-limit", "1mb"]);
    let mut c = Raw::connect(s.port);
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..40 {
        if c.try_send(&chunk).is_err() {
            break;
        }
    }
    assert!(
        c.is_closed(),
        "client over the query buffer limit is closed"
    );
    let mut other = Raw::connect(s.port);
    assert!(other
        .cmd(&["INFO", "stats"])
        .contains("client_query_buffer_limit_disconnections:1"));
}

#[test]
fn resp3_types_after_hello() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    assert!(c.cmd(&["HELLO", "3"]).starts_with("%7\r\n"));
    assert_eq!(c.cmd(&["GET", "nokey"]), "_\r\n");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "timeout"]),
        "%1\r\n$7\r\ntimeout\r\n$1\r\n0\r\n"
    );
    assert!(c.cmd(&["CLIENT", "INFO"]).starts_with("="));
    assert!(c.cmd(&["CLIENT", "INFO"]).contains("resp=3"));
    assert!(c.cmd(&["HELLO", "2"]).starts_with("*14\r\n"));
    assert_eq!(c.cmd(&["GET", "nokey"]), "$-1\r\n");
}

#[test]
fn quit_and_client_reply_modes() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    c.send_raw(b"CLIENT REPLY OFF\r\nSET a 1\r\nCLIENT REPLY SKIP\r\nSET b 2\r\nCLIENT REPLY ON\r\nGET b\r\nQUIT\r\nPING\r\n");
    assert_eq!(c.read_reply(), "+OK\r\n");
    assert_eq!(c.read_reply(), "$1\r\n2\r\n");
    assert_eq!(c.read_reply(), "+OK\r\n");
    assert!(
        c.is_closed(),
        "QUIT closes the connection and ignores what follows"
    );
}

#[test]
fn client_setinfo_and_list() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "mylib"]),
        "+OK\r\n"
    );
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "lib-ver", "1.2"]), "+OK\r\n");
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "a b"]),
        "-ERR LIB-NAME cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "bogus", "x"]),
        "-ERR Unrecognized option 'bogus'\r\n"
    );
    let info = c.cmd(&["CLIENT", "INFO"]);
    assert!(info.contains("lib-name=mylib lib-ver=1.2"), "{info}");
    // CLIENT REPLY SKIP while OFF changes nothing: replies stay off until ON.
    c.send_raw(b"CLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nPING\r\nPING\r\nCLIENT REPLY ON\r\nECHO back\r\n");
    assert_eq!(c.read_reply(), "+OK\r\n");
    assert_eq!(c.read_reply(), "$4\r\nback\r\n");
}

#[test]
fn client_kill_closes_the_target() {
    let s = ferrocache(&[]);
    let mut victim = Raw::connect(s.port);
    let id = victim.cmd(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim();
    let mut admin = Raw::connect(s.port);
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "ID", id]), ":1\r\n");
    assert!(victim.is_closed());
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "ID", id]), ":0\r\n");
    let list = admin.cmd(&["CLIENT", "LIST"]);
    assert!(!list.contains(&format!("id={id} ")), "{list}");
    assert!(list.contains("cmd=client|list"), "{list}");
}

#[test]
fn kill_reaches_a_client_that_does_not_read() {
    let s = ferrocache(&[]);
    let mut admin = Raw::connect(s.port);
    let big = "x".repeat(1 << 20);
    assert_eq!(admin.cmd(&["SET", "big", &big]), "+OK\r\n");
    let mut victim = Raw::connect(s.port);
    let id = victim
        .cmd(&["CLIENT", "ID"])
        .trim_start_matches(':')
        .trim()
        .to_string();
    let mut batch = Vec::new();
    for _ in 0..50 {
        batch.extend_from_slice(b"GET big\r\n");
    }
    victim.send_raw(&batch);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "ID", &id]), ":1\r\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline
        && !admin
            .cmd(&["INFO", "clients"])
            .contains("connected_clients:1\r\n")
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        admin
            .cmd(&["INFO", "clients"])
            .contains("connected_clients:1\r\n"),
        "the blocked writer was closed"
    );
}

#[test]
fn auth_and_noauth() {
    let s = ferrocache(&["--requirepass", "s3cret"]);
    let mut c = Raw::connect(s.port);
    assert_eq!(c.cmd(&["GET", "a"]), "-NOAUTH Authentication required.\r\n");
    assert!(c
        .cmd(&["HELLO", "3"])
        .starts_with("-NOAUTH HELLO must be called"));
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), "+OK\r\n");
    assert_eq!(c.cmd(&["GET", "a"]), "$-1\r\n");
    let mut d = Raw::connect(s.port);
    assert!(d
        .cmd(&["HELLO", "3", "AUTH", "default", "s3cret"])
        .starts_with("%7"));
    assert_eq!(d.cmd(&["RESET"]), "+RESET\r\n");
    assert_eq!(d.cmd(&["GET", "a"]), "-NOAUTH Authentication required.\r\n");
}

#[test]
fn maxclients_rejects_extra_connections() {
    let s = ferrocache(&["--maxclients", "2"]);
    // The readiness probe's connection may still be closing: retry until a slot is free.
    let connect = || {
        for _ in 0..100 {
            let mut c = Raw::connect(s.port);
            if c.cmd(&["PING"]) == "+PONG\r\n" {
                return c;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no free client slot");
    };
    let a = connect();
    let mut b = connect();
    assert_eq!(b.cmd(&["CONFIG", "RESETSTAT"]), "+OK\r\n");
    let mut c = Raw::connect(s.port);
    assert_eq!(c.read_reply(), "-ERR max number of clients reached\r\n");
    drop(a);
    std::thread::sleep(Duration::from_millis(100));
    assert!(b.cmd(&["INFO", "stats"]).contains("rejected_connections:1"));
}

#[test]
fn idle_timeout_closes_clients() {
    let s = ferrocache(&["--timeout", "1"]);
    let mut c = Raw::connect(s.port);
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
    std::thread::sleep(Duration::from_millis(1600));
    assert!(c.is_closed());
}

#[test]
fn client_list_reports_buffers() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    c.cmd(&["SET", "k", "v"]);
    let list = c.cmd(&["CLIENT", "LIST"]);
    let field = |name: &str| -> u64 {
        list.split([' ', '\n'])
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    // The read buffer is allocated (about 16 KB), nearly all of it free; the client holds it.
    assert!(field("rbs") >= 8 * 1024, "{list}");
    assert_eq!(field("qbuf-free"), field("rbs") - field("qbuf"));
    assert!(field("tot-mem") >= field("rbs"));
    let info = c.cmd(&["INFO", "clients"]);
    assert!(
        !info.contains("client_recent_max_input_buffer:0\r\n"),
        "{info}"
    );
}

/// A CLIENT LIST field of the line whose `id=` is `id` (the first line when `id` is None).
fn client_field(list: &str, id: Option<&str>, name: &str) -> String {
    let line = list
        .lines()
        .filter(|l| l.starts_with("id="))
        .find(|l| id.is_none_or(|id| l.split(' ').any(|f| f == format!("id={id}"))))
        .unwrap_or_else(|| panic!("no client {id:?} in {list}"));
    line.split(' ')
        .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .to_string()
}

/// The fields only known while a command runs, as Redis reports them: the caller's own query
/// buffer (its command still in it) and arguments, and another client's queued MULTI.
#[test]
fn client_list_running_fields_match_redis() {
    for (name, s) in [("redis", redis_server()), ("ferrocache", ferrocache(&[]))] {
        let mut c = Raw::connect(s.port);
        let own = c.cmd(&["CLIENT", "INFO"]);
        assert_eq!(client_field(&own, None, "qbuf"), "26", "{name}: {own}");
        assert_eq!(client_field(&own, None, "argv-mem"), "10", "{name}: {own}");
        assert_eq!(client_field(&own, None, "multi-mem"), "0", "{name}");

        let mut m = Raw::connect(s.port);
        let id = m.cmd(&["CLIENT", "ID"]);
        let id = id.trim_start_matches(':').trim();
        assert_eq!(m.cmd(&["MULTI"]), "+OK\r\n");
        assert_eq!(m.cmd(&["SET", "key", "value"]), "+QUEUED\r\n");
        assert_eq!(m.cmd(&["RPUSH", "l", "a", "b"]), "+QUEUED\r\n");
        let list = c.cmd(&["CLIENT", "LIST"]);
        assert_eq!(client_field(&list, Some(id), "multi"), "2", "{name}");
        let mem: u64 = client_field(&list, Some(id), "multi-mem").parse().unwrap();
        // Redis counts the queued arguments' bytes (3+3+5 and 5+1+1+1); it may add overhead.
        assert!((19..19 + 256).contains(&mem), "{name}: multi-mem={mem}");
        assert_eq!(client_field(&list, Some(id), "argv-mem"), "0", "{name}");
        assert_eq!(m.cmd(&["DISCARD"]), "+OK\r\n");
        let list = c.cmd(&["CLIENT", "LIST"]);
        assert_eq!(client_field(&list, Some(id), "multi-mem"), "0", "{name}");
    }
}
