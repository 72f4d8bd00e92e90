//! The tracker's shared state: pending writes, per-replica positions and counters. Every
//! method is synchronous and takes the current instant as an argument, so the release logic is
//! unit-tested here without a server; the tracker holds it under one short-lived mutex.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::ranking::{Arrival, Ranking, ReplicaFacts};
use super::tracker::QuorumOutcome;
use super::weights::CabinetWeights;
use crate::gtid::Gtid;

/// Weight of a new sample in the smoothed apply latency (1/8, as TCP smooths its RTT).
const LATENCY_GAIN: f64 = 0.125;

/// One replica as its watcher last saw it.
#[derive(Debug)]
pub(super) struct ReplicaState {
    /// Id, health and smoothed latency: what the ranking reads.
    pub facts: ReplicaFacts,
    /// Sequence number of the configured domain in its `@@gtid_slave_pos`, once known.
    pub applied: Option<u64>,
}

/// One committed write that someone is waiting on.
#[derive(Debug)]
struct PendingWrite {
    /// The write's GTID (what the watchers pass to MASTER_GTID_WAIT).
    gtid: Gtid,
    /// When it was registered, right after its commit on the primary.
    committed: Instant,
    /// The weight rank of each replica as of the commit (the write's snapshot).
    ranks: Vec<usize>,
    /// Replicas seen to have applied it, in arrival order.
    arrivals: Vec<Arrival>,
    /// Waiters to answer: (waiter id, when it started waiting, where to send the answer).
    waiters: Vec<(u64, Instant, oneshot::Sender<QuorumOutcome>)>,
}

/// Outcome counters, shown by the admin port and HTTP.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counters {
    /// Waits that reached a quorum.
    pub achieved: u64,
    /// Waits that timed out (the write stays committed).
    pub timed_out: u64,
    /// Writes without a GTID: nothing to wait for.
    pub trivial: u64,
}

/// What [`State::register`] decided.
pub(super) enum Registration {
    /// Answered at once (the quorum already held, or the tracker is closed).
    Done(QuorumOutcome),
    /// Wait on `answer`; `waiter` identifies the registration for [`State::cancel`].
    Wait {
        /// Id of this waiter.
        waiter: u64,
        /// Receives the outcome.
        answer: oneshot::Receiver<QuorumOutcome>,
    },
}

/// Everything the tracker shares between `wait_for` callers and the watchers.
#[derive(Debug)]
pub(super) struct State {
    /// The weight scheme (n = replicas + 1).
    pub weights: CabinetWeights,
    /// The one GTID domain replicated.
    pub domain: u32,
    /// Replicas, in configuration order (indexes used everywhere).
    pub replicas: Vec<ReplicaState>,
    /// Who holds which weight.
    pub ranking: Ranking,
    /// Writes being waited on, by sequence number.
    pending: BTreeMap<u64, PendingWrite>,
    /// Outcome counters.
    pub counters: Counters,
    /// Next waiter id.
    next_waiter: u64,
    /// Set by shutdown: later waits are answered at once.
    pub closed: bool,
}

impl State {
    /// State for these replica ids.
    pub fn new(weights: CabinetWeights, domain: u32, ids: Vec<String>) -> Self {
        let replicas: Vec<ReplicaState> = ids
            .into_iter()
            .map(|id| ReplicaState {
                facts: ReplicaFacts {
                    id,
                    healthy: true,
                    latency: None,
                },
                applied: None,
            })
            .collect();
        Self {
            weights,
            domain,
            ranking: Ranking::new(replicas.len()),
            replicas,
            pending: BTreeMap::new(),
            counters: Counters::default(),
            next_waiter: 0,
            closed: false,
        }
    }

    /// The facts the ranking reads, one per replica.
    pub fn facts(&self) -> Vec<ReplicaFacts> {
        self.replicas.iter().map(|r| r.facts.clone()).collect()
    }

    /// Registers a wait for `gtid`, committed just now. Returns the answer at once when the
    /// replicas already known to hold it make a quorum.
    pub fn register(&mut self, gtid: Gtid, now: Instant) -> Registration {
        if self.closed || gtid.domain != self.domain {
            return Registration::Done(QuorumOutcome::unanswered());
        }
        let seq = gtid.seq;
        if !self.pending.contains_key(&seq) {
            let facts = self.facts();
            let mut write = PendingWrite {
                gtid,
                committed: now,
                ranks: self.ranking.ranks(&facts),
                arrivals: Vec::new(),
                waiters: Vec::new(),
            };
            let mut ahead: Vec<usize> = (0..self.replicas.len())
                .filter(|i| self.replicas[*i].applied.is_some_and(|a| a >= seq))
                .collect();
            ahead.sort_by(|a, b| facts[*a].id.cmp(&facts[*b].id));
            write.arrivals = ahead
                .into_iter()
                .map(|replica| Arrival {
                    replica,
                    after: Duration::ZERO,
                })
                .collect();
            if self.has_quorum(&write) {
                self.counters.achieved += 1;
                let outcome = self.outcome(&write, true, Duration::ZERO);
                self.ranking.record_completed(seq, &write.arrivals, &facts);
                return Registration::Done(outcome);
            }
            self.pending.insert(seq, write);
        }
        let (tx, rx) = oneshot::channel();
        let waiter = self.next_waiter;
        self.next_waiter += 1;
        if let Some(write) = self.pending.get_mut(&seq) {
            write.waiters.push((waiter, now, tx));
        }
        Registration::Wait { waiter, answer: rx }
    }

    /// The GTID replica `index` should wait for next: the oldest pending write it has not been
    /// seen to apply. `None` when it holds everything pending.
    pub fn next_target(&self, index: usize) -> Option<Gtid> {
        let applied = self.replicas.get(index)?.applied.unwrap_or(0);
        self.pending
            .range(applied.saturating_add(1)..)
            .find(|(_, w)| !w.arrivals.iter().any(|a| a.replica == index))
            .map(|(_, w)| w.gtid)
    }

    /// Replica `index` reported `applied` (its sequence number in the domain, if any) at `now`:
    /// records arrivals, answers every write whose quorum formed, re-ranks.
    pub fn observe(&mut self, index: usize, applied: Option<u64>, now: Instant) {
        let Some(replica) = self.replicas.get_mut(index) else {
            return;
        };
        replica.facts.healthy = true;
        replica.applied = applied;
        let Some(applied) = applied else {
            return;
        };
        let mut reached = Vec::new();
        for (seq, write) in self.pending.range_mut(..=applied) {
            if write.arrivals.iter().any(|a| a.replica == index) {
                continue;
            }
            let after = now.saturating_duration_since(write.committed);
            write.arrivals.push(Arrival {
                replica: index,
                after,
            });
            let latency = &mut self.replicas[index].facts.latency;
            *latency = Some(match *latency {
                None => after,
                Some(old) => old.mul_f64(1.0 - LATENCY_GAIN) + after.mul_f64(LATENCY_GAIN),
            });
            reached.push(*seq);
        }
        for seq in reached {
            let done = self.pending.get(&seq).is_some_and(|w| self.has_quorum(w));
            if !done {
                continue;
            }
            if let Some(write) = self.pending.remove(&seq) {
                self.finish(seq, write, now);
            }
        }
    }

    /// The watcher of replica `index` lost its connection: it now holds the lowest weights.
    pub fn mark_unhealthy(&mut self, index: usize) {
        if let Some(replica) = self.replicas.get_mut(index) {
            replica.facts.healthy = false;
        }
    }

    /// Waiter `waiter` of write `seq` gave up at `now`: on its timeout (`timed_out`, counted)
    /// or because its caller went away. Returns its timed-out outcome, or `None` when it was
    /// answered in the meantime (the answer is then in its receiver).
    pub fn cancel(
        &mut self,
        seq: u64,
        waiter: u64,
        now: Instant,
        timed_out: bool,
    ) -> Option<QuorumOutcome> {
        let write = self.pending.get_mut(&seq)?;
        let at = write.waiters.iter().position(|(id, _, _)| *id == waiter)?;
        let (_, started, _) = write.waiters.swap_remove(at);
        if timed_out {
            self.counters.timed_out += 1;
        }
        let empty = write.waiters.is_empty();
        let mut outcome = self.outcome_of(seq, false, now.saturating_duration_since(started));
        outcome.timed_out = true;
        if empty {
            self.pending.remove(&seq);
        }
        Some(outcome)
    }

    /// Shutdown: answers every waiter (not achieved, not timed out) and refuses later waits.
    pub fn close(&mut self, now: Instant) {
        self.closed = true;
        for (_, write) in std::mem::take(&mut self.pending) {
            for (_, started, tx) in write.waiters {
                let mut outcome = QuorumOutcome::unanswered();
                outcome.waited = now.saturating_duration_since(started);
                let _ = tx.send(outcome);
            }
        }
    }

    /// Number of writes being waited on.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether the primary plus the replicas that applied `write` weigh more than CT, by the
    /// write's snapshot ranks.
    fn has_quorum(&self, write: &PendingWrite) -> bool {
        let holders: Vec<usize> = std::iter::once(0)
            .chain(
                write
                    .arrivals
                    .iter()
                    .filter_map(|a| write.ranks.get(a.replica).copied()),
            )
            .collect();
        self.weights.is_quorum(&holders)
    }

    /// Answers every waiter of a write whose quorum formed, and re-ranks from its arrivals.
    fn finish(&mut self, seq: u64, write: PendingWrite, now: Instant) {
        self.counters.achieved += write.waiters.len() as u64;
        let facts = self.facts();
        self.ranking.record_completed(seq, &write.arrivals, &facts);
        let base = self.outcome(&write, true, Duration::ZERO);
        for (_, started, tx) in write.waiters {
            let mut outcome = base.clone();
            outcome.waited = now.saturating_duration_since(started);
            let _ = tx.send(outcome);
        }
    }

    /// The outcome of `write` as it stands.
    fn outcome(&self, write: &PendingWrite, achieved: bool, waited: Duration) -> QuorumOutcome {
        QuorumOutcome {
            achieved,
            replicas: write
                .arrivals
                .iter()
                .filter_map(|a| self.replicas.get(a.replica))
                .map(|r| r.facts.id.clone())
                .collect(),
            waited,
            timed_out: false,
        }
    }

    /// The outcome of pending write `seq` as it stands (empty when it is not pending).
    fn outcome_of(&self, seq: u64, achieved: bool, waited: Duration) -> QuorumOutcome {
        match self.pending.get(&seq) {
            Some(write) => self.outcome(write, achieved, waited),
            None => QuorumOutcome {
                waited,
                ..QuorumOutcome::unanswered()
            },
        }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
