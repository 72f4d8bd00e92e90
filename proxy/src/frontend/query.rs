//! The COM_QUERY handler: what the proxy answers itself (`SET`/`SELECT
//! @@myquorum_consistency`, KILL, the warnings queries after its own warning), and for
//! everything else the session's side of the statement pipeline ([`crate::pipeline`]): its
//! state for the plan, its bookkeeping after the answer (pins, settings sent to its other
//! connections), the held OK of a STRONG write (DESIGN.md sections 3-5).

use mysql_common::constants::StatusFlags;
use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::debug;

use super::history::Setting;
use super::session::Session;
use crate::backend::conn::COM_QUERY;
use crate::classify::{Classified, Consistency, Kind, PinReason, WarningsQuery};
use crate::cluster::Topology;
use crate::config::{BackendNode, CausalScope};
use crate::error::{MysqlError, SessionError};
use crate::packet::Packet;
use crate::pipeline::{self, Attempt, Committed, Plan, Request};
use crate::quorum::QuorumOutcome;
use crate::relay::{Shape, Summary};
use crate::resultset::{self, Framing, Kind as ColumnKind, ResultSet};
use crate::route::{records_last_write, SessionState};

/// Code of the proxy's own warning (a STRONG write whose quorum wait timed out).
const QUORUM_WARNING_CODE: &str = "1105";

/// A statement on its way to a node: what [`Session::run_routed`] needs besides the bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Routed<'a> {
    /// Its classification.
    pub stmt: &'a Classified,
    /// The consistency level it runs at.
    pub level: Consistency,
    /// Its SQL text as sent when it is a session setting to record and replay
    /// ([`Classified::session_setting`]; for COM_STMT_EXECUTE: only a parameterless one).
    pub setting: Option<&'a [u8]>,
    /// When the proxy started on it (for the latency metric).
    pub started: Instant,
    /// A read that may run again on another node if this one fails before any byte of its
    /// answer reached the client ([`pipeline::retry_allowed`]).
    pub retry: bool,
}

/// How [`Session::run_routed`] ended: answered, or (a retryable read) lost before any byte
/// of its answer, with the error the client gets if no other node can run it (sequence id,
/// error).
pub(super) type Ran = Attempt<(), (u8, MysqlError)>;

/// What a routed command sends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Routable<'a> {
    /// COM_QUERY: its payload, and its text when it is a session setting to record.
    Query {
        /// The COM_QUERY payload as sent.
        payload: &'a [u8],
        /// See [`Routed::setting`].
        setting: Option<&'a [u8]>,
    },
    /// COM_STMT_EXECUTE of the session's statement `client_id` (prepared on the node it runs
    /// on first; the payload's statement id mapped to that node's).
    Execute {
        /// The statement's id as the client knows it.
        client_id: u32,
        /// The client's COM_STMT_EXECUTE payload.
        payload: &'a [u8],
    },
}

/// One routed command of the session (COM_QUERY, COM_STMT_EXECUTE) as the pipeline's
/// plan-and-run loop drives it ([`pipeline::run_with_retry`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct SessionStatement<'a> {
    /// Its classification.
    pub stmt: &'a Classified,
    /// The level it runs at.
    pub level: Consistency,
    /// When the proxy started on it.
    pub started: Instant,
    /// It must run on the primary (a cursor, long data).
    pub on_primary: bool,
    /// The command's sequence id.
    pub seq: u8,
    /// The sequence id of an error the proxy answers with.
    pub err_seq: u8,
    /// What it sends.
    pub command: Routable<'a>,
}

impl pipeline::Retryable for SessionStatement<'_> {
    type Up = Session;
    type Answer = ();
    type Lost = (u8, MysqlError);
    type Error = SessionError;

    async fn place(
        &mut self,
        up: &mut Session,
    ) -> Result<ControlFlow<(), (Arc<Topology>, Arc<str>)>, SessionError> {
        let placed = up
            .place(self.stmt, self.level, self.on_primary, self.err_seq)
            .await?;
        Ok(placed.map_or(ControlFlow::Break(()), ControlFlow::Continue))
    }

    async fn run(
        &mut self,
        up: &mut Session,
        topology: &Arc<Topology>,
        node: &Arc<str>,
        retry: bool,
    ) -> Result<Ran, SessionError> {
        let routed = Routed {
            stmt: self.stmt,
            level: self.level,
            setting: None,
            started: self.started,
            retry,
        };
        match self.command {
            Routable::Query { payload, setting } => {
                let statement = Routed { setting, ..routed };
                up.run_routed(statement, topology, node, self.seq, payload)
                    .await
            }
            Routable::Execute { client_id, payload } => {
                let seqs = (self.seq, self.err_seq);
                up.execute_on(client_id, routed, topology, node, seqs, payload)
                    .await
            }
        }
    }

    async fn report(
        &mut self,
        up: &mut Session,
        (seq, e): (u8, MysqlError),
    ) -> Result<(), SessionError> {
        up.send_err(seq, &e).await
    }
}

impl Session {
    /// Serves COM_QUERY.
    pub(super) async fn query(&mut self, packet: &Packet) -> Result<(), SessionError> {
        let sql = &packet.payload[1..];
        let stmt = self.shared.classifier.classify(sql);
        if let Some(kill) = stmt.kill {
            return self.kill(packet, kill).await;
        }
        if let Some(set) = &stmt.set_consistency {
            return self
                .set_consistency(packet, &set.value, set.remainder.as_deref())
                .await;
        }
        if stmt.reads_consistency {
            return self.answer_consistency(packet).await;
        }
        if let Some(full) = stmt.processlist {
            // The proxy's ids, the ones KILL takes (frontend/processlist.rs).
            return self.show_processlist(packet, full).await;
        }
        if let Some(column) = &stmt.connection_id {
            // The proxy's id, the one KILL takes (frontend/kill.rs).
            return self.answer_connection_id(packet, column).await;
        }
        let default = self.shared.config.default_consistency;
        let Request { level, text } =
            match pipeline::request_filter(&stmt, sql, self.consistency, default) {
                Ok(request) => request,
                Err(e) => {
                    return self
                        .send_err(packet.next_seq(), &MysqlError::bad_consistency(&e))
                        .await
                }
            };
        if self.proxy_warning.is_some() {
            match &stmt.warnings {
                Some(WarningsQuery::ShowWarnings) => {
                    return self.show_warnings_with_proxy_warning(packet).await;
                }
                Some(WarningsQuery::WarningCount { column }) => {
                    return self.warning_count_with_proxy_warning(packet, column).await;
                }
                None => {}
            }
        }
        if !stmt.sticky {
            self.proxy_warning = None;
        }
        let started = Instant::now();
        // The client's own packet when the text is unchanged (no copy per statement).
        let rewritten;
        let payload: &[u8] = match &text {
            Cow::Borrowed(_) => &packet.payload,
            Cow::Owned(text) => {
                rewritten = [&[COM_QUERY][..], text].concat();
                &rewritten
            }
        };
        let retry = pipeline::retry_allowed(&self.shared, &stmt, level, self.routing_state());
        let mut statement = SessionStatement {
            stmt: &stmt,
            level,
            started,
            on_primary: false,
            seq: packet.seq,
            err_seq: packet.next_seq(),
            command: Routable::Query {
                payload,
                setting: stmt.session_setting.then_some(&*text),
            },
        };
        pipeline::run_with_retry(&mut statement, self, retry).await
    }

    /// The topology and node a statement runs on (the plan phase, [`Self::choose_node`]),
    /// after waiting out a failover when the node is the primary (DESIGN.md section 7):
    /// while a failover runs, or when the primary refuses a connection (or the session's
    /// connection to it was found closed before a byte of this statement was sent), the
    /// statement waits up to `failover_wait_ms` for the new topology and is planned again
    /// on it. A read planned on a replica never waits. `on_primary` forces the primary.
    /// None: the session lost its transaction to the failover and the client got the error
    /// (sequence id `err_seq`).
    pub(super) async fn place(
        &mut self,
        stmt: &Classified,
        level: Consistency,
        on_primary: bool,
        err_seq: u8,
    ) -> Result<Option<(Arc<Topology>, Arc<str>)>, SessionError> {
        let ctx = Arc::clone(&self.shared);
        let wait = Duration::from_millis(ctx.config.failover_wait_ms);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(e) = self.follow_topology() {
                self.state_lost = Some(self.seen.1.clone());
                self.send_err(err_seq, &e).await?;
                return Ok(None);
            }
            let topology = ctx.cluster.topology();
            let node = if on_primary {
                topology.primary().id.clone()
            } else {
                self.choose_node(&topology, stmt, level).await.id.clone()
            };
            let late = tokio::time::Instant::now() >= deadline;
            if !topology.is_primary(&node) || late {
                return Ok(Some((topology, node)));
            }
            if ctx.cluster.failover_running() {
                ctx.cluster.wait_failover(topology.epoch(), deadline).await;
                continue;
            }
            if self.primary_reachable(&node).await {
                return Ok(Some((topology, node)));
            }
            ctx.cluster.primary_unreachable(&node);
            ctx.cluster.wait_failover(topology.epoch(), deadline).await;
        }
    }

    /// Whether the session can send a statement to primary `id` now: its connection there
    /// is open (one found closed by the server is dropped first, unless it held the
    /// session's state: then the execution reports the loss), or a new one opens.
    async fn primary_reachable(&mut self, id: &str) -> bool {
        if let Some(i) = self.conn_index(id) {
            if !self.conns[i].io.is_stale() || self.holds_state(id) {
                return true;
            }
            debug!(
                node = id,
                "the connection to the primary was closed by the server"
            );
            self.drop_conn(id);
        }
        match self.ensure_conn(id).await {
            Ok(_) => true,
            Err(e) if e.server_answered() => true,
            Err(e) => {
                debug!(node = id, error = %e, "the primary is unreachable");
                false
            }
        }
    }

    /// Runs a routed statement (COM_QUERY, or COM_STMT_EXECUTE with `payload` already mapped
    /// to `node`'s statement id) on `node` of `topology` and does the bookkeeping: the
    /// session's own (pins, settings sent to its other connections), then the pipeline's
    /// commit phase (timestamps, the STRONG quorum wait, metrics).
    pub(super) async fn run_routed(
        &mut self,
        statement: Routed<'_>,
        topology: &Topology,
        node: &str,
        seq: u8,
        payload: &[u8],
    ) -> Result<Ran, SessionError> {
        let Routed {
            stmt,
            level,
            setting,
            started,
            retry,
        } = statement;
        let strong_write = level == Consistency::Strong && topology.is_primary(node);
        // A write that may hide its GTID (frontend/hidden_gtid.rs): its OK waits until the
        // proxy has the position.
        let hidden_gtid =
            stmt.sets_tracking && topology.is_primary(node) && !crate::route::is_plain_read(stmt);
        let summary = Summary {
            hold_final_ok: strong_write || hidden_gtid,
            hold_gtid_ok: true,
            retry_on_loss: retry,
            cursor_execute: super::prepared::opens_cursor(payload),
            ..Summary::default()
        };
        let Some(mut done) = self
            .relay_routed(topology, node, seq, payload, summary)
            .await?
        else {
            return Ok(Attempt::Done(()));
        };
        if let Some(lost) = done.lost.take() {
            return Ok(Attempt::Lost(lost));
        }
        self.after_statement(stmt, setting, node, &done);
        if !done.error && self.conns.len() > 1 {
            if let Some(text) = setting {
                if payload.first() == Some(&COM_QUERY) {
                    self.apply_to_other_conns(node, payload).await;
                } else {
                    let mut query = Vec::with_capacity(1 + text.len());
                    query.push(COM_QUERY);
                    query.extend_from_slice(text);
                    self.apply_to_other_conns(node, &query).await;
                }
            }
            // The server reported a new default database (USE): the other connections follow.
            if let Some(db) = done.schema.take() {
                self.apply_to_other_conns(node, &super::session::init_db(&db))
                    .await;
            }
        }
        if !done.error && may_change_tracking(stmt, payload) {
            self.restore_gtid_tracking().await;
        }
        // A write that failed may still have written (a multi-row INSERT into a MyISAM table
        // keeps the rows before the error, and the binary log has them), but an ERR packet
        // carries no GTID.
        let failed_write = done.error
            && topology.is_primary(node)
            && matches!(stmt.kind, Kind::Write | Kind::Ddl | Kind::Other);
        if (hidden_gtid || failed_write) && done.last_gtid.is_none() {
            done.last_gtid = self.binlog_position(node).await;
            if done.last_gtid.is_some() {
                self.last_gtid = done.last_gtid;
            }
        }
        let held = done.held_ok.take();
        let database = done
            .last_gtid
            .and(self.database.as_deref())
            .map(String::from_utf8_lossy);
        let committed = Committed {
            stmt,
            level,
            node,
            gtid: done.last_gtid,
            database: database.as_deref(),
            wait_for_quorum: strong_write && held.is_some(),
            started,
        };
        let quorum = pipeline::logging(&self.shared, topology, committed).await;
        drop(database);
        if let Some(held) = held {
            self.send_held_ok(held, quorum.as_ref()).await?;
        }
        Ok(Attempt::Done(()))
    }

    /// [`Self::relay_on`] for a statement routed to `node` (COM_QUERY, COM_STMT_EXECUTE),
    /// inside the pipeline's execution phase (reads in flight and latency of a replica).
    pub(super) async fn relay_routed(
        &mut self,
        topology: &Topology,
        node: &str,
        seq: u8,
        payload: &[u8],
        summary: Summary,
    ) -> Result<Option<Summary>, SessionError> {
        if topology.is_primary(node) {
            return self
                .relay_on(node, seq, payload, Shape::Query, summary)
                .await;
        }
        let ctx = Arc::clone(&self.shared);
        let exchange = self.relay_on(node, seq, payload, Shape::Query, summary);
        pipeline::proxy_to_upstream(&ctx, topology, node, exchange, |r| matches!(r, Ok(Some(_))))
            .await
    }

    /// The pipeline's plan phase for this session's statement (also used for
    /// COM_STMT_EXECUTE): its state, its sticky node, and for CAUSAL its last write.
    pub(super) async fn choose_node<'t>(
        &mut self,
        topology: &'t Topology,
        stmt: &Classified,
        level: Consistency,
    ) -> &'t BackendNode {
        let state = self.routing_state();
        let sticky = self
            .read_only_node
            .as_deref()
            .or(self.previous.as_deref())
            .and_then(|id| topology.node(id));
        let causal = match self.shared.config.causal_scope {
            CausalScope::Proxy => self.shared.cluster.newest_gtid(),
            CausalScope::Session => self.last_gtid,
        };
        let last_write = self.last_write.as_deref().and_then(|id| topology.node(id));
        let plan = Plan {
            state,
            sticky,
            causal,
            last_write,
            home: self.home.as_deref().and_then(|id| topology.node(id)),
        };
        pipeline::upstream_peer(self, topology, stmt, level, plan).await
    }

    /// The session's state as the router reads it.
    pub(super) fn routing_state(&self) -> SessionState {
        SessionState {
            in_transaction: self.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS),
            autocommit_off: !self.status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT),
            pinned: !self.pins.is_empty(),
            read_only_transaction: self.read_only_node.is_some(),
            has_previous: self.previous.is_some(),
            has_last_write: self.last_write.is_some(),
        }
    }

    /// Session bookkeeping after a statement ran on `node`: pins, read-only transactions,
    /// recorded settings, timestamps.
    fn after_statement(
        &mut self,
        stmt: &Classified,
        setting: Option<&[u8]>,
        node: &str,
        done: &Summary,
    ) {
        let in_txn = self.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS);
        if !done.error {
            if let Some(pin) = stmt.pins.filter(|&p| p != PinReason::Unparseable || in_txn) {
                self.pin(pin);
            }
            if let Some(unpin) = stmt.unpins {
                self.pins.remove(&unpin);
            }
            // LAST_INSERT_ID() belongs to the connection of the last write (writes run on
            // the primary; statements of a read-only transaction on a replica change nothing).
            if records_last_write(stmt)
                && self.is_primary(node)
                && self.last_write.as_deref() != Some(node)
            {
                self.last_write = Some(self.primary_id());
            }
        }
        if stmt.pins != Some(PinReason::CalcFoundRows) && !stmt.sticky {
            self.pins.remove(&PinReason::CalcFoundRows);
        }
        if !in_txn {
            self.pins.remove(&PinReason::Unparseable);
        }
        if !self.is_primary(node) && matches!(stmt.kind, Kind::Transaction(_)) && in_txn {
            self.read_only_node = Some(node.to_owned());
        }
        if self.read_only_node.is_some() && !in_txn {
            self.read_only_node = None;
        }
        let pin = self.pins.iter().next().map(|p| p.as_str());
        if pin != self.reported_pin {
            self.reported_pin = pin;
            self.shared.registry.set_pin(self.id, pin);
        }
        if let Some(text) = setting.filter(|_| !done.error) {
            self.history.record(Setting::Statement(text.to_vec()));
        }
        // A read leaves nothing a later statement reads from its connection but its row
        // count (FOUND_ROWS(), pinned when asked for with SQL_CALC_FOUND_ROWS) and warnings
        // (which keep the connection: see `Session::can_park`); a replayable setting is in
        // the history. After a write, ROW_COUNT() reads the connection: it is kept.
        if leaves_unrecorded_state(stmt, setting, done) {
            if let Some(i) = self.conn_index(node) {
                self.conns[i].tainted = true;
            }
        }
        self.release_after = !done.error
            && stmt.pins.is_none()
            && !stmt.multi_statement
            // `LAST_INSERT_ID(expr)` sets the connection's value.
            && !stmt.follows_last_write
            && (stmt.kind == Kind::Read || (stmt.kind == Kind::SessionSet && setting.is_some()));
    }

    /// Sends a write's held OK once the commit phase recorded it (and for a STRONG write, once
    /// its quorum wait is over: on a timeout the write stays committed and the OK carries one
    /// more warning, shown by the next SHOW WARNINGS).
    async fn send_held_ok(
        &mut self,
        mut held: Vec<u8>,
        quorum: Option<&QuorumOutcome>,
    ) -> Result<(), SessionError> {
        if let Some(outcome) = quorum.filter(|q| !q.achieved) {
            crate::ok_packet::bump_warnings(&mut held, 1);
            self.proxy_warning = Some(format!(
                "myquorum: STRONG write committed on the primary but the Cabinet quorum was not reached within {} ms (replicas caught up: {})",
                self.shared.config.quorum.timeout_ms,
                if outcome.replicas.is_empty() { "none".to_owned() } else { outcome.replicas.join(", ") }
            ));
        }
        self.io.wbuf.extend_from_slice(&held);
        self.io.flush().await.map_err(SessionError::ClientGone)
    }

    /// `SET [SESSION] myquorum_consistency = ...`, answered by the proxy (the rest of a
    /// multi-assignment SET still goes to the server).
    async fn set_consistency(
        &mut self,
        packet: &Packet,
        value: &Result<Option<Consistency>, crate::classify::SetConsistencyError>,
        remainder: Option<&[u8]>,
    ) -> Result<(), SessionError> {
        let level = match value {
            Ok(v) => v.unwrap_or(self.shared.config.default_consistency),
            Err(e) => {
                return self
                    .send_err(packet.next_seq(), &MysqlError::bad_consistency(e))
                    .await
            }
        };
        let Some(rest) = remainder else {
            self.consistency = level;
            return self.send_ok(packet.next_seq()).await;
        };
        let mut payload = vec![COM_QUERY];
        payload.extend_from_slice(rest);
        let done = self
            .relay_command(packet.seq, &payload, Shape::Query, None)
            .await?;
        if done.is_some_and(|d| !d.error) {
            self.consistency = level;
            if self.shared.classifier.classify(rest).session_setting {
                self.history.record(Setting::Statement(rest.to_vec()));
                let primary = self.primary_id();
                self.apply_to_other_conns(&primary, &payload).await;
            }
        }
        Ok(())
    }

    /// `SELECT @@myquorum_consistency`.
    async fn answer_consistency(&mut self, packet: &Packet) -> Result<(), SessionError> {
        let mut rs = ResultSet::new(&[("@@myquorum_consistency", ColumnKind::Text)]);
        rs.push(vec![Some(self.consistency.to_string())]);
        self.send_result_set(packet.next_seq(), &rs).await
    }

    /// SHOW WARNINGS after a statement the proxy added a warning to: the server's warnings
    /// (from the same connection) plus the proxy's.
    async fn show_warnings_with_proxy_warning(
        &mut self,
        packet: &Packet,
    ) -> Result<(), SessionError> {
        let node = self.previous.clone().unwrap_or_else(|| self.primary_id());
        let mut rs = ResultSet::new(&[
            ("Level", ColumnKind::Text),
            ("Code", ColumnKind::Unsigned),
            ("Message", ColumnKind::Text),
        ]);
        if let Some(index) = self.conn_index(&node) {
            match self.conns[index].query_rows("SHOW WARNINGS").await {
                Ok(rows) => {
                    for row in rows {
                        rs.push(
                            row.into_iter()
                                .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
                                .collect(),
                        );
                    }
                }
                Err(e) => debug!(error = %e, "could not read the server's warnings"),
            }
        }
        if let Some(message) = self.proxy_warning.clone() {
            rs.push(vec![
                Some("Warning".to_owned()),
                Some(QUORUM_WARNING_CODE.to_owned()),
                Some(message),
            ]);
        }
        self.send_result_set(packet.next_seq(), &rs).await
    }

    /// `SELECT @@warning_count` or `SHOW COUNT(*) WARNINGS` after a statement the proxy added
    /// a warning to: the server's count (from the same connection) plus the proxy's one, as
    /// in the OK packet the client got. `column` names the answer as the server would.
    async fn warning_count_with_proxy_warning(
        &mut self,
        packet: &Packet,
        column: &str,
    ) -> Result<(), SessionError> {
        let node = self.previous.clone().unwrap_or_else(|| self.primary_id());
        let mut count: u64 = 1;
        if let Some(index) = self.conn_index(&node) {
            match self.conns[index].query_rows("SELECT @@warning_count").await {
                Ok(rows) => {
                    let server = rows
                        .first()
                        .and_then(|row| row.first())
                        .and_then(|v| v.as_deref())
                        .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
                    count += server.unwrap_or(0);
                }
                Err(e) => debug!(error = %e, "could not read the server's warning count"),
            }
        }
        let mut rs = ResultSet::new(&[(column, ColumnKind::Unsigned)]);
        rs.push(vec![Some(count.to_string())]);
        self.send_result_set(packet.next_seq(), &rs).await
    }

    pub(super) async fn send_result_set(
        &mut self,
        seq: u8,
        rs: &ResultSet,
    ) -> Result<(), SessionError> {
        let framing = Framing::new(self.hello.capabilities, self.hello.mariadb_capabilities)
            .with_status(self.status);
        resultset::queue(&mut self.io, seq, framing, rs);
        self.io.flush().await.map_err(SessionError::ClientGone)
    }
}

/// Whether a statement that succeeded may have changed `session_track_system_variables`: a
/// session SET, a multi-statement or an unclassified statement over COM_QUERY whose text
/// names it. Reads and plain DML are not scanned (the hot path).
fn may_change_tracking(stmt: &Classified, payload: &[u8]) -> bool {
    let candidate = stmt.session_setting
        || stmt.multi_statement
        || matches!(stmt.kind, Kind::SessionSet | Kind::Other);
    candidate
        && payload.first() == Some(&COM_QUERY)
        && super::session::touches_gtid_tracking(&payload[1..])
}

/// Whether `stmt` may have left session state on its connection that the session does not
/// record (so a connection in the same recorded state would not have it): a stored procedure
/// (CALL) or function, multi-statement text, a SET that is not replayed (SET TRANSACTION), a
/// statement of the kinds the router sends to the primary as unknown. A `USE` is recorded
/// (the server reports the new database); writes, DDL and transaction control leave nothing.
fn leaves_unrecorded_state(stmt: &Classified, setting: Option<&[u8]>, done: &Summary) -> bool {
    stmt.multi_statement
        || match stmt.kind {
            Kind::Read | Kind::Ddl | Kind::Transaction(_) => false,
            Kind::Write => !stmt.tables_known,
            Kind::SessionSet => setting.is_none() && done.schema.is_none(),
            Kind::PrimaryRead | Kind::Other => true,
        }
}
