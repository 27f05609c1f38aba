//! Counters striped by thread: each thread adds to its own cache line and readers sum the
//! stripes, so hot counters (per-command calls and time) never bounce a cache line between cores.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub const STRIPES: usize = 8;

#[repr(align(64))]
#[derive(Debug)]
struct Slot<const F: usize>([AtomicU64; F]);

/// `F` counters, each striped `STRIPES` ways.
#[derive(Debug)]
pub struct Striped<const F: usize> {
    slots: [Slot<F>; STRIPES],
}

impl<const F: usize> Default for Striped<F> {
    fn default() -> Self {
        Striped {
            slots: std::array::from_fn(|_| Slot(std::array::from_fn(|_| AtomicU64::new(0)))),
        }
    }
}

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
}

/// This thread's stripe index.
#[inline]
pub fn stripe() -> usize {
    STRIPE.with(|s| *s)
}

impl<const F: usize> Striped<F> {
    #[inline]
    pub fn add(&self, field: usize, n: u64) {
        let s = STRIPE.with(|s| *s);
        self.slots[s].0[field].fetch_add(n, Ordering::Relaxed);
    }

    /// Takes `n` off a counter (its stripes may then wrap; their sum does not).
    pub fn sub(&self, field: usize, n: u64) {
        self.add(field, n.wrapping_neg());
    }

    pub fn get(&self, field: usize) -> u64 {
        self.slots
            .iter()
            .map(|s| s.0[field].load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    pub fn reset(&self) {
        for s in &self.slots {
            for c in &s.0 {
                c.store(0, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_across_threads() {
        let c: Striped<2> = Striped::default();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.add(0, 1);
                        c.add(1, 2);
                    }
                });
            }
        });
        assert_eq!(c.get(0), 4000);
        assert_eq!(c.get(1), 8000);
        c.reset();
        assert_eq!(c.get(1), 0);
    }
}
