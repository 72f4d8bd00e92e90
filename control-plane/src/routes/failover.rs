//! The failover admin paths of API.md (DESIGN.md section 7), over [`crate::failover`]:
//! promote a chosen replica, stop the primary and fail over, switch over without loss, and
//! bring nodes back as replicas. Stopping or starting a server needs the sandbox's launcher
//! (`myquorum up`); under `myquorum serve` those paths answer 409 saying so.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::body::Body;
use crate::error::ControlPlaneError;
use crate::failover::{self, FailoverError, FailoverReport, FailoverRequest, Trigger};
use crate::routes::topology::Instance;
use crate::state::ControlPlane;

/// `POST /admin/promote-leader` body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PromoteRequest {
    /// The replica to promote.
    pub new_leader: String,
    /// (+) Promote even if it misses STRONG-acknowledged writes.
    #[serde(default)]
    pub force: bool,
}

/// Answer of the paths that fail over.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailoverResponse {
    /// Always true (failures are error answers).
    pub success: bool,
    /// What happened.
    pub message: String,
    /// The primary before.
    pub old_master: String,
    /// The primary now.
    pub new_master: String,
    /// Same as `new_master` (the old dashboard read this one).
    pub new_leader_id: String,
    /// Replicas re-pointed at the new primary.
    pub reconfigured_replicas: Vec<String>,
    /// (+) The full report.
    pub report: FailoverReport,
}

impl FailoverResponse {
    fn of(report: FailoverReport) -> Self {
        Self {
            success: true,
            message: format!(
                "{} promoted (epoch {}); {} fenced",
                report.new_master, report.epoch, report.old_master
            ),
            old_master: report.old_master.clone(),
            new_master: report.new_master.clone(),
            new_leader_id: report.new_master.clone(),
            reconfigured_replicas: report.reconfigured_replicas.clone(),
            report,
        }
    }
}

/// Promotes `new_leader` (it must pass the safety gate unless `force`).
#[utoipa::path(post, path = "/admin/promote-leader", tag = "failover",
    request_body = PromoteRequest,
    responses((status = 200, body = FailoverResponse), (status = 503, description = "not eligible")))]
pub async fn promote_leader(
    State(cp): State<ControlPlane>,
    Body(req): Body<PromoteRequest>,
) -> Result<Json<FailoverResponse>, ControlPlaneError> {
    let request = FailoverRequest {
        trigger: Trigger::Manual,
        target: Some(req.new_leader),
        exclude: Vec::new(),
        force: req.force,
    };
    Ok(Json(FailoverResponse::of(
        failover::run(&cp, request).await?,
    )))
}

/// `POST /admin/switchover` body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SwitchoverRequest {
    /// The healthy replica that takes the primary role.
    pub to: String,
}

/// Planned handover with zero lost writes: writes wait, the primary is fenced, `to` receives
/// and applies everything it logged, is promoted, and the old primary rejoins as a replica.
#[utoipa::path(post, path = "/admin/switchover", tag = "failover",
    request_body = SwitchoverRequest,
    responses((status = 200, body = FailoverResponse)))]
pub async fn switchover(
    State(cp): State<ControlPlane>,
    Body(req): Body<SwitchoverRequest>,
) -> Result<Json<FailoverResponse>, ControlPlaneError> {
    let request = FailoverRequest {
        trigger: Trigger::Manual,
        target: Some(req.to),
        exclude: Vec::new(),
        force: false,
    };
    let report = failover::run(&cp, request).await?;
    if let Err(e) = failover::rejoin(&cp, &report.old_master).await {
        tracing::warn!(node = %report.old_master, error = %e, "old primary did not rejoin after the switchover");
    }
    Ok(Json(FailoverResponse::of(report)))
}

/// Stops the primary's server and fails over (sandbox only).
#[utoipa::path(post, path = "/admin/stop-master", tag = "failover",
    responses((status = 200, body = FailoverResponse), (status = 409, description = "no launcher")))]
pub async fn stop_master(
    State(cp): State<ControlPlane>,
) -> Result<Json<FailoverResponse>, ControlPlaneError> {
    let nodes = cp
        .nodes()
        .ok_or(FailoverError::NoNodeControl("/admin/stop-master"))?;
    // Claimed before the stop: the detector sees the primary die but cannot fail over on its
    // own in between, so this request's failover is the only one.
    let claim = failover::claim(&cp)?;
    let primary = cp.context().cluster().topology().primary().id.to_string();
    nodes
        .stop(&primary)
        .await
        .map_err(|message| FailoverError::Sql {
            node: primary.clone(),
            statement: "stop".to_owned(),
            message,
        })?;
    let request = FailoverRequest {
        trigger: Trigger::Manual,
        target: None,
        exclude: Vec::new(),
        force: false,
    };
    Ok(Json(FailoverResponse::of(
        failover::run_claimed(&cp, request, claim).await?,
    )))
}

/// `POST /admin/stop-master-only` body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct StopOnlyRequest {
    /// The node to stop.
    pub master_id: String,
}

/// `POST /admin/stop-master-only` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StopOnlyResponse {
    /// Always true.
    pub success: bool,
    /// What happened.
    pub message: String,
    /// The node stopped.
    pub stopped_master: String,
    /// Its host.
    pub stopped_container: String,
}

/// Stops a node's server, no failover (the detector may then fail over on its own).
#[utoipa::path(post, path = "/admin/stop-master-only", tag = "failover",
    request_body = StopOnlyRequest, responses((status = 200, body = StopOnlyResponse)))]
pub async fn stop_master_only(
    State(cp): State<ControlPlane>,
    Body(req): Body<StopOnlyRequest>,
) -> Result<Json<StopOnlyResponse>, ControlPlaneError> {
    let nodes = cp
        .nodes()
        .ok_or(FailoverError::NoNodeControl("/admin/stop-master-only"))?;
    let node = cp
        .context()
        .cluster()
        .node(&req.master_id)
        .cloned()
        .ok_or_else(|| ControlPlaneError::NotFound {
            kind: "Instance",
            id: req.master_id.clone(),
        })?;
    nodes
        .stop(&node.id)
        .await
        .map_err(|message| FailoverError::Sql {
            node: node.id.to_string(),
            statement: "stop".to_owned(),
            message,
        })?;
    Ok(Json(StopOnlyResponse {
        success: true,
        message: format!("{} stopped", node.id),
        stopped_master: node.id.to_string(),
        stopped_container: node.addr,
    }))
}

/// `POST /admin/start-instance` body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct StartRequest {
    /// The node to start and rejoin.
    pub instance_id: String,
    /// (+) When the node holds transactions the primary never had, re-provision it from the
    /// primary (discarding them) and rejoin, instead of refusing. Sandbox only.
    #[serde(default)]
    pub reprovision: bool,
}

/// `POST /admin/start-instance` answer: the topology after the rejoin.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StartResponse {
    /// The primary.
    pub current_master: Instance,
    /// Every replica.
    pub current_replicas: Vec<Instance>,
    /// Number of replicas.
    pub total_replicas: usize,
    /// (+) The node was re-provisioned from the primary before rejoining.
    pub reprovisioned: bool,
    /// (+) The GTIDs it held that the primary did not, discarded by the re-provisioning.
    pub discarded: Vec<String>,
}

/// Starts a stopped node (sandbox) and rejoins it as a read-only replica; with
/// `reprovision`, a node that diverged is re-provisioned from the primary first.
#[utoipa::path(post, path = "/admin/start-instance", tag = "failover",
    request_body = StartRequest, responses((status = 200, body = StartResponse)))]
pub async fn start_instance(
    State(cp): State<ControlPlane>,
    Body(req): Body<StartRequest>,
) -> Result<Json<StartResponse>, ControlPlaneError> {
    let discarded = start_and_rejoin(
        &cp,
        &req.instance_id,
        "/admin/start-instance",
        req.reprovision,
    )
    .await?;
    let topology = cp.context().cluster().topology();
    let current_replicas: Vec<Instance> = topology.replicas().map(Instance::of).collect();
    Ok(Json(StartResponse {
        current_master: Instance::of(topology.primary()),
        total_replicas: current_replicas.len(),
        current_replicas,
        reprovisioned: discarded.is_some(),
        discarded: discarded.unwrap_or_default(),
    }))
}

/// `POST /admin/restart-old-master` body (optional).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RestartRequest {
    /// (+) As in [`StartRequest::reprovision`].
    #[serde(default)]
    pub reprovision: bool,
}

/// `POST /admin/restart-old-master` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RestartResponse {
    /// Always true.
    pub success: bool,
    /// What happened.
    pub message: String,
    /// The primary.
    pub master: String,
    /// Replicas now.
    pub total_replicas: usize,
    /// (+) The node was re-provisioned from the primary before rejoining.
    pub reprovisioned: bool,
    /// (+) The GTIDs it held that the primary did not, discarded by the re-provisioning.
    pub discarded: Vec<String>,
}

/// Starts the last failover's old primary and rejoins it as a replica; with `reprovision`,
/// re-provisioned from the primary first if it diverged.
#[utoipa::path(post, path = "/admin/restart-old-master", tag = "failover",
    request_body = RestartRequest,
    responses((status = 200, body = RestartResponse)))]
pub async fn restart_old_master(
    State(cp): State<ControlPlane>,
    Body(req): Body<RestartRequest>,
) -> Result<Json<RestartResponse>, ControlPlaneError> {
    let old = cp
        .failover()
        .last_report()
        .map(|r| r.old_master)
        .or_else(|| {
            cp.context()
                .cluster()
                .topology()
                .fenced()
                .next()
                .map(|n| n.id.to_string())
        })
        .ok_or_else(|| FailoverError::BadTarget("no old primary to restart".to_owned()))?;
    let discarded =
        start_and_rejoin(&cp, &old, "/admin/restart-old-master", req.reprovision).await?;
    let topology = cp.context().cluster().topology();
    let total_replicas = topology.replicas().len();
    let how = match &discarded {
        Some(d) => format!(
            " after re-provisioning from it ({} transaction(s) discarded)",
            d.len()
        ),
        None => String::new(),
    };
    Ok(Json(RestartResponse {
        success: true,
        message: format!(
            "{old} rejoined as a replica of {}{how}",
            topology.primary().id
        ),
        master: topology.primary().id.to_string(),
        total_replicas,
        reprovisioned: discarded.is_some(),
        discarded: discarded.unwrap_or_default(),
    }))
}

/// Starts node `id` and rejoins it. A node that diverged is refused unless `reprovision`:
/// then it is re-provisioned from the current primary and rejoined, and the answer is the
/// GTIDs it discarded (None: rejoined as it was).
async fn start_and_rejoin(
    cp: &ControlPlane,
    id: &str,
    path: &'static str,
    reprovision: bool,
) -> Result<Option<Vec<String>>, ControlPlaneError> {
    if cp.context().cluster().node(id).is_none() {
        return Err(ControlPlaneError::NotFound {
            kind: "Instance",
            id: id.to_owned(),
        });
    }
    let nodes = cp.nodes().ok_or(FailoverError::NoNodeControl(path))?;
    nodes
        .start(id)
        .await
        .map_err(|message| FailoverError::Sql {
            node: id.to_owned(),
            statement: "start".to_owned(),
            message,
        })?;
    match failover::rejoin(cp, id).await {
        Ok(()) => Ok(None),
        Err(FailoverError::Diverged { node, detail }) if reprovision => {
            let primary = cp.context().cluster().topology().primary().id.clone();
            tracing::warn!(node = %node, primary = %primary, refusal = %detail,
                "node diverged: re-provisioning it from the primary");
            let discarded =
                nodes
                    .reprovision(id, &primary)
                    .await
                    .map_err(|message| FailoverError::Sql {
                        node: id.to_owned(),
                        statement: "reprovision".to_owned(),
                        message,
                    })?;
            failover::rejoin(cp, id).await?;
            tracing::warn!(node = id, primary = %primary, discarded = ?discarded,
                "re-provisioned node rejoined as a replica");
            Ok(Some(discarded))
        }
        Err(e) => Err(e.into()),
    }
}
