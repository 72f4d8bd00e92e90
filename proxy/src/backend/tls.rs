//! TLS from the proxy to its backends (`[proxy.backend_tls]`).
//!
//! The proxy is the MySQL client here: after the server's greeting it sends a 32-byte
//! SSLRequest, runs the client side of a TLS handshake on the same socket, and sends its
//! handshake response encrypted ([`crate::backend::conn::connect`]). [`BackendTls`] holds the
//! rustls client configuration, built once from the section; [`BackendStream`] is the socket a
//! backend connection reads and writes, plain or TLS, one enum so the hot path dispatches with
//! a `match` and no per-packet allocation.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::BackendTlsConfig;
use crate::error::{BackendError, ConfigError};

/// The rustls client side of backend connections, built once from `[proxy.backend_tls]`;
/// cloning shares the configuration.
#[derive(Clone)]
pub struct BackendTls {
    connector: TlsConnector,
    /// The CA file and the identity policy, for `mysql_async` control connections, which
    /// build their own rustls configuration from paths ([`Self::ssl_opts`]).
    config: BackendTlsConfig,
}

impl std::fmt::Debug for BackendTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendTls")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl BackendTls {
    /// Reads the CA (and the client certificate, when set). None when the section names no
    /// CA (backend TLS off); errors name the key whose file is missing or unusable.
    pub fn from_config(config: &BackendTlsConfig) -> Result<Option<Self>, ConfigError> {
        let Some(ca) = &config.ca else {
            if config.cert.is_some() || config.key.is_some() {
                return Err(ConfigError::invalid(
                    "proxy.backend_tls.ca",
                    "a client certificate needs the CA that verifies the servers",
                ));
            }
            return Ok(None);
        };
        let mut roots = RootCertStore::empty();
        for cert in crate::tls::read_chain(ca, "proxy.backend_tls.ca")? {
            roots.add(cert).map_err(|e| {
                ConfigError::invalid(
                    "proxy.backend_tls.ca",
                    format!("{}: unusable CA certificate: {e}", ca.display()),
                )
            })?;
        }
        // ring, as on the client side (crate::tls).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| ConfigError::invalid("proxy.backend_tls.ca", e.to_string()))?;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::invalid("proxy.backend_tls", e.to_string()))?;
        let builder = if config.verify_identity {
            builder.with_webpki_verifier(verifier)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
        };
        let client = match (&config.cert, &config.key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = crate::tls::read_chain(cert, "proxy.backend_tls.cert")?;
                let key_der = crate::tls::read_key(key, "proxy.backend_tls.key")?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    ConfigError::invalid(
                        "proxy.backend_tls.key",
                        format!("{} does not fit the certificate: {e}", key.display()),
                    )
                })?
            }
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "proxy.backend_tls.key",
                    "a client certificate needs its private key",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "proxy.backend_tls.cert",
                    "a private key needs its certificate",
                ))
            }
        };
        Ok(Some(Self {
            connector: TlsConnector::from(Arc::new(client)),
            config: config.clone(),
        }))
    }

    /// Runs the client side of the TLS handshake with the server at `addr` over `socket`
    /// (the SSLRequest already sent). The certificate is checked against the CA and, with
    /// `verify_identity`, against the host part of `addr`.
    pub async fn handshake(
        &self,
        addr: &str,
        socket: TcpStream,
    ) -> Result<TlsStream<TcpStream>, BackendError> {
        let name = server_name(addr)?;
        self.connector
            .connect(name, socket)
            .await
            .map_err(|e| BackendError::Tls {
                addr: addr.to_owned(),
                reason: e.to_string(),
            })
    }

    /// The same policy for a `mysql_async` connection (the proxy's control connections).
    pub fn ssl_opts(&self) -> mysql_async::SslOpts {
        let mut opts = mysql_async::SslOpts::default()
            .with_disable_built_in_roots(true)
            .with_danger_skip_domain_validation(!self.config.verify_identity);
        if let Some(ca) = &self.config.ca {
            opts = opts.with_root_certs(vec![ca.clone().into()]);
        }
        if let (Some(cert), Some(key)) = (&self.config.cert, &self.config.key) {
            opts = opts.with_client_identity(Some(mysql_async::ClientIdentity::new(
                cert.clone().into(),
                key.clone().into(),
            )));
        }
        opts
    }
}

/// Whether a `mysql_async` connect failed on TLS (the server offers none, the handshake
/// failed, or its certificate did not verify): the server is up and answering, so control
/// connections treat it as a configuration fault to report, not as a dead node.
pub fn is_tls_refusal(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) => true,
        mysql_async::Error::Io(mysql_async::IoError::Tls(_)) => true,
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => io
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>()),
        _ => false,
    }
}

/// The name the server's certificate must carry: the host part of `host:port` (an IP
/// address or a DNS name; brackets of an IPv6 literal removed).
fn server_name(addr: &str) -> Result<ServerName<'static>, BackendError> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| BackendError::Tls {
        addr: addr.to_owned(),
        reason: format!("{host:?} is not a name a certificate can carry: {e}"),
    })
}

/// `verify_identity = false`: the chain must still lead to the CA (expiry, signatures, usage
/// all checked by webpki); only a certificate valid for another name is let through. webpki
/// checks the name after the chain, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The socket of a backend connection: plain, or TLS after the SSLRequest. The TLS state is
/// boxed once per connection (it is large); reads and writes only `match`.
#[derive(Debug)]
pub enum BackendStream {
    /// Plaintext.
    Plain(TcpStream),
    /// TLS over the socket.
    Tls(Box<TlsStream<TcpStream>>),
    /// A TLS handshake failed and took the socket with it: reads see EOF, writes fail.
    Closed,
}

impl BackendStream {
    /// A connected socket (Nagle off: the protocol is request/response).
    pub fn plain(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Self::Plain(stream)
    }

    /// True once the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// Switches the plain socket to TLS (the SSLRequest already sent).
    pub async fn start_tls(&mut self, tls: &BackendTls, addr: &str) -> Result<(), BackendError> {
        let Self::Plain(socket) = std::mem::replace(self, Self::Closed) else {
            return Err(BackendError::Protocol("TLS started twice".to_owned()));
        };
        *self = Self::Tls(Box::new(tls.handshake(addr, socket).await?));
        Ok(())
    }
}

impl crate::packet::Socket for BackendStream {
    fn socket(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(s) => Some(s),
            Self::Tls(s) => Some(s.get_ref().0),
            Self::Closed => None,
        }
    }
}

impl AsyncRead for BackendStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Self::Closed => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for BackendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::Closed => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "backend TLS handshake failed",
            ))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::Closed => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::Closed => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn refusal_key(c: &BackendTlsConfig) -> String {
        BackendTls::from_config(c).expect_err("refused").key
    }

    /// No CA: off. A client certificate without a CA, half a client pair, a missing or
    /// non-PEM CA file are refused with the key at fault.
    #[test]
    fn unusable_settings_are_refused_with_their_key() {
        assert!(BackendTls::from_config(&BackendTlsConfig::default())
            .expect("off")
            .is_none());
        let missing = PathBuf::from("/nonexistent/myquorum/ca.pem");
        let with = |ca: Option<&PathBuf>, cert: Option<&PathBuf>, key: Option<&PathBuf>| {
            BackendTlsConfig {
                ca: ca.cloned(),
                cert: cert.cloned(),
                key: key.cloned(),
                ..BackendTlsConfig::default()
            }
        };
        assert_eq!(
            refusal_key(&with(None, Some(&missing), Some(&missing))),
            "proxy.backend_tls.ca"
        );
        assert_eq!(
            refusal_key(&with(Some(&missing), None, None)),
            "proxy.backend_tls.ca"
        );
        let dir = tempfile_dir();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").expect("write");
        assert_eq!(
            refusal_key(&with(Some(&junk), None, None)),
            "proxy.backend_tls.ca"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("myquorum-btls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// The host part of `addr` is the name checked: IPv4, IPv6 in brackets, DNS names.
    #[test]
    fn server_names_come_from_the_address() {
        assert!(matches!(
            server_name("127.0.0.1:3306"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("[::1]:3306"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("db-1.example:3306"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(server_name("bad name:3306").is_err());
    }
}
