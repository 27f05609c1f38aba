//! Client buffers against the server's memory: they count in used_memory, the `normal` output
//! buffer limits close a client whose replies pile up, and `maxmemory-clients` evicts the
//! clients holding the most. Each case runs against redis-server and ferrocache alike.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{ferrocache, redis_server, Proc, Raw};

fn servers() -> Vec<(&'static str, Proc)> {
    vec![("redis", redis_server()), ("ferrocache", ferrocache(&[]))]
}

/// Reads until the server closes the connection; returns the bytes received, or None if it
/// is still open after `within`.
fn read_until_closed(s: &mut TcpStream, within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return Some(total),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some(total),
        }
    }
    None
}

/// Requests for `n` GETs of `key`, in one write.
fn gets(key: &str, n: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for _ in 0..n {
        b.extend(common::resp(&[b"GET", key.as_bytes()]));
    }
    b
}

#[test]
fn normal_hard_limit_closes_a_client_whose_replies_pile_up() {
    for (name, s) in servers() {
        let mut c = Raw::connect(s.port);
        let value = "v".repeat(100_000);
        assert_eq!(c.cmd(&["SET", "big", &value]), "+OK\r\n", "{name}");
        assert_eq!(
            c.cmd(&[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 1mb 0 0"
            ]),
            "+OK\r\n"
        );
        // 30 replies of 100 KB asked for at once: 3 MB against a 1 MB limit.
        let mut greedy = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        greedy.write_all(&gets("big", 30)).unwrap();
        let got = read_until_closed(&mut greedy, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{name}: the client was not closed"));
        assert!(got < 3_000_000, "{name}: {got} bytes sent before closing");
        let counted = common::try_info_u64(
            &mut c,
            "everything",
            "client_output_buffer_limit_disconnections",
        );
        assert!(counted == Some(1) || name == "redis", "{name}: {counted:?}");
        // Under the limit, the same requests are answered in full.
        let mut modest = Raw::connect(s.port);
        modest.send_raw(&gets("big", 5));
        for _ in 0..5 {
            assert_eq!(modest.read_reply().len(), 100_011, "{name}");
        }
        let counted = common::try_info_u64(
            &mut c,
            "everything",
            "client_output_buffer_limit_disconnections",
        );
        assert!(counted == Some(1) || name == "redis", "{name}: {counted:?}");
    }
}

/// Ours only: Redis checks the soft limit when replies are added, so a client that stops
/// reading after one burst is never closed there; here the wait itself is bounded.
#[test]
fn normal_soft_limit_closes_a_client_that_stays_over_it() {
    let s = ferrocache(&[]);
    let mut c = Raw::connect(s.port);
    let value = "v".repeat(100_000);
    c.cmd(&["SET", "big", &value]);
    c.cmd(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "normal 0 1mb 1",
    ]);
    // 40 MB of replies to a client that never reads: more than the socket buffers take.
    let mut stalled = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stalled.write_all(&gets("big", 400)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        common::info_u64(
            &mut c,
            "everything",
            "client_output_buffer_limit_disconnections"
        ),
        0
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while common::info_u64(
        &mut c,
        "everything",
        "client_output_buffer_limit_disconnections",
    ) == 0
    {
        assert!(
            Instant::now() < deadline,
            "soft limit never closed the client"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(read_until_closed(&mut stalled, Duration::from_secs(5)).is_some());
}

#[test]
fn query_buffers_count_in_used_memory() {
    for (name, s) in servers() {
        let mut c = Raw::connect(s.port);
        let before = common::info_u64(&mut c, "everything", "used_memory");
        // Half of a 64 MB argument: the server holds it until the rest arrives.
        let mut slow = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        slow.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$67108864\r\n")
            .unwrap();
        slow.write_all(&vec![b'x'; 32 << 20]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let grown =
                common::info_u64(&mut c, "everything", "used_memory").saturating_sub(before);
            if grown >= 30 << 20 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: used_memory grew by {grown} only"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(slow);
    }
}

#[test]
fn maxmemory_clients_evicts_the_largest_client_but_not_no_evict_ones() {
    for (name, s) in servers() {
        let mut c = Raw::connect(s.port);
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "maxmemory-clients", "16mb"]),
            "+OK\r\n"
        );
        // A client growing a 24 MB query buffer is closed.
        let mut big = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        big.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$67108864\r\n")
            .unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..24 {
            if big.write_all(&chunk).is_err() {
                break;
            }
        }
        assert!(
            read_until_closed(&mut big, Duration::from_secs(10)).is_some(),
            "{name}: the big client was not evicted"
        );
        assert_eq!(
            common::info_u64(&mut c, "everything", "evicted_clients"),
            1,
            "{name}"
        );
        // The same from a client with CLIENT NO-EVICT on: it stays, and to bring the total
        // under the limit every other client goes, however small (here `c`), as in Redis.
        let mut kept = Raw::connect(s.port);
        assert_eq!(kept.cmd(&["CLIENT", "NO-EVICT", "on"]), "+OK\r\n");
        kept.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$25165824\r\n");
        for _ in 0..24 {
            kept.send_raw(&chunk);
        }
        kept.send_raw(b"\r\n");
        assert_eq!(kept.read_reply(), "+OK\r\n", "{name}");
        assert!(
            c.try_read_reply().is_none(),
            "{name}: the small client was not evicted"
        );
        assert_eq!(kept.cmd(&["STRLEN", "k"]), ":25165824\r\n", "{name}");
        assert_eq!(
            common::info_u64(&mut kept, "everything", "evicted_clients"),
            2,
            "{name}"
        );
    }
}
