//! Shared test helpers: start the real ferrocache binary (or a reference redis-server) on a free
//! port, and talk raw RESP to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `script` (given a server's port, it returns a transcript) against a fresh redis-server
/// and a fresh ferrocache; asserts the transcripts are equal and returns it.
pub fn same_as_redis(script: impl Fn(u16) -> String) -> String {
    same_as_redis_in(&[&[]], script)
}

/// `same_as_redis`, with ferrocache started once for each set of extra arguments.
pub fn same_as_redis_in(configs: &[&[&str]], script: impl Fn(u16) -> String) -> String {
    let theirs = {
        let server = redis_server();
        script(server.port)
    };
    for extra in configs {
        let server = ferrocache(extra);
        let ours = script(server.port);
        assert_eq!(
            theirs, ours,
            "redis-server (left) and ferrocache {extra:?} (right) differ"
        );
    }
    theirs
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ferrocache-test-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Waits up to 5 s for a server process to exit; returns its status if it did.
pub fn wait_exit(p: &mut Proc) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(st) = p.child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Waits until the server accepts connections on the port (and answers, or closes the
/// connection as a TLS-only listener does to a plaintext PING).
pub fn wait_ready(port: u16, child: &mut Child) {
    if let Err(status) = try_wait_ready(port, child) {
        panic!("server exited early: {status}");
    }
}

/// As [`wait_ready`], but an early exit is returned.
fn try_wait_ready(port: u16, child: &mut Child) -> Result<(), std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(status);
        }
        if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) {
            c.set_read_timeout(Some(Duration::from_secs(2))).ok();
            if c.write_all(b"PING\r\n").is_ok() {
                let mut buf = [0u8; 64];
                // Ready once the dataset is loaded (-LOADING until then).
                if c.read(&mut buf)
                    .is_ok_and(|n| !buf[..n].starts_with(b"-LOADING"))
                {
                    return Ok(());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server on port {port} did not become ready");
}

/// Starts a server with `spawn(port)` on a free port, and again on another if it exits at
/// once: the port found free may have been taken meanwhile by a server another test started.
fn start_on_free_port(mut spawn: impl FnMut(u16) -> Child) -> (Child, u16) {
    let mut exits = Vec::new();
    for _ in 0..3 {
        let port = free_port();
        let mut child = spawn(port);
        match try_wait_ready(port, &mut child) {
            Ok(()) => return (child, port),
            Err(status) => exits.push(format!("{status} on port {port}")),
        }
    }
    panic!("server exited early: {}", exits.join(", "));
}

/// Starts `bin` (ferrocache or redis-server) on `port` with its data in `dir`, persistence
/// off unless `extra` turns it on; does not wait for it.
pub fn spawn_in(bin: &str, port: u16, dir: &Path, extra: &[&str]) -> Child {
    Command::new(bin)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--dir", dir.to_str().unwrap()])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Starts ferrocache on a free port with extra `--name value` arguments.
pub fn ferrocache(extra: &[&str]) -> Proc {
    let dir = temp_dir("fc");
    // A replica's full sync starts at once rather than waiting for others to share it.
    let mut args = vec![
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ];
    args.extend(extra);
    let bin = env!("CARGO_BIN_EXE_ferrocache");
    let (child, port) = start_on_free_port(|port| spawn_in(bin, port, &dir, &args));
    Proc { child, port, dir }
}

/// Starts the Redis at `bin` (a 7.2 build, say) on a free port, persistence off.
pub fn redis_binary(bin: &str) -> Proc {
    let dir = temp_dir("redis");
    let args = ["--appendonly", "no", "--enable-debug-command", "yes"];
    let (child, port) = start_on_free_port(|port| spawn_in(bin, port, &dir, &args));
    Proc { child, port, dir }
}

/// Starts Debian's redis-server (the reference) on a free port, persistence off.
pub fn redis_server() -> Proc {
    redis_server_with(&[])
}

/// `redis_server` with extra arguments (`--dir` to load a snapshot).
pub fn redis_server_with(extra: &[&str]) -> Proc {
    assert!(
        Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok(),
        "redis-server must be installed (apt-get install redis-server); scripts/test.sh does this"
    );
    let dir = temp_dir("redis");
    let mut args = vec!["--appendonly", "no", "--enable-debug-command", "yes"];
    args.extend(extra);
    let (child, port) = start_on_free_port(|port| spawn_in("redis-server", port, &dir, &args));
    Proc { child, port, dir }
}

/// Encodes a command as a RESP array.
pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// Splits a script line into arguments with redis-cli's quoting rules (`"\xff"` escapes make
/// non-UTF-8 arguments).
pub fn words(line: &str) -> Vec<Vec<u8>> {
    let mut scratch = Vec::new();
    let mut ranges = Vec::new();
    ferrocache::protocol::parser::split_inline_args(line.as_bytes(), &mut scratch, &mut ranges)
        .expect("balanced quotes");
    ranges.into_iter().map(|r| scratch[r].to_vec()).collect()
}

/// Runs the `;`-separated commands of `script` (words as `words` splits them); each must
/// succeed.
pub fn run_script(c: &mut Raw, script: &str) {
    for line in script.split(';').map(str::trim).filter(|l| !l.is_empty()) {
        let r = send(c, &words(line));
        assert!(!r.starts_with('-'), "{line}: {r}");
    }
}

/// Sends one command given as raw arguments and returns its reply.
pub fn send(c: &mut Raw, args: &[Vec<u8>]) -> String {
    let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    c.send_raw(&resp(&a));
    c.read_reply()
}

/// What a [`Raw`] connection runs over: a TCP stream, or a TLS session on one.
pub trait RawStream: Read + Write + Send {}

impl<S: Read + Write + Send> RawStream for S {}

/// A raw RESP connection that returns replies as their exact bytes.
pub struct Raw {
    r: BufReader<Box<dyn RawStream>>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw::over(Box::new(s))
    }

    /// A connection over a stream already set up (with its read timeout).
    pub fn over(stream: Box<dyn RawStream>) -> Raw {
        Raw {
            r: BufReader::new(stream),
        }
    }

    /// Writes bytes, reporting failure (the server may have closed the connection).
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let w = self.r.get_mut();
        w.write_all(bytes)?;
        w.flush()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.try_send(bytes).unwrap();
    }

    /// Sends a command and returns its whole reply as bytes.
    pub fn cmd(&mut self, args: &[&str]) -> String {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.send_raw(&resp(&a));
        self.read_reply()
    }

    /// Sends a command with binary arguments and returns its reply frame as bytes.
    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send_raw(&resp(args));
        let mut out = Vec::new();
        self.read_frame(&mut out).expect("reply");
        out
    }

    /// Reads one complete reply frame (any RESP2/RESP3 type) as text.
    pub fn read_reply(&mut self) -> String {
        let mut out = Vec::new();
        self.read_frame(&mut out).expect("reply");
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Reads one frame; None on EOF or error.
    pub fn try_read_reply(&mut self) -> Option<String> {
        let mut out = Vec::new();
        self.read_frame(&mut out)?;
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    fn read_frame(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let mut line = Vec::new();
        let n = self.r.read_until(b'\n', &mut line).ok()?;
        if n == 0 {
            return None;
        }
        out.extend_from_slice(&line);
        let body = std::str::from_utf8(&line[1..line.len().saturating_sub(2)]).ok()?;
        match line[0] {
            b'$' | b'=' | b'!' => {
                let len: i64 = body.parse().ok()?;
                if len >= 0 {
                    let mut data = vec![0u8; len as usize + 2];
                    self.r.read_exact(&mut data).ok()?;
                    out.extend_from_slice(&data);
                }
            }
            b'*' | b'~' | b'>' => {
                let len: i64 = body.parse().ok()?;
                for _ in 0..len.max(0) {
                    self.read_frame(out)?;
                }
            }
            b'%' | b'|' => {
                let len: i64 = body.parse().ok()?;
                for _ in 0..len.max(0) * 2 {
                    self.read_frame(out)?;
                }
                if line[0] == b'|' {
                    self.read_frame(out)?;
                }
            }
            _ => {}
        }
        Some(())
    }

    /// True once the server has closed the connection.
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0) | Err(_))
    }
}

/// A numeric INFO field, or None if this server does not report it (RESP2 or RESP3).
pub fn try_info_u64(c: &mut Raw, section: &str, field: &str) -> Option<u64> {
    let info = c.cmd(&["INFO", section]);
    let prefix = format!("{field}:");
    // In RESP3 the first line carries the verbatim string's "txt:" format before a field.
    info.split("\r\n")
        .find_map(|l| {
            l.strip_prefix(&prefix)
                .or_else(|| l.split_once(&format!("txt:{prefix}")).map(|(_, v)| v))
        })
        .map(|v| v.trim().parse().unwrap())
}

/// A numeric INFO field that must be there.
/// A field of INFO persistence, as text.
pub fn info_field(c: &mut Raw, name: &str) -> String {
    let info = c.cmd(&["INFO", "persistence"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .to_string()
}

pub fn info_u64(c: &mut Raw, section: &str, field: &str) -> u64 {
    try_info_u64(c, section, field).unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

/// Runs redis-cli with arguments against a port; returns (stdout, stderr, success).
pub fn redis_cli(port: u16, args: &[&str]) -> (String, String, bool) {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli must be installed (apt-get install redis-tools)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// The Python interpreter of the test venv (made by scripts/setup-test-env.sh).
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("FERROCACHE_PYTHON") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        p.exists(),
        "no test venv at {}: run scripts/setup-test-env.sh (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Runs `tests/python/<script>` with `args` in the test venv; fails the test with its output
/// unless it succeeds.
pub fn run_python(script: &str, args: &[&str]) {
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Commands that build one key of every shape: small (compact) and large encodings, integers,
/// long compressible strings.
pub fn populate_shapes(c: &mut Raw) -> Vec<String> {
    let mut keys = Vec::new();
    let mut run = |c: &mut Raw, key: &str, args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = c.cmd(&a);
        assert!(!r.starts_with('-'), "{a:?}: {r}");
        if !keys.contains(&key.to_string()) {
            keys.push(key.to_string());
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    run(c, "str", s(&["SET", "str", "hello"]));
    run(c, "int", s(&["SET", "int", "-123456"]));
    run(c, "bigint", s(&["SET", "bigint", "9223372036854775807"]));
    run(
        c,
        "long",
        vec!["SET".into(), "long".into(), "ab".repeat(300)],
    );
    let noise: String = (0..200)
        .map(|i| char::from(b'!' + (i * 7 % 90) as u8))
        .collect();
    run(c, "noise", vec!["SET".into(), "noise".into(), noise]);
    run(c, "list", s(&["RPUSH", "list", "a", "1", "-2", "bcd"]));
    for chunk in 0..4 {
        let mut cmd = s(&["RPUSH", "biglist"]);
        cmd.extend((0..500).map(|i| format!("element-{chunk}-{i}")));
        run(c, "biglist", cmd);
    }
    run(c, "hash", s(&["HSET", "hash", "f", "v", "n", "12"]));
    let mut cmd = s(&["HSET", "bighash"]);
    cmd.extend((0..600).flat_map(|i| [format!("field{i}"), format!("{i}")]));
    run(c, "bighash", cmd);
    run(
        c,
        "intset",
        s(&["SADD", "intset", "1", "-5", "70000", "5000000000"]),
    );
    let mut cmd = s(&["SADD", "bigintset"]);
    cmd.extend((0..600).map(|i| (i * 3).to_string()));
    run(c, "bigintset", cmd);
    run(c, "set", s(&["SADD", "set", "a", "b", "1"]));
    let mut cmd = s(&["SADD", "bigset"]);
    cmd.extend((0..600).map(|i| format!("m{i}")));
    run(c, "bigset", cmd);
    run(
        c,
        "zset",
        s(&["ZADD", "zset", "1.5", "a", "-inf", "b", "3", "c"]),
    );
    let mut cmd = s(&["ZADD", "bigzset"]);
    cmd.extend((0..300).flat_map(|i| [format!("{}", i as f64 / 3.0), format!("m{i}")]));
    run(c, "bigzset", cmd);
    // A stream over several nodes, with deletions, a field set that changes, and two groups
    // with pending entries; and an empty stream that only holds a group.
    for i in 1..=250 {
        let mut cmd = s(&["XADD", "stream", &format!("{i}-1"), "a", &i.to_string()]);
        if i % 50 == 0 {
            cmd.extend(s(&["other", "field"]));
        }
        run(c, "stream", cmd);
    }
    run(c, "stream", s(&["XDEL", "stream", "5-1", "10-1", "101-1"]));
    run(c, "stream", s(&["XGROUP", "CREATE", "stream", "g1", "0"]));
    for (consumer, count) in [("alice", "3"), ("bob", "2")] {
        let read = [
            "XREADGROUP",
            "GROUP",
            "g1",
            consumer,
            "COUNT",
            count,
            "STREAMS",
            "stream",
            ">",
        ];
        run(c, "stream", s(&read));
    }
    run(c, "stream", s(&["XACK", "stream", "g1", "1-1"]));
    run(c, "stream", s(&["XGROUP", "CREATE", "stream", "g2", "$"]));
    run(
        c,
        "stream",
        s(&["XGROUP", "CREATECONSUMER", "stream", "g2", "carol"]),
    );
    run(
        c,
        "emptystream",
        s(&["XGROUP", "CREATE", "emptystream", "g", "$", "MKSTREAM"]),
    );
    keys
}

/// XINFO STREAM FULL with the radix-tree node count masked (Redis's internal tree shape).
pub fn stream_full(c: &mut Raw, key: &str) -> String {
    let full = c.cmd(&["XINFO", "STREAM", key, "FULL"]);
    let marker = "radix-tree-nodes\r\n:";
    match full.find(marker) {
        Some(i) => {
            let start = i + marker.len();
            let end = start + full[start..].find('\r').unwrap();
            format!("{}N{}", &full[..start], &full[end..])
        }
        None => full,
    }
}

/// Replaces every run of 12 or more digits (a time in ms since the epoch) with `T`.
pub fn mask_clock(reply: &str) -> String {
    let mut out = String::with_capacity(reply.len());
    let mut digits = String::new();
    for ch in reply.chars().chain(std::iter::once('\0')) {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        out.push_str(if digits.len() >= 12 { "T" } else { &digits });
        digits.clear();
        if ch != '\0' {
            out.push(ch);
        }
    }
    out
}

/// Every key of database `db` with its type, absolute expire time and content in a form that
/// does not depend on the server (members sorted, stream entries with their IDs).
pub fn canonical(c: &mut Raw, db: usize) -> Vec<String> {
    c.cmd(&["SELECT", &db.to_string()]);
    let keys = c.cmd(&["KEYS", "*"]);
    let lines: Vec<&str> = keys.split("\r\n").collect();
    let mut names: Vec<String> = lines[1..]
        .chunks(2)
        .filter(|p| p.len() == 2)
        .map(|p| p[1].to_string())
        .collect();
    names.sort();
    let sorted = |r: String| {
        let mut v: Vec<&str> = r.split("\r\n").collect();
        v.sort();
        v.join(",")
    };
    names
        .iter()
        .map(|k| {
            let ty = c.cmd(&["TYPE", k]);
            let content = match ty.trim() {
                "+string" => c.cmd(&["GET", k]),
                "+list" => c.cmd(&["LRANGE", k, "0", "-1"]),
                "+hash" => sorted(c.cmd(&["HGETALL", k])),
                "+set" => sorted(c.cmd(&["SMEMBERS", k])),
                // Scores as numbers: Redis 7.0 prints 17 digits where 7.2 prints the
                // shortest form of the same double.
                "+zset" => c
                    .cmd(&["ZRANGE", k, "0", "-1", "WITHSCORES"])
                    .split("\r\n")
                    .filter(|l| !l.starts_with('$'))
                    .map(|l| l.parse::<f64>().map_or(l.to_string(), |v| format!("{v:?}")))
                    .collect::<Vec<_>>()
                    .join(","),
                "+stream" => {
                    // Entries, groups (positions, pending counts) and each pending entry's
                    // owner and delivery count (its idle time depends on when it is read).
                    let mut text = c.cmd(&["XRANGE", k, "-", "+"]);
                    let groups = c.cmd(&["XINFO", "GROUPS", k]);
                    text.push_str(&groups);
                    let lines: Vec<String> = groups.split("\r\n").map(String::from).collect();
                    let mut group_names = Vec::new();
                    for (i, l) in lines.iter().enumerate() {
                        if l == "name" {
                            if let Some(n) = lines.get(i + 2) {
                                group_names.push(n.clone());
                            }
                        }
                    }
                    for g in group_names {
                        let pending = c.cmd(&["XPENDING", k, &g, "-", "+", "1000"]);
                        let lines: Vec<&str> = pending.split("\r\n").collect();
                        let mut masked = Vec::new();
                        let mut i = 0;
                        while i < lines.len() {
                            if lines[i] == "*4"
                                && i + 6 < lines.len()
                                && lines[i + 1].starts_with('$')
                            {
                                masked.extend_from_slice(&lines[i..i + 5]);
                                masked.push(":idle");
                                masked.push(lines[i + 6]);
                                i += 7;
                            } else {
                                masked.push(lines[i]);
                                i += 1;
                            }
                        }
                        text.push_str(&masked.join("|"));
                    }
                    text
                }
                other => panic!("type {other}"),
            };
            format!("{k} {ty} {} {content}", c.cmd(&["PEXPIRETIME", k]).trim())
        })
        .collect()
}

/// Asserts two canonical listings are equal, showing only the keys that differ.
pub fn assert_same(mine: &[String], theirs: &[String], db: usize) {
    let short = |s: &String| s.chars().take(300).collect::<String>();
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|x| !b.contains(x)).map(short).collect()
    };
    // Where a key's two listings first differ.
    let first_diff = mine.iter().zip(theirs).find(|(a, b)| a != b).map(|(a, b)| {
        let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let from = at.saturating_sub(150);
        (
            a.get(from..(at + 150).min(a.len()))
                .unwrap_or("")
                .to_string(),
            b.get(from..(at + 150).min(b.len()))
                .unwrap_or("")
                .to_string(),
        )
    });
    assert!(
        mine == theirs,
        "database {db} differs:\n primary only: {:?}\n replica only: {:?}\n first difference: {:?}",
        only(mine, theirs),
        only(theirs, mine),
        first_diff
    );
}

/// A redis-server replicating from `primary`, once its link is up.
pub fn replica_of(primary: &Proc) -> (Proc, Raw) {
    let port = primary.port.to_string();
    let r = redis_server_with(&["--replicaof", "127.0.0.1", &port]);
    let mut c = Raw::connect(r.port);
    wait_for(|| {
        c.cmd(&["INFO", "replication"])
            .contains("master_link_status:up")
    });
    (r, c)
}

pub fn wait_for(mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the replica has applied everything the primary recorded.
pub fn in_sync(p: &mut Raw, r: &mut Raw) {
    let offset = info_u64(p, "replication", "master_repl_offset");
    wait_for(|| info_u64(r, "replication", "master_repl_offset") >= offset);
}
