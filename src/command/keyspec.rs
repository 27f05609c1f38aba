//! Key specifications in Redis 7's shape: where a command's keys sit among its arguments and
//! what the command does to each. `keys_of` is the one reader: COMMAND GETKEYS and
//! GETKEYSANDFLAGS, tracking, the pipeline prefetch (and, to come, ACL key patterns and
//! cluster slots) all ask it, so they cannot disagree.
//!
//! A spec finds its first key either at a fixed index or after a keyword, then takes a range
//! of keys (relative last key, step, or a share of what is left) or a count of keys read from
//! a `numkeys` argument. The few commands no spec can describe (SORT's STORE anywhere in its
//! options, SET's flags that depend on GET) also carry a function, used as Redis uses its
//! `getkeys_proc`: when the specs cannot answer for these arguments.

use smallvec::SmallVec;

// Key flags, as COMMAND INFO and GETKEYSANDFLAGS name them (in this order).
/// Read only.
pub const RO: u16 = 1 << 0;
/// Read and write.
pub const RW: u16 = 1 << 1;
/// Overwrite: the old value is not read.
pub const OW: u16 = 1 << 2;
/// Removes the key.
pub const RM: u16 = 1 << 3;
/// Returns, copies or uses the user data.
pub const ACCESS: u16 = 1 << 4;
/// Updates the value in place.
pub const UPDATE: u16 = 1 << 5;
/// Adds data to the value.
pub const INSERT: u16 = 1 << 6;
/// Removes data from the value.
pub const DELETE: u16 = 1 << 7;
/// A channel in the key's position (SPUBLISH), for cluster routing only.
pub const NOT_KEY: u16 = 1 << 8;
/// Some keys may be missed (its command has a function for the rest).
pub const INCOMPLETE: u16 = 1 << 9;
/// The flags depend on the arguments (its command has a function that tells).
pub const VARIABLE_FLAGS: u16 = 1 << 10;

pub const FLAG_NAMES: &[(u16, &str)] = &[
    (RO, "RO"),
    (RW, "RW"),
    (OW, "OW"),
    (RM, "RM"),
    (ACCESS, "access"),
    (UPDATE, "update"),
    (INSERT, "insert"),
    (DELETE, "delete"),
    (NOT_KEY, "not_key"),
    (INCOMPLETE, "incomplete"),
    (VARIABLE_FLAGS, "variable_flags"),
];

/// Where the search for a spec's keys starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// At this argument.
    Index(i32),
    /// After this keyword, searched from `from` (forwards) or from `argc + from` backwards.
    Keyword {
        word: &'static str,
        from: i32,
    },
    Unknown,
}

/// Which keys follow the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Find {
    /// Up to `last` past the start (negative: counted from the end), every `step`; with a
    /// `limit`, only the first 1/limit of what remains (XREAD's keys before their IDs).
    Range {
        last: i32,
        step: i32,
        limit: i32,
    },
    /// The argument `index` past the start holds the count; keys begin `first` past the start.
    Keynum {
        index: i32,
        first: i32,
        step: i32,
    },
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub flags: u16,
    pub begin: Begin,
    pub find: Find,
}

impl KeySpec {
    /// One key at argument `pos`.
    pub const fn at(pos: i32, flags: u16) -> KeySpec {
        KeySpec::range(pos, 0, 1, flags)
    }

    /// Every argument from `pos` to the end.
    pub const fn rest(pos: i32, flags: u16) -> KeySpec {
        KeySpec::range(pos, -1, 1, flags)
    }

    /// Keys from `pos` to `last` (relative to `pos`; negative: from the end), every `step`.
    pub const fn range(pos: i32, last: i32, step: i32, flags: u16) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Index(pos),
            find: Find::Range {
                last,
                step,
                limit: 0,
            },
        }
    }

    /// A `numkeys` argument at `pos`, its keys right after it.
    pub const fn numkeys(pos: i32, flags: u16) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Index(pos),
            find: Find::Keynum {
                index: 0,
                first: 1,
                step: 1,
            },
        }
    }

    /// One key after `word` (searched from argument `from`).
    pub const fn after(word: &'static str, from: i32, flags: u16) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Keyword { word, from },
            find: Find::Range {
                last: 0,
                step: 1,
                limit: 0,
            },
        }
    }

    /// XREAD's keys: after `STREAMS`, the first half of what remains.
    pub const fn streams(from: i32, flags: u16) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Keyword {
                word: "STREAMS",
                from,
            },
            find: Find::Range {
                last: -1,
                step: 1,
                limit: 2,
            },
        }
    }

    /// Keys no spec can locate (SORT's BY/GET patterns and its STORE).
    pub const fn unknown(flags: u16) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Unknown,
            find: Find::Unknown,
        }
    }
}

/// A key found in a request: its argument position and the flags of the spec that found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    pub pos: usize,
    pub flags: u16,
}

pub type Keys = SmallVec<[KeyRef; 8]>;

/// A command's own key finder, for arguments its specs cannot describe: fills `out` (it may
/// leave it empty: no keys, or arguments that do not parse).
pub type GetKeys = fn(argv: &[&[u8]], out: &mut Keys);

/// The keys of `argv` (the command name first) under `specs`, and `getkeys` for the commands
/// that have one, as Redis finds them: the specs first unless their flags vary, the function
/// when a spec fails (an out-of-range index, a bad `numkeys`, an unknown or incomplete spec).
/// Empty when the arguments name no key or do not parse.
pub fn keys_of(specs: &[KeySpec], getkeys: Option<GetKeys>, argv: &[&[u8]], out: &mut Keys) {
    out.clear();
    let variable = specs.first().is_some_and(|s| s.flags & VARIABLE_FLAGS != 0);
    if !specs.is_empty() && !variable && by_specs(specs, argv, out) {
        return;
    }
    out.clear();
    if let Some(f) = getkeys {
        f(argv, out);
        // (The functions assume the command's arity, which a caller may not have checked.)
        out.retain(|k| k.pos < argv.len());
    }
}

/// Redis's reading of key specs; false if a spec does not fit the arguments.
fn by_specs(specs: &[KeySpec], argv: &[&[u8]], out: &mut Keys) -> bool {
    let argc = argv.len() as i64;
    for spec in specs {
        if spec.flags & NOT_KEY != 0 {
            continue;
        }
        let first: i64 = match spec.begin {
            Begin::Index(i) => i as i64,
            Begin::Keyword { word, from } => {
                // The last argument is never searched forwards, nor the first backwards: no
                // key could follow the keyword there.
                let is_word = |i: &i64| argv[*i as usize].eq_ignore_ascii_case(word.as_bytes());
                let found = if from > 0 {
                    (from as i64..argc - 1).find(is_word)
                } else {
                    (2..=(argc + from as i64).min(argc - 1)).rev().find(is_word)
                };
                match found {
                    Some(i) => i + 1,
                    // No keyword: this spec names no key.
                    None => continue,
                }
            }
            Begin::Unknown => return false,
        };
        let (first, last, step) = match spec.find {
            Find::Range { last, step, limit } => {
                let last = last as i64;
                let end = if last >= 0 {
                    first + last
                } else if limit == 0 {
                    argc + last
                } else {
                    first + ((argc - first) / limit as i64 + last)
                };
                (first, end, step.max(1) as i64)
            }
            Find::Keynum {
                index,
                first: k1,
                step,
            } => {
                let Some(n) = argv
                    .get((first + index as i64) as usize)
                    .and_then(|a| super::args::strict_i64(a))
                    .filter(|n| *n >= 0)
                else {
                    return false;
                };
                let start = first + k1 as i64;
                (start, start + n - 1, step.max(1) as i64)
            }
            Find::Unknown => return false,
        };
        if last >= argc || last < first || first >= argc {
            return false;
        }
        let mut i = first;
        while i <= last {
            out.push(KeyRef {
                pos: i as usize,
                flags: spec.flags,
            });
            i += step;
        }
        if spec.flags & INCOMPLETE != 0 {
            return false;
        }
    }
    true
}

/// COMMAND INFO's legacy (first, last, step) triple and whether the keys are "movable" (not
/// all described by it), derived from the specs as Redis derives them.
pub fn legacy_range(specs: &[KeySpec]) -> ((i32, i32, i32), bool) {
    let plain = |s: &KeySpec| match (s.begin, s.find) {
        (Begin::Index(pos), Find::Range { last, step, .. }) => Some((pos, last, step)),
        _ => None,
    };
    if specs.is_empty() {
        return ((0, 0, 0), false);
    }
    if let [only] = specs {
        if let Some((pos, last, step)) = plain(only) {
            let abs = if last >= 0 { pos + last } else { last };
            return ((pos, abs, step), only.flags & INCOMPLETE != 0);
        }
    }
    let mut movable = false;
    let (mut first, mut lastkey, mut prev_last) = (i32::MAX, 0i32, 0i32);
    for s in specs {
        let Some((pos, last, step)) = plain(s) else {
            movable = true;
            continue;
        };
        if step != 1 || (prev_last != 0 && prev_last != pos - 1) {
            movable = true;
            continue;
        }
        if s.flags & INCOMPLETE != 0 {
            movable = true;
        }
        first = first.min(pos);
        let abs = if last >= 0 { last + pos } else { last };
        // Compared unsigned, so a count from the end (negative) wins, as in Redis.
        lastkey = (lastkey as u32).max(abs as u32) as i32;
        prev_last = lastkey;
    }
    if first == i32::MAX {
        return ((0, 0, 0), true);
    }
    ((first, lastkey, 1), movable)
}

/// Whether any spec names a real key (not a channel): Redis's "the command has keys".
pub fn has_keys(specs: &[KeySpec], getkeys: Option<GetKeys>) -> bool {
    getkeys.is_some() || specs.iter().any(|s| s.flags & NOT_KEY == 0)
}

// The functions for the commands whose keys specs cannot always locate.

/// `numkeys` at `count_at`, keys from `first`, and a destination at `store` (0: none), with
/// Redis's sanity check: no keys at all if the count does not fit the arguments.
fn counted(argv: &[&[u8]], store: usize, count_at: usize, first: usize, out: &mut Keys) {
    let n = argv.get(count_at).map_or(0, |a| atoi(a));
    if n < 1 || n > (argv.len().saturating_sub(first)) as i64 {
        return;
    }
    for i in 0..n as usize {
        out.push(KeyRef {
            pos: first + i,
            flags: 0,
        });
    }
    if store != 0 {
        out.push(KeyRef {
            pos: store,
            flags: 0,
        });
    }
}

/// C's `atoi`: leading digits, 0 if none.
fn atoi(a: &[u8]) -> i64 {
    let s = std::str::from_utf8(a).unwrap_or("").trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let v: i64 = digits[..end].parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// ZUNION, ZINTER, ZDIFF, ZINTERCARD, SINTERCARD, LMPOP, ZMPOP: `numkeys key...`.
pub fn numkeys_at_1(argv: &[&[u8]], out: &mut Keys) {
    counted(argv, 0, 1, 2, out);
}

/// BLMPOP, BZMPOP: `timeout numkeys key...`.
pub fn numkeys_at_2(argv: &[&[u8]], out: &mut Keys) {
    counted(argv, 0, 2, 3, out);
}

/// ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE: `destination numkeys key...`.
pub fn store_numkeys(argv: &[&[u8]], out: &mut Keys) {
    counted(argv, 1, 2, 3, out);
}

/// SORT: the sorted key, and the last STORE's destination (LIMIT, BY and GET skip their
/// arguments while searching).
pub fn sort(argv: &[&[u8]], out: &mut Keys) {
    out.push(KeyRef {
        pos: 1,
        flags: RO | ACCESS,
    });
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i];
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < argv.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    if let Some(pos) = store {
        out.push(KeyRef {
            pos,
            flags: OW | UPDATE,
        });
    }
}

/// SORT_RO: the sorted key.
pub fn sort_ro(_argv: &[&[u8]], out: &mut Keys) {
    out.push(KeyRef {
        pos: 1,
        flags: RO | ACCESS,
    });
}

/// SET: the key is read too when GET is among the options.
pub fn set(argv: &[&[u8]], out: &mut Keys) {
    let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
    out.push(KeyRef {
        pos: 1,
        flags: if get {
            RW | ACCESS | UPDATE
        } else {
            OW | UPDATE
        },
    });
}

/// BITFIELD: read only while its operations are all GETs.
pub fn bitfield(argv: &[&[u8]], out: &mut Keys) {
    let mut readonly = true;
    let mut i = 2;
    while i < argv.len() {
        let rest = argv.len() - i - 1;
        let a = argv[i];
        if a.eq_ignore_ascii_case(b"get") && rest >= 2 {
            i += 2;
        } else if (a.eq_ignore_ascii_case(b"set") || a.eq_ignore_ascii_case(b"incrby")) && rest >= 3
        {
            readonly = false;
            break;
        } else if a.eq_ignore_ascii_case(b"overflow") && rest >= 1 {
            i += 1;
        } else {
            // A syntax error: assume a write, the safe side.
            readonly = false;
            break;
        }
        i += 1;
    }
    out.push(KeyRef {
        pos: 1,
        flags: if readonly {
            RO | ACCESS
        } else {
            RW | ACCESS | UPDATE
        },
    });
}

/// GEORADIUS / GEORADIUSBYMEMBER: the source, and the last STORE or STOREDIST destination.
pub fn georadius(argv: &[&[u8]], out: &mut Keys) {
    out.push(KeyRef { pos: 1, flags: 0 });
    let mut stored = None;
    let mut i = 5;
    while i < argv.len() {
        let a = argv[i];
        if (a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist"))
            && i + 1 < argv.len()
        {
            stored = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    if let Some(pos) = stored {
        out.push(KeyRef { pos, flags: 0 });
    }
}

/// XREAD / XREADGROUP: the keys between STREAMS and their IDs, once the options parse.
pub fn xread(argv: &[&[u8]], out: &mut Keys) {
    let mut streams = None;
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i];
        if a.eq_ignore_ascii_case(b"block") || a.eq_ignore_ascii_case(b"count") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"group") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"noack") {
        } else if a.eq_ignore_ascii_case(b"streams") {
            streams = Some(i);
            break;
        } else {
            break;
        }
        i += 1;
    }
    let Some(s) = streams else { return };
    let n = argv.len() - s - 1;
    if n == 0 || n % 2 != 0 {
        return;
    }
    for pos in s + 1..s + 1 + n / 2 {
        out.push(KeyRef { pos, flags: 0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(specs: &[KeySpec], getkeys: Option<GetKeys>, line: &str) -> Vec<usize> {
        let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let mut out = Keys::new();
        keys_of(specs, getkeys, &argv, &mut out);
        out.iter().map(|k| k.pos).collect()
    }

    #[test]
    fn ranges_keywords_and_counts() {
        let mset = [KeySpec::range(1, -1, 2, OW | UPDATE)];
        assert_eq!(positions(&mset, None, "MSET a 1 b 2 c 3"), [1, 3, 5]);
        let blpop = [KeySpec::range(1, -2, 1, RW)];
        assert_eq!(positions(&blpop, None, "BLPOP a b 0"), [1, 2]);
        let zstore = [
            KeySpec::at(1, OW | UPDATE),
            KeySpec::numkeys(2, RO | ACCESS),
        ];
        let f = Some(store_numkeys as GetKeys);
        assert_eq!(
            positions(&zstore, f, "ZUNIONSTORE d 2 a b WEIGHTS 1 2"),
            [1, 3, 4]
        );
        // A count past the arguments: the specs fail and so does the function.
        assert!(positions(&zstore, f, "ZUNIONSTORE d 5 a b").is_empty());
        let xread = [KeySpec::streams(1, RO | ACCESS)];
        assert_eq!(
            positions(&xread, None, "XREAD COUNT 2 STREAMS s t 0 0"),
            [4, 5]
        );
        assert!(positions(&xread, None, "XREAD COUNT 2").is_empty());
        let geo = [
            KeySpec::at(1, RO | ACCESS),
            KeySpec::after("STORE", 6, OW | UPDATE),
            KeySpec::after("STOREDIST", 6, OW | UPDATE),
        ];
        assert_eq!(
            positions(&geo, None, "GEORADIUS g 0 0 1 km STORE d STOREDIST e"),
            [1, 7, 9]
        );
    }

    #[test]
    fn functions_cover_what_specs_cannot() {
        let specs = [
            KeySpec::at(1, RO | ACCESS),
            KeySpec::unknown(RO | ACCESS),
            KeySpec::unknown(OW | UPDATE),
        ];
        let f = Some(super::sort as GetKeys);
        assert_eq!(
            positions(&specs, f, "SORT k LIMIT 0 1 BY x STORE d"),
            [1, 8]
        );
        assert_eq!(positions(&specs, f, "SORT k GET store"), [1]);
        let set = [KeySpec::at(1, RW | ACCESS | UPDATE | VARIABLE_FLAGS)];
        let argv: Vec<&[u8]> = vec![b"SET", b"k", b"v", b"GET"];
        let mut out = Keys::new();
        keys_of(&set, Some(super::set), &argv, &mut out);
        assert_eq!(out[0].flags, RW | ACCESS | UPDATE);
        keys_of(&set, Some(super::set), &argv[..3], &mut out);
        assert_eq!(out[0].flags, OW | UPDATE);
    }

    #[test]
    fn legacy_triples_follow_redis() {
        assert_eq!(legacy_range(&[KeySpec::at(1, RO)]), ((1, 1, 1), false));
        assert_eq!(
            legacy_range(&[KeySpec::range(1, -1, 2, OW)]),
            ((1, -1, 2), false)
        );
        let bitop = [KeySpec::at(2, OW), KeySpec::rest(3, RO)];
        assert_eq!(legacy_range(&bitop), ((2, -1, 1), false));
        let zstore = [KeySpec::at(1, OW), KeySpec::numkeys(2, RO)];
        assert_eq!(legacy_range(&zstore), ((1, 1, 1), true));
        assert_eq!(legacy_range(&[KeySpec::numkeys(1, RO)]), ((0, 0, 0), true));
        let lcs = [KeySpec::range(1, 1, 1, RO)];
        assert_eq!(legacy_range(&lcs), ((1, 2, 1), false));
    }
}
