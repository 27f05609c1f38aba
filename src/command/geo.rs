//! Geo commands over sorted sets: GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH,
//! GEOSEARCHSTORE and the older GEORADIUS family. The arithmetic is in `engine::geohash`.

use super::args::{self, is};
use super::keyspec::{self as ks, KeySpec as K, ACCESS, OW, RO, RW, UPDATE};
use super::table::{CommandSpec as C, DENYOOM, READONLY, WRITE};
use super::zranges::store_zset;
use super::{collection_read, CmdError, CmdResult, Ctx, SYNTAX};
use crate::engine::collections::ZSet;
use crate::engine::geohash::{self, Shape};
use crate::engine::Value;
use crate::protocol::Reply;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("geoadd", -5, WRITE | DENYOOM, geoadd).keys(&[K::at(1, RW | UPDATE)])
        .doc("geo", "3.2.0", "key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]", "Adds one or more members to a geospatial index. The key is created if it doesn't exist."),
    C::new("geodist", -4, READONLY, geodist).keys(&[K::at(1, RO | ACCESS)])
        .doc("geo", "3.2.0", "key member1 member2 [M | KM | FT | MI]", "Returns the distance between two members of a geospatial index."),
    C::new("geohash", -2, READONLY, geohash_cmd).keys(&[K::at(1, RO | ACCESS)])
        .doc("geo", "3.2.0", "key [member [member ...]]", "Returns members from a geospatial index as geohash strings."),
    C::new("geopos", -2, READONLY, geopos).keys(&[K::at(1, RO | ACCESS)])
        .doc("geo", "3.2.0", "key [member [member ...]]", "Returns the longitude and latitude of members from a geospatial index."),
    C::new("geosearch", -7, READONLY, geosearch).keys(&[K::at(1, RO | ACCESS)])
        .doc("geo", "6.2.0", "key <FROMMEMBER member | FROMLONLAT longitude latitude> <BYRADIUS radius <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]", "Queries a geospatial index for members inside an area of a box or a circle."),
    C::new("geosearchstore", -8, WRITE | DENYOOM, geosearchstore).keys(&[K::at(1, OW | UPDATE), K::at(2, RO | ACCESS)])
        .doc("geo", "6.2.0", "destination source <FROMMEMBER member | FROMLONLAT longitude latitude> <BYRADIUS radius <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC] [COUNT count [ANY]] [STOREDIST]", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result."),
    C::new("georadius", -6, WRITE | DENYOOM, georadius).keys(&[K::at(1, RO | ACCESS), K::after("STORE", 6, OW | UPDATE), K::after("STOREDIST", 6, OW | UPDATE)]).getkeys(ks::georadius)
        .doc("geo", "3.2.0", "key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result."),
    C::new("georadius_ro", -6, READONLY, georadius_ro).keys(&[K::at(1, RO | ACCESS)])
        .doc("geo", "3.2.10", "key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]", "Returns members from a geospatial index that are within a distance from a coordinate."),
    C::new("georadiusbymember", -5, WRITE | DENYOOM, georadiusbymember).keys(&[K::at(1, RO | ACCESS), K::after("STORE", 5, OW | UPDATE), K::after("STOREDIST", 5, OW | UPDATE)]).getkeys(ks::georadius)
        .doc("geo", "3.2.0", "key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]", "Queries a geospatial index for members within a distance from a member, optionally stores the result."),
    C::new("georadiusbymember_ro", -5, READONLY, georadiusbymember_ro).keys(&[K::at(1, RO | ACCESS)])
        .doc("geo", "3.2.10", "key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]", "Returns members from a geospatial index that are within a distance from a member."),
];

/// Longitude and latitude arguments, range-checked as Redis does.
fn lon_lat(a: &[u8], b: &[u8]) -> Result<(f64, f64), CmdError> {
    let lon = args::float(a)?;
    let lat = args::float(b)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(CmdError::owned(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Metres per unit.
fn unit(a: &[u8]) -> Result<f64, CmdError> {
    match a {
        x if is(x, "M") => Ok(1.0),
        x if is(x, "KM") => Ok(1000.0),
        x if is(x, "FT") => Ok(0.3048),
        x if is(x, "MI") => Ok(1609.34),
        _ => Err(CmdError::new(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

fn positive_float(a: &[u8], msg: &'static str, negative: &'static str) -> Result<f64, CmdError> {
    let v = args::float(a).map_err(|_| CmdError::new(msg))?;
    if v < 0.0 {
        return Err(CmdError::new(negative));
    }
    Ok(v)
}

/// A distance as Redis prints it: rounded to 4 decimals (ties to even).
fn reply_distance(out: &mut Reply, d: f64) {
    let v = (d * 10000.0).round_ties_even() as i64;
    let s = format!(
        "{}{}.{:04}",
        if v < 0 { "-" } else { "" },
        (v / 10000).abs(),
        (v % 10000).abs()
    );
    out.bulk(s.as_bytes());
}

/// A coordinate as Redis prints it: 17 decimals, trailing zeros removed.
fn reply_coord(out: &mut Reply, v: f64) {
    let mut s = format!("{v:.17}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    if out.resp3 {
        out.raw(format!(",{s}\r\n").as_bytes());
    } else {
        out.bulk(s.as_bytes());
    }
}

fn geoadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut i = 2;
    let (mut nx, mut xx) = (false, false);
    while i < argv.len() {
        if is(argv[i], "NX") {
            nx = true;
        } else if is(argv[i], "XX") {
            xx = true;
        } else if !is(argv[i], "CH") {
            break;
        }
        i += 1;
    }
    if (argv.len() - i) % 3 != 0 || (nx && xx) {
        return Err(SYNTAX);
    }
    // Rewritten as ZADD with the geohash as the score, as Redis does.
    let mut scores = Vec::new();
    for t in argv[i..].chunks(3) {
        let (lon, lat) = lon_lat(t[0], t[1])?;
        let h = geohash::encode_wgs84(lon, lat, geohash::STEP_MAX).expect("checked above");
        scores.push(h.align52().to_string());
    }
    let mut zargv: Vec<&[u8]> = vec![b"zadd"];
    zargv.extend_from_slice(&argv[1..i]);
    for (t, s) in argv[i..].chunks(3).zip(&scores) {
        zargv.push(s.as_bytes());
        zargv.push(t[2]);
    }
    super::zsets::zadd(ctx, &zargv)
}

/// Scores of `members` in the sorted set at `key` (None per missing member); None for a
/// missing key.
fn scores_of(
    ctx: &mut Ctx,
    key: &[u8],
    members: &[&[u8]],
) -> Result<Option<Vec<Option<f64>>>, CmdError> {
    let mut shard = ctx.db().lock_key(key);
    let z = collection_read(&mut shard, key, ctx.now, ctx.touch(), Value::zset_ref)?;
    Ok(z.map(|z| members.iter().map(|m| z.score(m)).collect()))
}

fn geodist(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let to_m = match argv.len() {
        4 => 1.0,
        5 => unit(argv[4])?,
        _ => return Err(SYNTAX),
    };
    match scores_of(ctx, argv[1], &argv[2..4])? {
        Some(s) if s[0].is_some() && s[1].is_some() => {
            let (a, b) = (
                geohash::decode_score(s[0].unwrap()),
                geohash::decode_score(s[1].unwrap()),
            );
            reply_distance(ctx.out, geohash::distance(a.0, a.1, b.0, b.1) / to_m);
        }
        _ => ctx.out.null(),
    }
    Ok(())
}

fn geohash_cmd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    const ALPHABET: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let scores = scores_of(ctx, argv[1], &argv[2..])?.unwrap_or_else(|| vec![None; argv.len() - 2]);
    ctx.out.array(scores.len());
    for s in scores {
        let Some(s) = s else {
            ctx.out.null();
            continue;
        };
        let (lon, lat) = geohash::decode_score(s);
        // The standard geohash uses latitudes -90..90, so it is encoded again.
        let h = geohash::encode(lon, lat, 26, (-180.0, 180.0), (-90.0, 90.0)).map_or(0, |h| h.bits);
        let text: Vec<u8> = (0..11)
            .map(|i| {
                let idx = if i == 10 {
                    0
                } else {
                    (h >> (52 - (i + 1) * 5)) & 0x1f
                };
                ALPHABET[idx as usize]
            })
            .collect();
        ctx.out.bulk(&text);
    }
    Ok(())
}

fn geopos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let scores = scores_of(ctx, argv[1], &argv[2..])?.unwrap_or_else(|| vec![None; argv.len() - 2]);
    ctx.out.array(scores.len());
    for s in scores {
        match s {
            Some(s) => {
                let (lon, lat) = geohash::decode_score(s);
                ctx.out.array(2);
                reply_coord(ctx.out, lon);
                reply_coord(ctx.out, lat);
            }
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Form {
    /// GEORADIUS key lon lat radius unit ...
    Coords,
    /// GEORADIUSBYMEMBER key member radius unit ...
    Member,
    /// GEOSEARCH key ...
    Search,
    /// GEOSEARCHSTORE dst src ...
    SearchStore,
}

#[derive(PartialEq, PartialOrd, Clone, Copy)]
enum Sort {
    None,
    Asc,
    Desc,
}

struct Found {
    member: Vec<u8>,
    score: f64,
    dist: f64,
    lon: f64,
    lat: f64,
}

fn search(ctx: &mut Ctx, argv: &[&[u8]], form: Form, nostore: bool) -> CmdResult {
    let src = if form == Form::SearchStore {
        argv[2]
    } else {
        argv[1]
    };
    let mut store: Option<&[u8]> = if form == Form::SearchStore {
        Some(argv[1])
    } else {
        None
    };
    let mut storedist = false;
    // The source stays locked while it is scanned; the result is stored after.
    let mut shard = ctx.db().lock_key(src);
    let z: Option<&ZSet> = collection_read(&mut shard, src, ctx.now, ctx.touch(), Value::zset_ref)?;
    let member_pos = |m: &[u8]| -> Result<(f64, f64), CmdError> {
        z.and_then(|z| z.score(m))
            .map(geohash::decode_score)
            .ok_or(CmdError::new("ERR could not decode requested zset member"))
    };
    let mut center: Option<(f64, f64)> = None;
    let mut shape: Option<Shape> = None;
    let mut conversion = 1.0;
    let base = match form {
        Form::Coords => {
            center = Some(lon_lat(argv[2], argv[3])?);
            let r = positive_float(
                argv[4],
                "ERR need numeric radius",
                "ERR radius cannot be negative",
            )?;
            conversion = unit(argv[5])?;
            shape = Some(Shape::Radius(r * conversion));
            6
        }
        Form::Member if z.is_none() => 5,
        Form::Member => {
            center = Some(member_pos(argv[2])?);
            let r = positive_float(
                argv[3],
                "ERR need numeric radius",
                "ERR radius cannot be negative",
            )?;
            conversion = unit(argv[4])?;
            shape = Some(Shape::Radius(r * conversion));
            5
        }
        Form::Search => 2,
        Form::SearchStore => 3,
    };
    let searching = matches!(form, Form::Search | Form::SearchStore);
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let (mut from_member, mut from_loc) = (false, false);
    let mut i = base;
    while i < argv.len() {
        let a = argv[i];
        let left = argv.len() - i - 1;
        if is(a, "WITHDIST") {
            withdist = true;
        } else if is(a, "WITHHASH") {
            withhash = true;
        } else if is(a, "WITHCOORD") {
            withcoord = true;
        } else if is(a, "ANY") {
            any = true;
        } else if is(a, "ASC") {
            sort = Sort::Asc;
        } else if is(a, "DESC") {
            sort = Sort::Desc;
        } else if is(a, "COUNT") && left >= 1 {
            count = args::int(argv[i + 1])?;
            if count <= 0 {
                return Err(CmdError::new("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (is(a, "STORE") || is(a, "STOREDIST")) && left >= 1 && !nostore && !searching {
            store = Some(argv[i + 1]);
            storedist = is(a, "STOREDIST");
            i += 1;
        } else if is(a, "STOREDIST") && form == Form::SearchStore {
            storedist = true;
        } else if is(a, "FROMMEMBER") && left >= 1 && searching && !from_loc {
            if z.is_some() {
                center = Some(member_pos(argv[i + 1])?);
            }
            from_member = true;
            i += 1;
        } else if is(a, "FROMLONLAT") && left >= 2 && searching && !from_member {
            center = Some(lon_lat(argv[i + 1], argv[i + 2])?);
            from_loc = true;
            i += 2;
        } else if is(a, "BYRADIUS")
            && left >= 2
            && searching
            && !matches!(shape, Some(Shape::Box(..)))
        {
            let r = positive_float(
                argv[i + 1],
                "ERR need numeric radius",
                "ERR radius cannot be negative",
            )?;
            conversion = unit(argv[i + 2])?;
            shape = Some(Shape::Radius(r * conversion));
            i += 2;
        } else if is(a, "BYBOX")
            && left >= 3
            && searching
            && !matches!(shape, Some(Shape::Radius(..)))
        {
            let w =
                args::float(argv[i + 1]).map_err(|_| CmdError::new("ERR need numeric width"))?;
            let h =
                args::float(argv[i + 2]).map_err(|_| CmdError::new("ERR need numeric height"))?;
            if w < 0.0 || h < 0.0 {
                return Err(CmdError::new("ERR height or width cannot be negative"));
            }
            conversion = unit(argv[i + 3])?;
            shape = Some(Shape::Box(w * conversion, h * conversion));
            i += 3;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    let name = String::from_utf8_lossy(argv[0]).into_owned();
    if store.is_some() && (withdist || withhash || withcoord) {
        return Err(CmdError::owned(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if form == Form::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    if searching && !(from_member || from_loc) {
        return Err(CmdError::owned(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if searching && shape.is_none() {
        return Err(CmdError::owned(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(CmdError::new(
            "ERR the ANY argument requires COUNT argument",
        ));
    }
    let Some(z) = z else {
        drop(shard);
        match store {
            Some(dst) => {
                let n = store_zset(ctx, dst, &[], "", 0);
                ctx.out.int(n as i64);
            }
            None => ctx.out.array(0),
        }
        return Ok(());
    };
    let (center, shape) = (center.expect("set above"), shape.expect("set above"));
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let limit = if any { count as usize } else { 0 };
    let mut found: Vec<Found> = Vec::new();
    let mut last: Option<geohash::Bits> = None;
    for area in geohash::search_areas(shape, center.0, center.1) {
        if area.is_zero() || last == Some(area) {
            continue;
        }
        if limit > 0 && found.len() >= limit {
            break;
        }
        last = Some(area);
        let min = area.align52() as f64;
        let max = geohash::Bits {
            bits: area.bits + 1,
            step: area.step,
        }
        .align52() as f64;
        let from = z.order().count_below(|s, _| s < min);
        for (m, s) in z.order().iter_from(from).take_while(|(_, s)| *s < max) {
            let (lon, lat) = geohash::decode_score(s);
            if let Some(dist) = geohash::within(shape, center.0, center.1, lon, lat) {
                found.push(Found {
                    member: m.to_vec(),
                    score: s,
                    dist,
                    lon,
                    lat,
                });
            }
            if limit > 0 && found.len() >= limit {
                break;
            }
        }
    }
    drop(shard);
    match sort {
        Sort::Asc => found.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => found.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Sort::None => {}
    }
    if count > 0 {
        found.truncate(count as usize);
    }
    if let Some(dst) = store {
        let stored: Vec<(Vec<u8>, f64)> = found
            .iter()
            .map(|f| {
                (
                    f.member.clone(),
                    if storedist {
                        f.dist / conversion
                    } else {
                        f.score
                    },
                )
            })
            .collect();
        let event = if searching {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        let n = store_zset(ctx, dst, &stored, event, stored.len() as u64);
        ctx.out.int(n as i64);
        return Ok(());
    }
    let extras = withdist as usize + withhash as usize + withcoord as usize;
    ctx.out.array(found.len());
    for f in &found {
        if extras > 0 {
            ctx.out.array(extras + 1);
        }
        ctx.out.bulk(&f.member);
        if withdist {
            reply_distance(ctx.out, f.dist / conversion);
        }
        if withhash {
            ctx.out.int(f.score as i64);
        }
        if withcoord {
            ctx.out.array(2);
            reply_coord(ctx.out, f.lon);
            reply_coord(ctx.out, f.lat);
        }
    }
    Ok(())
}

fn geosearch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::Search, true)
}

fn geosearchstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::SearchStore, false)
}

fn georadius(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::Coords, false)
}

fn georadius_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::Coords, true)
}

fn georadiusbymember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::Member, false)
}

fn georadiusbymember_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::Member, true)
}
