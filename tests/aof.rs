//! The append-only file: Redis 7's multi-part directory, written from the journal, loaded at
//! start; both ways with redis-server (and `redis-check-aof`); a cut tail per
//! `aof-load-truncated`; and crash loops: with `appendfsync always`, every acknowledged write
//! survives a SIGKILL and nothing unsent appears.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    assert_same, canonical, free_port, info_field, populate_shapes, temp_dir, wait_ready, Raw,
};

/// A ferrocache whose data stays in `dir` across restarts (unlike `common::ferrocache`'s);
/// killed with SIGKILL when dropped, so a failing test leaves no server behind.
struct Fc {
    child: std::process::Child,
    port: u16,
}

impl Drop for Fc {
    fn drop(&mut self) {
        kill9(&mut self.child);
    }
}

fn ferrocache_in(dir: &Path, extra: &[&str]) -> Fc {
    let port = free_port();
    let mut child = common::spawn_in(env!("CARGO_BIN_EXE_ferrocache"), port, dir, extra);
    wait_ready(port, &mut child);
    Fc { child, port }
}

fn kill9(c: &mut std::process::Child) {
    let _ = c.kill();
    let _ = c.wait();
}

fn check_aof(dir: &Path) {
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let out = Command::new("redis-check-aof")
        .arg(&manifest)
        .output()
        .expect("redis-check-aof (redis-tools)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.contains("All AOF files and manifest are valid"),
        "{report}"
    );
}

/// Data written to ferrocache with the AOF on comes back after a SIGKILL, passes
/// redis-check-aof, and loads in redis-server 7.0 with the same content; an AOF directory
/// written by redis-server loads in ferrocache with the same content.
#[test]
fn aof_directories_move_between_redis_and_ferrocache() {
    let dir = temp_dir("aof-fc");
    let a = ferrocache_in(&dir, &["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = Raw::connect(a.port);
    populate_shapes(&mut c);
    c.cmd(&["SELECT", "5"]);
    c.cmd(&["SET", "in-5", "x", "EX", "1000"]);
    c.cmd(&["SELECT", "0"]);
    c.cmd(&["INCRBYFLOAT", "float", "1.5"]);
    c.cmd(&["SPOP", "bigset", "3"]);
    let want0 = canonical(&mut c, 0);
    let want5 = canonical(&mut c, 5);
    let info = c.cmd(&["INFO", "persistence"]);
    assert!(info.contains("aof_enabled:1\r\n"), "{info}");
    drop(a);
    check_aof(&dir);

    let b = ferrocache_in(&dir, &["--appendonly", "yes"]);
    let mut c = Raw::connect(b.port);
    assert_same(&want0, &canonical(&mut c, 0), 0);
    assert_same(&want5, &canonical(&mut c, 5), 5);
    drop(b);

    // Ours into Redis.
    let r = common::redis_server_with(&["--dir", dir.to_str().unwrap(), "--appendonly", "yes"]);
    let mut rc = Raw::connect(r.port);
    assert_same(&want0, &canonical(&mut rc, 0), 0);
    assert_same(&want5, &canonical(&mut rc, 5), 5);
    drop(rc);
    drop(r);

    // Redis's into ours.
    let rdir = temp_dir("aof-redis");
    let theirs = {
        let r =
            common::redis_server_with(&["--dir", rdir.to_str().unwrap(), "--appendonly", "yes"]);
        let mut rc = Raw::connect(r.port);
        populate_shapes(&mut rc);
        rc.cmd(&["SET", "after", "1", "PX", "900000"]);
        rc.cmd(&["DEL", "list"]);
        canonical(&mut rc, 0)
    };
    let f = ferrocache_in(&rdir, &["--appendonly", "yes"]);
    let mut c = Raw::connect(f.port);
    assert_same(&theirs, &canonical(&mut c, 0), 0);
    drop(f);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&rdir);
}

/// A last incremental file cut in the middle of a command loads up to the last whole one with
/// `aof-load-truncated yes` (and is truncated there, the log saying so), and refuses to start
/// with `no`, naming the file.
#[test]
fn a_cut_tail_loads_or_is_refused_as_configured() {
    let dir = temp_dir("aof-cut");
    let a = ferrocache_in(&dir, &["--appendonly", "yes"]);
    let mut c = Raw::connect(a.port);
    c.cmd(&["SET", "kept", "1"]);
    c.cmd(&["SET", "cut", "2"]);
    drop(a);
    let incr = dir.join("appendonlydir/appendonly.aof.1.incr.aof");
    let data = std::fs::read(&incr).unwrap();
    std::fs::write(&incr, &data[..data.len() - 3]).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["--port", &free_port().to_string(), "--save", ""])
        .args(["--dir", dir.to_str().unwrap(), "--appendonly", "yes"])
        .args(["--aof-load-truncated", "no"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "Unexpected end of file reading the append only file appendonly.aof.1.incr.aof"
        ),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&incr).unwrap().len(),
        data.len() - 3,
        "left as it was"
    );

    let b = ferrocache_in(&dir, &["--appendonly", "yes"]);
    let mut c = Raw::connect(b.port);
    assert_eq!(c.cmd(&["GET", "kept"]), "$1\r\n1\r\n");
    assert_eq!(c.cmd(&["EXISTS", "cut"]), ":0\r\n");
    drop(b);
    check_aof(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Crash loop: writers (several connections, pipelined INCR and RPUSH) run while the server
/// is killed with SIGKILL at random moments and restarted. With `appendfsync always` every
/// acknowledged write is there after the restart and nothing that was never sent appears.
#[test]
fn crash_loop_loses_no_acknowledged_write() {
    let cycles: usize = std::env::var("FERROCACHE_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let dir = temp_dir("aof-crash");
    let writers = 3;
    // Per writer: acknowledged INCRs and the values acknowledged by RPUSH, in order.
    let mut acked = vec![0u64; writers];
    let mut sent = vec![0u64; writers];
    for cycle in 0..cycles {
        let server = ferrocache_in(&dir, &["--appendonly", "yes", "--appendfsync", "always"]);
        let port = server.port;
        {
            let mut c = Raw::connect(port);
            for w in 0..writers {
                let n: u64 = c
                    .cmd(&["GET", &format!("n:{w}")])
                    .lines()
                    .nth(1)
                    .map_or(0, |v| v.parse().unwrap());
                let len: u64 = c.cmd(&["LLEN", &format!("l:{w}")])[1..]
                    .trim()
                    .parse()
                    .unwrap();
                assert!(
                    n >= acked[w],
                    "cycle {cycle}: writer {w} had {} acknowledged, found {n}",
                    acked[w]
                );
                assert!(
                    n <= sent[w],
                    "cycle {cycle}: writer {w} sent {}, found {n}",
                    sent[w]
                );
                assert_eq!(len, n, "the counter and the list moved together");
                let last = c.cmd(&["LINDEX", &format!("l:{w}"), "-1"]);
                if n > 0 {
                    assert_eq!(last, format!("${}\r\n{}\r\n", n.to_string().len(), n));
                }
                acked[w] = n;
                sent[w] = n;
            }
        }
        let stop = Instant::now() + Duration::from_millis(rand_ms(cycle, 50, 400));
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let start = acked[w];
                std::thread::spawn(move || write_until_dead(port, w, start, stop))
            })
            .collect();
        std::thread::sleep(stop.saturating_duration_since(Instant::now()));
        drop(server);
        for (w, h) in handles.into_iter().enumerate() {
            let (a, s) = h.join().unwrap();
            acked[w] = a;
            sent[w] = s;
        }
    }
    assert!(acked.iter().sum::<u64>() > 0);
    println!(
        "{cycles} SIGKILL cycles: {} transactions acknowledged, every one found after each restart",
        acked.iter().sum::<u64>()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A deterministic spread of delays.
fn rand_ms(seed: usize, lo: u64, hi: u64) -> u64 {
    lo + (seed as u64 * 2654435761 % 1000) * (hi - lo) / 1000
}

/// Sends `MULTI; INCR n:w; RPUSH l:w <n>; EXEC` in pipelined batches of 8 until the server
/// dies; returns (last value acknowledged, last value sent).
fn write_until_dead(port: u16, w: usize, start: u64, stop: Instant) -> (u64, u64) {
    let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (start, start);
    };
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut s = s;
    let (mut acked, mut sent) = (start, start);
    let n_key = format!("n:{w}");
    let l_key = format!("l:{w}");
    loop {
        let mut batch = Vec::new();
        for i in 1..=8 {
            let v = (sent + i).to_string();
            batch.extend(common::resp(&[b"MULTI"]));
            batch.extend(common::resp(&[b"INCR", n_key.as_bytes()]));
            batch.extend(common::resp(&[b"RPUSH", l_key.as_bytes(), v.as_bytes()]));
            batch.extend(common::resp(&[b"EXEC"]));
        }
        if s.write_all(&batch).is_err() {
            return (acked, sent);
        }
        sent += 8;
        for _ in 0..8 {
            // +OK, +QUEUED, +QUEUED, then the EXEC array: *2, :n, :len.
            let mut ok = true;
            for _ in 0..6 {
                let mut line = String::new();
                if r.read_line(&mut line).map_or(true, |n| n == 0) {
                    ok = false;
                    break;
                }
            }
            if !ok {
                return (acked, sent);
            }
            acked += 1;
        }
        if Instant::now() >= stop + Duration::from_secs(5) {
            return (acked, sent);
        }
    }
}

/// `appendfsync always`: every reply to a write leaves the server only after the fdatasync
/// that covers it has returned (traced with strace: the AOF's write, then its fdatasync, then
/// the reply's send, for each of a series of writes).
#[test]
fn always_replies_only_after_fdatasync() {
    let dir = temp_dir("aof-strace");
    let port = free_port();
    let trace = dir.join("trace");
    let mut child = traced(
        &[
            "-s",
            "4096",
            "-e",
            "trace=fdatasync,fsync,write,sendto,writev",
        ],
        &trace,
        port,
        &dir,
        "always",
    );
    wait_ready(port, &mut child);
    let mut c = Raw::connect(port);
    for i in 0..20 {
        assert_eq!(c.cmd(&["SET", &format!("traced-{i}"), "v"]), "+OK\r\n");
    }
    drop(c);
    stop_traced(port, &mut child);
    let text = std::fs::read_to_string(&trace).unwrap();
    // Events in order: the AOF's write of key i, a successful fdatasync, the reply.
    let mut checked = 0;
    let lines: Vec<&str> = text.lines().collect();
    for i in 0..20 {
        let key = format!("traced-{i}");
        let w = lines
            .iter()
            .position(|l| l.contains("write(") && l.contains(&key))
            .unwrap_or_else(|| panic!("no AOF write of {key}:\n{text}"));
        let sync = w + lines[w..]
            .iter()
            .position(|l| l.contains("fdatasync(") && l.trim_end().ends_with("= 0"))
            .unwrap_or_else(|| panic!("no fdatasync after the write of {key}"));
        let reply = w + lines[w..]
            .iter()
            .position(|l| {
                (l.contains("sendto(") || l.contains("write(")) && l.contains("\"+OK\\r\\n\"")
            })
            .unwrap_or_else(|| panic!("no reply after the write of {key}"));
        assert!(
            sync < reply,
            "{key}: the reply (line {reply}) went before the fdatasync (line {sync})"
        );
        checked += 1;
    }
    assert_eq!(checked, 20);
    let _ = std::fs::remove_dir_all(&dir);
}

/// BGREWRITEAOF while writes go on (in several databases): the replies match redis-server's,
/// the manifest ends naming the new base and the new incremental file only (the old files
/// deleted), redis-check-aof accepts it, and a restart after SIGKILL (and redis-server) loads
/// exactly the data.
#[test]
fn bgrewriteaof_under_writes_keeps_everything() {
    let script = |port: u16, dir: &Path| -> (String, String, Vec<String>) {
        let mut c = Raw::connect(port);
        let mut t = String::new();
        c.cmd(&["DEBUG", "POPULATE", "5000"]);
        populate_shapes(&mut c);
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "200"]);
        t += &c.cmd(&["BGREWRITEAOF"]);
        t += &c.cmd(&["BGREWRITEAOF"]);
        t += &c.cmd(&["BGSAVE"]);
        t += &c.cmd(&["BGSAVE", "SCHEDULE"]);
        assert_eq!(info_field(&mut c, "aof_rewrite_in_progress"), "1");
        for i in 0..200 {
            c.cmd(&["SELECT", &(i % 3).to_string()]);
            c.cmd(&["INCR", "counter"]);
            c.cmd(&["SET", &format!("key:{}", i * 13), "changed"]);
            c.cmd(&["DEL", &format!("key:{}", i * 7)]);
        }
        c.cmd(&["SELECT", "0"]);
        common::wait_for(|| info_field(&mut c, "aof_rewrite_in_progress") == "0");
        t += &format!("rewrites {}\n", info_field(&mut c, "aof_rewrites"));
        t += &format!(
            "status {}\n",
            info_field(&mut c, "aof_last_bgrewrite_status")
        );
        // The scheduled BGSAVE follows.
        common::wait_for(|| {
            info_field(&mut c, "rdb_saves") == "1"
                && info_field(&mut c, "rdb_bgsave_in_progress") == "0"
        });
        let mut files: Vec<String> = std::fs::read_dir(dir.join("appendonlydir"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        files.sort();
        t += &format!("files {files:?}\n");
        t += &std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
        let digest = c.cmd(&["DEBUG", "DIGEST"]);
        let data = (0..3).flat_map(|db| canonical(&mut c, db)).collect();
        (t, digest, data)
    };
    let rdir = temp_dir("rw-redis");
    let (theirs, _, _) = {
        let r =
            common::redis_server_with(&["--dir", rdir.to_str().unwrap(), "--appendonly", "yes"]);
        script(r.port, &rdir)
    };
    let dir = temp_dir("rw-fc");
    let a = ferrocache_in(
        &dir,
        &["--appendonly", "yes", "--enable-debug-command", "yes"],
    );
    let (ours, digest, data) = script(a.port, &dir);
    assert_eq!(
        theirs, ours,
        "redis-server (left) and ferrocache (right) differ"
    );
    drop(a);
    check_aof(&dir);
    let b = ferrocache_in(
        &dir,
        &["--appendonly", "yes", "--enable-debug-command", "yes"],
    );
    let mut c = Raw::connect(b.port);
    assert_eq!(c.cmd(&["DEBUG", "DIGEST"]), digest);
    drop(b);
    let r = common::redis_server_with(&["--dir", dir.to_str().unwrap(), "--appendonly", "yes"]);
    let mut rc = Raw::connect(r.port);
    let back: Vec<String> = (0..3).flat_map(|db| canonical(&mut rc, db)).collect();
    assert_eq!(back, data);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&rdir);
}

/// CONFIG SET appendonly yes at run time writes a base of the data already there (as Redis
/// does), and what follows goes to the AOF; a restart with the AOF on loads all of it.
/// CONFIG SET appendonly no stops writing to it.
#[test]
fn appendonly_turned_on_and_off_at_run_time() {
    let dir = temp_dir("aof-switch");
    let a = ferrocache_in(&dir, &["--enable-debug-command", "yes"]);
    let mut c = Raw::connect(a.port);
    c.cmd(&["DEBUG", "POPULATE", "3000"]);
    assert_eq!(c.cmd(&["CONFIG", "SET", "appendonly", "yes"]), "+OK\r\n");
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    c.cmd(&["SELECT", "4"]);
    c.cmd(&["RPUSH", "later", "a", "b"]);
    c.cmd(&["SELECT", "0"]);
    c.cmd(&["INCR", "counter"]);
    common::wait_for(|| {
        info_field(&mut c, "aof_rewrite_in_progress") == "0"
            && info_field(&mut c, "aof_rewrites") == "1"
    });
    c.cmd(&["INCR", "counter"]);
    let digest = c.cmd(&["DEBUG", "DIGEST"]);
    assert_eq!(c.cmd(&["CONFIG", "SET", "appendonly", "no"]), "+OK\r\n");
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    c.cmd(&["SET", "not-in-the-aof", "1"]);
    drop(a);
    check_aof(&dir);
    let b = ferrocache_in(
        &dir,
        &["--appendonly", "yes", "--enable-debug-command", "yes"],
    );
    let mut c = Raw::connect(b.port);
    assert_eq!(c.cmd(&["DEBUG", "DIGEST"]), digest);
    assert_eq!(c.cmd(&["GET", "counter"]), "$1\r\n2\r\n");
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

/// DEBUG LOADAOF empties the dataset and loads the AOF again, writing nothing more to it; as
/// redis-server does.
#[test]
fn debug_loadaof_reloads_without_writing() {
    let script = |port: u16, dir: &Path| {
        let mut c = Raw::connect(port);
        let mut t = c.cmd(&["SET", "a", "1"]);
        t += &c.cmd(&["SELECT", "2"]);
        t += &c.cmd(&["INCR", "c"]);
        t += &c.cmd(&["RPUSH", "l", "x", "y"]);
        let size = |d: &Path| {
            std::fs::metadata(d.join("appendonlydir/appendonly.aof.1.incr.aof"))
                .unwrap()
                .len()
        };
        common::wait_for(|| info_field(&mut c, "aof_buffer_length") == "0");
        let before = size(dir);
        t += &c.cmd(&["DEBUG", "LOADAOF"]);
        t += &c.cmd(&["LRANGE", "l", "0", "-1"]);
        t += &c.cmd(&["GET", "c"]);
        t += &c.cmd(&["SELECT", "0"]);
        t += &c.cmd(&["GET", "a"]);
        t += &c
            .cmd(&["INFO", "keyspace"])
            .lines()
            .filter(|l| l.starts_with("db"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(size(dir), before, "DEBUG LOADAOF wrote to the AOF");
        t
    };
    let r = common::redis_server_with(&["--appendonly", "yes"]);
    let theirs = script(r.port, &r.dir);
    let f = common::ferrocache(&["--appendonly", "yes"]);
    let ours = script(f.port, &f.dir);
    assert_eq!(theirs, ours);
}

/// `appendfsync everysec`: while writes keep coming, the AOF is synced about once a second
/// (traced with strace), not once per write, and never much later than that.
#[test]
fn everysec_syncs_about_once_a_second() {
    let dir = temp_dir("aof-everysec");
    let port = free_port();
    let trace = dir.join("trace");
    let mut child = traced(
        &["-ttt", "-e", "trace=fdatasync"],
        &trace,
        port,
        &dir,
        "everysec",
    );
    wait_ready(port, &mut child);
    let mut c = Raw::connect(port);
    let t = Instant::now();
    let mut n = 0;
    while t.elapsed() < Duration::from_millis(3500) {
        assert_eq!(c.cmd(&["INCR", "n"]), format!(":{}\r\n", n + 1));
        n += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(c);
    stop_traced(port, &mut child);
    let text = std::fs::read_to_string(&trace).unwrap();
    let times: Vec<f64> = text
        .lines()
        .filter(|l| l.contains("fdatasync(") && l.contains("= 0"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert!(n > 300, "{n} writes");
    assert!(
        (2..=6).contains(&times.len()),
        "{} syncs for {n} writes:\n{text}",
        times.len()
    );
    let worst = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(worst < 2.0, "{worst:.2} s between two syncs");
    let _ = std::fs::remove_dir_all(&dir);
}

/// aof-timestamp-enabled: the incremental file carries `#TS:<unix time>` annotations, as
/// Redis writes them; redis-check-aof accepts the file and a restart loads it.
#[test]
fn timestamp_annotations_are_written_and_loaded() {
    let dir = temp_dir("aof-ts");
    let args = ["--appendonly", "yes", "--aof-timestamp-enabled", "yes"];
    let a = ferrocache_in(&dir, &args);
    let mut c = Raw::connect(a.port);
    c.cmd(&["SET", "a", "1"]);
    std::thread::sleep(Duration::from_millis(1100));
    c.cmd(&["INCR", "a"]);
    common::wait_for(|| info_field(&mut c, "aof_buffer_length") == "0");
    drop(a);
    let incr =
        std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    assert_eq!(incr.matches("#TS:").count(), 2, "{incr}");
    assert!(incr.starts_with("#TS:"));
    check_aof(&dir);
    let b = ferrocache_in(&dir, &args);
    let mut c = Raw::connect(b.port);
    assert_eq!(c.cmd(&["GET", "a"]), "$1\r\n2\r\n");
    drop(b);
    let r = common::redis_server_with(&["--dir", dir.to_str().unwrap(), "--appendonly", "yes"]);
    assert_eq!(Raw::connect(r.port).cmd(&["GET", "a"]), "$1\r\n2\r\n");
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// ferrocache with the AOF on (`appendfsync` as given) under strace, its trace in `out`.
fn traced(opts: &[&str], out: &Path, port: u16, dir: &Path, fsync: &str) -> std::process::Child {
    Command::new("strace")
        .args(["-f", "-qq"])
        .args(opts)
        .arg("-o")
        .arg(out)
        .arg(env!("CARGO_BIN_EXE_ferrocache"))
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "--appendonly",
            "yes",
            "--appendfsync",
            fsync,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace (apt-get install strace; scripts/setup-test-env.sh does this)")
}

/// A PEXPIREAT already past in the AOF sets the time rather than deleting during the load, so
/// the commands after it find the key, and it is gone once loaded: what the upstream suite's
/// integration/aof "AOF+EXPIRE" expects of Redis.
#[test]
fn a_past_expire_time_in_the_aof_applies_after_the_load() {
    let dir = temp_dir("aof-past");
    let d = dir.join("appendonlydir");
    std::fs::create_dir_all(&d).unwrap();
    let mut incr = Vec::new();
    for cmd in [
        &[b"RPUSH" as &[u8], b"list", b"foo"][..],
        &[b"PEXPIREAT", b"list", b"1000"],
        &[b"RPUSH", b"list", b"bar"],
        &[b"SET", b"other", b"1"],
    ] {
        incr.extend(common::resp(cmd));
    }
    std::fs::write(d.join("appendonly.aof.1.incr.aof"), incr).unwrap();
    std::fs::write(
        d.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap();
    let a = ferrocache_in(&dir, &["--appendonly", "yes"]);
    let mut c = Raw::connect(a.port);
    assert_eq!(c.cmd(&["LLEN", "list"]), ":0\r\n");
    assert_eq!(c.cmd(&["GET", "other"]), "$1\r\n1\r\n");
    drop(a);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ends a traced server: SHUTDOWN NOSAVE (killing strace would leave the server running,
/// detached), then strace exits with it.
fn stop_traced(port: u16, strace: &mut std::process::Child) {
    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
        let _ = s.write_all(b"SHUTDOWN NOSAVE\r\n");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = strace.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill9(strace);
}

/// With `aof-use-rdb-preamble no` the base is written as commands (`.base.aof`): every type,
/// TTLs, several databases, stream groups and pending entries. redis-check-aof accepts it,
/// and ferrocache and redis-server both load the same data from it.
#[test]
fn a_base_without_preamble_is_commands_both_servers_load() {
    let dir = temp_dir("aof-resp-base");
    let a = ferrocache_in(
        &dir,
        &["--appendonly", "yes", "--aof-use-rdb-preamble", "no"],
    );
    let mut c = Raw::connect(a.port);
    populate_shapes(&mut c);
    assert_eq!(c.cmd(&["XGROUP", "CREATE", "stream", "g", "0"]), "+OK\r\n");
    let read = c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "2",
        "STREAMS",
        "stream",
        ">",
    ]);
    assert!(read.starts_with("*1\r\n"), "{read}");
    assert_eq!(
        c.cmd(&["XGROUP", "CREATECONSUMER", "stream", "g", "bob"]),
        ":1\r\n"
    );
    c.cmd(&["XADD", "trimmed", "MAXLEN", "0", "*", "a", "b"]);
    let big: Vec<String> = (0..150).map(|i| format!("m{i}")).collect();
    let mut rpush = vec!["RPUSH", "long"];
    rpush.extend(big.iter().map(String::as_str));
    c.cmd(&rpush);
    c.cmd(&["SELECT", "7"]);
    c.cmd(&["SET", "in-7", "x", "EX", "1000"]);
    c.cmd(&["SELECT", "0"]);
    let r = c.cmd(&["BGREWRITEAOF"]);
    assert!(r.contains("started"), "{r}");
    common::wait_for(|| info_field(&mut c, "aof_rewrite_in_progress") == "0");
    let want0 = canonical(&mut c, 0);
    let want7 = canonical(&mut c, 7);
    drop(a);
    let manifest =
        std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    assert_eq!(
        manifest,
        "file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let base = std::fs::read(dir.join("appendonlydir/appendonly.aof.2.base.aof")).unwrap();
    assert!(
        base.starts_with(b"*2\r\n$6\r\nSELECT\r\n"),
        "{:?}",
        &base[..20]
    );
    check_aof(&dir);

    let b = ferrocache_in(&dir, &["--appendonly", "yes"]);
    let mut c = Raw::connect(b.port);
    assert_same(&want0, &canonical(&mut c, 0), 0);
    assert_same(&want7, &canonical(&mut c, 7), 7);
    drop(b);
    let r = common::redis_server_with(&["--dir", dir.to_str().unwrap(), "--appendonly", "yes"]);
    let mut rc = Raw::connect(r.port);
    assert_same(&want0, &canonical(&mut rc, 0), 0);
    assert_same(&want7, &canonical(&mut rc, 7), 7);
    drop(rc);
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A single-file `appendonly.aof` of Redis before 7 (commands, or an RDB preamble followed by
/// commands) is moved into the AOF directory as its base, a first incremental file is added,
/// and the data loads; a later rewrite replaces both.
#[test]
fn an_old_single_file_aof_is_upgraded() {
    for preamble in [false, true] {
        let dir = temp_dir("aof-upgrade");
        let mut old = Vec::new();
        if preamble {
            // An RDB holding k1, written by ferrocache's SAVE, then commands.
            let s = ferrocache_in(&dir, &[]);
            let mut c = Raw::connect(s.port);
            c.cmd(&["SET", "k1", "v1"]);
            c.cmd(&["SAVE"]);
            drop(s);
            old = std::fs::read(dir.join("dump.rdb")).unwrap();
            std::fs::remove_file(dir.join("dump.rdb")).unwrap();
        } else {
            old.extend(common::resp(&[b"SET", b"k1", b"v1"]));
        }
        old.extend(common::resp(&[b"SELECT", b"0"]));
        old.extend(common::resp(&[b"SET", b"k2", b"v2"]));
        std::fs::write(dir.join("appendonly.aof"), &old).unwrap();
        let a = ferrocache_in(&dir, &["--appendonly", "yes"]);
        let mut c = Raw::connect(a.port);
        assert_eq!(
            c.cmd(&["MGET", "k1", "k2"]),
            "*2\r\n$2\r\nv1\r\n$2\r\nv2\r\n"
        );
        assert!(!dir.join("appendonly.aof").exists());
        let aof = dir.join("appendonlydir");
        assert!(aof.join("appendonly.aof").exists());
        let manifest = || std::fs::read_to_string(aof.join("appendonly.aof.manifest")).unwrap();
        assert_eq!(
            manifest(),
            "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        c.cmd(&["SET", "k3", "v3"]);
        c.cmd(&["BGREWRITEAOF"]);
        common::wait_for(|| info_field(&mut c, "aof_rewrite_in_progress") == "0");
        assert_eq!(
            manifest(),
            "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        assert!(!aof.join("appendonly.aof").exists());
        drop(a);
        check_aof(&dir);
        let b = ferrocache_in(&dir, &["--appendonly", "yes"]);
        let mut c = Raw::connect(b.port);
        assert_eq!(c.cmd(&["DBSIZE"]), ":3\r\n");
        drop(b);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A manifest that is not what Redis writes is refused at start with Redis's reason (and the
/// server exits); names with spaces, quotes and newlines are quoted in it, as Redis quotes
/// them, and redis-check-aof reads them.
#[test]
fn manifests_are_validated_and_odd_names_quoted() {
    let refused: [(&str, &str); 4] = [
        (
            "file a.1.base.rdb seq 1 type b\nfile a.2.base.rdb seq 2 type b\n",
            "Found duplicate base file information",
        ),
        (
            "file a.2.incr.aof seq 2 type i\nfile a.1.incr.aof seq 1 type i\n",
            "Found a non-monotonic sequence number",
        ),
        (
            "file a.1.incr.aof seq 1 type i\n\n",
            "Invalid AOF manifest file format",
        ),
        ("file a.1.incr.aof seq 1 type x\n", "Unknown AOF file type"),
    ];
    for (text, why) in refused {
        let dir = temp_dir("aof-manifest");
        std::fs::create_dir_all(dir.join("appendonlydir")).unwrap();
        std::fs::write(dir.join("appendonlydir/appendonly.aof.manifest"), text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
            .args(["--port", &free_port().to_string(), "--appendonly", "yes"])
            .args(["--dir", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{text}");
        let log = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(log.contains(why), "{text}: {log}");
        assert!(log.contains("FATAL AOF MANIFEST FILE ERROR"), "{log}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    let dir = temp_dir("aof-odd-name");
    let name = " odd \"name\"\n.aof ";
    let a = ferrocache_in(&dir, &["--appendonly", "yes", "--appendfilename", name]);
    let mut c = Raw::connect(a.port);
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["BGREWRITEAOF"]);
    common::wait_for(|| info_field(&mut c, "aof_rewrite_in_progress") == "0");
    let manifest_path = dir.join(format!("appendonlydir/{name}.manifest"));
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    assert_eq!(
        manifest,
        "file \" odd \\\"name\\\"\\n.aof .2.base.rdb\" seq 2 type b\nfile \" odd \\\"name\\\"\\n.aof .2.incr.aof\" seq 2 type i\n"
    );
    drop(a);
    let out = Command::new("redis-check-aof")
        .arg(&manifest_path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("All AOF files and manifest are valid"),
        "{report}"
    );
    let b = ferrocache_in(&dir, &["--appendonly", "yes", "--appendfilename", name]);
    let mut c = Raw::connect(b.port);
    assert_eq!(c.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The manifest through a series of rewrites, as redis-server writes it: a rewrite with the
/// AOF off (a base alone), DEBUG LOADAOF, turning it on again (a new first incremental file),
/// aof-disable-auto-gc keeping older files as history (newest first) until it is turned off,
/// and the numbering going on after a reload.
#[test]
fn the_manifest_evolves_as_redis_writes_it() {
    let script = |p: &mut common::Proc| -> String {
        let mut c = Raw::connect(p.port);
        let manifest = |p: &common::Proc| {
            std::fs::read_to_string(p.dir.join("appendonlydir/appendonly.aof.manifest"))
                .unwrap_or_default()
        };
        let wait = |c: &mut Raw| {
            common::wait_for(|| {
                info_field(c, "aof_rewrite_in_progress") == "0"
                    && info_field(c, "aof_rewrite_scheduled") == "0"
            })
        };
        let mut t = String::new();
        c.cmd(&["CONFIG", "SET", "appendonly", "yes"]);
        wait(&mut c);
        c.cmd(&["SET", "k", "v"]);
        t += &manifest(p);
        c.cmd(&["BGREWRITEAOF"]);
        wait(&mut c);
        t += &manifest(p);
        c.cmd(&["CONFIG", "SET", "appendonly", "no"]);
        c.cmd(&["BGREWRITEAOF"]);
        wait(&mut c);
        t += &manifest(p);
        t += &c.cmd(&["DEBUG", "LOADAOF"]);
        c.cmd(&["CONFIG", "SET", "appendonly", "yes"]);
        wait(&mut c);
        t += &manifest(p);
        c.cmd(&["CONFIG", "SET", "aof-disable-auto-gc", "yes"]);
        for _ in 0..2 {
            c.cmd(&["INCR", "n"]);
            c.cmd(&["BGREWRITEAOF"]);
            wait(&mut c);
        }
        t += &manifest(p);
        c.cmd(&["CONFIG", "SET", "aof-disable-auto-gc", "no"]);
        t += &manifest(p);
        t += &c.cmd(&["DEBUG", "LOADAOF"]);
        c.cmd(&["BGREWRITEAOF"]);
        wait(&mut c);
        t += &manifest(p);
        common::wait_for(|| {
            std::fs::read_dir(p.dir.join("appendonlydir"))
                .unwrap()
                .count()
                == 3
        });
        t += &c.cmd(&["MGET", "k", "n"]);
        t
    };
    let args = ["--enable-debug-command", "yes"];
    let theirs = script(&mut common::redis_server_with(&args));
    let ours = script(&mut common::ferrocache(&args));
    assert_eq!(
        theirs, ours,
        "redis-server (left) and ferrocache (right) differ"
    );
}

/// no-appendfsync-on-rewrite yes: with `appendfsync always`, writes made while a background
/// save runs are written to the AOF but not synced (the configuration accepts that); once the
/// save is over, every reply waits for its fdatasync again.
#[test]
fn no_appendfsync_on_rewrite_holds_syncs_during_a_save() {
    let dir = temp_dir("aof-nosync-rewrite");
    let port = free_port();
    let trace = dir.join("trace");
    let opts = ["-y", "-s", "256", "-e", "trace=fdatasync,write"];
    let mut child = traced(&opts, &trace, port, &dir, "always");
    wait_ready(port, &mut child);
    let mut c = Raw::connect(port);
    for i in 0..20 {
        c.cmd(&["SET", &format!("filler-{i}"), "v"]);
    }
    c.cmd(&["CONFIG", "SET", "no-appendfsync-on-rewrite", "yes"]);
    c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "100000"]);
    assert!(c.cmd(&["BGSAVE"]).contains("started"));
    for i in 0..10 {
        assert_eq!(c.cmd(&["SET", &format!("during-{i}"), "v"]), "+OK\r\n");
    }
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    common::wait_for(|| info_field(&mut c, "rdb_bgsave_in_progress") == "0");
    for i in 0..10 {
        assert_eq!(c.cmd(&["SET", &format!("after-{i}"), "v"]), "+OK\r\n");
    }
    drop(c);
    stop_traced(port, &mut child);
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let aof_write = |key: &str| {
        lines
            .iter()
            .position(|l| l.contains("write(") && l.contains(".incr.aof>") && l.contains(key))
            .unwrap_or_else(|| panic!("no AOF write of {key}:\n{text}"))
    };
    let incr_sync = |l: &&str| l.contains("fdatasync(") && l.contains(".incr.aof>");
    let (first, last) = (aof_write("during-0"), aof_write("during-9"));
    assert!(
        !lines[first..=last].iter().any(incr_sync),
        "the AOF was synced while the save ran:\n{}",
        lines[first..=last].join("\n")
    );
    for i in 0..10 {
        let w = aof_write(&format!("after-{i}"));
        assert!(
            lines[w..].iter().any(incr_sync),
            "no fdatasync after the write of after-{i}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
