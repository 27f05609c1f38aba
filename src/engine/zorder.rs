//! The ordered side of a sorted set: (score, member) pairs kept sorted in chunks of at most
//! `MAX` entries.
//!
//! Redis uses a skiplist with spans, giving O(log n) rank and index lookups. A chunked sorted
//! vector does the same jobs with sequential memory: finding a chunk is a binary search over
//! chunk boundaries, a rank or an index walks the chunk lengths (n / 512 additions, about 2,000
//! for a million members, a microsecond or so), and the work inside a chunk is a binary search
//! and a memmove of at most `MAX` entries. BTreeSet, used before, cannot answer "the element at
//! index i" or "the rank of x" without walking i elements, which made ZRANGE and ZRANK O(n).

use std::cmp::Ordering;

use super::collections::{Bytes, Score};

const MAX: usize = 512;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZOrder {
    chunks: Vec<Vec<(Score, Bytes)>>,
    len: usize,
}

fn cmp(e: &(Score, Bytes), score: f64, member: &[u8]) -> Ordering {
    e.0 .0.total_cmp(&score).then_with(|| e.1[..].cmp(member))
}

impl ZOrder {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk that holds, or would hold, (score, member).
    fn chunk_for(&self, score: f64, member: &[u8]) -> usize {
        let i = self.chunks.partition_point(|c| {
            cmp(c.last().expect("chunks are never empty"), score, member) == Ordering::Less
        });
        i.min(self.chunks.len().saturating_sub(1))
    }

    pub fn insert(&mut self, score: f64, member: Bytes) {
        if self.chunks.is_empty() {
            self.chunks.push(vec![(Score(score), member)]);
            self.len = 1;
            return;
        }
        let c = self.chunk_for(score, &member);
        let chunk = &mut self.chunks[c];
        let pos = chunk.partition_point(|e| cmp(e, score, &member) == Ordering::Less);
        chunk.insert(pos, (Score(score), member));
        self.len += 1;
        if chunk.len() > MAX {
            let tail = chunk.split_off(MAX / 2);
            self.chunks.insert(c + 1, tail);
        }
    }

    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        if self.chunks.is_empty() {
            return false;
        }
        let c = self.chunk_for(score, member);
        let chunk = &mut self.chunks[c];
        let Ok(pos) = chunk.binary_search_by(|e| cmp(e, score, member)) else {
            return false;
        };
        chunk.remove(pos);
        self.len -= 1;
        if chunk.is_empty() {
            self.chunks.remove(c);
        } else if chunk.len() < MAX / 8
            && c + 1 < self.chunks.len()
            && self.chunks[c + 1].len() < MAX / 2
        {
            // Merge small neighbours so the chunk count stays near len / MAX.
            let next = self.chunks.remove(c + 1);
            self.chunks[c].extend(next);
        }
        true
    }

    /// Zero-based rank of (score, member), if present.
    pub fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        if self.chunks.is_empty() {
            return None;
        }
        let c = self.chunk_for(score, member);
        let pos = self.chunks[c]
            .binary_search_by(|e| cmp(e, score, member))
            .ok()?;
        Some(self.chunks[..c].iter().map(Vec::len).sum::<usize>() + pos)
    }

    /// Number of entries for which `below` holds; `below` must hold for a prefix of the order
    /// (a lower bound by score or by member).
    pub fn count_below(&self, below: impl Fn(f64, &[u8]) -> bool) -> usize {
        let c = self
            .chunks
            .partition_point(|ch| ch.last().is_some_and(|(s, m)| below(s.0, m)));
        let before: usize = self.chunks[..c].iter().map(Vec::len).sum();
        before
            + self
                .chunks
                .get(c)
                .map_or(0, |ch| ch.partition_point(|(s, m)| below(s.0, m)))
    }

    /// (chunk, offset) of index `i` (i < len).
    fn locate(&self, mut i: usize) -> (usize, usize) {
        for (c, ch) in self.chunks.iter().enumerate() {
            if i < ch.len() {
                return (c, i);
            }
            i -= ch.len();
        }
        (self.chunks.len(), 0)
    }

    /// Entries from index `i` upwards.
    pub fn iter_from(&self, i: usize) -> impl Iterator<Item = (&Bytes, f64)> {
        let (c, o) = self.locate(i.min(self.len));
        let first = self.chunks.get(c).map_or(&[][..], |ch| &ch[o..]);
        first
            .iter()
            .chain(self.chunks.iter().skip(c + 1).flatten())
            .map(|(s, m)| (m, s.0))
    }

    /// Entries from index `i` downwards (i < len).
    pub fn iter_down_from(&self, i: usize) -> impl Iterator<Item = (&Bytes, f64)> {
        let (c, o) = if self.len == 0 {
            (0, 0)
        } else {
            self.locate(i.min(self.len - 1))
        };
        let first = self.chunks.get(c).map_or(&[][..], |ch| &ch[..=o]);
        first
            .iter()
            .rev()
            .chain(
                self.chunks[..c.min(self.chunks.len())]
                    .iter()
                    .rev()
                    .flat_map(|ch| ch.iter().rev()),
            )
            .map(|(s, m)| (m, s.0))
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.chunks.iter().flatten().map(|(s, m)| (m, s.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Random inserts and removals against a sorted Vec model: order, ranks, index walks.
    #[test]
    fn matches_a_sorted_vec() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut z = ZOrder::default();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        for step in 0..20_000 {
            let score = rng.random_range(0..200) as f64;
            let member = format!("m{}", rng.random_range(0..3000)).into_bytes();
            let present = model.iter().position(|(s, m)| *s == score && *m == member);
            if rng.random_bool(0.6) {
                if present.is_none() {
                    z.insert(score, member.as_slice().into());
                    model.push((score, member));
                }
            } else if let Some(p) = present {
                assert!(z.remove(score, &member));
                model.remove(p);
            } else {
                assert!(!z.remove(score, &member));
            }
            if step % 1000 == 0 {
                model.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
                assert_eq!(z.len(), model.len());
                let got: Vec<(f64, Vec<u8>)> = z.iter().map(|(m, s)| (s, m.to_vec())).collect();
                assert_eq!(got, model);
                for (i, (s, m)) in model.iter().enumerate().step_by(97) {
                    assert_eq!(z.rank(*s, m), Some(i));
                    assert_eq!(
                        z.iter_from(i).next().map(|(m, s)| (s, m.to_vec())),
                        Some((*s, m.clone()))
                    );
                    assert_eq!(
                        z.iter_down_from(i).next().map(|(m, s)| (s, m.to_vec())),
                        Some((*s, m.clone()))
                    );
                    assert_eq!(z.iter_down_from(i).count(), i + 1);
                }
                let below = z.count_below(|s, _| s < 100.0);
                assert_eq!(below, model.iter().filter(|(s, _)| *s < 100.0).count());
            }
        }
    }
}
