//! Replies written at the end of an event-loop round, as Redis's `beforeSleep` writes them.
//!
//! With one I/O thread, a connection task that has run a batch does not write its replies
//! itself: it queues them here and goes back to reading. When the runtime has no task left to
//! run and is about to wait in `epoll_wait`, [`flush_all`] sends every queued reply with one
//! non-blocking `send` each. Compared with yielding and writing from the task this saves, per
//! request, a second poll of the task and, per round, an `epoll_wait` with a zero timeout.
//!
//! Only a reply that does not fit the socket buffer is handed back to its task
//! ([`Outbox::poll_attention`]), which writes the rest asynchronously.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::Server;

static ENABLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static QUEUED: RefCell<Vec<Arc<Outbox>>> = const { RefCell::new(Vec::new()) };
}

/// Turns the end-of-round writes on; only for the single-threaded runtime, whose park hook
/// calls [`flush_all`] on the thread that queued the replies.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Nothing waiting.
    Idle,
    /// In this thread's queue, to be sent before the runtime parks.
    Queued,
    /// The socket took only part of it: the task writes the rest.
    Stalled,
    /// The socket failed: the task ends the connection.
    Failed,
    /// The connection is gone: nothing may be sent on its descriptor again.
    Closed,
}

struct Inner {
    buf: Vec<u8>,
    state: State,
    waker: Option<Waker>,
}

/// One connection's queued replies.
pub struct Outbox {
    fd: RawFd,
    server: Arc<Server>,
    inner: Mutex<Inner>,
}

impl Outbox {
    pub fn new(fd: RawFd, server: Arc<Server>) -> Arc<Outbox> {
        Arc::new(Outbox {
            fd,
            server,
            inner: Mutex::new(Inner {
                buf: Vec::new(),
                state: State::Idle,
                waker: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `out` (left empty) for the end of the round. Returns false if replies queued
    /// earlier are still unsent: then the caller writes everything itself (see
    /// [`Outbox::take`]), which bounds the queue for a client that streams requests without
    /// ever letting the runtime park.
    pub fn queue(self: &Arc<Self>, out: &mut Vec<u8>) -> bool {
        let mut inner = self.lock();
        if inner.state != State::Idle || !inner.buf.is_empty() {
            return false;
        }
        // Swap rather than copy: the task gets back the (empty) buffer of the previous round.
        std::mem::swap(&mut inner.buf, out);
        inner.state = State::Queued;
        drop(inner);
        QUEUED.with(|q| q.borrow_mut().push(self.clone()));
        true
    }

    /// Nothing queued nor left over.
    pub fn is_idle(&self) -> bool {
        let inner = self.lock();
        inner.state == State::Idle && inner.buf.is_empty()
    }

    /// Takes whatever is queued or left over, for the task to write before anything newer.
    /// Fails if the socket already failed.
    pub fn take(&self, into: &mut Vec<u8>) -> std::io::Result<()> {
        let mut inner = self.lock();
        if inner.state == State::Failed {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "reply write failed",
            ));
        }
        if inner.state != State::Closed {
            inner.state = State::Idle;
        }
        if !inner.buf.is_empty() {
            if into.is_empty() {
                std::mem::swap(&mut inner.buf, into);
            } else {
                into.splice(0..0, inner.buf.drain(..));
            }
        }
        Ok(())
    }

    /// Ready when the task must act: a reply was only partly sent, or the socket failed.
    pub fn poll_attention(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        match inner.state {
            State::Stalled | State::Failed => Poll::Ready(()),
            _ => {
                if !inner
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    inner.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// The connection is ending: whatever is queued is the caller's now, and the descriptor
    /// is never written again from here.
    pub fn close(&self) -> Vec<u8> {
        let mut inner = self.lock();
        inner.state = State::Closed;
        inner.waker = None;
        std::mem::take(&mut inner.buf)
    }

    /// Sends what is queued; true if the task had to be woken (partly sent, or failed).
    fn flush(&self) -> bool {
        let mut inner = self.lock();
        if inner.state != State::Queued {
            return false;
        }
        let mut sent = 0;
        let outcome = loop {
            if sent == inner.buf.len() {
                break State::Idle;
            }
            let rest = &inner.buf[sent..];
            // SAFETY: `fd` is the connection's socket, open until `close` marks this outbox
            // Closed (checked above, under the same lock); the slice is valid for its length.
            let n = unsafe {
                libc::send(
                    self.fd,
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                sent += n as usize;
                continue;
            }
            match std::io::Error::last_os_error().kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::WouldBlock => break State::Stalled,
                _ => break State::Failed,
            }
        };
        if sent > 0 {
            let stats = &self.server.stats;
            stats
                .total_net_output_bytes
                .fetch_add(sent as u64, Ordering::Relaxed);
            stats.total_writes_processed.fetch_add(1, Ordering::Relaxed);
        }
        inner.buf.drain(..sent);
        inner.state = outcome;
        if outcome != State::Idle {
            if let Some(w) = inner.waker.take() {
                w.wake();
            }
            return true;
        }
        false
    }
}

/// Sends every reply queued on this thread. Called by the runtime just before it parks.
/// Returns true if a task was woken to finish a reply (the runtime will not sleep then).
pub fn flush_all() -> bool {
    QUEUED.with(|q| {
        // Taken out so that a flush never runs under the queue's borrow.
        let batch = std::mem::take(&mut *q.borrow_mut());
        // What these replies acknowledge is written (and synced, as configured) first.
        if let Some(ob) = batch.first() {
            crate::persistence::aof::before_replies(&ob.server);
        }
        let mut woke = false;
        for ob in &batch {
            woke |= ob.flush();
        }
        let mut q = q.borrow_mut();
        if q.is_empty() {
            // Keep the allocation for the next round.
            *q = batch;
            q.clear();
        }
        woke
    })
}
