//! `KILL [HARD|SOFT] [CONNECTION|QUERY] <id>` where `<id>` is a *proxy* connection id (the
//! one the client saw in the greeting): mapped to the backend thread the target session holds.

use super::lexer::{leading_tokens, only_tokens, starts_with_word, Token};
use super::session::Session;
use crate::error::{MysqlError, SessionError};
use crate::packet::Packet;
use crate::relay::Shape;

/// A parsed KILL of a connection id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kill {
    /// `KILL QUERY`: stop the running statement, keep the connection.
    pub query_only: bool,
    /// Proxy connection id.
    pub target: u32,
}

/// Recognises a KILL of a numeric connection id; anything else (KILL USER, KILL QUERY ID)
/// goes to the server unchanged.
pub fn parse(sql: &[u8]) -> Option<Kill> {
    if !starts_with_word(sql, b"KILL") {
        return None;
    }
    let tokens = leading_tokens(sql, 5);
    let mut it = tokens.iter().enumerate().peekable();
    if !matches!(it.next(), Some((_, Token::Word(w))) if w == "KILL") {
        return None;
    }
    if matches!(it.peek(), Some((_, Token::Word(w))) if w == "HARD" || w == "SOFT") {
        it.next();
    }
    let mut query_only = false;
    if let Some((_, Token::Word(w))) = it.peek() {
        match w.as_str() {
            "QUERY" => query_only = true,
            "CONNECTION" => {}
            _ => return None,
        }
        it.next();
    }
    match it.next() {
        Some((i, Token::Number(n))) if only_tokens(sql, i + 1) => Some(Kill {
            query_only,
            target: u32::try_from(*n).ok()?,
        }),
        _ => None,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_forms() {
        assert_eq!(
            parse(b"KILL 7"),
            Some(Kill {
                query_only: false,
                target: 7
            })
        );
        assert_eq!(
            parse(b"kill query 7;"),
            Some(Kill {
                query_only: true,
                target: 7
            })
        );
        assert_eq!(
            parse(b"KILL HARD CONNECTION 9"),
            Some(Kill {
                query_only: false,
                target: 9
            })
        );
        assert_eq!(
            parse(b"/* x */ KILL SOFT QUERY 3"),
            Some(Kill {
                query_only: true,
                target: 3
            })
        );
        assert_eq!(parse(b"KILL USER app"), None);
        assert_eq!(parse(b"KILL QUERY ID 5"), None);
        assert_eq!(parse(b"KILL 5 6"), None);
        assert_eq!(parse(b"SELECT 1"), None);
    }
}
