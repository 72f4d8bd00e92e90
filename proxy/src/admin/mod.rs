//! The admin SQL port (6032 by default): a MySQL-protocol listener that answers
//! `SHOW BACKENDS`, `SHOW SESSIONS`, `SHOW CONFIG` and `SHOW POOL` from the proxy's shared
//! state, plus the chatter that drivers and the `mariadb` CLI send on connect.
//!
//! It is built on the proxy's own codec ([`crate::packet`], the frontend handshake) and a
//! small result-set writer, not opensrv-mysql (DESIGN.md section 1 says why). Accounts are
//! `admin_users` from the configuration, checked by the proxy alone.

mod commands;
mod server;
mod show;

use std::future::Future;
use tokio::net::TcpListener;

use crate::error::ProxyError;
use crate::server::Proxy;

/// Runs the admin port on `listener` until `shutdown` resolves, then stops accepting, tells
/// idle admin clients the server is going away (1053) and waits for them up to
/// `shutdown_grace_ms`. Shares `proxy`'s state with its MySQL port.
pub async fn serve_admin(
    proxy: &Proxy,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ProxyError> {
    server::run(proxy, listener, shutdown).await
}
