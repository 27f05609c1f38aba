//! The host-level figures ElastiCache publishes beside the engine's, read from `/proc`
//! (`CPUUtilization`, `FreeableMemory`, `SwapUsage`, `Network*`). Every reader returns zeros
//! where the file is missing, so a sandbox without `/proc` still serves its metrics.

/// Cumulative host counters; the period's metrics are their differences.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counters {
    /// Jiffies the CPUs spent busy, and in total (`/proc/stat`, first line).
    pub cpu_busy: u64,
    pub cpu_total: u64,
    /// Bytes and packets over every interface but loopback (`/proc/net/dev`).
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
}

pub fn counters() -> Counters {
    let mut c = Counters::default();
    if let Ok(stat) = std::fs::read_to_string("/proc/stat") {
        if let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) {
            let v: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal (guest time is inside user).
            let at = |i: usize| v.get(i).copied().unwrap_or(0);
            c.cpu_busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
            c.cpu_total = c.cpu_busy + at(3) + at(4);
        }
    }
    if let Ok(dev) = std::fs::read_to_string("/proc/net/dev") {
        for line in dev.lines().skip(2) {
            let Some((name, rest)) = line.split_once(':') else {
                continue;
            };
            if name.trim() == "lo" {
                continue;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() >= 10 {
                c.rx_bytes += v[0];
                c.rx_packets += v[1];
                c.tx_bytes += v[8];
                c.tx_packets += v[9];
            }
        }
    }
    c
}

/// (available memory, swap in use, total memory), in bytes, from `/proc/meminfo`.
pub fn memory() -> (u64, u64, u64) {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else {
        return (0, 0, 0);
    };
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (
        field("MemAvailable"),
        field("SwapTotal").saturating_sub(field("SwapFree")),
        field("MemTotal"),
    )
}

/// (system, user) CPU time in microseconds of the process (`RUSAGE_SELF`) or of the calling
/// thread (`RUSAGE_THREAD`).
pub fn cpu_times(who: libc::c_int) -> (u64, u64) {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    (us(ru.ru_stime), us(ru.ru_utime))
}

/// CPU time this process has used, in microseconds.
pub fn process_cpu_us() -> u64 {
    let (sys, user) = cpu_times(libc::RUSAGE_SELF);
    sys + user
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let c = counters();
        assert!(c.cpu_total >= c.cpu_busy);
        assert!(c.cpu_total > 0);
        let (avail, _swap, total) = memory();
        assert!(avail > 0 && avail <= total);
        assert!(process_cpu_us() > 0);
        let (sys, user) = cpu_times(libc::RUSAGE_THREAD);
        assert!(sys + user <= process_cpu_us());
    }
}
