//! The transaction gate, used only with several I/O threads: every command holds its own
//! thread's stripe for reading, and EXEC holds all stripes for writing, so no other client
//! runs anything while a transaction applies (Redis gets this from being single-threaded).
//!
//! Striped so that the read side costs an uncontended lock on the thread's own cache line; with
//! one I/O thread (the default) commands already run one at a time and the gate is not built.

use std::time::Duration;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::metrics::striped;

#[repr(align(128))]
#[derive(Debug, Default)]
struct Stripe(RwLock<()>);

#[derive(Debug, Default)]
pub struct Gate {
    stripes: [Stripe; striped::STRIPES],
}

impl Gate {
    /// Held by an ordinary command while it runs.
    #[inline]
    pub fn enter(&self) -> RwLockReadGuard<'_, ()> {
        self.stripes[striped::stripe()].0.read()
    }

    /// Held by EXEC: waits for running commands to finish and keeps new ones out.
    pub fn exclusive(&self) -> Vec<RwLockWriteGuard<'_, ()>> {
        self.stripes.iter().map(|s| s.0.write()).collect()
    }

    /// `enter`, unless `stop` turns true while it waits (a script holding the gate became
    /// busy: the command is answered without running rather than block its I/O thread).
    pub fn enter_unless(&self, stop: impl Fn() -> bool) -> Option<RwLockReadGuard<'_, ()>> {
        let stripe = &self.stripes[striped::stripe()].0;
        if let Some(g) = stripe.try_read() {
            return Some(g);
        }
        wait_unless(|t| stripe.try_read_for(t), stop)
    }

    /// `exclusive`, unless `stop` turns true while it waits (the stripes taken are let go).
    pub fn exclusive_unless(
        &self,
        stop: impl Fn() -> bool,
    ) -> Option<Vec<RwLockWriteGuard<'_, ()>>> {
        let mut held = Vec::with_capacity(self.stripes.len());
        for s in &self.stripes {
            held.push(wait_unless(|t| s.0.try_write_for(t), &stop)?);
        }
        Some(held)
    }
}

/// Tries `take` in short waits until it succeeds, or until `stop` says to give up.
pub fn wait_unless<G>(take: impl Fn(Duration) -> Option<G>, stop: impl Fn() -> bool) -> Option<G> {
    loop {
        if let Some(g) = take(Duration::from_millis(2)) {
            return Some(g);
        }
        if stop() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_waits_for_readers() {
        let gate = std::sync::Arc::new(Gate::default());
        let r = gate.enter();
        let g2 = gate.clone();
        let t = std::thread::spawn(move || {
            let _all = g2.exclusive();
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!t.is_finished(), "EXEC must wait for a running command");
        drop(r);
        t.join().unwrap();
    }
}
