//! Request parser and reply encoder throughput.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrocache::protocol::parser::{Limits, Parsed, Parser};
use ferrocache::protocol::Reply;

/// A pipelined batch of `n` SET/GET pairs as redis-benchmark sends them.
fn batch(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        let key = format!("key:{i:012}");
        v.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$64\r\n", key.len()).as_bytes(),
        );
        v.extend_from_slice(&[b'x'; 64]);
        v.extend_from_slice(
            format!("\r\n*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).as_bytes(),
        );
    }
    v
}

fn parse_all(p: &mut Parser, buf: &[u8]) -> usize {
    let mut pos = 0;
    let mut n = 0;
    loop {
        match p.parse(buf, pos).unwrap() {
            Parsed::Incomplete => return n,
            Parsed::Empty { end } => pos = end,
            Parsed::Request { end, .. } => {
                n += p.args().len();
                pos = end;
            }
        }
    }
}

fn parser(c: &mut Criterion) {
    let mut g = c.benchmark_group("parser");
    for n in [1usize, 16, 128] {
        let buf = batch(n);
        g.throughput(Throughput::Elements(2 * n as u64));
        g.bench_with_input(BenchmarkId::new("set_get_pipeline", n), &buf, |b, buf| {
            let mut p = Parser::new(Limits::default());
            b.iter(|| parse_all(&mut p, std::hint::black_box(buf)))
        });
    }
    g.bench_function("inline_ping", |b| {
        let mut p = Parser::new(Limits::default());
        b.iter(|| parse_all(&mut p, std::hint::black_box(b"PING\r\n")))
    });
    g.finish();
}

fn encoder(c: &mut Criterion) {
    let value = vec![b'v'; 64];
    c.bench_function("reply/bulk64_x16", |b| {
        let mut r = Reply::new();
        b.iter(|| {
            r.buf.clear();
            for _ in 0..16 {
                r.bulk(std::hint::black_box(&value));
            }
            r.buf.len()
        })
    });
    c.bench_function("reply/int_ok_null_x16", |b| {
        let mut r = Reply::new();
        b.iter(|| {
            r.buf.clear();
            for i in 0..16 {
                r.int(std::hint::black_box(i * 1000));
                r.ok();
                r.null();
            }
            r.buf.len()
        })
    });
}

criterion_group!(benches, parser, encoder);
criterion_main!(benches);
