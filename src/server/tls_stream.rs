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

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

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

    /// Reads whatever the socket has into the stash, without waiting. False when the
    /// connection is its task's to handle: the client closed it, the session failed, or the
    /// task holds the session (it cannot while a busy time runs; checked all the same, as a
    /// wait here would never end).
    pub fn fill(&self) -> bool {
        let Some(mut g) = self.inner.try_lock() else {
            return false;
        };
        let g = &mut *g;
        let mut cx = Context::from_waker(Waker::noop());
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let mut rb = ReadBuf::new(&mut chunk);
            match Pin::new(&mut g.stream).poll_read(&mut cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => return false,
                Poll::Ready(Ok(())) => g.stash.extend_from_slice(rb.filled()),
                Poll::Ready(Err(_)) => return false,
                Poll::Pending => return true,
            }
        }
    }

    /// Runs `f` on the requests waiting in the stash.
    pub fn with_stash<R>(&self, f: impl FnOnce(&mut BytesMut) -> R) -> R {
        f(&mut self.inner.lock().stash)
    }

    /// Sends `bytes`, waiting at most 100 ms for the socket to take them (a few error lines
    /// do not wait). Whatever TLS output is left is the task's to flush. False if the
    /// connection failed.
    pub fn send(&self, mut bytes: &[u8]) -> bool {
        let mut g = self.inner.lock();
        let mut cx = Context::from_waker(Waker::noop());
        let start = Instant::now();
        let late = || start.elapsed() > Duration::from_millis(100);
        while !bytes.is_empty() {
            match Pin::new(&mut g.stream).poll_write(&mut cx, bytes) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return false,
                Poll::Ready(Ok(n)) => bytes = &bytes[n..],
                Poll::Pending if late() => return false,
                Poll::Pending => std::thread::yield_now(),
            }
        }
        loop {
            match Pin::new(&mut g.stream).poll_flush(&mut cx) {
                Poll::Ready(r) => return r.is_ok(),
                Poll::Pending if late() => return true,
                Poll::Pending => std::thread::yield_now(),
            }
        }
    }

    /// Wakes the task, which reads the stash, flushes what the hook left, and sees a close.
    pub fn wake(&self) {
        if let Some(w) = self.inner.lock().waker.take() {
            w.wake();
        }
    }
}

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

/// A connection a busy time accepted on a TLS listener, between the hook and the task that
/// takes it over once the script ends.
pub enum Handoff {
    Handshaking(Box<tokio_rustls::Accept<BusyIo>>),
    Ready(Arc<Shared>),
    Gone,
}
