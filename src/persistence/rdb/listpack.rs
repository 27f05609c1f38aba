//! Reading Redis's compact encodings found inside RDB values: listpacks, ziplists and intsets.

/// One element: a string or an integer.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Str(Vec<u8>),
    Int(i64),
}

impl Item {
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Item::Str(s) => s,
            Item::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
        }
    }
}

fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0, |acc, &x| (acc << 8) | x as u64)
}

/// Sign-extends the low `bits` bits of `v`.
fn signed(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Bytes taken by an entry's trailing length, with Redis's thresholds (lpEncodeBacklen).
fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// The elements of a listpack; None if it is malformed.
pub fn listpack(lp: &[u8]) -> Option<Vec<Item>> {
    if lp.len() < 7 || le(&lp[..4]) as usize != lp.len() {
        return None;
    }
    let mut items = Vec::new();
    let mut p = 6;
    loop {
        let b = *lp.get(p)?;
        if b == 0xff {
            break;
        }
        let (item, len) = match b {
            0x00..=0x7f => (Item::Int(b as i64), 1),
            0x80..=0xbf => {
                let n = (b & 0x3f) as usize;
                (Item::Str(lp.get(p + 1..p + 1 + n)?.to_vec()), 1 + n)
            }
            0xc0..=0xdf => {
                let v = (((b & 0x1f) as u64) << 8) | *lp.get(p + 1)? as u64;
                (Item::Int(signed(v, 13)), 2)
            }
            0xe0..=0xef => {
                let n = (((b & 0x0f) as usize) << 8) | *lp.get(p + 1)? as usize;
                (Item::Str(lp.get(p + 2..p + 2 + n)?.to_vec()), 2 + n)
            }
            0xf0 => {
                let n = le(lp.get(p + 1..p + 5)?) as usize;
                (
                    Item::Str(lp.get(p + 5..p.checked_add(5 + n)?)?.to_vec()),
                    5 + n,
                )
            }
            0xf1..=0xf4 => {
                let bytes = [2, 3, 4, 8][(b - 0xf1) as usize];
                let v = le(lp.get(p + 1..p + 1 + bytes)?);
                (Item::Int(signed(v, bytes as u32 * 8)), 1 + bytes)
            }
            _ => return None,
        };
        // Each entry ends with its own length, written back to front in 7-bit groups.
        let backlen = backlen_size(len);
        p += len + backlen;
        items.push(item);
    }
    (p == lp.len() - 1).then_some(items)
}

/// The elements of a ziplist (the encoding before listpacks, in older RDB files).
pub fn ziplist(zl: &[u8]) -> Option<Vec<Item>> {
    if zl.len() < 11 || le(&zl[..4]) as usize != zl.len() {
        return None;
    }
    let mut items = Vec::new();
    let mut p = 10;
    loop {
        if *zl.get(p)? == 0xff {
            break;
        }
        // The previous entry's length: one byte, or 0xfe and four more.
        p += if zl[p] == 0xfe { 5 } else { 1 };
        let b = *zl.get(p)?;
        let (item, len) = match b >> 6 {
            0 => {
                let n = (b & 0x3f) as usize;
                (Item::Str(zl.get(p + 1..p + 1 + n)?.to_vec()), 1 + n)
            }
            1 => {
                let n = (((b & 0x3f) as usize) << 8) | *zl.get(p + 1)? as usize;
                (Item::Str(zl.get(p + 2..p + 2 + n)?.to_vec()), 2 + n)
            }
            2 => {
                let s = zl.get(p + 1..p + 5)?;
                let n = u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize;
                (
                    Item::Str(zl.get(p + 5..p.checked_add(5 + n)?)?.to_vec()),
                    5 + n,
                )
            }
            _ => match b {
                0xc0 => (Item::Int(signed(le(zl.get(p + 1..p + 3)?), 16)), 3),
                0xd0 => (Item::Int(signed(le(zl.get(p + 1..p + 5)?), 32)), 5),
                0xe0 => (Item::Int(signed(le(zl.get(p + 1..p + 9)?), 64)), 9),
                0xf0 => (Item::Int(signed(le(zl.get(p + 1..p + 4)?), 24)), 4),
                0xfe => (Item::Int(signed(le(zl.get(p + 1..p + 2)?), 8)), 2),
                0xf1..=0xfd => (Item::Int((b & 0x0f) as i64 - 1), 1),
                _ => return None,
            },
        };
        p += len;
        items.push(item);
    }
    (p == zl.len() - 1).then_some(items)
}

/// The members of an intset.
pub fn intset(is: &[u8]) -> Option<Vec<i64>> {
    let width = le(is.get(..4)?) as usize;
    let n = le(is.get(4..8)?) as usize;
    if !matches!(width, 2 | 4 | 8) || is.len() != 8 + width.checked_mul(n)? {
        return None;
    }
    Some(
        is[8..]
            .chunks(width)
            .map(|c| signed(le(c), width as u32 * 8))
            .collect(),
    )
}

/// The field/value pairs of a zipmap (RDB type 9, written by Redis before 2.6): a count byte
/// (254 and up: count unknown), then per pair a length-prefixed field, a length-prefixed value
/// and a byte counting unused bytes after the value; 0xFF ends it. A length is one byte below
/// 254, else 254 and four little-endian bytes. Redis refuses an empty zipmap as corrupt.
pub fn zipmap(zm: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    fn len(zm: &[u8], at: &mut usize) -> Option<usize> {
        let b = *zm.get(*at)?;
        *at += 1;
        match b {
            0..=253 => Some(b as usize),
            254 => {
                let n = le(zm.get(*at..*at + 4)?) as usize;
                *at += 4;
                Some(n)
            }
            _ => None,
        }
    }
    let declared = *zm.first()?;
    let mut at = 1;
    let mut pairs = Vec::new();
    while *zm.get(at)? != 0xff {
        let flen = len(zm, &mut at)?;
        let field = zm.get(at..at.checked_add(flen)?)?.to_vec();
        at += flen;
        let vlen = len(zm, &mut at)?;
        let free = *zm.get(at)? as usize;
        at += 1;
        let value = zm.get(at..at.checked_add(vlen)?)?.to_vec();
        at += vlen + free;
        pairs.push((field, value));
    }
    let whole = at + 1 == zm.len();
    let counted = declared >= 254 || declared as usize == pairs.len();
    (whole && counted && !pairs.is_empty()).then_some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_zipmap() {
        // As Redis 2.4 wrote {f1: v1, f2: v2} (tests/assets/hash-zipmap.rdb), and with a
        // five-byte length and free bytes after a value.
        let zm = b"\x02\x02f1\x02\x00v1\x02f2\x02\x00v2\xff";
        let pairs = zipmap(zm).unwrap();
        assert_eq!(
            pairs,
            vec![
                (b"f1".to_vec(), b"v1".to_vec()),
                (b"f2".to_vec(), b"v2".to_vec())
            ]
        );
        let mut long = vec![0xfe, 0xfe, 3, 0, 0, 0];
        long.extend(b"abc");
        long.extend([1, 2, b'x', 0, 0]);
        long.push(0xff);
        assert_eq!(
            zipmap(&long).unwrap(),
            vec![(b"abc".to_vec(), b"x".to_vec())]
        );
        // Empty, a wrong count, bytes after the end, cut short.
        for bad in [
            &b"\x00\xff"[..],
            b"\x03\x02f1\x02\x00v1\xff",
            b"\x01\x02f1\x02\x00v1\xff\x00",
            b"\x01\x02f1\x05\x00v1",
        ] {
            assert!(zipmap(bad).is_none());
        }
    }

    #[test]
    fn reads_a_listpack() {
        // "a", 5, -2 (13-bit), 1000 (13-bit), then the terminator.
        let mut lp = vec![0, 0, 0, 0, 4, 0];
        lp.extend([0x81, b'a', 2]);
        lp.extend([5, 1]);
        let neg = (-2i64 as u64) & 0x1fff;
        lp.extend([0xc0 | (neg >> 8) as u8, neg as u8, 2]);
        lp.extend([0xc0 | (1000 >> 8) as u8, (1000 & 0xff) as u8, 2]);
        lp.push(0xff);
        let n = lp.len() as u32;
        lp[..4].copy_from_slice(&n.to_le_bytes());
        let items = listpack(&lp).unwrap();
        assert_eq!(
            items,
            vec![
                Item::Str(b"a".to_vec()),
                Item::Int(5),
                Item::Int(-2),
                Item::Int(1000)
            ]
        );
        lp[6] = 0xf5;
        assert!(listpack(&lp).is_none());
    }

    #[test]
    fn reads_an_intset() {
        let mut is = vec![2, 0, 0, 0, 2, 0, 0, 0];
        is.extend((-3i16).to_le_bytes());
        is.extend(7i16.to_le_bytes());
        assert_eq!(intset(&is).unwrap(), vec![-3, 7]);
        assert!(intset(&is[..9]).is_none());
    }
}

/// Builds a listpack (for the streams written into RDB files, whose nodes are listpacks).
#[derive(Debug, Default)]
pub struct Writer {
    body: Vec<u8>,
    count: usize,
}

impl Writer {
    pub fn int(&mut self, n: i64) {
        let start = self.body.len();
        let b = &mut self.body;
        if (0..=127).contains(&n) {
            b.push(n as u8);
        } else if (-4096..=4095).contains(&n) {
            let v = (n as u64) & 0x1fff;
            b.extend([0xc0 | (v >> 8) as u8, v as u8]);
        } else if let Ok(v) = i16::try_from(n) {
            b.push(0xf1);
            b.extend(v.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&n) {
            b.push(0xf2);
            b.extend(&(n as i32).to_le_bytes()[..3]);
        } else if let Ok(v) = i32::try_from(n) {
            b.push(0xf3);
            b.extend(v.to_le_bytes());
        } else {
            b.push(0xf4);
            b.extend(n.to_le_bytes());
        }
        self.backlen(start);
    }

    pub fn str(&mut self, s: &[u8]) {
        let start = self.body.len();
        let b = &mut self.body;
        let n = s.len();
        if n < 64 {
            b.push(0x80 | n as u8);
        } else if n < 4096 {
            b.extend([0xe0 | (n >> 8) as u8, n as u8]);
        } else {
            b.push(0xf0);
            b.extend((n as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
        self.backlen(start);
    }

    /// Appends the entry's length (encoding + data) so the listpack can be walked backwards:
    /// 7 bits per byte, highest first; every byte but the first carries the 128 flag.
    fn backlen(&mut self, start: usize) {
        let l = self.body.len() - start;
        let n = backlen_size(l);
        for i in (0..n).rev() {
            let group = ((l >> (7 * i)) & 127) as u8;
            self.body.push(if i == n - 1 { group } else { group | 128 });
        }
        self.count += 1;
    }

    pub fn finish(self) -> Vec<u8> {
        let total = 6 + self.body.len() + 1;
        let mut out = Vec::with_capacity(total);
        out.extend((total as u32).to_le_bytes());
        out.extend((self.count.min(u16::MAX as usize) as u16).to_le_bytes());
        out.extend(self.body);
        out.push(0xff);
        out
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;

    #[test]
    fn written_listpacks_read_back() {
        let mut w = Writer::default();
        let ints = [
            0,
            127,
            128,
            -1,
            4095,
            -4096,
            4096,
            32767,
            -32769,
            8_388_607,
            -8_388_608,
            1 << 30,
            i64::MIN,
            i64::MAX,
        ];
        for n in ints {
            w.int(n);
        }
        let long = vec![b'x'; 5000];
        let strs: [&[u8]; 6] = [b"", b"a", &[b'y'; 63], &[b'z'; 64], &[b'w'; 200], &long];
        for s in strs {
            w.str(s);
        }
        let lp = w.finish();
        let items = listpack(&lp).unwrap();
        let mut want: Vec<Item> = ints.iter().map(|n| Item::Int(*n)).collect();
        want.extend(strs.iter().map(|s| Item::Str(s.to_vec())));
        assert_eq!(items, want);
    }
}
