//! maxmemory and the eviction policies, against the real binary: what each policy may evict,
//! in what order, and that the server keeps answering (and stays near its limit) throughout.

mod common;

use common::{ferrocache, resp, Raw};

/// Sends commands in one write and reads every reply.
fn pipeline(c: &mut Raw, cmds: &[Vec<String>]) -> Vec<String> {
    let mut buf = Vec::new();
    for cmd in cmds {
        let a: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        buf.extend(resp(&a));
    }
    c.send_raw(&buf);
    cmds.iter().map(|_| c.read_reply()).collect()
}

/// A server limited to what it uses now plus `room` bytes, under `policy`.
fn limited(policy: &str, room: u64) -> (common::Proc, Raw) {
    let p = ferrocache(&["--maxmemory-policy", policy]);
    let mut c = Raw::connect(p.port);
    let used = common::info_u64(&mut c, "memory", "used_memory");
    c.cmd(&["CONFIG", "SET", "maxmemory", &(used + room).to_string()]);
    (p, c)
}

/// SETs `n` keys `prefix:i` with 1 KB values, with `EX ttl(i)` when given.
fn fill(c: &mut Raw, prefix: &str, n: usize, ttl: Option<&dyn Fn(usize) -> u64>) -> Vec<String> {
    let value = "v".repeat(1000);
    let cmds: Vec<Vec<String>> = (0..n)
        .map(|i| {
            let mut v = vec!["SET".into(), format!("{prefix}:{i}"), value.clone()];
            if let Some(t) = ttl {
                v.extend(["EX".into(), t(i).to_string()]);
            }
            v
        })
        .collect();
    cmds.chunks(500).flat_map(|ch| pipeline(c, ch)).collect()
}

fn exists(c: &mut Raw, key: &str) -> bool {
    c.cmd(&["EXISTS", key]) == ":1\r\n"
}

#[test]
fn volatile_policies_never_evict_keys_without_ttl() {
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let (_p, mut c) = limited(policy, 3_000_000);
        fill(&mut c, "keep", 1000, None);
        // Keys with a TTL push memory over the limit: only they may go.
        let replies = fill(&mut c, "temp", 4000, Some(&|_| 1000));
        assert!(replies.iter().all(|r| r == "+OK\r\n"), "{policy}");
        assert!(
            common::info_u64(&mut c, "stats", "evicted_keys") > 0,
            "{policy}"
        );
        assert!(
            (0..1000).all(|i| exists(&mut c, &format!("keep:{i}"))),
            "{policy}"
        );
        // With nothing evictable left, writes are refused and reads still answered.
        let replies = fill(&mut c, "more", 4000, None);
        assert!(
            replies
                .iter()
                .any(|r| r.starts_with("-OOM command not allowed")),
            "{policy}"
        );
        assert_eq!(
            c.cmd(&["GET", "keep:1"]).len(),
            "$1000\r\n".len() + 1000 + 2,
            "{policy}"
        );
    }
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiring_first() {
    let (_p, mut c) = limited("volatile-ttl", 3_000_000);
    // TTLs rise with the index: the low indexes expire first and should go first.
    fill(&mut c, "t", 6000, Some(&|i| 10_000 + i as u64));
    let survivors: Vec<usize> = (0..6000)
        .filter(|i| exists(&mut c, &format!("t:{i}")))
        .collect();
    assert!(!survivors.is_empty() && survivors.len() < 6000);
    // Sampling is approximate (as in Redis): nearly all survivors come from the later keys.
    let late = survivors.iter().filter(|&&i| i >= 3000).count();
    assert!(
        late * 10 >= survivors.len() * 9,
        "{late} of {}",
        survivors.len()
    );
}

#[test]
fn allkeys_lru_keeps_recently_used_keys() {
    let (_p, mut c) = limited("allkeys-lru", 4_000_000);
    fill(&mut c, "a", 2000, None);
    // The access clock counts seconds: let the first keys age, then use half of them.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let touches: Vec<Vec<String>> = (0..1000)
        .map(|i| vec!["GET".into(), format!("a:{i}")])
        .collect();
    pipeline(&mut c, &touches);
    fill(&mut c, "b", 3000, None);
    let used = (0..1000)
        .filter(|i| exists(&mut c, &format!("a:{i}")))
        .count();
    let idle = (1000..2000)
        .filter(|i| exists(&mut c, &format!("a:{i}")))
        .count();
    // The newer keys take most of the room; of the old ones, the used half stays.
    assert!(
        used > idle * 3 && used > 100,
        "used kept {used}, idle kept {idle}"
    );
    assert!(common::info_u64(&mut c, "stats", "evicted_keys") > 0);
}

#[test]
fn allkeys_lfu_keeps_frequently_used_keys() {
    let (_p, mut c) = limited("allkeys-lfu", 4_000_000);
    fill(&mut c, "a", 2000, None);
    // The first half is read many times.
    let reads: Vec<Vec<String>> = (0..1000)
        .map(|i| vec!["GET".into(), format!("a:{i}")])
        .collect();
    for _ in 0..20 {
        pipeline(&mut c, &reads);
    }
    assert!(c.cmd(&["OBJECT", "FREQ", "a:1"]).starts_with(':'));
    fill(&mut c, "b", 3000, None);
    let hot = (0..1000)
        .filter(|i| exists(&mut c, &format!("a:{i}")))
        .count();
    let cold = (1000..2000)
        .filter(|i| exists(&mut c, &format!("a:{i}")))
        .count();
    assert!(
        hot > cold * 3 && hot > 200,
        "hot kept {hot}, cold kept {cold}"
    );
}

#[test]
fn allkeys_random_stays_near_the_limit_and_reports_evictions() {
    let (_p, mut c) = limited("allkeys-random", 4_000_000);
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    let mut sub = Raw::connect(_p.port);
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    let max = common::info_u64(&mut c, "memory", "maxmemory");
    for round in 0..5 {
        let replies = fill(&mut c, &format!("r{round}"), 2000, None);
        assert!(replies.iter().all(|r| r == "+OK\r\n"));
        let used = common::info_u64(&mut c, "memory", "used_memory");
        // A little over between samples is allowed (Redis overshoots too), not a runaway.
        assert!(used < max + max / 4, "used {used} with maxmemory {max}");
    }
    let evicted = common::info_u64(&mut c, "stats", "evicted_keys");
    assert!(evicted > 1000, "{evicted}");
    let msg = sub.read_reply();
    assert!(msg.contains("evicted"), "{msg}");
}

#[test]
fn object_freq_and_idletime_follow_the_policy() {
    let p = ferrocache(&[]);
    let mut c = Raw::connect(p.port);
    c.cmd(&["SET", "k", "v"]);
    assert!(c
        .cmd(&["OBJECT", "FREQ", "k"])
        .starts_with("-ERR An LFU maxmemory policy is not selected"));
    assert_eq!(c.cmd(&["OBJECT", "IDLETIME", "k"]), ":0\r\n");
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
    assert!(c
        .cmd(&["OBJECT", "IDLETIME", "k"])
        .starts_with("-ERR An LFU maxmemory policy is selected"));
    c.cmd(&["SET", "n", "v"]);
    // A new key starts at the LFU initial count.
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "n"]), ":5\r\n");
    assert!(c
        .cmd(&["CONFIG", "SET", "maxmemory-policy", "bogus"])
        .starts_with("-ERR"));
    assert!(c
        .cmd(&["CONFIG", "GET", "maxmemory-policy"])
        .contains("allkeys-lfu"));
}

/// CONFIG SET maxmemory below what is used evicts at once (upstream unit/pubsub's "evicted
/// events" waits for the event without another write), as redis-server does.
#[test]
fn lowering_maxmemory_evicts_at_once() {
    for server in [common::redis_server(), ferrocache(&[])] {
        let mut c = Raw::connect(server.port);
        let mut sub = Raw::connect(server.port);
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
        assert!(sub
            .cmd(&["PSUBSCRIBE", "__keyevent@*__:evicted"])
            .contains("psubscribe"));
        c.cmd(&["SET", "foo", "bar"]);
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
        assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1"]), "+OK\r\n");
        // Only the subscriber reads from here on: the event must come without another write.
        assert_eq!(
            sub.read_reply(),
            "*4\r\n$8\r\npmessage\r\n$22\r\n__keyevent@*__:evicted\r\n$22\r\n__keyevent@0__:evicted\r\n$3\r\nfoo\r\n"
        );
        c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
        assert_eq!(c.cmd(&["DBSIZE"]), ":0\r\n");
    }
}
