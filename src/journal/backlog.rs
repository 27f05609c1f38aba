//! The replication backlog: the last `repl-backlog-size` bytes of the journal, from which a
//! replica that lost its link resumes (PSYNC ... +CONTINUE) instead of a full copy.

use std::collections::VecDeque;

#[derive(Debug)]
pub struct Backlog {
    data: VecDeque<u8>,
    size: usize,
    /// Stream offset of the last byte held (equal to the journal's offset).
    end: u64,
}

impl Backlog {
    /// An empty backlog of `size` bytes, starting at stream offset `offset`.
    pub fn new(size: usize, offset: u64) -> Self {
        Backlog {
            data: VecDeque::new(),
            size: size.max(1),
            end: offset,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.end += bytes.len() as u64;
        if bytes.len() >= self.size {
            self.data.clear();
            self.data.extend(&bytes[bytes.len() - self.size..]);
            return;
        }
        let over = (self.data.len() + bytes.len()).saturating_sub(self.size);
        self.data.drain(..over);
        self.data.extend(bytes);
    }

    /// Bytes held (INFO repl_backlog_histlen).
    pub fn histlen(&self) -> u64 {
        self.data.len() as u64
    }

    /// Offset of the first byte held, counting from 1 (INFO repl_backlog_first_byte_offset).
    pub fn first_byte(&self) -> u64 {
        self.end - self.histlen() + 1
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Resizes (CONFIG SET repl-backlog-size), keeping the newest bytes.
    pub fn resize(&mut self, size: usize) {
        self.size = size.max(1);
        let over = self.data.len().saturating_sub(self.size);
        self.data.drain(..over);
    }

    /// The bytes from stream position `from` (1-based, as PSYNC asks: the replica's offset
    /// plus one) to the end; None if they are no longer (or not yet) held.
    pub fn since(&self, from: u64) -> Option<Vec<u8>> {
        if from < self.first_byte() || from > self.end + 1 {
            return None;
        }
        let skip = (from - self.first_byte()) as usize;
        Some(self.data.iter().skip(skip).copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bytes() {
        let mut b = Backlog::new(5, 100);
        b.push(b"abc");
        assert_eq!((b.first_byte(), b.histlen()), (101, 3));
        b.push(b"defg");
        assert_eq!((b.first_byte(), b.histlen()), (103, 5));
        assert_eq!(b.since(103).unwrap(), b"cdefg");
        assert_eq!(b.since(106).unwrap(), b"fg");
        assert_eq!(b.since(108).unwrap(), b"");
        assert_eq!(b.since(102), None);
        assert_eq!(b.since(109), None);
        b.push(b"0123456789");
        assert_eq!(b.since(b.first_byte()).unwrap(), b"56789");
        b.resize(2);
        assert_eq!(b.since(b.first_byte()).unwrap(), b"89");
    }
}
