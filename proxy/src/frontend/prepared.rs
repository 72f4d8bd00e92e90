//! The binary protocol commands of a session: ids mapped, statements re-prepared on a new
//! backend connection, parameter types injected where the client relies on earlier ones.

use super::session::Session;
use super::statements::{bound_types, inject_types};
use crate::error::{MysqlError, SessionError};
use crate::packet::Packet;
use crate::relay::Shape;

const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;

impl Session {
    /// COM_STMT_PREPARE: forwarded; the answer carries the proxy's id for the statement.
    pub(super) async fn prepare(&mut self, packet: &Packet) -> Result<(), SessionError> {
        let client_id = self.statements.peek_next_id();
        let done = self
            .relay_command(packet.seq, &packet.payload, Shape::Prepare, Some(client_id))
            .await?;
        if let Some((backend_id, params)) = done.and_then(|s| s.prepared) {
            self.statements
                .insert(client_id, packet.payload[1..].to_vec(), backend_id, params);
        }
        Ok(())
    }

    /// EXECUTE, RESET and FETCH: mapped to the backend statement and relayed.
    pub(super) async fn statement_command(
        &mut self,
        packet: &Packet,
        shape: Shape,
    ) -> Result<(), SessionError> {
        let Some(client_id) = self.resolve(packet)? else {
            let e = unknown_statement(packet);
            return self.send_err(packet.next_seq(), &e).await;
        };
        let Some(backend_id) = self
            .prepared_on_backend(client_id, packet.next_seq())
            .await?
        else {
            return Ok(());
        };
        let mut payload = packet.payload.to_vec();
        payload[1..5].copy_from_slice(&backend_id.to_le_bytes());
        if payload[0] == COM_STMT_EXECUTE {
            payload = self.with_parameter_types(client_id, payload);
        }
        self.relay_command(packet.seq, &payload, shape, None)
            .await?;
        Ok(())
    }

    /// SEND_LONG_DATA and CLOSE: no answer is sent, not even for an unknown id.
    pub(super) async fn statement_silent(&mut self, packet: &Packet) -> Result<(), SessionError> {
        let Some(client_id) = self.resolve(packet)? else {
            return Ok(());
        };
        let backend_id = if packet.payload[0] == COM_STMT_CLOSE {
            self.statements.remove(client_id)
        } else if packet.payload[0] == COM_STMT_SEND_LONG_DATA {
            self.prepared_on_backend(client_id, packet.next_seq())
                .await?
        } else {
            None
        };
        let primary = self.primary_id();
        let (Some(backend_id), Some(index)) = (backend_id, self.conn_index(&primary)) else {
            return Ok(());
        };
        let mut payload = packet.payload.to_vec();
        payload[1..5].copy_from_slice(&backend_id.to_le_bytes());
        let backend = &mut self.conns[index];
        backend.io.queue_packet(packet.seq, &payload);
        if backend.io.flush().await.is_err() {
            self.drop_conn(&primary);
        }
        Ok(())
    }

    fn resolve(&self, packet: &Packet) -> Result<Option<u32>, SessionError> {
        let id = statement_id(packet)?;
        Ok(self.statements.resolve(id))
    }

    /// The statement's id on the current backend, preparing it there first if needed. None
    /// when that failed (the client got the error with sequence id `seq`).
    async fn prepared_on_backend(
        &mut self,
        client_id: u32,
        seq: u8,
    ) -> Result<Option<u32>, SessionError> {
        let primary = self.primary_id();
        let index = match self.ensure_conn(&primary).await {
            Ok(i) => i,
            Err(e) => {
                self.send_backend_error(seq, &e).await?;
                return Ok(None);
            }
        };
        let Some(stmt) = self.statements.get_mut(client_id) else {
            return Ok(None);
        };
        if let Some(id) = stmt.backend_id {
            return Ok(Some(id));
        }
        let sql = stmt.sql.clone();
        match self.conns[index].prepare(&sql).await {
            Ok((id, _params)) => {
                tracing::debug!(
                    client_id,
                    backend_id = id,
                    "statement re-prepared on a new connection"
                );
                if let Some(stmt) = self.statements.get_mut(client_id) {
                    stmt.backend_id = Some(id);
                    stmt.needs_types = true;
                }
                Ok(Some(id))
            }
            Err(e) => {
                self.send_backend_error(seq, &e).await?;
                Ok(None)
            }
        }
    }

    /// Remembers the types an EXECUTE binds, or injects the remembered ones into an EXECUTE
    /// that relies on types the (re-prepared) backend statement never saw.
    fn with_parameter_types(&mut self, client_id: u32, payload: Vec<u8>) -> Vec<u8> {
        let Some(stmt) = self.statements.get_mut(client_id) else {
            return payload;
        };
        if let Some(types) = bound_types(&payload, stmt.params) {
            stmt.param_types = Some(types);
            stmt.needs_types = false;
            return payload;
        }
        if !stmt.needs_types {
            return payload;
        }
        stmt.needs_types = false;
        match stmt.param_types.as_deref() {
            Some(types) => inject_types(&payload, stmt.params, types).unwrap_or(payload),
            None => payload,
        }
    }
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
        0x1A => "mysqld_stmt_reset",
        0x1C => "mysqld_stmt_fetch",
        _ => "mysqld_stmt_execute",
    };
    MysqlError {
        code: 1243,
        state: "HY000",
        message: format!("Unknown prepared statement handler ({id}) given to {command}"),
    }
}
