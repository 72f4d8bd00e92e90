//! HTTPS on the coordinator API (`[control_plane.tls]`): the certificate and key it serves,
//! and the rule that a listener beyond loopback speaks TLS unless the operator explicitly
//! opted out (TLS terminated by a reverse proxy in front, for instance). Loopback listeners
//! may stay plain HTTP, as before. The legacy service ports (`legacy_ports`) stay plain HTTP:
//! the old system's clients speak nothing else.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

use crate::error::ControlPlaneError;

/// `[control_plane.tls]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpTlsConfig {
    /// PEM file with the server certificate, then any intermediates. With `key`, the API is
    /// served over HTTPS only.
    pub cert: Option<PathBuf>,
    /// PEM file with its private key.
    pub key: Option<PathBuf>,
    /// Serve plain HTTP beyond loopback anyway (refused otherwise). For a listener that
    /// only a TLS-terminating reverse proxy reaches.
    pub allow_plaintext: bool,
}

impl HttpTlsConfig {
    /// The acceptor of the configured certificate (None: plain HTTP). Errors name the key
    /// whose file is missing or unusable.
    pub fn acceptor(&self) -> Result<Option<TlsAcceptor>, ControlPlaneError> {
        let (cert, key) = match (&self.cert, &self.key) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(invalid(
                    "control_plane.tls.key",
                    "a certificate needs its private key",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "control_plane.tls.cert",
                    "a private key needs its certificate",
                ))
            }
            (Some(c), Some(k)) => (c, k),
        };
        let mut config = myquorum_proxy::tls::server_config(cert, key, "control_plane.tls")
            .map_err(|e| invalid(static_key(&e.key), e.reason))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(TlsAcceptor::from(Arc::new(config))))
    }

    /// Whether a certificate is configured (the API is served over HTTPS).
    pub fn enabled(&self) -> bool {
        self.cert.is_some()
    }
}

/// Refuses plain HTTP on `listen` beyond loopback unless `allow_plaintext`: the bearer token
/// and every answer would cross the network in clear.
pub fn check_tls(tls: &HttpTlsConfig, listen: &SocketAddr) -> Result<(), String> {
    if !tls.enabled() && !tls.allow_plaintext && !listen.ip().is_loopback() {
        return Err(format!(
            "the API listens on {listen}, beyond loopback: set control_plane.tls.cert and key \
             (HTTPS), or control_plane.tls.allow_plaintext = true when a TLS-terminating proxy \
             stands in front"
        ));
    }
    Ok(())
}

fn static_key(key: &str) -> &'static str {
    match key {
        "control_plane.tls.cert" => "control_plane.tls.cert",
        "control_plane.tls.key" => "control_plane.tls.key",
        _ => "control_plane.tls",
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ControlPlaneError {
    ControlPlaneError::Config {
        key,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(result: Result<Option<TlsAcceptor>, ControlPlaneError>) -> &'static str {
        match result {
            Err(ControlPlaneError::Config { key, .. }) => key,
            Err(other) => panic!("not a configuration error: {other}"),
            Ok(_) => panic!("accepted"),
        }
    }

    /// Beyond loopback: TLS or the explicit opt-out; loopback: plain HTTP is fine.
    #[test]
    fn plain_http_beyond_loopback_needs_the_opt_out() {
        let lan: SocketAddr = "0.0.0.0:9000".parse().expect("addr");
        let local: SocketAddr = "127.0.0.1:9000".parse().expect("addr");
        let plain = HttpTlsConfig::default();
        assert!(check_tls(&plain, &local).is_ok());
        let refused = check_tls(&plain, &lan).expect_err("refused");
        assert!(refused.contains("allow_plaintext"), "{refused}");
        let opted_out = HttpTlsConfig {
            allow_plaintext: true,
            ..HttpTlsConfig::default()
        };
        assert!(check_tls(&opted_out, &lan).is_ok());
        let tls = HttpTlsConfig {
            cert: Some("/c.pem".into()),
            key: Some("/k.pem".into()),
            ..HttpTlsConfig::default()
        };
        assert!(check_tls(&tls, &lan).is_ok());
    }

    /// Half a pair and missing files are refused with the key at fault.
    #[test]
    fn unusable_files_are_refused_with_their_key() {
        let missing = PathBuf::from("/nonexistent/myquorum/cert.pem");
        let with = |cert: Option<&PathBuf>, key: Option<&PathBuf>| HttpTlsConfig {
            cert: cert.cloned(),
            key: key.cloned(),
            allow_plaintext: false,
        };
        assert!(with(None, None).acceptor().expect("off").is_none());
        assert_eq!(
            key_of(with(Some(&missing), None).acceptor()),
            "control_plane.tls.key"
        );
        assert_eq!(
            key_of(with(None, Some(&missing)).acceptor()),
            "control_plane.tls.cert"
        );
        assert_eq!(
            key_of(with(Some(&missing), Some(&missing)).acceptor()),
            "control_plane.tls.cert"
        );
    }
}
