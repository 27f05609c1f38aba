//! A replica's full resync served by a background snapshot: written while the primary keeps
//! taking writes (diskless and disk-backed, to redis-server and ferrocache replicas), the
//! replica ends with exactly the primary's data; replicas arriving together share one
//! snapshot; the primary's clients are not paused while it is written.

mod common;

use std::time::{Duration, Instant};

use common::{assert_same, canonical, ferrocache, in_sync, info_u64, wait_for, Proc, Raw};

/// One test of this file at a time: they measure pauses, which tests running beside them on
/// the same cores would add.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A redis-server (or ferrocache) replica of `primary`, started now; returns at once.
fn start_replica(primary: &Proc, redis: bool) -> (Proc, Raw) {
    let port = primary.port.to_string();
    let args = ["--replicaof", "127.0.0.1", &port];
    let r = if redis {
        common::redis_server_with(&args)
    } else {
        ferrocache(&args)
    };
    let c = Raw::connect(r.port);
    (r, c)
}

fn link_up(c: &mut Raw) -> bool {
    c.cmd(&["INFO", "replication"])
        .contains("master_link_status:up")
}

/// Writes of several kinds to a primary whose snapshot takes about a second, while a replica
/// syncs from it; the replica must hold exactly what the primary holds.
fn sync_under_writes(primary_args: &[&str], redis_replica: bool) {
    let _one = serial();
    let primary = ferrocache(primary_args);
    let mut p = Raw::connect(primary.port);
    p.cmd(&["DEBUG", "POPULATE", "10000"]);
    common::populate_shapes(&mut p);
    p.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "100"]);
    let (_replica, mut r) = start_replica(&primary, redis_replica);
    wait_for(|| info_u64(&mut p, "persistence", "rdb_bgsave_in_progress") == 1);
    let mut i = 0;
    while info_u64(&mut p, "persistence", "rdb_bgsave_in_progress") == 1 {
        let k = format!("key:{}", (i * 37) % 10000);
        match i % 4 {
            0 => p.cmd(&["SET", &k, "changed"]),
            1 => p.cmd(&["DEL", &k]),
            2 => p.cmd(&["APPEND", &k, "+"]),
            _ => p.cmd(&["INCR", "counter"]),
        };
        i += 1;
    }
    assert!(i > 50, "the save ended before the writes ({i})");
    p.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    wait_for(|| link_up(&mut r));
    in_sync(&mut p, &mut r);
    assert_same(&canonical(&mut p, 0), &canonical(&mut r, 0), 0);
    assert_eq!(info_u64(&mut p, "stats", "sync_full"), 1);
}

#[test]
fn diskless_sync_to_redis_under_writes() {
    sync_under_writes(&[], true);
}

#[test]
fn disk_backed_sync_to_redis_under_writes() {
    sync_under_writes(&["--repl-diskless-sync", "no"], true);
}

#[test]
fn diskless_sync_to_ferrocache_under_writes() {
    sync_under_writes(&[], false);
}

/// Two replicas arriving within `repl-diskless-sync-delay` share one snapshot.
#[test]
fn replicas_arriving_together_share_one_snapshot() {
    let _one = serial();
    let primary = ferrocache(&["--repl-diskless-sync-delay", "2"]);
    let mut p = Raw::connect(primary.port);
    p.cmd(&["DEBUG", "POPULATE", "1000"]);
    let (_a, mut ra) = start_replica(&primary, true);
    let (_b, mut rb) = start_replica(&primary, false);
    wait_for(|| link_up(&mut ra) && link_up(&mut rb));
    assert_eq!(info_u64(&mut p, "persistence", "rdb_saves"), 1);
    assert_eq!(info_u64(&mut p, "stats", "sync_full"), 2);
    in_sync(&mut p, &mut ra);
    in_sync(&mut p, &mut rb);
    assert_eq!(ra.cmd(&["DBSIZE"]), ":1000\r\n");
    assert_eq!(rb.cmd(&["DBSIZE"]), ":1000\r\n");
}

/// While a replica's snapshot of 200,000 keys is written, another client's commands keep
/// being answered quickly (the old way serialized the whole dataset on the command thread).
#[test]
fn a_full_sync_does_not_pause_clients() {
    let _one = serial();
    let primary = ferrocache(&[]);
    let mut p = Raw::connect(primary.port);
    p.cmd(&["DEBUG", "POPULATE", "200000", "key", "100"]);
    // Paced so that the snapshot lasts about a second.
    p.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "5"]);
    let (_replica, mut r) = start_replica(&primary, true);
    wait_for(|| info_u64(&mut p, "persistence", "rdb_bgsave_in_progress") == 1);
    let mut worst = Duration::ZERO;
    let mut n = 0;
    while info_u64(&mut p, "persistence", "rdb_bgsave_in_progress") == 1 {
        let t = Instant::now();
        p.cmd(&["SET", &format!("key:{}", n % 200000), "v"]);
        worst = worst.max(t.elapsed());
        n += 1;
    }
    wait_for(|| link_up(&mut r));
    assert!(n > 100, "{n}");
    assert!(
        worst < Duration::from_millis(100),
        "a command waited {worst:?}"
    );
}
