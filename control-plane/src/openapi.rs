//! The OpenAPI description, generated from the handlers' annotations (utoipa), served at
//! `GET /openapi.json`.

use axum::Json;
use utoipa::OpenApi;

use crate::routes::{
    cabinet, dashboard, data, failover, metrics, query, seer, stress, timestamps, topology,
};

/// The coordinator API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "myquorum control plane",
        description = "The HTTP API of myquorum (shared/API.md): queries, topology, timestamps, \
                       metrics, Cabinet, SEER, data and stress tests. Failover paths answer 501 until failover lands."
    ),
    paths(
        topology::status,
        topology::health,
        topology::topology,
        timestamps::timestamp,
        timestamps::reset,
        timestamps::table_timestamps,
        metrics::all,
        metrics::one,
        metrics::prometheus,
        cabinet::select_quorum,
        cabinet::current_quorum,
        seer::elect_leader,
        failover::stop_master,
        failover::stop_master_only,
        failover::promote_leader,
        failover::start_instance,
        failover::restart_old_master,
        failover::switchover,
        query::query,
        query::consistency_metrics,
        data::clear_data,
        data::data_count,
        stress::concurrent_writes,
        stress::read_write_mix,
        stress::consistency_comparison,
        stress::read_after_write,
        dashboard::events,
    )
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
