//! `supervised systemd`: telling systemd the server is ready (sd_notify's protocol: one
//! datagram of `KEY=VALUE` lines to the Unix socket named by `$NOTIFY_SOCKET`), for units of
//! `Type=notify` such as Debian's redis-server.service, which otherwise wait for it in vain.

use std::os::unix::net::UnixDatagram;

/// Sends READY=1 when the configuration asks for it (`systemd`, or `auto` with a notify
/// socket in the environment). Returns whether a notification was sent.
pub fn notify_ready(mode: &str) -> bool {
    let socket = std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty());
    match (mode, socket) {
        ("systemd" | "auto", Some(path)) => {
            match send(&path, b"STATUS=Ready to accept connections\nREADY=1\n") {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("systemd supervision error: {e}");
                    false
                }
            }
        }
        ("systemd", None) => {
            tracing::warn!(
                "systemd supervision requested or auto-detected, but NOTIFY_SOCKET not found!"
            );
            false
        }
        _ => false,
    }
}

fn send(path: &str, msg: &[u8]) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    // A leading '@' names a socket in the abstract namespace.
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(msg, &addr)?;
    } else {
        sock.send_to(msg, path)?;
    }
    Ok(())
}
