//! `POST /query`: one statement at a consistency level through the proxy's engine (the same
//! classifier, router, pool and quorum tracker as the MySQL port), and
//! `GET /consistency-metrics`, the counters of every statement run that way.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use myquorum_proxy::classify::Consistency;
use myquorum_proxy::engine::{Outcome, Request};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::consistency_metrics::{execute, LevelMetrics};
use crate::error::ControlPlaneError;
use crate::state::ControlPlane;

/// Longest statement text accepted (bytes).
pub const MAX_QUERY: usize = 1024 * 1024;

/// Largest `/query` body read (the statement plus JSON overhead).
const MAX_QUERY_BODY: usize = MAX_QUERY + 64 * 1024;

/// `POST /query` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct QueryRequest {
    /// Statement text (any statement MariaDB accepts).
    pub query: String,
    /// `EVENTUAL`, `STRONG` (default) or `CAUSAL`.
    pub consistency: Option<String>,
    /// (+) CAUSAL: read at or after this timestamp (a previous write's `timestamp`).
    pub after_timestamp: Option<u64>,
}

/// `POST /query` answer (writes and reads share the envelope).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueryResponse {
    /// Always true here (errors answer with `success: false` and a 4xx/5xx status).
    pub success: bool,
    /// Human-readable summary.
    pub message: String,
    /// GTID sequence number the statement produced (null: it changed nothing).
    pub timestamp: Option<u64>,
    /// Rows changed.
    pub rows_affected: u64,
    /// Reads: rows as objects (column -> value); writes: null.
    #[schema(value_type = Option<Vec<Object>>)]
    pub data: Option<Vec<Map<String, Value>>>,
    /// (+) Reads: column names in order; writes: null.
    pub columns: Option<Vec<String>>,
    /// Node id that ran the statement.
    pub executed_on: String,
    /// The level it ran at.
    pub consistency_level: String,
    /// Time in the proxy and the servers, quorum wait included (ms).
    pub latency_ms: f64,
    /// STRONG writes: whether the Cabinet quorum applied the write; null otherwise.
    pub quorum_achieved: Option<bool>,
    /// STRONG writes: the replicas that had applied the write when answered; null otherwise.
    pub replica_caught_up: Option<Vec<String>>,
    /// (+) Whether the statement was a write.
    pub is_write: bool,
    /// (+) Server warnings.
    pub warnings: u16,
}

/// Parses a consistency name (case-insensitive).
pub fn parse_consistency(name: &str) -> Option<Consistency> {
    match name.trim().to_ascii_uppercase().as_str() {
        "EVENTUAL" => Some(Consistency::Eventual),
        "STRONG" => Some(Consistency::Strong),
        "CAUSAL" => Some(Consistency::Causal),
        _ => None,
    }
}

/// Milliseconds with microsecond precision.
pub fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Parses a `/query` body; `default` is the level when the body names none
/// (`control_plane.query_consistency`, STRONG unless configured).
fn parse_request(bytes: &[u8], default: Consistency) -> Result<Request, ControlPlaneError> {
    let bad = |reason: String| ControlPlaneError::BadQuery { reason };
    let body: QueryRequest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if body.query.trim().is_empty() {
        return Err(bad("`query` is empty".to_owned()));
    }
    if body.query.len() > MAX_QUERY {
        return Err(bad(format!(
            "`query` of {} bytes exceeds the limit of {MAX_QUERY}",
            body.query.len()
        )));
    }
    let consistency = match body.consistency.as_deref() {
        None => default,
        Some(name) => parse_consistency(name).ok_or_else(|| {
            bad(format!(
                "unknown consistency `{name}` (EVENTUAL, STRONG or CAUSAL)"
            ))
        })?,
    };
    Ok(Request {
        sql: body.query,
        consistency,
        after_timestamp: body.after_timestamp,
    })
}

/// The `message` of a write's answer.
fn write_message(level: Consistency, o: &Outcome) -> String {
    let ts = o
        .timestamp
        .map_or_else(|| "none".to_owned(), |t| t.to_string());
    match &o.quorum {
        Some(q) if q.achieved => format!(
            "Write successful (consistency: {level}, timestamp: {ts}, Cabinet replicas: {})",
            q.replicas.join(", ")
        ),
        Some(q) => format!(
            "Write committed on {} (consistency: {level}, timestamp: {ts}) but the quorum was \
             not achieved{}: {} replica(s) caught up{}",
            o.executed_on,
            if q.timed_out {
                " before the wait timed out"
            } else {
                ""
            },
            q.replicas.len(),
            if q.replicas.is_empty() {
                String::new()
            } else {
                format!(" ({})", q.replicas.join(", "))
            }
        ),
        None => format!("Write successful (consistency: {level}, timestamp: {ts})"),
    }
}

/// The answer of a statement that ran.
pub fn response(level: Consistency, o: Outcome) -> QueryResponse {
    let message = if o.is_write {
        write_message(level, &o)
    } else {
        format!(
            "Read successful (consistency: {level}, {} row(s) from {})",
            o.rows.len(),
            o.executed_on
        )
    };
    let (data, columns) = if o.is_write {
        (None, None)
    } else {
        (Some(o.rows), Some(o.columns))
    };
    QueryResponse {
        success: true,
        message,
        timestamp: o.timestamp,
        rows_affected: o.rows_affected,
        data,
        columns,
        executed_on: o.executed_on,
        consistency_level: level.as_str().to_owned(),
        latency_ms: millis(o.latency),
        quorum_achieved: o.quorum.as_ref().map(|q| q.achieved),
        replica_caught_up: o.quorum.map(|q| q.replicas),
        is_write: o.is_write,
        warnings: o.warnings,
    }
}

/// Runs one statement at a consistency level.
#[utoipa::path(post, path = "/query", tag = "queries", request_body = QueryRequest,
    responses(
        (status = 200, body = QueryResponse),
        (status = 400, description = "the server refused the statement: {success: false, message, error: {code, sqlstate}}"),
        (status = 401, description = "bearer token required"),
        (status = 422, description = "bad body, unknown consistency, empty or oversized query"),
        (status = 503, description = "no server can take the statement"),
        (status = 504, description = "a backend timed out")))]
pub async fn query(
    State(cp): State<ControlPlane>,
    body: axum::body::Body,
) -> Result<Json<QueryResponse>, ControlPlaneError> {
    let bytes = axum::body::to_bytes(body, MAX_QUERY_BODY)
        .await
        .map_err(|e| ControlPlaneError::BadQuery {
            reason: format!("body unreadable or over {MAX_QUERY_BODY} bytes: {e}"),
        })?;
    let request = parse_request(&bytes, cp.config().query_consistency)?;
    let level = request.consistency;
    let outcome = execute(&cp, request).await?;
    Ok(Json(response(level, outcome)))
}

/// Counters per consistency level of the statements run by `/query` and the stress tests.
#[utoipa::path(get, path = "/consistency-metrics", tag = "queries",
    responses((status = 200, body = BTreeMap<String, LevelMetrics>)))]
pub async fn consistency_metrics(
    State(cp): State<ControlPlane>,
) -> Json<BTreeMap<String, LevelMetrics>> {
    Json(cp.consistency_metrics().snapshot())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked() {
        let ok = parse_request(br#"{"query":"SELECT 1"}"#, Consistency::Strong).expect("valid");
        assert_eq!(ok.consistency, Consistency::Strong);
        let causal = parse_request(
            br#"{"query":"SELECT 1","consistency":"causal","after_timestamp":5}"#,
            Consistency::Strong,
        )
        .expect("valid");
        assert_eq!(causal.consistency, Consistency::Causal);
        assert_eq!(causal.after_timestamp, Some(5));
        for bad in [
            &br#"{"query":"SELECT 1","consistency":"SOMETIMES"}"#[..],
            br#"{"query":"  "}"#,
            br#"{"query":"#,
            br#"{}"#,
            br#""#,
        ] {
            assert!(matches!(
                parse_request(bad, Consistency::Strong),
                Err(ControlPlaneError::BadQuery { .. })
            ));
        }
        let huge = format!(r#"{{"query":"SELECT '{}'"}}"#, "x".repeat(MAX_QUERY));
        assert!(parse_request(huge.as_bytes(), Consistency::Strong).is_err());
    }
}
