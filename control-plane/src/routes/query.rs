//! `POST /query`: one statement at a consistency level through the proxy's engine (the same
//! classifier, router, pool and quorum tracker as the MySQL port), and
//! `GET /consistency-metrics`, the counters of every statement run that way.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use myquorum_proxy::classify::Consistency;
use myquorum_proxy::engine::{Outcome, Request};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
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
    pub data: Option<RowObjects>,
    /// (+) Reads: more rows came back than `control_plane.query_max_rows` /
    /// `query_max_bytes` allow; `data` holds the first ones.
    pub truncated: bool,
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

/// Rows serialized as JSON objects keyed by column name, the names held once for the whole
/// result instead of cloned into every row. A name repeated in a result (`SELECT 1 AS a,
/// 2 AS a`) keeps its last value, as a JSON object built row by row would.
#[derive(Debug, Clone)]
pub struct RowObjects {
    columns: Vec<String>,
    /// Whether column i is the last one of its name (the one that appears in the object).
    keep: Vec<bool>,
    rows: Vec<Vec<Value>>,
}

impl RowObjects {
    /// Rows in the order of `columns`.
    pub fn new(columns: Vec<String>, rows: Vec<Vec<Value>>) -> Self {
        let keep = (0..columns.len())
            .map(|i| !columns[i + 1..].contains(&columns[i]))
            .collect();
        Self {
            columns,
            keep,
            rows,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// One row as an object (borrowed names).
struct RowObject<'a>(&'a RowObjects, &'a [Value]);

impl Serialize for RowObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for ((name, keep), value) in self.0.columns.iter().zip(&self.0.keep).zip(self.1) {
            if *keep {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

impl Serialize for RowObjects {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for row in &self.rows {
            seq.serialize_element(&RowObject(self, row))?;
        }
        seq.end()
    }
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
    } else if o.truncated {
        format!(
            "Read successful (consistency: {level}, first {} row(s) from {}; truncated at \
             control_plane.query_max_rows / query_max_bytes)",
            o.rows.len(),
            o.executed_on
        )
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
        let columns = o.columns.clone();
        (Some(RowObjects::new(o.columns, o.rows)), Some(columns))
    };
    QueryResponse {
        success: true,
        message,
        timestamp: o.timestamp,
        rows_affected: o.rows_affected,
        data,
        truncated: o.truncated,
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
        (status = 415, description = "Content-Type is not application/json"),
        (status = 421, description = "Host is not loopback or an allowed host"),
        (status = 422, description = "bad body, unknown consistency, empty or oversized query"),
        (status = 503, description = "no server can take the statement, or every /query slot is taken (Retry-After)"),
        (status = 504, description = "a backend timed out, or the statement ran past control_plane.query_timeout_ms (KILL QUERY sent)")))]
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
    let _slot = cp.try_query_slot().ok_or(ControlPlaneError::Busy {
        limit: cp.config().query_concurrency,
    })?;
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
        let rows = RowObjects::new(
            vec!["a".to_owned(), "b".to_owned(), "a".to_owned()],
            vec![vec![Value::from(1), Value::from(2), Value::from(3)]],
        );
        assert_eq!(
            serde_json::to_value(&rows).expect("JSON"),
            serde_json::json!([{"b": 2, "a": 3}])
        );
        let huge = format!(r#"{{"query":"SELECT '{}'"}}"#, "x".repeat(MAX_QUERY));
        assert!(parse_request(huge.as_bytes(), Consistency::Strong).is_err());
    }
}
