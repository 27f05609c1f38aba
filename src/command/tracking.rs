//! Client-side caching: CLIENT TRACKING, CACHING, TRACKINGINFO, GETREDIR, and the invalidation
//! messages.
//!
//! Default mode remembers which clients read which keys (the keys of read-only commands) and
//! tells them, once, when a key changes; BCAST mode tells a client of every change to keys
//! under its prefixes. A message goes to the client itself (a RESP3 push) or to its REDIRECT
//! target (a push, or a `__redis__:invalidate` pub/sub message for a RESP2 subscriber). As in
//! Redis, keys are tracked by name across databases. With no tracking client, a write costs one
//! relaxed load here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{args, CmdError, CmdResult, Ctx};
use crate::protocol::Reply;
use crate::server::client::ClientHandle;
use crate::server::Server;

/// A client's tracking settings (CLIENT TRACKING ON ...).
#[derive(Clone, Debug, Default)]
pub struct Mode {
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// 0 = the client itself.
    pub redirect: u64,
    pub prefixes: Vec<Vec<u8>>,
}

struct Tracker {
    handle: Arc<ClientHandle>,
    mode: Mode,
}

#[derive(Default)]
struct Inner {
    trackers: HashMap<u64, Tracker>,
    /// Default mode: key → ids of the clients that read it since it last changed.
    keys: HashMap<Vec<u8>, Vec<u64>>,
    /// BCAST messages being gathered: (client id, prefix, keys changed under it). They go out
    /// together when the command ends (`flush`), one message per prefix, as Redis sends them
    /// once per event-loop round.
    pending: Vec<(u64, Vec<u8>, Vec<Vec<u8>>)>,
}

#[derive(Default)]
pub struct Tracking {
    inner: Mutex<Inner>,
    count: AtomicUsize,
}

impl Tracking {
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    fn set(&self, handle: &Arc<ClientHandle>, mode: Option<Mode>) {
        let mut inner = self.inner.lock();
        match mode {
            Some(mode) => {
                let handle = handle.clone();
                if inner
                    .trackers
                    .insert(handle.id, Tracker { handle, mode })
                    .is_none()
                {
                    crate::engine::effects::interested(1);
                }
            }
            None => {
                if inner.trackers.remove(&handle.id).is_some() {
                    crate::engine::effects::uninterested(1);
                }
            }
        }
        self.update_count(&inner);
    }

    fn update_count(&self, inner: &Inner) {
        self.count.store(inner.trackers.len(), Ordering::Relaxed);
    }

    /// The client is gone.
    pub fn remove(&self, id: u64) {
        let mut inner = self.inner.lock();
        if inner.trackers.remove(&id).is_some() {
            crate::engine::effects::uninterested(1);
            self.update_count(&inner);
        }
    }

    /// (tracking clients, tracked keys, tracked (key, client) items, BCAST prefixes).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let inner = self.inner.lock();
        let items = inner.keys.values().map(Vec::len).sum();
        let mut prefixes: Vec<&Vec<u8>> = inner
            .trackers
            .values()
            .flat_map(|t| t.mode.prefixes.iter())
            .collect();
        prefixes.sort();
        prefixes.dedup();
        (
            inner.trackers.len(),
            inner.keys.len(),
            items,
            prefixes.len(),
        )
    }

    /// Records that client `id` read `keys`; returns how many keys the table holds now.
    fn remember(&self, id: u64, keys: &[&[u8]]) -> usize {
        let mut inner = self.inner.lock();
        for k in keys {
            let ids = inner.keys.entry(k.to_vec()).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        inner.keys.len()
    }
}

/// After a read-only command: remembers its keys for a default-mode tracking client.
pub fn after_read(ctx: &mut Ctx, spec: &super::table::CommandSpec, argv: &[&[u8]]) {
    let Some(mode) = &ctx.client.tracking else {
        return;
    };
    let caching = ctx.client.caching.take();
    if mode.bcast
        || (mode.optin && caching != Some(true))
        || (mode.optout && caching == Some(false))
    {
        return;
    }
    let mut found = super::keyspec::Keys::new();
    spec.keys_of(argv, &mut found);
    let keys: Vec<&[u8]> = found.iter().map(|k| argv[k.pos]).collect();
    if !keys.is_empty() {
        let held = ctx.server.tracking.remember(ctx.client.handle.id, &keys);
        let max = ctx.server.config.tracking_table_max_keys.u() as usize;
        if max != 0 && held > max {
            limit(ctx.server);
        }
    }
}

/// A key changed (`by` = the client that changed it, 0 for the server itself): tells the
/// clients that read it, and the BCAST clients whose prefixes cover it.
pub fn invalidate(server: &Server, key: &[u8], by: u64) {
    let mut inner = server.tracking.inner.lock();
    let send = take_readers(&mut inner, key, by);
    let mut gathered: Vec<(u64, Vec<u8>)> = Vec::new();
    for (id, t) in &inner.trackers {
        if !t.mode.bcast || (t.mode.noloop && *id == by) {
            continue;
        }
        if t.mode.prefixes.is_empty() {
            gathered.push((*id, Vec::new()));
        }
        for p in t.mode.prefixes.iter().filter(|p| key.starts_with(p)) {
            gathered.push((*id, p.clone()));
        }
    }
    for (id, prefix) in gathered {
        match inner
            .pending
            .iter_mut()
            .find(|(i, p, _)| *i == id && *p == prefix)
        {
            Some((_, _, keys)) => {
                if !keys.iter().any(|k| k == key) {
                    keys.push(key.to_vec());
                }
            }
            None => inner.pending.push((id, prefix, vec![key.to_vec()])),
        }
    }
    drop(inner);
    for (h, redirect) in send {
        deliver(server, &h, redirect, Some(&[key]));
    }
}

/// Removes `key` from the table and returns the default-mode clients that read it (and are
/// to be told: not `by` itself under NOLOOP), with where their messages go.
fn take_readers(inner: &mut Inner, key: &[u8], by: u64) -> Vec<(Arc<ClientHandle>, u64)> {
    let readers = inner.keys.remove(key).unwrap_or_default();
    let mut send = Vec::new();
    for id in readers {
        // A client that read the key and has since switched to BCAST hears of it by prefix.
        if let Some(t) = inner.trackers.get(&id).filter(|t| !t.mode.bcast) {
            if !(t.mode.noloop && id == by) {
                send.push((t.handle.clone(), t.mode.redirect));
            }
        }
    }
    send
}

/// `tracking-table-max-keys`: past the limit, keys leave the table (in no particular order)
/// and their readers are told, as if the keys had changed, so that they stop caching them.
/// Run after keys are added and by the cron (the limit may be lowered at run time).
pub fn limit(server: &Server) {
    let max = server.config.tracking_table_max_keys.u() as usize;
    if max == 0 {
        return;
    }
    let mut inner = server.tracking.inner.lock();
    let excess = inner.keys.len().saturating_sub(max);
    if excess == 0 {
        return;
    }
    let keys: Vec<Vec<u8>> = inner.keys.keys().take(excess).cloned().collect();
    let sends: Vec<_> = keys
        .into_iter()
        .map(|k| {
            let send = take_readers(&mut inner, &k, 0);
            (k, send)
        })
        .collect();
    drop(inner);
    for (k, send) in sends {
        for (h, redirect) in send {
            deliver(server, &h, redirect, Some(&[&k]));
        }
    }
}

/// Sends the BCAST messages gathered during the command that just ended.
pub fn flush(server: &Server) {
    let mut inner = server.tracking.inner.lock();
    if inner.pending.is_empty() {
        return;
    }
    let pending = std::mem::take(&mut inner.pending);
    let send: Vec<_> = pending
        .into_iter()
        .filter_map(|(id, _, keys)| {
            let t = inner.trackers.get(&id)?;
            Some((t.handle.clone(), t.mode.redirect, keys))
        })
        .collect();
    drop(inner);
    for (h, redirect, mut keys) in send {
        // In key order, as Redis keeps them (a radix tree).
        keys.sort_unstable();
        let keys: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        deliver(server, &h, redirect, Some(&keys));
    }
}

/// FLUSHDB / FLUSHALL: every tracking client is told to drop everything (a null key list).
pub fn invalidate_all(server: &Server) {
    let mut inner = server.tracking.inner.lock();
    inner.keys.clear();
    inner.pending.clear();
    let send: Vec<(Arc<ClientHandle>, u64)> = inner
        .trackers
        .values()
        .map(|t| (t.handle.clone(), t.mode.redirect))
        .collect();
    drop(inner);
    for (h, redirect) in send {
        deliver(server, &h, redirect, None);
    }
}

const CHANNEL: &[u8] = b"__redis__:invalidate";

fn deliver(server: &Server, client: &Arc<ClientHandle>, redirect: u64, keys: Option<&[&[u8]]>) {
    let target = if redirect == 0 {
        Some(client.clone())
    } else {
        server.clients.get(redirect)
    };
    let Some(target) = target else {
        // The REDIRECT target is gone: a RESP3 client is told so instead.
        if client.resp.load(Ordering::Relaxed) >= 3 {
            let mut r = Reply {
                buf: Vec::with_capacity(48),
                resp3: true,
            };
            r.push(2);
            r.bulk(b"tracking-redir-broken");
            r.int(redirect as i64);
            client.mailbox.push(&r.buf);
        }
        return;
    };
    let mut r = Reply {
        buf: Vec::with_capacity(64),
        resp3: target.resp.load(Ordering::Relaxed) >= 3,
    };
    if r.resp3 {
        r.push(2);
        r.bulk(b"invalidate");
    } else if target
        .sub_counts
        .iter()
        .any(|c| c.load(Ordering::Relaxed) > 0)
    {
        r.push(3);
        r.bulk(b"message");
        r.bulk(CHANNEL);
    } else {
        // A RESP2 client that is not subscribed has no way to receive it (as in Redis).
        return;
    }
    match keys {
        Some(keys) => {
            r.array(keys.len());
            for k in keys {
                r.bulk(k);
            }
        }
        // Everything (a flush): a null, as Redis sends it.
        None => r.null(),
    }
    target.mailbox.push(&r.buf);
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn client_tracking(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let on = if argv[2].eq_ignore_ascii_case(b"on") {
        true
    } else if argv[2].eq_ignore_ascii_case(b"off") {
        false
    } else {
        return Err(super::SYNTAX);
    };
    let mut mode = Mode::default();
    let mut i = 3;
    while i < argv.len() {
        let a = argv[i];
        let value = argv.get(i + 1);
        if a.eq_ignore_ascii_case(b"redirect") && value.is_some() {
            let id = args::strict_i64(value.unwrap_or(&&b""[..]))
                .ok_or(CmdError::new("ERR value is not an integer or out of range"))?;
            if id <= 0 {
                return Err(CmdError::new(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            mode.redirect = id as u64;
            i += 2;
        } else if a.eq_ignore_ascii_case(b"prefix") && value.is_some() {
            mode.prefixes.push(value.map_or(Vec::new(), |v| v.to_vec()));
            i += 2;
        } else if a.eq_ignore_ascii_case(b"bcast") {
            mode.bcast = true;
            i += 1;
        } else if a.eq_ignore_ascii_case(b"optin") {
            mode.optin = true;
            i += 1;
        } else if a.eq_ignore_ascii_case(b"optout") {
            mode.optout = true;
            i += 1;
        } else if a.eq_ignore_ascii_case(b"noloop") {
            mode.noloop = true;
            i += 1;
        } else {
            return Err(super::SYNTAX);
        }
    }
    let handle = ctx.client.handle.clone();
    if !on {
        ctx.client.tracking = None;
        ctx.client.caching = None;
        handle.redir.store(-1, Ordering::Relaxed);
        ctx.server.tracking.set(&handle, None);
        ctx.out.ok();
        return Ok(());
    }
    if let Some(old) = &ctx.client.tracking {
        if old.bcast != mode.bcast {
            return Err(CmdError::new(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
            ));
        }
    }
    if mode.optin && mode.optout {
        return Err(CmdError::new(
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if !mode.bcast && !mode.prefixes.is_empty() {
        return Err(CmdError::new(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(CmdError::new(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if mode.redirect != 0 && ctx.server.clients.get(mode.redirect).is_none() {
        return Err(CmdError::new(
            "ERR The client ID you want redirect to does not exist",
        ));
    }
    // BCAST prefixes may not overlap (one would report the other's keys twice), neither among
    // those given nor with those registered before, to which the new ones are added.
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let refuse = |a: &[u8], which: &str, b: &[u8]| {
        Err(CmdError::owned(format!(
            "ERR Prefix '{}' overlaps with {which} prefix '{}'. Prefixes for a single client must not overlap.",
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b)
        )))
    };
    for (j, b) in mode.prefixes.iter().enumerate() {
        if let Some(a) = mode.prefixes[..j].iter().find(|a| overlap(a, b)) {
            return refuse(a, "another provided", b);
        }
    }
    if let Some(old) = &ctx.client.tracking {
        for p in &mode.prefixes {
            if let Some(e) = old.prefixes.iter().find(|e| overlap(e, p)) {
                return refuse(p, "an existing", e);
            }
        }
        mode.prefixes.extend(old.prefixes.iter().cloned());
    }
    handle.redir.store(mode.redirect as i64, Ordering::Relaxed);
    ctx.server.tracking.set(&handle, Some(mode.clone()));
    ctx.client.tracking = Some(mode);
    ctx.out.ok();
    Ok(())
}

/// CLIENT CACHING YES|NO: whether the next read is tracked (OPTIN / OPTOUT modes).
pub fn client_caching(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(mode) = &ctx.client.tracking else {
        return Err(CmdError::new(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    let yes = if argv[2].eq_ignore_ascii_case(b"yes") {
        true
    } else if argv[2].eq_ignore_ascii_case(b"no") {
        false
    } else {
        return Err(super::SYNTAX);
    };
    if (yes && !mode.optin) || (!yes && !mode.optout) {
        return Err(CmdError::new(if yes {
            "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
        } else {
            "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
        }));
    }
    ctx.client.caching = Some(yes);
    ctx.out.ok();
    Ok(())
}

pub fn client_getredir(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let r = ctx
        .client
        .tracking
        .as_ref()
        .map_or(-1, |m| m.redirect as i64);
    ctx.out.int(r);
    Ok(())
}

pub fn client_trackinginfo(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let mode = ctx.client.tracking.clone();
    let mut flags: Vec<&str> = Vec::new();
    match &mode {
        None => flags.push("off"),
        Some(m) => {
            flags.push("on");
            for (set, name) in [
                (m.bcast, "bcast"),
                (m.optin, "optin"),
                (m.optout, "optout"),
                (ctx.client.caching == Some(true), "caching-yes"),
                (ctx.client.caching == Some(false), "caching-no"),
                (m.noloop, "noloop"),
            ] {
                if set {
                    flags.push(name);
                }
            }
            if m.redirect != 0 && ctx.server.clients.get(m.redirect).is_none() {
                flags.push("broken_redirect");
            }
        }
    }
    ctx.out.map(3);
    ctx.out.bulk(b"flags");
    ctx.out.set(flags.len());
    for f in flags {
        ctx.out.bulk(f.as_bytes());
    }
    ctx.out.bulk(b"redirect");
    ctx.out.int(mode.as_ref().map_or(-1, |m| m.redirect as i64));
    ctx.out.bulk(b"prefixes");
    let prefixes = match mode {
        // BCAST without a prefix covers every key: Redis lists the empty prefix.
        Some(m) if m.bcast && m.prefixes.is_empty() => vec![Vec::new()],
        Some(m) => m.prefixes,
        None => Vec::new(),
    };
    ctx.out.array(prefixes.len());
    for p in prefixes {
        ctx.out.bulk(&p);
    }
    Ok(())
}
