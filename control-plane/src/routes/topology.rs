//! `GET /status`, `GET /health`, `GET /admin/topology`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use myquorum_proxy::BackendNode;

use crate::state::ControlPlane;

/// A node as the old coordinator named it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Instance {
    /// `instance-k`.
    pub id: String,
    /// `host:port` of its MySQL port.
    pub host: String,
    /// The node's host name (in the sandbox the same as `host`; in Docker Compose the
    /// service name).
    pub container: String,
}

impl Instance {
    /// From a configured backend.
    pub fn of(node: &BackendNode) -> Self {
        Self {
            id: node.id.to_string(),
            host: node.addr.clone(),
            container: node.addr.clone(),
        }
    }
}

/// `GET /admin/topology`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopologyResponse {
    /// The primary.
    pub current_master: Instance,
    /// Every replica.
    pub current_replicas: Vec<Instance>,
    /// Number of replicas.
    pub total_replicas: usize,
}

/// `GET /status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusResponse {
    /// The primary.
    pub current_master: Instance,
    /// Every replica.
    pub current_replicas: Vec<Instance>,
    /// Number of replicas.
    pub total_replicas: usize,
    /// Always `"binlog"`.
    pub replication_mode: String,
    /// (+) Failover epoch: bumped by every promotion, persisted with the topology.
    pub epoch: Option<u64>,
    /// (+) A failover is running.
    pub failover_in_progress: bool,
    /// (+) Old primaries not rejoined yet: never routed to.
    pub fenced: Vec<String>,
    /// (+) Why the last automatic failover was refused (null after a promotion).
    pub failover_refused: Option<crate::failover::Refusal>,
    /// (+) The last failover's report.
    pub last_failover: Option<crate::failover::FailoverReport>,
}

/// One component in `GET /health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComponentHealth {
    /// Node id.
    pub id: String,
    /// The collector's verdict (replicas: reachable and both replication threads running).
    pub healthy: bool,
    /// The last probe's error.
    pub last_error: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `healthy`, `degraded` (a replica down or no quorum possible) or `unhealthy` (the
    /// primary cannot take writes; the status code is then 503).
    pub status: String,
    /// Always `"coordinator"`.
    pub service: String,
    /// (+) The primary.
    pub primary: ComponentHealth,
    /// (+) Every replica.
    pub replicas: Vec<ComponentHealth>,
    /// (+) A Cabinet quorum can form with the healthy nodes (STRONG writes can complete).
    pub quorum_possible: bool,
}

fn topology_of(cp: &ControlPlane) -> TopologyResponse {
    let topology = cp.context().cluster().topology();
    let current_replicas: Vec<Instance> = topology.replicas().map(Instance::of).collect();
    TopologyResponse {
        current_master: Instance::of(topology.primary()),
        total_replicas: current_replicas.len(),
        current_replicas,
    }
}

/// The primary and its replicas.
#[utoipa::path(get, path = "/status", tag = "topology",
    responses((status = 200, body = StatusResponse)))]
pub async fn status(State(cp): State<ControlPlane>) -> Json<StatusResponse> {
    let t = topology_of(&cp);
    let cluster = cp.context().cluster();
    let topology = cluster.topology();
    Json(StatusResponse {
        current_master: t.current_master,
        current_replicas: t.current_replicas,
        total_replicas: t.total_replicas,
        replication_mode: "binlog".to_owned(),
        epoch: Some(topology.epoch()),
        failover_in_progress: cluster.failover_running(),
        fenced: topology.fenced().map(|n| n.id.to_string()).collect(),
        failover_refused: cp.failover().refusal(),
        last_failover: cp.failover().last_report(),
    })
}

/// The primary and its replicas (admin).
#[utoipa::path(get, path = "/admin/topology", tag = "topology",
    responses((status = 200, body = TopologyResponse), (status = 401, description = "token")))]
pub async fn topology(State(cp): State<ControlPlane>) -> Json<TopologyResponse> {
    Json(topology_of(&cp))
}

/// Health of the coordinator; 503 when no write can be accepted.
#[utoipa::path(get, path = "/health", tag = "topology",
    responses((status = 200, body = HealthResponse), (status = 503, body = HealthResponse)))]
pub async fn health(State(cp): State<ControlPlane>) -> (StatusCode, Json<HealthResponse>) {
    let view = cp.view();
    let component = |n: &crate::state::NodeView| ComponentHealth {
        id: n.metrics.id.clone(),
        healthy: n.healthy(),
        last_error: n.metrics.last_error.clone(),
    };
    let primary = view.primary().map(component).unwrap_or(ComponentHealth {
        id: cp.context().cluster().primary().id.to_string(),
        healthy: false,
        last_error: None,
    });
    let replicas: Vec<ComponentHealth> = view.replicas().map(component).collect();
    let quorum_possible = super::cabinet::predict(&cp, &view).is_ok();
    let (code, status) = if !primary.healthy {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    } else if !quorum_possible || replicas.iter().any(|r| !r.healthy) {
        (StatusCode::OK, "degraded")
    } else {
        (StatusCode::OK, "healthy")
    };
    let body = HealthResponse {
        status: status.to_owned(),
        service: "coordinator".to_owned(),
        primary,
        replicas,
        quorum_possible,
    };
    (code, Json(body))
}
