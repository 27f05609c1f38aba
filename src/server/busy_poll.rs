//! Polling the client sockets for a moment before the event loop sleeps (one I/O thread only).
//!
//! When the runtime has nothing left to run it waits in `epoll_wait`, and the next request has
//! to wake it. That wake-up is paid by the client's `send`: on the project's VM,
//! `sock_def_readable` (waking the server) was 9% of redis-benchmark's CPU at `-c 50 -P 1`, where
//! the client's core is the bottleneck. Polling first means the request usually finds the server
//! awake. The window adapts as KVM's halt polling does: it doubles (from 10 µs, up to
//! `busy-poll-us`) while sleeps turn out shorter than the limit, so a longer poll would have
//! caught the next event, and halves when a sleep outlasts it, so an idle server does not poll.
//!
//! The sockets are watched through an epoll instance of our own (level-triggered, every
//! accepted client and every listener), so any readable client ends the poll, not only those
//! served in the last round. A socket closes out of the set by itself. Timers and wake-ups
//! from other threads are not watched: they wait for the end of the window at most.
//!
//! Time spent polling is not work: EngineCPUUtilization leaves it out ([`polled_us`]).

use std::cell::Cell;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// The epoll instance watching the sockets; -1 until [`enable`].
static EPFD: AtomicI32 = AtomicI32::new(-1);
/// `busy-poll-us`: the largest window; 0 turns polling off.
static MAX_US: AtomicU64 = AtomicU64::new(0);
/// Microseconds spent polling, since start.
static POLLED_US: AtomicU64 = AtomicU64::new(0);

/// The first window after sleeps showed that polling would pay.
const START_US: u64 = 10;

thread_local! {
    static WINDOW_US: Cell<u64> = const { Cell::new(0) };
    /// When the thread went to sleep (0: it did not, the poll found work).
    static SLEPT_AT: Cell<u64> = const { Cell::new(0) };
}

/// Creates the watch set; for the single-threaded runtime, whose park hooks call
/// [`before_park`] and [`after_unpark`].
pub fn enable() {
    if let Some(fd) = watch_set() {
        EPFD.store(fd, Ordering::Relaxed);
    }
}

/// Sets the largest window (`busy-poll-us`).
pub fn set_max_us(us: u64) {
    MAX_US.store(us, Ordering::Relaxed);
}

/// Total time spent polling, in microseconds.
pub fn polled_us() -> u64 {
    POLLED_US.load(Ordering::Relaxed)
}

/// Adds a socket (a client or a listener) to the watch set.
pub fn watch(fd: RawFd) {
    let epfd = EPFD.load(Ordering::Relaxed);
    if epfd >= 0 {
        add(epfd, fd);
    }
}

/// Polls for up to the current window; called when the runtime is about to sleep.
pub fn before_park() {
    let max = MAX_US.load(Ordering::Relaxed);
    let epfd = EPFD.load(Ordering::Relaxed);
    if max == 0 || epfd < 0 {
        return;
    }
    let window = WINDOW_US.with(Cell::get).min(max);
    let (found, now) = poll(epfd, window);
    if !found {
        SLEPT_AT.with(|c| c.set(now));
    }
    // Otherwise work came in: the runtime's own wait returns at once.
}

fn watch_set() -> Option<RawFd> {
    // SAFETY: plain syscall; the descriptor lives as long as the process.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    (fd >= 0).then_some(fd)
}

fn add(epfd: RawFd, fd: RawFd) {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    // SAFETY: both descriptors are open; the event is a valid struct for the call.
    unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
}

/// Polls `epfd` until a socket is readable or `window` microseconds pass. Returns whether one
/// was, and the time it stopped.
fn poll(epfd: RawFd, window: u64) -> (bool, u64) {
    let start = crate::engine::mono_us();
    if window == 0 {
        return (false, start);
    }
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    loop {
        // SAFETY: `epfd` is open; room for one event is passed.
        let n = unsafe { libc::epoll_wait(epfd, &mut ev, 1, 0) };
        let now = crate::engine::mono_us();
        if n > 0 || now - start >= window {
            POLLED_US.fetch_add(now - start, Ordering::Relaxed);
            return (n > 0, now);
        }
    }
}

/// Adapts the window to how long the sleep that just ended lasted.
pub fn after_unpark() {
    let at = SLEPT_AT.with(|c| c.replace(0));
    if at == 0 {
        return;
    }
    let slept = crate::engine::mono_us().saturating_sub(at);
    let max = MAX_US.load(Ordering::Relaxed);
    WINDOW_US.with(|w| w.set(adapt(w.get(), slept, max)));
}

/// The next window, given the current one and how long the thread then slept.
fn adapt(window: u64, slept: u64, max: u64) -> u64 {
    if slept <= max {
        (window * 2).clamp(START_US, max.max(1))
    } else if window / 2 < START_US {
        0
    } else {
        window / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_grows_while_sleeps_are_short_and_shrinks_when_they_are_long() {
        let max = 50;
        let mut w = 0;
        let mut seen = vec![];
        for _ in 0..4 {
            w = adapt(w, 30, max);
            seen.push(w);
        }
        assert_eq!(seen, [10, 20, 40, 50]);
        // An idle server: long sleeps take it back to no polling at all.
        let mut seen = vec![];
        for _ in 0..4 {
            w = adapt(w, 1_000_000, max);
            seen.push(w);
        }
        assert_eq!(seen, [25, 12, 0, 0]);
    }

    #[test]
    fn a_readable_socket_ends_the_poll_early() {
        let epfd = watch_set().unwrap();
        let mut fds = [0; 2];
        // SAFETY: plain syscalls on descriptors this test owns.
        unsafe {
            assert_eq!(
                libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()),
                0
            );
        }
        add(epfd, fds[0]);
        // Nothing readable: the whole window is polled.
        let start = crate::engine::mono_us();
        let (found, end) = poll(epfd, 20_000);
        assert!(!found);
        assert!(end - start >= 20_000);
        // A byte waiting: the poll ends at once.
        // SAFETY: the descriptor is open; one byte from a valid buffer.
        unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) };
        let start = crate::engine::mono_us();
        let (found, end) = poll(epfd, 10_000_000);
        assert!(found);
        assert!(end - start < 5_000_000);
        // SAFETY: closing this test's descriptors.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
            libc::close(epfd);
        }
    }
}
