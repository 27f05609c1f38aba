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

/// The smallest value a bucket holds.
fn lower(b: usize) -> u64 {
    if b == 0 {
        0
    } else {
        upper(b - 1) + 1
    }
}

/// A distribution as at most `max` values that CloudWatch can take as the samples of a
/// metric (EMF allows 100 per metric): every observation's bucket midpoint when there are
/// few, else the midpoints at `max` evenly spaced ranks, so that the percentiles CloudWatch
/// computes from them are the histogram's.
pub fn samples(counts: &[u64; BUCKETS], max: usize) -> Vec<f64> {
    let mid = |b: usize| (lower(b) + upper(b)) as f64 / 2.0;
    let total: u64 = counts.iter().sum();
    if total == 0 || max == 0 {
        return Vec::new();
    }
    if total <= max as u64 {
        return counts
            .iter()
            .enumerate()
            .flat_map(|(b, &n)| std::iter::repeat_n(mid(b), n as usize))
            .collect();
    }
    let (mut out, mut seen, mut b) = (Vec::with_capacity(max), 0u64, 0usize);
    for i in 0..max {
        // The rank at the middle of the i-th of `max` equal slices.
        let rank = ((i as f64 + 0.5) / max as f64 * total as f64).ceil() as u64;
        while seen + counts[b] < rank {
            seen += counts[b];
            b += 1;
        }
        out.push(mid(b));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_follow_the_distribution() {
        let mut c = [0u64; BUCKETS];
        c[bucket(10)] = 3;
        c[bucket(1000)] = 1;
        // Few observations: one sample each.
        let s = samples(&c, 100);
        assert_eq!(s.len(), 4);
        assert!(s[..3].iter().all(|&v| (10.0..=11.0).contains(&v)), "{s:?}");
        assert!((896.0..=1023.0).contains(&s[3]), "{s:?}");
        // Many: 100 samples in the same proportions (90% at ~10 µs, 10% at ~1 ms).
        c[bucket(10)] = 9000;
        c[bucket(1000)] = 1000;
        let s = samples(&c, 100);
        assert_eq!(s.len(), 100);
        assert_eq!(s.iter().filter(|&&v| v < 100.0).count(), 90);
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
    }

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
