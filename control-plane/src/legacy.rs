//! The old system's services on their own ports (API.md "Legacy ports"): one route table per
//! service, each with that service's own shapes; the coordinator's router is not reused.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::routes::timestamps::{self, InstanceTimestamps};
use crate::routes::{cabinet, metrics, not_found, seer};
use crate::state::ControlPlane;

/// The router of the legacy service named by its configuration key (`timestamp_1`,
/// `timestamp_2`, `metrics`, `cabinet`, `seer`); None for an unknown key.
pub fn router(service: &str, state: ControlPlane) -> Option<Router> {
    let router = match service {
        "timestamp_1" | "timestamp_2" => Router::new()
            .route("/timestamp", get(timestamps::timestamp))
            .route("/reset", post(timestamps::reset))
            .route("/health", get(timestamp_health)),
        "metrics" => Router::new()
            .route("/metrics", get(metrics::all))
            .route("/metrics/{replica_id}", get(metrics::one))
            .route("/table-timestamps", get(collector_table_timestamps))
            .route("/health", get(collector_health)),
        "cabinet" => Router::new()
            .route("/select-quorum", post(cabinet::select_quorum))
            .route("/health", get(|| service_health("cabinet"))),
        "seer" => Router::new()
            .route("/elect-leader", post(seer::elect_leader))
            .route("/health", get(|| service_health("seer"))),
        _ => return None,
    };
    Some(
        router
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::guard::browser_guards,
            ))
            .with_state(state),
    )
}

/// `GET /health` of a timestamp service.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimestampHealth {
    /// `healthy`, or `unhealthy` while the primary has not answered a probe.
    pub status: String,
    /// The primary's server_id (null while unknown).
    pub server_id: Option<u32>,
    /// The current timestamp (the primary's GTID sequence number).
    pub current_counter: u64,
}

async fn timestamp_health(State(cp): State<ControlPlane>) -> Json<TimestampHealth> {
    let view = cp.view();
    let current = timestamps::current(&cp, &view).ok();
    Json(TimestampHealth {
        status: if current.is_some() {
            "healthy"
        } else {
            "unhealthy"
        }
        .to_owned(),
        server_id: current.as_ref().map(|c| c.server_id),
        current_counter: view.primary_seq,
    })
}

/// `GET /health` of the metrics collector.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectorHealth {
    /// Always `healthy` (the collector runs as long as the process).
    pub status: String,
    /// Nodes probed.
    pub replicas_tracked: usize,
}

async fn collector_health(State(cp): State<ControlPlane>) -> Json<CollectorHealth> {
    Json(CollectorHealth {
        status: "healthy".to_owned(),
        replicas_tracked: cp.collector().snapshot().len(),
    })
}

/// `GET /health` of Cabinet and SEER.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceHealth {
    /// Always `healthy`.
    pub status: String,
    /// `cabinet` or `seer`.
    pub service: String,
}

async fn service_health(service: &str) -> Json<ServiceHealth> {
    Json(ServiceHealth {
        status: "healthy".to_owned(),
        service: service.to_owned(),
    })
}

/// The collector's primary in its `/table-timestamps`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectorMaster {
    /// `host:port`.
    pub host: String,
    /// Newest committed write.
    pub global_timestamp: u64,
    /// Newest write per table.
    pub table_timestamps: std::collections::HashMap<String, u64>,
}

/// The collector's `/table-timestamps`: every instance, the primary included.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectorTableTimestamps {
    /// The primary.
    pub master: CollectorMaster,
    /// Every node, the primary first (its lags are 0).
    pub instances: Vec<InstanceTimestamps>,
}

async fn collector_table_timestamps(
    State(cp): State<ControlPlane>,
) -> Json<CollectorTableTimestamps> {
    let (master, replicas) = timestamps::table_timestamps_of(&cp);
    let primary = InstanceTimestamps {
        id: master.id.clone(),
        host: master.host.clone(),
        global_timestamp: Some(master.global_timestamp),
        global_lag: Some(0),
        table_timestamps: master
            .table_timestamps
            .iter()
            .map(|(t, ts)| (t.clone(), Some(*ts)))
            .collect(),
        table_lag: master
            .table_timestamps
            .keys()
            .map(|t| (t.clone(), 0))
            .collect(),
    };
    let mut instances = vec![primary];
    instances.extend(replicas);
    Json(CollectorTableTimestamps {
        master: CollectorMaster {
            host: master.host,
            global_timestamp: master.global_timestamp,
            table_timestamps: master.table_timestamps,
        },
        instances,
    })
}
