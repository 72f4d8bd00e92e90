//! The quorum's state as the admin port (`SHOW QUORUM`) and HTTP `/status` show it.

use serde::Serialize;
use std::time::Duration;

use super::state::State;

/// A point-in-time view of the quorum: weights, threshold, prediction, outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuorumStatus {
    /// Nodes, primary included (n).
    pub nodes: usize,
    /// Failures tolerated (t).
    pub failure_threshold: usize,
    /// Ratio of the geometric weight series (1.0 = equal weights, plain majority).
    pub ratio: f64,
    /// Consensus threshold CT: a quorum weighs more than this.
    pub threshold: f64,
    /// The primary's weight (always the largest).
    pub primary_weight: f64,
    /// Replicas, heaviest first, with the weight each holds now.
    pub replicas: Vec<ReplicaQuorumStatus>,
    /// Ids of the heaviest replicas whose weights, added to the primary's, first exceed CT:
    /// the replicas a STRONG write committed now is expected to wait for.
    pub predicted_quorum: Vec<String>,
    /// Writes being waited on right now.
    pub pending: usize,
    /// Waits that reached a quorum.
    pub achieved: u64,
    /// Waits that timed out (each answered OK with a warning; the write stayed committed).
    pub timed_out: u64,
    /// STRONG writes that produced no GTID, so had nothing to wait for.
    pub trivially_met: u64,
    /// Per-write wait bound, in milliseconds.
    pub timeout_ms: u64,
}

/// One replica's place in the quorum.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaQuorumStatus {
    /// Node id.
    pub id: String,
    /// Weight rank: 1 = heaviest replica (the primary is rank 0).
    pub rank: usize,
    /// The weight it holds now.
    pub weight: f64,
    /// False while its watcher cannot reach it (it then holds the lowest weights).
    pub healthy: bool,
    /// Sequence number of the configured domain in its `@@gtid_slave_pos`, once known.
    pub applied_seq: Option<u64>,
    /// Smoothed delay from a write's commit to this replica being seen to apply it (ms).
    pub apply_latency_ms: Option<f64>,
}

/// Builds the status from the tracker's state.
pub(super) fn build(state: &State, timeout: Duration) -> QuorumStatus {
    let weights = &state.weights;
    let ranks = state.ranking.ranks(&state.facts());
    let mut replicas: Vec<ReplicaQuorumStatus> = state
        .replicas
        .iter()
        .zip(&ranks)
        .map(|(r, &rank)| ReplicaQuorumStatus {
            id: r.facts.id.clone(),
            rank,
            weight: weights.weights.get(rank).copied().unwrap_or(0.0),
            healthy: r.facts.healthy,
            applied_seq: r.applied,
            apply_latency_ms: r.facts.latency.map(|d| d.as_secs_f64() * 1000.0),
        })
        .collect();
    replicas.sort_by_key(|r| r.rank);
    let predicted_quorum = weights
        .predicted_ranks()
        .into_iter()
        .filter(|rank| *rank > 0)
        .filter_map(|rank| replicas.iter().find(|r| r.rank == rank))
        .map(|r| r.id.clone())
        .collect();
    QuorumStatus {
        nodes: weights.nodes(),
        failure_threshold: weights.failure_threshold,
        ratio: weights.ratio,
        threshold: weights.threshold,
        primary_weight: weights.weights.first().copied().unwrap_or(0.0),
        replicas,
        predicted_quorum,
        pending: state.pending_len(),
        achieved: state.counters.achieved,
        timed_out: state.counters.timed_out,
        trivially_met: state.counters.trivial,
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
    }
}
