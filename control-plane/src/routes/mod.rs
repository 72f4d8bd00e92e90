//! The coordinator's routes (every path of API.md that has landed), one module per group.
//! The failover paths answer 501 ([`failover`]) until failover lands.

pub mod cabinet;
pub mod dashboard;
pub mod data;
pub mod failover;
pub mod metrics;
pub mod query;
pub mod seer;
pub mod stress;
pub mod timestamps;
pub mod topology;

use axum::http::Uri;
use axum::middleware::from_fn_with_state;

use crate::guard::browser_guards;
use axum::routing::{get, post};
use axum::Router;

use crate::auth::require_token;
use crate::error::ControlPlaneError;
use crate::state::ControlPlane;

/// The coordinator router: public paths, then `/admin/*` and `/query` behind the
/// bearer-token check; every path behind the browser guards ([`crate::guard`]).
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
        .route("/admin/clear-data", post(data::clear_data))
        .route("/admin/stress-test/data-count", get(data::data_count))
        .route(
            "/admin/stress-test/concurrent-writes",
            post(stress::concurrent_writes),
        )
        .route(
            "/admin/stress-test/read-write-mix",
            post(stress::read_write_mix),
        )
        .route(
            "/admin/stress-test/consistency-comparison",
            post(stress::consistency_comparison),
        )
        .route(
            "/admin/stress-test/read-after-write",
            post(stress::read_after_write),
        )
        .route("/query", post(query::query))
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
        .route("/consistency-metrics", get(query::consistency_metrics))
        .route("/openapi.json", get(crate::openapi::openapi_json))
        .route("/", get(dashboard::asset))
        .route("/assets/{file}", get(dashboard::asset))
        .route("/events", get(dashboard::events))
        .merge(admin)
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), browser_guards))
        .with_state(state)
}

/// JSON 404 for paths that do not exist.
pub async fn not_found(uri: Uri) -> ControlPlaneError {
    ControlPlaneError::NotFound {
        kind: "Path",
        id: uri.path().to_owned(),
    }
}
