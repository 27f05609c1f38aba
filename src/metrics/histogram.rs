//! Per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM): log-linear buckets,
//! four per power of two, so a percentile is read to within 25%. Recording is one bucket
//! index computation and one add into this thread's stripe.

use super::striped::Striped;

/// Values 0..4 exactly, then 4 buckets per power of two up to 2^32 µs (the last holds more).
pub const BUCKETS: usize = 4 + 30 * 4;

pub type Histogram = Striped<BUCKETS>;

#[inline]
pub fn bucket(usec: u64) -> usize {
    if usec < 4 {
        return usec as usize;
    }
    let e = 63 - usec.leading_zeros() as usize; // 2 and up
    let sub = ((usec >> (e - 2)) & 3) as usize;
    (4 + (e - 2) * 4 + sub).min(BUCKETS - 1)
}

/// The largest value a bucket holds.
pub fn upper(b: usize) -> u64 {
    if b < 4 {
        return b as u64;
    }
    let e = (b - 4) / 4 + 2;
    let sub = ((b - 4) % 4) as u64;
    ((4 + sub) << (e - 2)) + (1u64 << (e - 2)) - 1
}

/// Counts per bucket, summed over the stripes.
pub fn counts(h: &Histogram) -> [u64; BUCKETS] {
    std::array::from_fn(|b| h.get(b))
}

/// The value at percentile `p` (0-100): the upper bound of the bucket that reaches it.
pub fn percentile(counts: &[u64; BUCKETS], p: f64) -> u64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (b, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return upper(b);
        }
    }
    upper(BUCKETS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order() {
        let mut last = 0;
        for v in [
            0u64,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            15,
            16,
            100,
            1000,
            123_456,
            1 << 31,
        ] {
            let b = bucket(v);
            assert!(b >= last, "{v}");
            assert!(upper(b) >= v, "{v} above its bucket's bound {}", upper(b));
            if b > 0 {
                assert!(upper(b - 1) < v, "{v} fits the bucket below");
            }
            last = b;
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_within_a_quarter() {
        let h = Histogram::default();
        for v in 1..=1000u64 {
            h.add(bucket(v), 1);
        }
        let c = counts(&h);
        let p50 = percentile(&c, 50.0);
        assert!((500..=625).contains(&p50), "{p50}");
        let p99 = percentile(&c, 99.0);
        assert!((990..=1279).contains(&p99), "{p99}");
        assert_eq!(percentile(&[0; BUCKETS], 50.0), 0);
    }
}
