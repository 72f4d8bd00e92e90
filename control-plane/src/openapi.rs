//! The OpenAPI description, generated from the handlers' annotations (utoipa), served at
//! `GET /openapi.json`.

use axum::Json;
use utoipa::OpenApi;

use crate::routes::{cabinet, failover, metrics, seer, timestamps, topology};

/// The coordinator API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "myquorum control plane",
        description = "The HTTP API of myquorum (shared/API.md): topology, timestamps, metrics, \
                       Cabinet and SEER. Failover paths answer 501 until failover lands."
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
    )
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
