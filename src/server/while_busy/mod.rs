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
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

mod accepted;
mod answer;

pub(super) use accepted::{accepted, Kind, Pending, Unsniffed};

use super::outbox::Outbox;
use super::tls_stream::{self, Handoff, Shared};
use super::{Mode, Server};
use crate::clients::ClientHandle;

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
    /// `outbox` is None for a connection whose task has not started (it writes nothing
    /// yet). `sniffing`: its task, on a `tls-mode preferred` port, waits for its first byte
    /// (a TLS handshake there is taken over).
    Plain {
        handle: Arc<ClientHandle>,
        outbox: Option<Arc<Outbox>>,
        sniffing: Option<Arc<Unsniffed>>,
    },
    /// `fresh`: its task has not started (it may AUTH here).
    Tls {
        handle: Arc<ClientHandle>,
        shared: Arc<Shared>,
        fresh: bool,
    },
    /// In its TLS handshake, which its task awaits.
    Handshaking {
        handle: Arc<ClientHandle>,
        handoff: Arc<Handoff>,
    },
}

thread_local! {
    static BUSY: RefCell<Option<Busy>> = const { RefCell::new(None) };
    /// This busy time handed the worker's queue on (several I/O threads: `hand_on_queue`).
    static WOKEN: Cell<bool> = const { Cell::new(false) };
}

/// Listening sockets a busy time accepts from.
pub(super) static LISTENERS: Mutex<Vec<(RawFd, Mode)>> = Mutex::new(Vec::new());

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
            if let Some(busy) = b.as_mut() {
                let fds: Vec<RawFd> = busy.conns.keys().copied().collect();
                for fd in fds {
                    serve_or_unwatch(server, busy, fd);
                }
            }
        }
        if let Some(busy) = b.as_mut() {
            poll(server, busy);
        }
    });
}

/// With several I/O threads the other workers go on serving clients (dispatch answers them
/// -BUSY) once, per busy time, the script's worker hands its queue to a new worker thread
/// (`block_in_place`). Otherwise a task in its LIFO slot, which no other worker may steal,
/// would wait for the script; and a worker that parked before the script's worker let go of
/// tokio's I/O driver sleeps on without it, so no socket is read. The new worker parks with
/// the driver free, and takes it. `block_in_place` takes the queue back if the new thread has
/// not taken it when the closure returns (a loaded machine: it was seen to miss a 5 ms
/// wait), so the closure waits for a marker task, spawned into the LIFO slot, to run: then
/// the queue has moved. If it has not within `HAND_ON_WAIT`, the next hook call tries again.
fn hand_on_queue() {
    let on_workers = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if !on_workers || WOKEN.with(Cell::get) {
        return;
    }
    let moved = Arc::new(AtomicBool::new(false));
    let marker = moved.clone();
    tokio::spawn(async move { marker.store(true, Ordering::Release) });
    tokio::task::block_in_place(|| {
        let until = std::time::Instant::now() + HAND_ON_WAIT;
        while !moved.load(Ordering::Acquire) && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    });
    WOKEN.with(|w| w.set(moved.load(Ordering::Acquire)));
}

/// How long a hook call waits for a new worker to take the script worker's queue.
const HAND_ON_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// The script ended: the watch set goes; connections not answered are their tasks' again,
/// and tasks whose connections were served here are woken to carry on.
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
        accepted::wake_handshakes();
    });
}

/// The busy time begins: replies queued this round go out first, then every idle client,
/// every connection whose task has not started, and every listener is watched.
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
                sniffing: None,
            }
        };
        add(&mut busy, conn);
    }
    for (handle, kind) in accepted::snapshot() {
        if let Some(conn) = accepted::conn(handle, kind) {
            add(&mut busy, conn);
        }
    }
    Some(busy)
}

fn conn_fd(conn: &Conn) -> RawFd {
    match conn {
        Conn::Plain { handle, .. }
        | Conn::Tls { handle, .. }
        | Conn::Handshaking { handle, .. } => handle.fd,
    }
}

/// Serves what is ready on `fd`; a connection no longer served here leaves the watch set.
/// Called on a socket's readiness, and at once for a connection the busy time takes on: a
/// TLS handshake finished on the spot may have decrypted requests sent with its last flight,
/// and nothing more would arrive on the socket to tell.
fn serve_or_unwatch(server: &Server, busy: &mut Busy, fd: RawFd) {
    if !serve_conn(server, busy, fd) {
        unwatch(busy, fd);
    }
}

/// Watches a connection (or takes its new kind: the descriptor stays watched).
fn add(busy: &mut Busy, conn: Conn) {
    if let Conn::Tls { shared, .. } = &conn {
        busy.tls.push(shared.clone());
    }
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
            accepted::accept(server, busy, fd, mode);
        } else {
            serve_or_unwatch(server, busy, fd);
        }
    }
    super::outbox::flush_all();
}

/// Serves what is ready on `fd`. False when the connection is no longer served here (left to
/// its task, closed, or broken).
fn serve_conn(server: &Server, busy: &mut Busy, fd: RawFd) -> bool {
    match busy.conns.get(&fd) {
        Some(Conn::Plain { .. }) => answer::serve_plain(server, busy, fd),
        Some(Conn::Tls { .. }) => answer::serve_tls(server, busy, fd),
        Some(Conn::Handshaking { .. }) => step_handshake(server, busy, fd),
        None => false,
    }
}

/// Moves a TLS handshake on; once done, the connection's requests are served.
fn step_handshake(server: &Server, busy: &mut Busy, fd: RawFd) -> bool {
    let Some(Conn::Handshaking { handle, handoff }) = busy.conns.get(&fd) else {
        return false;
    };
    let handle = handle.clone();
    match handoff.step(&handle) {
        tls_stream::Step::Going => true,
        tls_stream::Step::Failed => false,
        tls_stream::Step::Done(shared) => {
            add(
                busy,
                Conn::Tls {
                    handle,
                    shared,
                    fresh: true,
                },
            );
            answer::serve_tls(server, busy, fd)
        }
    }
}
