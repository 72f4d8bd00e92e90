//! The admin port's accept loop and per-connection command loop. Logins go through the same
//! handshake as the MySQL port (TLS included), checked against `admin_users`; admin connections take no
//! backend connection and are not listed in the session registry.

use mysql_common::constants::{CapabilityFlags, Command};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, instrument};

use super::commands::{self, Statement, Variable};
use super::show;
use crate::compress::Compressed;
use crate::context::ProxyContext;
use crate::error::{MysqlError, ProxyError, SessionError};
use crate::frontend::commands::{command, name as command_name};
use crate::frontend::handshake::{self, Login};
use crate::idle::IdleTimer;
use crate::listener::{self, Drain, SpawnOn};
use crate::packet::{err_payload, PacketIo, ReadError};

use crate::frontend::ClientIo;
use crate::resultset::{self, Framing, Kind, ResultSet};
use crate::server::Proxy;
use crate::tls::ClientStream;

/// Largest command an admin client may send: admin statements are short.
const MAX_ADMIN_PACKET: usize = 1 << 20;

/// What `@@wait_timeout` reports: the server default. The admin port never closes an idle
/// connection; the value only keeps drivers from treating theirs as expired.
const IDLE_TIMEOUT_SECS: u64 = 28_800;

/// The text `SELECT @@version_comment` answers with.
const VERSION_COMMENT: &str = "myquorum admin";

/// Runs the accept loop ([`crate::listener::serve`], on this runtime) until `shutdown`
/// resolves, then drains like the MySQL port: stop accepting, answer 1053 to idle clients,
/// wait up to `shutdown_grace_ms`.
pub async fn run(
    proxy: &Proxy,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ProxyError> {
    let shared = proxy.context();
    let drain = Drain {
        name: "admin",
        grace: Duration::from_millis(shared.config.shutdown_grace_ms),
    };
    listener::serve(
        listener,
        shutdown,
        drain,
        SpawnOn::Here,
        |stream, peer, stop| {
            let id = shared.next_connection_id();
            crate::limits::set_keepalive(&stream, shared.config.limits.tcp_keepalive());
            let mut io = PacketIo::over(ClientStream::plain(stream)).map_stream(Compressed::new);
            io.set_write_timeout(Some(shared.config.limits.client_write_timeout()));
            Some(connection(io, id, peer, Arc::clone(shared), stop))
        },
    )
    .await;
    info!("admin port stopped");
    Ok(())
}

/// Serves one admin client to its end; errors are logged here, once.
#[instrument(name = "admin", skip_all, fields(id = id, peer = %peer))]
async fn connection(
    mut io: ClientIo,
    id: u32,
    peer: SocketAddr,
    shared: Arc<ProxyContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    match serve(&mut io, id, peer, &shared, &mut shutdown).await {
        Ok(()) | Err(SessionError::ClientGone(_)) => debug!("admin connection closed"),
        Err(e) => debug!(error = %e, "admin connection ended"),
    }
    io.shutdown().await;
}

async fn serve(
    io: &mut ClientIo,
    id: u32,
    peer: SocketAddr,
    shared: &ProxyContext,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), SessionError> {
    // The same login deadline as the MySQL port: a silent client holds nothing for long.
    let login = handshake::authenticate_within(
        io,
        id,
        peer.ip(),
        shared.door(&shared.config.admin_users),
        shared.config.limits.handshake_timeout(),
    )
    .await?;
    let Login::Accepted(hello) = login else {
        return Ok(());
    };
    send(io, hello.next_seq, &resultset::ok(0x00)).await?;
    io.start_compression(
        hello
            .capabilities
            .contains(CapabilityFlags::CLIENT_COMPRESS),
    );
    let framing = Framing::new(hello.capabilities, hello.mariadb_capabilities);
    debug!(
        user = %hello.user.name,
        deprecate_eof = hello.capabilities.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
        "admin login"
    );
    // The same idle limit as the MySQL port: an idle admin client is closed without a word.
    let mut idle = IdleTimer::new(shared.config.limits.client_idle_timeout());
    loop {
        idle.touch();
        let read = tokio::select! {
            biased;
            _ = shutdown.changed() => {
                let e = MysqlError::shutdown();
                return send(io, 0, &err_payload(e.code, e.state, &e.message)).await;
            }
            read = io.read_packet(MAX_ADMIN_PACKET) => read,
            () = idle.expired() => return Err(SessionError::IdleTimeout),
        };
        let packet = match read {
            Ok(p) => p,
            Err(ReadError::Io(e)) => return Err(SessionError::ClientGone(e)),
            Err(ReadError::TooLarge(_)) => {
                let e = MysqlError::packet_too_large();
                return send(io, 0, &err_payload(e.code, e.state, &e.message)).await;
            }
        };
        let seq = packet.next_seq();
        match packet.payload.first().map(|&b| (b, command(b))) {
            Some((_, Some(Command::COM_QUIT))) => return Ok(()),
            Some((_, Some(Command::COM_INIT_DB | Command::COM_PING))) => {
                send(io, seq, &resultset::ok(0x00)).await?
            }
            Some((_, Some(Command::COM_QUERY))) => {
                let sql = String::from_utf8_lossy(&packet.payload[1..]);
                let who = Who {
                    user: &hello.user.name,
                    host: &peer.ip().to_string(),
                };
                query(io, seq, framing, shared, who, &sql).await?;
            }
            Some((other, _)) => {
                let e = MysqlError::unknown_command(command_name(other));
                send(io, seq, &err_payload(e.code, e.state, &e.message)).await?;
            }
            None => {
                return Err(SessionError::ClientProtocol(
                    "empty command packet".to_owned(),
                ))
            }
        }
    }
}

/// Answers one COM_QUERY.
#[instrument(skip(io, framing, shared, who))]
async fn query(
    io: &mut ClientIo,
    seq: u8,
    framing: Framing,
    shared: &ProxyContext,
    who: Who<'_>,
    sql: &str,
) -> Result<(), SessionError> {
    let rs = match commands::parse(sql) {
        Statement::ShowBackends => show::backends(shared).await,
        Statement::ShowSessions => show::sessions(shared),
        Statement::ShowConfig => show::config(&shared.config),
        Statement::ShowPool => show::pool(shared),
        Statement::ShowQuorum => show::quorum(shared),
        Statement::ShowPins => show::pins(shared),
        Statement::ShowMetrics => show::metrics(shared),
        Statement::Select(items) => select(shared, who, &items),
        Statement::Set => return send(io, seq, &resultset::ok(0x00)).await,
        Statement::Unsupported(stmt) => {
            let e = MysqlError::admin_unsupported(&stmt);
            return send(io, seq, &err_payload(e.code, e.state, &e.message)).await;
        }
    };
    resultset::queue(io, seq, framing, &rs);
    io.flush().await.map_err(SessionError::ClientGone)
}

/// The logged-in admin account, for `USER()`.
#[derive(Debug, Clone, Copy)]
struct Who<'a> {
    user: &'a str,
    host: &'a str,
}

/// The one-row answer to a `SELECT` of connect-time variables.
fn select(shared: &ProxyContext, who: Who<'_>, items: &[(String, Variable)]) -> ResultSet {
    let columns: Vec<(&str, Kind)> = items
        .iter()
        .map(|(label, var)| {
            let kind = match var {
                Variable::MaxAllowedPacket
                | Variable::WaitTimeout
                | Variable::InteractiveTimeout => Kind::Unsigned,
                _ => Kind::Text,
            };
            (label.as_str(), kind)
        })
        .collect();
    let mut rs = ResultSet::new(&columns);
    let row = items
        .iter()
        .map(|(_, var)| match var {
            Variable::VersionComment => Some(VERSION_COMMENT.to_owned()),
            Variable::Version => Some(version(shared)),
            Variable::MaxAllowedPacket => Some(MAX_ADMIN_PACKET.to_string()),
            Variable::WaitTimeout | Variable::InteractiveTimeout => {
                Some(IDLE_TIMEOUT_SECS.to_string())
            }
            Variable::Charset => Some("utf8mb4".to_owned()),
            Variable::Socket | Variable::Database => None,
            Variable::User => Some(format!("{}@{}", who.user, who.host)),
        })
        .collect();
    rs.push(row);
    rs
}

/// The version a server would report to `SELECT VERSION()`: the greeting's, without the
/// `5.5.5-` prefix MariaDB puts there for old replication clients.
fn version(shared: &ProxyContext) -> String {
    let v = &shared.server.version;
    let v = v.strip_prefix("5.5.5-").unwrap_or(v);
    format!("{v}{}", shared.config.version_suffix)
}

async fn send(io: &mut ClientIo, seq: u8, payload: &[u8]) -> Result<(), SessionError> {
    io.send_packet(seq, payload)
        .await
        .map(|_| ())
        .map_err(SessionError::ClientGone)
}
