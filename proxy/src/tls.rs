//! TLS on the client side of the MySQL-protocol ports (the MySQL port and the admin port).
//!
//! MySQL clients switch to TLS inside the protocol: the greeting advertises CLIENT_SSL, the
//! client answers with a 32-byte SSLRequest (the first 32 bytes of a handshake response),
//! both sides run a TLS handshake on the same socket, and the real handshake response follows
//! encrypted, with the next sequence id. This module holds the server side of that TLS
//! handshake ([`ServerTls`], built once from `[proxy.tls]`) and the stream a session reads and
//! writes ([`ClientStream`]), which is a plain socket until the client asks for TLS.
//!
//! The backend side is independent: [`crate::backend::tls`] (`[proxy.backend_tls]`).

use bytes::{Buf, Bytes};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;
use crate::error::ConfigError;

/// The server's certificate and key, ready to accept TLS handshakes, plus the policy of the
/// ports (`require_tls`). Built once at start; cloning shares the rustls configuration.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
    /// Refuse logins that did not switch to TLS (as the server refuses `REQUIRE SSL`
    /// accounts).
    pub require: bool,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("require", &self.require)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads `[proxy.tls]`'s certificate chain and key. None when the section names no
    /// certificate (TLS off); errors name the key whose file is missing or unusable.
    pub fn from_config(config: &TlsConfig) -> Result<Option<Self>, ConfigError> {
        let (cert, key) = match (&config.cert, &config.key) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "proxy.tls.key",
                    "a certificate needs its private key",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "proxy.tls.cert",
                    "a private key needs its certificate",
                ))
            }
            (Some(c), Some(k)) => (c, k),
        };
        let server = server_config(cert, key, "proxy.tls")?;
        Ok(Some(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            require: config.require_tls,
        }))
    }
}

/// A rustls server configuration serving the certificate chain in `cert` with the private
/// key in `key`; errors name `section.cert` or `section.key`. Shared by the MySQL-protocol
/// ports and the control plane's HTTPS listener (`[control_plane.tls]`).
pub fn server_config(
    cert: &Path,
    key: &Path,
    section: &str,
) -> Result<rustls::ServerConfig, ConfigError> {
    let chain = read_chain(cert, &format!("{section}.cert"))?;
    let key_der = read_key(key, &format!("{section}.key"))?;
    // ring, not aws-lc-rs: it builds with a C compiler alone. rustls deprecated its ring
    // provider for lacking post-quantum key exchange; classic X25519/ECDHE is what MySQL
    // clients offer today.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::invalid(section, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            ConfigError::invalid(
                format!("{section}.key"),
                format!("{} does not fit the certificate: {e}", key.display()),
            )
        })
}

/// The certificates of a PEM file (at least one); errors name `config_key`, the setting that
/// gave the path.
pub(crate) fn read_chain(
    path: &Path,
    config_key: &str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bad = |reason: String| ConfigError::invalid(config_key, reason);
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    let chain = iter
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("{} is not PEM: {e}", path.display())))?;
    if chain.is_empty() {
        return Err(bad(format!("{} has no CERTIFICATE block", path.display())));
    }
    Ok(chain)
}

/// The private key of a PEM file; errors name `config_key`, the setting that gave the path.
pub(crate) fn read_key(
    path: &Path,
    config_key: &str,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let bad = |reason: String| ConfigError::invalid(config_key, reason);
    if let Err(e) = std::fs::metadata(path) {
        return Err(bad(format!("cannot read {}: {e}", path.display())));
    }
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        bad(format!(
            "{} has no usable PEM private key: {e}",
            path.display()
        ))
    })
}

/// The client side of a MySQL-protocol connection: the accepted socket, or TLS over it once
/// the client sent an SSLRequest. One type for both so a session's [`crate::packet::PacketIo`]
/// keeps its type when it switches.
#[derive(Debug)]
pub enum ClientStream {
    /// Plaintext, as accepted.
    Plain(TcpStream),
    /// TLS, after the SSLRequest.
    Tls(Box<TlsStream<Rewind>>),
    /// A TLS handshake failed: the socket is gone; reads see EOF, writes fail.
    Closed,
}

impl ClientStream {
    /// An accepted socket (Nagle off: the protocol is request/response).
    pub fn plain(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Self::Plain(stream)
    }

    /// True once the connection runs over TLS (for the login policy and `SHOW SESSIONS`).
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// Runs the server side of the TLS handshake on the plain socket. `already_read` holds
    /// bytes the packet reader took from the socket after the SSLRequest: clients send their
    /// TLS ClientHello without waiting, so it may have been read along with it.
    pub async fn start_tls(&mut self, tls: &ServerTls, already_read: Bytes) -> io::Result<()> {
        let Self::Plain(socket) = std::mem::replace(self, Self::Closed) else {
            return Err(io::Error::other("TLS requested twice"));
        };
        let rewind = Rewind {
            prefix: already_read,
            inner: socket,
        };
        let stream = tls.acceptor.accept(rewind).await?;
        *self = Self::Tls(Box::new(stream));
        Ok(())
    }
}

impl AsyncRead for ClientStream {
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

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::Closed => Poll::Ready(Err(closed())),
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

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "TLS handshake failed")
}

/// A socket with bytes already read from it put back in front: what the TLS handshake reads
/// when the ClientHello arrived in the same read as the SSLRequest.
#[derive(Debug)]
pub struct Rewind {
    prefix: Bytes,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.has_remaining() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn config(cert: Option<&Path>, key: Option<&Path>) -> TlsConfig {
        TlsConfig {
            cert: cert.map(Path::to_path_buf),
            key: key.map(Path::to_path_buf),
            require_tls: false,
        }
    }

    fn refusal_key(c: &TlsConfig) -> String {
        ServerTls::from_config(c).expect_err("refused").key
    }

    /// No certificate: TLS is off. Half a pair, a missing file and a file that is not PEM are
    /// refused with the key at fault.
    #[test]
    fn unusable_files_are_refused_with_their_key() {
        assert!(ServerTls::from_config(&config(None, None))
            .expect("no TLS")
            .is_none());
        let missing = PathBuf::from("/nonexistent/myquorum/server.pem");
        assert_eq!(refusal_key(&config(Some(&missing), None)), "proxy.tls.key");
        assert_eq!(refusal_key(&config(None, Some(&missing))), "proxy.tls.cert");
        assert_eq!(
            refusal_key(&config(Some(&missing), Some(&missing))),
            "proxy.tls.cert"
        );
        let dir = std::env::temp_dir().join(format!("myquorum-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").expect("write");
        assert_eq!(
            refusal_key(&config(Some(&junk), Some(&junk))),
            "proxy.tls.cert"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
