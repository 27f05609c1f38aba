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
        [b'1'..=b'9', ..] => crate::num::parse_i64(arg),
        _ => None,
    }
}

/// Parses a float as Redis does (C's `strtod`): decimal or hex, `inf`; no spaces, no NaN, and
/// no value that overflows or underflows to zero.
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    // Long forms are valid (DBL_MAX written out in full is 300+ digits); Redis caps at 5 KB.
    if arg.is_empty() || arg.len() > 5 * 1024 || arg[0].is_ascii_whitespace() || arg.contains(&0) {
        return Err(NOT_FLOAT);
    }
    let mut small = [0u8; 257];
    let mut big = Vec::new();
    let buf: &mut [u8] = if arg.len() < small.len() {
        &mut small
    } else {
        big.resize(arg.len() + 1, 0);
        &mut big
    };
    buf[..arg.len()].copy_from_slice(arg);
    let start = buf.as_ptr() as *const std::os::raw::c_char;
    let mut end: *mut std::os::raw::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; errno is this thread's.
    let (v, range_error) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(start, &mut end);
        (v, *libc::__errno_location() == libc::ERANGE)
    };
    let consumed = end as usize - start as usize;
    if consumed != arg.len() || v.is_nan() || (range_error && (v.is_infinite() || v == 0.0)) {
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

/// Redis's `getRangeLongFromObjectOrReply`: an integer in `min..=max`. With `msg`, every
/// failure replies `ERR msg`; without, "not an integer" or "out of range, value must between".
pub fn range_long(
    arg: &[u8],
    min: i64,
    max: i64,
    msg: Option<&'static str>,
) -> Result<i64, CmdError> {
    let err = |default: CmdError| match msg {
        Some(m) => CmdError::owned(format!("ERR {m}")),
        None => default,
    };
    let n = strict_i64(arg).ok_or_else(|| err(NOT_INT))?;
    if n < min || n > max {
        return Err(err(CmdError::owned(format!(
            "ERR value is out of range, value must between {min} and {max}"
        ))));
    }
    Ok(n)
}

/// Redis's `getPositiveLongFromObjectOrReply`: 0 or more, else `ERR msg` (any failure).
pub fn non_negative(arg: &[u8], msg: Option<&'static str>) -> Result<i64, CmdError> {
    range_long(
        arg,
        0,
        i64::MAX,
        Some(msg.unwrap_or("value is out of range, must be positive")),
    )
}

/// Parses `numkeys key [key ...] <end> [COUNT count]` at `argv[at..]` (LMPOP, ZMPOP and their
/// blocking forms); `end` reads LEFT/RIGHT or MIN/MAX. Returns (keys, end, count).
pub fn multi_pop<'a>(
    argv: &[&'a [u8]],
    at: usize,
    end: fn(&[u8]) -> Result<bool, CmdError>,
) -> Result<(Vec<&'a [u8]>, bool, usize), CmdError> {
    let numkeys = range_long(
        argv[at],
        1,
        i64::MAX,
        Some("numkeys should be greater than 0"),
    )?;
    // Compared before adding: a huge numkeys must not wrap around.
    if numkeys >= (argv.len() - at - 1) as i64 {
        return Err(super::SYNTAX);
    }
    let where_idx = at + numkeys as usize + 1;
    let which = end(argv[where_idx])?;
    let mut count = None;
    let mut i = where_idx + 1;
    while i < argv.len() {
        if count.is_none() && is(argv[i], "COUNT") && i + 1 < argv.len() {
            let n = range_long(
                argv[i + 1],
                1,
                i64::MAX,
                Some("count should be greater than 0"),
            )?;
            count = Some(n as usize);
            i += 2;
        } else {
            return Err(super::SYNTAX);
        }
    }
    Ok((argv[at + 1..where_idx].to_vec(), which, count.unwrap_or(1)))
}

/// Positions for a random pick of `count` from `len` items, as SRANDMEMBER, HRANDFIELD and
/// ZRANDMEMBER do: negative counts (and 1) repeat freely, positive counts are distinct, and a
/// count covering everything is every position in order.
pub fn random_positions(count: i64, len: usize) -> Vec<usize> {
    use rand::Rng;
    let mut rng = rand::rng();
    if count < 0 || count == 1 {
        (0..count.unsigned_abs())
            .map(|_| rng.random_range(0..len))
            .collect()
    } else if count as usize >= len {
        (0..len).collect()
    } else {
        // A partial Fisher-Yates shuffle.
        let mut idx: Vec<usize> = (0..len).collect();
        for i in 0..count as usize {
            let j = rng.random_range(i..len);
            idx.swap(i, j);
        }
        idx.truncate(count as usize);
        idx
    }
}

/// `count [WITHVALUES|WITHSCORES]` of HRANDFIELD/ZRANDMEMBER: (count, with) or None without a count.
pub fn random_count(argv: &[&[u8]], with: &str) -> Result<Option<(i64, bool)>, CmdError> {
    if argv.len() < 3 {
        return Ok(None);
    }
    let n = range_long(argv[2], -i64::MAX, i64::MAX, None)?;
    if argv.len() > 4 || (argv.len() == 4 && !is(argv[3], with)) {
        return Err(super::SYNTAX);
    }
    let with = argv.len() == 4;
    if with && !(-i64::MAX / 2..=i64::MAX / 2).contains(&n) {
        return Err(CmdError::new("ERR value is out of range"));
    }
    Ok(Some((n, with)))
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
        assert_eq!(float(b"0x10").unwrap(), 16.0);
        assert!(float(b"1e400").is_err());
        assert!(float(b"1e-400").is_err());
        assert!(float(b"1.5 ").is_err());
    }
}
