//! MONITOR's state: the clients that receive every command run (`command::monitor` formats
//! and feeds them).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::ClientHandle;

#[derive(Default)]
pub struct Monitors {
    pub list: Mutex<Vec<Arc<ClientHandle>>>,
    pub count: AtomicUsize,
}

impl Monitors {
    pub fn remove(&self, id: u64) {
        let mut list = self.list.lock();
        list.retain(|h| h.id != id);
        self.count.store(list.len(), Ordering::Relaxed);
    }

    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }
}
