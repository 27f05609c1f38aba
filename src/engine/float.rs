//! Long-double arithmetic for INCRBYFLOAT, done in C because Rust has no `long double`:
//! Redis computes these increments in 80-bit precision and prints 17 decimals, and clients see
//! those exact digits.

use std::os::raw::{c_char, c_int};

extern "C" {
    fn fc_ld_add(
        a: *const c_char,
        alen: usize,
        b: *const c_char,
        blen: usize,
        out: *mut c_char,
        outlen: usize,
    ) -> c_int;
}

#[derive(Debug, PartialEq, Eq)]
pub enum FloatError {
    /// An operand is not a valid float.
    NotFloat,
    /// The result would be NaN or infinite.
    NanOrInf,
}

/// `current + incr` as Redis formats it.
pub fn add(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, FloatError> {
    let mut out = vec![0u8; 5 * 1024 + 64];
    // SAFETY: the pointers and lengths describe live buffers; the C side writes at most
    // `out.len()` bytes and never reads past the given lengths.
    let n = unsafe {
        fc_ld_add(
            current.as_ptr() as *const c_char,
            current.len(),
            incr.as_ptr() as *const c_char,
            incr.len(),
            out.as_mut_ptr() as *mut c_char,
            out.len(),
        )
    };
    match n {
        -1 => Err(FloatError::NotFloat),
        n if n < 0 => Err(FloatError::NanOrInf),
        n => {
            out.truncate(n as usize);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_digits() {
        assert_eq!(add(b"10.5", b"0.1").unwrap(), b"10.6");
        assert_eq!(add(b"5.6", b"1e3").unwrap(), b"1005.59999999999999998");
        assert_eq!(add(b"", b"3"), Err(FloatError::NotFloat));
        assert_eq!(add(b"1", b"-1").unwrap(), b"0");
        assert_eq!(add(b"abc", b"1"), Err(FloatError::NotFloat));
        assert_eq!(add(b"1", b" 1"), Err(FloatError::NotFloat));
        assert_eq!(add(b"1", b"nan"), Err(FloatError::NotFloat));
        assert_eq!(add(b"1", b"inf"), Err(FloatError::NanOrInf));
    }
}
