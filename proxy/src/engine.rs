//! `Engine::execute`: one statement with a consistency level, buffered, for callers that are
//! not a MySQL client (the HTTP `/query` of the control plane, its stress endpoints). It uses
//! the same classifier, router, cluster view, pool and quorum tracker as the MySQL port; only
//! the I/O differs (the answer is collected, not streamed). Over HTTP there is no session: a
//! CAUSAL read waits for `after_timestamp`, else for what the proxy saw committed at arrival.

use mysql_common::constants::{CapabilityFlags, ColumnType};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::conn::QueryResult;
use crate::backend::{BackendConn, BackendKey};
use crate::classify::{Classified, Consistency, Kind};
use crate::error::BackendError;
use crate::metrics::RouteLabel;
use crate::quorum::QuorumOutcome;
use crate::route::{route, Route, SessionState};
use crate::server::Shared;

/// utf8mb4_general_ci: the collation of engine connections.
const ENGINE_COLLATION: u8 = 45;

/// One statement to run.
#[derive(Debug, Clone)]
pub struct Request {
    /// Statement text.
    pub sql: String,
    /// Consistency level.
    pub consistency: Consistency,
    /// CAUSAL: read at or after this timestamp (GTID sequence number).
    pub after_timestamp: Option<u64>,
}

/// What a statement returned.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The statement wrote (or ran on the primary for a write-class reason).
    pub is_write: bool,
    /// Column names, for statements that returned rows.
    pub columns: Vec<String>,
    /// Rows as JSON objects (column -> value), for statements that returned rows.
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Rows changed.
    pub rows_affected: u64,
    /// GTID sequence number the statement produced (None: it changed nothing).
    pub timestamp: Option<u64>,
    /// Node id that ran it.
    pub executed_on: String,
    /// STRONG writes: how the quorum wait ended.
    pub quorum: Option<QuorumOutcome>,
    /// Server warnings.
    pub warnings: u16,
    /// Wall time spent in the proxy and the servers.
    pub latency: Duration,
}

/// Why a statement did not run, decided once; the control plane maps each to a status code.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The server refused the statement (1064, 1062, 1146, ...): the caller's fault.
    #[error("{message}")]
    Sql {
        /// MySQL error code.
        code: u16,
        /// SQLSTATE.
        state: String,
        /// Message.
        message: String,
    },
    /// No node could take the statement (the primary is unreachable).
    #[error("no server can take the statement: {0}")]
    Unavailable(String),
    /// A backend did not answer in time.
    #[error("backend timed out: {0}")]
    Timeout(String),
    /// The proxy has no application user to run statements as.
    #[error("no application user is configured")]
    NoUser,
}

impl From<BackendError> for EngineError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Refused {
                code,
                state,
                message,
                ..
            } => EngineError::Sql {
                code,
                state,
                message,
            },
            BackendError::ConnectTimeout { .. } => EngineError::Timeout(e.to_string()),
            BackendError::NoAppUser => EngineError::NoUser,
            other => EngineError::Unavailable(other.to_string()),
        }
    }
}

/// Runs statements outside any client session.
#[derive(Debug, Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    /// An engine over a started proxy's shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Runs one statement at its consistency level.
    pub async fn execute(&self, request: Request) -> Result<Outcome, EngineError> {
        let started = Instant::now();
        let stmt = self.shared.classifier.classify(request.sql.as_bytes());
        let primary = self.shared.cluster.primary().id.clone();
        let decision = route(&stmt, request.consistency, SessionState::default());
        let node = match decision {
            Route::Replica => self.shared.cluster.pick_replica().map(|n| n.id.clone()),
            Route::Causal => self.causal_replica(request.after_timestamp),
            Route::Primary | Route::Previous | Route::ReadOnlyTransaction => None,
        }
        .unwrap_or_else(|| primary.clone());
        let conn = match self.connect(&node).await {
            Ok(c) => c,
            Err(e) if node != primary => {
                self.shared.cluster.replica_failed(&node);
                tracing::debug!(node = %node, error = %e, "replica unreachable: running on the primary");
                return Box::pin(self.execute_on_primary(request, started)).await;
            }
            Err(e) => return Err(e.into()),
        };
        self.run(conn, &node, &stmt, &request, started).await
    }

    async fn execute_on_primary(
        &self,
        request: Request,
        started: Instant,
    ) -> Result<Outcome, EngineError> {
        let primary = self.shared.cluster.primary().id.clone();
        let stmt = self.shared.classifier.classify(request.sql.as_bytes());
        let conn = self.connect(&primary).await?;
        self.run(conn, &primary, &stmt, &request, started).await
    }

    async fn run(
        &self,
        mut conn: BackendConn,
        node: &str,
        stmt: &Classified,
        request: &Request,
        started: Instant,
    ) -> Result<Outcome, EngineError> {
        let primary = self.shared.cluster.primary().id.clone();
        // On a replica: counted in flight there, and timed for its latency estimate.
        let in_flight = (node != primary)
            .then(|| self.shared.cluster.begin_read(node))
            .flatten();
        let sent = Instant::now();
        let answer = conn.query_full(request.sql.as_bytes()).await;
        if in_flight.is_some() && answer.is_ok() {
            self.shared.cluster.observe_latency(node, sent.elapsed());
        }
        drop(in_flight);
        let result = match answer {
            Ok(r) => r,
            Err(e) => {
                // A refused statement leaves the connection usable; anything else closes it.
                if matches!(e, BackendError::Refused { .. }) {
                    self.shared.pool.put_back(conn);
                }
                return Err(e.into());
            }
        };
        self.shared.pool.put_back(conn);
        if let Some(gtid) = result.last_gtid {
            self.shared
                .cluster
                .record_write(gtid.seq, &stmt.tables, self.default_database());
        }
        let quorum = if request.consistency == Consistency::Strong
            && node == primary
            && !result.is_result_set
        {
            Some(match (result.last_gtid, &self.shared.cluster.quorum) {
                (Some(gtid), Some(tracker)) => tracker.wait_for(gtid).await,
                (None, Some(tracker)) => tracker.record_trivial(),
                _ => QuorumOutcome::trivial(),
            })
        } else {
            None
        };
        if let (Some(q), Some(gtid)) = (&quorum, result.last_gtid) {
            self.shared.metrics.quorum_wait.observe(q.waited);
            if q.achieved {
                self.shared.cluster.acknowledged(gtid.seq);
            }
        }
        let route = if node == primary {
            RouteLabel::Primary
        } else {
            RouteLabel::Replica
        };
        self.shared
            .metrics
            .statement(route, request.consistency, started.elapsed());
        Ok(to_outcome(result, node, &stmt.kind, quorum, started))
    }

    /// A replica known to have applied `after` (or what the proxy saw committed).
    fn causal_replica(&self, after: Option<u64>) -> Option<String> {
        let wanted = after.unwrap_or_else(|| self.shared.cluster.newest_seq());
        self.shared.cluster.replica_with(wanted)
    }

    async fn connect(&self, node_id: &str) -> Result<BackendConn, BackendError> {
        let user = self
            .shared
            .config
            .users
            .first()
            .ok_or(BackendError::NoAppUser)?;
        let node = self.shared.cluster.node(node_id).cloned().ok_or_else(|| {
            BackendError::UnknownNode {
                node: node_id.to_owned(),
            }
        })?;
        let flags = CapabilityFlags::CLIENT_PROTOCOL_41
            | CapabilityFlags::CLIENT_LONG_FLAG
            | CapabilityFlags::CLIENT_TRANSACTIONS
            | CapabilityFlags::CLIENT_MULTI_RESULTS
            | CapabilityFlags::CLIENT_DEPRECATE_EOF;
        let key = BackendKey {
            user: user.name.clone(),
            node: node.id.clone(),
            capabilities: crate::capabilities::for_backend(flags).bits(),
            mariadb_capabilities: 0,
            collation: ENGINE_COLLATION,
            worker: crate::workers::current(),
        };
        let mut conn = self
            .shared
            .pool
            .get(&node, key, &user.password, &HashMap::new())
            .await?;
        if let Some(db) = self.default_database() {
            let mut cmd = vec![0x02];
            cmd.extend_from_slice(db.as_bytes());
            conn.command_ok(&cmd).await?;
        }
        Ok(conn)
    }

    /// The database engine statements run in: the configured one, if any.
    fn default_database(&self) -> Option<&str> {
        self.shared.config.engine_database.as_deref()
    }
}

fn to_outcome(
    result: QueryResult,
    node: &str,
    kind: &Kind,
    quorum: Option<QuorumOutcome>,
    started: Instant,
) -> Outcome {
    let columns: Vec<String> = result.columns.iter().map(|(n, _)| n.clone()).collect();
    let rows = result
        .rows
        .into_iter()
        .map(|row| {
            result
                .columns
                .iter()
                .zip(row)
                .map(|((name, ty), value)| (name.clone(), json_value(*ty, value)))
                .collect()
        })
        .collect();
    Outcome {
        is_write: matches!(kind, Kind::Write | Kind::Ddl)
            || (!result.is_result_set && result.last_gtid.is_some()),
        columns,
        rows,
        rows_affected: result.affected_rows,
        timestamp: result.last_gtid.map(|g| g.seq),
        executed_on: node.to_owned(),
        quorum,
        warnings: result.warnings,
        latency: started.elapsed(),
    }
}

/// Text-protocol value to JSON: integers and floats as numbers, NULL as null, everything
/// else (DECIMAL included, to keep its precision) as a string.
fn json_value(ty: ColumnType, value: Option<Vec<u8>>) -> serde_json::Value {
    let Some(bytes) = value else {
        return serde_json::Value::Null;
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    use ColumnType::*;
    match ty {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_LONG | MYSQL_TYPE_LONGLONG
        | MYSQL_TYPE_INT24 | MYSQL_TYPE_YEAR => {
            if let Ok(i) = text.parse::<i64>() {
                return serde_json::Value::from(i);
            }
            if let Ok(u) = text.parse::<u64>() {
                return serde_json::Value::from(u);
            }
            serde_json::Value::String(text)
        }
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(serde_json::Value::String(text), serde_json::Value::Number),
        _ => serde_json::Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_json() {
        assert_eq!(
            json_value(ColumnType::MYSQL_TYPE_LONG, Some(b"-5".to_vec())),
            serde_json::json!(-5)
        );
        assert_eq!(
            json_value(
                ColumnType::MYSQL_TYPE_LONGLONG,
                Some(b"18446744073709551615".to_vec())
            ),
            serde_json::json!(18446744073709551615u64)
        );
        assert_eq!(
            json_value(ColumnType::MYSQL_TYPE_DOUBLE, Some(b"1.5".to_vec())),
            serde_json::json!(1.5)
        );
        assert_eq!(
            json_value(ColumnType::MYSQL_TYPE_NEWDECIMAL, Some(b"1.50".to_vec())),
            serde_json::json!("1.50")
        );
        assert_eq!(
            json_value(ColumnType::MYSQL_TYPE_VAR_STRING, None),
            serde_json::Value::Null
        );
    }
}
