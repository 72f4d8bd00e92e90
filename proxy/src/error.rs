//! The crate's error types and the one place they become MySQL error packets.
//!
//! Errors say *who* failed: the client (malformed packet, wrong password), a backend
//! (unreachable, died mid-answer, refused our login) or the proxy itself. A backend's own SQL
//! errors are never wrapped: their packets reach the client byte for byte.

use std::io;
use thiserror::Error;

/// A configuration value that failed validation.
#[derive(Debug, Error)]
#[error("invalid configuration key `{key}`: {reason}")]
pub struct ConfigError {
    /// Dotted path of the key, e.g. `proxy.nodes[1].addr`.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// Builds an error for `key`.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Errors of [`crate::serve`] itself (not of one session).
#[derive(Debug, Error)]
pub enum ProxyError {
    /// The configuration did not validate.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The start-up probe of a backend failed.
    #[error("start-up probe of backend {node} failed: {source}")]
    Probe {
        /// Node id.
        node: String,
        /// Why.
        #[source]
        source: BackendError,
    },
    /// The proxy's control connection to a node failed at start.
    #[error("control connection to {node} failed: {message}")]
    Control {
        /// Node id.
        node: String,
        /// What the server or the network said.
        message: String,
    },
    /// The session threads could not be started.
    #[error("cannot start the session threads: {0}")]
    Workers(#[source] io::Error),
}

/// A failure reaching or talking to a backend server. The first two variants are the proxy's
/// own (no server was asked): they say which configuration is missing instead of posing as a
/// broken backend.
#[derive(Debug, Error)]
pub enum BackendError {
    /// A statement was routed to a node id the proxy has no address for (the cluster view and
    /// the configuration disagree): a proxy-side fault, reported as 1105.
    #[error("node {node} is not configured")]
    UnknownNode {
        /// The node id that was asked for.
        node: String,
    },
    /// A connection needed an application user and the configuration lists none (the engine
    /// behind HTTP `/query` runs as the first `proxy.users` entry).
    #[error("no application user is configured (proxy.users is empty)")]
    NoAppUser,
    /// TCP connect failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Address tried.
        addr: String,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// Connect + handshake did not finish in time.
    #[error("timed out connecting to {addr}")]
    ConnectTimeout {
        /// Address tried.
        addr: String,
    },
    /// TLS to the backend (`[proxy.backend_tls]`) failed: the server does not offer it, or
    /// its certificate does not verify against the CA. Never retried in plaintext.
    #[error("TLS to backend {addr} failed: {reason}")]
    Tls {
        /// Address tried.
        addr: String,
        /// What failed (the certificate check, the handshake, or a server without TLS).
        reason: String,
    },
    /// The connection broke (reset, EOF) while the proxy was using it.
    #[error("lost connection to backend: {0}")]
    Io(#[from] io::Error),
    /// The backend sent bytes that are not valid protocol.
    #[error("malformed packet from backend: {0}")]
    Protocol(String),
    /// The backend answered our login (or set-up statement) with an error packet; the raw
    /// packet payload is kept so it can reach the client unchanged.
    #[error("backend refused: {code} {message}")]
    Refused {
        /// MySQL error code.
        code: u16,
        /// SQLSTATE.
        state: String,
        /// Message text.
        message: String,
        /// The ERR packet payload as the backend sent it.
        payload: Vec<u8>,
    },
    /// The backend asked for an authentication method the proxy cannot speak.
    #[error("backend requested unsupported authentication plugin {0}")]
    UnsupportedAuth(String),
    /// The pool's cap on backend connections (global or for this node) stayed reached for
    /// the whole checkout wait: the proxy refuses rather than exhaust the server's
    /// `max_connections`, which would lock out the quorum watchers and the control plane.
    #[error("too many backend connections to {node} (cap {cap} reached)")]
    TooManyConnections {
        /// Node id.
        node: String,
        /// The cap that was reached.
        cap: usize,
    },
}

impl BackendError {
    /// The server answered (with an error packet, or with TLS the proxy cannot accept): it is
    /// up, so the failure is the client's to see, not a reason to suspect the node is down
    /// and wait for a failover.
    pub fn server_answered(&self) -> bool {
        matches!(self, Self::Refused { .. } | Self::Tls { .. })
    }

    /// The node could not be reached or its connection broke (connect refused or timed out,
    /// reset, EOF): what a read may be retried on another node for
    /// ([`crate::pipeline::retry_allowed`]); an error the server sent is not one.
    pub fn connection_lost(&self) -> bool {
        matches!(
            self,
            BackendError::Connect { .. }
                | BackendError::ConnectTimeout { .. }
                | BackendError::Io(_)
        )
    }
}

/// Why a client session ended or a command failed, decided once: `Fatal` closes the
/// connection, everything else becomes an ERR packet and the session goes on.
#[derive(Debug, Error)]
pub enum SessionError {
    /// The client went away or its socket failed: nothing to tell it.
    #[error("client connection closed: {0}")]
    ClientGone(#[source] io::Error),
    /// The client did not finish logging in within `proxy.limits.handshake_timeout_ms`; the
    /// connection is closed without a word, as the server does at `connect_timeout`.
    #[error("client did not finish the handshake in time")]
    HandshakeTimeout,
    /// The client sent nothing for `proxy.limits.client_idle_timeout_secs`; the connection is
    /// closed without a word, as MariaDB does at `wait_timeout`.
    #[error("client idle for longer than the idle timeout")]
    IdleTimeout,
    /// The client sent something that is not the protocol; the connection is closed.
    #[error("malformed client packet: {0}")]
    ClientProtocol(String),
    /// A backend failed while serving this session.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The backend connection that held the session's transaction or other state was lost;
    /// the client connection is closed, as the server's would be.
    #[error("lost the connection to {node} that held the session's transaction or state")]
    StateLost {
        /// Node id.
        node: String,
    },
}

/// A MySQL error the proxy itself raises, with code, SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlError {
    /// Error number (ER_* or CR_*).
    pub code: u16,
    /// Five-character SQLSTATE.
    pub state: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl MysqlError {
    /// 1045 (28000): wrong password or unknown user.
    pub fn access_denied(user: &str, host: &str, using_password: bool) -> Self {
        let yes_no = if using_password { "YES" } else { "NO" };
        Self {
            code: 1045,
            state: "28000",
            message: format!("Access denied for user '{user}'@'{host}' (using password: {yes_no})"),
        }
    }

    /// 1047 (08S01): a command the proxy does not implement.
    pub fn unknown_command(name: &str) -> Self {
        Self {
            code: 1047,
            state: "08S01",
            message: format!("Unknown command: myquorum does not support {name}"),
        }
    }

    /// 1053 (08S01): the proxy is shutting down.
    pub fn shutdown() -> Self {
        Self {
            code: 1053,
            state: "08S01",
            message: "Server shutdown in progress".to_owned(),
        }
    }

    /// 1094 (HY000): `KILL` of a thread id no session has.
    pub fn unknown_thread(id: u32) -> Self {
        Self {
            code: 1094,
            state: "HY000",
            message: format!("Unknown thread id: {id}"),
        }
    }

    /// 1095 (HY000): `KILL` of another user's session.
    pub fn not_thread_owner(id: u32) -> Self {
        Self {
            code: 1095,
            state: "HY000",
            message: format!("You are not owner of thread {id}"),
        }
    }

    /// 1105 (HY000): a fault of the proxy itself (ER_UNKNOWN_ERROR), worded so the client
    /// knows the proxy, not a server, is speaking.
    pub fn proxy_internal(what: impl std::fmt::Display) -> Self {
        Self {
            code: 1105,
            state: "HY000",
            message: format!("myquorum: {what}"),
        }
    }

    /// 1231 (42000): a `myquorum_consistency` value the proxy refuses, worded as MariaDB
    /// words a bad variable value.
    pub fn bad_consistency(e: &crate::classify::SetConsistencyError) -> Self {
        Self {
            code: 1231,
            state: "42000",
            message: e.to_string(),
        }
    }

    /// 1243 (HY000): a prepared-statement id the session does not hold, given to `command`
    /// (`mysqld_stmt_execute`, ...), as the server words it.
    pub fn unknown_statement(id: u32, command: &str) -> Self {
        Self {
            code: 1243,
            state: "HY000",
            message: format!("Unknown prepared statement handler ({id}) given to {command}"),
        }
    }

    /// 1213 (40001): the primary changed while the session had a transaction (or other
    /// state) open on the old one. Its uncommitted work is gone; drivers and ORMs retry a
    /// transaction on this code (it is the deadlock code), and the connection closes after
    /// it, as after a lost backend, so nothing can commit as part of the broken transaction.
    pub fn failover_retry(primary: &str, epoch: u64) -> Self {
        Self {
            code: 1213,
            state: "40001",
            message: format!(
                "myquorum: failover to {primary} (epoch {epoch}) ended this session's transaction on the old primary; reconnect and restart the transaction"
            ),
        }
    }

    /// 1927 (70100): the session killed its own connection.
    pub fn connection_killed() -> Self {
        Self {
            code: 1927,
            state: "70100",
            message: "Connection was killed".to_owned(),
        }
    }

    /// 1235 (42000): a statement the admin port does not implement.
    pub fn admin_unsupported(statement: &str) -> Self {
        Self {
            code: 1235,
            state: "42000",
            message: format!("myquorum admin port does not support: {statement}"),
        }
    }

    /// 1040 (08004): the proxy holds `proxy.limits.max_client_connections` client
    /// connections; sent in place of the greeting, as the server does.
    pub fn too_many_connections() -> Self {
        Self {
            code: 1040,
            state: "08004",
            message: "Too many connections".to_owned(),
        }
    }

    /// 1203 (42000): `user` holds `proxy.limits.max_user_connections` sessions
    /// (ER_TOO_MANY_USER_CONNECTIONS, worded as MariaDB words it).
    pub fn too_many_user_connections(user: &str) -> Self {
        Self {
            code: 1203,
            state: "42000",
            message: format!(
                "User {user} already has more than 'max_user_connections' active connections"
            ),
        }
    }

    /// 1129 (HY000): the client's IP spent its failed-login allowance
    /// (`proxy.limits.login_failures_*`); MariaDB's answer past `max_connect_errors`.
    pub fn host_blocked(host: &str) -> Self {
        Self {
            code: 1129,
            state: "HY000",
            message: format!(
                "Host '{host}' is blocked because of many connection errors; myquorum unblocks it as failed logins age"
            ),
        }
    }

    /// 1461 (42000) ER_MAX_PREPARED_STMT_COUNT_REACHED: a session's prepared statements
    /// would pass the proxy's bound on their count or the bytes of their texts.
    pub fn too_many_statements(limit: &crate::frontend::statements::StatementLimit) -> Self {
        Self {
            code: 1461,
            state: "42000",
            message: limit.to_string(),
        }
    }

    /// 1153 (08S01): a client packet beyond the configured limit.
    pub fn packet_too_large() -> Self {
        Self {
            code: 1153,
            state: "08S01",
            message: "Got a packet bigger than 'max_allowed_packet' bytes".to_owned(),
        }
    }
}

impl From<&BackendError> for MysqlError {
    /// The one mapping from backend failures to what the client sees.
    fn from(e: &BackendError) -> Self {
        match e {
            BackendError::Connect { .. } | BackendError::ConnectTimeout { .. } => Self {
                code: 2003,
                state: "HY000",
                message: format!("myquorum: {e}"),
            },
            // CR_SSL_CONNECTION_ERROR: what a client connecting to that server directly with
            // the same CA would report.
            BackendError::Tls { .. } => Self {
                code: 2026,
                state: "HY000",
                message: format!("myquorum: {e}"),
            },
            BackendError::Io(_) | BackendError::Protocol(_) => Self {
                code: 2013,
                state: "HY000",
                message: format!("myquorum: lost connection to backend during query ({e})"),
            },
            BackendError::Refused {
                code,
                state,
                message,
                ..
            } => Self {
                code: *code,
                state: sqlstate_static(state),
                message: message.clone(),
            },
            BackendError::UnsupportedAuth(_) => Self {
                code: 1251,
                state: "08004",
                message: format!("myquorum: {e}"),
            },
            BackendError::UnknownNode { .. } | BackendError::NoAppUser => Self::proxy_internal(e),
            BackendError::TooManyConnections { .. } => Self {
                code: 1040,
                state: "08004",
                message: format!("Too many connections (myquorum: {e})"),
            },
        }
    }
}

/// Maps a backend SQLSTATE onto the static strings `MysqlError` carries; unknown ones become
/// the generic HY000 (the raw backend packet is relayed instead wherever one exists).
fn sqlstate_static(state: &str) -> &'static str {
    const KNOWN: [&str; 8] = [
        "28000", "42000", "08S01", "HY000", "08004", "42S02", "23000", "70100",
    ];
    KNOWN
        .iter()
        .find(|k| **k == state)
        .copied()
        .unwrap_or("HY000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_side_faults_are_1105_naming_what_is_missing() {
        let e = MysqlError::from(&BackendError::UnknownNode {
            node: "instance-9".to_owned(),
        });
        assert_eq!((e.code, e.state), (1105, "HY000"));
        assert!(e.message.contains("instance-9"), "{}", e.message);
        let e = MysqlError::from(&BackendError::NoAppUser);
        assert_eq!((e.code, e.state), (1105, "HY000"));
        assert!(e.message.contains("proxy.users"), "{}", e.message);
    }

    #[test]
    fn backend_codes_pass_through_unchanged() {
        let e = MysqlError::from(&BackendError::Refused {
            code: 1146,
            state: "42S02".to_owned(),
            message: "Table 'app.x' doesn't exist".to_owned(),
            payload: Vec::new(),
        });
        assert_eq!((e.code, e.state), (1146, "42S02"));
        assert_eq!(e.message, "Table 'app.x' doesn't exist");
        let e = MysqlError::from(&BackendError::Protocol("bad row".to_owned()));
        assert_eq!(e.code, 2013);
    }
}
