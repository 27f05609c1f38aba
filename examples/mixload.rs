//! A mixed GET/SET load generator (memtier-style), for workloads redis-benchmark cannot express:
//! a read/write mix over a large random keyspace, uniform or Zipf-distributed keys.
//!
//! cargo run --release --example mixload -- --port 6379 [--clients 50] [--pipeline 1]
//!     [--requests 200000] [--keys 1000000] [--get-ratio 0.9] [--value-size 64]
//!     [--zipf 0.99] [--seed 1] [--cache-aside]
//!
//! Prints one CSV line: `name,ops_per_sec,p50_ms,p99_ms,hit_ratio`. With `--cache-aside`, every
//! operation is a GET, and a miss is followed by a SET of that key (the hit ratio is what counts).
//!
//! Like memtier and redis-benchmark, all clients share one thread with an event loop: on a
//! 2-core machine, 50 blocking client threads measured mostly the scheduler (each request cost
//! a thread wake-up), and their throughput moved 5-10% from run to run with any server.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Opts {
    port: u16,
    clients: usize,
    pipeline: usize,
    requests: usize,
    keys: u64,
    get_ratio: f64,
    value_size: usize,
    zipf: Option<f64>,
    seed: u64,
    cache_aside: bool,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        port: 6379,
        clients: 50,
        pipeline: 1,
        requests: 200_000,
        keys: 1_000_000,
        get_ratio: 0.9,
        value_size: 64,
        zipf: None,
        seed: 1,
        cache_aside: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--port" => o.port = v.parse().expect("port"),
            "--clients" => o.clients = v.parse().expect("clients"),
            "--pipeline" => o.pipeline = v.parse().expect("pipeline"),
            "--requests" => o.requests = v.parse().expect("requests"),
            "--keys" => o.keys = v.parse().expect("keys"),
            "--get-ratio" => o.get_ratio = v.parse().expect("get-ratio"),
            "--value-size" => o.value_size = v.parse().expect("value-size"),
            "--zipf" => o.zipf = Some(v.parse().expect("zipf exponent")),
            "--seed" => o.seed = v.parse().expect("seed"),
            "--cache-aside" => {
                o.cache_aside = true;
                i += 1;
                continue;
            }
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    o
}

/// xorshift64*: small, fast, reproducible per seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf sampling by inverting a precomputed CDF (binary search), exact for the keyspace size.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: u64, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut total = 0.0;
        for k in 1..=n {
            total += 1.0 / (k as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

fn request(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads one reply; returns true for a non-null bulk (a GET hit). Panics on an error reply.
async fn read_reply(r: &mut BufReader<TcpStream>, line: &mut Vec<u8>, bulk: &mut Vec<u8>) -> bool {
    line.clear();
    r.read_until(b'\n', line).await.expect("read");
    match line.first() {
        Some(b'$') => {
            let n: i64 = std::str::from_utf8(&line[1..line.len() - 2])
                .unwrap()
                .parse()
                .unwrap();
            if n < 0 {
                return false;
            }
            bulk.resize(n as usize + 2, 0);
            r.read_exact(bulk).await.expect("bulk");
            true
        }
        Some(b'+') | Some(b':') => false,
        Some(b'_') => false,
        _ => panic!("unexpected reply: {}", String::from_utf8_lossy(line)),
    }
}

struct Result {
    latencies: Vec<Duration>,
    ops: usize,
    hits: usize,
    gets: usize,
}

async fn client(o: &Opts, idx: usize, zipf: Option<&Zipf>, per_client: usize) -> Result {
    let s = TcpStream::connect(("127.0.0.1", o.port))
        .await
        .expect("connect");
    s.set_nodelay(true).unwrap();
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let mut rng = Rng(o.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (idx as u64 + 1));
    let value = vec![b'v'; o.value_size];
    let mut res = Result {
        latencies: Vec::with_capacity(per_client / o.pipeline + 1),
        ops: 0,
        hits: 0,
        gets: 0,
    };
    let mut buf = Vec::new();
    let mut line = Vec::new();
    let mut bulk = Vec::new();
    let mut batch_keys: Vec<(bool, String)> = Vec::with_capacity(o.pipeline);
    while res.ops < per_client {
        buf.clear();
        batch_keys.clear();
        for _ in 0..o.pipeline {
            let k = match zipf {
                Some(z) => z.sample(&mut rng),
                None => rng.next() % o.keys,
            };
            let key = format!("key:{k:012}");
            let get = o.cache_aside || rng.unit() < o.get_ratio;
            if get {
                request(&mut buf, &[b"GET", key.as_bytes()]);
            } else {
                request(&mut buf, &[b"SET", key.as_bytes(), &value]);
            }
            batch_keys.push((get, key));
        }
        let t = Instant::now();
        r.get_mut().write_all(&buf).await.expect("write");
        let mut misses = Vec::new();
        for (get, key) in &batch_keys {
            let hit = read_reply(&mut r, &mut line, &mut bulk).await;
            if *get {
                res.gets += 1;
                if hit {
                    res.hits += 1;
                } else if o.cache_aside {
                    misses.push(key.clone());
                }
            }
        }
        if !misses.is_empty() {
            buf.clear();
            for key in &misses {
                request(&mut buf, &[b"SET", key.as_bytes(), &value]);
            }
            r.get_mut().write_all(&buf).await.expect("write");
            for _ in &misses {
                read_reply(&mut r, &mut line, &mut bulk).await;
            }
        }
        res.latencies.push(t.elapsed());
        res.ops += o.pipeline;
    }
    res
}

fn main() {
    let o = parse_opts();
    let zipf = o.zipf.map(|s| Zipf::new(o.keys, s));
    let per_client = o.requests.div_ceil(o.clients);
    let start = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    // Leaked: the client tasks borrow them for the rest of the (short) process.
    let o: &'static Opts = Box::leak(Box::new(o));
    let zipf: Option<&'static Zipf> = zipf.map(|z| &*Box::leak(Box::new(z)));
    let local = tokio::task::LocalSet::new();
    let results: Vec<Result> = local.block_on(&runtime, async {
        let tasks: Vec<_> = (0..o.clients)
            .map(|i| tokio::task::spawn_local(client(o, i, zipf, per_client)))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.expect("client task"));
        }
        out
    });
    let elapsed = start.elapsed().as_secs_f64();
    let ops: usize = results.iter().map(|r| r.ops).sum();
    let hits: usize = results.iter().map(|r| r.hits).sum();
    let gets: usize = results.iter().map(|r| r.gets).sum();
    let mut lat: Vec<Duration> = results.into_iter().flat_map(|r| r.latencies).collect();
    lat.sort_unstable();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    let name = if o.cache_aside { "CACHE_ASIDE" } else { "MIX" };
    println!(
        "{name},{:.0},{:.3},{:.3},{:.4}",
        ops as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        if gets > 0 {
            hits as f64 / gets as f64
        } else {
            0.0
        }
    );
}
