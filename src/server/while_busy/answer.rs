//! Answering a connection's requests during a busy time: the commands that may run then do,
//! the others get -BUSY, and those that change the connection's own state are left to its
//! task, with everything after them.

use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Buf;
use smallvec::SmallVec;

use super::{Busy, Conn};
use crate::clients::{Client, ClientHandle};
use crate::command::Ctx;
use crate::protocol::parser::{Limits, Parsed, Parser};
use crate::protocol::Reply;
use crate::server::tls_stream::{Filled, STASH_LIMIT};
use crate::server::{Server, TLS_HANDSHAKE_RECORD};

/// Commands allowed while busy that change the connection's own state: left to its task.
const LEFT_TO_TASK: &[&str] = &[
    "auth", "hello", "multi", "discard", "watch", "unwatch", "quit", "reset", "replconf",
];

/// Where answering a connection's requests stopped.
#[derive(PartialEq, Eq)]
enum Stopped {
    /// Every request was answered.
    Drained,
    /// The last request is not complete yet.
    Incomplete,
    /// At a request left to the task (or one that does not parse): the rest is the task's.
    LeftToTask,
}

/// Answers the complete requests at the front of `buf`, up to one left to the task. `fresh`:
/// a connection accepted during the busy time, which may AUTH here (`redis-cli -a ... SCRIPT
/// KILL`), having no other state yet. Returns the bytes answered.
fn answer(
    server: &Server,
    handle: &Arc<ClientHandle>,
    fresh: bool,
    buf: &[u8],
    out: &mut Reply,
) -> (usize, Stopped) {
    let mut parser = Parser::new(Limits {
        max_bulk_len: server.config.proto_max_bulk_len.u() as usize,
        ..Limits::default()
    });
    out.resp3 = handle.resp.load(Ordering::Relaxed) == 3;
    let mut consumed = 0;
    while consumed < buf.len() {
        match parser.parse(buf, consumed) {
            Ok(Parsed::Empty { end }) => consumed = end,
            Ok(Parsed::Request { end, source }) => {
                let argv: SmallVec<[&[u8]; 8]> = parser.argv(buf, source).collect();
                let name = crate::command::resolve(&server.commands, &argv)
                    .map(|c| c.spec.name)
                    .unwrap_or("");
                if LEFT_TO_TASK.contains(&name) && !(fresh && name == "auth") {
                    return (consumed, Stopped::LeftToTask);
                }
                let authed = handle.authed.load(Ordering::Relaxed) || !server.auth_required();
                let user = handle.user.lock().clone();
                let user = user.unwrap_or_else(|| server.acl.default_user());
                let mut client = Client::new(handle.clone(), Some(user), authed);
                client.db = handle.db.load(Ordering::Relaxed) as usize;
                let now = crate::engine::mono_us();
                let mut ctx = Ctx {
                    server,
                    client: &mut client,
                    out,
                    now: crate::engine::now_ms(),
                    started: now,
                };
                crate::command::execute_while_busy(&mut ctx, &argv);
                server
                    .stats
                    .total_commands_processed
                    .fetch_add(1, Ordering::Relaxed);
                consumed = end;
                if server.shutting_down() {
                    // SHUTDOWN NOSAVE: persistence had its last word.
                    std::process::exit(0);
                }
            }
            Ok(Parsed::Incomplete) => return (consumed, Stopped::Incomplete),
            Err(_) => return (consumed, Stopped::LeftToTask),
        }
    }
    (consumed, Stopped::Drained)
}

/// A plain connection: its complete requests are peeked, answered, then taken off the socket.
pub(super) fn serve_plain(server: &Server, busy: &mut Busy, fd: RawFd) -> bool {
    let Some(Conn::Plain {
        handle,
        outbox,
        sniffing,
    }) = busy.conns.get(&fd)
    else {
        return false;
    };
    // Replies the socket has not taken yet: the task writes them before anything else.
    if outbox.as_ref().is_some_and(|ob| !ob.is_idle()) {
        return false;
    }
    let mut peeked = vec![0u8; 64 * 1024];
    let n = unsafe {
        libc::recv(
            fd,
            peeked.as_mut_ptr().cast(),
            peeked.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n <= 0 {
        return n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock;
    }
    if peeked[0] == TLS_HANDSHAKE_RECORD {
        if let Some(unsniffed) = sniffing.clone() {
            let handle = handle.clone();
            return super::accepted::take_over_tls(server, busy, fd, &handle, &unsniffed);
        }
    }
    let mut out = Reply::new();
    let (consumed, stopped) = answer(
        server,
        handle,
        outbox.is_none(),
        &peeked[..n as usize],
        &mut out,
    );
    // A request not complete yet waits for the task too.
    if consumed == 0 {
        return false;
    }
    let written = match outbox {
        _ if out.is_empty() => true,
        Some(ob) => ob.queue(&mut out.buf),
        None => send_all(fd, &out.buf),
    };
    if !written {
        return false;
    }
    // The answered requests leave the socket.
    let mut left = consumed;
    while left > 0 {
        let r = unsafe {
            libc::recv(
                fd,
                peeked.as_mut_ptr().cast(),
                left.min(peeked.len()),
                libc::MSG_DONTWAIT,
            )
        };
        if r <= 0 {
            return false;
        }
        left -= r as usize;
    }
    stopped == Stopped::Drained
}

/// A TLS connection: what the socket has is decrypted into the session's stash (as much as
/// the plain path would peek); the requests answered leave it, the rest waits there for the
/// task. A request still arriving keeps the connection watched, unless it outgrows the stash.
pub(super) fn serve_tls(server: &Server, busy: &mut Busy, fd: RawFd) -> bool {
    let Some(Conn::Tls {
        handle,
        shared,
        fresh,
    }) = busy.conns.get(&fd)
    else {
        return false;
    };
    let filled = shared.fill();
    if filled == Filled::Held {
        return false;
    }
    let mut stash = shared.with_stash(std::mem::take);
    let mut out = Reply::new();
    let (consumed, stopped) = answer(server, handle, *fresh, &stash, &mut out);
    stash.advance(consumed);
    let full = stash.len() >= STASH_LIMIT;
    shared.with_stash(move |s| {
        stash.unsplit(std::mem::take(s));
        *s = stash;
    });
    if !out.is_empty() && !shared.send(&out.buf) {
        return false;
    }
    filled == Filled::Open && stopped != Stopped::LeftToTask && !full
}

/// Writes a new connection's replies (a few error lines: the socket takes them).
fn send_all(fd: RawFd, mut buf: &[u8]) -> bool {
    let start = std::time::Instant::now();
    while !buf.is_empty() {
        let r = unsafe {
            libc::send(
                fd,
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if r > 0 {
            buf = &buf[r as usize..];
        } else if start.elapsed() > std::time::Duration::from_millis(100) {
            return false;
        } else {
            std::thread::yield_now();
        }
    }
    true
}
