//! `struct`: Roberto Ierusalimschy's struct library (pack, unpack, size) as Redis ships it,
//! with the sizes and alignment of x86-64 C: short 2, int 4, long and size_t 8, at most 8-byte
//! alignment, little-endian unless `>` says otherwise. Integers travel as 64-bit C integers
//! converted from Lua's doubles, so wider `i<n>` fields carry zero (or sign) bytes.

use mlua::{Lua, MultiValue, Table, Value};

use super::{c_i64, function, Args, Fail, LibResult, Results, MAX_C_STACK};

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 3)?;
    t.raw_set("pack", function(lua, pack)?)?;
    t.raw_set("unpack", function(lua, unpack)?)?;
    t.raw_set("size", function(lua, size)?)?;
    Ok(t)
}

const MAX_INT_SIZE: usize = 32;
const MAX_ALIGN: usize = 8;

#[derive(Clone, Copy, PartialEq)]
enum Endian {
    Big,
    Little,
}

struct Header {
    endian: Endian,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header {
            endian: Endian::Little,
            align: 1,
        }
    }
}

/// A format string being read (a C string: it ends at the first NUL byte).
struct Format<'a> {
    s: &'a [u8],
    at: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.s.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// The decimal number that follows, or `default` when no digit does.
    fn number(&mut self, default: usize) -> Result<usize, Fail> {
        if !self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i32 = 0;
        while let Some(&d) = self.s.get(self.at).filter(|c| c.is_ascii_digit()) {
            let d = (d - b'0') as i32;
            if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
                return Err(Fail::msg("integral size overflow"));
            }
            a = a * 10 + d;
            self.at += 1;
        }
        Ok(a as usize)
    }

    /// The size of the item `opt` (reading its count), 0 for items that have none.
    fn item_size(&mut self, opt: u8) -> Result<usize, Fail> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let n = self.number(4)?;
                if n > MAX_INT_SIZE {
                    return Err(Fail::msg(format!(
                        "integral size {n} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                n
            }
            _ => 0,
        })
    }

    /// The endianness, alignment and blank options; anything else is an invalid option.
    fn control(&mut self, opt: u8, h: &mut Header) -> Result<(), Fail> {
        match opt {
            b' ' => {}
            b'>' => h.endian = Endian::Big,
            b'<' => h.endian = Endian::Little,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if a == 0 || a & (a - 1) != 0 {
                    return Err(Fail::msg(format!("alignment {a} is not a power of 2")));
                }
                h.align = a;
            }
            _ => {
                let mut m = b"invalid format option '".to_vec();
                m.push(opt);
                m.push(b'\'');
                return Err(Fail::arg(1, m));
            }
        }
        Ok(())
    }
}

/// Padding bytes before an item of `size` at offset `len` (C's formula, also for sizes that
/// are not powers of two).
fn padding(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & size.wrapping_sub(1))) & size.wrapping_sub(1)
}

/// The format argument (`luaL_checkstring`), cut at its first NUL.
fn format_arg(lua: &Lua, a: &Args) -> Result<Vec<u8>, Fail> {
    let s = a.check_string(lua, 1)?;
    let b = s.as_bytes();
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    Ok(b[..end].to_vec())
}

/// A double stored in a C `unsigned long` by way of `long` when negative.
fn to_u64(n: f64) -> u64 {
    if n.is_nan() {
        1 << 63
    } else if n < 0.0 {
        c_i64(n) as u64
    } else if n < 9_223_372_036_854_775_808.0 {
        n as u64
    } else {
        // What x86-64 code for a double to unsigned long conversion yields: subtract 2^63,
        // convert, and set the top bit.
        (c_i64(n - 9_223_372_036_854_775_808.0) as u64) ^ (1 << 63)
    }
}

fn pack(lua: &Lua, mut a: Args) -> LibResult {
    let fmt = format_arg(lua, &a)?;
    // The original pushes a nil after the arguments, so the first missing one reads as nil.
    a.0.push(Value::Nil);
    let mut f = Format { s: &fmt, at: 0 };
    let mut h = Header::new();
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    while let Some(opt) = f.next() {
        let mut size = f.item_size(opt)?;
        let pad = padding(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let mut v = to_u64(a.check_number(lua, arg)?);
                arg += 1;
                let mut bytes = vec![0u8; size];
                for (k, b) in bytes.iter_mut().enumerate() {
                    *b = v as u8;
                    v = if k >= 7 { 0 } else { v >> 8 };
                }
                if h.endian == Endian::Big {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let v = a.check_number(lua, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&match h.endian {
                    Endian::Big => v.to_be_bytes(),
                    Endian::Little => v.to_le_bytes(),
                });
            }
            b'd' => {
                let v = a.check_number(lua, arg)?;
                arg += 1;
                out.extend_from_slice(&match h.endian {
                    Endian::Big => v.to_be_bytes(),
                    Endian::Little => v.to_le_bytes(),
                });
            }
            b'c' | b's' => {
                let s = a.check_string(lua, arg)?;
                arg += 1;
                let s = s.as_bytes();
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // The argument number reported is the next one (the library's own slip).
                    return Err(Fail::arg(arg as i32, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h)?,
        }
    }
    Ok(MultiValue::from_vec(vec![Value::String(
        lua.create_string(&out)?,
    )]))
}

/// An integer field: big- or little-endian bytes, kept to 64 bits, sign-extended for signed
/// formats (with the x86 shift-count wrap for fields wider than 8 bytes).
fn read_integer(b: &[u8], endian: Endian, signed: bool) -> f64 {
    let mut l: u64 = 0;
    let mut push = |c: u8| l = (l << 8) | c as u64;
    match endian {
        Endian::Big => b.iter().for_each(|&c| push(c)),
        Endian::Little => b.iter().rev().for_each(|&c| push(c)),
    }
    if !signed {
        return l as f64;
    }
    let shift = (b.len() as u32 * 8).wrapping_sub(1);
    let mask = u64::MAX.wrapping_shl(shift);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, a: Args) -> LibResult {
    let fmt = format_arg(lua, &a)?;
    let data = a.check_string(lua, 2)?;
    let data = data.as_bytes();
    let ld = data.len();
    let pos = a.opt_integer(lua, 3, 1)? as u64 as usize;
    if pos == 0 {
        return Err(Fail::arg(3, "offset must be 1 or greater"));
    }
    let mut pos = pos - 1;
    let mut f = Format { s: &fmt, at: 0 };
    let mut h = Header::new();
    let mut out = Results::new(lua)?;
    let too_short = || Fail::arg(2, "data string too short");
    while let Some(opt) = f.next() {
        let mut size = f.item_size(opt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(too_short());
        }
        if a.len() + out.len() + 2 > MAX_C_STACK {
            return Err(Fail::stack("too many results"));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let v = read_integer(&data[pos..pos + size], h.endian, opt.is_ascii_lowercase());
                out.push(Value::Number(v))?;
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap_or_default();
                let v = match h.endian {
                    Endian::Big => f32::from_be_bytes(b),
                    Endian::Little => f32::from_le_bytes(b),
                };
                out.push(Value::Number(v as f64))?;
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap_or_default();
                let v = match h.endian {
                    Endian::Big => f64::from_be_bytes(b),
                    Endian::Little => f64::from_le_bytes(b),
                };
                out.push(Value::Number(v))?;
            }
            b'c' => {
                if size == 0 {
                    // "c0" takes its length from the value read just before.
                    let prev = match out.len() {
                        0 => None,
                        _ => super::to_number(lua, &out.last()?),
                    };
                    let Some(n) = prev else {
                        return Err(Fail::msg("format 'c0' needs a previous size"));
                    };
                    size = to_u64(n) as usize;
                    out.pop()?;
                    if !(size <= ld && pos <= ld - size) {
                        return Err(too_short());
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?))?;
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&c| c == 0) else {
                    return Err(Fail::msg("unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + end])?))?;
                size = end + 1;
            }
            _ => f.control(opt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    out.push(Value::Number(pos.wrapping_add(1) as i64 as f64))?;
    out.finish()
}

fn size(lua: &Lua, a: Args) -> LibResult {
    let fmt = format_arg(lua, &a)?;
    let mut f = Format { s: &fmt, at: 0 };
    let mut h = Header::new();
    let mut pos: usize = 0;
    while let Some(opt) = f.next() {
        let size = f.item_size(opt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if opt == b's' {
            return Err(Fail::arg(1, "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(Fail::arg(1, "option 'c0' has no fixed size"));
        }
        // Letters that are no option are ignored here (pack and unpack refuse them).
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(MultiValue::from_vec(vec![Value::Number(pos as i64 as f64)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_back() {
        assert_eq!(read_integer(&[0xff, 0xff], Endian::Little, true), -1.0);
        assert_eq!(read_integer(&[0xff, 0xff], Endian::Little, false), 65535.0);
        assert_eq!(
            read_integer(&[0x80, 0, 0, 0], Endian::Big, true),
            -2147483648.0
        );
        assert_eq!(read_integer(&[], Endian::Big, true), 0.0);
    }

    #[test]
    fn alignment_padding() {
        let h = Header {
            endian: Endian::Little,
            align: 8,
        };
        assert_eq!(padding(1, &h, b'i', 4), 3);
        assert_eq!(padding(1, &h, b'd', 8), 7);
        assert_eq!(padding(3, &h, b'c', 4), 0);
        assert_eq!(padding(5, &Header::new(), b'l', 8), 0);
    }
}
