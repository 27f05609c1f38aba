//! The transaction gate, used only with several I/O threads: every command holds its own
//! thread's stripe for reading, and EXEC holds all stripes for writing, so no other client
//! runs anything while a transaction applies (Redis gets this from being single-threaded).
//!
//! Striped so that the read side costs an uncontended lock on the thread's own cache line; with
//! one I/O thread (the default) commands already run one at a time and the gate is not built.

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
