//! Stateful request parser: RESP multibulk arrays and inline commands.
//!
//! The parser never copies arguments: a parsed request is a list of byte ranges into the
//! read buffer (inline commands with quotes are the exception; their unescaped arguments go
//! to a scratch buffer). It keeps its position between reads, so a large request arriving in
//! many small reads is scanned once, not re-parsed from the start each time.

use crate::num::parse_i64;
use std::ops::Range;

/// Limits that protect the server from hostile or broken clients.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest bulk string accepted (`proto-max-bulk-len`).
    pub max_bulk_len: usize,
    /// Largest inline request line.
    pub max_inline_len: usize,
    /// Largest number of elements in a multibulk header.
    pub max_multibulk_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_inline_len: 64 * 1024,
            max_multibulk_len: i32::MAX as usize,
        }
    }
}

/// Where the arguments of a parsed request live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgSource {
    /// Ranges index the read buffer.
    Buffer,
    /// Ranges index the parser's scratch buffer (inline requests).
    Scratch,
}

/// What one call to [`Parser::parse`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete request; its argument ranges are in [`Parser::args`]. `end` is the offset just
    /// past it in the buffer.
    Request { end: usize, source: ArgSource },
    /// An empty inline line or an empty multibulk (`*0`), consumed silently.
    Empty { end: usize },
    /// More bytes are needed.
    Incomplete,
}

/// A protocol error: the text after `-ERR Protocol error: `. The connection is closed after it.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct ProtocolError(pub String);

#[derive(Debug, Default)]
enum State {
    #[default]
    Start,
    /// Inside a multibulk: `remaining` arguments still to read, `pos` where scanning resumes.
    Multibulk { remaining: usize, pos: usize },
    /// Waiting for `len` payload bytes starting at `data`, with `remaining` args after it.
    Bulk {
        remaining: usize,
        data: usize,
        len: usize,
    },
    /// Inline line being scanned; `scanned` bytes already known to hold no newline.
    Inline { scanned: usize },
}

/// Parses requests out of a buffer that the caller appends to and trims.
#[derive(Debug, Default)]
pub struct Parser {
    state: State,
    args: Vec<Range<usize>>,
    scratch: Vec<u8>,
    pub limits: Limits,
    /// Bytes the parser expects to need for the request in progress (for buffer pre-sizing).
    want: usize,
}

impl Parser {
    pub fn new(limits: Limits) -> Self {
        Parser {
            limits,
            ..Default::default()
        }
    }

    /// Forgets any request in progress (keeps its buffers' capacity).
    pub fn reset(&mut self) {
        self.state = State::Start;
        self.args.clear();
        self.want = 0;
    }

    /// Argument ranges of the last complete request.
    pub fn args(&self) -> &[Range<usize>] {
        &self.args
    }

    /// The scratch buffer that [`ArgSource::Scratch`] ranges index.
    pub fn scratch(&self) -> &[u8] {
        &self.scratch
    }

    /// Total size of the request in progress once complete, if known (for `reserve`).
    pub fn wanted_len(&self) -> usize {
        self.want
    }

    /// True while a request is partly parsed.
    pub fn in_progress(&self) -> bool {
        !matches!(self.state, State::Start)
    }

    /// The caller removed `n` bytes from the front of the buffer: shift saved positions.
    /// Only called with `n` at or before the start of the request in progress.
    pub fn shift(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if matches!(self.state, State::Start) {
            // The ranges belong to a request already handled.
            self.args.clear();
        }
        for r in &mut self.args {
            r.start -= n;
            r.end -= n;
        }
        match &mut self.state {
            State::Multibulk { pos, .. } => *pos -= n,
            State::Bulk { data, .. } => *data -= n,
            State::Inline { scanned } => *scanned -= n,
            State::Start => {}
        }
        self.want = self.want.saturating_sub(n);
    }

    /// The arguments of the request just parsed (`source` as `parse` gave it), from `buf` or
    /// from the parser's scratch buffer.
    pub fn argv<'a>(&'a self, buf: &'a [u8], source: ArgSource) -> impl Iterator<Item = &'a [u8]> {
        let base: &[u8] = match source {
            ArgSource::Buffer => buf,
            ArgSource::Scratch => &self.scratch,
        };
        self.args.iter().map(move |r| &base[r.clone()])
    }

    /// Parse the next request starting at `start` in `buf`.
    pub fn parse(&mut self, buf: &[u8], start: usize) -> Result<Parsed, ProtocolError> {
        loop {
            match self.state {
                State::Start => {
                    if start >= buf.len() {
                        return Ok(Parsed::Incomplete);
                    }
                    self.args.clear();
                    if buf[start] == b'*' {
                        let Some((n, next)) =
                            read_line_int(buf, start + 1, self.limits.max_inline_len)?
                        else {
                            return Ok(Parsed::Incomplete);
                        };
                        if n > self.limits.max_multibulk_len as i64 {
                            return Err(err("invalid multibulk length"));
                        }
                        if n <= 0 {
                            return Ok(Parsed::Empty { end: next });
                        }
                        self.state = State::Multibulk {
                            remaining: n as usize,
                            pos: next,
                        };
                    } else {
                        self.state = State::Inline { scanned: start };
                    }
                }
                State::Inline { scanned } => {
                    let Some(nl) = memchr(b'\n', &buf[scanned..]).map(|i| i + scanned) else {
                        if buf.len() - start > self.limits.max_inline_len {
                            return Err(err("too big inline request"));
                        }
                        self.state = State::Inline { scanned: buf.len() };
                        return Ok(Parsed::Incomplete);
                    };
                    self.state = State::Start;
                    let mut line = &buf[start..nl];
                    if line.last() == Some(&b'\r') {
                        line = &line[..line.len() - 1];
                    }
                    self.scratch.clear();
                    split_inline_args(line, &mut self.scratch, &mut self.args)
                        .map_err(|_| err("unbalanced quotes in request"))?;
                    if self.args.is_empty() {
                        return Ok(Parsed::Empty { end: nl + 1 });
                    }
                    return Ok(Parsed::Request {
                        end: nl + 1,
                        source: ArgSource::Scratch,
                    });
                }
                State::Multibulk { remaining, pos } => {
                    if pos >= buf.len() {
                        return Ok(Parsed::Incomplete);
                    }
                    if buf[pos] != b'$' {
                        return Err(ProtocolError(format!(
                            "expected '$', got '{}'",
                            buf[pos] as char
                        )));
                    }
                    let Some((len, next)) =
                        read_line_int(buf, pos + 1, self.limits.max_inline_len)?
                    else {
                        return Ok(Parsed::Incomplete);
                    };
                    if len < 0 || len as u64 > self.limits.max_bulk_len as u64 {
                        return Err(err("invalid bulk length"));
                    }
                    self.want = next + len as usize + 2;
                    self.state = State::Bulk {
                        remaining: remaining - 1,
                        data: next,
                        len: len as usize,
                    };
                }
                State::Bulk {
                    remaining,
                    data,
                    len,
                } => {
                    if buf.len() < data + len + 2 {
                        return Ok(Parsed::Incomplete);
                    }
                    // Redis does not check the CRLF after a bulk payload; neither do we.
                    self.args.push(data..data + len);
                    let next = data + len + 2;
                    self.want = 0;
                    if remaining == 0 {
                        self.state = State::Start;
                        return Ok(Parsed::Request {
                            end: next,
                            source: ArgSource::Buffer,
                        });
                    }
                    self.state = State::Multibulk {
                        remaining,
                        pos: next,
                    };
                }
            }
        }
    }
}

fn err(msg: &str) -> ProtocolError {
    ProtocolError(msg.to_string())
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Reads a `<int>\r\n` starting at `at`. Returns the value and the offset after the CRLF.
fn read_line_int(
    buf: &[u8],
    at: usize,
    max_line: usize,
) -> Result<Option<(i64, usize)>, ProtocolError> {
    let rest = &buf[at.min(buf.len())..];
    let Some(cr) = memchr(b'\r', rest) else {
        if rest.len() > max_line {
            return Err(if buf[at - 1] == b'*' {
                err("too big mbulk count string")
            } else {
                err("too big bulk count string")
            });
        }
        return Ok(None);
    };
    if cr + 1 >= rest.len() {
        return Ok(None);
    }
    let digits = &rest[..cr];
    let value = parse_i64(digits).ok_or_else(|| {
        if buf[at - 1] == b'*' {
            err("invalid multibulk length")
        } else {
            err("invalid bulk length")
        }
    })?;
    Ok(Some((value, at + cr + 2)))
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex_val(c: u8) -> u8 {
    (c as char).to_digit(16).unwrap_or(0) as u8
}

/// Quotes bytes as Redis's `sdscatrepr` does: escapes for `\\`, `"` and the usual control
/// characters, `\xHH` for any other unprintable byte.
pub fn repr(a: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in a {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// Whether `repr` would change a name (Redis's `sdsneedsrepr`): quoting, escapes, spaces or
/// unprintable bytes.
pub fn needs_repr(a: &[u8]) -> bool {
    a.iter()
        .any(|&b| matches!(b, b'\\' | b'"') || !(0x21..=0x7e).contains(&b))
}

/// Splits an inline request line into arguments with the quoting rules redis-cli and
/// redis-server use: "double quotes" with backslash escapes (\n \r \t \b \a \\ \" \xHH) and
/// 'single quotes' (only \' escaped). A closing quote must be followed by a space or the end.
/// Fails on unbalanced quotes.
#[allow(clippy::result_unit_err)]
pub fn split_inline_args(
    line: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut Vec<Range<usize>>,
) -> Result<(), ()> {
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n || line[i] == 0 {
            return Ok(());
        }
        let start = scratch.len();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return Err(());
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && is_hex(line[i + 2])
                    && is_hex(line[i + 3])
                {
                    scratch.push(hex_val(line[i + 2]) * 16 + hex_val(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    scratch.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return Err(());
                    }
                    in_dq = false;
                } else {
                    scratch.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return Err(());
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    scratch.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return Err(());
                    }
                    in_sq = false;
                } else {
                    scratch.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    // A NUL ends the line, as it ends the C string Redis splits.
                    0 => {
                        out.push(start..scratch.len());
                        return Ok(());
                    }
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => scratch.push(c),
                }
            }
            i += 1;
        }
        out.push(start..scratch.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut out = vec![];
        feed(&mut Parser::new(Limits::default()), input, &mut 0, &mut out)?;
        Ok(out)
    }

    /// Parses every complete request in `buf` from `pos` (left where parsing stopped) into
    /// `out`, as a connection does with what it has read so far.
    fn feed(
        p: &mut Parser,
        buf: &[u8],
        pos: &mut usize,
        out: &mut Vec<Vec<Vec<u8>>>,
    ) -> Result<(), ProtocolError> {
        loop {
            match p.parse(buf, *pos)? {
                Parsed::Incomplete => return Ok(()),
                Parsed::Empty { end } => *pos = end,
                Parsed::Request { end, source } => {
                    let base: &[u8] = if source == ArgSource::Buffer {
                        buf
                    } else {
                        p.scratch()
                    };
                    out.push(p.args().iter().map(|r| base[r.clone()].to_vec()).collect());
                    *pos = end;
                }
            }
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let got =
            parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset \"a b\" 'c'\r\n\r\n").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(got[1], vec![b"PING".to_vec()]);
        assert_eq!(
            got[2],
            vec![b"set".to_vec(), b"a b".to_vec(), b"c".to_vec()]
        );
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let input = b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$10\r\n0123456789\r\nECHO x\n";
        let whole = parse_all(input).unwrap();
        // Feed one byte at a time, keeping parser state between calls.
        let mut p = Parser::new(Limits::default());
        let (mut pos, mut got) = (0, vec![]);
        for n in 1..=input.len() {
            feed(&mut p, &input[..n], &mut pos, &mut got).unwrap();
        }
        assert_eq!(got, whole);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_all(b"*1\r\n*1\r\n").unwrap_err().0,
            "expected '$', got '*'"
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n").unwrap_err().0,
            "invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n$999999999999\r\n").unwrap_err().0,
            "invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*abc\r\n").unwrap_err().0,
            "invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*3000000000\r\n").unwrap_err().0,
            "invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"set \"a\r\n").unwrap_err().0,
            "unbalanced quotes in request"
        );
        let big = vec![b'a'; 70 * 1024];
        assert_eq!(parse_all(&big).unwrap_err().0, "too big inline request");
    }

    #[test]
    fn inline_escapes() {
        let got = parse_all(b"set \"\\x41\\n\" '\\'x'\n").unwrap();
        assert_eq!(got[0][1], b"A\n".to_vec());
        assert_eq!(got[0][2], b"'x".to_vec());
        assert!(parse_all(b"set \"a\"b\n").is_err());
    }

    #[test]
    fn nul_ends_an_inline_line() {
        let got = parse_all(b"echo a\0b c\r\n\0\r\n").unwrap();
        assert_eq!(got, vec![vec![b"echo".to_vec(), b"a".to_vec()]]);
    }

    /// Valid requests (multibulk and inline, empty lines, binary and empty arguments) arriving
    /// in reads cut at random points: the same requests come out as from one whole read.
    #[test]
    fn requests_split_at_random_points_parse_the_same() {
        let mut x: u32 = 2463534242;
        let mut next = |n: u32| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x % n
        };
        for _ in 0..300 {
            let mut input = Vec::new();
            for _ in 0..1 + next(12) {
                match next(4) {
                    0 => input.extend_from_slice(b"PING\r\n"),
                    1 => input.extend_from_slice(b"set \"a b\" 'c'\r\n\r\n"),
                    _ => {
                        let argc = 1 + next(5) as usize;
                        input.extend_from_slice(format!("*{argc}\r\n").as_bytes());
                        for _ in 0..argc {
                            let len = match next(3) {
                                0 => 0,
                                1 => next(10) as usize,
                                _ => next(3000) as usize,
                            };
                            let arg: Vec<u8> = (0..len).map(|_| next(256) as u8).collect();
                            input.extend_from_slice(format!("${len}\r\n").as_bytes());
                            input.extend_from_slice(&arg);
                            input.extend_from_slice(b"\r\n");
                        }
                    }
                }
            }
            let whole = parse_all(&input).unwrap();
            assert!(!whole.is_empty());
            // The same bytes, arriving a random piece at a time into one growing buffer.
            let mut p = Parser::new(Limits::default());
            let (mut have, mut pos) = (0, 0);
            let mut got = vec![];
            while have < input.len() {
                have = (have + 1 + next(64) as usize).min(input.len());
                feed(&mut p, &input[..have], &mut pos, &mut got).unwrap();
            }
            assert_eq!(got, whole);
        }
    }

    #[test]
    fn random_input_always_terminates() {
        // Pseudo-random bytes: the parser must return (a request, an error or "incomplete"),
        // never loop.
        let mut x: u32 = 12345;
        for _ in 0..200 {
            let mut buf = Vec::new();
            for _ in 0..512 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf.push(match x % 8 {
                    0 => b'\r',
                    1 => b'\n',
                    2 => b'*',
                    3 => b'$',
                    4 => b'"',
                    5 => 0,
                    _ => (x >> 8) as u8,
                });
            }
            let _ = parse_all(&buf);
        }
    }

    #[test]
    fn empty_multibulk_is_skipped() {
        let got = parse_all(b"*0\r\n*-1\r\nPING\r\n").unwrap();
        assert_eq!(got, vec![vec![b"PING".to_vec()]]);
    }
}
