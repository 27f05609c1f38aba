//! SORT and SORT_RO: numeric or ALPHA ordering of a list, set or sorted set, optionally by
//! weights read from other keys (BY), projecting other keys (GET), LIMIT, and STORE.

use super::args::{self, is};
use super::keyspec::{self as ks, KeySpec as K, ACCESS, OW, RO, UPDATE};
use super::table::{CommandSpec as C, DENYOOM, READONLY, WRITE};
use super::{CmdError, CmdResult, Ctx, SYNTAX};
use crate::engine::{Db, Entry, Value};

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("sort", -2, WRITE | DENYOOM, sort).keys(&[K::at(1, RO | ACCESS), K::unknown(RO | ACCESS), K::unknown(OW | UPDATE)]).getkeys(ks::sort)
        .doc("generic", "1.0.0", "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA] [STORE destination]", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result."),
    C::new("sort_ro", -2, READONLY, sort_ro).keys(&[K::at(1, RO | ACCESS), K::unknown(RO | ACCESS)]).getkeys(ks::sort_ro)
        .doc("generic", "7.0.0", "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA]", "Returns the sorted elements of a list, a set, or a sorted set."),
];

/// Reads the value a BY or GET pattern names for `elem`: `#` is the element itself,
/// `prefix*suffix` a string key, `prefix*suffix->field` a hash field. None when missing,
/// of another type, or when the pattern has no `*`.
fn lookup_pattern(db: &Db, now: u64, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let rest = &pattern[star + 1..];
    let arrow = rest
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&i| i + 2 < rest.len());
    let (post, field) = match arrow {
        Some(i) => (&rest[..i], Some(&rest[i + 2..])),
        None => (rest, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    let mut shard = db.lock_key(&key);
    let e = shard.read(&key, now, true)?;
    let mut tmp = itoa::Buffer::new();
    match (&e.value, field) {
        (Value::Hash(h), Some(f)) => h.get(f).map(|v| v.to_vec()),
        (Value::Str(s), None) => Some(s.as_bytes(&mut tmp).to_vec()),
        _ => None,
    }
}

struct Item {
    elem: Vec<u8>,
    score: f64,
    /// The BY value, for ALPHA with BY.
    by: Option<Vec<u8>>,
}

fn sort_generic(ctx: &mut Ctx, argv: &[&[u8]], readonly: bool) -> CmdResult {
    let (mut desc, mut alpha) = (false, false);
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut store: Option<&[u8]> = None;
    let mut by: Option<&[u8]> = None;
    let mut dont_sort = false;
    let mut gets: Vec<&[u8]> = Vec::new();
    // BY and GET read keys no key spec names: only a user who may read every key uses them.
    let full_read = super::acl::reads_every_key(ctx, argv);
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = argv[j];
        if is(a, "ASC") {
            desc = false;
        } else if is(a, "DESC") {
            desc = true;
        } else if is(a, "ALPHA") {
            alpha = true;
        } else if is(a, "LIMIT") && left >= 2 {
            limit_start = args::int(argv[j + 1])?;
            limit_count = args::int(argv[j + 2])?;
            j += 2;
        } else if !readonly && is(a, "STORE") && left >= 1 {
            store = Some(argv[j + 1]);
            j += 1;
        } else if is(a, "BY") && left >= 1 {
            by = Some(argv[j + 1]);
            // A constant BY pattern means "do not sort".
            dont_sort = !argv[j + 1].contains(&b'*');
            if !dont_sort && !full_read {
                return Err(CmdError::new(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            j += 1;
        } else if is(a, "GET") && left >= 1 {
            if !full_read {
                return Err(CmdError::new(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            gets.push(argv[j + 1]);
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let now = ctx.now;
    let db = ctx.db();
    let touch = ctx.touch();
    let (kind, mut elems): (u8, Vec<Vec<u8>>) = {
        let mut shard = db.lock_key(argv[1]);
        match shard.read(argv[1], now, touch).map(|e| &e.value) {
            None => (b'l', Vec::new()),
            Some(Value::List(l)) => (b'l', l.iter().map(|e| e.to_vec()).collect()),
            Some(Value::Set(s)) => (b's', s.members()),
            Some(Value::ZSet(z)) => (b'z', z.iter().map(|(m, _)| m.to_vec()).collect()),
            Some(_) => return Err(super::WRONGTYPE),
        }
    };
    // An unsorted set stored or scripted must still come out in a reproducible order.
    if dont_sort && kind == b's' && (store.is_some() || ctx.client.in_script) {
        dont_sort = false;
        alpha = true;
        by = None;
    }
    let len = elems.len() as i64;
    let start = limit_start.max(0).min(len);
    let count = limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    let start = if start >= len {
        end = len - 2;
        len - 1
    } else {
        start
    };
    if end >= len {
        end = len - 1;
    }
    if dont_sort && desc && kind != b's' {
        // Lists and sorted sets are taken in reverse, unsorted, for DESC.
        elems.reverse();
    }
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            by: None,
        })
        .collect();
    if !dont_sort {
        let mut conversion_error = false;
        for it in &mut items {
            let byval = match by {
                Some(p) => match lookup_pattern(db, now, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.elem.clone(),
            };
            if alpha {
                if by.is_some() {
                    it.by = Some(byval);
                }
            } else {
                match args::float(&byval) {
                    Ok(v) => it.score = v,
                    Err(_) => conversion_error = true,
                }
            }
        }
        if conversion_error {
            return Err(CmdError::new(
                "ERR One or more scores can't be converted into double",
            ));
        }
        items.sort_by(|a, b| {
            let cmp = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if by.is_some() {
                match (&a.by, &b.by) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, Some(_)) => std::cmp::Ordering::Less,
                    (Some(_), None) => std::cmp::Ordering::Greater,
                    (Some(x), Some(y)) => x.cmp(y),
                }
            } else {
                a.elem.cmp(&b.elem)
            };
            if desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
    }
    let range: &[Item] = if end >= start && start >= 0 {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    // One output per element, or one per GET per element.
    let mut out: Vec<Option<Vec<u8>>> = Vec::new();
    for it in range {
        if gets.is_empty() {
            out.push(Some(it.elem.clone()));
        }
        for g in &gets {
            out.push(lookup_pattern(db, now, g, &it.elem));
        }
    }
    match store {
        None => {
            ctx.out.array(out.len());
            for v in &out {
                match v {
                    Some(v) => ctx.out.bulk(v),
                    None => ctx.out.null(),
                }
            }
        }
        Some(dst) => {
            let mut shard = db.lock_key(dst);
            let existed = shard.remove(dst).is_some();
            if out.is_empty() && existed {
                ctx.changed(crate::engine::notify::GENERIC, "del", dst);
                ctx.dirty(1);
            }
            if !out.is_empty() {
                let mut v = Value::new_list();
                let l = v.list_mut().expect("a list");
                for x in &out {
                    l.push_back(x.as_deref().unwrap_or(b"").into());
                }
                shard.insert(dst, Entry::new(v));
                ctx.changed(crate::engine::notify::LIST, "sortstore", dst);
                ctx.dirty(out.len() as u64);
            }
            drop(shard);
            ctx.out.int(out.len() as i64);
        }
    }
    Ok(())
}

fn sort(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, argv, false)
}

fn sort_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, argv, true)
}
