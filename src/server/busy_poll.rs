//! Polling the client sockets for a moment before the event loop sleeps (one I/O thread only).
//!
//! When the runtime has nothing left to run it waits in `epoll_wait`, and the next request has
//! to wake it. That wake-up is paid by the client's `send`: on the project's VM,
//! `sock_def_readable` (waking the server) was 9% of redis-benchmark's CPU at `-c 50 -P 1`, where
//! the client's core is the bottleneck. Polling first means the request usually finds the server
//! awake. The window adapts as KVM's halt polling does: it doubles (from 10 µs, up to
//! `busy-poll-us`) while the idle time (poll plus sleep) turns out shorter than the limit, so
//! a longer poll would have caught the next event, and halves when it is longer, so an idle
//! server, or one whose clients are farther away than the limit, does not poll.
//!
//! The sockets are watched through an epoll instance of our own (level-triggered, every
//! accepted client and every listener), so any readable client ends the poll, not only those
//! served in the last round; the replica's link to its primary is watched too. A socket closes
//! out of the set by itself. Timers and wake-ups from other threads are not watched: they wait
//! for the end of the window at most. A socket that stays readable while nobody reads it (a
//! paused client) ends every poll at once: polling is then off until it is read.
//!
//! Time spent polling is not work: EngineCPUUtilization leaves out the CPU time it took
//! ([`polled_us`]).

use std::cell::Cell;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// The epoll instance watching the sockets; -1 until [`enable`].
static EPFD: AtomicI32 = AtomicI32::new(-1);
/// `busy-poll-us`: the largest window; 0 turns polling off.
static MAX_US: AtomicU64 = AtomicU64::new(0);
/// CPU microseconds spent polling, since start.
static POLLED_US: AtomicU64 = AtomicU64::new(0);

/// The first window after sleeps showed that polling would pay.
const START_US: u64 = 10;

thread_local! {
    static WINDOW_US: Cell<u64> = const { Cell::new(0) };
    /// When the thread became idle, if it then went to sleep (0: the poll found work).
    static IDLE_FROM: Cell<u64> = const { Cell::new(0) };
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

/// CPU time spent polling, in microseconds.
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
    let idle_from = crate::engine::mono_us();
    if !poll(epfd, window, idle_from) {
        IDLE_FROM.with(|c| c.set(idle_from));
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

/// Polls `epfd` from `start` until a socket is readable or `window` microseconds pass.
/// Returns whether one was.
fn poll(epfd: RawFd, window: u64, start: u64) -> bool {
    if window == 0 {
        return false;
    }
    // CPU time, not wall time: a descheduled poll costs nothing.
    let cpu = crate::engine::thread_cpu_us();
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    let found = loop {
        // SAFETY: `epfd` is open; room for one event is passed.
        let n = unsafe { libc::epoll_wait(epfd, &mut ev, 1, 0) };
        if n > 0 {
            break true;
        }
        if crate::engine::mono_us().saturating_sub(start) >= window {
            break false;
        }
    };
    POLLED_US.fetch_add(
        crate::engine::thread_cpu_us().saturating_sub(cpu),
        Ordering::Relaxed,
    );
    found
}

/// Adapts the window to how long the thread was idle before this wake-up.
pub fn after_unpark() {
    let from = IDLE_FROM.with(|c| c.replace(0));
    if from == 0 {
        return;
    }
    let idle = crate::engine::mono_us().saturating_sub(from);
    let max = MAX_US.load(Ordering::Relaxed);
    WINDOW_US.with(|w| w.set(adapt(w.get(), idle, max)));
}

/// The next window, given the current one and how long the thread was idle (polling and then
/// sleeping) until the next event.
fn adapt(window: u64, idle: u64, max: u64) -> u64 {
    if idle <= max {
        (window * 2).max(START_US).min(max)
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
        // Clients farther away than the limit: idle times just over it shrink the window even
        // from its maximum (a poll of the limit would not have caught them).
        assert_eq!(adapt(50, 51, 50), 25);
        // A limit under the starting window (busy-poll-us 1..9) is a window of its own.
        assert_eq!(adapt(0, 3, 5), 5);
        assert_eq!(adapt(5, 3, 5), 5);
        assert_eq!(adapt(5, 6, 5), 0);
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
        assert!(!poll(epfd, 20_000, start));
        assert!(crate::engine::mono_us() - start >= 20_000);
        // A byte waiting: the poll ends at once.
        // SAFETY: the descriptor is open; one byte from a valid buffer.
        unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) };
        let start = crate::engine::mono_us();
        assert!(poll(epfd, 10_000_000, start));
        assert!(crate::engine::mono_us() - start < 5_000_000);
        // SAFETY: closing this test's descriptors.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
            libc::close(epfd);
        }
    }
}
