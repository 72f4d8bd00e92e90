//! Phase 4, `logging`: what a finished statement means for the cluster (DESIGN.md sections 3
//! and 4): its GTID is its timestamp and the timestamp of every table it touched, a STRONG
//! write waits for its Cabinet quorum (and, once reached, advances the acknowledged position a
//! failover must preserve), and the statement is counted and timed.

use std::time::Instant;

use crate::classify::{Classified, Consistency};
use crate::cluster::Topology;
use crate::context::ProxyContext;
use crate::gtid::Gtid;
use crate::metrics::RouteLabel;
use crate::quorum::QuorumOutcome;

/// A statement that ran, as the commit phase needs it.
#[derive(Debug, Clone, Copy)]
pub struct Committed<'a> {
    /// Its classification (the tables it touched).
    pub stmt: &'a Classified,
    /// The level it ran at.
    pub level: Consistency,
    /// Node id it ran on.
    pub node: &'a str,
    /// The GTID the server reported for it (None: it changed nothing).
    pub gtid: Option<Gtid>,
    /// The default database unqualified table names belong to.
    pub database: Option<&'a str>,
    /// Whether the answer waits for the quorum (a STRONG write's final OK, held).
    pub wait_for_quorum: bool,
    /// When the proxy started on it.
    pub started: Instant,
}

/// Records the statement's timestamps, runs the STRONG wait when `wait_for_quorum`, and
/// counts it. Returns how the quorum wait ended (None when there was none).
pub async fn logging(
    ctx: &ProxyContext,
    topology: &Topology,
    done: Committed<'_>,
) -> Option<QuorumOutcome> {
    if let Some(gtid) = done.gtid {
        ctx.cluster
            .record_write(gtid.seq, &done.stmt.tables, done.database);
    }
    let quorum = if done.wait_for_quorum {
        let outcome = match (done.gtid, ctx.cluster.quorum()) {
            (Some(gtid), Some(tracker)) => tracker.wait_for(gtid).await,
            (None, Some(tracker)) => tracker.record_trivial(),
            _ => QuorumOutcome::trivial(),
        };
        if let Some(gtid) = done.gtid {
            ctx.metrics.quorum_wait.observe(outcome.waited);
            if outcome.achieved {
                ctx.cluster.acknowledged(gtid.seq).await;
            }
        }
        Some(outcome)
    } else {
        None
    };
    let route = if topology.is_primary(done.node) {
        RouteLabel::Primary
    } else {
        RouteLabel::Replica
    };
    ctx.metrics
        .statement(route, done.level, done.started.elapsed());
    quorum
}
