//! HTTPS: a rustls acceptor from PEM certificate chain and key files (ring provider), and the
//! client configuration for `https://` upstreams and the directory (the system's roots, or a
//! `ca_file`; the certificate is always checked). Loaded before anything is written; each error names what is at fault.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

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

/// The connector for `https://` upstreams: trusts the certificates in `ca_file` (PEM) when
/// given, else the system's roots. There is no way to skip the check.
pub fn upstream_connector(ca_file: Option<&str>) -> Result<TlsConnector, String> {
    let mut config = client_config(ca_file)?;
    // An upstream that offers HTTP/2 gets it (gRPC over TLS); others stay on HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// A `ca_file` setting as an option: `""` means the system's roots.
pub fn ca_file(path: &str) -> Option<&str> {
    (!path.is_empty()).then_some(path)
}

/// The certificates of the PEM file `path`: at least one, each readable.
pub fn ca_certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|error| format!("ca_file: cannot read {path}: {error}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("ca_file: invalid certificate in {path}: {error}"))?;
    if certs.is_empty() {
        return Err(format!("ca_file: no certificate in {path}"));
    }
    Ok(certs)
}

/// A TLS client configuration (ring provider) trusting the certificates in `ca_file` (PEM)
/// when given, else the system's roots; used for upstreams, the directory and the OpenID Connect provider. The server's
/// certificate is always checked.
pub fn client_config(ca_file: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in ca_certificates(path)? {
                roots
                    .add(cert)
                    .map_err(|error| format!("ca_file: unusable certificate in {path}: {error}"))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(
                    "no system root certificates found (install ca-certificates, or set ca_file)"
                        .into(),
                );
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("tls: {error}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
