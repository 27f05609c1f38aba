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

/// Where Redis's radix-tree nodes would split the stream: trimming works node by node, so
/// `MAXLEN ~` leaves exactly what Redis leaves. A node takes `stream-node-max-entries`
/// appends (live or since deleted); the byte limit is not modelled.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    first: StreamId,
    live: u64,
    appended: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    pub entries: BTreeMap<StreamId, Fields>,
    pub last_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    nodes: std::collections::VecDeque<Node>,
}

impl Stream {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many radix-tree nodes (listpacks) Redis would hold for this stream.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
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

    /// Appends an entry (the ID must be above `last_id`); `node_max` entries fill a node.
    pub fn add(&mut self, id: StreamId, fields: Fields, node_max: u64) {
        self.entries.insert(id, fields);
        self.last_id = id;
        self.entries_added += 1;
        match self.nodes.back_mut() {
            Some(n) if node_max == 0 || n.appended < node_max => {
                n.live += 1;
                n.appended += 1;
            }
            _ => self.nodes.push_back(Node {
                first: id,
                live: 1,
                appended: 1,
            }),
        }
    }

    fn node_of(&self, id: StreamId) -> Option<usize> {
        self.nodes.partition_point(|n| n.first <= id).checked_sub(1)
    }

    pub fn delete(&mut self, id: StreamId) -> bool {
        if self.entries.remove(&id).is_none() {
            return false;
        }
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        if let Some(i) = self.node_of(id) {
            self.nodes[i].live -= 1;
            if self.nodes[i].live == 0 {
                self.nodes.remove(i);
            }
        }
        true
    }

    /// The entries of node `i`, as an ID range.
    fn node_range(&self, i: usize) -> std::ops::Range<StreamId> {
        let end = self.nodes.get(i + 1).map_or(StreamId::MAX, |n| n.first);
        self.nodes[i].first..end
    }

    /// Trims by MAXLEN or MINID as Redis's streamTrim does: whole nodes from the head while
    /// they can go, then (unless `approx`) single entries of the first remaining node;
    /// `limit` (0: none) caps the entries removed. Returns how many went. Unlike XDEL,
    /// trimming leaves `max_deleted` alone, as in Redis.
    pub fn trim(
        &mut self,
        maxlen: Option<u64>,
        minid: Option<StreamId>,
        approx: bool,
        limit: u64,
    ) -> u64 {
        let mut deleted = 0u64;
        while !self.nodes.is_empty() {
            if maxlen.is_some_and(|m| self.len() as u64 <= m) {
                break;
            }
            let live = self.nodes[0].live;
            if limit > 0 && deleted + live > limit {
                break;
            }
            let range = self.node_range(0);
            let whole = match (maxlen, minid) {
                (Some(m), _) => self.len() as u64 - live >= m,
                (_, Some(min)) => self
                    .entries
                    .range(range.clone())
                    .next_back()
                    .is_some_and(|(id, _)| *id < min),
                _ => false,
            };
            if whole {
                let ids: Vec<StreamId> = self.entries.range(range).map(|(id, _)| *id).collect();
                for id in ids {
                    self.entries.remove(&id);
                }
                self.nodes.pop_front();
                deleted += live;
                continue;
            }
            if approx {
                break;
            }
            let ids: Vec<StreamId> = self.entries.range(range).map(|(id, _)| *id).collect();
            for id in ids {
                let stop = match (maxlen, minid) {
                    (Some(m), _) => self.len() as u64 <= m,
                    (_, Some(min)) => id >= min,
                    _ => true,
                };
                if stop {
                    break;
                }
                self.entries.remove(&id);
                self.nodes[0].live -= 1;
                deleted += 1;
            }
            if self.nodes[0].live == 0 {
                self.nodes.pop_front();
            }
            break;
        }
        deleted
    }
}
