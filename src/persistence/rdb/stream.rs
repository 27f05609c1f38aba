//! Streams in RDB: nodes as listpacks (a master entry with the node's first ID and field
//! names, then one record per entry), the stream's counters, and its consumer groups with
//! their pending entries.

use super::listpack::{self, Item, Writer};
use super::{write_len, write_string, RdbError, Reader};
use crate::engine::stream::{Consumer, Fields, Group, Pending, Stream, StreamId};

/// Record flags inside a node.
const DELETED: i64 = 1;
const SAME_FIELDS: i64 = 2;

/// Value type bytes: 7.0 writes 19; 5.0–6.2 wrote 15; 7.2 writes 21 (consumers gain an
/// active time).
pub const LISTPACKS: u8 = 15;
pub const LISTPACKS_2: u8 = 19;
pub const LISTPACKS_3: u8 = 21;

fn raw_id(id: StreamId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.ms.to_be_bytes());
    k[8..].copy_from_slice(&id.seq.to_be_bytes());
    k
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

/// One node's listpack: the master entry, then each live entry.
fn node(entries: &[(&StreamId, &Fields)]) -> Vec<u8> {
    let (master, master_fields) = entries[0];
    let mut lp = Writer::default();
    lp.int(entries.len() as i64);
    lp.int(0);
    lp.int(master_fields.len() as i64);
    for (f, _) in master_fields {
        lp.str(f);
    }
    lp.int(0);
    for (id, fields) in entries {
        let same = fields.len() == master_fields.len()
            && fields.iter().zip(master_fields).all(|(a, b)| a.0 == b.0);
        lp.int(if same { SAME_FIELDS } else { 0 });
        lp.int(id.ms.wrapping_sub(master.ms) as i64);
        lp.int(id.seq.wrapping_sub(master.seq) as i64);
        if same {
            for (_, v) in fields.iter() {
                lp.str(v);
            }
        } else {
            lp.int(fields.len() as i64);
            for (f, v) in fields.iter() {
                lp.str(f);
                lp.str(v);
            }
        }
        let n = fields.len() as i64;
        lp.int(if same { n + 3 } else { 2 * n + 4 });
    }
    lp.finish()
}

/// Writes a stream in the 7.0 layout (type 19). Deleted entries are not kept, so every node
/// is written with its live entries only.
pub fn write(out: &mut Vec<u8>, s: &Stream) {
    let nodes: Vec<Vec<(&StreamId, &Fields)>> = s
        .node_ranges()
        .into_iter()
        .map(|r| s.entries.range(r).collect::<Vec<_>>())
        .filter(|n| !n.is_empty())
        .collect();
    write_len(out, nodes.len() as u64);
    for n in &nodes {
        write_string(out, &raw_id(*n[0].0));
        write_string(out, &node(n));
    }
    write_len(out, s.len() as u64);
    write_id(out, s.last_id);
    write_id(out, s.first_id());
    write_id(out, s.max_deleted);
    write_len(out, s.entries_added);
    write_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        write_string(out, name);
        write_id(out, g.last_id);
        write_len(out, g.entries_read.unwrap_or(u64::MAX));
        write_len(out, g.pel.len() as u64);
        for (id, p) in &g.pel {
            out.extend(raw_id(*id));
            out.extend(p.delivered_at.to_le_bytes());
            write_len(out, p.deliveries);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_string(out, cname);
            out.extend(c.seen.to_le_bytes());
            write_len(out, c.pending.len() as u64);
            for id in &c.pending {
                out.extend(raw_id(*id));
            }
        }
    }
}

type Res<T> = Result<T, RdbError>;
const BAD: RdbError = RdbError::BadFormat;

fn int(it: &mut impl Iterator<Item = Item>) -> Res<i64> {
    match it.next() {
        Some(Item::Int(n)) => Ok(n),
        Some(Item::Str(s)) => crate::engine::value::canonical_int(&s).ok_or(BAD),
        None => Err(BAD),
    }
}

fn bytes(it: &mut impl Iterator<Item = Item>) -> Res<crate::engine::Key> {
    Ok(it.next().ok_or(BAD)?.into_bytes()[..].into())
}

fn count(n: i64) -> Res<usize> {
    usize::try_from(n).map_err(|_| BAD)
}

fn read_raw_id(r: &mut Reader) -> Res<StreamId> {
    let b = r.bytes(16)?;
    Ok(StreamId::new(
        u64::from_be_bytes(b[..8].try_into().expect("8")),
        u64::from_be_bytes(b[8..].try_into().expect("8")),
    ))
}

fn read_id(r: &mut Reader) -> Res<StreamId> {
    Ok(StreamId::new(r.length()?, r.length()?))
}

fn ms_time(r: &mut Reader) -> Res<u64> {
    Ok(u64::from_le_bytes(r.bytes(8)?.try_into().expect("8")))
}

/// Reads one node into the stream.
fn read_node(s: &mut Stream, master: StreamId, lp: &[u8]) -> Res<()> {
    let mut it = listpack::listpack(lp).ok_or(BAD)?.into_iter().peekable();
    let live = count(int(&mut it)?)?;
    let deleted = count(int(&mut it)?)? as u64;
    let nfields = count(int(&mut it)?)?;
    let master_fields = (0..nfields)
        .map(|_| bytes(&mut it))
        .collect::<Res<Vec<_>>>()?;
    if int(&mut it)? != 0 {
        return Err(BAD);
    }
    let mut entries: Vec<(StreamId, Fields)> = Vec::with_capacity(live.min(4096));
    let mut prev: Option<StreamId> = s.entries.keys().next_back().copied();
    while it.peek().is_some() {
        let flags = int(&mut it)?;
        let id = StreamId::new(
            master.ms.wrapping_add(int(&mut it)? as u64),
            master.seq.wrapping_add(int(&mut it)? as u64),
        );
        let fields: Fields = if flags & SAME_FIELDS != 0 {
            master_fields
                .iter()
                .map(|f| Ok((f.clone(), bytes(&mut it)?)))
                .collect::<Res<_>>()?
        } else {
            let n = count(int(&mut it)?)?;
            (0..n)
                .map(|_| Ok((bytes(&mut it)?, bytes(&mut it)?)))
                .collect::<Res<_>>()?
        };
        int(&mut it)?; // the record's element count, for walking backwards
                       // IDs only go up, across nodes too.
        if prev.is_some_and(|p| id <= p) {
            return Err(BAD);
        }
        prev = Some(id);
        if flags & DELETED == 0 {
            entries.push((id, fields));
        }
    }
    if entries.len() != live {
        return Err(BAD);
    }
    s.load_node(master, entries, deleted);
    Ok(())
}

/// Reads a stream of type 15, 19 or 21.
pub fn read(t: u8, r: &mut Reader) -> Res<Stream> {
    let mut s = Stream::default();
    let nodes = r.length()?;
    for _ in 0..nodes {
        let key = r.string()?;
        if key.len() != 16 {
            return Err(BAD);
        }
        let master = read_raw_id(&mut Reader::new(&key))?;
        let lp = r.string()?;
        read_node(&mut s, master, &lp)?;
    }
    let length = r.length()?;
    s.last_id = read_id(r)?;
    if t >= LISTPACKS_2 {
        read_id(r)?; // the first ID, which the entries give
        s.max_deleted = read_id(r)?;
        s.entries_added = r.length()?;
    } else {
        s.entries_added = length;
    }
    if length != s.len() as u64 || s.entries.keys().next_back().is_some_and(|l| *l > s.last_id) {
        return Err(BAD);
    }
    let groups = r.length()?;
    for _ in 0..groups {
        let name: crate::engine::Key = r.string()?[..].into();
        let last_id = read_id(r)?;
        let entries_read = if t >= LISTPACKS_2 {
            Some(r.length()?).filter(|n| *n != u64::MAX)
        } else {
            s.entries_up_to(last_id)
        };
        let mut g = Group {
            last_id,
            entries_read,
            ..Default::default()
        };
        for _ in 0..r.length()? {
            let id = read_raw_id(r)?;
            let delivered_at = ms_time(r)?;
            let deliveries = r.length()?;
            let p = Pending {
                consumer: b""[..].into(),
                delivered_at,
                deliveries,
            };
            if g.pel.insert(id, p).is_some() {
                return Err(BAD);
            }
        }
        for _ in 0..r.length()? {
            let cname: crate::engine::Key = r.string()?[..].into();
            let seen = ms_time(r)?;
            if t >= LISTPACKS_3 {
                ms_time(r)?; // 7.2's active time
            }
            let mut c = Consumer {
                seen,
                ..Default::default()
            };
            for _ in 0..r.length()? {
                let id = read_raw_id(r)?;
                let p = g.pel.get_mut(&id).ok_or(BAD)?;
                if !p.consumer.is_empty() {
                    return Err(BAD);
                }
                p.consumer = cname.clone();
                c.pending.insert(id);
            }
            if g.consumers.insert(cname, c).is_some() {
                return Err(BAD);
            }
        }
        // Every pending entry belongs to a consumer.
        if g.pel.values().any(|p| p.consumer.is_empty()) {
            return Err(BAD);
        }
        if s.groups.insert(name, g).is_some() {
            return Err(BAD);
        }
    }
    Ok(s)
}
