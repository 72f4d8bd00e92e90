//! `KILL [HARD|SOFT] [CONNECTION|QUERY] <id>` where `<id>` is a *proxy* connection id (the
//! one the client saw in the greeting): mapped to the backend thread the target session holds.
//! The statement is recognised by the classifier ([`crate::classify::Classified::kill`]).

use super::session::Session;
use crate::classify::Kill;
use crate::error::{MysqlError, SessionError};
use crate::packet::Packet;
use crate::relay::Shape;

impl Session {
    /// Runs a mapped KILL: the backend thread of the target session is killed over this
    /// session's own connection (same user, so the server allows it), and for KILL
    /// CONNECTION the target's proxy session is closed too.
    pub(super) async fn kill(&mut self, packet: &Packet, kill: Kill) -> Result<(), SessionError> {
        let seq = packet.next_seq();
        let Some(target) = self.shared.registry.get(kill.target) else {
            let e = MysqlError::unknown_thread(kill.target);
            return self.send_err(seq, &e).await;
        };
        if target.user != self.hello.user.name {
            let e = MysqlError::not_thread_owner(kill.target);
            return self.send_err(seq, &e).await;
        }
        if !kill.query_only {
            self.shared.registry.kill(kill.target);
        }
        match target.backend {
            Some((_node, thread)) if target.id != self.id => {
                let verb = if kill.query_only {
                    "KILL QUERY"
                } else {
                    "KILL CONNECTION"
                };
                let mut cmd = vec![crate::backend::conn::COM_QUERY];
                cmd.extend_from_slice(format!("{verb} {thread}").as_bytes());
                self.relay_command(packet.seq, &cmd, Shape::Query, None)
                    .await?;
                Ok(())
            }
            _ if target.id == self.id && !kill.query_only => {
                self.send_err(seq, &MysqlError::connection_killed()).await
            }
            _ => self.send_ok(seq).await,
        }
    }
}
