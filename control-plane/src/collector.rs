//! The metrics collector: one task per node probes it every `collector_interval_ms` over its
//! own control connection ([`crate::probe`]) and writes what it saw to the shared [`Collector`].
//! A slow or dead node only delays its own task: each probe is bounded by `probe_timeout_ms`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use myquorum_proxy::BackendNode;

use crate::history::{CrashDetector, PrimaryHistory};
use crate::probe::{ProbeResult, Prober};

/// Weight of the newest sample in the smoothed latency (exponential moving average).
const LATENCY_ALPHA: f64 = 0.3;

/// What the collector last saw of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMetrics {
    /// Node id.
    pub id: String,
    /// `host:port`.
    pub host: String,
    /// It is the primary.
    pub is_master: bool,
    /// The last probe succeeded.
    pub reachable: bool,
    /// Smoothed probe round trip (ms); None before the first successful probe.
    pub latency_ms: Option<f64>,
    /// Its `@@server_id`, once probed.
    pub server_id: Option<u32>,
    /// Its GTID position in the configured domain (see [`ProbeResult::seq`]).
    pub seq: Option<u64>,
    /// `Uptime` at the last successful probe.
    pub uptime_seconds: u64,
    /// Times it was seen going down and coming back, or restarting between probes.
    pub crash_count: u64,
    /// `Slave_IO_Running` (None on the primary or before a probe).
    pub io_running: Option<bool>,
    /// `Slave_SQL_Running` (None on the primary or before a probe).
    pub sql_running: Option<bool>,
    /// `Seconds_Behind_Master` (None when NULL).
    pub seconds_behind_master: Option<u64>,
    /// Unix time (seconds) of the last probe, successful or not.
    pub last_updated: Option<f64>,
    /// The last probe's error, if it failed.
    pub last_error: Option<String>,
}

impl NodeMetrics {
    fn new(node: &BackendNode, is_master: bool) -> Self {
        Self {
            id: node.id.to_string(),
            host: node.addr.clone(),
            is_master,
            reachable: false,
            latency_ms: None,
            server_id: None,
            seq: None,
            uptime_seconds: 0,
            crash_count: 0,
            io_running: None,
            sql_running: None,
            seconds_behind_master: None,
            last_updated: None,
            last_error: None,
        }
    }

    /// Healthy: reachable and, for a replica, both replication threads running (a replica
    /// whose SQL thread is stopped answers but falls behind for ever).
    pub fn is_healthy(&self) -> bool {
        self.reachable
            && (self.is_master || (self.io_running == Some(true) && self.sql_running == Some(true)))
    }

    fn apply(&mut self, probe: &ProbeResult, crashes: u64) {
        let sample = probe.latency.as_secs_f64() * 1000.0;
        self.latency_ms = Some(match self.latency_ms {
            Some(old) if self.reachable => old + LATENCY_ALPHA * (sample - old),
            _ => sample,
        });
        self.reachable = true;
        self.server_id = Some(probe.server_id);
        self.seq = probe.seq.or(self.seq);
        self.uptime_seconds = probe.uptime;
        self.crash_count = crashes;
        self.io_running = probe.replication.map(|r| r.io_running);
        self.sql_running = probe.replication.map(|r| r.sql_running);
        self.seconds_behind_master = probe.replication.and_then(|r| r.seconds_behind_master);
        self.last_error = None;
        self.last_updated = Some(unix_now());
    }
}

/// The collector's shared state: every node's metrics and the primary's position history.
#[derive(Debug)]
pub struct Collector {
    nodes: Mutex<Vec<NodeMetrics>>,
    history: Mutex<PrimaryHistory>,
    /// Notified after every probe (tests and start-up wait on it).
    probed: Notify,
}

impl Collector {
    /// A collector for `nodes` (none probed yet); `primary` is the primary's id.
    pub fn new(nodes: &[BackendNode], primary: &str) -> Self {
        Self {
            nodes: Mutex::new(
                nodes
                    .iter()
                    .map(|n| NodeMetrics::new(n, *n.id == *primary))
                    .collect(),
            ),
            history: Mutex::new(PrimaryHistory::default()),
            probed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<NodeMetrics>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of every node's metrics, in configuration order.
    pub fn snapshot(&self) -> Vec<NodeMetrics> {
        self.lock().clone()
    }

    /// Records that the primary was at `seq` now, and returns how long a replica that applied
    /// up to each of `applied` has been behind (see [`PrimaryHistory`]).
    pub fn lag_seconds(&self, primary_seq: u64, applied: &[u64]) -> Vec<Duration> {
        let now = Instant::now();
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history.record(primary_seq, now);
        applied
            .iter()
            .map(|a| history.behind_for(*a, now))
            .collect()
    }

    /// Waits until every node has been probed at least once, or `limit` passes.
    pub async fn wait_first_round(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.probed.notified();
            if self.lock().iter().all(|n| n.last_updated.is_some()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut NodeMetrics)) {
        if let Some(node) = self.lock().iter_mut().find(|n| n.id == id) {
            f(node);
        }
        self.probed.notify_waiters();
    }
}

/// How the probe tasks log in and how often they probe.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// Control user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// GTID domain replicated.
    pub domain: u32,
    /// Time between probes of one node.
    pub interval: Duration,
    /// Bound on one probe.
    pub timeout: Duration,
    /// TLS of the probes' connections (`[proxy.backend_tls]`); None: plaintext.
    pub ssl: Option<mysql_async::SslOpts>,
}

/// Tells a probe task whether its node is the primary now: the collector follows the
/// topology across failovers.
pub type RoleOf = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Spawns one probe task per node into `tasks`; they stop when `stop` turns true. `is_primary`
/// is asked before every probe.
pub fn spawn(
    collector: &Arc<Collector>,
    nodes: &[BackendNode],
    is_primary: &RoleOf,
    settings: &ProbeSettings,
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) {
    for node in nodes {
        let prober = Prober::new(
            node,
            &settings.user,
            &settings.password,
            settings.domain,
            is_primary(&node.id),
            settings.ssl.clone(),
        );
        tasks.spawn(run_node(
            Arc::clone(collector),
            node.id.to_string(),
            prober,
            Arc::clone(is_primary),
            settings.clone(),
            stop.clone(),
        ));
    }
}

/// The probe loop of one node.
async fn run_node(
    collector: Arc<Collector>,
    id: String,
    mut prober: Prober,
    is_primary: RoleOf,
    settings: ProbeSettings,
    mut stop: watch::Receiver<bool>,
) {
    let mut crashes = CrashDetector::default();
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticker.tick() => {}
        }
        if *stop.borrow() {
            break;
        }
        let primary = is_primary(&id);
        prober.set_primary(primary);
        collector.update(&id, |n| n.is_master = primary);
        let outcome = tokio::select! {
            _ = stop.changed() => break,
            r = tokio::time::timeout(settings.timeout, prober.probe()) => r,
        };
        match outcome {
            Ok(Ok(probe)) => {
                let count = crashes.up(probe.uptime);
                collector.update(&id, |n| n.apply(&probe, count));
            }
            Ok(Err(e)) => failed(&collector, &id, &mut crashes, e.to_string()),
            Err(_) => {
                prober.reset();
                let reason = format!("no answer within {:?}", settings.timeout);
                failed(&collector, &id, &mut crashes, reason);
            }
        }
    }
    tracing::debug!(node = %id, "collector probe task stopped");
}

fn failed(collector: &Collector, id: &str, crashes: &mut CrashDetector, error: String) {
    let count = crashes.down();
    collector.update(id, |n| {
        if n.reachable {
            tracing::warn!(node = %id, %error, "collector: node stopped answering");
        }
        n.reachable = false;
        n.crash_count = count;
        n.last_error = Some(error);
        n.last_updated = Some(unix_now());
    });
}

/// Seconds since the Unix epoch, as a float.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
