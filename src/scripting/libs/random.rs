//! `math.random` and `math.randomseed` as Redis replaces them: a 48-bit linear congruential
//! generator (`lrand48`'s) with one state for the whole server, so a sequence is the same on
//! every platform and the same as Redis's for the same seed.

use std::sync::atomic::{AtomicU64, Ordering};

use mlua::{Lua, MultiValue, Table, Value};

use super::{function, Fail, LibResult};

/// `lrand48`'s multiplier, increment and initial state.
const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const X0: u64 = 0x330E;
const INITIAL: u64 = 0x1234_ABCD_330E;
const MASK: u64 = (1 << 48) - 1;
/// The largest value drawn (`INT32_MAX`): results are scaled by it.
const MAX: i64 = i32::MAX as i64;

static STATE: AtomicU64 = AtomicU64::new(INITIAL);

/// The next 31-bit draw.
fn next() -> i64 {
    let x = (STATE
        .load(Ordering::Relaxed)
        .wrapping_mul(A)
        .wrapping_add(C))
        & MASK;
    STATE.store(x, Ordering::Relaxed);
    (x >> 17) as i64
}

/// Installs the two into the `math` table.
pub fn install(lua: &Lua, math: &Table) -> mlua::Result<()> {
    math.raw_set("random", function(lua, random)?)?;
    math.raw_set(
        "randomseed",
        function(lua, |lua, a| {
            let seed = super::c_i32(a.check_number(lua, 1)?) as u32 as u64;
            // lrand48's seeding: the low 16 bits fixed, the seed above them.
            STATE.store(X0 | (seed << 16), Ordering::Relaxed);
            Ok(MultiValue::new())
        })?,
    )?;
    Ok(())
}

fn random(lua: &Lua, a: super::Args) -> LibResult {
    let r = (next() % MAX) as f64 / MAX as f64;
    let int = |i: usize| -> Result<i64, Fail> { Ok(super::c_i32(a.check_number(lua, i)?) as i64) };
    let v = match a.len() {
        0 => r,
        1 => {
            let u = int(1)?;
            if u < 1 {
                return Err(Fail::arg(1, "interval is empty"));
            }
            (r * u as f64).floor() + 1.0
        }
        2 => {
            let (l, u) = (int(1)?, int(2)?);
            if l > u {
                return Err(Fail::arg(2, "interval is empty"));
            }
            (r * (u - l + 1) as f64).floor() + l as f64
        }
        _ => return Err(Fail::msg("wrong number of arguments")),
    };
    Ok(MultiValue::from_vec(vec![Value::Number(v)]))
}
