//! DUMP and RESTORE between ferrocache and redis-server, both ways: a value dumped by one
//! server is restored by the other with the same contents (DEBUG DIGEST-VALUE) and the
//! encoding Redis would give it.

mod common;

use common::{ferrocache, populate_shapes, redis_server, stream_full, Raw};

fn bulk(reply: &[u8]) -> Vec<u8> {
    assert_eq!(reply[0], b'$', "{}", String::from_utf8_lossy(reply));
    let nl = reply.iter().position(|&b| b == b'\n').unwrap();
    reply[nl + 1..reply.len() - 2].to_vec()
}

/// DUMPs `key` on `from` and RESTOREs it as `as_key` on `to`.
fn carry(from: &mut Raw, to: &mut Raw, key: &str, as_key: &str) {
    let payload = bulk(&from.cmd_bytes(&[b"DUMP", key.as_bytes()]));
    let r = to.cmd_bytes(&[b"RESTORE", as_key.as_bytes(), b"0", &payload]);
    assert_eq!(r, b"+OK\r\n", "{key}: {}", String::from_utf8_lossy(&r));
}

#[test]
fn values_travel_both_ways() {
    let redis = redis_server();
    let ours = ferrocache(&[]);
    let mut r = Raw::connect(redis.port);
    let mut f = Raw::connect(ours.port);
    let keys = populate_shapes(&mut r);
    assert_eq!(keys, populate_shapes(&mut f));
    for k in &keys {
        carry(&mut r, &mut f, k, &format!("from-redis:{k}"));
        carry(&mut f, &mut r, k, &format!("from-ours:{k}"));
    }
    for k in &keys {
        let theirs = format!("from-ours:{k}");
        let mine = format!("from-redis:{k}");
        let digest_r = r.cmd(&["DEBUG", "DIGEST-VALUE", k]);
        assert_eq!(
            digest_r,
            r.cmd(&["DEBUG", "DIGEST-VALUE", &theirs]),
            "{k} in redis"
        );
        // Each server's digest is its own: ours is compared with ours.
        let digest_f = f.cmd(&["DEBUG", "DIGEST-VALUE", k]);
        assert_eq!(
            digest_f,
            f.cmd(&["DEBUG", "DIGEST-VALUE", &mine]),
            "{k} in ours"
        );
        if k.contains("stream") {
            // Entries, counters, groups, pending entries and their times all travel.
            assert_eq!(stream_full(&mut r, k), stream_full(&mut f, &mine), "{k}");
            assert_eq!(stream_full(&mut f, k), stream_full(&mut r, &theirs), "{k}");
        }
        let enc = r.cmd(&["OBJECT", "ENCODING", k]);
        assert_eq!(
            enc,
            r.cmd(&["OBJECT", "ENCODING", &theirs]),
            "{k} encoding in redis"
        );
        assert_eq!(
            enc,
            f.cmd(&["OBJECT", "ENCODING", &mine]),
            "{k} encoding in ours"
        );
    }
}

#[test]
fn restore_options_and_errors_match_redis() {
    let redis = redis_server();
    let ours = ferrocache(&[]);
    let mut r = Raw::connect(redis.port);
    let mut f = Raw::connect(ours.port);
    for c in [&mut r, &mut f] {
        c.cmd(&["RPUSH", "l", "a", "b"]);
    }
    // Each server restores its own payload: the replies to the same commands must agree.
    let run = |c: &mut Raw| -> Vec<String> {
        let p = bulk(&c.cmd_bytes(&[b"DUMP", b"l"]));
        let mut broken = p.clone();
        broken[1] ^= 0x55;
        let mut future = p.clone();
        let n = future.len();
        future[n - 10] = 99;
        let cmds: Vec<Vec<&[u8]>> = vec![
            vec![b"RESTORE", b"l", b"0", &p],
            vec![b"RESTORE", b"l", b"0", &p, b"REPLACE"],
            vec![b"RESTORE", b"n", b"-1", &p],
            vec![b"RESTORE", b"n", b"x", &p],
            vec![b"RESTORE", b"n", b"0", &broken],
            vec![b"RESTORE", b"n", b"0", &future],
            vec![b"RESTORE", b"n", b"0", b"short"],
            vec![b"RESTORE", b"n", b"0", &p, b"FOO"],
            vec![b"RESTORE", b"n", b"0", &p, b"IDLETIME", b"-1"],
            vec![b"RESTORE", b"n", b"0", &p, b"FREQ", b"256"],
            vec![b"RESTORE", b"n", b"0", &p, b"IDLETIME", b"5", b"FREQ", b"1"],
            vec![b"RESTORE", b"n", b"0", &p, b"IDLETIME", b"1000"],
            vec![b"OBJECT", b"IDLETIME", b"n"],
            vec![b"RESTORE", b"t", b"100000", &p],
            vec![b"PTTL", b"t"],
            vec![b"RESTORE", b"t", b"1", &p, b"REPLACE", b"ABSTTL"],
            vec![b"EXISTS", b"t"],
            vec![b"RESTORE", b"t2", b"99999999999999", &p, b"ABSTTL"],
            vec![b"TYPE", b"t2"],
            vec![b"DUMP", b"missing"],
            vec![b"LRANGE", b"n", b"0", b"-1"],
        ];
        cmds.iter()
            .map(|a| {
                let out = String::from_utf8_lossy(&c.cmd_bytes(a)).into_owned();
                // PTTL drifts by a millisecond or two between the servers.
                if a[0] == b"PTTL" {
                    let ms: i64 = out.trim_start_matches(':').trim().parse().unwrap();
                    return format!("pttl close to 100000: {}", (99_000..=100_000).contains(&ms));
                }
                out
            })
            .collect()
    };
    let expected = run(&mut r);
    let got = run(&mut f);
    assert_eq!(expected, got);
}

/// Redis's payloads of every shape, corrupted at random and re-signed: each RESTORE gets a
/// reply (OK or an error), and the server keeps serving.
#[test]
fn corrupt_payloads_get_errors_not_crashes() {
    let redis = redis_server();
    let ours = ferrocache(&[]);
    let mut r = Raw::connect(redis.port);
    let mut f = Raw::connect(ours.port);
    let keys = populate_shapes(&mut r);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut restored = 0;
    for round in 0..3000 {
        let k = &keys[round % keys.len()];
        let mut p = bulk(&r.cmd_bytes(&[b"DUMP", k.as_bytes()]));
        let body = p.len() - 10;
        for _ in 0..1 + rand() % 3 {
            let at = (rand() as usize) % body;
            p[at] = rand() as u8;
        }
        if rand() % 4 == 0 {
            // Truncate the value part.
            let cut = (rand() as usize) % body;
            p.drain(cut..body);
        }
        let body = p.len() - 10;
        // Re-signed, so that the decoder (not the checksum) has to catch the damage.
        let crc = ferrocache::persistence::rdb::crc64::crc64(0, &p[..body + 2]);
        p[body + 2..].copy_from_slice(&crc.to_le_bytes());
        let reply = f.cmd_bytes(&[b"RESTORE", b"victim", b"0", &p, b"REPLACE"]);
        assert!(
            reply[0] == b'+' || reply[0] == b'-',
            "{}",
            String::from_utf8_lossy(&reply)
        );
        restored += (reply[0] == b'+') as usize;
        if reply[0] == b'+' {
            // Whatever was accepted is a usable value: it has a type and a digest (one
            // 40-digit hex string, not the all-zero digest of a missing key), and survives
            // being dumped again.
            let t = f.cmd(&["TYPE", "victim"]);
            assert!(t.starts_with('+') && t != "+none\r\n", "{t}");
            let d = f.cmd(&["DEBUG", "DIGEST-VALUE", "victim"]);
            let hex = d
                .strip_prefix("*1\r\n+")
                .and_then(|h| h.strip_suffix("\r\n"));
            assert!(
                hex.is_some_and(|h| h.len() == 40
                    && h.bytes().all(|b| b.is_ascii_hexdigit())
                    && h.bytes().any(|b| b != b'0')),
                "{d:?}"
            );
            assert!(f.cmd(&["DUMP", "victim"]).starts_with('$'));
        }
    }
    assert_eq!(f.cmd(&["PING"]), "+PONG\r\n");
    // Some corruptions (inside a string) still decode: both outcomes were exercised.
    assert!(restored > 0 && restored < 3000, "{restored}");
}
