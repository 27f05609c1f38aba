//! Memory figures from the allocator (jemalloc's own statistics) and the kernel (RSS).

use std::sync::atomic::{AtomicU64, Ordering};

use tikv_jemalloc_ctl::{epoch, stats};

static PEAK: AtomicU64 = AtomicU64::new(0);
/// `allocated` at the last sample (the cron samples every second).
static LAST: AtomicU64 = AtomicU64::new(0);

/// Used memory as of the last sample: what the `maxmemory` check compares, without an
/// allocator query per command.
#[inline]
pub fn used_cached() -> u64 {
    LAST.load(Ordering::Relaxed)
}

/// Bumped by every sample, so each thread knows to take a new base.
static SAMPLE_GEN: AtomicU64 = AtomicU64::new(0);
/// How often `used_recent` samples the allocator, in microseconds.
static SAMPLE_EVERY_US: AtomicU64 = AtomicU64::new(1000);

/// With one I/O thread, which allocates nearly everything, its own counters keep the figure
/// exact between samples, so the allocator is sampled every 100 ms instead of every
/// millisecond: a sample merges every arena's statistics (about 30 microseconds here), and
/// at once a millisecond that delay reached the p99 of commands under eviction. With several
/// threads each sees only its own allocations, so samples stay frequent.
pub fn set_io_threads(n: usize) {
    SAMPLE_EVERY_US.store(if n == 1 { 100_000 } else { 1000 }, Ordering::Relaxed);
    FOREIGN_SAMPLES.store(n > 1, Ordering::Relaxed);
}

/// Whether a thread takes other threads' samples as its base (several I/O threads).
static FOREIGN_SAMPLES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// A thread's view between samples: the last sample, and what this thread had allocated and
/// freed when it took it as its base.
struct Base {
    gen: u64,
    used: u64,
    allocated: u64,
    deallocated: u64,
    counters: Option<(
        tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
        tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
    )>,
}

thread_local! {
    static BASE: std::cell::RefCell<Base> = std::cell::RefCell::new(Base {
        gen: u64::MAX,
        used: 0,
        allocated: 0,
        deallocated: 0,
        counters: tikv_jemalloc_ctl::thread::allocatedp::read()
            .ok()
            .zip(tikv_jemalloc_ctl::thread::deallocatedp::read().ok()),
    });
}

/// Used memory as eviction needs it: the allocator's figure, sampled at most once per
/// millisecond (see [`set_io_threads`]), plus what this thread has allocated less
/// what it has freed since (jemalloc's per-thread counters, two loads). Without the counters
/// the figure was up to a millisecond stale, and the command that took the next sample had to
/// evict a millisecond's worth of writes at once: a latency spike (p99 under eviction 1.4x
/// that without, against 1.1x now).
pub fn used_recent() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    static SAMPLED_US: AtomicU64 = AtomicU64::new(0);
    let now = EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_micros() as u64
        + 1;
    let last = SAMPLED_US.load(Ordering::Relaxed);
    if (last == 0 || now.saturating_sub(last) >= SAMPLE_EVERY_US.load(Ordering::Relaxed))
        && SAMPLED_US
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        sample_allocated();
    }
    BASE.with(|b| {
        let mut b = b.borrow_mut();
        let Some((alloc, dealloc)) = b.counters else {
            return LAST.load(Ordering::Relaxed);
        };
        // Another thread's sample: with several I/O threads it is the only news of theirs,
        // so it becomes the base (what this thread allocated between that sample and now is
        // missed until the next). With one, this thread's own samples are exact and enough.
        let gen = SAMPLE_GEN.load(Ordering::Acquire);
        if b.gen == u64::MAX || (gen != b.gen && FOREIGN_SAMPLES.load(Ordering::Relaxed)) {
            rebase(&mut b, LAST.load(Ordering::Relaxed), gen);
        }
        (b.used + alloc.get().wrapping_sub(b.allocated))
            .saturating_sub(dealloc.get().wrapping_sub(b.deallocated))
    })
}

/// Makes `used` (just sampled, or the last sample) this thread's base, with its counters now.
fn rebase(b: &mut Base, used: u64, gen: u64) {
    if let Some((alloc, dealloc)) = b.counters {
        b.gen = gen;
        b.used = used;
        b.allocated = alloc.get();
        b.deallocated = dealloc.get();
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct MemInfo {
    /// Bytes the program holds (`used_memory`).
    pub allocated: u64,
    /// Bytes in pages the allocator has in use (`allocator_active`).
    pub active: u64,
    /// Bytes the allocator has resident (`allocator_resident`).
    pub resident: u64,
    /// Resident set size of the process, from /proc.
    pub rss: u64,
    /// Highest `allocated` seen.
    pub peak: u64,
}

/// Refreshes the allocator statistics and records `allocated` (and the peak): (allocated, peak).
fn sample_allocated() -> (u64, u64) {
    let _ = epoch::advance();
    let allocated = stats::allocated::read().unwrap_or(0) as u64;
    let peak = PEAK.fetch_max(allocated, Ordering::Relaxed).max(allocated);
    LAST.store(allocated, Ordering::Relaxed);
    let gen = SAMPLE_GEN.fetch_add(1, Ordering::Release) + 1;
    // The sampling thread's own counters are read right after the figure: an exact base.
    BASE.with(|b| rebase(&mut b.borrow_mut(), allocated, gen));
    (allocated, peak)
}

/// Refreshes and reads the allocator statistics.
pub fn sample() -> MemInfo {
    let (allocated, peak) = sample_allocated();
    MemInfo {
        allocated,
        active: stats::active::read().unwrap_or(0) as u64,
        resident: stats::resident::read().unwrap_or(0) as u64,
        rss: rss_bytes(),
        peak,
    }
}

/// Where used memory goes, as INFO memory and MEMORY STATS report it.
#[derive(Debug, Clone, Copy)]
pub struct Breakdown {
    pub m: MemInfo,
    /// Used at startup, before any client or key.
    pub startup: u64,
    /// Client buffers.
    pub clients: u64,
    /// Startup plus clients: what is not data.
    pub overhead: u64,
    /// The rest: keys and values.
    pub dataset: u64,
}

impl Breakdown {
    /// Samples the allocator and splits its figure.
    pub fn now(startup: u64, clients: u64) -> Breakdown {
        let m = sample();
        let overhead = startup + clients;
        Breakdown {
            m,
            startup,
            clients,
            overhead,
            dataset: m.allocated.saturating_sub(overhead),
        }
    }
}

/// `a / b`, or 0 when `b` is 0 (Redis's ratios in INFO and MEMORY STATS).
pub fn ratio(a: u64, b: u64) -> f64 {
    if b > 0 {
        a as f64 / b as f64
    } else {
        0.0
    }
}

/// Resident set size in bytes (0 where /proc is unavailable).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

/// Total physical memory in bytes.
pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    (pages.max(0) as u64) * page_size()
}

/// Redis's human-readable byte format (`1.50M`).
pub fn human(n: u64) -> String {
    let units = ["B", "K", "M", "G", "T", "P"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", units[i])
    }
}

/// Turns jemalloc's background purging thread on or off (`jemalloc-bg-thread`).
pub fn background_thread(on: bool) {
    if tikv_jemalloc_ctl::background_thread::read().ok() != Some(on) {
        if let Err(e) = tikv_jemalloc_ctl::background_thread::write(on) {
            tracing::warn!("Could not set the allocator's background thread: {e}");
        }
    }
}

/// Returns unused dirty pages of every arena to the system (MEMORY PURGE).
pub fn purge() -> bool {
    // "arena.<MALLCTL_ARENAS_ALL>.purge" takes and returns nothing.
    let name = b"arena.4096.purge\0";
    // SAFETY: a NUL-terminated control name; no old or new value buffers are passed.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr() as *const _,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    rc == 0
}

/// The allocator's own statistics report (MEMORY MALLOC-STATS).
pub fn malloc_stats() -> String {
    extern "C" fn write(out: *mut std::ffi::c_void, text: *const std::os::raw::c_char) {
        // SAFETY: `out` is the String passed below; `text` is a NUL-terminated C string.
        unsafe {
            let s = &mut *(out as *mut String);
            s.push_str(&std::ffi::CStr::from_ptr(text).to_string_lossy());
        }
    }
    let mut s = String::new();
    // SAFETY: the callback only appends to `s`, which outlives the call.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(write),
            &mut s as *mut String as *mut std::ffi::c_void,
            std::ptr::null(),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_format() {
        assert_eq!(human(100), "100B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(3 * 1024 * 1024), "3.00M");
    }
}
