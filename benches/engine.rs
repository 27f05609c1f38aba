//! The keyspace without the network: shard lookups and inserts, and the multi-shard locking MSET uses.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrocache::engine::{Entry, Keyspace, Str, Value};

const KEYS: usize = 100_000;

fn keys() -> Vec<Vec<u8>> {
    (0..KEYS)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect()
}

fn entry(v: &[u8]) -> Entry {
    Entry::new(Value::Str(Str::from_bytes(v)))
}

fn shard_map(c: &mut Criterion) {
    let ks = Keyspace::new(1, 16);
    let db = ks.db(0);
    let keys = keys();
    let value = [b'x'; 64];
    for k in &keys {
        db.lock_key(k).insert(k, entry(&value));
    }
    let mut g = c.benchmark_group("shard_map");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            let k = &keys[i];
            db.lock_key(k).get_mut(k, 0).is_some()
        })
    });
    g.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            let k = format!("nokey:{i}");
            db.lock_key(k.as_bytes()).get_mut(k.as_bytes(), 0).is_some()
        })
    });
    g.bench_function("set_overwrite", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            let k = &keys[i];
            db.lock_key(k).insert(k, entry(&value));
        })
    });
    g.throughput(Throughput::Elements(10));
    g.bench_function("mset10_lock_keys", |b| {
        b.iter(|| {
            i = (i + 7919) % (KEYS - 10);
            let batch = &keys[i..i + 10];
            let mut locked = db.lock_keys(batch.iter().map(|k| k.as_slice()));
            for k in batch {
                locked.shard(k).insert(k, entry(&value));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, shard_map);
criterion_main!(benches);
