//! `bit`: LuaBitOp 1.0.2 as Redis ships it. Operands are Lua numbers (doubles) taken modulo
//! 2^32 and results are signed 32-bit values, so `bit.tobit(0xffffffff)` is -1.

use mlua::{Lua, MultiValue, Table, Value};

use super::{function, Args, Fail, LibResult};

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 12)?;
    t.raw_set("tobit", function(lua, |lua, a| ret(arg(lua, &a, 1)?))?)?;
    t.raw_set("bnot", function(lua, |lua, a| ret(!arg(lua, &a, 1)?))?)?;
    t.raw_set("band", function(lua, |lua, a| fold(lua, &a, |x, y| x & y))?)?;
    t.raw_set("bor", function(lua, |lua, a| fold(lua, &a, |x, y| x | y))?)?;
    t.raw_set("bxor", function(lua, |lua, a| fold(lua, &a, |x, y| x ^ y))?)?;
    t.raw_set(
        "lshift",
        function(lua, |lua, a| shift(lua, &a, |b, n| b << n))?,
    )?;
    t.raw_set(
        "rshift",
        function(lua, |lua, a| shift(lua, &a, |b, n| b >> n))?,
    )?;
    t.raw_set(
        "arshift",
        function(lua, |lua, a| {
            shift(lua, &a, |b, n| ((b as i32) >> n) as u32)
        })?,
    )?;
    t.raw_set(
        "rol",
        function(lua, |lua, a| shift(lua, &a, u32::rotate_left))?,
    )?;
    t.raw_set(
        "ror",
        function(lua, |lua, a| shift(lua, &a, u32::rotate_right))?,
    )?;
    t.raw_set(
        "bswap",
        function(lua, |lua, a| ret(arg(lua, &a, 1)?.swap_bytes()))?,
    )?;
    t.raw_set("tohex", function(lua, tohex)?)?;
    Ok(t)
}

/// An operand as LuaBitOp reads it: the low 32 bits of the double after adding 2^52 + 2^51,
/// which rounds to an integer and wraps modulo 2^32 in one step.
fn to_bits(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

/// Argument `i` as an operand; anything that is not a number (or numeric string) is refused.
fn arg(lua: &Lua, a: &Args, i: usize) -> Result<u32, Fail> {
    match a.to_number(lua, i) {
        Some(n) => Ok(to_bits(n)),
        None => Err(a.check_number(lua, i).unwrap_err()),
    }
}

fn ret(b: u32) -> LibResult {
    Ok(MultiValue::from_vec(vec![Value::Number(b as i32 as f64)]))
}

/// band/bor/bxor: the first argument, then the others from the last one down (the order in
/// which LuaBitOp reads them, which decides which bad argument is reported).
fn fold(lua: &Lua, a: &Args, op: impl Fn(u32, u32) -> u32) -> LibResult {
    let mut b = arg(lua, a, 1)?;
    for i in (2..=a.len()).rev() {
        b = op(b, arg(lua, a, i)?);
    }
    ret(b)
}

fn shift(lua: &Lua, a: &Args, op: impl Fn(u32, u32) -> u32) -> LibResult {
    let b = arg(lua, a, 1)?;
    let n = arg(lua, a, 2)? & 31;
    ret(op(b, n))
}

/// tohex(x [, n]): n hex digits (8 by default, at most 8), upper case when n is negative.
fn tohex(lua: &Lua, a: Args) -> LibResult {
    let mut b = arg(lua, &a, 1)?;
    let mut n = if a.get(2).is_none() {
        8
    } else {
        arg(lua, &a, 2)? as i32
    };
    let digits: &[u8; 16] = if n < 0 {
        // Redis's build treats -(-2^31) as large, not negative: 8 upper-case digits.
        n = n.checked_neg().unwrap_or(8);
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.min(8) as usize;
    let mut out = vec![0u8; n];
    for slot in out.iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(MultiValue::from_vec(vec![Value::String(
        lua.create_string(&out)?,
    )]))
}

#[cfg(test)]
mod tests {
    use super::to_bits;

    #[test]
    fn operands_wrap_modulo_2_32() {
        assert_eq!(to_bits(1.0), 1);
        assert_eq!(to_bits(-1.0), u32::MAX);
        assert_eq!(to_bits(4_294_967_296.0), 0);
        assert_eq!(to_bits(2_147_483_648.0), 0x8000_0000);
        assert_eq!(to_bits(1.5), 2);
        assert_eq!(to_bits(2.5), 2);
        assert_eq!(to_bits(1_437_217_655.0), 1_437_217_655);
    }
}
