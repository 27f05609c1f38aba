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
    let cert_file = cfg.get("tls-cert-file");
    let key_file = cfg.get("tls-key-file");
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
    let auth = cfg.get("tls-auth-clients");
    let ca_file = cfg.get("tls-ca-cert-file");
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
