//! HTTPS: a rustls acceptor from PEM certificate chain and key files (ring provider). Loaded
//! before anything is written; each error names the key (`tls.cert`, `tls.key`) at fault.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

pub fn acceptor(cert_path: &str, key_path: &str) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|error| format!("tls.cert: cannot read {cert_path}: {error}"))?
        .collect::<Result<_, _>>()
        .map_err(|error| format!("tls.cert: invalid certificate in {cert_path}: {error}"))?;
    if certs.is_empty() {
        return Err(format!("tls.cert: no certificate in {cert_path}"));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|error| format!("tls.key: cannot read a private key from {key_path}: {error}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("tls: {error}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| format!("tls.key: does not fit the certificate: {error}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
