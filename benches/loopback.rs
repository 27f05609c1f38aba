//! End to end over loopback: an in-process server, a client sending pipelined SET/GET batches
//! of 16 (as `redis-benchmark -P 16` does) and single requests, timed per batch.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrocache::config::{self, Config};
use ferrocache::server::{self, Server};

fn start_server() -> (u16, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let args: Vec<String> = ["--port", "0", "--bind", "127.0.0.1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cfg = Config::load(None, &config::parse_args(&args).unwrap()).unwrap();
    let srv: Arc<Server> = Server::new(cfg, None);
    let listeners = rt.block_on(server::bind(&srv)).unwrap();
    let port = srv.tcp_port.load(std::sync::atomic::Ordering::Relaxed);
    rt.spawn(server::serve(srv, listeners));
    (port, rt)
}

fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// Sends `batch` and reads until `expect` reply bytes have arrived.
fn roundtrip(c: &mut TcpStream, batch: &[u8], expect: usize, buf: &mut [u8]) {
    c.write_all(batch).unwrap();
    let mut got = 0;
    while got < expect {
        got += c.read(&mut buf[got..]).unwrap();
    }
}

fn loopback(c: &mut Criterion) {
    let (port, _rt) = start_server();
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_nodelay(true).unwrap();
    let value = [b'x'; 64];
    let mut set_batch = Vec::new();
    let mut get_batch = Vec::new();
    for i in 0..16 {
        let key = format!("key:{i:06}");
        set_batch.extend(request(&[b"SET", key.as_bytes(), &value]));
        get_batch.extend(request(&[b"GET", key.as_bytes()]));
    }
    let mut buf = vec![0u8; 64 * 1024];
    let set_reply = 16 * b"+OK\r\n".len();
    let get_reply = 16 * (b"$64\r\n".len() + 64 + 2);
    roundtrip(&mut conn, &set_batch, set_reply, &mut buf);

    let mut g = c.benchmark_group("loopback");
    g.throughput(Throughput::Elements(16));
    g.bench_function("set_pipeline16", |b| {
        b.iter(|| roundtrip(&mut conn, &set_batch, set_reply, &mut buf))
    });
    g.bench_function("get_pipeline16", |b| {
        b.iter(|| roundtrip(&mut conn, &get_batch, get_reply, &mut buf))
    });
    g.throughput(Throughput::Elements(1));
    let one = request(&[b"GET", b"key:000001"]);
    g.bench_function("get_single", |b| {
        b.iter(|| roundtrip(&mut conn, &one, 64 + 7, &mut buf))
    });
    g.finish();
}

criterion_group!(benches, loopback);
criterion_main!(benches);
