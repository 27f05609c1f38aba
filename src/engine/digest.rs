//! Content digests of values and of the whole dataset (DEBUG DIGEST, DEBUG DIGEST-VALUE):
//! equal contents give equal digests whatever the encoding or insertion order of unordered
//! types. Stable within one process run, which is what the digest comparisons need.

use std::hash::BuildHasher;

use super::{Keyspace, Value};

pub type Digest = [u8; 20];

fn h(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut st = foldhash::fast::FixedState::with_seed(seed).build_hasher();
    for p in parts {
        std::hash::Hasher::write_usize(&mut st, p.len());
        std::hash::Hasher::write(&mut st, p);
    }
    std::hash::Hasher::finish(&st)
}

/// A 20-byte digest of a sequence of byte strings.
fn of(parts: &[&[u8]]) -> Digest {
    let mut d = [0u8; 20];
    let a = h(0x9e37_79b9, parts).to_le_bytes();
    let b = h(0x85eb_ca6b, parts).to_le_bytes();
    let c = h(0xc2b2_ae35, parts).to_le_bytes();
    d[..8].copy_from_slice(&a);
    d[8..16].copy_from_slice(&b);
    d[16..].copy_from_slice(&c[..4]);
    d
}

fn xor(acc: &mut Digest, d: &Digest) {
    acc.iter_mut().zip(d).for_each(|(a, b)| *a ^= b);
}

/// Order-sensitive mixing: digest(acc || d).
fn mix(acc: &mut Digest, d: &Digest) {
    *acc = of(&[acc, d]);
}

pub fn value(v: &Value) -> Digest {
    let mut acc = [0u8; 20];
    match v {
        Value::Str(s) => {
            let mut t = itoa::Buffer::new();
            mix(&mut acc, &of(&[b"string", s.as_bytes(&mut t)]));
        }
        Value::List(l) => {
            mix(&mut acc, &of(&[b"list"]));
            for e in l.iter() {
                mix(&mut acc, &of(&[e]));
            }
        }
        Value::Set(s) => {
            xor(&mut acc, &of(&[b"set"]));
            for m in s.members() {
                xor(&mut acc, &of(&[&m]));
            }
        }
        Value::Hash(hh) => {
            xor(&mut acc, &of(&[b"hash"]));
            for (f, v) in hh.iter() {
                xor(&mut acc, &of(&[f, v]));
            }
        }
        Value::ZSet(z) => {
            xor(&mut acc, &of(&[b"zset"]));
            for (m, s) in z.iter() {
                xor(&mut acc, &of(&[m, &s.to_bits().to_le_bytes()]));
            }
        }
        Value::Stream(st) => {
            xor(&mut acc, &of(&[b"stream"]));
            for (id, fields) in &st.entries {
                xor(&mut acc, &of(&[&id.to_bytes()]));
                for (f, v) in fields {
                    xor(&mut acc, &of(&[f, v]));
                }
            }
        }
    }
    acc
}

/// Digest of every key, value and expire time in every database; all zeros when empty.
pub fn dataset(ks: &Keyspace) -> Digest {
    let mut acc = [0u8; 20];
    for (i, db) in ks.dbs().iter().enumerate() {
        for s in 0..db.nshards() {
            let shard = db.lock_shard(s);
            for (k, e) in shard.iter() {
                let vd = value(&e.value);
                xor(
                    &mut acc,
                    &of(&[
                        &(i as u64).to_le_bytes(),
                        k,
                        &vd,
                        &e.expire_at.to_le_bytes(),
                    ]),
                );
            }
        }
    }
    acc
}

pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
