//! The coordinator's routes (every path of API.md that has landed), one module per group.
//! Paths of later issues (`/query`, stress, clear-data, data-count, consistency metrics) are
//! not routed yet; the failover paths answer 501 ([`failover`]).

pub mod cabinet;
pub mod failover;
pub mod metrics;
pub mod seer;
pub mod timestamps;
pub mod topology;

use axum::http::Uri;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;

use crate::auth::require_token;
use crate::error::ControlPlaneError;
use crate::state::ControlPlane;

/// The coordinator router: public paths, then `/admin/*` behind the bearer-token check.
pub fn coordinator(state: ControlPlane) -> Router {
    let admin = Router::new()
        .route("/admin/topology", get(topology::topology))
        .route("/admin/current-quorum", get(cabinet::current_quorum))
        .route("/admin/stop-master", post(failover::stop_master))
        .route("/admin/stop-master-only", post(failover::stop_master_only))
        .route("/admin/promote-leader", post(failover::promote_leader))
        .route("/admin/start-instance", post(failover::start_instance))
        .route(
            "/admin/restart-old-master",
            post(failover::restart_old_master),
        )
        .route("/admin/switchover", post(failover::switchover))
        .route_layer(from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/status", get(topology::status))
        .route("/health", get(topology::health))
        .route("/timestamp", get(timestamps::timestamp))
        .route("/reset", post(timestamps::reset))
        .route("/table-timestamps", get(timestamps::table_timestamps))
        .route("/metrics", get(metrics::all))
        .route("/metrics/prometheus", get(metrics::prometheus))
        .route("/metrics/{replica_id}", get(metrics::one))
        .route("/select-quorum", post(cabinet::select_quorum))
        .route("/elect-leader", post(seer::elect_leader))
        .route("/openapi.json", get(crate::openapi::openapi_json))
        .merge(admin)
        .fallback(not_found)
        .with_state(state)
}

/// JSON 404 for paths that do not exist.
pub async fn not_found(uri: Uri) -> ControlPlaneError {
    ControlPlaneError::NotFound {
        kind: "Path",
        id: uri.path().to_owned(),
    }
}
