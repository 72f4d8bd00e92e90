//! [`ControlPlane`]: what every handler shares — the proxy's state, the configuration and the
//! collector — plus [`ClusterView`], the one merge of the collector's probes with the proxy's
//! own knowledge (commits it saw, positions its quorum watchers saw) that every path reads.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use myquorum_proxy::context::ProxyContext;
use myquorum_proxy::Proxy;

use myquorum_proxy::backend::conn::ResultCaps;
use myquorum_proxy::engine::{Engine, EngineLimits};

use crate::collector::{Collector, NodeMetrics};
use crate::config::ControlPlaneConfig;
use crate::consistency_metrics::ConsistencyMetrics;
use crate::dashboard::feed::Feed;
use crate::failover::FailoverState;

/// The control plane's state; cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    proxy: Proxy,
    config: ControlPlaneConfig,
    collector: Arc<Collector>,
    /// Legacy services actually listening, with their addresses.
    legacy: Mutex<Vec<(&'static str, SocketAddr)>>,
    /// Admin paths need the bearer token (set by [`crate::serve`]: a token is configured).
    auth_required: AtomicBool,
    /// `/query` slots (`control_plane.query_concurrency`).
    query_slots: Arc<tokio::sync::Semaphore>,
    /// Runs `/query` and the stress endpoints' statements.
    engine: Engine,
    /// Counters of those statements per consistency level.
    consistency: ConsistencyMetrics,
    /// Failover cool-down, last refusal and report.
    failover: FailoverState,
    /// Stops and starts servers (the sandbox under `myquorum up`; None under `serve`).
    nodes: Option<Arc<dyn NodeControl>>,
    /// The dashboard's live data and event streams.
    feed: Feed,
}

/// Stopping, starting and persisting what the proxy did not start itself: implemented by
/// the binary over the sandbox (`myquorum up`). Under `myquorum serve` there is none, and
/// the paths that would stop or start a server answer with a clear error.
pub trait NodeControl: Send + Sync + std::fmt::Debug {
    /// Stops node `id`'s server (the sandbox: its mariadbd process).
    fn stop(&self, id: &str) -> BoxFuture<'_, Result<(), String>>;
    /// Starts node `id`'s server again with its data.
    fn start(&self, id: &str) -> BoxFuture<'_, Result<(), String>>;
    /// Re-provisions node `id` (running) from node `from` (the current primary): its
    /// application data replaced by a consistent copy of `from`'s, its GTID position set to
    /// the copy's, ready to rejoin. Answers the GTIDs it held that `from` did not, now
    /// discarded. The way back for a node that diverged (`"reprovision": true` on the rejoin
    /// paths).
    fn reprovision<'a>(
        &'a self,
        id: &'a str,
        from: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;
    /// The topology changed (failover): persist it where the server launcher reads it, so
    /// a restart of the sandbox does not crown the old primary again.
    fn topology_changed(&self, primary: &str, epoch: u64);
}

/// A boxed future, for [`NodeControl`]'s object-safe methods.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// One node as the API reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// What the collector saw.
    pub metrics: NodeMetrics,
    /// Best known position: the collector's probe, or the quorum watcher's if newer.
    pub seq: Option<u64>,
    /// Writes behind the primary (0 for the primary).
    pub lag_writes: u64,
    /// Seconds behind: `Seconds_Behind_Master`, or when it is NULL or smaller, the age of
    /// the oldest write not applied (see [`crate::history::PrimaryHistory`]); 0 when not behind.
    pub lag_seconds: f64,
    /// Healthy in the quorum watcher's eyes (None for the primary or without a tracker).
    pub watcher_healthy: Option<bool>,
}

impl NodeView {
    /// The collector's health verdict.
    pub fn healthy(&self) -> bool {
        self.metrics.is_healthy()
    }
}

/// The whole cluster at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    /// The primary's position: the newest of what the proxy saw committed and what the
    /// collector read from `@@gtid_binlog_pos` (writes that bypass the proxy count too).
    pub primary_seq: u64,
    /// Every node, configuration order; the primary is `metrics.is_master`.
    pub nodes: Vec<NodeView>,
}

impl ClusterView {
    /// The primary's view.
    pub fn primary(&self) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.metrics.is_master)
    }

    /// The replicas' views.
    pub fn replicas(&self) -> impl Iterator<Item = &NodeView> {
        self.nodes.iter().filter(|n| !n.metrics.is_master)
    }

    /// A node's view by id.
    pub fn node(&self, id: &str) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.metrics.id == id)
    }
}

impl ControlPlane {
    /// The control plane of a started proxy. The collector's probe tasks start with
    /// [`crate::serve`].
    pub fn new(proxy: Proxy, config: ControlPlaneConfig) -> Self {
        Self::with_nodes(proxy, config, None)
    }

    /// [`Self::new`] with a way to stop and start servers (the sandbox).
    pub fn with_nodes(
        proxy: Proxy,
        config: ControlPlaneConfig,
        nodes: Option<Arc<dyn NodeControl>>,
    ) -> Self {
        let shared = Arc::clone(proxy.context());
        let collector = Arc::new(Collector::new(
            &shared.config().nodes,
            &shared.cluster().primary().id,
        ));
        let engine = proxy.engine().with_limits(EngineLimits {
            caps: ResultCaps {
                max_rows: config.query_max_rows,
                max_bytes: config.query_max_bytes,
            },
            statement_timeout: Some(config.query_timeout()),
        });
        let query_slots = Arc::new(tokio::sync::Semaphore::new(config.query_concurrency));
        Self {
            inner: Arc::new(Inner {
                engine,
                query_slots,
                consistency: ConsistencyMetrics::default(),
                proxy,
                config,
                collector,
                legacy: Mutex::new(Vec::new()),
                auth_required: AtomicBool::new(false),
                failover: FailoverState::default(),
                nodes,
                feed: Feed::default(),
            }),
        }
    }

    /// The proxy this control plane runs beside: its context (configuration, cluster, metrics,
    /// sessions), read through its accessors.
    pub fn context(&self) -> &Arc<ProxyContext> {
        self.inner.proxy.context()
    }

    /// The configuration.
    pub fn config(&self) -> &ControlPlaneConfig {
        &self.inner.config
    }

    /// The proxy's statement engine (use [`crate::consistency_metrics::execute`], which counts).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// A `/query` slot, or None when `control_plane.query_concurrency` requests are running
    /// (the caller answers 503 rather than queueing without bound).
    pub fn try_query_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.inner.query_slots).try_acquire_owned().ok()
    }

    /// Statement counters per consistency level.
    pub fn consistency_metrics(&self) -> &ConsistencyMetrics {
        &self.inner.consistency
    }

    /// Failover state: cool-down, last refusal, last report.
    pub fn failover(&self) -> &FailoverState {
        &self.inner.failover
    }

    /// The server launcher, when the proxy started the servers (`myquorum up`).
    pub fn nodes(&self) -> Option<&Arc<dyn NodeControl>> {
        self.inner.nodes.as_ref()
    }

    /// Tells the launcher (if any) that the topology changed, so it persists it.
    pub fn topology_changed(&self, topology: &myquorum_proxy::cluster::Topology) {
        if let Some(nodes) = &self.inner.nodes {
            nodes.topology_changed(&topology.primary().id, topology.epoch());
        }
    }

    /// The dashboard's live data (`GET /events`).
    pub fn feed(&self) -> &Feed {
        &self.inner.feed
    }

    /// The collector.
    pub fn collector(&self) -> &Arc<Collector> {
        &self.inner.collector
    }

    /// Legacy services listening now, by configuration key (`"seer"`, ...), with the address
    /// each bound (useful when configured with port 0).
    pub fn legacy_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        self.inner
            .legacy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_legacy_addrs(&self, addrs: Vec<(&'static str, SocketAddr)>) {
        *self.inner.legacy.lock().unwrap_or_else(|p| p.into_inner()) = addrs;
    }

    /// Whether admin paths require the bearer token.
    pub fn auth_required(&self) -> bool {
        self.inner.auth_required.load(Ordering::Relaxed)
    }

    pub(crate) fn set_auth_required(&self, required: bool) {
        self.inner.auth_required.store(required, Ordering::Relaxed);
    }

    /// The cluster now: collector probes merged with the proxy's commits and watchers.
    pub fn view(&self) -> ClusterView {
        let shared = self.context();
        let metrics = self.inner.collector.snapshot();
        let quorum = shared.cluster().quorum().map(|q| q.snapshot());
        let watcher = |id: &str| {
            quorum
                .as_ref()
                .and_then(|q| q.replicas.iter().find(|r| r.id == id))
        };
        let probed_primary = metrics
            .iter()
            .find(|m| m.is_master)
            .and_then(|m| m.seq)
            .unwrap_or(0);
        let primary_seq = probed_primary.max(shared.cluster().newest_seq());
        let seqs: Vec<Option<u64>> = metrics
            .iter()
            .map(|m| {
                if m.is_master {
                    return Some(primary_seq);
                }
                let watched = watcher(&m.id).and_then(|w| w.applied_seq);
                m.seq.max(watched)
            })
            .collect();
        let applied: Vec<u64> = seqs.iter().map(|s| s.unwrap_or(0)).collect();
        let behind = self.inner.collector.lag_seconds(primary_seq, &applied);
        let nodes = metrics
            .into_iter()
            .zip(seqs)
            .zip(behind)
            .map(|((m, seq), behind)| {
                let lag_writes = primary_seq.saturating_sub(seq.unwrap_or(0));
                let lag_seconds = if lag_writes == 0 {
                    0.0
                } else {
                    let sbm = m.seconds_behind_master.unwrap_or(0) as f64;
                    (behind.as_secs_f64().max(sbm) * 1000.0).round() / 1000.0
                };
                NodeView {
                    watcher_healthy: watcher(&m.id).map(|w| w.healthy),
                    metrics: m,
                    seq,
                    lag_writes,
                    lag_seconds,
                }
            })
            .collect();
        ClusterView { primary_seq, nodes }
    }
}
