//! TLS listeners with certificates the test generates: redis-cli over TLS, client certificates,
//! TLS-only servers, and ElastiCache's preferred/required modes.

mod common;

use std::path::{Path, PathBuf};

use common::{ferrocache, free_port, redis_cli, Raw};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

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

/// With several I/O threads, a TLS client is answered while a script is busy (-BUSY, and
/// SCRIPT KILL works over TLS, from a connection made during the busy time).
#[test]
fn tls_clients_get_busy_replies_with_several_io_threads() {
    let dir = common::temp_dir("pki5");
    let pki = Pki::new(&dir);
    let tls_port = free_port();
    let s = start(
        &pki,
        "no",
        &[
            "--tls-port",
            &tls_port.to_string(),
            "--io-threads",
            "2",
            "--busy-reply-threshold",
            "50",
        ],
    );
    let mut looping = Raw::connect(s.port);
    looping.send_raw(&common::resp(&[b"EVAL", b"while true do end", b"0"]));
    let mut probe = Raw::connect(s.port);
    while !probe.cmd(&["PING"]).starts_with("-BUSY") {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (out, err, _) = tls_cli(&pki, tls_port, false, &["GET", "k"]);
    assert!(
        out.starts_with("BUSY Redis is busy running a script"),
        "{out} {err}"
    );
    let (out, err, ok) = tls_cli(&pki, tls_port, false, &["SCRIPT", "KILL"]);
    assert!(ok && out.trim() == "OK", "{out} {err}");
    assert!(looping
        .read_reply()
        .starts_with("-ERR Script killed by user"));
    assert_eq!(probe.cmd(&["PING"]), "+PONG\r\n");
}
