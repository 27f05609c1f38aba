//! Other clients while a script is busy (running past `busy-reply-threshold`), as Redis's
//! `processEventsWhileBlocked` serves them: from the Lua hook, on the script's own thread,
//! requests are answered here, -BUSY for most, while SCRIPT KILL, FUNCTION KILL and STATS
//! and SHUTDOWN NOSAVE run; new connections are accepted too, so that `redis-cli SCRIPT KILL`
//! works.
//!
//! This needs the single-threaded runtime (one I/O thread, the default): nothing else runs
//! while the script does, so a connection whose task waits for its next request with nothing
//! half-read (`ClientHandle::idle`) can be served without its task. Its requests are peeked
//! from the socket; those answered are then consumed and their replies join its outbox,
//! behind whatever it had queued. A request that needs the connection's own state (AUTH,
//! HELLO, MULTI, WATCH, QUIT, RESET ...), and all after it, stay in the socket for the task
//! to run after the script. With several I/O threads the other threads serve them, and
//! dispatch answers -BUSY (see `hand_on_queue`); TLS clients, whose streams only their tasks
//! can read, wait with one I/O thread.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use smallvec::SmallVec;

use super::outbox::Outbox;
use super::Server;
use crate::clients::{Client, ClientHandle};
use crate::command::Ctx;
use crate::protocol::parser::{Limits, Parsed, Parser};
use crate::protocol::Reply;

/// One busy period: the descriptors watched, and the connections behind them.
struct Busy {
    epfd: RawFd,
    listeners: Vec<RawFd>,
    conns: HashMap<RawFd, Conn>,
}

struct Conn {
    handle: Arc<ClientHandle>,
    /// None for a connection accepted during the busy time (its task starts after it).
    outbox: Option<Arc<Outbox>>,
}

thread_local! {
    static BUSY: RefCell<Option<Busy>> = const { RefCell::new(None) };
    /// This busy time handed the worker's queue on (several I/O threads: `hand_on_queue`).
    static WOKEN: Cell<bool> = const { Cell::new(false) };
}

/// Listening sockets (plain TCP) a busy time accepts from.
pub(super) static LISTENERS: parking_lot::Mutex<Vec<RawFd>> = parking_lot::Mutex::new(Vec::new());

/// Connections accepted whose task has not started yet.
static ACCEPTED: parking_lot::Mutex<Vec<Arc<ClientHandle>>> = parking_lot::Mutex::new(Vec::new());

/// A plain connection was accepted; its task starts later.
pub(super) fn accepted(handle: &Arc<ClientHandle>) {
    ACCEPTED.lock().push(handle.clone());
}

/// Its task started.
pub(super) fn started(id: u64) {
    let mut a = ACCEPTED.lock();
    if let Some(i) = a.iter().position(|h| h.id == id) {
        a.swap_remove(i);
    }
}

/// Whether clients can be served while a script is busy (the single-threaded runtime).
fn supported() -> bool {
    super::outbox::enabled()
}

/// Called from the script's hook while it is busy: answers whatever is ready, without waiting.
pub fn serve(server: &Server) {
    if !supported() {
        hand_on_queue();
        return;
    }
    BUSY.with(|b| {
        let mut b = b.borrow_mut();
        if b.is_none() {
            *b = start(server);
        }
        if let Some(busy) = b.as_mut() {
            poll(server, busy);
        }
    });
}

/// With several I/O threads the other workers go on serving clients (dispatch answers them
/// -BUSY) once, per busy time, the script's worker hands its queue to a new worker thread
/// (`block_in_place`, held long enough for the new thread to take it). Otherwise a task in its
/// LIFO slot, which no other worker may steal, would wait for the script; and a worker that
/// parked before the script's worker let go of tokio's I/O driver sleeps on without it, so
/// no socket is read. The new worker parks with the driver free, and takes it.
fn hand_on_queue() {
    if WOKEN.with(|w| w.replace(true)) {
        return;
    }
    tokio::task::block_in_place(|| std::thread::sleep(std::time::Duration::from_millis(5)));
}

/// The script ended: the watch set goes; connections not answered are their tasks' again.
pub fn finish() {
    WOKEN.with(|w| w.set(false));
    BUSY.with(|b| {
        if let Some(busy) = b.borrow_mut().take() {
            unsafe { libc::close(busy.epfd) };
        }
    });
}

/// The busy time begins: replies queued this round go out first, then every idle client and
/// listener is watched.
fn start(server: &Server) -> Option<Busy> {
    super::outbox::flush_all();
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return None;
    }
    let mut busy = Busy {
        epfd,
        listeners: LISTENERS.lock().clone(),
        conns: HashMap::new(),
    };
    for fd in busy.listeners.clone() {
        watch(&busy, fd);
    }
    for handle in server.clients.snapshot() {
        if !handle.idle.load(Ordering::Relaxed) || handle.tls || handle.fd < 0 {
            continue;
        }
        let outbox = handle.outbox.get().and_then(|w| w.upgrade());
        if outbox.is_none() {
            continue;
        }
        watch(&busy, handle.fd);
        busy.conns.insert(handle.fd, Conn { handle, outbox });
    }
    for handle in ACCEPTED.lock().iter() {
        watch(&busy, handle.fd);
        let handle = handle.clone();
        busy.conns.insert(
            handle.fd,
            Conn {
                handle,
                outbox: None,
            },
        );
    }
    Some(busy)
}

fn watch(busy: &Busy, fd: RawFd) {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    unsafe { libc::epoll_ctl(busy.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
}

fn unwatch(busy: &mut Busy, fd: RawFd) {
    unsafe { libc::epoll_ctl(busy.epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
    busy.conns.remove(&fd);
}

fn poll(server: &Server, busy: &mut Busy) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
    let n = unsafe { libc::epoll_wait(busy.epfd, events.as_mut_ptr(), 64, 0) };
    for ev in events.iter().take(n.max(0) as usize) {
        let fd = ev.u64 as RawFd;
        if busy.listeners.contains(&fd) {
            accept(server, busy, fd);
        } else if !serve_conn(server, busy, fd) {
            unwatch(busy, fd);
        }
    }
    super::outbox::flush_all();
}

/// Takes the connections waiting on a listener: each gets its task (which runs after the
/// script) and, until then, is answered here.
fn accept(server: &Server, busy: &mut Busy, lfd: RawFd) {
    loop {
        let fd = unsafe {
            libc::accept4(
                lfd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            return;
        }
        let std_stream =
            unsafe { <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let Ok(peer) = std_stream.peer_addr() else {
            continue;
        };
        let Ok(stream) = tokio::net::TcpStream::from_std(std_stream) else {
            continue;
        };
        let local = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let handle = Arc::new(ClientHandle::new(
            server.new_client_id(),
            peer.to_string(),
            local,
            fd,
            false,
        ));
        tokio::spawn(super::accept_one(
            server.arc(),
            stream,
            peer,
            super::Mode::Plain,
            Some(handle.clone()),
        ));
        watch(busy, fd);
        busy.conns.insert(
            fd,
            Conn {
                handle,
                outbox: None,
            },
        );
    }
}

/// Commands allowed while busy that change the connection's own state: left to its task.
const LEFT_TO_TASK: &[&str] = &[
    "auth", "hello", "multi", "discard", "watch", "unwatch", "quit", "reset", "replconf",
];

/// Answers the complete requests waiting on `fd` up to one left to the task. False when the
/// connection is no longer served here (left to its task, closed, or broken).
fn serve_conn(server: &Server, busy: &mut Busy, fd: RawFd) -> bool {
    let Some(conn) = busy.conns.get(&fd) else {
        return false;
    };
    // Replies the socket has not taken yet: the task writes them before anything else.
    if conn.outbox.as_ref().is_some_and(|ob| !ob.is_idle()) {
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
    let buf = BytesMut::from(&peeked[..n as usize]);
    let mut parser = Parser::new(Limits {
        max_bulk_len: server.config.proto_max_bulk_len.u() as usize,
        ..Limits::default()
    });
    let handle = conn.handle.clone();
    let fresh = conn.outbox.is_none();
    let mut out = Reply::new();
    out.resp3 = handle.resp.load(Ordering::Relaxed) == 3;
    let mut consumed = 0;
    let mut keep = true;
    loop {
        match parser.parse(&buf, consumed) {
            Ok(Parsed::Empty { end }) => consumed = end,
            Ok(Parsed::Request { end, source }) => {
                let argv: SmallVec<[&[u8]; 8]> = parser.argv(&buf, source).collect();
                let name = crate::command::resolve(&server.commands, &argv)
                    .map(|c| c.spec.name)
                    .unwrap_or("");
                // A new connection may AUTH here (redis-cli -a ... SCRIPT KILL); it has no
                // other state yet.
                if LEFT_TO_TASK.contains(&name) && !(fresh && name == "auth") {
                    keep = false;
                    break;
                }
                let authed = handle.authed.load(Ordering::Relaxed) || !server.auth_required();
                let mut client = Client::new(handle.clone(), authed);
                client.db = handle.db.load(Ordering::Relaxed) as usize;
                let now = crate::engine::mono_us();
                let mut ctx = Ctx {
                    server,
                    client: &mut client,
                    out: &mut out,
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
            // The rest is the task's, once the script is over.
            Ok(Parsed::Incomplete) | Err(_) => {
                keep = false;
                break;
            }
        }
        if consumed >= buf.len() {
            break;
        }
    }
    if consumed == 0 {
        return false;
    }
    let written = match &busy.conns[&fd].outbox {
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
    keep
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
