//! Stored values and entries.

/// A string value, 8 bytes plus a tag so that every entry stays small:
/// - `Int`: the bytes are a canonical i64 (Redis's "int" encoding; INCR never re-parses);
/// - `Emb`: bytes as written by SET and friends ("embstr", or "raw" past 44 bytes);
/// - `Raw`: bytes modified in place (APPEND, SETRANGE, SETBIT), kept with spare capacity so
///   repeated appends stay cheap; always "raw", as Redis reports them.
#[derive(Debug, Clone, PartialEq)]
pub enum Str {
    Int(i64),
    Emb(super::thin::Thin),
    Raw(Box<Vec<u8>>),
}

/// Longest string Redis stores as "embstr".
const EMBSTR_MAX: usize = 44;

impl Str {
    /// Stores `data`, choosing the integer encoding when it round-trips exactly.
    pub fn from_bytes(data: &[u8]) -> Str {
        if data.len() <= 20 {
            if let Some(n) = canonical_int(data) {
                return Str::Int(n);
            }
        }
        Str::Emb(data.into())
    }

    /// Stores bytes as they are (never int-encoded); `modified` marks the result of an in-place
    /// change (APPEND, SETRANGE), which keeps spare capacity.
    pub fn from_vec(data: Vec<u8>, modified: bool) -> Str {
        if modified {
            Str::Raw(Box::new(data))
        } else {
            Str::Emb(data[..].into())
        }
    }

    /// The bytes, unless the value is int-encoded.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Str::Int(_) => None,
            Str::Emb(b) => Some(b),
            Str::Raw(v) => Some(v),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Str::Int(n) => itoa::Buffer::new().format(*n).len(),
            Str::Emb(b) => b.len(),
            Str::Raw(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value's bytes, formatting an integer into `tmp`.
    pub fn as_bytes<'a>(&'a self, tmp: &'a mut itoa::Buffer) -> &'a [u8] {
        match self {
            Str::Int(n) => tmp.format(*n).as_bytes(),
            Str::Emb(b) => b,
            Str::Raw(v) => v,
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut t = itoa::Buffer::new();
        self.as_bytes(&mut t).to_vec()
    }

    /// Takes the bytes out for modification.
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Str::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
            Str::Emb(b) => b.to_vec(),
            Str::Raw(v) => *v,
        }
    }

    /// Heap bytes this value holds.
    pub fn heap_size(&self) -> usize {
        match self {
            Str::Int(_) => 0,
            Str::Emb(b) => b.len() + std::mem::size_of::<usize>(),
            Str::Raw(v) => v.capacity() + std::mem::size_of::<Vec<u8>>(),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Str::Int(_) => "int",
            Str::Emb(b) if b.len() <= EMBSTR_MAX => "embstr",
            Str::Emb(_) | Str::Raw(_) => "raw",
        }
    }
}

/// Parses bytes that are exactly the decimal form of an i64 (no '+', no leading zeros, no spaces).
pub fn canonical_int(s: &[u8]) -> Option<i64> {
    let n = crate::num::parse_i64(s)?;
    let mut b = itoa::Buffer::new();
    (b.format(n).as_bytes() == s).then_some(n)
}

/// A value of any Redis type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Str),
    List(Box<super::collections::List>),
    // The larger collections are boxed so that every entry stays small (the keyspace's memory
    // per key and cache footprint depend on the size of `Value`).
    Hash(Box<super::collections::Hash>),
    Set(Box<super::collections::Set>),
    ZSet(Box<super::collections::ZSet>),
    Stream(Box<super::stream::Stream>),
}

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(_) => "quicklist",
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    pub fn new_list() -> Value {
        Value::List(Default::default())
    }

    pub fn new_hash() -> Value {
        Value::Hash(Default::default())
    }

    pub fn new_set() -> Value {
        Value::Set(Default::default())
    }

    pub fn new_zset() -> Value {
        Value::ZSet(Default::default())
    }

    pub fn list_ref(&self) -> Option<&super::collections::List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn hash_ref(&self) -> Option<&super::collections::Hash> {
        match self {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    pub fn set_ref(&self) -> Option<&super::collections::Set> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    pub fn zset_ref(&self) -> Option<&super::collections::ZSet> {
        match self {
            Value::ZSet(z) => Some(z),
            _ => None,
        }
    }

    pub fn stream_ref(&self) -> Option<&super::stream::Stream> {
        match self {
            Value::Stream(s) => Some(s),
            _ => None,
        }
    }

    pub fn list_mut(&mut self) -> Option<&mut super::collections::List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn hash_mut(&mut self) -> Option<&mut super::collections::Hash> {
        match self {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    pub fn set_mut(&mut self) -> Option<&mut super::collections::Set> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    pub fn new_stream() -> Value {
        Value::Stream(Default::default())
    }

    pub fn stream_mut(&mut self) -> Option<&mut super::stream::Stream> {
        match self {
            Value::Stream(s) => Some(s),
            _ => None,
        }
    }

    pub fn zset_mut(&mut self) -> Option<&mut super::collections::ZSet> {
        match self {
            Value::ZSet(z) => Some(z),
            _ => None,
        }
    }

    /// Number of elements (1 for a string).
    pub fn len(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::List(l) => l.len(),
            Value::Hash(h) => h.len(),
            Value::Set(s) => s.len(),
            Value::ZSet(z) => z.len(),
            Value::Stream(s) => s.len(),
        }
    }

    /// An empty collection is deleted, as in Redis (an empty stream is kept).
    pub fn is_empty(&self) -> bool {
        !matches!(self, Value::Str(_) | Value::Stream(_)) && self.len() == 0
    }

    /// Approximate bytes held for this value (MEMORY USAGE). Refined by the memory-accounting work.
    pub fn mem_usage(&self) -> usize {
        const PER_ELEMENT: usize = 24;
        match self {
            Value::Str(s) => s.heap_size(),
            Value::List(l) => l.iter().map(|e| e.len() + PER_ELEMENT).sum::<usize>() + 32,
            Value::Hash(h) => {
                h.iter()
                    .map(|(f, v)| f.len() + v.len() + 2 * PER_ELEMENT)
                    .sum::<usize>()
                    + 64
            }
            Value::Set(s) => match &**s {
                super::collections::Set::Ints(v) => v.len() * 8 + 32,
                super::collections::Set::Table(_) => {
                    s.members()
                        .iter()
                        .map(|m| m.len() + PER_ELEMENT)
                        .sum::<usize>()
                        + 64
                }
            },
            Value::ZSet(z) => {
                z.iter()
                    .map(|(m, _)| 2 * (m.len() + PER_ELEMENT) + 8)
                    .sum::<usize>()
                    + 64
            }
            Value::Stream(s) => {
                s.entries
                    .values()
                    .map(|f| {
                        16 + f
                            .iter()
                            .map(|(a, b)| a.len() + b.len() + 2 * PER_ELEMENT)
                            .sum::<usize>()
                    })
                    .sum::<usize>()
                    + 64
            }
        }
    }
}

/// One key's entry: value, absolute expire time in ms since the epoch (0 = none), and
/// the coarse access clock that OBJECT IDLETIME reads (seconds, wrapping).
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    pub expire_at: u64,
    pub access: u32,
    /// The last snapshot this entry was saved for, or was created during (see
    /// `engine::snapshot`): an entry older than a running snapshot is saved before it changes.
    pub epoch: u32,
}

impl Entry {
    pub fn new(value: Value) -> Self {
        Entry {
            value,
            expire_at: 0,
            access: crate::engine::evict::new_stamp(),
            epoch: 0,
        }
    }

    #[inline]
    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_small() {
        // Per-key memory: a map slot holds the key pointer, the hash and this entry.
        assert!(
            std::mem::size_of::<Value>() <= 40,
            "{}",
            std::mem::size_of::<Value>()
        );
        assert!(
            std::mem::size_of::<Entry>() <= 56,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }

    #[test]
    fn int_encoding_only_for_canonical_integers() {
        assert_eq!(Str::from_bytes(b"123"), Str::Int(123));
        assert_eq!(Str::from_bytes(b"-5"), Str::Int(-5));
        assert_eq!(Str::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(Str::from_bytes(b"+1").encoding(), "embstr");
        assert_eq!(Str::from_bytes(b"9223372036854775808").encoding(), "embstr");
        assert_eq!(Str::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Str::from_bytes(&[b'a'; 45]).encoding(), "raw");
        assert_eq!(Str::from_vec(b"ab".to_vec(), true).encoding(), "raw");
        assert_eq!(Str::from_vec(b"12".to_vec(), false).encoding(), "embstr");
        assert_eq!(Str::Int(-42).len(), 3);
    }
}
