//! Background snapshots: BGSAVE holds the dataset as it was when it began while writes go on,
//! save points, MISCONF while saving fails (a removed directory, a full disk), and the final
//! save of SHUTDOWN and SIGTERM. Each scenario runs against redis-server too (which forks) and
//! the transcripts must match.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{ferrocache, info_field as field, info_u64, redis_server_with, wait_for, Proc, Raw};

/// Runs `script` against redis-server and ferrocache, both started with `args`; the
/// transcripts must be equal. Returns ferrocache's.
fn both(args: &[&str], script: impl Fn(&mut Proc) -> String) -> String {
    let theirs = script(&mut redis_server_with(args));
    let ours = script(&mut ferrocache(args));
    assert_eq!(
        theirs, ours,
        "redis-server (left) and ferrocache (right) differ"
    );
    ours
}

fn wait_bgsave_done(c: &mut Raw) {
    wait_for(|| field(c, "rdb_bgsave_in_progress") == "0");
}

/// Waits until `n` saves have begun (rdb_saves counts them as they begin) and none runs.
fn wait_saves(c: &mut Raw, n: u64) {
    wait_for(|| {
        field(c, "rdb_saves").parse::<u64>().unwrap() >= n
            && field(c, "rdb_bgsave_in_progress") == "0"
    });
}

/// Writes of every kind while a slow BGSAVE runs; reloading the file it wrote brings back the
/// dataset exactly as it was when BGSAVE began.
#[test]
fn bgsave_keeps_the_dataset_as_it_began() {
    let out = both(&[], |p| {
        let mut c = Raw::connect(p.port);
        let mut t = String::new();
        c.cmd(&["DEBUG", "POPULATE", "20000"]);
        common::populate_shapes(&mut c);
        for db in ["1", "2", "3"] {
            c.cmd(&["SELECT", db]);
            c.cmd(&["DEBUG", "POPULATE", "500", db]);
        }
        c.cmd(&["SELECT", "0"]);
        c.cmd(&["SET", "ttl-key", "v", "EX", "1000"]);
        let before = c.cmd(&["DEBUG", "DIGEST"]);
        // 20,000 keys at 100us each: two seconds of saving to write in.
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "100"]);
        t += &c.cmd(&["BGSAVE"]);
        t += &c.cmd(&["BGSAVE"]);
        t += &c.cmd(&["SAVE"]);
        t += &c.cmd(&["BGSAVE", "SCHEDULE", "x"]);
        assert_eq!(field(&mut c, "rdb_bgsave_in_progress"), "1");
        for i in (0..20000).step_by(97) {
            let k = format!("key:{i}");
            match i % 5 {
                0 => c.cmd(&["SET", &k, "changed"]),
                1 => c.cmd(&["DEL", &k]),
                2 => c.cmd(&["APPEND", &k, "-more"]),
                3 => c.cmd(&["EXPIRE", &k, "100"]),
                _ => c.cmd(&["SET", &format!("new:{i}"), "x"]),
            };
        }
        for cmd in [
            "HSET hash f1 changed fresh v",
            "RPUSH list tail",
            "ZADD zset 100 m-new",
            "SADD set extra",
            "PERSIST ttl-key",
            "RENAME str renamed",
            "XADD stream * f v",
            "SWAPDB 1 2",
            "SELECT 3",
            "FLUSHDB",
            "SET only-after 1",
            "SELECT 0",
        ] {
            common::run_script(&mut c, cmd);
        }
        let during = c.cmd(&["DEBUG", "DIGEST"]);
        assert_ne!(during, before);
        wait_bgsave_done(&mut c);
        t += &format!("status {}\n", field(&mut c, "rdb_last_bgsave_status"));
        t += &format!("saves {}\n", field(&mut c, "rdb_saves"));
        // The changes made during the save are still unsaved.
        assert!(info_u64(&mut c, "persistence", "rdb_changes_since_last_save") > 200);
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
        t += &c.cmd(&["DEBUG", "RELOAD", "NOSAVE"]);
        let after = c.cmd(&["DEBUG", "DIGEST"]);
        assert_eq!(
            after, before,
            "the snapshot is not the dataset as BGSAVE began"
        );
        t += &c.cmd(&["DBSIZE"]);
        t
    });
    assert!(
        out.starts_with(
            "+Background saving started\r\n-ERR Background save already in progress\r\n"
        ),
        "{out}"
    );
}

/// BGSAVE inside a transaction is scheduled, and starts once the transaction is over.
#[test]
fn bgsave_in_a_transaction_is_scheduled() {
    both(&[], |p| {
        let mut c = Raw::connect(p.port);
        c.cmd(&["SET", "a", "1"]);
        let mut t = c.cmd(&["MULTI"]);
        t += &c.cmd(&["BGSAVE"]);
        t += &c.cmd(&["SET", "b", "2"]);
        t += &c.cmd(&["EXEC"]);
        wait_saves(&mut c, 1);
        assert!(p.dir.join("dump.rdb").exists());
        t
    });
}

/// A save point saves by itself; while saving fails (a directory stands where the snapshot
/// goes, so the rename fails) writes and PING get -MISCONF and reads go on; once the way is
/// clear the retry succeeds and writes are accepted again.
#[test]
fn save_points_and_misconf() {
    both(&["--save", "1 1"], |p| {
        let mut c = Raw::connect(p.port);
        let mut t = c.cmd(&["SET", "a", "1"]);
        wait_saves(&mut c, 1);
        t += &format!("changes {}\n", field(&mut c, "rdb_changes_since_last_save"));
        let saved_at = c.cmd(&["LASTSAVE"]);
        assert!(p.dir.join("dump.rdb").exists());
        let blocker = p.dir.join("dump.rdb");
        std::fs::remove_file(&blocker).unwrap();
        std::fs::create_dir_all(blocker.join("in-the-way")).unwrap();
        c.cmd(&["SET", "b", "1"]);
        wait_for(|| field(&mut c, "rdb_last_bgsave_status") == "err");
        t += &c.cmd(&["SET", "c", "1"]);
        t += &c.cmd(&["PING"]);
        t += &c.cmd(&["GET", "a"]);
        t += &c.cmd(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"]);
        t += &c.cmd(&["SET", "c", "1"]);
        t += &c.cmd(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"]);
        t += &c.cmd(&["DEL", "c"]);
        assert_eq!(c.cmd(&["LASTSAVE"]), saved_at);
        std::fs::remove_dir_all(&blocker).unwrap();
        // Retried within about five seconds.
        let deadline = Instant::now() + Duration::from_secs(15);
        while field(&mut c, "rdb_last_bgsave_status") != "ok" {
            assert!(Instant::now() < deadline, "no successful retry");
            std::thread::sleep(Duration::from_millis(50));
        }
        t += &c.cmd(&["SET", "c", "1"]);
        t
    });
}

/// With save points set, SHUTDOWN and SIGTERM save first; SHUTDOWN NOSAVE does not. Bad
/// option combinations are refused as Redis refuses them.
#[test]
fn shutdown_and_sigterm_save_first() {
    both(&["--save", "3600 1"], |p| {
        let mut c = Raw::connect(p.port);
        let mut t = String::new();
        for bad in [
            &["SHUTDOWN", "SAVE", "NOSAVE"][..],
            &["SHUTDOWN", "ABORT", "NOW"],
            &["SHUTDOWN", "LATER"],
            &["SHUTDOWN", "ABORT"],
        ] {
            t += &c.cmd(bad);
        }
        c.cmd(&["SET", "sigterm-key", "v"]);
        // SIGTERM: saved before exit.
        let pid = p.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(common::wait_exit(p).is_some());
        t += &format!("saved {}\n", rdb_has(&p.dir, "sigterm-key"));
        t
    });
}

/// A signal only asks for a shutdown, carried out by the server's cron: while DEBUG PAUSE-CRON
/// holds the cron, SHUTDOWN ABORT cancels a SIGTERM and the server goes on; with nothing
/// pending, ABORT is an error. Same replies as redis-server.
#[test]
fn shutdown_abort_cancels_a_signal() {
    both(
        &["--save", "3600 1", "--enable-debug-command", "yes"],
        |p| {
            let mut c = Raw::connect(p.port);
            let mut t = c.cmd(&["DEBUG", "PAUSE-CRON", "1"]);
            let pid = p.child.id().to_string();
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            t += &c.cmd(&["PING"]);
            t += &c.cmd(&["SHUTDOWN", "ABORT"]);
            t += &c.cmd(&["DEBUG", "PAUSE-CRON", "0"]);
            std::thread::sleep(std::time::Duration::from_millis(300));
            t += &c.cmd(&["PING"]);
            t += &c.cmd(&["SHUTDOWN", "ABORT"]);
            t
        },
    );
}

/// A second SIGINT while the final save of a signal's shutdown runs exits at once, removing
/// the save's temp file and leaving no snapshot (as Redis does).
#[test]
fn a_second_sigint_cuts_the_final_save_short() {
    let mut p = ferrocache(&["--save", "3600 1"]);
    let mut c = Raw::connect(p.port);
    for i in 0..20 {
        c.cmd(&["SET", &i.to_string(), "v"]);
    }
    c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "100000"]);
    let pid = p.child.id().to_string();
    let sigint = || {
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
    };
    sigint();
    let tmp = p.dir.join(format!("temp-{pid}.rdb"));
    wait_for(|| tmp.exists());
    sigint();
    let status = common::wait_exit(&mut p).expect("exited");
    assert_eq!(status.code(), Some(1));
    assert!(!tmp.exists());
    assert!(!p.dir.join("dump.rdb").exists());
}

/// SHUTDOWN (saves by default with save points) and SHUTDOWN NOSAVE, on ferrocache alone
/// (the server exits, so each case needs its own).
#[test]
fn shutdown_nosave_keeps_the_old_snapshot() {
    let mut p = ferrocache(&["--save", "3600 1"]);
    let mut c = Raw::connect(p.port);
    c.cmd(&["SET", "first", "1"]);
    assert_eq!(c.cmd(&["SAVE"]), "+OK\r\n");
    c.cmd(&["SET", "second", "1"]);
    c.send_raw(b"SHUTDOWN NOSAVE\r\n");
    let _ = c.try_read_reply();
    assert!(common::wait_exit(&mut p).is_some());
    assert!(rdb_has(&p.dir, "first"));
    assert!(!rdb_has(&p.dir, "second"));
}

/// Whether the snapshot in `dir` holds `key` (read with redis-check-rdb's key listing would
/// need a newer version: the key's name is looked for in the file, which stores it plain).
fn rdb_has(dir: &Path, key: &str) -> bool {
    let Ok(data) = std::fs::read(dir.join("dump.rdb")) else {
        return false;
    };
    let mut needle = vec![key.len() as u8];
    needle.extend_from_slice(key.as_bytes());
    data.windows(needle.len()).any(|w| w == needle)
}

/// A full disk: the background save fails, the good snapshot already there stays whole (no
/// temp file left), writes get -MISCONF while reads go on, and once space returns the retry
/// succeeds.
#[test]
fn a_full_disk_keeps_the_old_snapshot_and_refuses_writes() {
    let mnt = common::temp_dir("tmpfs");
    let m = mnt.to_str().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4M", "tmpfs", m])
        .status()
        .expect("mount");
    assert!(
        mounted.success(),
        "mounting a tmpfs needs root (CI runs as root)"
    );
    struct Unmount<'a>(&'a str);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(m);
    let p = ferrocache(&["--dir", m, "--save", "1 1"]);
    let mut c = Raw::connect(p.port);
    c.cmd(&["SET", "small", "1"]);
    assert_eq!(c.cmd(&["SAVE"]), "+OK\r\n");
    let good = std::fs::read(mnt.join("dump.rdb")).unwrap();
    // 6 MB of data cannot fit in 4 MB (stored plain: DEBUG POPULATE's values compress well).
    c.cmd(&["CONFIG", "SET", "rdbcompression", "no"]);
    c.cmd(&["DEBUG", "POPULATE", "6000", "big", "1000"]);
    c.cmd(&["SET", "trigger", "1"]);
    wait_for(|| field(&mut c, "rdb_last_bgsave_status") == "err");
    assert!(c.cmd(&["SET", "x", "1"]).starts_with("-MISCONF "));
    assert_eq!(c.cmd(&["GET", "small"]), "$1\r\n1\r\n");
    assert_eq!(std::fs::read(mnt.join("dump.rdb")).unwrap(), good);
    // (A retry may be writing its temp file: it goes away when the retry fails.)
    wait_for(|| {
        let left: Vec<_> = std::fs::read_dir(&mnt)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left == vec![std::ffi::OsString::from("dump.rdb")]
    });
    // Space returns (the limit grows): the retry succeeds and writes are accepted again.
    let grown = std::process::Command::new("mount")
        .args(["-o", "remount,size=64M", m])
        .status()
        .unwrap();
    assert!(grown.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    while field(&mut c, "rdb_last_bgsave_status") != "ok" {
        assert!(Instant::now() < deadline, "no successful retry");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.cmd(&["SET", "x", "1"]), "+OK\r\n");
    drop(c);
    drop(p);
}

/// Starts a server without waiting for its dataset: it is ready for connections, not data.
fn spawn_loading(redis: bool, dir: &Path, extra: &[&str]) -> (std::process::Child, u16) {
    let port = common::free_port();
    let bin = if redis {
        "redis-server"
    } else {
        env!("CARGO_BIN_EXE_ferrocache")
    };
    let child = common::spawn_in(bin, port, dir, extra);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "no listener");
        std::thread::sleep(Duration::from_millis(5));
    }
    (child, port)
}

/// While the dataset loads, commands that need it get -LOADING, INFO shows the progress, and
/// then everything is there; as redis-server does.
#[test]
fn commands_get_loading_until_the_dataset_is_in() {
    let store = common::temp_dir("loading");
    {
        let p = ferrocache(&["--dir", store.to_str().unwrap()]);
        let mut c = Raw::connect(p.port);
        c.cmd(&["DEBUG", "POPULATE", "20000"]);
        assert_eq!(c.cmd(&["SAVE"]), "+OK\r\n");
    }
    let run = |redis: bool| {
        let (mut child, port) = spawn_loading(
            redis,
            &store,
            &[
                "--key-load-delay",
                "100",
                "--loading-process-events-interval-bytes",
                "1024",
            ],
        );
        let mut c = Raw::connect(port);
        let mut t = c.cmd(&["GET", "key:1"]);
        t += &c.cmd(&["PING"]);
        t += &c.cmd(&["DBSIZE"]);
        let info = c.cmd(&["INFO", "persistence"]);
        assert!(info.contains("loading:1\r\n"), "{info}");
        for f in [
            "loading_total_bytes",
            "loading_loaded_bytes",
            "loading_loaded_perc",
            "loading_eta_seconds",
        ] {
            assert!(info.contains(&format!("{f}:")), "{f}: {info}");
        }
        wait_for(|| c.cmd(&["PING"]) == "+PONG\r\n");
        t += &c.cmd(&["DBSIZE"]);
        t += &c.cmd(&["GET", "key:1"]);
        let _ = child.kill();
        let _ = child.wait();
        t
    };
    assert_eq!(run(true), run(false));
    let _ = std::fs::remove_dir_all(&store);
}

/// A snapshot damaged in the middle, or cut short, is refused at start with a message naming
/// the file and the offset, and left as it was (even with save points set).
#[test]
fn a_damaged_snapshot_is_refused_and_kept() {
    let store = common::temp_dir("damaged");
    {
        let p = ferrocache(&["--dir", store.to_str().unwrap()]);
        let mut c = Raw::connect(p.port);
        c.cmd(&["DEBUG", "POPULATE", "1000"]);
        assert_eq!(c.cmd(&["SAVE"]), "+OK\r\n");
    }
    let file = store.join("dump.rdb");
    let good = std::fs::read(&file).unwrap();
    for damaged in [good[..good.len() / 2].to_vec(), {
        let mut d = good.clone();
        // A string length byte in the middle made huge: no checksum is needed to see it.
        let mid = d.len() / 2;
        let i = (mid..d.len())
            .find(|&i| d[i] == 0 && d[i + 1] == 7)
            .unwrap_or(mid);
        d[i] = 0xbf;
        d
    }] {
        std::fs::write(&file, &damaged).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocache"))
            .args(["--port", &common::free_port().to_string(), "--save", "1 1"])
            .args(["--dir", store.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("dump.rdb") && err.contains("offset"), "{err}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            damaged,
            "the file was changed"
        );
    }
    let _ = std::fs::remove_dir_all(&store);
}
