//! Snapshots on disk: SAVE, DEBUG RELOAD, SHUTDOWN SAVE and loading at startup, and RDB files
//! that move between ferrocache and redis-server in both directions.

mod common;

use std::path::Path;

use common::{ferrocache, populate_shapes, redis_server, redis_server_with, temp_dir, Raw};

/// Per key: this server's digest of the value, its encoding and its TTL (to the minute, so
/// the seconds that pass between two reads do not matter).
fn snapshot_of(c: &mut Raw, keys: &[String]) -> Vec<(String, String, i64)> {
    keys.iter()
        .map(|k| {
            let ttl: i64 = c.cmd(&["TTL", k])[1..].trim().parse().unwrap();
            // Stream groups carry clock readings; data built on two servers at two moments
            // differs only there.
            let digest = if k.contains("stream") {
                common::mask_clock(&common::stream_full(c, k))
            } else {
                c.cmd(&["DEBUG", "DIGEST-VALUE", k])
            };
            (
                digest,
                c.cmd(&["OBJECT", "ENCODING", k]),
                if ttl > 0 { (ttl + 30) / 60 } else { ttl },
            )
        })
        .collect()
}

fn copy_dump(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(from.join("dump.rdb"), to.join("dump.rdb")).unwrap();
}

#[test]
fn save_and_restart_keeps_every_key() {
    let store = temp_dir("fc-store");
    let dir = store.to_str().unwrap();
    let keys;
    let before;
    {
        let a = ferrocache(&["--dir", dir]);
        let mut c = Raw::connect(a.port);
        keys = populate_shapes(&mut c);
        c.cmd(&["SELECT", "3"]);
        c.cmd(&["SET", "in-db-3", "x", "EX", "1000"]);
        c.cmd(&["SET", "gone", "x", "PX", "1"]);
        c.cmd(&["SELECT", "0"]);
        c.cmd(&["EXPIRE", "hash", "5000"]);
        before = snapshot_of(&mut c, &keys);
        assert_eq!(c.cmd(&["SAVE"]), "+OK\r\n");
        assert!(c
            .cmd(&["INFO", "persistence"])
            .contains("rdb_changes_since_last_save:0\r\n"));
        assert!(c.cmd(&["LASTSAVE"]).starts_with(':'));
    }
    let b = ferrocache(&["--dir", dir]);
    let mut c = Raw::connect(b.port);
    assert_eq!(snapshot_of(&mut c, &keys), before);
    c.cmd(&["SELECT", "3"]);
    assert_eq!(c.cmd(&["GET", "in-db-3"]), "$1\r\nx\r\n");
    assert_eq!(c.cmd(&["EXISTS", "gone"]), ":0\r\n");
    let info = c.cmd(&["INFO", "persistence"]);
    assert!(
        info.contains(&format!("rdb_last_load_keys_loaded:{}\r\n", keys.len() + 1)),
        "{info}"
    );
    let _ = std::fs::remove_dir_all(&store);
}

#[test]
fn debug_reload_and_shutdown_save() {
    let store = temp_dir("fc-reload");
    let dir = store.to_str().unwrap();
    {
        let a = ferrocache(&["--dir", dir]);
        let mut c = Raw::connect(a.port);
        let keys = populate_shapes(&mut c);
        let before = snapshot_of(&mut c, &keys);
        assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), "+OK\r\n");
        assert_eq!(snapshot_of(&mut c, &keys), before);
        assert!(c
            .cmd(&["DEBUG", "RELOAD", "BOGUS"])
            .starts_with("-ERR DEBUG RELOAD only"));
        // A key added after the snapshot goes away with RELOAD NOSAVE.
        c.cmd(&["SET", "late", "1"]);
        assert_eq!(c.cmd(&["DEBUG", "RELOAD", "NOSAVE"]), "+OK\r\n");
        assert_eq!(c.cmd(&["EXISTS", "late"]), ":0\r\n");
        c.cmd(&["SET", "last-words", "bye"]);
        c.send_raw(&common::resp(&[b"SHUTDOWN", b"SAVE"]));
        let _ = c.try_read_reply();
        let mut a = a;
        assert!(common::wait_exit(&mut a).is_some());
    }
    let b = ferrocache(&["--dir", dir]);
    let mut c = Raw::connect(b.port);
    assert_eq!(c.cmd(&["GET", "last-words"]), "$3\r\nbye\r\n");
    let _ = std::fs::remove_dir_all(&store);
}

/// A snapshot written by Redis loads here, and one written here loads in Redis (and passes
/// `redis-check-rdb`), with the same values and encodings.
#[test]
fn rdb_files_move_between_redis_and_ferrocache() {
    let redis = redis_server();
    let mut r = Raw::connect(redis.port);
    let keys = populate_shapes(&mut r);
    r.cmd(&["EXPIRE", "list", "5000"]);
    assert_eq!(r.cmd(&["SAVE"]), "+OK\r\n");
    let redis_view = snapshot_of(&mut r, &keys);

    // Redis's file into ferrocache: compared with ferrocache building the same data itself.
    let from_redis = temp_dir("from-redis");
    copy_dump(&redis.dir, &from_redis);
    let a = ferrocache(&["--dir", from_redis.to_str().unwrap()]);
    let mut fa = Raw::connect(a.port);
    let b = ferrocache(&[]);
    let mut fb = Raw::connect(b.port);
    populate_shapes(&mut fb);
    fb.cmd(&["EXPIRE", "list", "5000"]);
    let built_here = snapshot_of(&mut fb, &keys);
    assert_eq!(snapshot_of(&mut fa, &keys), built_here);

    // Ferrocache's file into Redis.
    assert_eq!(fb.cmd(&["SAVE"]), "+OK\r\n");
    let file = b.dir.join("dump.rdb");
    let check = std::process::Command::new("redis-check-rdb")
        .arg(&file)
        .output()
        .expect("redis-check-rdb (redis-tools)");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && report.contains("RDB looks OK"),
        "{report}"
    );
    let to_redis = temp_dir("to-redis");
    copy_dump(&b.dir, &to_redis);
    let r2 = redis_server_with(&["--dir", to_redis.to_str().unwrap()]);
    let mut rr = Raw::connect(r2.port);
    assert_eq!(snapshot_of(&mut rr, &keys), redis_view);
    let _ = std::fs::remove_dir_all(&from_redis);
    let _ = std::fs::remove_dir_all(&to_redis);
}

/// rdbcompression: a long repetitive string is stored LZF-compressed (the file is smaller
/// than the value), redis-check-rdb accepts it and redis-server reads the same value; with
/// `rdbcompression no` it is stored plain.
#[test]
fn long_strings_are_compressed_as_redis_compresses_them() {
    let value: String = (0..2000).map(|i| format!("chunk-{}", i % 10)).collect();
    let a = ferrocache(&[]);
    let mut c = Raw::connect(a.port);
    c.cmd(&["SET", "long", &value]);
    assert_eq!(c.cmd(&["SAVE"]), "+OK\r\n");
    let file = a.dir.join("dump.rdb");
    let size = std::fs::metadata(&file).unwrap().len() as usize;
    assert!(
        size < value.len() / 4,
        "{size} bytes for a {}-byte value",
        value.len()
    );
    let check = std::process::Command::new("redis-check-rdb")
        .arg(&file)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&check.stdout).contains("RDB looks OK"));
    let to_redis = temp_dir("lzf-to-redis");
    copy_dump(&a.dir, &to_redis);
    let r = redis_server_with(&["--dir", to_redis.to_str().unwrap()]);
    let got = Raw::connect(r.port).cmd(&["GET", "long"]);
    assert_eq!(got, format!("${}\r\n{value}\r\n", value.len()));
    c.cmd(&["CONFIG", "SET", "rdbcompression", "no"]);
    assert_eq!(c.cmd(&["SAVE"]), "+OK\r\n");
    assert!(std::fs::metadata(&file).unwrap().len() as usize > value.len());
    let _ = std::fs::remove_dir_all(&to_redis);
}
