//! The collection types: lists, hashes, sets and sorted sets, with the encoding names Redis
//! 7.0 reports for them (OBJECT ENCODING) and its conversion thresholds.

use std::collections::VecDeque;

use indexmap::{IndexMap, IndexSet};

/// Members, fields and elements: inline when short (see `Key`), which saves an allocation and a
/// cache miss per element in large collections.
pub type Bytes = super::Key;
type Hasher = foldhash::fast::RandomState;

/// Conversion thresholds (`hash-max-listpack-entries` and friends), read from the config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub set_intset_entries: usize,
    pub zset_entries: usize,
    pub zset_value: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash_entries: 128,
            hash_value: 64,
            set_intset_entries: 512,
            zset_entries: 128,
            zset_value: 64,
        }
    }
}

/// A list. Redis 7.0 reports every list as "quicklist".
pub type List = VecDeque<Bytes>;

/// A hash. While small ("listpack", as Redis keeps it) its fields and values sit in one flat
/// buffer in insertion order, each as a LEB128 length and its bytes: no table, no per-field
/// allocation, and lookups scan at most `hash-max-listpack-entries` pairs. Past the limits it
/// becomes a hash table ("hashtable") and never converts back, like Redis's.
#[derive(Debug, Clone, PartialEq)]
pub enum Hash {
    /// The buffer is kept at its exact size (a listpack is too): most hashes in a cache are
    /// small and never change again, so spare capacity would be paid for per key.
    Small { buf: Vec<u8>, len: usize },
    /// Boxed so that a small hash, the common case, costs a 32-byte header and not the table's.
    Big(Box<IndexMap<Bytes, Bytes, Hasher>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Small {
            buf: Vec::new(),
            len: 0,
        }
    }
}

/// Longest LEB128 length prefix of a `usize`.
const LEB_MAX: usize = 10;

/// Appends `b` as a LEB128 length and its bytes.
fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    let mut n = b.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf.push(byte);
            break;
        }
        buf.push(byte | 0x80);
    }
    buf.extend_from_slice(b);
}

/// Reads a length-prefixed string at `at`: (its bytes, the position after it).
fn take_bytes(buf: &[u8], mut at: usize) -> (&[u8], usize) {
    let (mut n, mut shift) = (0usize, 0);
    loop {
        let byte = buf[at];
        at += 1;
        n |= ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (&buf[at..at + n], at + n)
}

/// The pairs of a small hash's buffer, in order, with each pair's start position.
fn pairs(buf: &[u8]) -> impl Iterator<Item = (usize, &[u8], &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        let start = at;
        let (f, next) = take_bytes(buf, at);
        let (v, end) = take_bytes(buf, next);
        at = end;
        Some((start, f, v))
    })
}

/// Where the pair of `field` lies in a small hash's buffer (start, end).
fn pair_span(buf: &[u8], field: &[u8]) -> Option<(usize, usize)> {
    pairs(buf)
        .find(|(_, f, _)| *f == field)
        .map(|(start, _, v)| (start, v.as_ptr() as usize - buf.as_ptr() as usize + v.len()))
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Small { len, .. } => *len,
            Hash::Big(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Small { buf, .. } => pairs(buf).find(|(_, f, _)| *f == field).map(|(_, _, v)| v),
            Hash::Big(m) => m.get(field).map(|v| &v[..]),
        }
    }

    /// Sets a field; returns true if it is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8], lim: &Limits) -> bool {
        if let Hash::Small { buf, len } = self {
            let too_long = field.len() > lim.hash_value || value.len() > lim.hash_value;
            let existing = pair_span(buf, field);
            let grows = existing.is_none() && *len + 1 > lim.hash_entries;
            if !too_long && !grows {
                match existing {
                    Some((start, end)) => {
                        let mut pair = Vec::with_capacity(field.len() + value.len() + 4);
                        put_bytes(&mut pair, field);
                        put_bytes(&mut pair, value);
                        buf.splice(start..end, pair);
                        return false;
                    }
                    None => {
                        buf.reserve_exact(field.len() + value.len() + 2 * LEB_MAX);
                        put_bytes(buf, field);
                        put_bytes(buf, value);
                        buf.shrink_to_fit();
                        *len += 1;
                        return true;
                    }
                }
            }
            self.convert();
        }
        let Hash::Big(m) = self else {
            unreachable!("converted above")
        };
        match m.get_mut(field) {
            Some(v) => {
                *v = value.into();
                false
            }
            None => {
                m.insert(field.into(), value.into());
                true
            }
        }
    }

    /// Turns a small hash into a table, keeping the order of its fields.
    fn convert(&mut self) {
        if let Hash::Small { buf, .. } = self {
            let mut m = IndexMap::with_capacity_and_hasher(0, Hasher::default());
            for (_, f, v) in pairs(buf) {
                m.insert(Bytes::from(f), Bytes::from(v));
            }
            *self = Hash::Big(Box::new(m));
        }
    }

    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            // Small hashes keep insertion order, as a listpack does.
            Hash::Small { buf, len } => {
                let Some((start, end)) = pair_span(buf, field) else {
                    return false;
                };
                buf.drain(start..end);
                *len -= 1;
                if buf.capacity() > 2 * buf.len() + 64 {
                    buf.shrink_to_fit();
                }
                true
            }
            Hash::Big(m) => m.swap_remove(field).is_some(),
        }
    }

    /// Fields and values in order (no allocation: HGETALL runs this per request).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let (small, big) = match self {
            Hash::Small { buf, .. } => (Some(pairs(buf).map(|(_, f, v)| (f, v))), None),
            Hash::Big(m) => (None, Some(m.iter().map(|(f, v)| (&f[..], &v[..])))),
        };
        small.into_iter().flatten().chain(big.into_iter().flatten())
    }

    /// Field and value at a position (random picks, HSCAN). Linear while small.
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Small { buf, .. } => pairs(buf).nth(i).map(|(_, f, v)| (f, v)),
            Hash::Big(m) => m.get_index(i).map(|(f, v)| (&f[..], &v[..])),
        }
    }

    /// True for the listpack encoding, which HSCAN returns whole (as Redis does).
    pub fn is_compact(&self) -> bool {
        matches!(self, Hash::Small { .. })
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Small { .. } => "listpack",
            Hash::Big(_) => "hashtable",
        }
    }
}

/// A set: sorted integers ("intset") while every member is an integer and there are few, then
/// a hash table ("hashtable").
#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    Ints(Vec<i64>),
    Table(IndexSet<Bytes, Hasher>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(Vec::new())
    }
}

impl Set {
    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn convert_to_table(&mut self) {
        if let Set::Ints(v) = self {
            let mut t = IndexSet::with_capacity_and_hasher(v.len(), Hasher::default());
            let mut b = itoa::Buffer::new();
            for n in v.iter() {
                t.insert(b.format(*n).as_bytes().into());
            }
            *self = Set::Table(t);
        }
    }

    /// Adds a member; returns true if it was not there.
    pub fn insert(&mut self, member: &[u8], lim: &Limits) -> bool {
        if let Set::Ints(v) = self {
            match super::value::canonical_int(member) {
                Some(n) => {
                    return match v.binary_search(&n) {
                        Ok(_) => false,
                        Err(pos) => {
                            v.insert(pos, n);
                            if v.len() > lim.set_intset_entries {
                                self.convert_to_table();
                            }
                            true
                        }
                    };
                }
                None => self.convert_to_table(),
            }
        }
        match self {
            Set::Table(t) => t.insert(member.into()),
            Set::Ints(_) => unreachable!("converted above"),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => {
                super::value::canonical_int(member).is_some_and(|n| v.binary_search(&n).is_ok())
            }
            Set::Table(t) => t.contains(member),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => {
                match super::value::canonical_int(member).and_then(|n| v.binary_search(&n).ok()) {
                    Some(pos) => {
                        v.remove(pos);
                        true
                    }
                    None => false,
                }
            }
            Set::Table(t) => t.swap_remove(member),
        }
    }

    /// Member at a position (for random picks).
    pub fn get_index(&self, i: usize) -> Option<Vec<u8>> {
        match self {
            Set::Ints(v) => v
                .get(i)
                .map(|n| itoa::Buffer::new().format(*n).as_bytes().to_vec()),
            Set::Table(t) => t.get_index(i).map(|m| m.to_vec()),
        }
    }

    /// Removes and returns the member at a position (`i < len`).
    pub fn take_index(&mut self, i: usize) -> Vec<u8> {
        match self {
            Set::Ints(v) => itoa::Buffer::new().format(v.remove(i)).as_bytes().to_vec(),
            Set::Table(t) => t.swap_remove_index(i).expect("in range").to_vec(),
        }
    }

    /// True for the intset encoding, which SSCAN returns whole (as Redis does small sets).
    pub fn is_compact(&self) -> bool {
        matches!(self, Set::Ints(_))
    }

    pub fn members(&self) -> Vec<Vec<u8>> {
        (0..self.len()).filter_map(|i| self.get_index(i)).collect()
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }
}

/// A score with a total order (scores are never NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A sorted set: members by score, then by member bytes. "listpack" while small, "skiplist"
/// after (never back).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZSet {
    /// Member → score. An IndexMap, so ZSCAN can walk positions (see `command::cursor`).
    scores: IndexMap<Bytes, f64, Hasher>,
    order: super::zorder::ZOrder,
    big: bool,
}

impl ZSet {
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets a member's score; returns the previous score.
    pub fn insert(&mut self, member: &[u8], score: f64, lim: &Limits) -> Option<f64> {
        // -0.0 and 0.0 are the same score.
        let score = if score == 0.0 { 0.0 } else { score };
        if member.len() > lim.zset_value {
            self.big = true;
        }
        let old = self.scores.insert(member.into(), score);
        if let Some(o) = old {
            self.order.remove(o, member);
        }
        self.order.insert(score, member.into());
        if self.scores.len() > lim.zset_entries {
            self.big = true;
        }
        old
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.swap_remove(member) {
            Some(s) => {
                self.order.remove(s, member);
                true
            }
            None => false,
        }
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.order.iter()
    }

    /// The ordered side, for ranks, index walks and range bounds.
    pub fn order(&self) -> &super::zorder::ZOrder {
        &self.order
    }

    /// Zero-based rank of a member in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let s = self.score(member)?;
        self.order.rank(s, member)
    }

    /// True for the listpack encoding (ZSCAN returns it whole, as Redis does).
    pub fn is_compact(&self) -> bool {
        !self.big
    }

    /// Member and score at a position of the member table (ZSCAN).
    pub fn get_index(&self, i: usize) -> Option<(&Bytes, f64)> {
        self.scores.get_index(i).map(|(m, s)| (m, *s))
    }

    pub fn encoding(&self) -> &'static str {
        if self.big {
            "skiplist"
        } else {
            "listpack"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_converts_from_intset() {
        let lim = Limits::default();
        let mut s = Set::default();
        assert!(s.insert(b"3", &lim));
        assert!(s.insert(b"1", &lim));
        assert!(!s.insert(b"3", &lim));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(s.members(), vec![b"1".to_vec(), b"3".to_vec()]);
        assert!(s.insert(b"a", &lim));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"a") && !s.contains(b"2"));
        assert!(s.remove(b"1"));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn hash_and_zset_encodings_are_sticky() {
        let lim = Limits {
            hash_entries: 2,
            zset_entries: 1,
            ..Limits::default()
        };
        let mut h = Hash::default();
        h.insert(b"a", b"1", &lim);
        h.insert(b"b", b"2", &lim);
        assert_eq!(h.encoding(), "listpack");
        h.insert(b"c", b"3", &lim);
        h.remove(b"c");
        assert_eq!(h.encoding(), "hashtable");
        let mut z = ZSet::default();
        z.insert(b"x", 2.0, &lim);
        z.insert(b"y", 1.0, &lim);
        assert_eq!(z.encoding(), "skiplist");
        let order: Vec<_> = z.iter().map(|(m, _)| m.to_vec()).collect();
        assert_eq!(order, vec![b"y".to_vec(), b"x".to_vec()]);
        assert_eq!(z.insert(b"x", 0.5, &lim), Some(2.0));
        assert_eq!(
            z.iter().next().map(|(m, s)| (m.to_vec(), s)),
            Some((b"x".to_vec(), 0.5))
        );
    }

    #[test]
    fn small_hash_buffer_keeps_order_and_long_lengths() {
        let lim = Limits {
            hash_entries: 4,
            hash_value: 1000,
            ..Limits::default()
        };
        let long = vec![b'x'; 300]; // a two-byte length
        let mut h = Hash::default();
        assert!(h.insert(b"a", b"1", &lim));
        assert!(h.insert(b"b", &long, &lim));
        assert!(h.insert(b"", b"", &lim));
        assert!(!h.insert(b"a", b"replaced", &lim));
        assert_eq!(h.get(b"b"), Some(&long[..]));
        assert_eq!(h.get(b""), Some(&b""[..]));
        assert_eq!(h.get(b"zz"), None);
        let order: Vec<&[u8]> = h.iter().map(|(f, _)| f).collect();
        assert_eq!(order, vec![&b"a"[..], b"b", b""]);
        assert_eq!(h.get_index(0), Some((&b"a"[..], &b"replaced"[..])));
        assert!(h.remove(b"b") && !h.remove(b"b"));
        assert_eq!((h.len(), h.encoding()), (2, "listpack"));
        // Past the entry limit it becomes a table, in the same order.
        for f in [&b"c"[..], b"d", b"e"] {
            h.insert(f, b"v", &lim);
        }
        assert_eq!(h.encoding(), "hashtable");
        let order: Vec<&[u8]> = h.iter().map(|(f, _)| f).collect();
        assert_eq!(order, vec![&b"a"[..], b"", b"c", b"d", b"e"]);
        assert_eq!(h.get(b"a"), Some(&b"replaced"[..]));
    }

    /// Random operations on each collection type against a std model: contents, lengths and
    /// encodings after every step (encodings only ever move to the big form).
    #[test]
    fn collections_match_std_models() {
        use rand::{Rng, SeedableRng};
        use std::collections::{BTreeMap, BTreeSet};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let lim = Limits {
            hash_entries: 16,
            hash_value: 8,
            set_intset_entries: 16,
            zset_entries: 16,
            zset_value: 8,
        };
        let (mut set, mut hash, mut zset) = (Set::default(), Hash::default(), ZSet::default());
        let (mut mset, mut mhash, mut mzset) = (BTreeSet::new(), BTreeMap::new(), BTreeMap::new());
        for _ in 0..20_000 {
            let m = if rng.random_bool(0.5) {
                rng.random_range(0..40).to_string()
            } else {
                format!("m{}", rng.random_range(0..40))
            };
            let mb = m.as_bytes();
            match rng.random_range(0..6) {
                0 => assert_eq!(set.insert(mb, &lim), mset.insert(m.clone())),
                1 => assert_eq!(set.remove(mb), mset.remove(&m)),
                2 => {
                    let v = format!("v{}", rng.random_range(0..100));
                    assert_eq!(
                        hash.insert(mb, v.as_bytes(), &lim),
                        mhash.insert(m.clone(), v).is_none()
                    );
                }
                3 => assert_eq!(hash.remove(mb), mhash.remove(&m).is_some()),
                4 => {
                    let sc = rng.random_range(-5..5) as f64;
                    assert_eq!(zset.insert(mb, sc, &lim), mzset.insert(m.clone(), sc));
                }
                _ => assert_eq!(zset.remove(mb), mzset.remove(&m).is_some()),
            }
            assert_eq!(set.len(), mset.len());
            assert_eq!(hash.len(), mhash.len());
            assert_eq!(zset.len(), mzset.len());
        }
        let mut got: Vec<String> = set
            .members()
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, mset.iter().cloned().collect::<Vec<_>>());
        for (f, v) in &mhash {
            assert_eq!(
                hash.get(f.as_bytes()).map(|b| b.to_vec()),
                Some(v.clone().into_bytes())
            );
        }
        let mut model: Vec<(f64, String)> = mzset.iter().map(|(m, s)| (*s, m.clone())).collect();
        model.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let got: Vec<(f64, String)> = zset
            .iter()
            .map(|(m, s)| (s, String::from_utf8(m.to_vec()).unwrap()))
            .collect();
        assert_eq!(got, model);
        for (i, (_, m)) in model.iter().enumerate() {
            assert_eq!(zset.rank(m.as_bytes()), Some(i));
        }
        assert_eq!(set.encoding(), "hashtable");
        assert_eq!(hash.encoding(), "hashtable");
        assert_eq!(zset.encoding(), "skiplist");
    }
}
