//! Reply encoder: writes RESP2 or RESP3 straight into the connection's output buffer.
//!
//! Handlers call these methods; the connection writes the whole buffer once per batch.

/// The output buffer of one connection, with the protocol version it speaks.
#[derive(Debug, Default)]
pub struct Reply {
    pub buf: Vec<u8>,
    pub resp3: bool,
}

impl Reply {
    pub fn new() -> Self {
        Reply {
            buf: Vec::with_capacity(16 * 1024),
            resp3: false,
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    #[inline]
    fn line_int(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn ok(&mut self) {
        self.raw(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply; `msg` already carries its code (`ERR ...`, `WRONGTYPE ...`).
    pub fn error(&mut self, msg: &str) {
        self.buf.push(b'-');
        // Newlines would break the protocol framing.
        for &c in msg.as_bytes() {
            self.buf
                .push(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        match n {
            0 => self.raw(b":0\r\n"),
            1 => self.raw(b":1\r\n"),
            _ => self.line_int(b':', n),
        }
    }

    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        self.line_int(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer sent as a bulk string (as GET of an int-encoded value).
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// Null bulk string (RESP2 `$-1`, RESP3 `_`).
    #[inline]
    pub fn null(&mut self) {
        if self.resp3 {
            self.raw(b"_\r\n");
        } else {
            self.raw(b"$-1\r\n");
        }
    }

    /// An integer, or null when there is none.
    pub fn opt_int(&mut self, n: Option<u64>) {
        match n {
            Some(n) => self.int(n as i64),
            None => self.null(),
        }
    }

    /// Null array (RESP2 `*-1`, RESP3 `_`).
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.raw(b"_\r\n");
        } else {
            self.raw(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, len: usize) {
        self.line_int(b'*', len as i64);
    }

    /// A push header (RESP3 `>`, RESP2 array): pub/sub messages and confirmations.
    pub fn push(&mut self, len: usize) {
        self.line_int(if self.resp3 { b'>' } else { b'*' }, len as i64);
    }

    /// A set header (RESP3 `~`, RESP2 array).
    pub fn set(&mut self, len: usize) {
        self.line_int(if self.resp3 { b'~' } else { b'*' }, len as i64);
    }

    /// A map header of `len` pairs (RESP3 `%`, RESP2 flat array of 2*len).
    pub fn map(&mut self, len: usize) {
        if self.resp3 {
            self.line_int(b'%', len as i64);
        } else {
            self.line_int(b'*', 2 * len as i64);
        }
    }

    /// A double (RESP3 `,`, RESP2 bulk string), formatted as Redis does.
    pub fn double(&mut self, v: f64) {
        let s = format_double(v);
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// A boolean (RESP3 `#t`/`#f`, RESP2 integer 1/0).
    pub fn boolean(&mut self, v: bool) {
        if self.resp3 {
            self.raw(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// Verbatim text (RESP3 `=` with a `txt:` prefix, RESP2 bulk string).
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3 {
            self.line_int(b'=', text.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }
}

/// Formats a double as Redis 7.2 replies with one: integral values up to 2^62 as integers,
/// otherwise the shortest digits that read back the same, written plainly when the exponent
/// is small (`0.00001`, `7.2`) and in scientific form otherwise (`1.5e-7`, `1e+21`).
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    const HALF_I64: f64 = (i64::MAX / 2) as f64;
    if (-HALF_I64..=HALF_I64).contains(&v) && v.fract() == 0.0 {
        return (v as i64).to_string();
    }
    // Shortest round-trip digits and their decimal exponent, from Rust's `{:e}` ("1.25e-7").
    let sci = format!("{:e}", v.abs());
    let (mantissa, e) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let n = digits.len() as i32;
    let sci_exp: i32 = e.parse().unwrap_or(0);
    let k = sci_exp - (n - 1); // value = digits * 10^k
    let mut out = String::with_capacity(24);
    if v < 0.0 {
        out.push('-');
    }
    let exp = sci_exp.abs();
    if k >= 0 && exp < n + 7 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', k as usize));
    } else if k < 0 && (k > -7 || exp < 4) {
        let offset = n + k;
        if offset <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-offset) as usize));
            out.push_str(&digits);
        } else {
            out.push_str(&digits[..offset as usize]);
            out.push('.');
            out.push_str(&digits[offset as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if sci_exp < 0 { '-' } else { '+' });
        out.push_str(&exp.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_nulls_and_maps() {
        let mut r = Reply::new();
        r.null();
        r.map(2);
        r.boolean(true);
        assert_eq!(r.buf, b"$-1\r\n*4\r\n:1\r\n");
        let mut r = Reply::new();
        r.resp3 = true;
        r.null();
        r.map(2);
        r.boolean(true);
        r.double(1.5);
        assert_eq!(r.buf, b"_\r\n%2\r\n#t\r\n,1.5\r\n");
    }

    #[test]
    fn doubles_as_redis_7_2() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(100.0), "100");
        assert_eq!(format_double(-0.25), "-0.25");
        assert_eq!(format_double(1e21), "1e+21");
        assert_eq!(format_double(1.5e-7), "1.5e-7");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(0.00001), "0.00001");
        assert_eq!(format_double(123456789012345678.0), "123456789012345680");
        assert_eq!(format_double(6.1 + 1.1), "7.199999999999999");
        assert_eq!(format_double(-1.25e-300), "-1.25e-300");
        assert_eq!(format_double(3.0e20), "3e+20");
        assert_eq!(format_double(1234.5678), "1234.5678");
        assert_eq!(format_double(-0.0), "-0");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn error_strips_newlines() {
        let mut r = Reply::new();
        r.error("ERR a\r\nb");
        assert_eq!(r.buf, b"-ERR a  b\r\n");
    }
}
