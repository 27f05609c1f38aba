//! A latency probe: one connection sending PING every millisecond until its stdin closes, then
//! one line: `n,max_ms,p999_ms,p99_ms,over_10ms`.
//!
//! cargo run --release --example pingprobe -- --port 6379
//!
//! Written in Rust rather than in the Python harness so that what it reports is the server's
//! wait, not the interpreter's (a GIL switch or a subprocess spawn in the harness showed up as
//! multi-millisecond "pauses" of an idle server). Run a second probe against an idle server at
//! the same time to see the machine's own scheduling noise on two shared cores.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .expect("--port N");
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = stop.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        watcher.store(true, Ordering::Relaxed);
    });
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_nodelay(true).unwrap();
    let mut waits = Vec::new();
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        c.write_all(b"PING\r\n").expect("write");
        let mut got = 0;
        while got < 7 {
            got += c.read(&mut buf[got..]).expect("read");
        }
        waits.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(1));
    }
    waits.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| {
        waits
            .get(((waits.len() as f64 * q) as usize).min(waits.len().saturating_sub(1)))
            .map_or(0.0, |d| ms(*d))
    };
    let over = waits
        .iter()
        .filter(|d| **d > Duration::from_millis(10))
        .count();
    println!(
        "{},{:.2},{:.2},{:.2},{}",
        waits.len(),
        waits.last().map_or(0.0, |d| ms(*d)),
        at(0.999),
        at(0.99),
        over
    );
}
