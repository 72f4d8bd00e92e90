//! The failover statements, run over short-lived control connections (mysql_async, the
//! control user: REPLICATION SLAVE ADMIN, READ_ONLY ADMIN, REPLICA MONITOR).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row};

use myquorum_proxy::BackendNode;

use super::FailoverError;
use crate::probe::seq_in_domain;

/// Credentials and bounds of the control connections.
#[derive(Debug, Clone)]
pub struct Control {
    /// Control user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// GTID domain replicated.
    pub domain: u32,
    /// Bound on connecting to a node.
    pub connect_timeout: Duration,
    /// TLS of the control connections (`[proxy.backend_tls]`); None: plaintext.
    pub ssl: Option<mysql_async::SslOpts>,
}

/// The `statement` of the error a control connection reports when TLS to the node failed
/// (no TLS offered, certificate not verified): the node answered, so the failover detector
/// counts it alive rather than dead.
pub const TLS_CONNECT: &str = "connect (TLS)";

impl Control {
    /// A control connection to `node`, bounded by `connect_timeout`.
    pub async fn conn(&self, node: &BackendNode) -> Result<Conn, FailoverError> {
        let (host, port) = match node.addr.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(3306)),
            None => (node.addr.clone(), 3306),
        };
        let opts = OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .prefer_socket(false)
            .ssl_opts(self.ssl.clone());
        match tokio::time::timeout(self.connect_timeout, Conn::new(opts)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) if myquorum_proxy::backend::tls::is_tls_refusal(&e) => {
                tracing::error!(node = %node.id, error = %e, "control connection refused: TLS failed");
                Err(sql_error(node, TLS_CONNECT, &e))
            }
            Ok(Err(e)) => Err(sql_error(node, "connect", &e)),
            Err(_) => Err(FailoverError::Sql {
                node: node.id.to_string(),
                statement: "connect".to_owned(),
                message: format!("no answer within {:?}", self.connect_timeout),
            }),
        }
    }

    /// Runs `sql` on `conn` (a statement without rows).
    pub async fn exec(
        &self,
        conn: &mut Conn,
        node: &BackendNode,
        sql: &str,
    ) -> Result<(), FailoverError> {
        conn.query_drop(sql)
            .await
            .map_err(|e| sql_error(node, sql, &e))
    }

    /// `@@gtid_binlog_pos` of a node (the old primary's, after fencing it).
    pub async fn binlog_pos(&self, node: &BackendNode) -> Result<String, FailoverError> {
        let mut conn = self.conn(node).await?;
        let pos: Option<String> = conn
            .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
            .await
            .map_err(|e| sql_error(node, "SELECT @@gtid_binlog_pos", &e))?;
        let _ = conn.disconnect().await;
        Ok(pos.unwrap_or_default())
    }

    /// Fences a node: `read_only=ON` (application users lack READ_ONLY ADMIN, so their
    /// writes fail with 1290 there), bounded by the connect timeout.
    pub async fn fence(&self, node: &BackendNode) -> Result<(), FailoverError> {
        let mut conn = self.conn(node).await?;
        let fenced = tokio::time::timeout(
            self.connect_timeout,
            self.exec(&mut conn, node, "SET GLOBAL read_only = ON"),
        )
        .await
        .unwrap_or_else(|_| {
            Err(FailoverError::Sql {
                node: node.id.to_string(),
                statement: "SET GLOBAL read_only = ON".to_owned(),
                message: "no answer".to_owned(),
            })
        });
        let _ = conn.disconnect().await;
        fenced
    }

    /// Stops a replica's IO thread and waits (up to `bound`) until its SQL thread applied
    /// everything it had received: its relay log is drained. Returns its applied position
    /// in the configured domain (0: none yet).
    pub async fn drain(
        &self,
        node: &BackendNode,
        bound: Duration,
        catch_up: Option<&str>,
    ) -> Result<u64, FailoverError> {
        let mut conn = self.conn(node).await?;
        if let Some(pos) = catch_up.filter(|p| !p.is_empty()) {
            // Switchover: the old primary is alive and fenced; receive all it logged first.
            wait_for(&mut conn, node, pos, bound, || {
                format!("did not reach the old primary's position {pos} within {bound:?}")
            })
            .await?;
        }
        self.exec(&mut conn, node, "STOP SLAVE IO_THREAD").await?;
        let status: Option<Row> = conn
            .query_first("SHOW SLAVE STATUS")
            .await
            .map_err(|e| sql_error(node, "SHOW SLAVE STATUS", &e))?;
        let received = status
            .and_then(|r| r.get_opt::<Option<String>, _>("Gtid_IO_Pos"))
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_default();
        if !received.trim().is_empty() {
            wait_for(&mut conn, node, &received, bound, || {
                format!("relay log not applied within {bound:?} (received {received})")
            })
            .await?;
        }
        let applied = self.position(&mut conn, node).await?;
        let _ = conn.disconnect().await;
        Ok(applied)
    }

    /// A node's applied position in the domain: the newest of `@@gtid_slave_pos` and
    /// `@@gtid_binlog_pos` (a replica logs what it applies: log_slave_updates).
    pub async fn position(
        &self,
        conn: &mut Conn,
        node: &BackendNode,
    ) -> Result<u64, FailoverError> {
        let row: Option<(Option<String>, Option<String>)> = conn
            .query_first("SELECT @@GLOBAL.gtid_slave_pos, @@GLOBAL.gtid_binlog_pos")
            .await
            .map_err(|e| sql_error(node, "SELECT @@gtid_slave_pos", &e))?;
        let (slave, binlog) = row.unwrap_or_default();
        let seq = |p: Option<String>| p.and_then(|p| seq_in_domain(&p, self.domain));
        Ok(seq(slave).max(seq(binlog)).unwrap_or(0))
    }

    /// Restarts a drained replica's threads (a refused failover leaves things as found).
    pub async fn resume(&self, node: &BackendNode) -> Result<(), FailoverError> {
        let mut conn = self.conn(node).await?;
        self.exec(&mut conn, node, "START SLAVE").await?;
        let _ = conn.disconnect().await;
        Ok(())
    }

    /// Makes `node` the primary: replication stopped and forgotten, writable.
    pub async fn promote(&self, node: &BackendNode) -> Result<(), FailoverError> {
        let mut conn = self.conn(node).await?;
        self.exec(&mut conn, node, "STOP SLAVE").await?;
        self.exec(&mut conn, node, "RESET SLAVE ALL").await?;
        self.exec(&mut conn, node, "SET GLOBAL read_only = OFF")
            .await?;
        let _ = conn.disconnect().await;
        Ok(())
    }

    /// Points replica `node` at `primary` (GTID auto-positioning from its own applied
    /// position; the replication user and password it had are kept) and starts it.
    /// `use_gtid` is `slave_pos` for a replica, `current_pos` for an old primary rejoining.
    pub async fn repoint(
        &self,
        node: &BackendNode,
        primary: &BackendNode,
        use_gtid: &str,
    ) -> Result<(), FailoverError> {
        let (host, port) = primary
            .addr
            .rsplit_once(':')
            .map_or((primary.addr.as_str(), "3306"), |(h, p)| (h, p));
        let port: u16 = port.parse().unwrap_or(3306);
        let mut conn = self.conn(node).await?;
        self.exec(&mut conn, node, "STOP SLAVE").await?;
        self.exec(&mut conn, node, "SET GLOBAL read_only = ON")
            .await?;
        // An old primary has no replication account configured (RESET SLAVE ALL made it
        // primary): it logs in as the control user, which holds REPLICATION SLAVE. A replica
        // keeps the account it had.
        let account = if use_gtid == "current_pos" {
            format!(
                ", MASTER_USER='{}', MASTER_PASSWORD='{}'",
                self.user.replace('\'', "''"),
                self.password.replace('\'', "''")
            )
        } else {
            String::new()
        };
        let change = format!(
            "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={port}, MASTER_USE_GTID={use_gtid}, MASTER_CONNECT_RETRY=1{account}",
            host.replace('\'', "''")
        );
        conn.query_drop(&change)
            .await
            .map_err(|e| sql_error(node, "CHANGE MASTER TO ... (password elided)", &e))?;
        self.exec(&mut conn, node, "START SLAVE").await?;
        let _ = conn.disconnect().await;
        Ok(())
    }
}

fn sql_error(node: &BackendNode, statement: &str, e: &mysql_async::Error) -> FailoverError {
    FailoverError::Sql {
        node: node.id.to_string(),
        statement: statement.to_owned(),
        message: e.to_string(),
    }
}

/// `MASTER_GTID_WAIT(pos, bound)` on `conn`: Ok once `node` has applied `pos`; a timeout is
/// an error whose message `timed_out` words.
async fn wait_for(
    conn: &mut Conn,
    node: &BackendNode,
    pos: &str,
    bound: Duration,
    timed_out: impl FnOnce() -> String,
) -> Result<(), FailoverError> {
    const STATEMENT: &str = "SELECT MASTER_GTID_WAIT(...)";
    let waited: Option<i64> = conn
        .exec_first("SELECT MASTER_GTID_WAIT(?, ?)", (pos, bound.as_secs_f64()))
        .await
        .map_err(|e| sql_error(node, STATEMENT, &e))?;
    if waited == Some(0) {
        return Ok(());
    }
    Err(FailoverError::Sql {
        node: node.id.to_string(),
        statement: STATEMENT.to_owned(),
        message: timed_out(),
    })
}
