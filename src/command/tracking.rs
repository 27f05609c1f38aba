//! Client-side caching: CLIENT TRACKING, CACHING, TRACKINGINFO, GETREDIR, and the invalidation
//! messages.
//!
//! Default mode remembers which clients read which keys (the keys of read-only commands) and
//! tells them, once, when a key changes; BCAST mode tells a client of every change to keys
//! under its prefixes. A message goes to the client itself (a RESP3 push) or to its REDIRECT
//! target (a push, or a `__redis__:invalidate` pub/sub message for a RESP2 subscriber). As in
//! Redis, keys are tracked by name across databases. With no tracking client, a write costs one
//! relaxed load here.

use std::sync::atomic::Ordering;

use super::{args, CmdError, CmdResult, Ctx};
use crate::clients::tracking::{self, Mode};

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
        let held = ctx
            .server
            .clients
            .tracking
            .remember(ctx.client.handle.id, &keys);
        let max = ctx.config().tracking_table_max_keys.u() as usize;
        if max != 0 && held > max {
            tracking::limit(ctx.clients(), max as u64);
        }
    }
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
        ctx.clients().tracking.set(&handle, None);
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
    if mode.redirect != 0 && ctx.clients().get(mode.redirect).is_none() {
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
    ctx.clients().tracking.set(&handle, Some(mode.clone()));
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
            if m.redirect != 0 && ctx.clients().get(m.redirect).is_none() {
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
