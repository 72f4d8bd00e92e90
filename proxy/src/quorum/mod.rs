//! The Cabinet weighted quorum and the STRONG wait (`shared/DESIGN.md` section 4).
//!
//! A STRONG write is answered once the primary's weight plus the weights of the replicas that
//! have *applied* it exceed half the total weight. The pieces:
//! - [`weights`]: the Cabinet weight scheme for n nodes and failure threshold t (pure math);
//! - [`ranking`]: which replica holds which weight, re-ranked by arrival order (pure);
//! - [`tracker`]: [`QuorumTracker`], the one object the data path calls
//!   ([`QuorumTracker::wait_for`]) and the admin side reads ([`QuorumTracker::snapshot`]).
//!
//! The wait stays cheap under load: one watcher task and one control connection per replica,
//! each looping on `SELECT MASTER_GTID_WAIT('<lowest pending GTID>', 0.5), @@gtid_slave_pos` and
//! releasing every waiter at or below the position it reports. Control connections only: the
//! data path never goes through mysql_async.
//!
//! Trade-off of the failure threshold: `t = 1` (the default) answers after the primary and the
//! fastest replica and survives one failure; `t = "majority"` waits for a strict majority of
//! nodes (the old system's behaviour: on 4 nodes the primary and 2 replicas), costs the apply
//! delay of the second-fastest replica, and keeps every acknowledged write on more nodes.

pub mod ranking;
mod state;
mod status;
pub mod tracker;
mod watcher;
pub mod weights;

pub use status::{QuorumStatus, ReplicaQuorumStatus};
pub use tracker::{QuorumOutcome, QuorumTracker, TrackerConfig};
pub use weights::{cabinet, CabinetWeights, FailureThreshold};

use thiserror::Error;

/// Errors of the quorum module: configuration at start-up, and control-connection failures
/// (which watchers log and retry; they never reach a client).
#[derive(Debug, Error)]
pub enum QuorumError {
    /// A failure threshold outside `1 ..= n / 2` for `n` nodes.
    #[error(
        "invalid configuration key `failure_threshold`: t = {t} does not fit {nodes} nodes \
         (allowed: 1 ..= {max}, or \"majority\")",
        max = nodes / 2
    )]
    Threshold {
        /// The `t` asked for.
        t: usize,
        /// Nodes in the cluster, primary included.
        nodes: usize,
    },
    /// A failure threshold that is neither a number nor `majority`.
    #[error(
        "invalid configuration key `failure_threshold`: {0:?} is not a number or \"majority\""
    )]
    ThresholdSyntax(String),
    /// A replica address that is not `host:port`.
    #[error("replica {node}: address {addr:?} is not host:port")]
    Address {
        /// Node id.
        node: String,
        /// The address given.
        addr: String,
    },
    /// The control connection to a replica could not be opened or failed mid-query.
    #[error("control connection to replica {node}: {source}")]
    Control {
        /// Node id.
        node: String,
        /// What mysql_async reported.
        #[source]
        source: mysql_async::Error,
    },
    /// The control connection did not answer in time.
    #[error("control connection to replica {node}: no answer within {waited:?}")]
    ControlTimeout {
        /// Node id.
        node: String,
        /// How long it was given.
        waited: std::time::Duration,
    },
}
