//! The stream type: entries keyed by (milliseconds, sequence) IDs in order, with the
//! bookkeeping Redis keeps beside them (last generated ID, entries ever added, the largest
//! deleted ID). Consumer groups are not here yet.

use std::collections::BTreeMap;

use super::collections::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID up (None past the largest).
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| StreamId { ms, seq: 0 }),
        }
    }

    /// The next ID down (None below 0-0).
    pub fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self
                .ms
                .checked_sub(1)
                .map(|ms| StreamId { ms, seq: u64::MAX }),
        }
    }

    pub fn to_bytes(self) -> Vec<u8> {
        format!("{}-{}", self.ms, self.seq).into_bytes()
    }
}

pub type Fields = Vec<(Bytes, Bytes)>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    pub entries: BTreeMap<StreamId, Fields>,
    pub last_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
}

impl Stream {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn first_id(&self) -> StreamId {
        self.entries.keys().next().copied().unwrap_or_default()
    }

    /// The ID `*` generates now; None once the ID space is exhausted.
    pub fn auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.next()
        }
    }

    /// Appends an entry (the ID must be above `last_id`).
    pub fn add(&mut self, id: StreamId, fields: Fields) {
        self.entries.insert(id, fields);
        self.last_id = id;
        self.entries_added += 1;
    }

    pub fn delete(&mut self, id: StreamId) -> bool {
        let gone = self.entries.remove(&id).is_some();
        if gone && id > self.max_deleted {
            self.max_deleted = id;
        }
        gone
    }

    /// Removes the oldest entries until at most `maxlen` remain, or (MINID) those below
    /// `minid`; `approx` removes only whole blocks of `node` entries, as Redis trims whole
    /// radix-tree nodes; `limit` caps the removals (0: none). Returns how many went.
    pub fn trim(
        &mut self,
        maxlen: Option<u64>,
        minid: Option<StreamId>,
        approx: bool,
        limit: u64,
        node: u64,
    ) -> u64 {
        let mut removed = 0u64;
        loop {
            let excess = match (maxlen, minid) {
                (Some(m), _) => (self.len() as u64).saturating_sub(m),
                (_, Some(id)) => self.entries.range(..id).count() as u64,
                _ => 0,
            };
            if excess == 0 {
                break;
            }
            let n = if approx {
                if excess < node {
                    break;
                }
                node
            } else {
                excess
            };
            if limit > 0 && removed + n > limit {
                break;
            }
            for _ in 0..n {
                if let Some((&id, _)) = self.entries.iter().next() {
                    self.entries.remove(&id);
                    if id > self.max_deleted {
                        self.max_deleted = id;
                    }
                }
            }
            removed += n;
            if !approx {
                break;
            }
        }
        removed
    }
}
