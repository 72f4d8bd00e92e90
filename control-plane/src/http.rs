//! [`serve_http`]: the HTTP accept loop of the coordinator and of every legacy service,
//! written on hyper directly because `axum::serve` has neither a header read timeout nor a
//! bounded shutdown: a client that never finishes its headers would hold its connection
//! forever, and one slow request would hold shutdown forever.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use tracing::{debug, warn};

use crate::guard::LocalAddr;

/// Timeouts of one HTTP listener (from [`crate::ControlPlaneConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Time a client has to send a request's headers before it is disconnected.
    pub header_read_timeout: Duration,
    /// How long shutdown lets requests in flight finish before dropping their connections.
    pub shutdown_grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets
/// requests in flight finish for at most [`HttpLimits::shutdown_grace`] (idle keep-alive
/// connections close at once), and drops whatever is left. With `tls`, every connection runs
/// a TLS handshake first (bounded by the header read timeout) and one that fails it (plain
/// HTTP included) is closed.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let graceful = GracefulShutdown::new();
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(error) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!(%error, "HTTP accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let local = stream.local_addr().ok().map(LocalAddr);
                let router = router.clone();
                let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                    if let Some(local) = local {
                        req.extensions_mut().insert(local);
                    }
                    router.clone().call(req)
                });
                let builder = builder(limits);
                match &tls {
                    None => {
                        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                        conns.spawn(async move {
                            if let Err(error) = conn.await {
                                debug!(%peer, %error, "HTTP connection ended with an error");
                            }
                        });
                    }
                    Some(acceptor) => {
                        let handshake = acceptor.accept(stream);
                        let watcher = graceful.watcher();
                        conns.spawn(async move {
                            let stream = match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(error)) => {
                                    debug!(%peer, %error, "HTTPS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    debug!(%peer, "HTTPS handshake timed out");
                                    return;
                                }
                            };
                            let conn = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
                            if let Err(error) = conn.await {
                                debug!(%peer, %error, "HTTPS connection ended with an error");
                            }
                        });
                    }
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            left = conns.len(),
            grace_ms = limits.shutdown_grace.as_millis() as u64,
            "HTTP requests still running after the shutdown grace; dropping their connections"
        );
        conns.abort_all();
    }
    while conns.join_next().await.is_some() {}
}

/// The HTTP/1 connection settings of every listener.
fn builder(limits: HttpLimits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
}
