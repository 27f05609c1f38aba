//! TLS connections that a script's busy time can serve.
//!
//! With one I/O thread, `while_busy` answers other clients from the script's hook, on the
//! runtime's only thread, while every connection task waits. A plain socket can be read there
//! directly; a TLS session cannot, while its task owns it. So a TLS connection's session sits
//! behind a mutex ([`Shared`]) that its task (through [`TlsConn`]) and the hook both reach;
//! requests the hook does not answer wait in `stash`, which the task reads first. The TLS
//! work stays tokio-rustls's: only its transport ([`BusyIo`]) changes, reading and writing the
//! socket directly during a busy time, when tokio's driver does not run and would report
//! nothing ready. Outside busy times the cost is a mutex without contention and a flag read
//! per poll.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::clients::ClientHandle;

/// Set while a busy time serves connections: transports then use the socket directly.
static DIRECT: AtomicBool = AtomicBool::new(false);

pub(super) fn set_direct(on: bool) {
    DIRECT.store(on, Ordering::Relaxed);
}

/// A TLS connection's TCP transport.
pub struct BusyIo {
    tcp: TcpStream,
    fd: RawFd,
}

impl BusyIo {
    pub fn new(tcp: TcpStream) -> BusyIo {
        let fd = tcp.as_raw_fd();
        BusyIo { tcp, fd }
    }
}

/// The outcome of one non-blocking socket call, as a poll.
fn direct(r: isize) -> Poll<io::Result<usize>> {
    if r >= 0 {
        return Poll::Ready(Ok(r as usize));
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Poll::Pending,
        _ => Poll::Ready(Err(e)),
    }
}

impl AsyncRead for BusyIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !DIRECT.load(Ordering::Relaxed) {
            return Pin::new(&mut self.tcp).poll_read(cx, buf);
        }
        let dst = buf.initialize_unfilled();
        // SAFETY: `fd` is the open socket `tcp` owns; `dst` is valid for its length.
        let r = unsafe {
            libc::recv(
                self.fd,
                dst.as_mut_ptr().cast(),
                dst.len(),
                libc::MSG_DONTWAIT,
            )
        };
        direct(r).map_ok(|n| buf.advance(n))
    }
}

impl AsyncWrite for BusyIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !DIRECT.load(Ordering::Relaxed) {
            return Pin::new(&mut self.tcp).poll_write(cx, buf);
        }
        // SAFETY: as in `poll_read`.
        let r = unsafe {
            libc::send(
                self.fd,
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        direct(r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !DIRECT.load(Ordering::Relaxed) {
            return Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        }
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
        self.poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// A TLS session shared by its connection task and a busy time's hook.
pub struct Shared {
    inner: Mutex<Inner>,
}

struct Inner {
    stream: TlsStream<BusyIo>,
    /// Requests read by the hook and left to the task.
    stash: BytesMut,
    /// The task's, from its last read that had to wait: woken when the busy time ends.
    waker: Option<Waker>,
}

impl Shared {
    pub fn new(stream: TlsStream<BusyIo>) -> Arc<Shared> {
        Arc::new(Shared {
            inner: Mutex::new(Inner {
                stream,
                stash: BytesMut::new(),
                waker: None,
            }),
        })
    }

    /// Reads what the socket has into the stash, without waiting, up to [`STASH_LIMIT`].
    /// `Closed` when the connection is its task's to end: the client closed it, or the
    /// session failed. `Held` if the task holds the session (it cannot while a busy time
    /// runs; checked all the same, as a wait here would never end).
    pub fn fill(&self) -> Filled {
        let Some(mut g) = self.inner.try_lock() else {
            return Filled::Held;
        };
        let g = &mut *g;
        let mut cx = Context::from_waker(Waker::noop());
        let mut chunk = [0u8; 16 * 1024];
        while g.stash.len() < STASH_LIMIT {
            let mut rb = ReadBuf::new(&mut chunk);
            match Pin::new(&mut g.stream).poll_read(&mut cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => return Filled::Closed,
                Poll::Ready(Ok(())) => g.stash.extend_from_slice(rb.filled()),
                Poll::Ready(Err(_)) => return Filled::Closed,
                Poll::Pending => break,
            }
        }
        Filled::Open
    }

    /// Runs `f` on the requests waiting in the stash.
    pub fn with_stash<R>(&self, f: impl FnOnce(&mut BytesMut) -> R) -> R {
        f(&mut self.inner.lock().stash)
    }

    /// Queues `bytes` in the session whole, past its buffer limit if need be, and sends what
    /// the socket takes now; the rest is the task's to send (it flushes before it reads).
    /// False if the connection failed.
    pub fn send(&self, bytes: &[u8]) -> bool {
        let mut g = self.inner.lock();
        let session = g.stream.get_mut().1;
        session.set_buffer_limit(None);
        let queued = io::Write::write_all(&mut session.writer(), bytes).is_ok();
        session.set_buffer_limit(Some(SESSION_BUFFER_LIMIT));
        let mut cx = Context::from_waker(Waker::noop());
        queued
            && !matches!(
                Pin::new(&mut g.stream).poll_flush(&mut cx),
                Poll::Ready(Err(_))
            )
    }

    /// Wakes the task, which reads the stash, flushes what the hook left, and sees a close.
    pub fn wake(&self) {
        let waker = self.inner.lock().waker.take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// What [`Shared::fill`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Filled {
    Open,
    Closed,
    Held,
}

/// How much a busy time reads ahead of a TLS connection's task (the plain path peeks as much).
pub const STASH_LIMIT: usize = 64 * 1024;

/// rustls's default limit on buffered output, restored after a busy time's replies.
const SESSION_BUFFER_LIMIT: usize = 64 * 1024;

/// Shares a connection's session: the task reads and writes through the [`TlsConn`] made of
/// it, and a busy time finds it through the client's handle.
pub fn attach(handle: &ClientHandle, stream: TlsStream<BusyIo>) -> Arc<Shared> {
    let shared = Shared::new(stream);
    let _ = handle.tls_session.set(Arc::downgrade(&shared));
    shared
}

/// The connection task's side of a [`Shared`] session.
pub struct TlsConn(pub Arc<Shared>);

impl AsyncRead for TlsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut g = self.0.inner.lock();
        let g = &mut *g;
        if !g.stash.is_empty() {
            let n = g.stash.len().min(buf.remaining());
            buf.put_slice(&g.stash[..n]);
            g.stash.advance(n);
            return Poll::Ready(Ok(()));
        }
        // Replies the hook could not send whole.
        if g.stream.get_ref().1.wants_write() {
            if let Poll::Ready(Err(e)) = Pin::new(&mut g.stream).poll_flush(cx) {
                return Poll::Ready(Err(e));
            }
        }
        let r = Pin::new(&mut g.stream).poll_read(cx, buf);
        if r.is_pending() && !g.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            g.waker = Some(cx.waker().clone());
        }
        r
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0.inner.lock().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0.inner.lock().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.inner.lock().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.inner.lock().stream).poll_shutdown(cx)
    }
}

/// A TLS connection's handshake, which its task awaits and a busy time may move on (or
/// finish) meanwhile.
pub struct Handoff {
    inner: Mutex<HandoffInner>,
}

struct HandoffInner {
    state: Handshake,
    /// The task's, from its last poll that had to wait: woken when a busy time ends.
    waker: Option<Waker>,
}

enum Handshake {
    Going(Box<tokio_rustls::Accept<BusyIo>>),
    Done(Arc<Shared>),
    Failed,
}

/// Where a handshake stands.
pub enum Step {
    Going,
    Done(Arc<Shared>),
    Failed,
}

impl Handoff {
    pub fn new(accept: tokio_rustls::Accept<BusyIo>) -> Arc<Handoff> {
        Arc::new(Handoff {
            inner: Mutex::new(HandoffInner {
                state: Handshake::Going(Box::new(accept)),
                waker: None,
            }),
        })
    }

    /// The task's side: ready with the session once the handshake is done, or None if it
    /// failed.
    pub fn poll_done(
        &self,
        handle: &ClientHandle,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Arc<Shared>>> {
        let mut g = self.inner.lock();
        let r = advance(&mut g.state, handle, cx);
        if r.is_pending() && !g.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            g.waker = Some(cx.waker().clone());
        }
        r
    }

    /// The busy time's side: moves the handshake on as far as it goes without waiting.
    pub fn step(&self, handle: &ClientHandle) -> Step {
        let mut cx = Context::from_waker(Waker::noop());
        match advance(&mut self.inner.lock().state, handle, &mut cx) {
            Poll::Pending => Step::Going,
            Poll::Ready(Some(shared)) => Step::Done(shared),
            Poll::Ready(None) => Step::Failed,
        }
    }

    /// Wakes the task, to take over what the busy time did.
    pub fn wake(&self) {
        let waker = self.inner.lock().waker.take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

fn advance(
    state: &mut Handshake,
    handle: &ClientHandle,
    cx: &mut Context<'_>,
) -> Poll<Option<Arc<Shared>>> {
    let accept = match state {
        Handshake::Going(accept) => accept,
        Handshake::Done(shared) => return Poll::Ready(Some(shared.clone())),
        Handshake::Failed => return Poll::Ready(None),
    };
    match Pin::new(accept).poll(cx) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Ok(tls)) => {
            let shared = attach(handle, tls);
            *state = Handshake::Done(shared.clone());
            Poll::Ready(Some(shared))
        }
        Poll::Ready(Err(e)) => {
            tracing::debug!("TLS handshake with {} failed: {e}", handle.addr);
            *state = Handshake::Failed;
            Poll::Ready(None)
        }
    }
}
