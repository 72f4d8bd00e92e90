//! COM_QUERY: classification, the consistency level of the statement, the routing decision,
//! the STRONG quorum wait and the CAUSAL replica check (DESIGN.md sections 3-5).

use mysql_common::constants::StatusFlags;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::debug;

use super::history::{is_session_setting, Setting};
use super::lexer::{leading_tokens, Token};
use super::session::Session;
use crate::backend::conn::COM_QUERY;
use crate::classify::{Classified, Consistency, Kind, PinReason};
use crate::error::{MysqlError, SessionError};
use crate::metrics::RouteLabel;
use crate::packet::Packet;
use crate::quorum::QuorumOutcome;
use crate::relay::{Shape, Summary};
use crate::resultset::{self, Framing, Kind as ColumnKind, ResultSet};
use crate::route::{route, Route, SessionState};

/// Code of the proxy's own warning (a STRONG write whose quorum wait timed out).
const QUORUM_WARNING_CODE: &str = "1105";

/// A statement on its way to a node: what [`Session::run_routed`] needs besides the bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Routed<'a> {
    /// Its classification.
    pub stmt: &'a Classified,
    /// The consistency level it runs at.
    pub level: Consistency,
    /// Its SQL text as sent, for recording and replaying session settings (for
    /// COM_STMT_EXECUTE: the statement's text when it is a parameterless session SET, else
    /// empty).
    pub text: &'a [u8],
    /// When the proxy started on it (for the latency metric).
    pub started: Instant,
}

impl Session {
    /// Serves COM_QUERY.
    pub(super) async fn query(&mut self, packet: &Packet) -> Result<(), SessionError> {
        let sql = &packet.payload[1..];
        if let Some(kill) = super::kill::parse(sql) {
            return self.kill(packet, kill).await;
        }
        let stmt = self.shared.classifier.classify(sql);
        if let Some(set) = &stmt.set_consistency {
            return self
                .set_consistency(packet, &set.value, set.remainder.as_deref())
                .await;
        }
        if stmt.reads_consistency {
            return self.answer_consistency(packet).await;
        }
        let mut level = self.consistency;
        let mut text: Cow<'_, [u8]> = Cow::Borrowed(sql);
        if let Some(set_statement) = &stmt.set_statement {
            match &set_statement.value {
                Ok(v) => level = v.unwrap_or(self.shared.config.default_consistency),
                Err(e) => {
                    return self
                        .send_err(packet.next_seq(), &MysqlError::bad_consistency(e))
                        .await
                }
            }
            text = Cow::Owned(set_statement.rewritten.clone());
        }
        if let Some(hint) = stmt.hint {
            level = hint;
        }
        if self.proxy_warning.is_some() {
            if is_show_warnings(sql) {
                return self.show_warnings_with_proxy_warning(packet).await;
            }
            if let Some(column) = warning_count_column(sql) {
                return self.warning_count_with_proxy_warning(packet, &column).await;
            }
        }
        if !stmt.sticky {
            self.proxy_warning = None;
        }
        let started = Instant::now();
        let node = self.choose_node(&stmt, level).await;
        let mut payload = Vec::with_capacity(1 + text.len());
        payload.push(COM_QUERY);
        payload.extend_from_slice(&text);
        let statement = Routed {
            stmt: &stmt,
            level,
            text: &text,
            started,
        };
        self.run_routed(statement, &node, packet.seq, &payload)
            .await
    }

    /// Runs a routed statement (COM_QUERY, or COM_STMT_EXECUTE with `payload` already mapped
    /// to `node`'s statement id) on `node` and does the bookkeeping: pins, settings sent to
    /// the session's other connections, timestamps, the STRONG quorum wait, metrics.
    pub(super) async fn run_routed(
        &mut self,
        statement: Routed<'_>,
        node: &str,
        seq: u8,
        payload: &[u8],
    ) -> Result<(), SessionError> {
        let Routed {
            stmt,
            level,
            text,
            started,
        } = statement;
        let on_primary = self.is_primary(node);
        let summary = Summary {
            hold_final_ok: level == Consistency::Strong && on_primary,
            ..Summary::default()
        };
        let Some(mut done) = self.relay_routed(node, seq, payload, summary).await? else {
            return Ok(());
        };
        self.after_statement(stmt, text, node, &done);
        if !done.error && self.conns.len() > 1 {
            if !stmt.multi_statement && is_session_setting(text) {
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
        if let Some(held) = done.held_ok.take() {
            self.answer_strong_write(held, &done).await?;
        }
        let route = if on_primary {
            RouteLabel::Primary
        } else {
            RouteLabel::Replica
        };
        self.shared
            .metrics
            .statement(route, level, started.elapsed());
        Ok(())
    }

    /// [`Self::relay_on`] for a statement routed to `node` (COM_QUERY, COM_STMT_EXECUTE). On a
    /// replica the statement counts as in flight there until its answer is relayed (the guard
    /// also ends it on every early return and on cancellation), and its duration, from send to
    /// the end of the answer, feeds the replica's latency estimate: both steer replica choice
    /// (DESIGN.md section 5, [`crate::cluster`]).
    pub(super) async fn relay_routed(
        &mut self,
        node: &str,
        seq: u8,
        payload: &[u8],
        summary: Summary,
    ) -> Result<Option<Summary>, SessionError> {
        let on_replica =
            (!self.is_primary(node)).then(|| Arc::clone(&self.shared));
        let _in_flight = on_replica
            .as_deref()
            .and_then(|shared| shared.cluster.begin_read(node));
        let sent = Instant::now();
        let done = self
            .relay_on(node, seq, payload, Shape::Query, summary)
            .await?;
        if let (Some(shared), Some(_)) = (&on_replica, &done) {
            shared.cluster.observe_latency(node, sent.elapsed());
        }
        Ok(done)
    }

    /// Turns the routing decision into a node id (also used for COM_STMT_EXECUTE).
    pub(super) async fn choose_node(&mut self, stmt: &Classified, level: Consistency) -> String {
        let state = SessionState {
            in_transaction: self.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS),
            autocommit_off: !self.status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT),
            pinned: !self.pins.is_empty(),
            read_only_transaction: self.read_only_node.is_some(),
            has_previous: self.previous.is_some(),
        };
        let primary = self.primary_id();
        let decision = route(stmt, level, state);
        debug!(?decision, %level, "routed");
        match decision {
            Route::Primary => primary,
            Route::Previous => self
                .read_only_node
                .clone()
                .or_else(|| self.previous.clone())
                .unwrap_or(primary),
            Route::Replica | Route::ReadOnlyTransaction => {
                self.usable_replica().await.unwrap_or(primary)
            }
            Route::Causal => self.causal_node().await.unwrap_or(primary),
        }
    }

    /// A replica the session can reach right now (a replica that refuses a connection is
    /// skipped, and the read goes elsewhere before any byte was sent).
    async fn usable_replica(&mut self) -> Option<String> {
        for _ in 0..self.shared.cluster.replicas().len() {
            let id = self.shared.cluster.pick_replica()?.id.clone();
            match self.ensure_conn(&id).await {
                Ok(_) => return Some(id),
                Err(e) => {
                    debug!(node = %id, error = %e, "replica unreachable; trying another");
                    self.shared.cluster.replica_failed(&id);
                }
            }
        }
        None
    }

    /// A replica that has applied the session's last write (waiting briefly for it with
    /// MASTER_GTID_WAIT), or None for the primary.
    async fn causal_node(&mut self) -> Option<String> {
        let Some(gtid) = self.last_gtid else {
            return self.usable_replica().await;
        };
        if let Some(known) = self.shared.cluster.replica_with(gtid.seq) {
            if self.ensure_conn(&known).await.is_ok() {
                return Some(known);
            }
        }
        let replica = self.usable_replica().await?;
        let index = self.conn_index(&replica)?;
        let wait = Duration::from_millis(self.shared.config.causal_wait_ms).as_secs_f64();
        let sql = format!("SELECT MASTER_GTID_WAIT('{gtid}', {wait:.3})");
        match self.conns[index].query_rows(&sql).await {
            Ok(rows)
                if rows
                    .first()
                    .and_then(|r| r.first())
                    .is_some_and(|v| v.as_deref() == Some(b"0")) =>
            {
                Some(replica)
            }
            Ok(_) => {
                debug!(node = %replica, %gtid, "replica behind the session's last write: reading from the primary");
                None
            }
            Err(e) => {
                debug!(node = %replica, error = %e, "causal check failed: reading from the primary");
                self.drop_conn(&replica);
                None
            }
        }
    }

    /// Session bookkeeping after a statement ran on `node`: pins, read-only transactions,
    /// recorded settings, timestamps.
    fn after_statement(&mut self, stmt: &Classified, text: &[u8], node: &str, done: &Summary) {
        let in_txn = self.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS);
        if !done.error {
            if let Some(pin) = stmt.pins {
                if (pin != PinReason::Unparseable || in_txn) && self.pins.insert(pin) {
                    self.shared.registry.count_pin(pin.as_str());
                }
            }
            if let Some(unpin) = stmt.unpins {
                self.pins.remove(&unpin);
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
        if !done.error && !stmt.multi_statement && is_session_setting(text) {
            self.history.record(Setting::Statement(text.to_vec()));
        }
        if let Some(gtid) = done.last_gtid {
            let db = self.database.as_deref().map(String::from_utf8_lossy);
            self.shared
                .cluster
                .record_write(gtid.seq, &stmt.tables, db.as_deref());
        }
    }

    /// Sends a STRONG write's held OK once its quorum wait is over; on a timeout the write
    /// stays committed and the OK carries one more warning, shown by the next SHOW WARNINGS.
    async fn answer_strong_write(
        &mut self,
        mut held: Vec<u8>,
        done: &Summary,
    ) -> Result<(), SessionError> {
        let outcome = match (done.last_gtid, &self.shared.cluster.quorum) {
            (Some(gtid), Some(tracker)) => tracker.wait_for(gtid).await,
            (None, Some(tracker)) => tracker.record_trivial(),
            _ => QuorumOutcome::trivial(),
        };
        if let Some(gtid) = done.last_gtid {
            self.shared.metrics.quorum_wait.observe(outcome.waited);
            if outcome.achieved {
                self.shared.cluster.acknowledged(gtid.seq);
            }
        }
        if !outcome.achieved {
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
            if is_session_setting(rest) {
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

    async fn send_result_set(&mut self, seq: u8, rs: &ResultSet) -> Result<(), SessionError> {
        let framing = Framing::new(self.hello.capabilities, self.hello.mariadb_capabilities);
        resultset::queue(&mut self.io, seq, framing, rs);
        self.io.flush().await.map_err(SessionError::ClientGone)
    }
}

/// Exactly `SHOW WARNINGS` (optionally with LIMIT), not `SHOW COUNT(*) WARNINGS`.
fn is_show_warnings(sql: &[u8]) -> bool {
    let t = leading_tokens(sql, 2);
    t.first() == Some(&Token::Word("SHOW".to_owned()))
        && t.get(1) == Some(&Token::Word("WARNINGS".to_owned()))
}

/// The column to answer with when `sql` is exactly `SELECT @@warning_count` (also
/// `@@session.warning_count`, any case: named as written, as the server names it) or `SHOW
/// COUNT(*) WARNINGS` (which the server names `@@session.warning_count`), followed by nothing
/// but whitespace and `;`. Anything else (more columns, comments, aliases) goes to the server.
fn warning_count_column(sql: &[u8]) -> Option<String> {
    let mut scan = Scan(sql);
    if scan.keyword(b"SHOW") {
        let shape = scan.keyword(b"COUNT")
            && scan.punct(b'(')
            && scan.punct(b'*')
            && scan.punct(b')')
            && scan.keyword(b"WARNINGS");
        return (shape && scan.at_end()).then(|| "@@session.warning_count".to_owned());
    }
    if !scan.keyword(b"SELECT") {
        return None;
    }
    scan.skip_space();
    let start = scan.0;
    if !scan.punct_here(b'@') || !scan.punct_here(b'@') {
        return None;
    }
    let _ = scan.word_here(b"SESSION") && scan.punct_here(b'.');
    if !scan.word_here(b"WARNING_COUNT") || !scan.at_end() {
        return None;
    }
    let name = &start[..start.len() - scan.0.len()];
    Some(String::from_utf8_lossy(name).into_owned())
}

/// A cursor over statement text for the few exact shapes the proxy answers itself.
struct Scan<'a>(&'a [u8]);

impl Scan<'_> {
    fn skip_space(&mut self) {
        self.0 = self.0.trim_ascii_start();
    }

    /// After whitespace, `word` (ASCII, any case) as a whole word.
    fn keyword(&mut self, word: &[u8]) -> bool {
        self.skip_space();
        self.word_here(word)
    }

    /// `word` (ASCII, any case) right here, not followed by an identifier character.
    fn word_here(&mut self, word: &[u8]) -> bool {
        let Some(head) = self.0.get(..word.len()) else {
            return false;
        };
        let whole = self
            .0
            .get(word.len())
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$'));
        if head.eq_ignore_ascii_case(word) && whole {
            self.0 = &self.0[word.len()..];
            true
        } else {
            false
        }
    }

    /// After whitespace, the character `c`.
    fn punct(&mut self, c: u8) -> bool {
        self.skip_space();
        self.punct_here(c)
    }

    /// The character `c` right here.
    fn punct_here(&mut self, c: u8) -> bool {
        match self.0.split_first() {
            Some((first, rest)) if *first == c => {
                self.0 = rest;
                true
            }
            _ => false,
        }
    }

    /// Only whitespace and `;` left.
    fn at_end(&self) -> bool {
        self.0.iter().all(|c| c.is_ascii_whitespace() || *c == b';')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_the_simple_warning_count_forms() {
        for (sql, column) in [
            ("SELECT @@warning_count", "@@warning_count"),
            ("  select @@WARNING_COUNT ;", "@@WARNING_COUNT"),
            ("SELECT @@session.warning_count", "@@session.warning_count"),
            (
                "SeLeCt\n@@Session.Warning_Count;\n",
                "@@Session.Warning_Count",
            ),
            ("SHOW COUNT(*) WARNINGS", "@@session.warning_count"),
            ("show count ( * ) warnings;", "@@session.warning_count"),
        ] {
            assert_eq!(
                warning_count_column(sql.as_bytes()).as_deref(),
                Some(column),
                "{sql:?}"
            );
        }
        for sql in [
            "SELECT @@warning_count, 1",
            "SELECT @@warning_count AS w",
            "SELECT @@warning_countx",
            "SELECT @@global.warning_count",
            "SELECT @@error_count",
            "SELECT @warning_count",
            "SELECT @@warning_count; SELECT 1",
            "SHOW COUNT(*) ERRORS",
            "SHOW WARNINGS",
            "SELECTX @@warning_count",
        ] {
            assert_eq!(warning_count_column(sql.as_bytes()), None, "{sql:?}");
        }
    }
}
