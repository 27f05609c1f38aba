//! Other clients while a script is busy (running past `busy-reply-threshold`), as Redis's
//! `processEventsWhileBlocked` serves them: from the Lua hook, on the script's own thread,
//! requests are answered here, -BUSY for most, while SCRIPT KILL, FUNCTION KILL and STATS
//! and SHUTDOWN NOSAVE run; new connections are accepted too (TLS handshakes included), so
//! that `redis-cli SCRIPT KILL` works.
//!
//! This needs the single-threaded runtime (one I/O thread, the default): nothing else runs
//! while the script does, so a connection whose task waits for its next request with nothing
//! half-read (`ClientHandle::idle`) can be served without its task. A plain connection's
//! requests are peeked from the socket; those answered are then consumed and their replies
//! join its outbox, behind whatever it had queued. A TLS connection's session is shared with
//! its task (`tls_stream`): what the hook reads and does not answer waits for the task there.
//! A request that needs the connection's own state (AUTH, HELLO, MULTI, WATCH, QUIT, RESET
//! ...), and all after it, are left to the task, to run after the script. With several I/O
//! threads the other threads serve clients, and dispatch answers -BUSY (see `hand_on_queue`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Buf;
use parking_lot::Mutex;
use smallvec::SmallVec;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::outbox::Outbox;
use super::tls_stream::{self, BusyIo, Handoff, Shared};
use super::{Mode, Server};
use crate::clients::{Client, ClientHandle};
use crate::command::Ctx;
use crate::protocol::parser::{Limits, Parsed, Parser};
use crate::protocol::Reply;

/// One busy period: the descriptors watched, and the connections behind them.
struct Busy {
    server: Arc<Server>,
    epfd: RawFd,
    listeners: Vec<(RawFd, Mode)>,
    conns: HashMap<RawFd, Conn>,
    /// TLS sessions served here: their tasks are woken at the end.
    tls: Vec<Arc<Shared>>,
}

enum Conn {
    /// `outbox` is None for a connection accepted during the busy time (its task starts
    /// after it).
    Plain {
        handle: Arc<ClientHandle>,
        outbox: Option<Arc<Outbox>>,
    },
    /// `fresh`: accepted during a busy time, its task not started.
    Tls {
        handle: Arc<ClientHandle>,
        shared: Arc<Shared>,
        fresh: bool,
    },
    /// Accepted on a TLS port during the busy time, in its handshake.
    Handshaking {
        handle: Arc<ClientHandle>,
        handoff: Arc<Mutex<Handoff>>,
    },
    /// Accepted on a `tls-mode preferred` port: its first byte tells TLS from plaintext.
    Sniffing {
        stream: TcpStream,
        peer: SocketAddr,
        acceptor: TlsAcceptor,
    },
}

thread_local! {
    static BUSY: RefCell<Option<Busy>> = const { RefCell::new(None) };
    /// This busy time handed the worker's queue on (several I/O threads: `hand_on_queue`).
    static WOKEN: Cell<bool> = const { Cell::new(false) };
}

/// Listening sockets a busy time accepts from.
pub(super) static LISTENERS: Mutex<Vec<(RawFd, Mode)>> = Mutex::new(Vec::new());

/// A connection accepted (here or by an accept loop) whose task has not started yet; for one
/// accepted here on a TLS port, what the hook leaves to its task.
struct Accepted {
    handle: Arc<ClientHandle>,
    handoff: Option<Arc<Mutex<Handoff>>>,
}

static ACCEPTED: Mutex<Vec<Accepted>> = Mutex::new(Vec::new());

/// A plain connection was accepted; its task starts later.
pub(super) fn accepted(handle: &Arc<ClientHandle>) {
    ACCEPTED.lock().push(Accepted {
        handle: handle.clone(),
        handoff: None,
    });
}

/// Its task started.
pub(super) fn started(id: u64) {
    let mut a = ACCEPTED.lock();
    if let Some(i) = a.iter().position(|h| h.handle.id == id) {
        a.swap_remove(i);
    }
}

/// Until dropped, a busy time may answer the connection accepted with this handle id.
pub(super) struct NotStarted(pub u64);

impl Drop for NotStarted {
    fn drop(&mut self) {
        started(self.0);
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
        let Some(busy) = b.borrow_mut().take() else {
            return;
        };
        unsafe { libc::close(busy.epfd) };
        tls_stream::set_direct(false);
        for shared in &busy.tls {
            shared.wake();
        }
        for conn in busy.conns.into_values() {
            // Nothing came yet: the accept path decides, as for any new connection.
            if let Conn::Sniffing {
                stream,
                peer,
                acceptor,
            } = conn
            {
                tokio::spawn(super::accept_one(
                    busy.server.clone(),
                    stream,
                    peer,
                    Mode::Sniff(acceptor),
                    None,
                ));
            }
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
    tls_stream::set_direct(true);
    let mut busy = Busy {
        server: server.arc(),
        epfd,
        listeners: LISTENERS.lock().clone(),
        conns: HashMap::new(),
        tls: Vec::new(),
    };
    for (fd, _) in &busy.listeners {
        watch(&busy, *fd);
    }
    for handle in server.clients.snapshot() {
        if !handle.idle.load(Ordering::Relaxed) || handle.fd < 0 {
            continue;
        }
        let conn = if handle.tls {
            let Some(shared) = handle.tls_session.get().and_then(|w| w.upgrade()) else {
                continue;
            };
            busy.tls.push(shared.clone());
            Conn::Tls {
                handle,
                shared,
                fresh: false,
            }
        } else {
            let Some(outbox) = handle.outbox.get().and_then(|w| w.upgrade()) else {
                continue;
            };
            Conn::Plain {
                handle,
                outbox: Some(outbox),
            }
        };
        add(&mut busy, conn);
    }
    for a in ACCEPTED.lock().iter() {
        let handle = a.handle.clone();
        let conn = match &a.handoff {
            None => Conn::Plain {
                handle,
                outbox: None,
            },
            Some(handoff) => match &*handoff.lock() {
                Handoff::Handshaking(_) => Conn::Handshaking {
                    handle,
                    handoff: handoff.clone(),
                },
                Handoff::Ready(shared) => Conn::Tls {
                    handle,
                    shared: shared.clone(),
                    fresh: true,
                },
                Handoff::Gone => continue,
            },
        };
        add(&mut busy, conn);
    }
    Some(busy)
}

fn conn_fd(conn: &Conn) -> RawFd {
    match conn {
        Conn::Plain { handle, .. }
        | Conn::Tls { handle, .. }
        | Conn::Handshaking { handle, .. } => handle.fd,
        Conn::Sniffing { stream, .. } => std::os::fd::AsRawFd::as_raw_fd(stream),
    }
}

/// Watches a connection (again, after a change of kind).
fn add(busy: &mut Busy, conn: Conn) {
    let fd = conn_fd(&conn);
    if busy.conns.insert(fd, conn).is_none() {
        watch(busy, fd);
    }
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
        if let Some(i) = busy.listeners.iter().position(|(l, _)| *l == fd) {
            let mode = busy.listeners[i].1.clone();
            accept(server, busy, fd, mode);
        } else if !serve_conn(server, busy, fd) {
            unwatch(busy, fd);
        }
    }
    super::outbox::flush_all();
}

/// Takes the connections waiting on a listener: each gets its task (which runs after the
/// script) and, until then, is answered here.
fn accept(server: &Server, busy: &mut Busy, lfd: RawFd, mode: Mode) {
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
        let Ok(stream) = TcpStream::from_std(std_stream) else {
            continue;
        };
        // One to refuse is left to the accept path, which tells it why after the script.
        if super::refuse_reason(server, &peer).is_some() {
            tokio::spawn(super::accept_one(
                server.arc(),
                stream,
                peer,
                mode.clone(),
                None,
            ));
            continue;
        }
        super::tune(server, &stream);
        let conn = match mode {
            Mode::Plain => plain(server, stream, peer),
            Mode::Tls(ref acceptor) => handshake(server, stream, peer, acceptor),
            Mode::Sniff(ref acceptor) => Conn::Sniffing {
                stream,
                peer,
                acceptor: acceptor.clone(),
            },
        };
        add(busy, conn);
    }
}

fn new_handle(
    server: &Server,
    stream: &TcpStream,
    peer: SocketAddr,
    tls: bool,
) -> Arc<ClientHandle> {
    let local = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    Arc::new(ClientHandle::new(
        server.new_client_id(),
        peer.to_string(),
        local,
        std::os::fd::AsRawFd::as_raw_fd(stream),
        tls,
    ))
}

/// A new plaintext connection: its task is spawned, to start after the script.
fn plain(server: &Server, stream: TcpStream, peer: SocketAddr) -> Conn {
    let handle = new_handle(server, &stream, peer, false);
    accepted(&handle);
    tokio::spawn(super::accept_one(
        server.arc(),
        stream,
        peer,
        Mode::Plain,
        Some(handle.clone()),
    ));
    Conn::Plain {
        handle,
        outbox: None,
    }
}

/// A new TLS connection: its handshake starts here; the task spawned takes it over after the
/// script, finished or not.
fn handshake(server: &Server, stream: TcpStream, peer: SocketAddr, acceptor: &TlsAcceptor) -> Conn {
    let handle = new_handle(server, &stream, peer, true);
    let handoff = Arc::new(Mutex::new(Handoff::Handshaking(Box::new(
        acceptor.accept(BusyIo::new(stream)),
    ))));
    ACCEPTED.lock().push(Accepted {
        handle: handle.clone(),
        handoff: Some(handoff.clone()),
    });
    tokio::spawn(super::adopt_tls(
        server.arc(),
        handoff.clone(),
        handle.clone(),
    ));
    Conn::Handshaking { handle, handoff }
}

/// Serves what is ready on `fd`. False when the connection is no longer served here (left to
/// its task, closed, or broken).
fn serve_conn(server: &Server, busy: &mut Busy, fd: RawFd) -> bool {
    match busy.conns.get(&fd) {
        Some(Conn::Plain { .. }) => serve_plain(server, busy, fd),
        Some(Conn::Tls { .. }) => serve_tls(server, busy, fd),
        Some(Conn::Handshaking { .. }) => step_handshake(server, busy, fd),
        Some(Conn::Sniffing { .. }) => sniff(server, busy, fd),
        None => false,
    }
}

/// The first byte of a `tls-mode preferred` connection arrived (or it closed).
fn sniff(server: &Server, busy: &mut Busy, fd: RawFd) -> bool {
    let mut first = 0u8;
    let n = unsafe {
        libc::recv(
            fd,
            (&mut first as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock {
        return true;
    }
    let Some(Conn::Sniffing {
        stream,
        peer,
        acceptor,
    }) = busy.conns.remove(&fd)
    else {
        return false;
    };
    if n <= 0 {
        return false;
    }
    let conn = if first == super::TLS_HANDSHAKE_RECORD {
        handshake(server, stream, peer, &acceptor)
    } else {
        plain(server, stream, peer)
    };
    busy.conns.insert(fd, conn);
    serve_conn(server, busy, fd)
}

/// Moves a TLS handshake on; once done, the connection's requests are served.
fn step_handshake(server: &Server, busy: &mut Busy, fd: RawFd) -> bool {
    let Some(Conn::Handshaking { handle, handoff }) = busy.conns.get(&fd) else {
        return false;
    };
    let (handle, handoff) = (handle.clone(), handoff.clone());
    let mut state = handoff.lock();
    let Handoff::Handshaking(accept) = &mut *state else {
        return false;
    };
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let shared = match std::future::Future::poll(std::pin::Pin::new(accept), &mut cx) {
        std::task::Poll::Pending => return true,
        std::task::Poll::Ready(Err(_)) => {
            *state = Handoff::Gone;
            return false;
        }
        std::task::Poll::Ready(Ok(tls)) => tls_stream::attach(&handle, tls),
    };
    *state = Handoff::Ready(shared.clone());
    drop(state);
    busy.tls.push(shared.clone());
    busy.conns.insert(
        fd,
        Conn::Tls {
            handle,
            shared,
            fresh: true,
        },
    );
    serve_tls(server, busy, fd)
}

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
                let mut client = Client::new(handle.clone(), authed);
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
fn serve_plain(server: &Server, busy: &mut Busy, fd: RawFd) -> bool {
    let Some(Conn::Plain { handle, outbox }) = busy.conns.get(&fd) else {
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

/// A TLS connection: what the socket has is decrypted into the session's stash; the requests
/// answered leave it, the rest waits there for the task. A request still arriving keeps the
/// connection watched.
fn serve_tls(server: &Server, busy: &mut Busy, fd: RawFd) -> bool {
    let Some(Conn::Tls {
        handle,
        shared,
        fresh,
    }) = busy.conns.get(&fd)
    else {
        return false;
    };
    if !shared.fill() {
        return false;
    }
    let mut stash = shared.with_stash(std::mem::take);
    let mut out = Reply::new();
    let (consumed, stopped) = answer(server, handle, *fresh, &stash, &mut out);
    stash.advance(consumed);
    shared.with_stash(move |s| {
        stash.unsplit(std::mem::take(s));
        *s = stash;
    });
    if !out.is_empty() && !shared.send(&out.buf) {
        return false;
    }
    stopped != Stopped::LeftToTask
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
