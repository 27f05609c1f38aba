//! TLS listeners with certificates the test generates: redis-cli over TLS, client certificates,
//! TLS-only servers, and ElastiCache's preferred/required modes.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{ferrocache, free_port, redis_cli, Raw};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1/localhost, and a client certificate.
    fn new(dir: &Path) -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ferrocache test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
        write("ca.crt", ca_cert.pem());
        for (name, sans) in [
            (
                "server",
                vec!["localhost".to_string(), "127.0.0.1".to_string()],
            ),
            ("client", vec!["client".to_string()]),
        ] {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(sans)
                .unwrap()
                .signed_by(&key, &issuer)
                .unwrap();
            write(&format!("{name}.crt"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn server_args(&self, auth_clients: &str) -> Vec<String> {
        vec![
            "--tls-cert-file".into(),
            self.path("server.crt"),
            "--tls-key-file".into(),
            self.path("server.key"),
            "--tls-ca-cert-file".into(),
            self.path("ca.crt"),
            "--tls-auth-clients".into(),
            auth_clients.into(),
        ]
    }
}

fn start(pki: &Pki, auth: &str, extra: &[&str]) -> common::Proc {
    let mut args: Vec<String> = pki.server_args(auth);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ferrocache(&refs)
}

fn tls_cli(pki: &Pki, port: u16, with_client_cert: bool, cmd: &[&str]) -> (String, String, bool) {
    let mut args = vec!["-h", "127.0.0.1", "--tls"];
    let ca = pki.path("ca.crt");
    let (cert, key) = (pki.path("client.crt"), pki.path("client.key"));
    args.extend(["--cacert", &ca]);
    if with_client_cert {
        args.extend(["--cert", &cert, "--key", &key]);
    }
    args.extend(cmd);
    redis_cli(port, &args)
}

#[test]
fn tls_port_beside_plain_port() {
    let dir = common::temp_dir("pki1");
    let pki = Pki::new(&dir);
    let tls_port = free_port();
    let s = start(&pki, "no", &["--tls-port", &tls_port.to_string()]);
    let (out, err, ok) = tls_cli(&pki, tls_port, false, &["SET", "k", "over-tls"]);
    assert!(ok && out.trim() == "OK", "{out} {err}");
    // The same data is visible on the plaintext port.
    let mut plain = Raw::connect(s.port);
    assert_eq!(plain.cmd(&["GET", "k"]), "$8\r\nover-tls\r\n");
    // Plaintext to the TLS port does not work.
    let (out, _, _) = redis_cli(tls_port, &["PING"]);
    assert!(!out.contains("PONG"));
}

#[test]
fn client_certificates_required() {
    let dir = common::temp_dir("pki2");
    let pki = Pki::new(&dir);
    let tls_port = free_port();
    let _s = start(&pki, "yes", &["--tls-port", &tls_port.to_string()]);
    let (out, _, _) = tls_cli(&pki, tls_port, false, &["PING"]);
    assert!(
        !out.contains("PONG"),
        "a client without a certificate must be refused: {out}"
    );
    let (out, err, ok) = tls_cli(&pki, tls_port, true, &["PING"]);
    assert!(ok && out.trim() == "PONG", "{out} {err}");
}

#[test]
fn tls_only_with_port_zero() {
    let dir = common::temp_dir("pki3");
    let pki = Pki::new(&dir);
    let tls_port = free_port();
    let mut args = pki.server_args("optional");
    args.extend([
        "--tls-port".into(),
        tls_port.to_string(),
        "--port".into(),
        "0".into(),
        "--bind".into(),
        "127.0.0.1".into(),
    ]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut answered = false;
    while std::time::Instant::now() < deadline && !answered {
        let (out, _, _) = tls_cli(&pki, tls_port, false, &["PING"]);
        answered = out.trim() == "PONG";
        if !answered {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    let (with_cert, _, _) = tls_cli(&pki, tls_port, true, &["PING"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        answered,
        "TLS-only server answers over TLS (optional client certs)"
    );
    assert_eq!(with_cert.trim(), "PONG");
}

#[test]
fn elasticache_preferred_and_required_modes() {
    let dir = common::temp_dir("pki4");
    let pki = Pki::new(&dir);
    let s = start(&pki, "no", &["--tls-mode", "preferred"]);
    let (out, err, ok) = tls_cli(&pki, s.port, false, &["SET", "m", "tls"]);
    assert!(ok && out.trim() == "OK", "{out} {err}");
    let mut plain = Raw::connect(s.port);
    assert_eq!(
        plain.cmd(&["GET", "m"]),
        "$3\r\ntls\r\n",
        "preferred mode accepts plaintext too"
    );
    // ElastiCache's # SSL section, which migrations watch: one plaintext client (`plain`) and
    // one TLS client (the one asking).
    let (out, err, ok) = tls_cli(&pki, s.port, false, &["INFO", "ssl"]);
    assert!(ok, "{err}");
    assert!(out.contains("ssl_enabled:yes"), "{out}");
    assert!(out.contains("tls_mode_connected_tcp_clients:1"), "{out}");
    assert!(out.contains("tls_mode_connected_tls_clients:1"), "{out}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim_end().strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        field("ssl_current_certificate_not_before_date").ends_with(" GMT"),
        "{out}"
    );
    assert!(
        field("ssl_current_certificate_not_after_date").ends_with(" GMT"),
        "{out}"
    );
    let serial = field("ssl_current_certificate_serial");
    assert!(
        !serial.is_empty() && serial.chars().all(|c| c.is_ascii_hexdigit()),
        "{out}"
    );
    drop(s);

    let s = start(&pki, "no", &["--tls-mode", "required"]);
    let (out, err, ok) = tls_cli(&pki, s.port, false, &["PING"]);
    assert!(ok && out.trim() == "PONG", "{out} {err}");
    let mut plain = Raw::connect(s.port);
    plain.send_raw(b"PING\r\n");
    assert!(
        plain.try_read_reply().is_none_or(|r| !r.contains("PONG")),
        "required mode refuses plaintext"
    );
}

/// A TLS connection made with rustls, as a [`Raw`] one (the handshake happens at its first
/// request).
fn tls_connect(pki: &Pki, port: u16) -> Raw {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.path("ca.crt")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = "localhost".try_into().unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    Raw::over(Box::new(rustls::StreamOwned::new(conn, tcp)))
}

/// A script busy past the threshold, seen by TLS clients: one connected before it, one
/// accepted before it whose handshake happens while it runs, one that connects while it
/// runs, and redis-cli. They get -BUSY, SCRIPT KILL over TLS ends the script, and every
/// connection works afterwards.
fn busy_over_tls(pki: &Pki, port: u16, tls_port: u16) -> String {
    let mut t = String::new();
    let mut admin = Raw::connect(port);
    admin.cmd(&["SET", "k", "v"]);
    admin.cmd(&["CONFIG", "SET", "lua-time-limit", "50"]);
    let mut early = tls_connect(pki, tls_port);
    t += &early.cmd(&["PING"]);
    // Connected, the handshake not begun (rustls starts it with the first request).
    let mut shy = tls_connect(pki, tls_port);
    std::thread::sleep(Duration::from_millis(20));
    let mut looping = Raw::connect(port);
    looping.send_raw(&common::resp(&[b"EVAL", b"while true do end", b"0"]));
    let mut probe = Raw::connect(port);
    while !probe.cmd(&["PING"]).starts_with("-BUSY") {
        std::thread::sleep(Duration::from_millis(5));
    }
    t += &early.cmd(&["GET", "k"]);
    let mut batch = common::resp(&[b"GET", b"k"]);
    batch.extend(common::resp(&[b"SET", b"k2", b"v"]));
    batch.extend(common::resp(&[b"NOSUCH"]));
    early.send_raw(&batch);
    for _ in 0..3 {
        t += &early.read_reply();
    }
    t += &shy.cmd(&["GET", "k"]);
    let mut late = tls_connect(pki, tls_port);
    t += &late.cmd(&["INCR", "k"]);
    let (out, err, _) = tls_cli(pki, tls_port, false, &["GET", "k"]);
    t += &out;
    t += &err;
    t += &late.cmd(&["SCRIPT", "KILL"]);
    t += &looping.read_reply();
    t += &early.cmd(&["GET", "k"]);
    t += &late.cmd(&["EXISTS", "k2"]);
    t += &shy.cmd(&["PING"]);
    t += &looping.cmd(&["PING"]);
    t
}

/// TLS clients while a script is busy, as redis-server (TLS built in) answers them: with one
/// I/O thread (the script's hook reads and writes their shared sessions and makes new
/// connections' handshakes), with several, and on a `tls-mode preferred` port, where the
/// first byte tells TLS from plaintext.
#[test]
fn tls_clients_get_busy_replies_as_from_redis() {
    let dir = common::temp_dir("pki5");
    let pki = Pki::new(&dir);
    let theirs = {
        let tls_port = free_port();
        let mut args = pki.server_args("no");
        args.extend(["--tls-port".to_string(), tls_port.to_string()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let s = common::redis_server_with(&refs);
        busy_over_tls(&pki, s.port, tls_port)
    };
    assert!(
        theirs.contains("-BUSY Redis is busy running a script."),
        "{theirs}"
    );
    assert!(theirs.contains("Script killed by user"), "{theirs}");
    for extra in [&[][..], &["--io-threads", "2"]] {
        let tls_port = free_port();
        let port_arg = tls_port.to_string();
        let mut args = vec!["--tls-port", port_arg.as_str()];
        args.extend(extra);
        let s = start(&pki, "no", &args);
        let ours = busy_over_tls(&pki, s.port, tls_port);
        assert_eq!(
            theirs, ours,
            "redis-server (left), ferrocache {extra:?} (right)"
        );
    }
    let s = start(&pki, "no", &["--tls-mode", "preferred"]);
    let ours = busy_over_tls(&pki, s.port, s.port);
    assert_eq!(
        theirs, ours,
        "redis-server (left), ferrocache preferred mode (right)"
    );
}
