//! The binary protocol commands of a session: ids mapped, executions routed like the same
//! text over COM_QUERY, statements prepared on each node where they run (and again on a new
//! connection), parameter types injected where the client relies on earlier ones.

use mysql_common::constants::Command;
use std::cell::Cell;
use std::sync::Arc;

use super::query::{Ran, Routable, Routed, SessionStatement};
use super::session::Session;
use super::statements::NewStatement;
use crate::classify::{hide_socket, PinReason};
use crate::cluster::Topology;
use crate::error::{MysqlError, SessionError};
use crate::packet::Packet;
use crate::pipeline::{self, Attempt};
use crate::relay::Shape;

const COM_STMT_EXECUTE: u8 = Command::COM_STMT_EXECUTE as u8;
const COM_STMT_SEND_LONG_DATA: u8 = Command::COM_STMT_SEND_LONG_DATA as u8;
const COM_STMT_CLOSE: u8 = Command::COM_STMT_CLOSE as u8;
const COM_STMT_RESET: u8 = Command::COM_STMT_RESET as u8;
const COM_STMT_FETCH: u8 = Command::COM_STMT_FETCH as u8;

impl Session {
    /// COM_STMT_PREPARE: prepared on the primary (the authority on errors and metadata); the
    /// answer carries the proxy's id for the statement.
    pub(super) async fn prepare(&mut self, packet: &Packet) -> Result<(), SessionError> {
        if let Err(limit) = self
            .statements
            .admits(packet.payload.len().saturating_sub(1))
        {
            let e = crate::error::MysqlError::too_many_statements(&limit);
            return self.send_err(packet.next_seq(), &e).await;
        }
        let client_id = self.statements.peek_next_id();
        let primary = self.primary_id();
        // `@@socket` is NULL here too (pipeline::request_filter): the statement is prepared,
        // and later prepared again on other nodes, with the rewritten text.
        let payload: std::borrow::Cow<'_, [u8]> = match hide_socket(&packet.payload[1..]) {
            Some(sql) => [&packet.payload[..1], &sql[..]].concat().into(),
            None => (&packet.payload[..]).into(),
        };
        let sql = payload[1..].to_vec();
        let classified = self.shared.classifier.classify(&sql);
        // Preparing SHOW WARNINGS, FOUND_ROWS(), ROW_COUNT()... must not move the connection
        // they read from: their EXECUTE reads what the previous *statement* left on its
        // connection (on the server, preparing them keeps those results too).
        let previous = classified.sticky.then(|| self.previous.clone());
        let done = self
            .relay_command(packet.seq, &payload, Shape::Prepare, Some(client_id))
            .await?;
        if let Some(previous) = previous {
            self.previous = previous;
        }
        if let Some((backend_id, params)) = done.and_then(|s| s.prepared) {
            if let Some(index) = self.conn_index(&primary) {
                let statements = &self.statements;
                self.conns[index].remember_prepared(&sql, backend_id, params, |id| {
                    statements.maps_to(&primary, id)
                });
            }
            self.statements.insert(
                client_id,
                NewStatement {
                    sql,
                    classified,
                    node: Arc::clone(&primary),
                    backend_id,
                    params,
                },
            );
        }
        Ok(())
    }

    /// COM_STMT_EXECUTE: routed as the statement's text would be over COM_QUERY (an EVENTUAL
    /// read on a replica, a STRONG write held for its quorum...), prepared on that node first
    /// if it is not yet. An execution that opens a cursor, or that follows SEND_LONG_DATA,
    /// runs on the primary, where FETCH and the long data go.
    pub(super) async fn execute(&mut self, packet: &Packet) -> Result<(), SessionError> {
        let Some(client_id) = self.resolve(packet)? else {
            let e = unknown_statement(packet);
            return self.send_err(packet.next_seq(), &e).await;
        };
        let Some(stmt) = self.statements.get_mut(client_id) else {
            return Ok(());
        };
        let classified = Arc::clone(&stmt.classified);
        let cursor = opens_cursor(&packet.payload);
        let long_data = std::mem::take(&mut stmt.long_data);
        // FETCH reads a cursor from the connection that opened it: the session keeps it (no
        // park, no statement multiplexing) until the statement is closed or reset.
        stmt.cursor |= cursor;
        let on_primary = long_data || cursor;
        if long_data && !self.statements.any_long_data() {
            self.pins.remove(&PinReason::LongData);
        }
        if cursor {
            self.pin(PinReason::StatementCursor);
        }
        let level = classified.hint.unwrap_or(self.consistency);
        if !classified.sticky {
            self.proxy_warning = None;
        }
        let started = std::time::Instant::now();
        let retry = !on_primary
            && pipeline::retry_allowed(&self.shared, &classified, level, self.routing_state());
        let mut statement = SessionStatement {
            stmt: &classified,
            level,
            started,
            on_primary,
            seq: packet.seq,
            err_seq: packet.next_seq(),
            command: Routable::Execute {
                client_id,
                payload: &packet.payload,
            },
        };
        pipeline::run_with_retry(&mut statement, self, retry).await
    }

    /// Runs the session's statement `client_id` on `node` of `topology` (COM_STMT_EXECUTE
    /// with the client's `payload`; `seqs`: the command's sequence id and that of an error
    /// the proxy answers with): prepared there first if it is not yet, its id mapped to that
    /// node's, then routed as `statement` says.
    pub(super) async fn execute_on(
        &mut self,
        client_id: u32,
        statement: Routed<'_>,
        topology: &Topology,
        node: &str,
        seqs: (u8, u8),
        payload: &[u8],
    ) -> Result<Ran, SessionError> {
        let (seq, err_seq) = seqs;
        let Some(backend_id) = self.prepared_on(client_id, node, err_seq).await? else {
            return Ok(Attempt::Done(()));
        };
        let mut payload = with_backend_id(payload, backend_id);
        // A prepared session SET without parameters is recorded and sent to the session's
        // other connections like its text would be (one with parameters cannot be replayed
        // as text: it stays where it ran).
        let mut setting = None;
        if let Some(stmt) = self.statements.get_mut(client_id) {
            payload = stmt.execute_payload(node, payload);
            if stmt.params == 0 && statement.stmt.session_setting {
                setting = Some(stmt.sql.clone());
            }
        }
        let statement = Routed {
            setting: setting.as_deref(),
            ..statement
        };
        let ran = self
            .run_routed(statement, topology, node, seq, &payload)
            .await;
        give_back(payload);
        ran
    }

    /// RESET and FETCH: mapped to the statement on the primary (where cursors and long data
    /// live) and relayed.
    pub(super) async fn statement_command(
        &mut self,
        packet: &Packet,
        shape: Shape,
    ) -> Result<(), SessionError> {
        if packet.payload[0] == COM_STMT_EXECUTE {
            return self.execute(packet).await;
        }
        let Some(client_id) = self.resolve(packet)? else {
            let e = unknown_statement(packet);
            return self.send_err(packet.next_seq(), &e).await;
        };
        if packet.payload[0] == COM_STMT_RESET {
            self.cursor_closed(client_id);
        }
        let primary = self.primary_id();
        let Some(backend_id) = self
            .prepared_on(client_id, &primary, packet.next_seq())
            .await?
        else {
            return Ok(());
        };
        let payload = with_backend_id(&packet.payload, backend_id);
        let relayed = self.relay_command(packet.seq, &payload, shape, None).await;
        give_back(payload);
        relayed?;
        Ok(())
    }

    /// SEND_LONG_DATA and CLOSE: no answer is sent, not even for an unknown id. Long data
    /// goes to the primary (the next EXECUTE runs there); CLOSE goes to every node the
    /// statement was prepared on.
    pub(super) async fn statement_silent(&mut self, packet: &Packet) -> Result<(), SessionError> {
        let Some(client_id) = self.resolve(packet)? else {
            return Ok(());
        };
        let targets = match packet.payload[0] {
            COM_STMT_CLOSE => {
                self.cursor_closed(client_id);
                let Some(stmt) = self.statements.remove(client_id) else {
                    return Ok(());
                };
                // Left on connections given back between statements: closed there if they
                // are idle now (one in use by another session keeps it, cached by text).
                for r in &stmt.released {
                    let key = self.backend_key(&r.node);
                    self.shared
                        .pool
                        .close_statement_if_idle(&key, r.thread_id, r.backend_id);
                }
                stmt.prepared_on
                    .into_iter()
                    .map(|p| (p.node, p.backend_id))
                    .collect()
            }
            COM_STMT_SEND_LONG_DATA => {
                let primary = self.primary_id();
                let id = self
                    .prepared_on(client_id, &primary, packet.next_seq())
                    .await?;
                if let Some(stmt) = self.statements.get_mut(client_id) {
                    stmt.long_data = true;
                    // The data waits on this connection for the EXECUTE.
                    self.pin(PinReason::LongData);
                }
                id.map(|id| (primary, id)).into_iter().collect()
            }
            _ => Vec::new(),
        };
        for (node, backend_id) in targets {
            let Some(index) = self.conn_index(&node) else {
                continue;
            };
            // Another of the session's statements with the same text may run as the same
            // backend statement (found by text on the connection): it stays open.
            if packet.payload[0] == COM_STMT_CLOSE && self.statements.maps_to(&node, backend_id) {
                continue;
            }
            let payload = with_backend_id(&packet.payload, backend_id);
            let backend = &mut self.conns[index];
            if packet.payload[0] == COM_STMT_CLOSE {
                backend.prepared.remove_id(backend_id);
            }
            backend.io.queue_packet(packet.seq, &payload);
            give_back(payload);
            if backend.io.flush().await.is_err() {
                self.drop_conn(&node);
            }
        }
        Ok(())
    }

    /// The statement's cursor, if it had one, is gone (CLOSE or RESET): the session is no
    /// longer pinned for cursors once none is open.
    fn cursor_closed(&mut self, client_id: u32) {
        if let Some(stmt) = self.statements.get_mut(client_id) {
            stmt.cursor = false;
        }
        if !self.statements.any_cursor() {
            self.pins.remove(&PinReason::StatementCursor);
        }
    }

    fn resolve(&self, packet: &Packet) -> Result<Option<u32>, SessionError> {
        let id = statement_id(packet)?;
        Ok(self.statements.resolve(id))
    }

    /// The statement's id on `node`'s connection, preparing it there first if needed. None
    /// when that failed (the client got the error with sequence id `seq`).
    async fn prepared_on(
        &mut self,
        client_id: u32,
        node: &str,
        seq: u8,
    ) -> Result<Option<u32>, SessionError> {
        let index = match self.ensure_conn(node).await {
            Ok(i) => i,
            Err(e) => {
                self.send_backend_error(seq, &e).await?;
                return Ok(None);
            }
        };
        let Some(stmt) = self.statements.get_mut(client_id) else {
            return Ok(None);
        };
        if let Some(id) = stmt.backend_id(node) {
            return Ok(Some(id));
        }
        // Statement multiplexing: the connection may hold the text prepared already (by
        // this session before, or by another one).
        let node_id = Arc::clone(&self.conns[index].key.node);
        if let Some(cached) = self.conns[index].prepared.get(&stmt.sql) {
            stmt.prepared(&node_id, cached.id);
            return Ok(Some(cached.id));
        }
        let sql = stmt.sql.clone();
        match self.conns[index].prepare(&sql).await {
            Ok((id, params)) => {
                tracing::debug!(
                    client_id,
                    backend_id = id,
                    node,
                    "statement prepared on another connection"
                );
                let statements = &self.statements;
                self.conns[index]
                    .remember_prepared(&sql, id, params, |id| statements.maps_to(node, id));
                if let Some(stmt) = self.statements.get_mut(client_id) {
                    stmt.prepared(&node_id, id);
                }
                Ok(Some(id))
            }
            Err(e) => {
                self.send_backend_error(seq, &e).await?;
                Ok(None)
            }
        }
    }
}

thread_local! {
    /// The session thread's buffer for statement payloads rewritten to a backend's statement
    /// id ([`with_backend_id`]): reused from one statement to the next instead of allocated
    /// per EXECUTE. A session that takes it while another session of the thread holds it
    /// across an await gets a new one (both then come back; one is kept).
    static PAYLOAD_BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Largest buffer kept for the next statement (a long parameter's payload is dropped).
const KEEP_PAYLOAD_BUF: usize = 16 * 1024;

/// A statement command's payload with the client's statement id replaced by `backend_id`, in
/// the thread's reusable buffer: hand it back with [`give_back`] once sent.
fn with_backend_id(payload: &[u8], backend_id: u32) -> Vec<u8> {
    let mut out = PAYLOAD_BUF.with(Cell::take);
    out.clear();
    out.extend_from_slice(payload);
    out[1..5].copy_from_slice(&backend_id.to_le_bytes());
    out
}

/// Returns a payload buffer to the thread for the next statement (unless it grew large).
fn give_back(buf: Vec<u8>) {
    if buf.capacity() <= KEEP_PAYLOAD_BUF {
        PAYLOAD_BUF.with(|b| b.set(buf));
    }
}

/// The command is an EXECUTE that asks for a cursor (flags byte: read-only, for update or
/// scrollable).
pub(super) fn opens_cursor(payload: &[u8]) -> bool {
    payload.first() == Some(&COM_STMT_EXECUTE)
        && payload.get(5).is_some_and(|flags| flags & 0x07 != 0)
}

fn statement_id(packet: &Packet) -> Result<u32, SessionError> {
    packet
        .payload
        .get(1..5)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| SessionError::ClientProtocol("statement command without an id".to_owned()))
}

/// 1243 (HY000), as the server words it.
fn unknown_statement(packet: &Packet) -> MysqlError {
    let id = statement_id(packet).unwrap_or(0);
    let command = match packet.payload[0] {
        COM_STMT_RESET => "mysqld_stmt_reset",
        COM_STMT_FETCH => "mysqld_stmt_fetch",
        _ => "mysqld_stmt_execute",
    };
    MysqlError::unknown_statement(id, command)
}
