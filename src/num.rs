//! Decimal integers: shared by the request parser (lengths), the engine (strings that hold
//! integers) and the commands, so that none of them depends on another for it.

/// An optional minus sign and 1 to 19 digits, nothing else, within i64 (no plus sign, no
/// spaces); None otherwise.
#[inline]
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub((c - b'0') as i64)?
        } else {
            v.checked_add((c - b'0') as i64)?
        };
    }
    Some(v)
}
