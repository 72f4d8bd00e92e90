//! The proxy-wide context: what every session, the admin port and the HTTP engine share
//! (configuration, the primary's server facts, the backend pool, the session registry, the
//! cluster view, the classifier and the statement metrics).
//!
//! It lives in its own module so that the listener ([`crate::server`]), the sessions
//! ([`crate::frontend`]), the statement pipeline ([`crate::pipeline`]) and the engine
//! ([`crate::engine`]) depend on it rather than on each other. Other crates (the control
//! plane) read it through the documented accessors below, never through its fields: the
//! topology inside [`ClusterHandle`] is swappable (failover), so a field read today could be
//! a stale copy tomorrow.

use std::sync::Arc;

use crate::backend::{BackendTls, Pool, ServerInfo};
use crate::classify::Classifier;
use crate::cluster::ClusterHandle;
use crate::config::{ProxyConfig, UserConfig};
use crate::frontend::handshake::Door;
use crate::limits::Limits;
use crate::metrics::StatementMetrics;
use crate::registry::Registry;

/// Statements whose classification is cached.
const CLASSIFIER_CACHE: usize = 4096;

/// State every session (and the admin port, and the HTTP engine) shares.
#[derive(Debug)]
pub struct ProxyContext {
    /// Validated configuration.
    pub(crate) config: ProxyConfig,
    /// What the primary said about itself at start-up (version, capabilities, collation).
    pub(crate) server: ServerInfo,
    /// Idle backend connections.
    pub(crate) pool: Arc<Pool>,
    /// Live client sessions.
    pub(crate) registry: Arc<Registry>,
    /// Topology, replica choice, timestamps and the quorum tracker.
    pub(crate) cluster: ClusterHandle,
    /// Statement classification with its bounded cache.
    pub(crate) classifier: Classifier,
    /// Statement counters and latency histograms.
    pub(crate) metrics: StatementMetrics,
    /// TLS for the MySQL and admin ports (None: `[proxy.tls]` names no certificate).
    pub(crate) tls: Option<crate::tls::ServerTls>,
    /// Client connection and per-user caps, failed-login throttle.
    pub(crate) limits: Arc<Limits>,
}

impl ProxyContext {
    /// The context of a proxy whose configuration was validated and whose primary answered
    /// `server` at start-up.
    /// `backend_tls` is `[proxy.backend_tls]` loaded (None: plaintext backends).
    pub(crate) fn new(
        config: ProxyConfig,
        server: ServerInfo,
        cluster: ClusterHandle,
        backend_tls: Option<BackendTls>,
    ) -> Self {
        Self {
            pool: Pool::with_tls(config.pool.clone(), backend_tls),
            cluster,
            classifier: Classifier::new(CLASSIFIER_CACHE),
            metrics: StatementMetrics::default(),
            limits: Limits::new(config.limits.clone()),
            config,
            server,
            registry: Arc::new(Registry::default()),
            tls: None,
        }
    }

    /// The validated configuration the proxy runs with (what `SHOW CONFIG` and `/status`
    /// report).
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// What the primary reported at start-up (version string, capabilities, collation).
    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// The backend connection pool, for its statistics and idle counts.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// TLS options for control connections to the servers (`[proxy.backend_tls]`), for the
    /// control plane's own mysql_async connections; None: plaintext.
    pub fn backend_ssl_opts(&self) -> Option<mysql_async::SslOpts> {
        self.pool.tls().map(BackendTls::ssl_opts)
    }

    /// The live client sessions and pin counters.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The cluster: the current topology (read it once per decision with
    /// [`ClusterHandle::topology`]), replica state, timestamps and the quorum tracker.
    pub fn cluster(&self) -> &ClusterHandle {
        &self.cluster
    }

    /// Statement counters and latency histograms (exported by `/metrics/prometheus` and
    /// `SHOW METRICS`).
    pub fn metrics(&self) -> &StatementMetrics {
        &self.metrics
    }

    /// What a login on a port whose accounts are `users` is checked against.
    pub(crate) fn door<'a>(&'a self, users: &'a [UserConfig]) -> Door<'a> {
        Door {
            server: &self.server,
            version_suffix: &self.config.version_suffix,
            users,
            tls: self.tls.as_ref(),
            throttle: self.limits.throttle(),
        }
    }

    /// The client caps and their counts (open client connections, sessions per user).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A new proxy connection id for a connection that is not a session (the admin port):
    /// never 0, never a live session's id ([`Registry::allocate_id`]).
    pub fn next_connection_id(&self) -> u32 {
        self.registry.allocate_id()
    }
}
