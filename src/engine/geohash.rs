//! Geohash arithmetic as Redis does it: 26-bit steps of latitude and longitude interleaved
//! into a 52-bit integer stored as a sorted-set score, the 3x3 search areas around a point, and
//! the haversine distance on Redis's earth radius. Ported for identical scores and results.

pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const STEP_MAX: u8 = 26;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bits {
    pub bits: u64,
    pub step: u8,
}

impl Bits {
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// Left-aligned to 52 bits: the sorted-set score.
    pub fn align52(&self) -> u64 {
        self.bits << (52 - self.step as u32 * 2)
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Area {
    pub lon_min: f64,
    pub lon_max: f64,
    pub lat_min: f64,
    pub lat_max: f64,
}

/// Latitude bits at even positions, longitude bits at odd ones.
fn interleave(lat: u32, lon: u32) -> u64 {
    let spread = |v: u32| {
        let mut x = v as u64;
        x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
        x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
        x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        x = (x | (x << 2)) & 0x3333_3333_3333_3333;
        (x | (x << 1)) & 0x5555_5555_5555_5555
    };
    spread(lat) | (spread(lon) << 1)
}

/// (lat, lon) from interleaved bits.
fn deinterleave(v: u64) -> (u32, u32) {
    let squash = |mut x: u64| {
        x &= 0x5555_5555_5555_5555;
        x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
        x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
        x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
        x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
        x as u32
    };
    (squash(v), squash(v >> 1))
}

/// Encodes a point within the given ranges (lon range, lat range); None outside them.
pub fn encode(
    lon: f64,
    lat: f64,
    step: u8,
    lon_range: (f64, f64),
    lat_range: (f64, f64),
) -> Option<Bits> {
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.0 || lat > lat_range.1 || lon < lon_range.0 || lon > lon_range.1 {
        return None;
    }
    let mut lat_off = (lat - lat_range.0) / (lat_range.1 - lat_range.0);
    let mut lon_off = (lon - lon_range.0) / (lon_range.1 - lon_range.0);
    lat_off *= (1u64 << step) as f64;
    lon_off *= (1u64 << step) as f64;
    Some(Bits {
        bits: interleave(lat_off as u32, lon_off as u32),
        step,
    })
}

pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<Bits> {
    encode(lon, lat, step, (LONG_MIN, LONG_MAX), (LAT_MIN, LAT_MAX))
}

pub fn decode(h: Bits) -> Area {
    let (ilat, ilon) = deinterleave(h.bits);
    let scale = (1u64 << h.step) as f64;
    let (lat_s, lon_s) = (LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN);
    Area {
        lat_min: LAT_MIN + (ilat as f64 / scale) * lat_s,
        lat_max: LAT_MIN + ((ilat as f64 + 1.0) / scale) * lat_s,
        lon_min: LONG_MIN + (ilon as f64 / scale) * lon_s,
        lon_max: LONG_MIN + ((ilon as f64 + 1.0) / scale) * lon_s,
    }
}

/// The centre of a stored score's cell, clamped to the valid ranges: (lon, lat).
pub fn decode_score(score: f64) -> (f64, f64) {
    let a = decode(Bits {
        bits: score as u64,
        step: STEP_MAX,
    });
    let lon = ((a.lon_min + a.lon_max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat_min + a.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// Steps one cell along one axis: `mine` masks that axis's bits (odd positions for
/// longitude, even for latitude), the carry ripples through them only.
fn move_axis(h: &mut Bits, d: i8, mine: u64) {
    if d == 0 {
        return;
    }
    let shift = 64 - h.step as u32 * 2;
    let mut x = h.bits & mine;
    let y = h.bits & !mine;
    let zz = !mine >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= mine >> shift;
    h.bits = x | y;
}

fn moved(h: Bits, dx: i8, dy: i8) -> Bits {
    let mut n = h;
    move_axis(&mut n, dx, 0xaaaa_aaaa_aaaa_aaaa);
    move_axis(&mut n, dy, 0x5555_5555_5555_5555);
    n
}

fn estimate_steps(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// A search shape: a circle (radius) or a box (width, height), in metres, around (lon, lat).
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Radius(f64),
    Box(f64, f64),
}

/// Degrees to radians as Redis computes it (`d * (pi / 180)`, not `d * pi / 180`: the last
/// digits of distances depend on it).
fn rad(d: f64) -> f64 {
    const D_R: f64 = std::f64::consts::PI / 180.0;
    d * D_R
}

fn deg(r: f64) -> f64 {
    r / (std::f64::consts::PI / 180.0)
}

pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (rad(lat2) - rad(lat1)).abs()
}

pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((rad(lon2) - rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let u = ((rad(lat2) - rad(lat1)) / 2.0).sin();
    let a = u * u + rad(lat1).cos() * rad(lat2).cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// Is the point within the shape around (lon, lat)? Returns its distance if so.
pub fn within(shape: Shape, lon: f64, lat: f64, plon: f64, plat: f64) -> Option<f64> {
    let d = distance(lon, lat, plon, plat);
    match shape {
        Shape::Radius(r) => (d <= r).then_some(d),
        Shape::Box(w, h) => {
            if lat_distance(plat, lat) > h / 2.0 {
                return None;
            }
            if distance(plon, plat, lon, plat) > w / 2.0 {
                return None;
            }
            Some(d)
        }
    }
}

/// The cells to scan for a shape, in Redis's order (centre, N, S, E, W, NE, NW, SE, SW), with
/// the ones that cannot hold a match left out.
pub fn search_areas(shape: Shape, lon: f64, lat: f64) -> Vec<Bits> {
    let (hh, hw) = match shape {
        Shape::Radius(r) => (r, r),
        Shape::Box(w, h) => (h / 2.0, w / 2.0),
    };
    let lat_delta = deg(hh / EARTH_RADIUS_IN_METERS);
    let lon_top = deg(hw / EARTH_RADIUS_IN_METERS / rad(lat + lat_delta).cos());
    let lon_bottom = deg(hw / EARTH_RADIUS_IN_METERS / rad(lat - lat_delta).cos());
    let south = lat < 0.0;
    let min_lon = if south {
        lon - lon_bottom
    } else {
        lon - lon_top
    };
    let max_lon = if south {
        lon + lon_bottom
    } else {
        lon + lon_top
    };
    let (min_lat, max_lat) = (lat - lat_delta, lat + lat_delta);
    let radius = match shape {
        Shape::Radius(r) => r,
        Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
    };
    let mut steps = estimate_steps(radius, lat);
    let mut hash = encode_wgs84(lon, lat, steps).expect("validated coordinates");
    let around = |h: Bits| {
        [
            moved(h, 0, 1),   // north
            moved(h, 0, -1),  // south
            moved(h, 1, 0),   // east
            moved(h, -1, 0),  // west
            moved(h, 1, 1),   // north-east
            moved(h, -1, 1),  // north-west
            moved(h, 1, -1),  // south-east
            moved(h, -1, -1), // south-west
        ]
    };
    let mut n = around(hash);
    let (north, south_a, east, west) = (decode(n[0]), decode(n[1]), decode(n[2]), decode(n[3]));
    let decrease = north.lat_max < max_lat
        || south_a.lat_min > min_lat
        || east.lon_max < max_lon
        || west.lon_min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        hash = encode_wgs84(lon, lat, steps).expect("validated coordinates");
        n = around(hash);
    }
    let area = decode(hash);
    let zero = Bits { bits: 0, step: 0 };
    if steps >= 2 {
        if area.lat_min < min_lat {
            n[1] = zero;
            n[7] = zero;
            n[6] = zero;
        }
        if area.lat_max > max_lat {
            n[0] = zero;
            n[4] = zero;
            n[5] = zero;
        }
        if area.lon_min < min_lon {
            n[3] = zero;
            n[7] = zero;
            n[5] = zero;
        }
        if area.lon_max > max_lon {
            n[2] = zero;
            n[6] = zero;
            n[4] = zero;
        }
    }
    std::iter::once(hash).chain(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (a, b) in [
            (0u32, 0u32),
            (1, 2),
            (0x3ff_ffff, 0x123_4567),
            (12345, 67890),
        ] {
            assert_eq!(deinterleave(interleave(a, b)), (a, b));
        }
    }

    #[test]
    fn palermo_scores_as_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" stores score 3479099956230698.
        let h = encode_wgs84(13.361389, 38.115556, STEP_MAX).unwrap();
        assert_eq!(h.align52(), 3479099956230698);
        let (lon, lat) = decode_score(3479099956230698.0);
        assert!((lon - 13.361389).abs() < 1e-5 && (lat - 38.115556).abs() < 1e-5);
    }
}
