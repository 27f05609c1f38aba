//! Client-side caching state: which clients track keys and how (`Tracking`), which clients
//! read which keys, and the invalidation messages. Default mode remembers the keys a client
//! read and tells it, once, when one changes; BCAST mode tells a client of every change under
//! its prefixes. A message goes to the client itself (a RESP3 push) or to its REDIRECT target
//! (a push, or a `__redis__:invalidate` pub/sub message for a RESP2 subscriber). As in Redis,
//! keys are tracked by name across databases. The commands are in `command::tracking`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{ClientHandle, Clients};
use crate::protocol::Reply;

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
    /// The interests in changed keys counted in (`sync`).
    interests: usize,
}

#[derive(Default)]
pub struct Tracking {
    inner: Mutex<Inner>,
    count: AtomicUsize,
    /// Keys in the table.
    keys: AtomicUsize,
}

impl Tracking {
    /// Whether changed keys concern tracking: a client tracks, or the table still holds keys
    /// read by clients since gone (they leave it when they change or on a flush, as in Redis).
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    pub fn set(&self, handle: &Arc<ClientHandle>, mode: Option<Mode>) {
        let mut inner = self.inner.lock();
        match mode {
            Some(mode) => {
                let handle = handle.clone();
                inner.trackers.insert(handle.id, Tracker { handle, mode });
            }
            None => {
                inner.trackers.remove(&handle.id);
            }
        }
        self.sync(&mut inner);
    }

    /// After a change to the trackers or the table: one interest in changed keys per tracking
    /// client, and one while the table holds keys.
    fn sync(&self, inner: &mut Inner) {
        let want = inner.trackers.len() + !inner.keys.is_empty() as usize;
        if want > inner.interests {
            crate::engine::effects::interested(want - inner.interests);
        } else if want < inner.interests {
            crate::engine::effects::uninterested(inner.interests - want);
        }
        inner.interests = want;
        self.count.store(want, Ordering::Relaxed);
        self.keys.store(inner.keys.len(), Ordering::Relaxed);
    }

    /// The client is gone.
    pub fn remove(&self, id: u64) {
        let mut inner = self.inner.lock();
        if inner.trackers.remove(&id).is_some() {
            self.sync(&mut inner);
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
    pub fn remember(&self, id: u64, keys: &[&[u8]]) -> usize {
        let mut inner = self.inner.lock();
        for k in keys {
            let ids = inner.keys.entry(k.to_vec()).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        self.sync(&mut inner);
        inner.keys.len()
    }
}

/// A key changed (`by` = the client that changed it, 0 for the server itself): tells the
/// clients that read it, and the BCAST clients whose prefixes cover it.
pub fn invalidate(clients: &Clients, key: &[u8], by: u64) {
    let mut inner = clients.tracking.inner.lock();
    let send = take_readers(&mut inner, key, by);
    clients.tracking.sync(&mut inner);
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
        deliver(clients, &h, redirect, Some(&[key]));
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

/// Before each command, as Redis checks: `limit` when the table is over `max` (which CONFIG
/// SET may have just lowered).
pub fn limit_before_command(clients: &Clients, max: u64) {
    let n = clients.tracking.keys.load(Ordering::Relaxed) as u64;
    if max != 0 && n > max {
        limit(clients, max);
    }
}

/// `tracking-table-max-keys`: past the limit, keys leave the table (in no particular order)
/// and their readers are told, as if the keys had changed, so that they stop caching them.
/// Run after keys are added and by the cron (the limit may be lowered at run time).
pub fn limit(clients: &Clients, max: u64) {
    let max = max as usize;
    if max == 0 {
        return;
    }
    let mut inner = clients.tracking.inner.lock();
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
    clients.tracking.sync(&mut inner);
    drop(inner);
    for (k, send) in sends {
        for (h, redirect) in send {
            deliver(clients, &h, redirect, Some(&[&k]));
        }
    }
}

/// Sends the BCAST messages gathered during the command that just ended.
pub fn flush(clients: &Clients) {
    let mut inner = clients.tracking.inner.lock();
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
        deliver(clients, &h, redirect, Some(&keys));
    }
}

/// FLUSHDB / FLUSHALL: every tracking client is told to drop everything (a null key list).
pub fn invalidate_all(clients: &Clients) {
    let mut inner = clients.tracking.inner.lock();
    inner.keys.clear();
    inner.pending.clear();
    clients.tracking.sync(&mut inner);
    let send: Vec<(Arc<ClientHandle>, u64)> = inner
        .trackers
        .values()
        .map(|t| (t.handle.clone(), t.mode.redirect))
        .collect();
    drop(inner);
    for (h, redirect) in send {
        deliver(clients, &h, redirect, None);
    }
}

const CHANNEL: &[u8] = b"__redis__:invalidate";

fn deliver(clients: &Clients, client: &Arc<ClientHandle>, redirect: u64, keys: Option<&[&[u8]]>) {
    let target = if redirect == 0 {
        Some(client.clone())
    } else {
        clients.get(redirect)
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
