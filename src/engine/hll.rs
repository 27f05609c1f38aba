//! HyperLogLog in Redis's own byte format, so a value moved between Redis and ferrocache (DUMP
//! and RESTORE, RDB) counts the same: a 16-byte header ("HYLL", encoding, cached cardinality)
//! then either 16384 six-bit registers (dense, 12288 bytes) or the sparse run-length opcodes
//! ZERO (00xxxxxx), XZERO (01xxxxxx xxxxxxxx) and VAL (1vvvvvxx). Element hashing (MurmurHash64A
//! with Redis's seed), the sparse update and merge rules and the cardinality estimator
//! (Ertl's, as Redis 5+ uses) are ported so every byte and every count matches.

pub const HDR: usize = 16;
const P: u32 = 14;
const Q: u32 = 64 - P;
pub const REGISTERS: usize = 1 << P;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// A corrupted sparse representation.
#[derive(Debug)]
pub struct Invalid;

fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate() {
            h ^= (*b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and its run length of zeroes plus one.
fn pattern(ele: &[u8]) -> (usize, u8) {
    let mut hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash as usize) & (REGISTERS - 1);
    hash >>= P;
    hash |= 1u64 << Q;
    (index, hash.trailing_zeros() as u8 + 1)
}

pub fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}
pub fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}
fn zero_len(b: u8) -> usize {
    (b & 0x3f) as usize + 1
}
fn xzero_len(b0: u8, b1: u8) -> usize {
    ((((b0 & 0x3f) as usize) << 8) | b1 as usize) + 1
}
fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}
fn val_len(b: u8) -> usize {
    (b & 0x3) as usize + 1
}
fn val(v: u8, len: usize) -> u8 {
    (((v - 1) << 2) | (len as u8 - 1)) | 0x80
}
fn zero(len: usize) -> u8 {
    (len - 1) as u8
}
fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [((l >> 8) as u8) | 0x40, (l & 0xff) as u8]
}

/// A new empty HyperLogLog: sparse, every register zero.
pub fn new() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2 * REGISTERS.div_ceil(XZERO_MAX_LEN));
    v.extend_from_slice(b"HYLL");
    v.extend_from_slice(&[SPARSE, 0, 0, 0]);
    v.extend_from_slice(&[0; 8]);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        v.extend_from_slice(&xzero(n));
        left -= n;
    }
    v
}

/// True if `v` has a valid header (Redis's isHLLObjectOrReply).
pub fn valid(v: &[u8]) -> bool {
    v.len() >= HDR
        && &v[..4] == b"HYLL"
        && v[4] <= SPARSE
        && (v[4] != DENSE || v.len() == DENSE_SIZE)
}

pub fn encoding(v: &[u8]) -> u8 {
    v[4]
}

pub fn invalidate_cache(v: &mut [u8]) {
    v[15] |= 0x80;
}

/// The cached cardinality, if valid.
pub fn cached(v: &[u8]) -> Option<u64> {
    (v[15] & 0x80 == 0).then(|| u64::from_le_bytes(v[8..16].try_into().expect("8 bytes")))
}

pub fn set_cache(v: &mut [u8], card: u64) {
    v[8..16].copy_from_slice(&card.to_le_bytes());
}

pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = regs[byte] as u16;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u16) as u8
}

fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = v as u16;
    regs[byte] &= !((REGISTER_MAX as u16) << fb) as u8;
    regs[byte] |= (v << fb) as u8;
    if byte + 1 < regs.len() {
        regs[byte + 1] &= !((REGISTER_MAX as u16) >> (8 - fb)) as u8;
        regs[byte + 1] |= (v >> (8 - fb)) as u8;
    }
}

fn dense_update(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_set(regs, i, count);
        true
    } else {
        false
    }
}

/// Converts a sparse HyperLogLog to dense in place.
pub fn to_dense(v: &mut Vec<u8>) -> Result<(), Invalid> {
    if encoding(v) == DENSE {
        return Ok(());
    }
    let mut d = vec![0u8; DENSE_SIZE];
    d[..HDR].copy_from_slice(&v[..HDR]);
    d[4] = DENSE;
    let mut idx = 0;
    let mut p = HDR;
    while p < v.len() {
        let b = v[p];
        if is_zero(b) {
            idx += zero_len(b);
            p += 1;
        } else if is_xzero(b) {
            idx += xzero_len(b, *v.get(p + 1).ok_or(Invalid)?);
            p += 2;
        } else {
            let (run, value) = (val_len(b), val_value(b));
            if run + idx > REGISTERS {
                break;
            }
            for _ in 0..run {
                dense_set(&mut d[HDR..], idx, value);
                idx += 1;
            }
            p += 1;
        }
    }
    if idx != REGISTERS {
        return Err(Invalid);
    }
    *v = d;
    Ok(())
}

/// Sets register `index` to `count` if larger (Redis's hllSparseSet, byte for byte), promoting
/// to dense past `sparse_max` bytes or for counts the sparse form cannot hold.
fn sparse_set(
    v: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, Invalid> {
    if count > VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    let end = v.len();
    let (mut p, mut first, mut span) = (HDR, 0usize, 0usize);
    let mut prev: Option<usize> = None;
    while p < end {
        let b = v[p];
        let oplen;
        if is_zero(b) {
            span = zero_len(b);
            oplen = 1;
        } else if is_xzero(b) {
            span = xzero_len(b, *v.get(p + 1).ok_or(Invalid)?);
            oplen = 2;
        } else {
            span = val_len(b);
            oplen = 1;
        }
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Invalid);
    }
    let b = v[p];
    let (is_val, is_z, is_xz) = (!is_zero(b) && !is_xzero(b), is_zero(b), is_xzero(b));
    let runlen = if is_z {
        zero_len(b)
    } else if is_xz {
        xzero_len(b, v[p + 1])
    } else {
        val_len(b)
    };
    let mut updated_in_place = false;
    if is_val {
        if val_value(b) >= count {
            return Ok(false);
        }
        if runlen == 1 {
            v[p] = val(count, 1);
            updated_in_place = true;
        }
    }
    if !updated_in_place && is_z && runlen == 1 {
        v[p] = val(count, 1);
        updated_in_place = true;
    }
    if !updated_in_place {
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        let last = first + span - 1;
        let push_zeros = |seq: &mut Vec<u8>, len: usize| {
            if len > ZERO_MAX_LEN {
                seq.extend_from_slice(&xzero(len));
            } else {
                seq.push(zero(len));
            }
        };
        if is_z || is_xz {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        } else {
            let cur = val_value(b);
            if index != first {
                seq.push(val(cur, index - first));
            }
            seq.push(val(count, 1));
            if index != last {
                seq.push(val(cur, last - index));
            }
        }
        let oldlen = if is_xz { 2 } else { 1 };
        if seq.len() > oldlen && v.len() + seq.len() - oldlen > sparse_max {
            return promote(v, index, count);
        }
        v.splice(p..p + oldlen, seq);
    }
    // Merge adjacent VAL opcodes of equal value, scanning a few opcodes from `prev`.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < v.len() && scan > 0 {
        scan -= 1;
        let b = v[p];
        if is_xzero(b) {
            p += 2;
            continue;
        } else if is_zero(b) {
            p += 1;
            continue;
        }
        if p + 1 < v.len() && !is_zero(v[p + 1]) && !is_xzero(v[p + 1]) {
            let (v1, v2) = (val_value(b), val_value(v[p + 1]));
            if v1 == v2 {
                let len = val_len(b) + val_len(v[p + 1]);
                if len <= VAL_MAX_LEN {
                    v[p + 1] = val(v1, len);
                    v.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate_cache(v);
    Ok(true)
}

fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Invalid> {
    to_dense(v)?;
    let changed = dense_update(&mut v[HDR..], index, count);
    debug_assert!(changed);
    Ok(changed)
}

/// Sets register `index` to at least `count`; true if it changed.
pub fn set_register(
    v: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, Invalid> {
    match encoding(v) {
        DENSE => Ok(dense_update(&mut v[HDR..], index, count)),
        _ => sparse_set(v, index, count, sparse_max),
    }
}

/// Adds an element; true if a register changed.
pub fn add(v: &mut Vec<u8>, ele: &[u8], sparse_max: usize) -> Result<bool, Invalid> {
    let (index, count) = pattern(ele);
    set_register(v, index, count, sparse_max)
}

/// Raises `max[i]` to each register of `v` (PFMERGE, PFCOUNT of several keys).
pub fn merge_into(max: &mut [u8], v: &[u8]) -> Result<(), Invalid> {
    if encoding(v) == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(&v[HDR..], i));
        }
        return Ok(());
    }
    let (mut p, mut i) = (HDR, 0usize);
    while p < v.len() {
        let b = v[p];
        if is_zero(b) {
            i += zero_len(b);
            p += 1;
        } else if is_xzero(b) {
            i += xzero_len(b, *v.get(p + 1).ok_or(Invalid)?);
            p += 2;
        } else {
            let (run, value) = (val_len(b), val_value(b));
            if run + i > REGISTERS {
                break;
            }
            for m in &mut max[i..i + run] {
                *m = (*m).max(value);
            }
            i += run;
            p += 1;
        }
    }
    if i != REGISTERS {
        return Err(Invalid);
    }
    Ok(())
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let zp = z;
        z += x * y;
        y += y;
        if zp == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let zp = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if zp == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate from a histogram of register values.
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// Counts a HyperLogLog value.
pub fn count(v: &[u8]) -> Result<u64, Invalid> {
    let mut histo = [0u32; 64];
    if encoding(v) == DENSE {
        for i in 0..REGISTERS {
            histo[dense_get(&v[HDR..], i) as usize] += 1;
        }
    } else {
        let (mut p, mut idx) = (HDR, 0usize);
        while p < v.len() {
            let b = v[p];
            if is_zero(b) {
                let n = zero_len(b);
                idx += n;
                histo[0] += n as u32;
                p += 1;
            } else if is_xzero(b) {
                let n = xzero_len(b, *v.get(p + 1).ok_or(Invalid)?);
                idx += n;
                histo[0] += n as u32;
                p += 2;
            } else {
                let n = val_len(b);
                idx += n;
                histo[val_value(b) as usize] += n as u32;
                p += 1;
            }
        }
        if idx != REGISTERS {
            return Err(Invalid);
        }
    }
    Ok(estimate(&histo))
}

/// Counts registers given as one byte each (the merge of several keys).
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for r in regs {
        histo[*r as usize] += 1;
    }
    estimate(&histo)
}

/// PFDEBUG DECODE's listing of the sparse opcodes.
pub fn decode_sparse(v: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HDR;
    while p < v.len() {
        let b = v[p];
        if is_zero(b) {
            out.push(format!("z:{}", zero_len(b)));
            p += 1;
        } else if is_xzero(b) {
            out.push(format!(
                "Z:{}",
                xzero_len(b, v.get(p + 1).copied().unwrap_or(0))
            ));
            p += 2;
        } else {
            out.push(format!("v:{},{}", val_value(b), val_len(b)));
            p += 1;
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_close_and_sparse_matches_dense() {
        let mut sparse = new();
        for i in 0..1000 {
            add(&mut sparse, format!("e{i}").as_bytes(), usize::MAX).unwrap();
        }
        assert_eq!(encoding(&sparse), SPARSE);
        let c = count(&sparse).unwrap();
        assert!((980..=1020).contains(&c), "{c}");
        let mut dense = sparse.clone();
        to_dense(&mut dense).unwrap();
        assert_eq!(count(&dense).unwrap(), c);
        let mut regs = vec![0u8; REGISTERS];
        merge_into(&mut regs, &sparse).unwrap();
        assert_eq!(count_registers(&regs), c);
        let mut again = vec![0u8; REGISTERS];
        merge_into(&mut again, &dense).unwrap();
        assert_eq!(regs, again);
    }
}
