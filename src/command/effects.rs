//! What follows from a command's reported effects (`engine::effects`), derived in one place
//! and in the order reported: WATCHers of a changed key are told, tracking clients get their
//! invalidation, clients blocked on it are woken, keyspace events are published. The dirty
//! counter and the journal are settled by the dispatcher (`run`), which knows the command.

use crate::engine::effects::{self, Change};
use crate::server::Server;

/// Derives the consequences of the changes reported on this thread since the last call.
/// `by` is the client whose command made them (0: the server itself), for NOLOOP tracking.
pub fn apply(server: &Server, by: u64) {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<Change>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    if !effects::pending_changes() {
        return;
    }
    SCRATCH.with(|s| {
        let mut changes = s.take();
        effects::take_changes(&mut changes);
        // Emptying several databases at once (FLUSHALL) is one message to tracking clients.
        let mut told_flush = false;
        for c in changes.drain(..) {
            match c {
                Change::Key { db, key, by_server } => {
                    server.watches.touch(db, &key, server.keyspace.db(db));
                    if server.tracking.active() {
                        super::tracking::invalidate(server, &key, if by_server { 0 } else { by });
                    }
                    server.blocking.signal(db, &key);
                }
                Change::Db { db, flush } => {
                    server.watches.touch_db(db, server.keyspace.db(db));
                    // A flush tells every tracking client to drop everything (a swap does
                    // not, as in Redis).
                    if flush && !told_flush && server.tracking.active() {
                        super::tracking::invalidate_all(server);
                        told_flush = true;
                    }
                    server.blocking.signal_db(db);
                }
                Change::Ready { db, key } => server.blocking.signal(db, &key),
                Change::Event {
                    db,
                    class,
                    name,
                    key,
                } => server.publish_event(class, name, &key, db),
            }
        }
        s.replace(changes);
    });
}
