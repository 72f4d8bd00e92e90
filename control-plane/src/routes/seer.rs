//! `POST /elect-leader`: SEER's choice as a dry run (see [`crate::seer`] for the gate and the
//! score). `apply: true` runs a failover ([`crate::failover::run`]); with `force: true` past
//! the gate, listing what may be lost.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::body::Body;
use crate::error::ControlPlaneError;
use crate::seer::{elect, Candidate, CandidateFacts};
use crate::state::{ClusterView, ControlPlane};

/// `POST /elect-leader` body (may be empty).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ElectRequest {
    /// Replica ids not to consider.
    #[serde(default)]
    pub exclude_replicas: Vec<String>,
    /// (+) Promote the winner (a full failover with the drain and the gate). Default
    /// false: a dry run.
    #[serde(default)]
    pub apply: bool,
    /// (+) With `apply`: promote even if no candidate passes the gate.
    #[serde(default)]
    pub force: bool,
}

/// `POST /elect-leader` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ElectResponse {
    /// The chosen replica.
    pub leader_id: String,
    /// Its score in [0, 1].
    pub score: f64,
    /// Its smoothed probe latency (ms).
    pub latency_ms: f64,
    /// Its `Uptime` (s).
    pub uptime_seconds: u64,
    /// Writes it is behind.
    pub replication_lag: u64,
    /// Its crash count.
    pub crash_count: u64,
    /// (+) Every replica, best first, with score, eligibility and why.
    pub candidates: Vec<Candidate>,
    /// (+) Whether the choice was applied (`apply: true`).
    pub applied: bool,
    /// (+) Why the last automatic failover was refused, if it was.
    pub failover_refused: Option<crate::failover::Refusal>,
    /// (+) The position a candidate had to hold to be eligible.
    pub required_position: u64,
    /// (+) How `required_position` was computed.
    pub required_basis: String,
    /// (+) With `apply` and `force`: GTIDs (domain-server-seq) acknowledged or committed
    /// that the new primary does not hold (empty otherwise).
    pub may_be_lost: Vec<String>,
}

/// The position a new primary must hold: the highest STRONG-acknowledged GTID sequence
/// number, as the proxy recorded it when each STRONG write's quorum was reached (MySQL port
/// and `/query`), persisted in `proxy.state_dir` when one is set (it survives a proxy
/// restart). Zero while no STRONG write has been acknowledged.
pub fn required_position(cp: &ControlPlane) -> (u64, String) {
    let highest = cp.context().cluster().highest_acknowledged();
    let basis = if highest == 0 {
        "no STRONG write has been acknowledged"
    } else {
        "highest STRONG-acknowledged GTID sequence number recorded by the proxy"
    };
    (highest, basis.to_owned())
}

/// SEER's facts about every replica of `view`, those in `exclude` marked excluded.
pub(crate) fn facts(view: &ClusterView, exclude: &[String]) -> Vec<CandidateFacts> {
    view.replicas()
        .map(|n| CandidateFacts {
            id: n.metrics.id.clone(),
            reachable: n.metrics.reachable,
            excluded: exclude.contains(&n.metrics.id),
            latency_ms: n.metrics.latency_ms.unwrap_or(0.0),
            uptime_seconds: n.metrics.uptime_seconds,
            crash_count: n.metrics.crash_count,
            replication_lag: n.lag_writes,
            applied: n.seq,
        })
        .collect()
}

/// SEER's choice of the next primary (dry run), with every candidate's score and eligibility.
#[utoipa::path(post, path = "/elect-leader", tag = "seer",
    request_body(content = ElectRequest, description = "optional"),
    responses((status = 200, body = ElectResponse), (status = 404, description = "unknown id"),
        (status = 422, description = "bad body"), (status = 501, description = "apply: true"),
        (status = 503, description = "no eligible candidate")))]
pub async fn elect_leader(
    State(cp): State<ControlPlane>,
    Body(req): Body<ElectRequest>,
) -> Result<Json<ElectResponse>, ControlPlaneError> {
    let cluster = cp.context().cluster();
    if let Some(unknown) = req
        .exclude_replicas
        .iter()
        .find(|id| cluster.node(id).is_none())
    {
        return Err(ControlPlaneError::NotFound {
            kind: "Replica",
            id: unknown.clone(),
        });
    }
    if req.apply {
        let request = crate::failover::FailoverRequest {
            trigger: crate::failover::Trigger::Manual,
            target: None,
            exclude: req.exclude_replicas.clone(),
            force: req.force,
        };
        let report = crate::failover::run(&cp, request).await?;
        let leader = report
            .candidates
            .iter()
            .find(|c| c.id == report.new_master)
            .cloned();
        return Ok(Json(ElectResponse {
            leader_id: report.new_master.clone(),
            score: leader.as_ref().map_or(0.0, |c| c.score),
            latency_ms: leader.as_ref().map_or(0.0, |c| c.latency_ms),
            uptime_seconds: leader.as_ref().map_or(0, |c| c.uptime_seconds),
            replication_lag: leader.as_ref().map_or(0, |c| c.replication_lag),
            crash_count: leader.as_ref().map_or(0, |c| c.crash_count),
            candidates: report.candidates,
            applied: true,
            required_position: report.required_position,
            required_basis:
                "highest STRONG-acknowledged position and the most advanced drained replica"
                    .to_owned(),
            failover_refused: None,
            may_be_lost: report.may_be_lost,
        }));
    }
    let view = cp.view();
    let (required, basis) = required_position(&cp);
    let (leader, candidates) = elect(&facts(&view, &req.exclude_replicas), required);
    let Some(leader) = leader.and_then(|i| candidates.get(i)).cloned() else {
        return Err(ControlPlaneError::NoEligibleLeader {
            candidates,
            failover_refused: cp.failover().refusal(),
        });
    };
    Ok(Json(ElectResponse {
        leader_id: leader.id,
        score: leader.score,
        latency_ms: leader.latency_ms,
        uptime_seconds: leader.uptime_seconds,
        replication_lag: leader.replication_lag,
        crash_count: leader.crash_count,
        candidates,
        applied: false,
        required_position: required,
        required_basis: basis,
        failover_refused: cp.failover().refusal(),
        may_be_lost: Vec::new(),
    }))
}
