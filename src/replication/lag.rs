//! How far behind its primary a replica is while the link works (`ReplicationLag`): neither
//! Redis's replication stream nor ours carries the primary's clock, so a thread asks the
//! primary for its `master_repl_offset` four times a second on a connection of its own and
//! keeps (offset, time) samples. The lag is the time since the primary first held a byte the
//! replica has not applied yet (0 when it has applied everything the primary had).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::server::Server;

/// Samples older than this are dropped (a replica further behind reports at least this).
const KEEP_MS: u64 = 300_000;
const EVERY: Duration = Duration::from_millis(250);

/// The primary's offsets, as sampled: (master_repl_offset, ms since the epoch), oldest first.
#[derive(Debug, Default)]
pub struct Samples(Mutex<VecDeque<(u64, u64)>>);

impl Samples {
    fn push(&self, offset: u64, at_ms: u64) {
        let mut s = self.0.lock();
        if s.back().is_none_or(|&(o, _)| offset > o) {
            s.push_back((offset, at_ms));
        }
        while s
            .front()
            .is_some_and(|&(_, t)| at_ms.saturating_sub(t) > KEEP_MS)
        {
            s.pop_front();
        }
    }

    pub fn clear(&self) {
        self.0.lock().clear();
    }

    /// Milliseconds since the primary first held more than `applied` bytes (0 if it never
    /// did, as far as sampled).
    pub fn lag_ms(&self, applied: u64, now_ms: u64) -> u64 {
        self.0
            .lock()
            .iter()
            .find(|&&(o, _)| o > applied)
            .map_or(0, |&(_, t)| now_ms.saturating_sub(t))
    }
}

/// Starts the probe thread: idle on a primary, sampling while this server is a replica.
pub fn start(server: Arc<Server>) {
    std::thread::Builder::new()
        .name("repl-lag".into())
        .spawn(move || {
            let mut conn: Option<(String, u16, TcpStream)> = None;
            while !server.shutting_down() {
                std::thread::sleep(EVERY);
                let target = server.replication.upstream.target.borrow().clone();
                let Some((host, port)) = target else {
                    conn = None;
                    continue;
                };
                if conn
                    .as_ref()
                    .is_none_or(|(h, p, _)| *h != host || *p != port)
                {
                    server.replication.upstream.samples.clear();
                    conn = connect(&server, &host, port).map(|s| (host.clone(), port, s));
                }
                let Some((_, _, stream)) = conn.as_mut() else {
                    continue;
                };
                match primary_offset(stream) {
                    Some(o) => server
                        .replication
                        .upstream
                        .samples
                        .push(o, crate::engine::now_ms()),
                    None => conn = None,
                }
            }
        })
        .expect("spawn repl-lag thread");
}

fn connect(server: &Server, host: &str, port: u16) -> Option<TcpStream> {
    let mut s = TcpStream::connect((host, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.set_nodelay(true).ok();
    let pass = server.config.masterauth.get();
    if !pass.is_empty() {
        let user = server.config.masteruser.get();
        let mut auth: Vec<&[u8]> = vec![b"AUTH"];
        if !user.is_empty() {
            auth.push(user.as_bytes());
        }
        auth.push(pass.as_bytes());
        let mut v = Vec::new();
        crate::journal::encode(&mut v, &auth);
        s.write_all(&v).ok()?;
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).ok()?;
        if !line.starts_with('+') {
            return None;
        }
    }
    Some(s)
}

/// Asks for INFO replication and reads master_repl_offset.
fn primary_offset(stream: &mut TcpStream) -> Option<u64> {
    stream
        .write_all(b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n")
        .ok()?;
    let mut reader = BufReader::new(&*stream);
    let mut head = String::new();
    reader.read_line(&mut head).ok()?;
    let len: usize = head.trim_end().strip_prefix('$')?.parse().ok()?;
    let mut body = vec![0u8; len + 2];
    reader.read_exact(&mut body).ok()?;
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_from_the_first_byte_not_applied() {
        let s = Samples::default();
        s.push(100, 1_000);
        s.push(100, 1_250); // no change: not a new sample
        s.push(180, 1_500);
        s.push(260, 1_750);
        assert_eq!(s.lag_ms(260, 2_000), 0);
        assert_eq!(s.lag_ms(200, 2_000), 250); // 260 arrived at 1750
        assert_eq!(s.lag_ms(150, 2_000), 500); // 180 arrived at 1500
        assert_eq!(s.lag_ms(0, 2_000), 1_000);
    }
}
