//! Keys: short ones (the common case) stored inline in the map slot, long ones on the heap.
//! Inline keys save a heap allocation per key and, on lookup, the cache miss of following a
//! pointer to compare the key.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Longest key stored inline; the whole `Key` is 24 bytes either way.
const INLINE: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, data: [u8; INLINE] },
    Heap(Box<[u8]>),
}

#[derive(Clone)]
pub struct Key(Repr);

impl Key {
    pub fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= INLINE {
            let mut data = [0u8; INLINE];
            data[..bytes.len()].copy_from_slice(bytes);
            Key(Repr::Inline {
                len: bytes.len() as u8,
                data,
            })
        } else {
            Key(Repr::Heap(bytes.into()))
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => &data[..*len as usize],
            Repr::Heap(b) => b,
        }
    }
}

impl From<&[u8]> for Key {
    fn from(b: &[u8]) -> Key {
        Key::new(b)
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Key {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

// Hash and equality must agree with `[u8]`'s, because maps are queried with `&[u8]`.
impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn inline_and_heap_keys_behave_like_bytes() {
        let s = foldhash::fast::FixedState::with_seed(7);
        for bytes in [&b""[..], b"k", &[b'x'; 22], &[b'y'; 23], &[b'z'; 300]] {
            let k = Key::new(bytes);
            assert_eq!(&*k, bytes);
            assert_eq!(s.hash_one(&k), s.hash_one(bytes));
            assert_eq!(k.clone(), k);
        }
        assert_eq!(std::mem::size_of::<Key>(), 24);
        let mut m: indexmap::IndexMap<Key, u32> = indexmap::IndexMap::new();
        m.insert(Key::new(b"abc"), 1);
        m.insert(Key::new(&[b'q'; 40]), 2);
        assert_eq!(m.get(&b"abc"[..]), Some(&1));
        assert_eq!(m.get(&[b'q'; 40][..]), Some(&2));
    }
}
