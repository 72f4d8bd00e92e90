//! `POST /select-quorum` and `GET /admin/current-quorum`: Cabinet's predicted quorum, from
//! the quorum tracker's weights and ranking and the collector's health.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use myquorum_proxy::quorum::{cabinet, CabinetWeights};

use crate::body::Body;
use crate::cabinet::{select, Selection};
use crate::error::ControlPlaneError;
use crate::state::{ClusterView, ControlPlane};

/// What the quorum is for (both get the same quorum: reads do not wait for replicas).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// A STRONG write (the default).
    #[default]
    Write,
    /// A read.
    Read,
}

/// `POST /select-quorum` body (may be empty).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SelectQuorumRequest {
    /// `write` (default) or `read`.
    pub operation: Option<Operation>,
}

/// `POST /select-quorum` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SelectQuorumResponse {
    /// Replicas predicted to complete the next STRONG write, heaviest first.
    pub quorum: Vec<String>,
    /// Their count.
    pub quorum_size: usize,
    /// Number of replicas.
    pub total_replicas: usize,
    /// (+) Cabinet weight each node holds now, the primary included.
    pub weights: BTreeMap<String, f64>,
    /// (+) Consensus threshold: a quorum weighs more than this.
    pub threshold: f64,
    /// (+) Failures tolerated (t).
    pub failure_threshold: usize,
    /// (+) The operation asked for.
    pub operation: Operation,
}

/// One node in `GET /admin/current-quorum`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BriefMetrics {
    /// Smoothed probe latency (ms).
    pub latency_ms: f64,
    /// Writes behind the primary.
    pub replication_lag: u64,
    /// The collector's verdict.
    pub is_healthy: bool,
}

/// `GET /admin/current-quorum`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CurrentQuorumResponse {
    /// Primary id.
    pub master: String,
    /// Cabinet's quorum.
    pub cabinet_selected: Vec<String>,
    /// The replicas a STRONG write waits for (the quorum's replicas).
    pub actual_replicas_to_wait: Vec<String>,
    /// Their count.
    pub quorum_size: usize,
    /// Number of replicas (the old field's meaning).
    pub total_instances: usize,
    /// Per node: latency, lag, health.
    pub metrics: BTreeMap<String, BriefMetrics>,
}

/// The weight scheme in force and the predicted quorum, or 503 when none can form.
pub fn predict(
    cp: &ControlPlane,
    view: &ClusterView,
) -> Result<(CabinetWeights, Selection), ControlPlaneError> {
    let cluster = cp.context().cluster();
    let snapshot = cluster.quorum().map(|q| q.snapshot());
    let scheme = match &snapshot {
        Some(s) => cabinet(s.nodes, s.failure_threshold),
        None => cabinet(1, 0),
    };
    let healthy = |id: &str| {
        view.node(id)
            .is_some_and(|n| n.healthy() && n.watcher_healthy != Some(false))
    };
    let ranked: Vec<(String, bool)> = snapshot
        .iter()
        .flat_map(|s| s.replicas.iter())
        .map(|r| (r.id.clone(), healthy(&r.id)))
        .collect();
    let primary = &cluster.primary().id;
    let selection = select(&scheme, primary, healthy(primary), &ranked)
        .map_err(|reason| ControlPlaneError::NoQuorum { reason })?;
    Ok((scheme, selection))
}

/// The replicas the next STRONG write is expected to wait for; 503 when no quorum can form.
#[utoipa::path(post, path = "/select-quorum", tag = "cabinet",
    request_body(content = SelectQuorumRequest, description = "optional"),
    responses((status = 200, body = SelectQuorumResponse), (status = 422, description = "bad body"),
        (status = 503, description = "no quorum possible")))]
pub async fn select_quorum(
    State(cp): State<ControlPlane>,
    Body(req): Body<SelectQuorumRequest>,
) -> Result<Json<SelectQuorumResponse>, ControlPlaneError> {
    let (scheme, selection) = predict(&cp, &cp.view())?;
    Ok(Json(SelectQuorumResponse {
        quorum_size: selection.quorum.len(),
        quorum: selection.quorum,
        total_replicas: cp.context().cluster().replicas().len(),
        weights: selection.weights,
        threshold: scheme.threshold,
        failure_threshold: scheme.failure_threshold,
        operation: req.operation.unwrap_or_default(),
    }))
}

/// The quorum as the coordinator would use it now, with each node's metrics.
#[utoipa::path(get, path = "/admin/current-quorum", tag = "cabinet",
    responses((status = 200, body = CurrentQuorumResponse), (status = 503, description = "no quorum possible")))]
pub async fn current_quorum(
    State(cp): State<ControlPlane>,
) -> Result<Json<CurrentQuorumResponse>, ControlPlaneError> {
    let view = cp.view();
    let (_, selection) = predict(&cp, &view)?;
    let metrics = view
        .nodes
        .iter()
        .map(|n| {
            let brief = BriefMetrics {
                latency_ms: n
                    .metrics
                    .latency_ms
                    .map(|l| (l * 100.0).round() / 100.0)
                    .unwrap_or(0.0),
                replication_lag: n.lag_writes,
                is_healthy: n.healthy(),
            };
            (n.metrics.id.clone(), brief)
        })
        .collect();
    Ok(Json(CurrentQuorumResponse {
        master: cp.context().cluster().primary().id.to_string(),
        quorum_size: selection.quorum.len(),
        actual_replicas_to_wait: selection.quorum.clone(),
        cabinet_selected: selection.quorum,
        total_instances: cp.context().cluster().replicas().len(),
        metrics,
    }))
}
