//! Self-signed TLS material for `myquorum up` and the TLS tests: a CA, a server certificate
//! it signs, valid for `localhost` and `127.0.0.1`, and a client certificate it signs (for the
//! proxy's backend connections to accounts created `REQUIRE X509`), written as PEM files. `up`
//! keeps them in its work dir (outside the `instance-*` directories a fresh start wipes), so
//! a client that trusted the CA once keeps trusting the proxy after a restart.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};

use crate::SandboxError;

/// Where the PEM files of one CA + server certificate pair are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate clients verify the proxy with (`--ssl-ca`).
    pub ca: PathBuf,
    /// The server certificate (`[proxy.tls] cert`).
    pub cert: PathBuf,
    /// Its private key (`[proxy.tls] key`).
    pub key: PathBuf,
    /// A client certificate signed by the same CA (`[proxy.backend_tls] cert`).
    pub client_cert: PathBuf,
    /// Its private key (`[proxy.backend_tls] key`).
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// The files' places under `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server-cert.pem"),
            key: dir.join("server-key.pem"),
            client_cert: dir.join("client-cert.pem"),
            client_key: dir.join("client-key.pem"),
        }
    }

    /// The files under `dir`: reused when all five exist, generated (with the directory)
    /// otherwise. The CA's key is not kept: nothing else is ever signed with it.
    pub fn ensure(dir: &Path) -> Result<Self, SandboxError> {
        let files = Self::in_dir(dir);
        let all = [
            &files.ca,
            &files.cert,
            &files.key,
            &files.client_cert,
            &files.client_key,
        ];
        if all.iter().all(|f| f.is_file()) {
            return Ok(files);
        }
        std::fs::create_dir_all(dir).map_err(|e| SandboxError::io("create directory", dir, e))?;
        let generated = generate().map_err(|source| SandboxError::Certificate {
            dir: dir.to_path_buf(),
            source,
        })?;
        write(&files.key, &generated.key, 0o600)?;
        write(&files.cert, &generated.cert, 0o644)?;
        write(&files.client_key, &generated.client_key, 0o600)?;
        write(&files.client_cert, &generated.client_cert, 0o644)?;
        write(&files.ca, &generated.ca, 0o644)?;
        Ok(files)
    }
}

/// PEM text of a freshly generated pair.
struct Generated {
    ca: String,
    cert: String,
    key: String,
    client_cert: String,
    client_key: String,
}

fn generate() -> Result<Generated, rcgen::Error> {
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "myquorum sandbox CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;

    let mut client_params = CertificateParams::new(Vec::<String>::new())?;
    client_params
        .distinguished_name
        .push(DnType::CommonName, "myquorum proxy");
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate()?;
    let client_cert = client_params.signed_by(&client_key, &issuer)?;
    Ok(Generated {
        ca: ca_cert.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
        client_cert: client_cert.pem(),
        client_key: client_key.serialize_pem(),
    })
}

fn write(path: &Path, pem: &str, mode: u32) -> Result<(), SandboxError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| SandboxError::io("write", path, e))?;
    std::io::Write::write_all(&mut file, pem.as_bytes())
        .map_err(|e| SandboxError::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first call writes five PEM files; the second reuses them unchanged.
    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tls_dir = dir.path().join("tls");
        let files = TlsFiles::ensure(&tls_dir).expect("generated");
        let cert = std::fs::read_to_string(&files.cert).expect("cert");
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        let key = std::fs::read_to_string(&files.key).expect("key");
        assert!(key.contains("PRIVATE KEY"));
        let client = std::fs::read_to_string(&files.client_cert).expect("client cert");
        assert!(client.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(client, cert, "a certificate of its own");
        let again = TlsFiles::ensure(&tls_dir).expect("reused");
        assert_eq!(again, files);
        assert_eq!(std::fs::read_to_string(&again.cert).expect("cert"), cert);
    }
}
