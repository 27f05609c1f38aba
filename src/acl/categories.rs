//! ACL categories: the `@name` groups ACL rules allow or deny commands by.
//!
//! A command's categories are its family's (`@string` for the string group, ...), those its
//! flags imply (`@write`, `@read`, `@admin` + `@dangerous`, `@pubsub`, `@fast` or `@slow`,
//! `@blocking`), and the few Redis adds by hand (`@dangerous` on KEYS and FLUSHALL, ...),
//! listed in `EXTRA` and `WITHOUT`. The differential test `acl_categories_match_redis` compares
//! every command's set with redis-server's COMMAND INFO.

use crate::command::table::{self, CommandSpec};

pub const KEYSPACE: u32 = 1 << 0;
pub const READ: u32 = 1 << 1;
pub const WRITE: u32 = 1 << 2;
pub const SET: u32 = 1 << 3;
pub const SORTEDSET: u32 = 1 << 4;
pub const LIST: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const STRING: u32 = 1 << 7;
pub const BITMAP: u32 = 1 << 8;
pub const HYPERLOGLOG: u32 = 1 << 9;
pub const GEO: u32 = 1 << 10;
pub const STREAM: u32 = 1 << 11;
pub const PUBSUB: u32 = 1 << 12;
pub const ADMIN: u32 = 1 << 13;
pub const FAST: u32 = 1 << 14;
pub const SLOW: u32 = 1 << 15;
pub const BLOCKING: u32 = 1 << 16;
pub const DANGEROUS: u32 = 1 << 17;
pub const CONNECTION: u32 = 1 << 18;
pub const TRANSACTION: u32 = 1 << 19;
pub const SCRIPTING: u32 = 1 << 20;

/// Every category, in the order ACL CAT and COMMAND INFO list them.
pub const NAMES: &[(u32, &str)] = &[
    (KEYSPACE, "keyspace"),
    (READ, "read"),
    (WRITE, "write"),
    (SET, "set"),
    (SORTEDSET, "sortedset"),
    (LIST, "list"),
    (HASH, "hash"),
    (STRING, "string"),
    (BITMAP, "bitmap"),
    (HYPERLOGLOG, "hyperloglog"),
    (GEO, "geo"),
    (STREAM, "stream"),
    (PUBSUB, "pubsub"),
    (ADMIN, "admin"),
    (FAST, "fast"),
    (SLOW, "slow"),
    (BLOCKING, "blocking"),
    (DANGEROUS, "dangerous"),
    (CONNECTION, "connection"),
    (TRANSACTION, "transaction"),
    (SCRIPTING, "scripting"),
];

/// The category named `name` (without the `@`, any case).
pub fn by_name(name: &[u8]) -> Option<u32> {
    NAMES
        .iter()
        .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(name))
        .map(|(f, _)| *f)
}

/// The `@name`s of a category set, in Redis's order.
pub fn names(cats: u32) -> impl Iterator<Item = &'static str> {
    NAMES
        .iter()
        .filter(move |(f, _)| cats & f != 0)
        .map(|(_, n)| *n)
}

/// The category a command group stands for.
fn of_group(group: &str) -> u32 {
    match group {
        "string" => STRING,
        "bitmap" => BITMAP,
        "list" => LIST,
        "hash" => HASH,
        "set" => SET,
        "sorted-set" => SORTEDSET,
        "generic" => KEYSPACE,
        "connection" => CONNECTION,
        "geo" => GEO,
        "stream" => STREAM,
        "hyperloglog" => HYPERLOGLOG,
        "pubsub" => PUBSUB,
        "transactions" => TRANSACTION,
        "scripting" => SCRIPTING,
        _ => 0,
    }
}

/// Categories Redis gives these commands beyond their group's and their flags'.
const EXTRA: &[(&str, u32)] = &[
    ("bitfield_ro", FAST),
    ("command", CONNECTION),
    ("command|count", CONNECTION),
    ("command|docs", CONNECTION),
    ("command|getkeys", CONNECTION),
    ("command|getkeysandflags", CONNECTION),
    ("command|help", CONNECTION),
    ("command|info", CONNECTION),
    ("command|list", CONNECTION),
    ("dbsize", KEYSPACE),
    ("flushall", DANGEROUS | KEYSPACE),
    ("flushdb", DANGEROUS | KEYSPACE),
    ("info", DANGEROUS),
    ("keys", DANGEROUS),
    ("lastsave", ADMIN | DANGEROUS),
    ("restore", DANGEROUS),
    ("role", ADMIN | DANGEROUS),
    ("sort", DANGEROUS | LIST | SET | SORTEDSET),
    ("sort_ro", DANGEROUS | LIST | SET | SORTEDSET),
    ("swapdb", DANGEROUS | KEYSPACE),
    ("wait", CONNECTION),
];

/// Categories Redis does not give these commands although their group or flags would.
const WITHOUT: &[(&str, u32)] = &[
    ("bitfield_ro", SLOW),
    ("sort", KEYSPACE),
    ("sort_ro", KEYSPACE),
    ("wait", KEYSPACE),
];

/// The categories of the command `fullname` (`config|get` for a subcommand).
pub fn of(fullname: &str, spec: &CommandSpec) -> u32 {
    // (Containers, CLIENT or OBJECT say, are only @slow: their subcommands have categories.)
    let mut c = if spec.subcommands.is_empty() {
        of_group(spec.group)
    } else {
        0
    };
    let f = spec.flags;
    if f & table::WRITE != 0 {
        c |= WRITE;
    }
    // (Scripts that only read are still not @read, as in Redis.)
    if f & table::READONLY != 0 && c & SCRIPTING == 0 {
        c |= READ;
    }
    if f & table::ADMIN != 0 {
        c |= ADMIN | DANGEROUS;
    }
    if f & table::PUBSUB != 0 {
        c |= PUBSUB;
    }
    if f & table::FAST != 0 {
        c |= FAST;
    }
    if f & table::BLOCKING != 0 {
        c |= BLOCKING;
    }
    if c & FAST == 0 {
        c |= SLOW;
    }
    if let Some((_, extra)) = EXTRA.iter().find(|(n, _)| *n == fullname) {
        c |= extra;
    }
    if let Some((_, without)) = WITHOUT.iter().find(|(n, _)| *n == fullname) {
        c &= !without;
    }
    c
}
