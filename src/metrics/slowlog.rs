//! SLOWLOG's entries and LATENCY's spike history, as Redis keeps them.
//!
//! Both are checked after every command against a threshold read from one atomic, so a command
//! under the thresholds costs two loads and two comparisons; only a slow one takes a lock.

use std::collections::{BTreeMap, VecDeque};

use parking_lot::Mutex;

/// Arguments kept per entry; the last slot then says how many more there were.
const MAX_ARGS: usize = 32;
/// Bytes kept per argument; the rest is summarised.
const MAX_ARG_LEN: usize = 128;

#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    /// Unix seconds.
    pub time: u64,
    pub usec: u64,
    pub args: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

#[derive(Default)]
struct Log {
    entries: VecDeque<Entry>,
    next_id: u64,
}

#[derive(Default)]
pub struct SlowLog {
    log: Mutex<Log>,
}

/// What Redis records of a command's arguments: at most 32, each at most 128 bytes.
pub fn trimmed_args(argv: &[&[u8]], redact: Option<std::ops::Range<usize>>) -> Vec<Vec<u8>> {
    let keep = argv.len().min(MAX_ARGS);
    let mut v = Vec::with_capacity(keep);
    for (i, a) in argv.iter().enumerate().take(keep) {
        if keep < argv.len() && i == keep - 1 {
            v.push(format!("... ({} more arguments)", argv.len() - keep + 1).into_bytes());
            break;
        }
        if redact.as_ref().is_some_and(|r| r.contains(&i)) {
            v.push(b"(redacted)".to_vec());
        } else if a.len() > MAX_ARG_LEN {
            let mut t = a[..MAX_ARG_LEN].to_vec();
            t.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes());
            v.push(t);
        } else {
            v.push(a.to_vec());
        }
    }
    v
}

impl SlowLog {
    pub fn push(&self, mut e: Entry, max_len: usize) {
        let mut log = self.log.lock();
        e.id = log.next_id;
        log.next_id += 1;
        log.entries.push_front(e);
        log.entries.truncate(max_len);
    }

    /// The newest `count` entries (all for None), newest first.
    pub fn newest(&self, count: Option<usize>) -> Vec<Entry> {
        let log = self.log.lock();
        let n = count.unwrap_or(log.entries.len());
        log.entries.iter().take(n).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.log.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.log.lock().entries.clear();
    }

    /// Applies a lowered `slowlog-max-len` at once.
    pub fn trim(&self, max_len: usize) {
        self.log.lock().entries.truncate(max_len);
    }
}

/// Samples kept per event (Redis keeps 160, one per second at most).
const HISTORY: usize = 160;

#[derive(Clone, Debug, Default)]
pub struct Event {
    /// (unix seconds, milliseconds), oldest first.
    pub samples: VecDeque<(u64, u64)>,
    pub max: u64,
}

/// LATENCY's per-event history of spikes over `latency-monitor-threshold`.
#[derive(Default)]
pub struct LatencySpikes {
    events: Mutex<BTreeMap<&'static str, Event>>,
}

impl LatencySpikes {
    /// Records a spike; two in the same second keep the larger.
    pub fn add(&self, event: &'static str, now_secs: u64, ms: u64) {
        let mut events = self.events.lock();
        let e = events.entry(event).or_default();
        e.max = e.max.max(ms);
        match e.samples.back_mut() {
            Some(last) if last.0 == now_secs => last.1 = last.1.max(ms),
            _ => {
                e.samples.push_back((now_secs, ms));
                if e.samples.len() > HISTORY {
                    e.samples.pop_front();
                }
            }
        }
    }

    pub fn events(&self) -> Vec<(&'static str, Event)> {
        self.events
            .lock()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    pub fn history(&self, event: &[u8]) -> Vec<(u64, u64)> {
        self.events
            .lock()
            .iter()
            .find(|(k, _)| k.as_bytes() == event)
            .map(|(_, e)| e.samples.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Forgets the named events (all for an empty list); returns how many there were.
    pub fn reset(&self, names: &[&[u8]]) -> usize {
        let mut events = self.events.lock();
        if names.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        let before = events.len();
        events.retain(|k, _| !names.contains(&k.as_bytes()));
        before - events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_capped_as_redis_does() {
        let long = vec![b'x'; 200];
        let args: Vec<&[u8]> = vec![b"set", b"k", &long];
        let t = trimmed_args(&args, None);
        assert_eq!(t[2].len(), 128 + "... (72 more bytes)".len());
        assert!(t[2].ends_with(b"... (72 more bytes)"));
        let many: Vec<Vec<u8>> = (0..40).map(|i| format!("a{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = many.iter().map(|v| &v[..]).collect();
        let t = trimmed_args(&refs, None);
        assert_eq!(t.len(), 32);
        assert_eq!(t[31], b"... (9 more arguments)");
        let t = trimmed_args(&[b"auth", b"user", b"pass"], Some(1..3));
        assert_eq!(
            t,
            vec![
                b"auth".to_vec(),
                b"(redacted)".to_vec(),
                b"(redacted)".to_vec()
            ]
        );
    }

    #[test]
    fn log_is_newest_first_and_bounded() {
        let log = SlowLog::default();
        for i in 0..5 {
            let e = Entry {
                id: 0,
                time: i,
                usec: i,
                args: vec![],
                addr: String::new(),
                name: vec![],
            };
            log.push(e, 3);
        }
        let got = log.newest(None);
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), [4, 3, 2]);
        assert_eq!(log.newest(Some(1))[0].usec, 4);
    }

    #[test]
    fn spikes_keep_one_sample_per_second() {
        let m = LatencySpikes::default();
        m.add("command", 100, 5);
        m.add("command", 100, 9);
        m.add("command", 101, 2);
        assert_eq!(m.history(b"command"), vec![(100, 9), (101, 2)]);
        assert_eq!(m.events()[0].1.max, 9);
        assert_eq!(m.reset(&[b"nothing"]), 0);
        assert_eq!(m.reset(&[]), 1);
    }
}
