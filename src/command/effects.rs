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
                Change::Key {
                    db,
                    key,
                    by_server,
                    gone,
                } => {
                    server.clients.watches.touch(db, &key, gone);
                    if server.clients.tracking.active() {
                        crate::clients::tracking::invalidate(
                            &server.clients,
                            &key,
                            if by_server { 0 } else { by },
                        );
                    }
                    server.clients.blocking.signal(db, &key);
                }
                Change::Db { db, flush } => {
                    server.clients.watches.touch_db(db, server.keyspace.db(db));
                    // A flush tells every tracking client to drop everything (a swap does
                    // not, as in Redis).
                    if flush && !told_flush && server.clients.tracking.active() {
                        crate::clients::tracking::invalidate_all(&server.clients);
                        told_flush = true;
                    }
                    server.clients.blocking.signal_db(db);
                }
                Change::Ready { db, key } => server.clients.blocking.signal(db, &key),
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

#[cfg(test)]
mod tests {
    use crate::command::testing::Harness;

    /// A write that changes nothing reports nothing: another client's WATCH survives it and
    /// nothing is counted; a write that changes something is counted as Redis counts it.
    #[test]
    fn nothing_changed_is_nothing_reported() {
        let h = Harness::new();
        let (mut a, mut b) = (h.client(), h.client());
        h.run(&mut a, "HSET h f v");
        h.run(&mut a, "RPUSH l x");
        assert_eq!(h.run(&mut b, "WATCH h nokey z l"), "+OK\r\n");
        let before = h.dirty();
        for noop in [
            "HDEL h nofield",
            "DEL nokey",
            "ZREM z nomember",
            "SREM nokey m",
            "LPOP nokey",
            "SET h v NX",
            "EXPIRE nokey 10",
            "PERSIST h",
        ] {
            h.run(&mut a, noop);
        }
        assert_eq!(h.dirty(), before);
        assert_eq!(h.run(&mut b, "MULTI"), "+OK\r\n");
        h.run(&mut b, "PING");
        assert_eq!(h.run(&mut b, "EXEC"), "*1\r\n+PONG\r\n");
        // Changes count per element, as in Redis.
        assert_eq!(h.run(&mut a, "RPUSH l a b c"), ":4\r\n");
        assert_eq!(h.dirty(), before + 3);
        h.run(&mut b, "WATCH l");
        h.run(&mut a, "LTRIM l 0 -1");
        h.run(&mut b, "MULTI");
        // A trim that removes nothing still touches the key (as Redis does), uncounted.
        assert_eq!(h.run(&mut b, "EXEC"), "*-1\r\n");
        assert_eq!(h.dirty(), before + 3);
    }

    /// The journal gets what each write recorded: its arguments, or the record that replays
    /// it (an absolute time for a relative one, the plain pop for a served blocking one).
    #[test]
    fn the_journal_is_fed_from_the_sink() {
        let h = Harness::new();
        h.server.journal.activate(1 << 20);
        let feed = std::sync::Arc::new(crate::journal::Feed::default());
        h.server.journal.lock().subscribe(feed.clone());
        let mut a = h.client();
        h.run(&mut a, "SET k v");
        h.run(&mut a, "SET k v NX");
        h.run(&mut a, "SADD s m");
        h.run(&mut a, "SPOP s");
        let mut got = Vec::new();
        feed.take(&mut got);
        let text = String::from_utf8_lossy(&got).replace("\r\n", " ");
        assert_eq!(
            text,
            "*2 $6 SELECT $1 0 *3 $3 SET $1 k $1 v *3 $4 SADD $1 s $1 m *3 $4 SREM $1 s $1 m "
        );
        // A relative TTL is journaled as the absolute time it ends at.
        got.clear();
        let before = crate::engine::now_ms();
        h.run(&mut a, "SET t v EX 100");
        let after = crate::engine::now_ms();
        feed.take(&mut got);
        let text = String::from_utf8_lossy(&got).replace("\r\n", " ");
        let at = text
            .strip_prefix("*5 $3 SET $1 t $1 v $4 PXAT $13 ")
            .and_then(|t| t.trim_end().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{text}"));
        assert!((before + 100_000..=after + 100_000).contains(&at), "{text}");
    }
}
