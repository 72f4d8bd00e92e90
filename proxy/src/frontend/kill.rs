//! The ids a client can learn, and `KILL` of them: one id per client session, the proxy's.
//!
//! - The greeting carries the proxy's connection id ([`crate::registry::Registry::reserve_id`]).
//! - `SELECT CONNECTION_ID() [AS alias]` is answered here with that same id (a backend would
//!   answer with its own thread id, different on every node and after every reconnect).
//! - `KILL [HARD|SOFT] [CONNECTION|QUERY] <id>` takes a proxy id and applies it to that
//!   session: `KILL QUERY` interrupts the statement the target is running on *whichever*
//!   backend runs it (a replica read too), `KILL [CONNECTION]` also closes the target's
//!   client session. The statement is recognised by the classifier
//!   ([`crate::classify::Classified::kill`]).

use super::session::Session;
use crate::classify::Kill;
use crate::error::{BackendError, MysqlError, SessionError};
use crate::packet::Packet;
use crate::resultset::{self, Framing, Kind, ResultSet};

/// MariaDB's ER_NO_SUCH_THREAD: the backend thread finished between the lookup and the KILL.
const ER_NO_SUCH_THREAD: u16 = 1094;

impl Session {
    /// Runs a mapped KILL: 1094 for an id no session has, 1095 for another user's session
    /// (as the server answers a user without CONNECTION ADMIN), otherwise the target's
    /// running statement is killed on its backend over this session's own connection to that
    /// node (same user, so the server allows it) and, for KILL CONNECTION, the target's
    /// session is closed.
    pub(super) async fn kill(&mut self, packet: &Packet, kill: Kill) -> Result<(), SessionError> {
        let seq = packet.next_seq();
        let Some(target) = self.shared.registry.get(kill.target) else {
            let e = MysqlError::unknown_thread(kill.target);
            return self.send_err(seq, &e).await;
        };
        if *target.user != *self.hello.user.name {
            let e = MysqlError::not_thread_owner(kill.target);
            return self.send_err(seq, &e).await;
        }
        if target.id == self.id {
            // This session runs nothing but the KILL itself.
            if kill.query_only {
                return self.send_ok(seq).await;
            }
            self.shared.registry.kill(self.id);
            return self.send_err(seq, &MysqlError::connection_killed()).await;
        }
        if !kill.query_only {
            // Seen by the target between commands, or right after its running statement.
            self.shared.registry.kill(target.id);
        }
        let Some((node, thread)) = target.running else {
            return self.send_ok(seq).await;
        };
        // KILL CONNECTION ends the backend connection too: its client sees the server's own
        // "Connection was killed", and the pool discards the connection when it comes back.
        let verb = if kill.query_only {
            "KILL QUERY"
        } else {
            "KILL CONNECTION"
        };
        let mut command = vec![crate::backend::conn::COM_QUERY];
        command.extend_from_slice(format!("{verb} {thread}").as_bytes());
        let index = match self.ensure_conn(&node).await {
            Ok(i) => i,
            Err(e) => return self.send_backend_error(seq, &e).await,
        };
        match self.conns[index].command_ok(&command).await {
            Ok(_) => self.send_ok(seq).await,
            // The statement ended before the KILL reached it: nothing left to stop.
            Err(BackendError::Refused { code, .. }) if code == ER_NO_SUCH_THREAD => {
                self.send_ok(seq).await
            }
            Err(e @ BackendError::Refused { .. }) => self.send_backend_error(seq, &e).await,
            Err(e) => {
                self.drop_conn(&node);
                self.send_backend_error(seq, &e).await
            }
        }
    }

    /// `SELECT CONNECTION_ID() [AS alias]`: the proxy's connection id, in a column typed and
    /// named as the server's (INT UNSIGNED NOT NULL; `column` is the call as written or the
    /// alias). The status flags are the session's (a transaction stays visible).
    pub(super) async fn answer_connection_id(
        &mut self,
        packet: &Packet,
        column: &str,
    ) -> Result<(), SessionError> {
        // Like any statement the server would run, it clears the previous one's warnings.
        self.proxy_warning = None;
        let mut rs = ResultSet::new(&[(column, Kind::ConnectionId)]);
        rs.push(vec![Some(self.id.to_string())]);
        let framing = Framing::new(self.hello.capabilities, self.hello.mariadb_capabilities);
        let status = self.status.bits().to_le_bytes();
        let mut seq = packet.next_seq();
        for mut payload in resultset::encode(framing, &rs) {
            // The EOF packets and the closing 0xFE OK all carry the status at bytes 3..5.
            if payload.first() == Some(&0xFE) && payload.len() < 9 && payload.len() >= 5 {
                payload[3..5].copy_from_slice(&status);
            }
            seq = self.io.queue_packet(seq, &payload);
        }
        self.io.flush().await.map_err(SessionError::ClientGone)
    }
}
