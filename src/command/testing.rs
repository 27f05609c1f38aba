//! In-process command runs for unit tests: a server's shared state with no listener and no
//! socket, clients as plain values, and each request run through the real dispatcher. For the
//! tests where a spawned binary is overkill.

use std::sync::Arc;

use super::{execute, Ctx};
use crate::clients::{Client, ClientHandle};
use crate::config::Config;
use crate::protocol::Reply;
use crate::server::Server;

/// A server with no listener.
pub struct Harness {
    pub server: Arc<Server>,
    // Its clients' WATCHes count in process-wide interests (see `serial_interests`).
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            _serial: crate::engine::effects::serial_interests(),
            server: Server::new(Config::defaults(), None),
        }
    }

    /// A new client (registered, as a connection would be).
    pub fn client(&self) -> Client {
        let id = self.server.new_client_id();
        let handle = Arc::new(ClientHandle::new(
            id,
            format!("127.0.0.1:{id}"),
            "127.0.0.1:6379".into(),
            -1,
            false,
        ));
        self.server.clients.add(handle.clone());
        Client::new(handle, Some(self.server.acl.default_user()), true)
    }

    /// Runs one request (words split on spaces) as `client`; returns its reply as RESP text.
    pub fn run(&self, client: &mut Client, line: &str) -> String {
        let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let mut out = Reply::new();
        out.resp3 = client
            .handle
            .resp
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 3;
        let mut ctx = Ctx {
            server: &self.server,
            client,
            out: &mut out,
            now: crate::engine::now_ms(),
            started: crate::engine::mono_us(),
        };
        execute(&mut ctx, &argv);
        String::from_utf8_lossy(&out.buf).into_owned()
    }

    /// INFO's rdb_changes_since_last_save (the dirty counter).
    pub fn dirty(&self) -> u64 {
        self.server.stats.dirty.get(0)
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}
