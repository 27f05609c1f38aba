//! Connections whose tasks do not serve them yet: new ones, TLS ones in their handshake, and,
//! on `tls-mode preferred` ports, those whose first byte has not told TLS from plaintext. A
//! busy time serves them too, and accepts new connections itself.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use tokio::io::ReadBuf;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::{add, serve_conn, serve_or_unwatch, Busy, Conn};
use crate::clients::ClientHandle;
use crate::server::tls_stream::{Handoff, Step};
use crate::server::{start_tls, welcome, Mode, Server, TLS_HANDSHAKE_RECORD};

/// What a connection accepted is, for a busy time.
#[derive(Clone)]
pub enum Kind {
    Plain,
    /// On a `tls-mode preferred` port, its first byte not seen yet by its task.
    Sniff(Arc<Unsniffed>),
    Tls(Arc<Handoff>),
}

/// A `tls-mode preferred` connection before its first byte: its task waits to peek it, and a
/// busy time that finds a TLS handshake there takes the connection over.
pub struct Unsniffed {
    pub acceptor: TlsAcceptor,
    /// The stream, until taken; the task's waker.
    inner: Mutex<(Option<TcpStream>, Option<Waker>)>,
}

impl Unsniffed {
    pub fn new(stream: TcpStream, acceptor: TlsAcceptor) -> Arc<Unsniffed> {
        Arc::new(Unsniffed {
            acceptor,
            inner: Mutex::new((Some(stream), None)),
        })
    }

    /// The task's side: the stream, and whether it starts a TLS handshake; None if a busy
    /// time took it, or it failed.
    pub fn poll_first(&self, cx: &mut Context<'_>) -> Poll<Option<(TcpStream, bool)>> {
        let mut g = self.inner.lock();
        let Some(stream) = &g.0 else {
            return Poll::Ready(None);
        };
        let mut first = [0u8; 1];
        let mut buf = ReadBuf::new(&mut first);
        match stream.poll_peek(cx, &mut buf) {
            Poll::Pending => {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
            Poll::Ready(Ok(n)) => {
                let tls = n == 1 && first[0] == TLS_HANDSHAKE_RECORD;
                Poll::Ready(g.0.take().map(|s| (s, tls)))
            }
            Poll::Ready(Err(_)) => Poll::Ready(None),
        }
    }

    /// A busy time's side: takes the stream (the task then ends).
    fn take(&self) -> Option<TcpStream> {
        let mut g = self.inner.lock();
        let stream = g.0.take();
        let waker = g.1.take();
        drop(g);
        if let Some(w) = waker {
            w.wake();
        }
        stream
    }

    fn taken(&self) -> bool {
        self.inner.lock().0.is_none()
    }
}

struct Accepted {
    handle: Arc<ClientHandle>,
    kind: Kind,
}

static ACCEPTED: Mutex<Vec<Accepted>> = Mutex::new(Vec::new());

/// Held by a connection's task until it serves the connection itself; until then a busy
/// time may.
pub struct Pending(u64);

impl Drop for Pending {
    fn drop(&mut self) {
        let mut a = ACCEPTED.lock();
        if let Some(i) = a.iter().position(|a| a.handle.id == self.0) {
            a.swap_remove(i);
        }
    }
}

/// A connection was accepted; its task serves it once it drops the `Pending` returned.
pub fn accepted(handle: &Arc<ClientHandle>, kind: Kind) -> Pending {
    ACCEPTED.lock().push(Accepted {
        handle: handle.clone(),
        kind,
    });
    Pending(handle.id)
}

pub(super) fn snapshot() -> Vec<(Arc<ClientHandle>, Kind)> {
    ACCEPTED
        .lock()
        .iter()
        .map(|a| (a.handle.clone(), a.kind.clone()))
        .collect()
}

/// The busy time is over: tasks awaiting handshakes it moved on look again.
pub(super) fn wake_handshakes() {
    let handoffs: Vec<Arc<Handoff>> = ACCEPTED
        .lock()
        .iter()
        .filter_map(|a| match &a.kind {
            Kind::Tls(h) => Some(h.clone()),
            _ => None,
        })
        .collect();
    for h in handoffs {
        h.wake();
    }
}

/// How a busy time serves a connection accepted (None: its handshake failed).
pub(super) fn conn(handle: Arc<ClientHandle>, kind: Kind) -> Option<Conn> {
    Some(match kind {
        Kind::Plain => Conn::Plain {
            handle,
            outbox: None,
            sniffing: None,
        },
        Kind::Sniff(unsniffed) if unsniffed.taken() => return None,
        Kind::Sniff(unsniffed) => Conn::Plain {
            handle,
            outbox: None,
            sniffing: Some(unsniffed),
        },
        Kind::Tls(handoff) => match handoff.step(&handle) {
            Step::Going => Conn::Handshaking { handle, handoff },
            Step::Done(shared) => Conn::Tls {
                handle,
                shared,
                fresh: true,
            },
            Step::Failed => return None,
        },
    })
}

/// Takes the connections waiting on a listener: each gets its task (which runs after the
/// script) and, until then, is served here.
pub(super) fn accept(server: &Server, busy: &mut Busy, lfd: RawFd, mode: Mode) {
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
        let Some((handle, kind)) = welcome(&busy.server, stream, peer, mode.clone()) else {
            continue;
        };
        let Some(conn) = conn(handle, kind) else {
            continue;
        };
        add(busy, conn);
        serve_or_unwatch(server, busy, fd);
    }
}

/// A connection whose task waits for its first byte on a preferred port starts a TLS
/// handshake: it is taken over, and served as TLS.
pub(super) fn take_over_tls(
    server: &Server,
    busy: &mut Busy,
    fd: RawFd,
    handle: &ClientHandle,
    unsniffed: &Unsniffed,
) -> bool {
    let Some(stream) = unsniffed.take() else {
        return false;
    };
    let (handle, handoff, pending) = start_tls(handle, stream, unsniffed.acceptor.clone(), server);
    tokio::spawn(crate::server::tls_task(
        busy.server.clone(),
        handoff.clone(),
        handle.clone(),
        pending,
    ));
    add(busy, Conn::Handshaking { handle, handoff });
    serve_conn(server, busy, fd)
}
