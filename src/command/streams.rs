//! Stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XREAD (with BLOCK) and XSETID.
//! Consumer groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM) and XINFO are not
//! here yet.

use super::args::{self, is};
use super::keyspec::{self as ks, KeySpec as K, ACCESS, DELETE, RO, RW, UPDATE};
use super::table::{CommandSpec as C, BLOCKING, DENYOOM, FAST, READONLY, WRITE};
use super::{collection_read, CmdError, CmdResult, Ctx, SYNTAX};
use crate::engine::notify as ev;
use crate::engine::stream::{Fields, Stream, StreamId};
use crate::engine::{Entry, Value};
use crate::protocol::Reply;

#[rustfmt::skip]
pub static COMMANDS: &[C] = &[
    C::new("xadd", -5, WRITE | DENYOOM | FAST, xadd).keys(&[K::at(1, RW | UPDATE)])
        .doc("stream", "5.0.0", "key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id> field value [field value ...]", "Appends a new message to a stream. Creates the key if it doesn't exist."),
    C::new("xlen", 2, READONLY | FAST, xlen).keys(&[K::at(1, RO)])
        .doc("stream", "5.0.0", "key", "Return the number of messages in a stream."),
    C::new("xrange", -4, READONLY, xrange).keys(&[K::at(1, RO | ACCESS)])
        .doc("stream", "5.0.0", "key start end [COUNT count]", "Returns the messages from a stream within a range of IDs."),
    C::new("xrevrange", -4, READONLY, xrevrange).keys(&[K::at(1, RO | ACCESS)])
        .doc("stream", "5.0.0", "key end start [COUNT count]", "Returns the messages from a stream within a range of IDs in reverse order."),
    C::new("xdel", -3, WRITE | FAST, xdel).keys(&[K::at(1, RW | DELETE)])
        .doc("stream", "5.0.0", "key id [id ...]", "Returns the number of messages after removing them from a stream."),
    C::new("xtrim", -4, WRITE, xtrim).keys(&[K::at(1, RW | DELETE)])
        .doc("stream", "5.0.0", "key <MAXLEN | MINID> [= | ~] threshold [LIMIT count]", "Deletes messages from the beginning of a stream."),
    C::new("xread", -4, READONLY | BLOCKING, xread).keys(&[K::streams(1, RO | ACCESS)]).getkeys(ks::xread)
        .doc("stream", "5.0.0", "[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise."),
    C::container("xinfo", XINFO)
        .doc("stream", "5.0.0", "", "A container for stream introspection commands."),
    C::new("xsetid", -3, WRITE | DENYOOM | FAST, xsetid).keys(&[K::at(1, RW | UPDATE)])
        .doc("stream", "5.0.0", "key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]", "An internal command for replicating stream values."),
];

#[rustfmt::skip]
static XINFO: &[C] = &[
    C::new("stream", -3, READONLY, xinfo_stream).keys(&[K::at(2, RO | ACCESS)])
        .doc("stream", "5.0.0", "key [FULL [COUNT count]]", "Returns information about a stream."),
    C::new("groups", 3, READONLY, xinfo_groups).keys(&[K::at(2, RO | ACCESS)])
        .doc("stream", "5.0.0", "key", "Returns a list of the consumer groups of a stream."),
    C::new("consumers", 4, READONLY, xinfo_consumers).keys(&[K::at(2, RO | ACCESS)])
        .doc("stream", "5.0.0", "key group", "Returns a list of the consumers in a consumer group."),
];

const INVALID_ID: CmdError =
    CmdError::new("ERR Invalid stream ID specified as stream command argument");
/// Entries per radix-tree node (`stream-node-max-entries`): `~` trims whole nodes.
fn node_entries(ctx: &Ctx) -> u64 {
    ctx.config().stream_node_max_entries.u()
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    (!s.is_empty() && s.len() <= 20 && s.iter().all(u8::is_ascii_digit))
        .then(|| std::str::from_utf8(s).ok()?.parse().ok())
        .flatten()
}

/// Parses an ID: `-`/`+` unless `strict`, `ms` (with `missing_seq`), `ms-seq`, and with
/// `allow_auto_seq` `ms-*` (returned as None for the sequence).
pub fn parse_id(a: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, CmdError> {
    if a.len() > 127 {
        return Err(INVALID_ID);
    }
    match a {
        b"-" if !strict => return Ok(StreamId::MIN),
        b"+" if !strict => return Ok(StreamId::MAX),
        _ => {}
    }
    let (ms, seq) = match a.iter().position(|&b| b == b'-') {
        Some(i) => (&a[..i], Some(&a[i + 1..])),
        None => (a, None),
    };
    let ms = parse_u64(ms).ok_or(INVALID_ID)?;
    let seq = match seq {
        Some(s) => parse_u64(s).ok_or(INVALID_ID)?,
        None => missing_seq,
    };
    Ok(StreamId::new(ms, seq))
}

/// The start of an interval (XRANGE, XPENDING, XAUTOCLAIM): `-`, an ID, or `(ID` for the
/// one after it.
pub fn interval_start(a: &[u8]) -> Result<StreamId, CmdError> {
    let (start, exclusive) = interval_id(a, 0)?;
    if !exclusive {
        return Ok(start);
    }
    start
        .next()
        .ok_or(CmdError::new("ERR invalid start ID for the interval"))
}

/// An interval end for XRANGE: `(` excludes the ID.
fn interval_id(a: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if a.len() > 1 && a[0] == b'(' {
        Ok((parse_id(&a[1..], missing_seq, true)?, true))
    } else {
        Ok((parse_id(a, missing_seq, false)?, false))
    }
}

/// Writes entries as `[[id, [field, value, ...]], ...]`.
pub fn reply_entries<'a>(
    out: &mut Reply,
    entries: impl ExactSizeIterator<Item = (&'a StreamId, &'a Fields)>,
) {
    out.array(entries.len());
    for (id, fields) in entries {
        reply_entry(out, id, fields);
    }
}

/// One entry: `[id, [field, value, ...]]`.
pub fn reply_entry(out: &mut Reply, id: &StreamId, fields: &Fields) {
    out.array(2);
    out.bulk(&id.to_bytes());
    out.array(fields.len() * 2);
    for (f, v) in fields {
        out.bulk(f);
        out.bulk(v);
    }
}

/// Entries after `after`, at most `count` (0: all).
pub fn entries_after(s: &Stream, after: StreamId, count: usize) -> Vec<(&StreamId, &Fields)> {
    let Some(start) = after.next() else {
        return Vec::new();
    };
    let it = s.entries.range(start..);
    if count > 0 {
        it.take(count).collect()
    } else {
        it.collect()
    }
}

struct Trim {
    maxlen: Option<u64>,
    minid: Option<StreamId>,
    approx: bool,
    limit: Option<u64>,
}

/// Parses trimming options (and for XADD, NOMKSTREAM and the ID) from `argv[2..]`. Returns the
/// trim, NOMKSTREAM, and the position of the ID (XADD).
fn parse_trim(argv: &[&[u8]], xadd: bool) -> Result<(Trim, bool, usize), CmdError> {
    let mut t = Trim {
        maxlen: None,
        minid: None,
        approx: false,
        limit: None,
    };
    let mut nomk = false;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let a = argv[i];
        if xadd && a == b"*" {
            break;
        } else if (is(a, "MAXLEN") || is(a, "MINID")) && more > 0 {
            if t.maxlen.is_some() || t.minid.is_some() {
                return Err(CmdError::new("ERR syntax error, MAXLEN and MINID options at the same time are not compatible"));
            }
            let maxlen = is(a, "MAXLEN");
            t.approx = false;
            if more >= 2 && (argv[i + 1] == b"~" || argv[i + 1] == b"=") {
                t.approx = argv[i + 1] == b"~";
                i += 1;
            }
            if maxlen {
                let n = args::int(argv[i + 1])?;
                if n < 0 {
                    return Err(CmdError::new("ERR The MAXLEN argument must be >= 0."));
                }
                t.maxlen = Some(n as u64);
            } else {
                t.minid = Some(parse_id(argv[i + 1], 0, true)?);
            }
            i += 1;
        } else if is(a, "LIMIT") && more > 0 {
            let n = args::int(argv[i + 1])?;
            if n < 0 {
                return Err(CmdError::new("ERR The LIMIT argument must be >= 0."));
            }
            t.limit = Some(n as u64);
            i += 1;
        } else if xadd && is(a, "NOMKSTREAM") {
            nomk = true;
        } else if xadd {
            break;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    let strategy = t.maxlen.is_some() || t.minid.is_some();
    if t.limit.is_some_and(|l| l > 0) && !strategy {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && !strategy {
        return Err(CmdError::new(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if t.limit.is_some() && !t.approx {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT cannot be used without the special ~ option",
        ));
    }
    Ok((t, nomk, i))
}

fn apply_trim(s: &mut Stream, t: &Trim, node: u64) -> u64 {
    // With `~` and no LIMIT, Redis caps the work at 100 nodes' worth of entries.
    let limit = match (t.approx, t.limit) {
        (true, Some(l)) => l,
        (true, None) if node == 0 || node * 100 > 1_000_000 => 10_000,
        (true, None) => node * 100,
        (false, _) => 0,
    };
    s.trim(t.maxlen, t.minid, t.approx, limit)
}

fn xadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (trim, nomk, idpos) = parse_trim(argv, true)?;
    let fields = argv.len().saturating_sub(idpos + 1);
    if fields == 0 || fields % 2 != 0 {
        return Err(CmdError::new(
            "ERR wrong number of arguments for 'xadd' command",
        ));
    }
    // The ID: `*`, `ms-*` (automatic sequence) or explicit.
    let idarg = argv[idpos];
    let explicit: Option<(u64, Option<u64>)> = if idarg == b"*" {
        None
    } else if let Some(ms) = idarg.strip_suffix(b"-*") {
        Some((parse_u64(ms).ok_or(INVALID_ID)?, None))
    } else {
        let id = parse_id(idarg, 0, true)?;
        Some((id.ms, Some(id.seq)))
    };
    if explicit == Some((0, Some(0))) {
        return Err(CmdError::new(
            "ERR The ID specified in XADD must be greater than 0-0",
        ));
    }
    let node = node_entries(ctx);
    let mut shard = ctx.db().lock_key(argv[1]);
    let exists = match shard.get_mut(argv[1], ctx.now) {
        Some(e) => {
            e.value.stream_mut().ok_or(super::WRONGTYPE)?;
            true
        }
        None => false,
    };
    if !exists {
        if nomk {
            ctx.out.null();
            return Ok(());
        }
        shard.insert(argv[1], Entry::new(Value::new_stream()));
    }
    let s = shard
        .get_mut(argv[1], ctx.now)
        .and_then(|e| e.value.stream_mut())
        .expect("a stream");
    let id = match explicit {
        None => s.auto_id(ctx.now),
        Some((ms, None)) => {
            if ms > s.last_id.ms {
                Some(StreamId::new(ms, 0))
            } else if ms == s.last_id.ms {
                s.last_id.next().filter(|n| n.ms == ms)
            } else {
                None
            }
        }
        Some((ms, Some(seq))) => Some(StreamId::new(ms, seq)),
    };
    let err = match id {
        None if explicit.is_none() => {
            Some("ERR The stream has exhausted the last possible ID, unable to add more items")
        }
        None => {
            Some("ERR The ID specified in XADD is equal or smaller than the target stream top item")
        }
        Some(id) if id <= s.last_id => {
            Some("ERR The ID specified in XADD is equal or smaller than the target stream top item")
        }
        _ => None,
    };
    if let Some(e) = err {
        if !exists {
            shard.remove(argv[1]);
        }
        return Err(CmdError::new(e));
    }
    let id = id.expect("checked above");
    let f: Fields = argv[idpos + 1..]
        .chunks(2)
        .map(|p| (p[0].into(), p[1].into()))
        .collect();
    s.add(id, f, node);
    ctx.changed(ev::STREAM, "xadd", argv[1]);
    ctx.dirty(1);
    let trimming = trim.maxlen.is_some() || trim.minid.is_some();
    if apply_trim(s, &trim, node) > 0 {
        ctx.event(ev::STREAM, "xtrim", argv[1]);
    }
    let id = id.to_bytes();
    // Replays as the ID it got and the exact length it trimmed to.
    if ctx.journaling() && (explicit.is_none_or(|(_, seq)| seq.is_none()) || trimming) {
        let len = itoa::Buffer::new().format(s.len()).as_bytes().to_vec();
        let mut args: Vec<&[u8]> = vec![b"XADD", argv[1]];
        if nomk {
            args.push(b"NOMKSTREAM");
        }
        if trimming {
            args.extend([&b"MAXLEN"[..], b"=", &len]);
        }
        args.push(&id);
        args.extend(&argv[idpos + 1..]);
        ctx.record(&args);
    }
    ctx.out.bulk(&id);
    Ok(())
}

fn xlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::stream_ref)?
        .map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// An inclusive ID interval from XRANGE-style `start end` arguments (`-`, `+`, `(` exclusive).
pub fn interval(sa: &[u8], ea: &[u8]) -> Result<(StreamId, StreamId), CmdError> {
    let start = interval_start(sa)?;
    let (mut end, ex) = interval_id(ea, u64::MAX)?;
    if ex {
        end = end
            .prev()
            .ok_or(CmdError::new("ERR invalid end ID for the interval"))?;
    }
    Ok((start, end))
}

fn range(ctx: &mut Ctx, argv: &[&[u8]], rev: bool) -> CmdResult {
    let (sa, ea) = if rev {
        (argv[3], argv[2])
    } else {
        (argv[2], argv[3])
    };
    let (start, end) = interval(sa, ea)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if is(argv[j], "COUNT") && j + 1 < argv.len() {
            count = args::int(argv[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    let mut shard = ctx.db().lock_key(argv[1]);
    let Some(s) = collection_read(&mut shard, argv[1], ctx.now, ctx.touch(), Value::stream_ref)?
    else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == 0 {
        ctx.out.null_array();
        return Ok(());
    }
    if start > end {
        ctx.out.array(0);
        return Ok(());
    }
    let take = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    let items: Vec<_> = if rev {
        s.entries.range(start..=end).rev().take(take).collect()
    } else {
        s.entries.range(start..=end).take(take).collect()
    };
    reply_entries(ctx.out, items.into_iter());
    Ok(())
}

fn xrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range(ctx, argv, false)
}

fn xrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range(ctx, argv, true)
}

fn xdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Every ID is validated before anything is deleted.
    let ids = argv[2..]
        .iter()
        .map(|a| parse_id(a, 0, true))
        .collect::<Result<Vec<_>, _>>()?;
    let mut shard = ctx.db().lock_key(argv[1]);
    let n = match shard.get_mut(argv[1], ctx.now) {
        Some(e) => {
            let s = e.value.stream_mut().ok_or(super::WRONGTYPE)?;
            ids.iter().filter(|id| s.delete(**id)).count()
        }
        None => 0,
    };
    if n > 0 {
        ctx.changed(ev::STREAM, "xdel", argv[1]);
        ctx.dirty(n as u64);
    }
    ctx.out.int(n as i64);
    Ok(())
}

fn xtrim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (trim, _, end) = parse_trim(argv, false)?;
    if end < argv.len() {
        return Err(SYNTAX);
    }
    let node = node_entries(ctx);
    let mut shard = ctx.db().lock_key(argv[1]);
    let (n, len) = match shard.get_mut(argv[1], ctx.now) {
        Some(e) => {
            let s = e.value.stream_mut().ok_or(super::WRONGTYPE)?;
            (apply_trim(s, &trim, node), s.len())
        }
        None => (0, 0),
    };
    if n > 0 {
        ctx.event(ev::STREAM, "xtrim", argv[1]);
        ctx.touched(argv[1]);
        ctx.dirty(n);
        // An approximate trim replays as the exact length it left.
        if trim.approx && ctx.journaling() {
            let len = itoa::Buffer::new().format(len).as_bytes().to_vec();
            ctx.record(&[b"XTRIM", argv[1], b"MAXLEN", b"=", &len]);
        }
    }
    ctx.out.int(n as i64);
    Ok(())
}

/// The header of an XREAD/XREADGROUP reply of `n` streams (a map in RESP3).
pub fn read_reply_len(out: &mut Reply, n: usize) {
    if out.resp3 {
        out.map(n);
    } else {
        out.array(n);
    }
}

/// The key of one stream of an XREAD/XREADGROUP reply (its entries follow).
pub fn stream_head(out: &mut Reply, key: &[u8]) {
    if !out.resp3 {
        out.array(2);
    }
    out.bulk(key);
}

/// Writes one `key => entries` element of an XREAD reply.
pub fn reply_stream_read<'a>(
    out: &mut Reply,
    key: &[u8],
    entries: impl ExactSizeIterator<Item = (&'a StreamId, &'a Fields)>,
) {
    stream_head(out, key);
    reply_entries(out, entries);
}

/// Ends an XREAD/XREADGROUP: writes the streams found (`found` of them, encoded in `reply`),
/// or the null reply; returns the timeout when the client must block instead.
pub fn finish_read(
    ctx: &mut Ctx,
    found: usize,
    reply: &Reply,
    block: Option<u64>,
) -> Option<Option<std::time::Duration>> {
    if found > 0 {
        read_reply_len(ctx.out, found);
        ctx.out.raw(&reply.buf);
        return None;
    }
    match block {
        None => {
            ctx.out.null_array();
            None
        }
        Some(ms) => Some((ms > 0).then(|| std::time::Duration::from_millis(ms))),
    }
}

/// The options of XREAD and XREADGROUP.
pub struct ReadArgs<'a> {
    pub count: usize,
    pub block: Option<u64>,
    pub noack: bool,
    pub group: Option<(&'a [u8], &'a [u8])>,
    /// Where the keys start (after STREAMS).
    pub streams_at: usize,
}

/// Parses XREAD/XREADGROUP options as Redis's shared parser does (GROUP and NOACK only for
/// XREADGROUP).
pub fn parse_read<'a>(
    argv: &[&'a [u8]],
    xreadgroup: bool,
    in_script: bool,
) -> Result<ReadArgs<'a>, CmdError> {
    let mut r = ReadArgs {
        count: 0,
        block: None,
        noack: false,
        group: None,
        streams_at: 0,
    };
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let a = argv[i];
        if is(a, "BLOCK") && more > 0 {
            if in_script {
                return Err(CmdError::owned(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(argv[0])
                )));
            }
            let ms = args::strict_i64(argv[i + 1]).ok_or(CmdError::new(
                "ERR timeout is not an integer or out of range",
            ))?;
            if ms < 0 {
                return Err(CmdError::new("ERR timeout is negative"));
            }
            r.block = Some(ms as u64);
            i += 2;
        } else if is(a, "COUNT") && more > 0 {
            r.count = args::int(argv[i + 1])?.max(0) as usize;
            i += 2;
        } else if is(a, "STREAMS") && more > 0 {
            r.streams_at = i + 1;
            if (argv.len() - r.streams_at) % 2 != 0 {
                return Err(CmdError::new("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            break;
        } else if is(a, "GROUP") && more >= 2 {
            if !xreadgroup {
                return Err(CmdError::new("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            r.group = Some((argv[i + 1], argv[i + 2]));
            i += 3;
        } else if is(a, "NOACK") {
            if !xreadgroup {
                return Err(CmdError::new("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            r.noack = true;
            i += 1;
        } else {
            return Err(SYNTAX);
        }
    }
    if r.streams_at == 0 {
        return Err(SYNTAX);
    }
    Ok(r)
}

fn xread(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let ReadArgs {
        count,
        block,
        streams_at,
        ..
    } = parse_read(argv, false, ctx.client.in_script)?;
    let n = (argv.len() - streams_at) / 2;
    let keys = &argv[streams_at..streams_at + n];
    let mut ids = Vec::with_capacity(n);
    for (k, a) in keys.iter().zip(&argv[streams_at + n..]) {
        let id = if *a == b"$" {
            let mut shard = ctx.db().lock_key(k);
            match shard.get_mut(k, ctx.now) {
                Some(e) => e.value.stream_mut().ok_or(super::WRONGTYPE)?.last_id,
                None => StreamId::MIN,
            }
        } else if *a == b">" {
            return Err(CmdError::new("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
        } else {
            parse_id(a, 0, true)?
        };
        ids.push(id);
    }
    // Answer with every stream that has entries past its ID.
    let mut reply = Reply::new();
    reply.resp3 = ctx.out.resp3;
    let mut found = 0;
    for (k, id) in keys.iter().zip(&ids) {
        let mut shard = ctx.db().lock_key(k);
        let Some(s) = collection_read(&mut shard, k, ctx.now, ctx.touch(), Value::stream_ref)?
        else {
            continue;
        };
        let entries = entries_after(s, *id, count);
        if !entries.is_empty() {
            found += 1;
            reply_stream_read(&mut reply, k, entries.into_iter());
        }
    }
    match finish_read(ctx, found, &reply, block) {
        None => Ok(()),
        Some(timeout) => {
            let waits: Vec<(crate::engine::Key, StreamId)> = keys
                .iter()
                .zip(&ids)
                .map(|(k, id)| ((*k).into(), *id))
                .collect();
            super::blocking::block_on(
                ctx,
                keys,
                crate::clients::blocking::BlockOp::XRead {
                    after: waits,
                    count,
                },
                timeout,
            )
        }
    }
}

fn xsetid(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let id = parse_id(argv[2], 0, true)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted: Option<StreamId> = None;
    let mut i = 3;
    while i < argv.len() {
        if is(argv[i], "ENTRIESADDED") && i + 1 < argv.len() {
            let n = args::int(argv[i + 1])?;
            if n < 0 {
                return Err(CmdError::new("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if is(argv[i], "MAXDELETEDID") && i + 1 < argv.len() {
            let m = parse_id(argv[i + 1], 0, true)?;
            if id < m {
                return Err(CmdError::new("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
            }
            max_deleted = Some(m);
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    let mut shard = ctx.db().lock_key(argv[1]);
    let e = shard.get_mut(argv[1], ctx.now).ok_or(super::NO_KEY)?;
    let s = e.value.stream_mut().ok_or(super::WRONGTYPE)?;
    if let Some((top, _)) = s.entries.iter().next_back() {
        if id < *top {
            return Err(CmdError::new(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| (s.len() as u64) > n) {
            return Err(CmdError::new("ERR The entries_added specified in XSETID is smaller than the target stream length"));
        }
    }
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if let Some(m) = max_deleted {
        s.max_deleted = m;
    }
    // Group and ID changes are events and changes, but not "modified keys" (no WATCH touch),
    // as in Redis.
    ctx.event(ev::STREAM, "xsetid", argv[1]);
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

fn xinfo_stream(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let opts = &argv[3..];
    let full = !opts.is_empty();
    let mut count = 10i64;
    let syntax = || {
        CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
            String::from_utf8_lossy(argv[1])
        ))
    };
    if full {
        if !(opts.len() == 1 || opts.len() == 3) || !is(opts[0], "FULL") {
            return Err(syntax());
        }
        if opts.len() == 3 {
            if !is(opts[1], "COUNT") {
                return Err(syntax());
            }
            count = args::int(opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let mut shard = ctx.db().lock_key(argv[2]);
    let s = collection_read(&mut shard, argv[2], ctx.now, ctx.touch(), Value::stream_ref)?
        .ok_or(super::NO_KEY)?;
    let out = &mut *ctx.out;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    // Redis's internal radix-tree node count is not modelled; keys + 1 (the root) is its floor.
    out.bulk(b"radix-tree-nodes");
    out.int(s.node_count() as i64 + 1);
    out.bulk(b"last-generated-id");
    out.bulk(&s.last_id.to_bytes());
    out.bulk(b"max-deleted-entry-id");
    out.bulk(&s.max_deleted.to_bytes());
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    out.bulk(&s.first_id().to_bytes());
    let entry = |out: &mut Reply, e: Option<(&StreamId, &Fields)>| match e {
        Some((id, fields)) => reply_entry(out, id, fields),
        None => out.null(),
    };
    if full {
        out.bulk(b"entries");
        let take = if count == 0 {
            usize::MAX
        } else {
            count as usize
        };
        let items: Vec<_> = s.entries.iter().take(take).collect();
        reply_entries(out, items.into_iter());
        out.bulk(b"groups");
        full_groups(out, s, take);
    } else {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        out.bulk(b"first-entry");
        entry(out, s.entries.iter().next());
        out.bulk(b"last-entry");
        entry(out, s.entries.iter().next_back());
    }
    Ok(())
}

/// A group's `entries-read` and `lag` fields (XINFO GROUPS, XINFO STREAM FULL).
fn reply_read_counts(out: &mut Reply, s: &Stream, g: &crate::engine::stream::Group) {
    out.bulk(b"entries-read");
    out.opt_int(g.entries_read);
    out.bulk(b"lag");
    out.opt_int(s.lag(g));
}

/// The `groups` section of XINFO STREAM FULL; `take` bounds each pending list.
fn full_groups(out: &mut Reply, s: &Stream, take: usize) {
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        out.bulk(&g.last_id.to_bytes());
        reply_read_counts(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        out.array(g.pel.len().min(take));
        for (id, p) in g.pel.iter().take(take) {
            out.array(4);
            out.bulk(&id.to_bytes());
            out.bulk(&p.consumer);
            out.int(p.delivered_at as i64);
            out.int(p.deliveries as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen as i64);
            out.bulk(b"pel-count");
            out.int(c.pending.len() as i64);
            out.bulk(b"pending");
            out.array(c.pending.len().min(take));
            for id in c.pending.iter().take(take) {
                let p = &g.pel[id];
                out.array(3);
                out.bulk(&id.to_bytes());
                out.int(p.delivered_at as i64);
                out.int(p.deliveries as i64);
            }
        }
    }
}

fn xinfo_groups(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut shard = ctx.db().lock_key(argv[2]);
    let s = collection_read(&mut shard, argv[2], ctx.now, ctx.touch(), Value::stream_ref)?
        .ok_or(super::NO_KEY)?;
    let out = &mut *ctx.out;
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        out.bulk(&g.last_id.to_bytes());
        reply_read_counts(out, s, g);
    }
    Ok(())
}

fn xinfo_consumers(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let mut shard = ctx.db().lock_key(argv[2]);
    let s = collection_read(&mut shard, argv[2], now, ctx.touch(), Value::stream_ref)?
        .ok_or(super::NO_KEY)?;
    let g = s
        .groups
        .get(argv[3])
        .ok_or_else(|| super::stream_groups::nogroup(argv[2], argv[3]))?;
    let out = &mut *ctx.out;
    out.array(g.consumers.len());
    for (name, c) in &g.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.int(c.pending.len() as i64);
        out.bulk(b"idle");
        out.int(now.saturating_sub(c.seen) as i64);
    }
    Ok(())
}
