//! Argument parsing shared by every family, with Redis's error replies.

use super::{CmdError, NOT_FLOAT, NOT_INT};

/// Parses an integer the way Redis's `string2ll` does: optional '-', no '+', no leading zeros,
/// no spaces, within i64.
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    strict_i64(arg).ok_or(NOT_INT)
}

pub fn strict_i64(arg: &[u8]) -> Option<i64> {
    let digits = arg.strip_prefix(b"-").unwrap_or(arg);
    match digits {
        [b'0'] if digits.len() == arg.len() => Some(0),
        [b'1'..=b'9', ..] => crate::protocol::parse_i64(arg),
        _ => None,
    }
}

/// Parses a float as Redis does for INCRBYFLOAT and friends: no spaces, no NaN.
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    let s = std::str::from_utf8(arg).map_err(|_| NOT_FLOAT)?;
    if s.is_empty()
        || s.starts_with(|c: char| c.is_whitespace())
        || s.ends_with(|c: char| c.is_whitespace())
    {
        return Err(NOT_FLOAT);
    }
    let v: f64 = s.parse().map_err(|_| NOT_FLOAT)?;
    if v.is_nan() {
        return Err(NOT_FLOAT);
    }
    Ok(v)
}

/// Case-insensitive comparison with an upper-case keyword.
#[inline]
pub fn is(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

/// A non-negative count option (`COUNT n`), rejecting negatives with the integer error.
pub fn positive(arg: &[u8]) -> Result<i64, CmdError> {
    let n = int(arg)?;
    if n < 0 {
        return Err(NOT_INT);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_rules() {
        assert_eq!(strict_i64(b"0"), Some(0));
        assert_eq!(strict_i64(b"-12"), Some(-12));
        assert_eq!(strict_i64(b"-0"), None);
        assert_eq!(strict_i64(b"01"), None);
        assert_eq!(strict_i64(b"+1"), None);
        assert_eq!(strict_i64(b" 1"), None);
        assert_eq!(strict_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(strict_i64(b"9223372036854775808"), None);
        assert_eq!(strict_i64(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn floats() {
        assert_eq!(float(b"1.5").unwrap(), 1.5);
        assert_eq!(float(b"1e3").unwrap(), 1000.0);
        assert!(float(b"nan").is_err());
        assert!(float(b" 1").is_err());
        assert!(float(b"abc").is_err());
        assert!(float(b"inf").unwrap().is_infinite());
    }
}
