//! `POST /admin/clear-data` and `GET /admin/stress-test/data-count`: the demo tables
//! (`users`, `products`), through the engine at STRONG (on the primary).

use axum::extract::State;
use axum::Json;
use myquorum_proxy::classify::Consistency;
use serde::Serialize;
use utoipa::ToSchema;

use crate::consistency_metrics::{execute, request};
use crate::error::ControlPlaneError;
use crate::state::ControlPlane;

/// `POST /admin/clear-data` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClearDataResponse {
    /// True when both tables were emptied.
    pub success: bool,
    /// What happened.
    pub message: String,
    /// Rows deleted from `users`.
    pub users_deleted: u64,
    /// Rows deleted from `products`.
    pub products_deleted: u64,
    /// Always false: timestamps are GTID sequence numbers and cannot be rewound.
    pub timestamp_reset: bool,
    /// (+) Timestamp of the last delete (null if nothing was deleted).
    pub timestamp: Option<u64>,
}

/// `GET /admin/stress-test/data-count` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DataCountResponse {
    /// Rows in `users`.
    pub users: u64,
    /// Rows in `products`.
    pub products: u64,
    /// Their sum.
    pub total: u64,
}

/// Deletes every row of the demo tables (STRONG); timestamps keep growing.
#[utoipa::path(post, path = "/admin/clear-data", tag = "data",
    responses((status = 200, body = ClearDataResponse), (status = 401, description = "bearer token required"),
        (status = 503, description = "no primary")))]
pub async fn clear_data(
    State(cp): State<ControlPlane>,
) -> Result<Json<ClearDataResponse>, ControlPlaneError> {
    let users = execute(&cp, request("DELETE FROM users", Consistency::Strong)).await?;
    let products = execute(&cp, request("DELETE FROM products", Consistency::Strong)).await?;
    Ok(Json(ClearDataResponse {
        success: true,
        message: format!(
            "Deleted {} user(s) and {} product(s). Timestamps were not reset: they are GTID \
             sequence numbers of committed writes and cannot be rewound",
            users.rows_affected, products.rows_affected
        ),
        users_deleted: users.rows_affected,
        products_deleted: products.rows_affected,
        timestamp_reset: false,
        timestamp: products.timestamp.or(users.timestamp),
    }))
}

async fn count(cp: &ControlPlane, table: &str) -> Result<u64, ControlPlaneError> {
    let outcome = execute(
        cp,
        request(
            format!("SELECT COUNT(*) AS n FROM {table}"),
            Consistency::Strong,
        ),
    )
    .await?;
    let n = outcome
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(0);
    Ok(n)
}

/// Rows in the demo tables (read on the primary).
#[utoipa::path(get, path = "/admin/stress-test/data-count", tag = "data",
    responses((status = 200, body = DataCountResponse), (status = 401, description = "bearer token required")))]
pub async fn data_count(
    State(cp): State<ControlPlane>,
) -> Result<Json<DataCountResponse>, ControlPlaneError> {
    let users = count(&cp, "users").await?;
    let products = count(&cp, "products").await?;
    Ok(Json(DataCountResponse {
        users,
        products,
        total: users + products,
    }))
}
