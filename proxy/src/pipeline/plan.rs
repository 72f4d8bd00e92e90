//! Phase 2, `upstream_peer`: the node a statement runs on (DESIGN.md section 5).

use std::time::Duration;
use tracing::debug;

use super::Upstream;
use crate::classify::{Classified, Consistency};
use crate::cluster::Topology;
use crate::config::BackendNode;
use crate::gtid::Gtid;
use crate::route::{route, Route, SessionState};

/// What the plan depends on besides the statement: the front door's state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plan<'t> {
    /// The session state the router reads (HTTP requests have none: the default).
    pub state: SessionState,
    /// The node the sticky rule and a read-only transaction stay on (the previous
    /// statement's node, or the replica of the open read-only transaction).
    pub sticky: Option<&'t BackendNode>,
    /// For a CAUSAL read: the GTID the node must have applied (None: any replica will do).
    pub causal: Option<Gtid>,
    /// The node of the session's last write (LAST_INSERT_ID() is that connection's).
    pub last_write: Option<&'t BackendNode>,
    /// The replica the session's last replica read ran on: preferred for the next one (see
    /// the `cluster` module docs).
    pub home: Option<&'t BackendNode>,
}

/// Chooses the node of `topology` that runs `stmt` at `level`. A replica chosen here has an
/// open connection through `up` (one that refused is marked failed and another is tried);
/// when no replica fits, the primary runs it. The primary's connection is opened by the
/// execution itself, which reports its failure to the client.
pub async fn upstream_peer<'t, U: Upstream>(
    up: &mut U,
    topology: &'t Topology,
    stmt: &Classified,
    level: Consistency,
    plan: Plan<'t>,
) -> &'t BackendNode {
    let decision = route(stmt, level, plan.state);
    debug!(?decision, %level, "routed");
    let primary = topology.primary();
    match decision {
        Route::Primary => primary,
        Route::Previous => plan.sticky.unwrap_or(primary),
        Route::LastWrite => plan.last_write.unwrap_or(primary),
        Route::Replica | Route::ReadOnlyTransaction => {
            usable_replica(up, topology, plan.home.map(|n| &*n.id))
                .await
                .unwrap_or(primary)
        }
        Route::Causal => causal_replica(up, topology, plan.causal, plan.home.map(|n| &*n.id))
            .await
            .unwrap_or(primary),
    }
}

/// A replica reachable right now, chosen lag- and latency-aware; one that refuses a
/// connection is skipped before any byte of the statement was sent.
async fn usable_replica<'t, U: Upstream>(
    up: &mut U,
    topology: &'t Topology,
    home: Option<&str>,
) -> Option<&'t BackendNode> {
    for _ in 0..topology.replicas().len() {
        let node = up.context().cluster.pick_replica(topology, home)?;
        match up.connect(&node.id).await {
            Ok(()) => return Some(node),
            Err(e) => {
                debug!(node = %node.id, error = %e, "replica unreachable; trying another");
                up.context().cluster.replica_failed(&node.id);
            }
        }
    }
    None
}

/// A replica that has applied `wanted`: one the watchers already saw there, else one that
/// reaches it within `causal_wait_ms` (`MASTER_GTID_WAIT`; 0: no wait); None for the primary.
async fn causal_replica<'t, U: Upstream>(
    up: &mut U,
    topology: &'t Topology,
    wanted: Option<Gtid>,
    home: Option<&str>,
) -> Option<&'t BackendNode> {
    let Some(gtid) = wanted else {
        return usable_replica(up, topology, home).await;
    };
    if let Some(known) = up.context().cluster.replica_with(topology, gtid.seq, home) {
        if up.connect(&known.id).await.is_ok() {
            return Some(known);
        }
    }
    let wait_ms = up.context().config.causal_wait_ms;
    if wait_ms == 0 {
        return None;
    }
    let replica = usable_replica(up, topology, home).await?;
    let wait = Duration::from_millis(wait_ms).as_secs_f64();
    let sql = format!("SELECT MASTER_GTID_WAIT('{gtid}', {wait:.3})");
    match up.query_rows(&replica.id, &sql).await {
        Ok(rows) if reached(&rows) => Some(replica),
        Ok(_) => {
            debug!(node = %replica.id, %gtid, "replica behind the wanted write: reading from the primary");
            None
        }
        Err(e) => {
            debug!(node = %replica.id, error = %e, "causal check failed: reading from the primary");
            up.lost(&replica.id);
            None
        }
    }
}

/// `MASTER_GTID_WAIT` answered 0: the position was reached (-1 is a timeout).
fn reached(rows: &super::Rows) -> bool {
    rows.first()
        .and_then(|r| r.first())
        .is_some_and(|v| v.as_deref() == Some(b"0"))
}
