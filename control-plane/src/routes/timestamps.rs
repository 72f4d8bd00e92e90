//! `GET /timestamp`, `POST /reset`, `GET /table-timestamps`. Timestamps are GTID sequence
//! numbers of committed writes (DESIGN.md section 3), not numbers handed out per call.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ControlPlaneError;
use crate::state::{ClusterView, ControlPlane};

/// `GET /timestamp`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimestampResponse {
    /// The primary's current position: the GTID sequence number of the newest committed write.
    pub timestamp: u64,
    /// The primary's MariaDB `server_id`.
    pub server_id: u32,
}

/// The primary in `GET /table-timestamps`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MasterTimestamps {
    /// Node id.
    pub id: String,
    /// `host:port`.
    pub host: String,
    /// Newest committed write.
    pub global_timestamp: u64,
    /// Newest write per table (`db.table`) seen through the proxy.
    pub table_timestamps: HashMap<String, u64>,
}

/// One node in `GET /table-timestamps` (and the legacy collector's `instances`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstanceTimestamps {
    /// Node id.
    pub id: String,
    /// `host:port`.
    pub host: String,
    /// Newest write it has applied (null until known).
    pub global_timestamp: Option<u64>,
    /// Primary minus this node, in writes (null until known).
    pub global_lag: Option<u64>,
    /// Per table, the newest write it has applied (null: older than what is remembered).
    pub table_timestamps: HashMap<String, Option<u64>>,
    /// Per table, the primary's timestamp minus this node's.
    pub table_lag: HashMap<String, u64>,
}

/// `GET /table-timestamps`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TableTimestampsResponse {
    /// The primary.
    pub master: MasterTimestamps,
    /// Every replica.
    pub replicas: Vec<InstanceTimestamps>,
}

/// The primary's position and server_id, or 503 when it was never probed.
pub fn current(
    cp: &ControlPlane,
    view: &ClusterView,
) -> Result<TimestampResponse, ControlPlaneError> {
    let primary = view.primary();
    match primary.and_then(|p| p.metrics.server_id) {
        Some(server_id) => Ok(TimestampResponse {
            timestamp: view.primary_seq,
            server_id,
        }),
        None => Err(ControlPlaneError::PrimaryUnavailable {
            node: cp.context().cluster().primary().id.to_string(),
            reason: primary
                .and_then(|p| p.metrics.last_error.clone())
                .unwrap_or_else(|| "not probed yet".to_owned()),
        }),
    }
}

/// The primary's current timestamp.
#[utoipa::path(get, path = "/timestamp", tag = "timestamps",
    responses((status = 200, body = TimestampResponse), (status = 503, description = "primary unavailable")))]
pub async fn timestamp(
    State(cp): State<ControlPlane>,
) -> Result<Json<TimestampResponse>, ControlPlaneError> {
    current(&cp, &cp.view()).map(Json)
}

/// Refused: GTID-derived timestamps cannot be rewound (409).
#[utoipa::path(post, path = "/reset", tag = "timestamps",
    responses((status = 409, description = "timestamps cannot be reset")))]
pub async fn reset() -> ControlPlaneError {
    ControlPlaneError::ResetRefused
}

/// The primary's and every replica's timestamps, per table.
pub fn table_timestamps_of(cp: &ControlPlane) -> (MasterTimestamps, Vec<InstanceTimestamps>) {
    let cluster = cp.context().cluster();
    let view = cp.view();
    let ts = cluster.timestamps();
    let master = MasterTimestamps {
        id: cluster.primary().id.to_string(),
        host: cluster.primary().addr.clone(),
        global_timestamp: view.primary_seq,
        table_timestamps: ts.table_timestamps,
    };
    let replicas = ts
        .replicas
        .into_iter()
        .map(|r| {
            let seq = view.node(&r.id).and_then(|n| n.seq).or(r.global_timestamp);
            InstanceTimestamps {
                host: cluster
                    .node(&r.id)
                    .map(|n| n.addr.clone())
                    .unwrap_or_default(),
                global_timestamp: seq,
                global_lag: seq.map(|s| view.primary_seq.saturating_sub(s)),
                table_timestamps: r.table_timestamps,
                table_lag: r.table_lag,
                id: r.id,
            }
        })
        .collect();
    (master, replicas)
}

/// Timestamps of the primary and every replica, per table.
#[utoipa::path(get, path = "/table-timestamps", tag = "timestamps",
    responses((status = 200, body = TableTimestampsResponse)))]
pub async fn table_timestamps(State(cp): State<ControlPlane>) -> Json<TableTimestampsResponse> {
    let (master, replicas) = table_timestamps_of(&cp);
    Json(TableTimestampsResponse { master, replicas })
}
