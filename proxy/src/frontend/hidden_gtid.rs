//! The GTID of a write whose answer does not say it, which the CAUSAL read that follows (on
//! any connection) must still wait for:
//! - `SET STATEMENT session_track_system_variables=... FOR <write>` replaces, for that one
//!   statement, the tracked variables the proxy's backend connections rely on, so the
//!   server's OK may lack the `last_gtid` entry the proxy learns its writes' positions from
//!   (the OK is held until the position is known);
//! - a write that fails may still have written (non-transactional tables keep the rows
//!   before the error, and the binary log has them), and an ERR packet carries no GTID. The
//!   ERR has already gone to the client: the position is recorded before the session's next
//!   command, so its own next read waits for it; another connection's read in between may not.
//!
//! The proxy then reads the primary's binary log position on a separate pooled connection
//! (the session's own connection must not run anything the client did not send: a statement
//! there would clear the write's warnings). The write committed before its OK was produced,
//! so that position includes it; it may include later writes too, which only makes the next
//! read wait a little longer. Rare (one query per such statement), never on the hot path.

use std::sync::Arc;

use tracing::debug;

use super::session::Session;
use crate::gtid::Gtid;

impl Session {
    /// The highest GTID in `node`'s `@@global.gtid_binlog_pos`, read on a pooled connection
    /// of this session's user (None when it cannot be read: the write then advances nothing,
    /// as before, and the failure is logged).
    pub(super) async fn binlog_position(&mut self, node_id: &str) -> Option<Gtid> {
        let node = self.shared.cluster.node(node_id).cloned()?;
        let key = self.backend_key(&node.id);
        let pool = Arc::clone(&self.shared.pool);
        let mut conn = match pool
            .get(
                &node,
                key,
                &self.hello.user.password,
                &self.hello.attrs,
                None,
            )
            .await
        {
            Ok(conn) => conn,
            Err(e) => {
                debug!(node = node_id, error = %e, "no connection to read the binlog position");
                return None;
            }
        };
        let rows = conn.query_rows("SELECT @@global.gtid_binlog_pos").await;
        pool.put_back(conn);
        let text = match rows {
            Ok(rows) => rows.into_iter().next()?.into_iter().next()??,
            Err(e) => {
                debug!(node = node_id, error = %e, "reading the binlog position failed");
                return None;
            }
        };
        highest(&String::from_utf8_lossy(&text))
    }
}

/// The GTID with the highest sequence number of a `gtid_binlog_pos` list
/// (`domain-server-seq[,domain-server-seq...]`); None for an empty list.
fn highest(list: &str) -> Option<Gtid> {
    list.split(',')
        .filter_map(|g| g.trim().parse::<Gtid>().ok())
        .max_by_key(|g| g.seq)
}

#[cfg(test)]
mod tests {
    use super::highest;

    #[test]
    fn the_highest_sequence_of_a_position_list() {
        assert_eq!(highest(""), None);
        assert_eq!(highest("0-1-7").map(|g| g.seq), Some(7));
        assert_eq!(highest("0-1-7, 1-2-30,2-1-9").map(|g| g.seq), Some(30));
    }
}
