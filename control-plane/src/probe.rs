//! One probe of one node over a control connection: round-trip latency, server_id, GTID
//! position, `Uptime` and, for a replica, `SHOW SLAVE STATUS`.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row};
use std::time::{Duration, Instant};

use myquorum_proxy::BackendNode;

/// The query timed for latency: one round trip answering everything but the slave status.
const STATUS_SQL: &str = "SELECT @@server_id, @@gtid_binlog_pos, @@gtid_slave_pos, \
     (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME')";

/// The status query's row: server_id, binlog position, slave position, Uptime.
type StatusRow = (u32, Option<String>, Option<String>, Option<String>);

/// What one probe saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// Round trip of the status query (the connection was already open).
    pub latency: Duration,
    /// The node's `@@server_id`.
    pub server_id: u32,
    /// Its position in the configured GTID domain: `@@gtid_binlog_pos` on the primary,
    /// `@@gtid_slave_pos` on a replica (None: no GTID in that domain yet).
    pub seq: Option<u64>,
    /// `Uptime` in seconds.
    pub uptime: u64,
    /// A replica's replication threads (None on the primary).
    pub replication: Option<SlaveStatus>,
}

/// The parts of `SHOW SLAVE STATUS` the collector reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaveStatus {
    /// `Slave_IO_Running = Yes`.
    pub io_running: bool,
    /// `Slave_SQL_Running = Yes`.
    pub sql_running: bool,
    /// `Seconds_Behind_Master` (NULL while the SQL thread is stopped).
    pub seconds_behind_master: Option<u64>,
}

/// A node's prober: keeps one control connection open between probes, reopening it after a
/// failure.
#[derive(Debug)]
pub struct Prober {
    opts: Opts,
    conn: Option<Conn>,
    domain: u32,
    is_primary: bool,
}

impl Prober {
    /// A prober for `node`, logging in as the control user over TCP (TLS with `ssl`:
    /// `[proxy.backend_tls]`).
    pub fn new(
        node: &BackendNode,
        user: &str,
        password: &str,
        domain: u32,
        is_primary: bool,
        ssl: Option<mysql_async::SslOpts>,
    ) -> Self {
        let (host, port) = match node.addr.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(3306)),
            None => (node.addr.clone(), 3306),
        };
        // prefer_socket(false): on loopback mysql_async would otherwise switch to the unix
        // socket it reads from @@socket, and the probe would not measure the TCP path.
        let opts = OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .user(Some(user.to_owned()))
            .pass(Some(password.to_owned()))
            .prefer_socket(false)
            .ssl_opts(ssl)
            .into();
        Self {
            opts,
            conn: None,
            domain,
            is_primary,
        }
    }

    /// Probes once. The caller bounds it with a timeout; on any error the connection is
    /// dropped and the next probe reconnects.
    pub async fn probe(&mut self) -> Result<ProbeResult, mysql_async::Error> {
        let result = self.probe_inner().await;
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// Whether the node is the primary now (its position is then `@@gtid_binlog_pos`, and it
    /// has no slave status to read).
    pub fn set_primary(&mut self, is_primary: bool) {
        self.is_primary = is_primary;
    }

    /// Drops the connection (after a timeout, whose future may have left it mid-query).
    pub fn reset(&mut self) {
        self.conn = None;
    }

    async fn probe_inner(&mut self) -> Result<ProbeResult, mysql_async::Error> {
        if self.conn.is_none() {
            self.conn = Some(Conn::new(self.opts.clone()).await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            unreachable!("connection opened above")
        };
        let started = Instant::now();
        let row: Option<StatusRow> = conn.query_first(STATUS_SQL).await?;
        let latency = started.elapsed();
        let (server_id, binlog_pos, slave_pos, uptime) = row.unwrap_or_default();
        let pos = if self.is_primary {
            binlog_pos
        } else {
            slave_pos
        };
        let replication = if self.is_primary {
            None
        } else {
            let status: Option<Row> = conn.query_first("SHOW SLAVE STATUS").await?;
            Some(slave_status(status.as_ref()))
        };
        Ok(ProbeResult {
            latency,
            server_id,
            seq: pos.as_deref().and_then(|p| seq_in_domain(p, self.domain)),
            uptime: uptime.and_then(|u| u.trim().parse().ok()).unwrap_or(0),
            replication,
        })
    }
}

/// The slave status of a `SHOW SLAVE STATUS` row (no row: replication is not configured,
/// both threads count as stopped).
fn slave_status(row: Option<&Row>) -> SlaveStatus {
    let text = |name: &str| -> Option<String> {
        row.and_then(|r| r.get_opt::<Option<String>, _>(name))
            .and_then(Result::ok)
            .flatten()
    };
    SlaveStatus {
        io_running: text("Slave_IO_Running").as_deref() == Some("Yes"),
        sql_running: text("Slave_SQL_Running").as_deref() == Some("Yes"),
        seconds_behind_master: text("Seconds_Behind_Master").and_then(|s| s.parse().ok()),
    }
}

/// The sequence number of `domain` in a GTID position list (`0-1-7,1-2-3`).
pub fn seq_in_domain(pos: &str, domain: u32) -> Option<u64> {
    pos.split(',')
        .filter_map(|g| g.trim().parse::<myquorum_proxy::gtid::Gtid>().ok())
        .find(|g| g.domain == domain)
        .map(|g| g.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_by_domain() {
        assert_eq!(seq_in_domain("0-1-7", 0), Some(7));
        assert_eq!(seq_in_domain("1-2-3, 0-1-9", 0), Some(9));
        assert_eq!(seq_in_domain("", 0), None);
        assert_eq!(seq_in_domain("1-2-3", 0), None);
    }

    #[test]
    fn no_slave_status_row_means_stopped() {
        assert_eq!(
            slave_status(None),
            SlaveStatus {
                io_running: false,
                sql_running: false,
                seconds_behind_master: None
            }
        );
    }
}
