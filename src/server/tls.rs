//! TLS: a rustls server configuration built from the tls-* parameters.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::StartError;
use crate::config::Config;

/// Builds the acceptor: server certificate and key, and client-certificate checking per
/// `tls-auth-clients` (yes = required, optional = checked when presented, no = not asked for).
pub fn acceptor(cfg: &Config) -> Result<TlsAcceptor, StartError> {
    let cert_file = cfg.tls_cert_file.get();
    let key_file = cfg.tls_key_file.get();
    if cert_file.is_empty() || key_file.is_empty() {
        return Err("TLS needs tls-cert-file and tls-key-file".into());
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .map_err(|e| format!("Failed to load certificate {cert_file}: {e}"))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("Failed to load certificate {cert_file}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| format!("Failed to load private key {key_file}: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let auth = cfg.tls_auth_clients.get();
    let ca_file = cfg.tls_ca_cert_file.get();
    let builder = if auth == "no" {
        builder.with_no_client_auth()
    } else {
        if ca_file.is_empty() {
            return Err(
                "tls-auth-clients needs tls-ca-cert-file (or set tls-auth-clients no)".into(),
            );
        }
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&ca_file)
            .map_err(|e| format!("Failed to load CA {ca_file}: {e}"))?
        {
            roots
                .add(c.map_err(|e| format!("Failed to load CA {ca_file}: {e}"))?)
                .map_err(|e| format!("Bad CA certificate in {ca_file}: {e}"))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if auth == "optional" {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        builder.with_client_cert_verifier(
            verifier
                .build()
                .map_err(|e| format!("TLS client verifier: {e}"))?,
        )
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key mismatch: {e}"))?;
    config.alpn_protocols = vec![];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// What ElastiCache's `# SSL` INFO section shows of the server certificate.
#[derive(Debug, PartialEq)]
pub struct CertInfo {
    pub not_before: String,
    pub not_after: String,
    /// Upper-case hexadecimal.
    pub serial: String,
}

/// Reads the first certificate of `tls-cert-file` (None when there is none or it cannot be
/// read).
pub fn certificate_info(cfg: &Config) -> Option<CertInfo> {
    let file = cfg.tls_cert_file.get();
    if file.is_empty() {
        return None;
    }
    let cert = CertificateDer::pem_file_iter(&file).ok()?.next()?.ok()?;
    parse_certificate(&cert)
}

/// One DER element: (tag, contents, rest).
fn der(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, mut b) = b.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let len = b[..n].iter().fold(0usize, |acc, &x| acc << 8 | x as usize);
        b = &b[n..];
        len
    };
    (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
}

/// The serial number and validity of an X.509 certificate, walked by hand: Certificate ->
/// TBSCertificate -> [0] version?, serialNumber, signature, issuer, validity.
fn parse_certificate(cert: &[u8]) -> Option<CertInfo> {
    let (_, cert, _) = der(cert)?;
    let (_, tbs, _) = der(cert)?;
    let (mut tag, mut value, mut rest) = der(tbs)?;
    if tag == 0xa0 {
        (tag, value, rest) = der(rest)?;
    }
    if tag != 0x02 {
        return None;
    }
    let serial: String = value
        .iter()
        .skip_while(|&&b| b == 0)
        .map(|b| format!("{b:02X}"))
        .collect();
    let (_, _signature, rest) = der(rest)?;
    let (_, _issuer, rest) = der(rest)?;
    let (_, validity, _) = der(rest)?;
    let (t1, v1, rest) = der(validity)?;
    let (t2, v2, _) = der(rest)?;
    Some(CertInfo {
        not_before: asn1_time(t1, v1)?,
        not_after: asn1_time(t2, v2)?,
        serial: if serial.is_empty() {
            "00".into()
        } else {
            serial
        },
    })
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) as OpenSSL prints it:
/// `Jan  2 03:04:05 2026 GMT`.
fn asn1_time(tag: u8, v: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(v).ok()?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: u32 = s.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| -> Option<u32> { rest.get(r)?.parse().ok() };
    let month = crate::metrics::logdelivery::MONTHS.get(num(0..2)?.checked_sub(1)? as usize)?;
    Some(format!(
        "{month} {:>2} {:02}:{:02}:{:02} {year} GMT",
        num(2..4)?,
        num(4..6)?,
        num(6..8)?,
        num(8..10)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_serial_and_validity() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 1, 2);
        params.not_after = rcgen::date_time_ymd(2051, 11, 30);
        params.serial_number = Some(rcgen::SerialNumber::from(vec![0x01, 0xab, 0xcd]));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let info = parse_certificate(cert.der()).unwrap();
        assert_eq!(info.serial, "01ABCD");
        assert_eq!(info.not_before, "Jan  2 00:00:00 2026 GMT");
        assert_eq!(info.not_after, "Nov 30 00:00:00 2051 GMT");
        assert_eq!(parse_certificate(b"\x30\x03\x02\x01"), None);
    }
}
