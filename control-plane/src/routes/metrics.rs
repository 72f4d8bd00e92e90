//! `GET /metrics`, `GET /metrics/{replica_id}`, `GET /metrics/prometheus`: the collector's
//! view of every node, the primary included.

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ControlPlaneError;
use crate::state::{ControlPlane, NodeView};

/// One node's metrics.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplicaMetrics {
    /// Node id.
    pub replica_id: String,
    /// Smoothed probe round trip (ms; 0 before the first successful probe).
    pub latency_ms: f64,
    /// Writes (timestamps) behind the primary.
    pub replication_lag: u64,
    /// `Uptime` of the server (s).
    pub uptime_seconds: u64,
    /// Times the node was seen going down and back up (or restarting).
    pub crash_count: u64,
    /// Unix time (s) of the last probe (null before the first).
    pub last_updated: Option<f64>,
    /// Reachable, and for a replica both replication threads running.
    pub is_healthy: bool,
    /// It is the primary.
    pub is_master: bool,
    /// (+) Seconds behind the primary: `Seconds_Behind_Master`, or when NULL or smaller the
    /// age of the oldest write not yet applied; 0 when not behind.
    pub replication_lag_seconds: f64,
    /// (+) `Slave_IO_Running` (null on the primary).
    pub io_running: Option<bool>,
    /// (+) `Slave_SQL_Running` (null on the primary).
    pub sql_running: Option<bool>,
    /// (+) Applied (replica) or committed (primary) GTID sequence number.
    pub gtid_seq: Option<u64>,
    /// (+) The last probe's error.
    pub last_error: Option<String>,
}

impl ReplicaMetrics {
    /// From a node's view.
    pub fn of(n: &NodeView) -> Self {
        let m = &n.metrics;
        Self {
            replica_id: m.id.clone(),
            latency_ms: m
                .latency_ms
                .map(|l| (l * 1000.0).round() / 1000.0)
                .unwrap_or(0.0),
            replication_lag: n.lag_writes,
            uptime_seconds: m.uptime_seconds,
            crash_count: m.crash_count,
            last_updated: m.last_updated,
            is_healthy: n.healthy(),
            is_master: m.is_master,
            replication_lag_seconds: n.lag_seconds,
            io_running: m.io_running,
            sql_running: m.sql_running,
            gtid_seq: n.seq,
            last_error: m.last_error.clone(),
        }
    }
}

/// `GET /metrics`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MetricsResponse {
    /// Every node, the primary included (`is_master: true`).
    pub replicas: Vec<ReplicaMetrics>,
    /// The primary's position.
    pub master_timestamp: u64,
}

/// Every node's metrics.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, body = MetricsResponse)))]
pub async fn all(State(cp): State<ControlPlane>) -> Json<MetricsResponse> {
    let view = cp.view();
    Json(MetricsResponse {
        replicas: view.nodes.iter().map(ReplicaMetrics::of).collect(),
        master_timestamp: view.primary_seq,
    })
}

/// One node's metrics; 404 `{error: "Replica not found"}` for an unknown id.
#[utoipa::path(get, path = "/metrics/{replica_id}", tag = "metrics",
    params(("replica_id" = String, Path, description = "instance-k")),
    responses((status = 200, body = ReplicaMetrics), (status = 404, description = "unknown id")))]
pub async fn one(
    State(cp): State<ControlPlane>,
    Path(replica_id): Path<String>,
) -> Result<Json<ReplicaMetrics>, ControlPlaneError> {
    cp.view()
        .node(&replica_id)
        .map(|n| Json(ReplicaMetrics::of(n)))
        .ok_or(ControlPlaneError::NotFound {
            kind: "Replica",
            id: replica_id,
        })
}

/// Prometheus text format (see [`crate::prometheus`] for the metric names).
#[utoipa::path(get, path = "/metrics/prometheus", tag = "metrics",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn prometheus(State(cp): State<ControlPlane>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::prometheus::render(&cp),
    )
}
