//! SEER as a service (`POST /elect-leader`, DESIGN.md section 7): the eligibility gate first,
//! then the old system's score. Pure: the caller passes each candidate's facts and the position
//! a new primary must hold.
//!
//! **The gate.** A replica is eligible only if it answers and has applied at least the
//! highest STRONG-acknowledged GTID. The proxy does not record that GTID yet (persisting it is
//! part of the failover work), so the caller passes an upper bound of it (see
//! `routes::seer::required_position`): a candidate that passes the gate has every
//! acknowledged write; one that fails it may still have them. Safe, sometimes too strict.
//!
//! **The score** (only among eligible candidates), each part in [0, 1]:
//! `0.4 / (latency_ms + 1) + 0.4 * uptime / (uptime + 100 * crashes + 1) + 0.2 / (lag + 1)`,
//! the old service's formula, kept so its scores compare.

use serde::Serialize;
use utoipa::ToSchema;

/// One replica's facts, as the collector and the quorum watchers know them.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateFacts {
    /// Node id.
    pub id: String,
    /// The last probe answered.
    pub reachable: bool,
    /// Named in the request's `exclude_replicas`.
    pub excluded: bool,
    /// Smoothed probe latency (ms).
    pub latency_ms: f64,
    /// `Uptime` (s).
    pub uptime_seconds: u64,
    /// Crashes seen.
    pub crash_count: u64,
    /// Writes behind the primary.
    pub replication_lag: u64,
    /// Applied position (None: never read).
    pub applied: Option<u64>,
}

/// One candidate in the answer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Candidate {
    /// Node id.
    pub id: String,
    /// Score in [0, 1] (0 when not eligible).
    pub score: f64,
    /// Passed the gate.
    pub eligible: bool,
    /// Why it is or is not eligible.
    pub reason: String,
    /// Smoothed probe latency (ms).
    pub latency_ms: f64,
    /// `Uptime` (s).
    pub uptime_seconds: u64,
    /// Writes behind the primary.
    pub replication_lag: u64,
    /// Crashes seen.
    pub crash_count: u64,
}

/// The old system's score.
pub fn score(latency_ms: f64, uptime_seconds: u64, crash_count: u64, lag: u64) -> f64 {
    let latency = 1.0 / (latency_ms.max(0.0) + 1.0);
    let uptime = uptime_seconds as f64;
    let stability = uptime / (uptime + 100.0 * crash_count as f64 + 1.0);
    let lag = 1.0 / (lag as f64 + 1.0);
    0.4 * latency + 0.4 * stability + 0.2 * lag
}

/// Gates and scores every candidate; returns them best first (eligible ones first) and the
/// index of the leader (the first) when any is eligible.
pub fn elect(facts: &[CandidateFacts], required: u64) -> (Option<usize>, Vec<Candidate>) {
    let mut candidates: Vec<Candidate> = facts
        .iter()
        .map(|f| {
            let (eligible, reason) = gate(f, required);
            Candidate {
                id: f.id.clone(),
                score: if eligible {
                    score(
                        f.latency_ms,
                        f.uptime_seconds,
                        f.crash_count,
                        f.replication_lag,
                    )
                } else {
                    0.0
                },
                eligible,
                reason,
                latency_ms: f.latency_ms,
                uptime_seconds: f.uptime_seconds,
                replication_lag: f.replication_lag,
                crash_count: f.crash_count,
            }
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.eligible
            .cmp(&a.eligible)
            .then(b.score.total_cmp(&a.score))
            .then_with(|| a.id.cmp(&b.id))
    });
    let leader = candidates.first().filter(|c| c.eligible).map(|_| 0);
    (leader, candidates)
}

fn gate(f: &CandidateFacts, required: u64) -> (bool, String) {
    if f.excluded {
        return (false, "excluded by the request".to_owned());
    }
    if !f.reachable {
        return (
            false,
            "unreachable: the collector's last probe failed".to_owned(),
        );
    }
    match f.applied {
        Some(a) if a >= required => (true, format!("applied position {a} >= required {required}")),
        Some(a) => (
            false,
            format!(
                "applied position {a} < required {required}: it may miss STRONG-acknowledged writes"
            ),
        ),
        None if required == 0 => (true, "no write to hold yet (required 0)".to_owned()),
        None => (
            false,
            format!("applied position unknown, required {required}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(id: &str, latency: f64, applied: u64) -> CandidateFacts {
        CandidateFacts {
            id: id.to_owned(),
            reachable: true,
            excluded: false,
            latency_ms: latency,
            uptime_seconds: 1_000,
            crash_count: 0,
            replication_lag: 0,
            applied: Some(applied),
        }
    }

    #[test]
    fn score_matches_the_old_formula() {
        let s = score(1.0, 1_000, 0, 0);
        let want = 0.4 * 0.5 + 0.4 * (1000.0 / 1001.0) + 0.2;
        assert!((s - want).abs() < 1e-12);
        assert!(score(1.0, 1_000, 3, 0) < s, "crashes cost");
        assert!(score(1.0, 1_000, 0, 5) < s, "lag costs");
    }

    #[test]
    fn the_gate_beats_the_score() {
        let fast_but_behind = facts("instance-2", 0.1, 9);
        let slow_and_current = facts("instance-3", 5.0, 10);
        let (leader, candidates) = elect(&[fast_but_behind, slow_and_current], 10);
        assert_eq!(leader, Some(0));
        assert_eq!(candidates[0].id, "instance-3");
        assert!(!candidates[1].eligible);
        assert_eq!(candidates[1].score, 0.0);
    }

    #[test]
    fn excluded_and_unreachable_are_never_leaders() {
        let mut a = facts("instance-2", 1.0, 10);
        a.excluded = true;
        let mut b = facts("instance-3", 1.0, 10);
        b.reachable = false;
        let (leader, candidates) = elect(&[a, b], 0);
        assert_eq!(leader, None);
        assert!(candidates.iter().all(|c| !c.eligible));
    }
}
