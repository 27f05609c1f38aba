//! A replica's connection once PSYNC has been answered: it carries the journal's stream to
//! the replica and reads its `REPLCONF ACK`s, until either side ends it.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Link;
use crate::protocol::parser::{Parsed, Parser};
use crate::server::Server;

/// Serves the link until the replica leaves, is killed, stops acknowledging for
/// `repl-timeout` seconds, or falls further behind than its output limit.
pub async fn run<S, F>(
    server: &Server,
    stream: &mut S,
    rbuf: &mut BytesMut,
    parser: &mut Parser,
    link: Arc<Link>,
    stop: &mut F,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = ()> + Unpin,
{
    let result = serve(server, stream, rbuf, parser, &link, stop).await;
    super::detach(server, &link);
    tracing::info!("Connection with replica {}:{} lost.", link.ip, link.port);
    result
}

async fn serve<S, F>(
    server: &Server,
    stream: &mut S,
    rbuf: &mut BytesMut,
    parser: &mut Parser,
    link: &Link,
    stop: &mut F,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = ()> + Unpin,
{
    if !link.online.load(Ordering::Relaxed)
        && !send_snapshot(server, stream, rbuf, parser, link, stop).await?
    {
        return Ok(());
    }
    link.online.store(true, Ordering::Relaxed);
    // The replica's silence is counted from when it is online, not from its PSYNC.
    link.ack_at_ms
        .store(crate::engine::now_ms(), Ordering::Relaxed);
    tracing::info!(
        "Synchronization with replica {}:{} succeeded",
        link.ip,
        link.port
    );
    let mut out = Vec::new();
    loop {
        read_acks(link, rbuf, parser);
        link.feed.take(&mut out);
        if link.feed.closed.load(Ordering::Relaxed) {
            tracing::warn!(
                "Client id={} (replica {}:{}) closed for overcoming of output buffer limits.",
                link.client,
                link.ip,
                link.port
            );
            server
                .stats
                .output_buffer_limit_disconnections
                .fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            server
                .replication
                .output_bytes
                .fetch_add(out.len() as u64, Ordering::Relaxed);
            // Under a steady stream this loop may never wait: take the ACKs that arrived.
            tokio::select! {
                biased;
                r = stream.read_buf(rbuf) => {
                    if r? == 0 {
                        return Ok(());
                    }
                }
                _ = std::future::ready(()) => {}
            }
            continue;
        }
        let timeout = server.config.repl_timeout.get().max(1) as u64;
        let silent_ms =
            crate::engine::now_ms().saturating_sub(link.ack_at_ms.load(Ordering::Relaxed));
        if silent_ms > timeout * 1000 {
            tracing::warn!("Disconnecting timedout replica: {}:{}", link.ip, link.port);
            return Ok(());
        }
        tokio::select! {
            _ = link.feed.ready.notified() => {}
            r = stream.read_buf(rbuf) => {
                if r? == 0 {
                    return Ok(());
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = &mut *stop => return Ok(()),
        }
    }
}

/// Writes a full resync (`+FULLRESYNC`, then the snapshot) as the background save produces
/// it. False if the save failed, the replica left or the server stops.
async fn send_snapshot<S, F>(
    server: &Server,
    stream: &mut S,
    rbuf: &mut BytesMut,
    parser: &mut Parser,
    link: &Link,
    stop: &mut F,
) -> std::io::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = ()> + Unpin,
{
    let mut out = Vec::new();
    let mut sent = false;
    loop {
        // Read before taking: whatever was added before `done` is in this take.
        let done = link.rdb.done.load(Ordering::Acquire);
        link.rdb.take(&mut out);
        if !out.is_empty() {
            stream.write_all(&out).await?;
            server
                .replication
                .output_bytes
                .fetch_add(out.len() as u64, Ordering::Relaxed);
            continue;
        }
        if done {
            if !link.streamed.load(Ordering::Relaxed) || link.acked.load(Ordering::Relaxed) {
                return Ok(true);
            }
            // Streamed: the replica finds the end mark only if nothing follows it until it
            // has loaded the snapshot and acknowledged it (its silence counts from the end
            // of the snapshot; it sends newlines while it loads).
            if !std::mem::replace(&mut sent, true) {
                link.ack_at_ms
                    .store(crate::engine::now_ms(), Ordering::Relaxed);
            }
            let timeout = server.config.repl_timeout.get().max(1) as u64 * 1000;
            let silent =
                crate::engine::now_ms().saturating_sub(link.ack_at_ms.load(Ordering::Relaxed));
            if silent > timeout {
                tracing::warn!("Disconnecting timedout replica: {}:{}", link.ip, link.port);
                return Ok(false);
            }
        }
        if link.rdb.closed.load(Ordering::Relaxed) {
            return Ok(false);
        }
        tokio::select! {
            _ = link.rdb.ready.notified() => {}
            r = stream.read_buf(rbuf) => {
                if r? == 0 {
                    return Ok(false);
                }
                read_acks(link, rbuf, parser);
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = &mut *stop => return Ok(false),
        }
    }
}

/// Takes the replica's `REPLCONF ACK <offset>` messages out of `rbuf` (anything else it sends
/// is ignored, as Redis ignores replies from a replica).
fn read_acks(link: &Link, rbuf: &mut BytesMut, parser: &mut Parser) {
    let mut pos = 0;
    loop {
        let (end, source) = match parser.parse(rbuf, pos) {
            Ok(Parsed::Request { end, source }) => (end, source),
            // A bare newline: the keep-alive a replica sends while it loads the snapshot.
            Ok(Parsed::Empty { end }) => {
                link.ack_at_ms
                    .store(crate::engine::now_ms(), Ordering::Relaxed);
                pos = end;
                continue;
            }
            Ok(Parsed::Incomplete) => break,
            Err(_) => {
                // Not RESP: nothing of it can be an ACK.
                pos = rbuf.len();
                parser.reset();
                break;
            }
        };
        let args: Vec<&[u8]> = parser.argv(rbuf, source).collect();
        if args.len() >= 3
            && args[0].eq_ignore_ascii_case(b"replconf")
            && args[1].eq_ignore_ascii_case(b"ack")
        {
            if let Some(off) = crate::num::parse_i64(args[2]) {
                tracing::debug!("ack {off} from replica {}", link.client);
                link.ack.fetch_max(off.max(0) as u64, Ordering::Relaxed);
                link.acked.store(true, Ordering::Relaxed);
                link.ack_at_ms
                    .store(crate::engine::now_ms(), Ordering::Relaxed);
            }
        }
        pos = end;
    }
    rbuf.advance(pos);
    parser.shift(pos);
}
