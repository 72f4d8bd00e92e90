//! The MySQL listener: probes the primary, accepts clients, runs one session task each, and
//! drains them on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

use crate::backend::conn::probe;
use crate::backend::{BackendTls, ServerInfo};
use crate::cluster::{AckLog, ClusterHandle, PersistedTopology, Resumed, StateError};
use crate::config::{BackendNode, ProxyConfig};
use crate::context::ProxyContext;
use crate::error::{ConfigError, MysqlError, ProxyError};
use crate::frontend::session;
use crate::limits;
use crate::listener::{self, Drain, SpawnOn};
use crate::packet::{err_payload, PacketIo};
use crate::quorum::{QuorumTracker, TrackerConfig};
use crate::tls::{ClientStream, ServerTls};
use crate::workers::Workers;

/// How long start-up keeps probing a backend that does not answer yet.
const PROBE_DEADLINE: Duration = Duration::from_secs(30);

/// A started proxy: configuration validated and the primary probed. Its listeners (the MySQL
/// port here, the admin port in [`crate::admin`], HTTP `/query` through [`Self::engine`])
/// share one [`ProxyContext`].
#[derive(Debug, Clone)]
pub struct Proxy {
    shared: Arc<ProxyContext>,
}

impl Proxy {
    /// Validates `config` and probes the primary (retrying while it comes up).
    pub async fn start(mut config: ProxyConfig) -> Result<Self, ProxyError> {
        config.validate()?;
        let tls = ServerTls::from_config(&config.tls)?;
        let state_error = |e: StateError| ConfigError::invalid("proxy.state_dir", e.to_string());
        let persisted = match &config.state_dir {
            Some(dir) => PersistedTopology::load(dir).map_err(state_error)?,
            None => None,
        }
        .filter(|t| config.node(&t.primary).is_some());
        let acks = AckLog::open(config.state_dir.as_deref()).map_err(state_error)?;
        let primary_id = persisted
            .as_ref()
            .map_or(config.primary.as_str(), |t| t.primary.as_str());
        if primary_id != config.primary {
            info!(persisted = primary_id, configured = %config.primary,
                "resuming with the persisted primary (a failover happened before the restart)");
        }
        let primary = config
            .node(primary_id)
            .cloned()
            .ok_or_else(|| ConfigError::invalid("proxy.primary", "unknown node"))?;
        let server = probe_until_up(&primary, config.pool.connect_timeout()).await?;
        info!(version = %server.version, node = %primary.id, "backend probed");
        let backend_tls = BackendTls::from_config(&config.backend_tls)?;
        let ssl = backend_tls.as_ref().map(BackendTls::ssl_opts);
        let max_allowed_packet = check_primary(&primary, &config, ssl.clone()).await?;
        if config.max_packet_size == 0 {
            // A client packet the server would refuse is refused by the proxy first (1153),
            // without buffering more than the server accepts.
            config.max_packet_size = usize::try_from(max_allowed_packet).unwrap_or(usize::MAX);
        }
        let fenced = persisted
            .as_ref()
            .map(|t| t.fenced.clone())
            .unwrap_or_default();
        let replicas: Vec<BackendNode> = config
            .nodes
            .iter()
            .filter(|n| n.id != primary.id && !fenced.iter().any(|f| **f == *n.id))
            .cloned()
            .collect();
        let mut template =
            TrackerConfig::new(Vec::new(), &config.control_user, &config.control_password);
        template.failure_threshold = config.quorum.failure_threshold;
        template.timeout = Duration::from_millis(config.quorum.timeout_ms);
        template.follow_interval = Duration::from_millis(config.quorum.follow_interval_ms);
        template.domain = config.gtid_domain;
        template.ssl = ssl;
        let quorum = if replicas.is_empty() {
            None
        } else {
            let tracker = TrackerConfig {
                replicas,
                ..template.clone()
            };
            Some(
                QuorumTracker::start(tracker)
                    .map_err(|e| ConfigError::invalid("proxy.quorum", e.to_string()))?,
            )
        };
        let resumed = Resumed {
            topology: persisted,
            acks,
            tracker_template: Some(template),
        };
        let cluster = ClusterHandle::resume(&config, quorum, resumed);
        let mut shared = ProxyContext::new(config, server, cluster, backend_tls);
        shared.tls = tls;
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// The context the listeners share (the control plane's handle on the proxy).
    pub fn context(&self) -> &Arc<ProxyContext> {
        &self.shared
    }

    /// Runs statements outside client sessions (HTTP `/query`).
    pub fn engine(&self) -> crate::engine::Engine {
        crate::engine::Engine::new(Arc::clone(&self.shared))
    }

    /// Runs the MySQL front door on `listener` until `shutdown` resolves, then stops
    /// accepting, tells idle sessions the server is going away (1053), waits for in-flight
    /// commands up to `shutdown_grace_ms`, and closes the pool.
    pub async fn serve_mysql(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ProxyError> {
        let shared = &self.shared;
        let workers = Workers::start(shared.config.io_threads).map_err(ProxyError::Workers)?;
        info!(threads = workers.len(), "session threads started");
        let drain = Drain {
            name: "mysql",
            grace: Duration::from_millis(shared.config.shutdown_grace_ms),
        };
        listener::serve(
            listener,
            shutdown,
            drain,
            SpawnOn::Workers(&workers),
            |stream, peer, stop| {
                let id = shared.registry.reserve_id();
                let shared = Arc::clone(shared);
                // Counted from accept to close, logged in or not: the cap bounds sockets.
                let slot = shared.limits.admit_client();
                limits::set_keepalive(&stream, shared.config.limits.tcp_keepalive());
                // The socket moves to the session's thread and its reactor.
                let stream = match stream.into_std() {
                    Ok(s) => s,
                    Err(e) => {
                        warn!(error = %e, "could not hand the connection to a session thread");
                        return None;
                    }
                };
                Some(async move {
                    let mut io = match TcpStream::from_std(stream) {
                        Ok(stream) => PacketIo::over(ClientStream::plain(stream)),
                        Err(e) => {
                            warn!(error = %e, "could not register the connection");
                            return;
                        }
                    };
                    io.set_write_timeout(Some(shared.config.limits.client_write_timeout()));
                    let Some(_slot) = slot else {
                        refuse(io, &MysqlError::too_many_connections()).await;
                        return;
                    };
                    if shared.limits.host_blocked(peer.ip()) {
                        refuse(io, &MysqlError::host_blocked(&peer.ip().to_string())).await;
                        return;
                    }
                    session::run(io, id, peer, shared, stop).await;
                })
            },
        )
        .await;
        // Sessions hand their connections back through reset tasks; close_all waits for
        // them (a reset is one round trip, bounded like any other with the backend).
        shared
            .pool
            .close_all(shared.config.pool.connect_timeout())
            .await;
        let _ = tokio::task::spawn_blocking(move || workers.stop()).await;
        if let Some(quorum) = shared.cluster.quorum() {
            quorum.shutdown().await;
        }
        info!("MySQL port stopped");
        Ok(())
    }
}

/// Starts a proxy and runs its MySQL port until `shutdown` resolves (see
/// [`Proxy::serve_mysql`]).
pub async fn serve(
    listener: TcpListener,
    config: ProxyConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ProxyError> {
    Proxy::start(config)
        .await?
        .serve_mysql(listener, shutdown)
        .await
}

/// Answers a connection the proxy will not serve with `e` in place of the greeting (sequence
/// id 0), as the server answers past `max_connections` or `max_connect_errors`, and closes it.
async fn refuse(mut io: PacketIo<ClientStream>, e: &MysqlError) {
    debug!(code = e.code, "connection refused before the greeting");
    let _ = io
        .send_packet(0, &err_payload(e.code, e.state, &e.message))
        .await;
    io.shutdown().await;
}

/// Checks the primary over a control connection and returns its `max_allowed_packet`: one GTID
/// domain (DESIGN.md section 3), its binlog position must name at most one domain, the
/// configured one.
async fn check_primary(
    primary: &BackendNode,
    config: &ProxyConfig,
    ssl: Option<mysql_async::SslOpts>,
) -> Result<u64, ProxyError> {
    use mysql_async::prelude::Queryable;
    let (host, port) = primary
        .addr
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_owned(), p)))
        .ok_or_else(|| {
            ConfigError::invalid(
                "proxy.nodes.addr",
                format!("{:?} is not host:port", primary.addr),
            )
        })?;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(config.control_user.clone()))
        .pass(Some(config.control_password.clone()))
        .prefer_socket(false)
        .ssl_opts(ssl);
    let control_error = |e: mysql_async::Error| ProxyError::Control {
        node: primary.id.to_string(),
        message: e.to_string(),
    };
    let mut conn = mysql_async::Conn::new(opts).await.map_err(control_error)?;
    let row: Option<(Option<String>, u64)> = conn
        .query_first("SELECT @@gtid_binlog_pos, @@max_allowed_packet")
        .await
        .map_err(control_error)?;
    let _ = conn.disconnect().await;
    let (pos, max_allowed_packet) = row.unwrap_or((None, 1 << 24));
    let domains: Vec<u32> = pos
        .unwrap_or_default()
        .split(',')
        .filter_map(|g| g.trim().split('-').next().and_then(|d| d.parse().ok()))
        .collect();
    if domains.iter().any(|d| *d != config.gtid_domain) {
        return Err(ConfigError::invalid(
            "proxy.gtid_domain",
            format!(
                "the primary's binlog has GTID domains {domains:?}; myquorum supports exactly one, domain {}",
                config.gtid_domain
            ),
        )
        .into());
    }
    Ok(max_allowed_packet)
}

async fn probe_until_up(node: &BackendNode, each: Duration) -> Result<ServerInfo, ProxyError> {
    let deadline = tokio::time::Instant::now() + PROBE_DEADLINE;
    loop {
        match probe(node, each).await {
            Ok(info) => return Ok(info),
            Err(e) if tokio::time::Instant::now() < deadline => {
                warn!(node = %node.id, error = %e, "backend not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(source) => {
                return Err(ProxyError::Probe {
                    node: node.id.to_string(),
                    source,
                })
            }
        }
    }
}
