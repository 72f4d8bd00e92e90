//! `Engine::execute`: one statement with a consistency level, buffered, for callers that are
//! not a MySQL client (the HTTP `/query` of the control plane, its stress endpoints). It uses
//! the same classifier, router, cluster view, pool and quorum tracker as the MySQL port; only
//! the I/O differs (the answer is collected, not streamed). Over HTTP there is no session: a
//! CAUSAL read waits for `after_timestamp`, else for what the proxy saw committed at arrival.

use mysql_common::constants::{CapabilityFlags, ColumnType, Command, StatusFlags};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backend::conn::{QueryResult, ResultCaps};
use crate::backend::{BackendConn, BackendKey};
use crate::classify::{Classified, Consistency, Kind};
use crate::cluster::Topology;
use crate::context::ProxyContext;
use crate::error::{BackendError, MysqlError};
use crate::gtid::Gtid;
use crate::pipeline::{self, Attempt, Committed, Plan, Rows, Upstream};
use crate::quorum::QuorumOutcome;
use crate::route::SessionState;
use std::convert::Infallible;
use std::ops::ControlFlow;

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
    /// Column names, for statements that returned rows (once, not per row).
    pub columns: Vec<String>,
    /// Rows as JSON values in the order of `columns`, for statements that returned rows.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows came back than [`EngineLimits::caps`] let through: `rows` is a prefix.
    pub truncated: bool,
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
    /// The statement ran past [`EngineLimits::statement_timeout`]; its connection was
    /// closed, and the server thread sent `KILL QUERY` when `killed`.
    #[error(
        "statement ran past the statement timeout of {} ms on {node} and was {}",
        limit.as_millis(),
        if *killed { "killed (KILL QUERY)" } else { "abandoned (KILL QUERY failed; its connection was closed)" }
    )]
    StatementTimeout {
        /// The timeout.
        limit: Duration,
        /// Node it ran on.
        node: String,
        /// Whether `KILL QUERY` reached the server.
        killed: bool,
    },
}

/// Bounds on one engine statement, set by its caller (the control plane's configuration).
/// Without them a `/query` could buffer a whole table or hold a connection forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineLimits {
    /// What is kept of a result set.
    pub caps: ResultCaps,
    /// Longest a statement may run on its server (None: unbounded). Past it the proxy sends
    /// `KILL QUERY` on another connection and drops the statement's own; the client's SQL
    /// is never rewritten.
    pub statement_timeout: Option<Duration>,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            caps: ResultCaps::UNLIMITED,
            statement_timeout: None,
        }
    }
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

/// Engine connections kept per node between requests, already in the engine's database and
/// with no session state: reused without COM_RESET_CONNECTION and COM_INIT_DB.
const IDLE_PER_NODE: usize = 8;

/// How long an engine connection may sit unused before it goes back to the pool (which
/// checks and resets it) instead of being reused as it is.
const IDLE_REUSE: Duration = Duration::from_secs(30);

/// Runs statements outside any client session.
#[derive(Debug, Clone)]
pub struct Engine {
    shared: Arc<ProxyContext>,
    /// Clean connections by node, reused as they are (see [`IDLE_PER_NODE`]).
    idle: Arc<Mutex<HashMap<String, Vec<BackendConn>>>>,
    /// Bounds on every statement.
    limits: EngineLimits,
}

impl Engine {
    /// An engine over a started proxy's context.
    pub fn new(shared: Arc<ProxyContext>) -> Self {
        Self {
            shared,
            idle: Arc::default(),
            limits: EngineLimits::default(),
        }
    }

    /// The same engine with `limits` on every statement.
    pub fn with_limits(mut self, limits: EngineLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Runs one statement at its consistency level, through the statement pipeline
    /// ([`crate::pipeline`]) the MySQL port uses; only the answer is collected instead of
    /// streamed.
    pub async fn execute(&self, request: Request) -> Result<Outcome, EngineError> {
        let started = Instant::now();
        let ctx = &*self.shared;
        let sql = request.sql.as_bytes();
        let stmt = ctx.classifier.classify(sql);
        let filtered =
            pipeline::request_filter(&stmt, sql, request.consistency, request.consistency)
                .map_err(|e| {
                    let e = MysqlError::bad_consistency(&e);
                    EngineError::Sql {
                        code: e.code,
                        state: e.state.to_owned(),
                        message: e.message,
                    }
                })?;
        let level = filtered.level;
        let mut up = EngineUpstream {
            engine: self,
            conns: Vec::new(),
            timed_out: None,
        };
        let causal = match request.after_timestamp {
            Some(seq) => Some(Gtid {
                domain: ctx.config.gtid_domain,
                server_id: 0,
                seq,
            }),
            None => ctx.cluster.newest_gtid(),
        };
        let plan = Plan {
            causal,
            ..Plan::default()
        };
        // The answer is collected before anything leaves, so a read whose node failed may
        // always run again elsewhere when the pipeline allows it.
        let retry = pipeline::retry_allowed(ctx, &stmt, level, SessionState::default());
        let mut statement = EngineStatement {
            stmt: &stmt,
            level,
            plan,
            text: &filtered.text,
        };
        let Ok(ran) = pipeline::run_with_retry(&mut statement, &mut up, retry).await;
        let (topology, node, result) = match ran {
            Ok(ran) => ran,
            Err(e) => {
                let timed_out = up.timed_out.take();
                up.finish(false);
                return Err(timed_out.unwrap_or_else(|| e.into()));
            }
        };
        let committed = Committed {
            stmt: &stmt,
            level,
            node: &node,
            gtid: result.last_gtid,
            database: self.default_database(),
            wait_for_quorum: level == Consistency::Strong
                && topology.is_primary(&node)
                && !result.is_result_set,
            started,
        };
        let clean = leaves_no_state(&stmt, &result);
        up.finish(clean);
        let quorum = pipeline::logging(ctx, &topology, committed).await;
        Ok(to_outcome(result, &node, &stmt.kind, quorum, started))
    }

    /// A connection to `node_id` for the engine: a clean one kept from an earlier request,
    /// else one from the pool with the engine's database selected.
    async fn connect(&self, node_id: &str) -> Result<BackendConn, BackendError> {
        if let Some(conn) = self.take_idle(node_id) {
            return Ok(conn);
        }
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
            .get(&node, key, &user.password, &HashMap::new(), None)
            .await?;
        if let Some(db) = self.default_database() {
            let mut cmd = vec![Command::COM_INIT_DB as u8];
            cmd.extend_from_slice(db.as_bytes());
            conn.command_ok(&cmd).await?;
        }
        Ok(conn)
    }

    /// A kept clean connection to `node_id` that has not idled too long.
    fn take_idle(&self, node_id: &str) -> Option<BackendConn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let conns = idle.get_mut(node_id)?;
        while let Some(conn) = conns.pop() {
            if conn.idle_since.elapsed() < IDLE_REUSE && !conn.io.is_stale() {
                return Some(conn);
            }
            self.shared.pool.put_back(conn);
        }
        None
    }

    /// Gives a connection back: kept as it is when `clean` and there is room, else to the
    /// pool, which resets it.
    fn give_back(&self, mut conn: BackendConn, clean: bool) {
        if clean {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let conns = idle.entry(conn.key.node.to_string()).or_default();
            if conns.len() < IDLE_PER_NODE {
                conn.idle_since = Instant::now();
                conns.push(conn);
                return;
            }
        }
        self.shared.pool.put_back(conn);
    }

    /// Sends `KILL QUERY thread` to `node_id` on another engine connection (same user, so
    /// the server allows it); whether it was accepted.
    async fn kill_query(&self, node_id: &str, thread: u32) -> bool {
        let kill = async {
            let mut conn = self.connect(node_id).await?;
            conn.query_ok(&format!("KILL QUERY {thread}")).await?;
            self.give_back(conn, true);
            Ok::<_, BackendError>(())
        };
        let limit = self.shared.config.pool.connect_timeout();
        match tokio::time::timeout(limit, kill).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                tracing::warn!(node = node_id, thread, %error, "KILL QUERY of a timed-out statement failed");
                false
            }
            Err(_) => {
                tracing::warn!(
                    node = node_id,
                    thread,
                    "KILL QUERY of a timed-out statement timed out"
                );
                false
            }
        }
    }

    /// The database engine statements run in: the configured one, if any.
    fn default_database(&self) -> Option<&str> {
        self.shared.config.engine_database.as_deref()
    }
}

/// Whether a statement left its connection as it found it, so the next request may reuse
/// it without a reset: no open transaction, no pin (temporary table, lock, user variable...),
/// no session setting, no USE, one statement.
fn leaves_no_state(stmt: &Classified, result: &QueryResult) -> bool {
    let in_transaction = result
        .status
        .is_none_or(|s| s.contains(StatusFlags::SERVER_STATUS_IN_TRANS));
    !in_transaction
        && stmt.pins.is_none()
        && !stmt.multi_statement
        && matches!(
            stmt.kind,
            Kind::Read | Kind::Write | Kind::Ddl | Kind::PrimaryRead
        )
        && !stmt.session_setting
}

/// The connections one engine request uses, as the pipeline sees them.
struct EngineUpstream<'e> {
    engine: &'e Engine,
    conns: Vec<BackendConn>,
    /// Set when the statement ran past its timeout (the error to answer with).
    timed_out: Option<EngineError>,
}

impl EngineUpstream<'_> {
    /// The plan phase with the failover wait the MySQL port has (see the session's
    /// `place`): a statement for the primary waits, bounded by `failover_wait_ms`, while a
    /// failover runs or after the primary refused a connection, then is planned again.
    async fn place(
        &mut self,
        stmt: &Classified,
        level: Consistency,
        plan: Plan<'_>,
    ) -> (Arc<crate::cluster::Topology>, crate::config::BackendNode) {
        let ctx = Arc::clone(&self.engine.shared);
        let wait = Duration::from_millis(ctx.config.failover_wait_ms);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let topology = ctx.cluster.topology();
            let node = pipeline::upstream_peer(self, &topology, stmt, level, plan)
                .await
                .clone();
            let late = tokio::time::Instant::now() >= deadline;
            if !topology.is_primary(&node.id) || late {
                return (topology, node);
            }
            if ctx.cluster.failover_running() {
                ctx.cluster.wait_failover(topology.epoch(), deadline).await;
                continue;
            }
            match self.index(&node.id).await {
                Ok(_) => return (topology, node),
                Err(e) if e.server_answered() => return (topology, node),
                Err(_) => {
                    ctx.cluster.primary_unreachable(&node.id);
                    ctx.cluster.wait_failover(topology.epoch(), deadline).await;
                }
            }
        }
    }

    /// Index of the connection to node `id`, opened if needed.
    async fn index(&mut self, id: &str) -> Result<usize, BackendError> {
        if let Some(i) = self.conns.iter().position(|c| *c.key.node == *id) {
            return Ok(i);
        }
        let conn = self.engine.connect(id).await?;
        self.conns.push(conn);
        Ok(self.conns.len() - 1)
    }

    /// Runs the statement on node `id` and collects its answer. A refused statement leaves
    /// the connection usable; any other failure drops it.
    async fn query(&mut self, id: &str, sql: &[u8]) -> Result<QueryResult, BackendError> {
        let i = self.index(id).await?;
        let limits = self.engine.limits;
        let run = self.conns[i].query_capped(sql, limits.caps);
        let answer = match limits.statement_timeout {
            None => run.await,
            Some(limit) => match tokio::time::timeout(limit, run).await {
                Ok(answer) => answer,
                Err(_) => {
                    let conn = self.conns.remove(i);
                    let killed = self.engine.kill_query(id, conn.thread_id).await;
                    drop(conn);
                    self.timed_out = Some(EngineError::StatementTimeout {
                        limit,
                        node: id.to_owned(),
                        killed,
                    });
                    return Err(BackendError::Protocol(
                        "statement timeout: connection abandoned".to_owned(),
                    ));
                }
            },
        };
        if matches!(answer, Err(ref e) if !matches!(e, BackendError::Refused { .. })) {
            self.conns.remove(i);
        }
        answer
    }

    /// Returns the connections (see [`Engine::give_back`]).
    fn finish(self, clean: bool) {
        for conn in self.conns {
            self.engine.give_back(conn, clean);
        }
    }
}

/// One engine statement as the pipeline's plan-and-run loop drives it
/// ([`pipeline::run_with_retry`]).
struct EngineStatement<'a> {
    stmt: &'a Classified,
    level: Consistency,
    plan: Plan<'a>,
    /// The text sent.
    text: &'a [u8],
}

/// What an engine statement made of its node: the topology and node it ran on and the
/// collected answer, or the backend's failure.
type EngineAnswer = Result<(Arc<Topology>, Arc<str>, QueryResult), BackendError>;

impl<'e> pipeline::Retryable for EngineStatement<'e> {
    type Up = EngineUpstream<'e>;
    type Answer = EngineAnswer;
    type Lost = BackendError;
    type Error = Infallible;

    async fn place(
        &mut self,
        up: &mut EngineUpstream<'e>,
    ) -> Result<ControlFlow<EngineAnswer, (Arc<Topology>, Arc<str>)>, Infallible> {
        let (topology, node) = up.place(self.stmt, self.level, self.plan).await;
        Ok(ControlFlow::Continue((topology, node.id)))
    }

    async fn run(
        &mut self,
        up: &mut EngineUpstream<'e>,
        topology: &Arc<Topology>,
        node: &Arc<str>,
        retry: bool,
    ) -> Result<Attempt<EngineAnswer, BackendError>, Infallible> {
        let ctx = Arc::clone(&up.engine.shared);
        let exchange = up.query(node, self.text);
        let answer =
            pipeline::proxy_to_upstream(&ctx, topology, node, exchange, Result::is_ok).await;
        Ok(match answer {
            Err(e) if retry && up.timed_out.is_none() && e.connection_lost() => Attempt::Lost(e),
            Err(e) => Attempt::Done(Err(e)),
            Ok(r) => Attempt::Done(Ok((Arc::clone(topology), Arc::clone(node), r))),
        })
    }

    async fn report(
        &mut self,
        _up: &mut EngineUpstream<'e>,
        lost: BackendError,
    ) -> Result<EngineAnswer, Infallible> {
        Ok(Err(lost))
    }
}

impl Upstream for EngineUpstream<'_> {
    fn context(&self) -> &ProxyContext {
        &self.engine.shared
    }

    async fn connect(&mut self, id: &str) -> Result<(), BackendError> {
        self.index(id).await.map(|_| ())
    }

    async fn query_rows(&mut self, id: &str, sql: &str) -> Result<Rows, BackendError> {
        let i = self.index(id).await?;
        self.conns[i].query_rows(sql).await
    }

    fn lost(&mut self, id: &str) {
        self.conns.retain(|c| *c.key.node != *id);
    }
}

fn to_outcome(
    result: QueryResult,
    node: &str,
    kind: &Kind,
    quorum: Option<QuorumOutcome>,
    started: Instant,
) -> Outcome {
    let types: Vec<ColumnType> = result.columns.iter().map(|(_, ty)| *ty).collect();
    let rows = result
        .rows
        .into_iter()
        .map(|row| {
            types
                .iter()
                .zip(row)
                .map(|(ty, value)| json_value(*ty, value))
                .collect()
        })
        .collect();
    let columns: Vec<String> = result.columns.into_iter().map(|(n, _)| n).collect();
    Outcome {
        is_write: matches!(kind, Kind::Write | Kind::Ddl)
            || (!result.is_result_set && result.last_gtid.is_some()),
        columns,
        rows,
        truncated: result.truncated,
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
