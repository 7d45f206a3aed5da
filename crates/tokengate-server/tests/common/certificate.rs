//! A self-signed certificate for `localhost`, written as PEM files into a folder of its own.

use tokengate_server::config::Config;

pub struct TestCertificate {
    pub certified: rcgen::CertifiedKey<rcgen::KeyPair>,
    pub cert_path: String,
    pub key_path: String,
    _dir: tempfile::TempDir,
}

impl TestCertificate {
    pub fn new() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, certified.cert.pem()).unwrap();
        std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
        Self {
            certified,
            cert_path: cert_path.display().to_string(),
            key_path: key_path.display().to_string(),
            _dir: dir,
        }
    }

    /// `config` serving HTTPS with this certificate.
    pub fn serve_with(&self, mut config: Config) -> Config {
        config.tls.cert = self.cert_path.clone();
        config.tls.key = self.key_path.clone();
        config
    }

    pub fn pem(&self) -> String {
        self.certified.cert.pem()
    }
}
