//! [`Snapshot`]: everything the dashboard shows that changes by the second, in one JSON object
//! built from the same sources as the HTTP API (the cluster view, the quorum tracker, SEER's
//! dry run, the session registry and the pool), plus the last interval's rates and percentiles.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::dashboard::window::WindowStats;
use crate::routes::metrics::ReplicaMetrics;
use crate::seer::Candidate;
use crate::state::ControlPlane;

/// One node's card.
#[derive(Debug, Clone, Serialize)]
pub struct NodeCard {
    /// What `GET /metrics` says of it.
    #[serde(flatten)]
    pub metrics: ReplicaMetrics,
    /// `host:port`.
    pub host: String,
    /// `primary`, `replica` or `fenced` (an old primary not rejoined: never routed to).
    pub role: &'static str,
    /// Its MariaDB `server_id`, once probed.
    pub server_id: Option<u32>,
    /// Cabinet weight it holds now (null without a quorum tracker).
    pub weight: Option<f64>,
    /// Idle pooled backend connections to it.
    pub pool_idle: usize,
    /// Backend connections to it held by sessions.
    pub pool_busy: usize,
}

/// Cabinet now.
#[derive(Debug, Clone, Serialize)]
pub struct QuorumCard {
    /// Failures tolerated (t).
    pub failure_threshold: usize,
    /// A quorum weighs more than this.
    pub threshold: f64,
    /// The replicas the next STRONG write is expected to wait for (empty when none can form).
    pub predicted: Vec<String>,
    /// Why no quorum can form, when none can.
    pub unavailable: Option<String>,
    /// STRONG writes waiting now.
    pub pending: usize,
    /// Waits that reached a quorum since start.
    pub achieved: u64,
    /// Waits that timed out since start.
    pub timed_out: u64,
    /// Per-write wait bound (ms).
    pub timeout_ms: u64,
}

/// SEER's dry run now (what `POST /elect-leader` with an empty body answers).
#[derive(Debug, Clone, Serialize)]
pub struct SeerCard {
    /// The replica it would promote (null: none eligible).
    pub leader: Option<String>,
    /// Every replica, best first.
    pub candidates: Vec<Candidate>,
    /// The position a candidate must hold.
    pub required_position: u64,
}

/// The proxy's sessions, pins and pool.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyCard {
    /// Client sessions open on the MySQL port.
    pub sessions: usize,
    /// Sessions pinned to the primary now.
    pub pinned_now: usize,
    /// Pins taken since start, by reason.
    pub pins: BTreeMap<&'static str, u64>,
    /// Backend connections opened since start.
    pub pool_opened: u64,
    /// Checkouts served from the idle pool since start.
    pub pool_reused: u64,
    /// Connections discarded since start.
    pub pool_discarded: u64,
    /// Checkouts refused (caps) since start.
    pub pool_refused: u64,
}

/// The whole cluster at one instant, as the dashboard's event stream sends it.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Unix time (ms) it was taken.
    pub t: u64,
    /// `/admin/*` and `/query` need the bearer token (the page asks for it before using them).
    pub auth_required: bool,
    /// Failover epoch.
    pub epoch: u64,
    /// The primary's id.
    pub primary: String,
    /// The primary's GTID sequence number.
    pub primary_seq: u64,
    /// A failover is running.
    pub failover_in_progress: bool,
    /// Every node, configuration order.
    pub nodes: Vec<NodeCard>,
    /// Cabinet (null without a quorum tracker).
    pub quorum: Option<QuorumCard>,
    /// SEER.
    pub seer: SeerCard,
    /// Sessions, pins, pool.
    pub proxy: ProxyCard,
    /// Rates and percentiles of the last interval.
    pub stats: WindowStats,
}

/// Takes a snapshot; `stats` comes from the sampler's [`crate::dashboard::window::Window`].
pub fn take(cp: &ControlPlane, stats: WindowStats) -> Snapshot {
    let shared = cp.context();
    let cluster = shared.cluster();
    let topology = cluster.topology();
    let view = cp.view();
    let tracker = cluster.quorum().map(|q| q.snapshot());
    let weight_of = |id: &str| {
        tracker.as_ref().and_then(|q| {
            if *id == *topology.primary().id {
                Some(q.primary_weight)
            } else {
                q.replicas.iter().find(|r| r.id == id).map(|r| r.weight)
            }
        })
    };
    let idle = shared.pool().idle_by_node();
    let busy = shared.registry().busy_by_node();
    let fenced: Vec<String> = topology.fenced().map(|n| n.id.to_string()).collect();
    let nodes = view
        .nodes
        .iter()
        .map(|n| NodeCard {
            metrics: ReplicaMetrics::of(n),
            host: n.metrics.host.clone(),
            role: if n.metrics.is_master {
                "primary"
            } else if fenced.contains(&n.metrics.id) {
                "fenced"
            } else {
                "replica"
            },
            server_id: n.metrics.server_id,
            weight: weight_of(&n.metrics.id),
            pool_idle: idle.get(&n.metrics.id).copied().unwrap_or(0),
            pool_busy: busy.get(&n.metrics.id).copied().unwrap_or(0),
        })
        .collect();
    let quorum = tracker.as_ref().map(|q| {
        let (predicted, unavailable) = match crate::routes::cabinet::predict(cp, &view) {
            Ok((_, selection)) => (selection.quorum, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        QuorumCard {
            failure_threshold: q.failure_threshold,
            threshold: q.threshold,
            predicted,
            unavailable,
            pending: q.pending,
            achieved: q.achieved,
            timed_out: q.timed_out,
            timeout_ms: q.timeout_ms,
        }
    });
    let (required_position, _) = crate::routes::seer::required_position(cp);
    let (leader, candidates) =
        crate::seer::elect(&crate::routes::seer::facts(&view, &[]), required_position);
    let sessions = shared.registry().snapshot();
    let stats_pool = &shared.pool().stats;
    Snapshot {
        t: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
        auth_required: cp.auth_required(),
        epoch: topology.epoch(),
        primary: topology.primary().id.to_string(),
        primary_seq: view.primary_seq,
        failover_in_progress: cluster.failover_running(),
        nodes,
        quorum,
        seer: SeerCard {
            leader: leader.and_then(|i| candidates.get(i)).map(|c| c.id.clone()),
            candidates,
            required_position,
        },
        proxy: ProxyCard {
            pinned_now: sessions.iter().filter(|s| s.pin.is_some()).count(),
            sessions: sessions.len(),
            pins: shared.registry().pin_counts().into_iter().collect(),
            pool_opened: stats_pool.opened.load(Ordering::Relaxed),
            pool_reused: stats_pool.reused.load(Ordering::Relaxed),
            pool_discarded: stats_pool.discarded.load(Ordering::Relaxed),
            pool_refused: stats_pool.refused.load(Ordering::Relaxed),
        },
        stats,
    }
}
