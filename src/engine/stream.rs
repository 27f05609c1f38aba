//! The stream type: entries keyed by (milliseconds, sequence) IDs in order, with the
//! bookkeeping Redis keeps beside them (last generated ID, entries ever added, the largest
//! deleted ID), and the consumer groups reading it.

use std::collections::{BTreeMap, BTreeSet};

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

/// A delivered, not yet acknowledged entry of a consumer group.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub consumer: Bytes,
    /// Last delivery, ms since the epoch.
    pub delivered_at: u64,
    pub deliveries: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Consumer {
    /// Last interaction, ms since the epoch.
    pub seen: u64,
    pub pending: BTreeSet<StreamId>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    /// Entries the group has read (None when unknown, as after XGROUP SETID to an arbitrary ID).
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    /// Gets or creates a consumer; true if created.
    pub fn consumer(&mut self, name: &[u8], now: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c = self
            .consumers
            .entry(Bytes::from(name))
            .or_insert_with(|| Consumer {
                seen: now,
                pending: BTreeSet::new(),
            });
        (c, created)
    }

    /// Gives the entry `id` to `consumer` (XCLAIM, XAUTOCLAIM), adding it to the PEL if it is
    /// not there (XCLAIM FORCE). The delivery is stamped `at`; its count becomes `retries`
    /// when given, else goes up by one when `bump`. True if the consumer was created.
    pub fn claim(
        &mut self,
        id: StreamId,
        consumer: &[u8],
        at: u64,
        retries: Option<u64>,
        bump: bool,
        now: u64,
    ) -> bool {
        let (c, created) = self.consumer(consumer, now);
        c.seen = now;
        let p = self.pel.entry(id).or_insert_with(|| Pending {
            consumer: Bytes::new(b""),
            delivered_at: now,
            deliveries: 1,
        });
        if p.consumer[..] != *consumer {
            if let Some(old) = self.consumers.get_mut(&p.consumer[..]) {
                old.pending.remove(&id);
            }
            p.consumer = consumer.into();
            if let Some(c) = self.consumers.get_mut(consumer) {
                c.pending.insert(id);
            }
        }
        p.delivered_at = at;
        match retries {
            Some(n) => p.deliveries = n,
            None if bump => p.deliveries += 1,
            None => {}
        }
        created
    }

    /// Removes an entry from the PEL (XACK); true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(&p.consumer[..]) {
                    c.pending.remove(&id);
                }
                true
            }
            None => false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    pub entries: BTreeMap<StreamId, Fields>,
    pub last_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    nodes: std::collections::VecDeque<Node>,
    /// Consumer groups by name.
    pub groups: BTreeMap<Bytes, Group>,
}

impl Stream {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a deleted entry may lie at or after `start` (Redis's streamRangeHasTombstones).
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.is_empty()
            || self.max_deleted == StreamId::MIN
            || self.first_id() > self.max_deleted
        {
            return false;
        }
        start <= self.max_deleted
    }

    /// How many entries were added up to `id`, when that can be known (Redis's
    /// streamEstimateDistanceFromFirstEverEntry): a group's read count and lag.
    pub fn entries_up_to(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            _ => {}
        }
        let first = self.first_id();
        if self.max_deleted == StreamId::MIN || self.max_deleted < first {
            let base = self.entries_added - self.len() as u64;
            match id.cmp(&first) {
                std::cmp::Ordering::Less => return Some(base),
                std::cmp::Ordering::Equal => return Some(base + 1),
                _ => {}
            }
        }
        None
    }

    /// A group's lag (XINFO GROUPS): entries added that it has not read, when known.
    pub fn lag(&self, g: &Group) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        match g.entries_read {
            Some(n) if !self.has_tombstones_from(g.last_id) => {
                Some(self.entries_added.saturating_sub(n))
            }
            _ => self
                .entries_up_to(g.last_id)
                .map(|n| self.entries_added.saturating_sub(n)),
        }
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

    /// The ID ranges of the nodes, in order (for writing a stream out node by node).
    pub fn node_ranges(&self) -> Vec<std::ops::Range<StreamId>> {
        (0..self.nodes.len()).map(|i| self.node_range(i)).collect()
    }

    /// Appends a whole node when loading a stream: its entries (in order, above every entry
    /// already present) and how many it had deleted. `last_id` and the counters are the
    /// caller's to set.
    pub fn load_node(&mut self, first: StreamId, entries: Vec<(StreamId, Fields)>, deleted: u64) {
        let live = entries.len() as u64;
        if live == 0 {
            return;
        }
        self.entries.extend(entries);
        self.nodes.push_back(Node {
            first,
            live,
            appended: live + deleted,
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64) -> StreamId {
        StreamId::new(ms, 0)
    }

    #[test]
    fn claim_moves_an_entry_between_consumers() {
        let mut g = Group::default();
        g.claim(id(1), b"alice", 10, None, true, 10);
        // Created by the claim (FORCE): one delivery, counted up by one more.
        assert_eq!(g.pel[&id(1)].deliveries, 2);
        assert!(g.consumers[&b"alice"[..]].pending.contains(&id(1)));
        g.claim(id(1), b"bob", 5, None, false, 20);
        let p = &g.pel[&id(1)];
        assert_eq!(
            (&p.consumer[..], p.delivered_at, p.deliveries),
            (&b"bob"[..], 5, 2)
        );
        assert!(g.consumers[&b"alice"[..]].pending.is_empty());
        assert!(g.consumers[&b"bob"[..]].pending.contains(&id(1)));
        assert_eq!(g.consumers[&b"bob"[..]].seen, 20);
        g.claim(id(1), b"bob", 30, Some(7), true, 30);
        assert_eq!(g.pel[&id(1)].deliveries, 7);
        assert_eq!(g.consumers[&b"bob"[..]].pending.len(), 1);
        assert!(g.ack(id(1)));
        assert!(g.pel.is_empty() && g.consumers[&b"bob"[..]].pending.is_empty());
    }
}
