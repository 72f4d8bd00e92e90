//! Which replica holds which Cabinet weight. Pure: no I/O, no clocks of its own.
//!
//! As in Cabinet's priority manager, ranks are recomputed from the order in which replicas
//! reached each completed write (a write whose quorum formed): the first to apply it gets the
//! heaviest replica weight, and replicas that had not applied it yet follow. Ties (arrivals
//! within [`TIE_RESOLUTION`] of each other, and replicas that have not arrived) are broken by
//! smoothed apply latency, then by id. Unhealthy replicas always hold the lowest weights,
//! whatever the last write said. A write's weights are snapshotted when it commits on the
//! primary, so its quorum is judged with the ranking as of its commit.

use std::cmp::Ordering;
use std::time::Duration;

/// Arrivals closer together than this count as simultaneous (one watcher round trip on
/// loopback is about this long, so a finer order would be noise).
pub const TIE_RESOLUTION: Duration = Duration::from_millis(1);

/// What the ranking needs to know about one replica (indexed like the tracker's replicas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaFacts {
    /// Node id: the last tie-break.
    pub id: String,
    /// False while its watcher cannot reach it: it then holds the lowest weights.
    pub healthy: bool,
    /// Smoothed commit-to-applied delay; `None` until one write was observed.
    pub latency: Option<Duration>,
}

/// One replica reaching one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Index of the replica.
    pub replica: usize,
    /// When it was seen to have applied the write, measured from the write's commit.
    pub after: Duration,
}

/// The current order of replicas, heaviest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranking {
    /// Replica indexes, heaviest first, as of the newest completed write.
    order: Vec<usize>,
    /// Sequence number of that write (0 before any), so an older write completing late cannot
    /// overwrite a newer ranking.
    ranked_seq: u64,
}

/// Latency order: known latencies first, fastest first.
fn by_latency(a: &ReplicaFacts, b: &ReplicaFacts) -> Ordering {
    match (a.latency, b.latency) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The full tie-break between two replicas: latency, then id.
fn tie_break(facts: &[ReplicaFacts], a: usize, b: usize) -> Ordering {
    by_latency(&facts[a], &facts[b]).then_with(|| facts[a].id.cmp(&facts[b].id))
}

impl Ranking {
    /// The initial ranking of `replicas` replicas: configuration order.
    pub fn new(replicas: usize) -> Self {
        Self {
            order: (0..replicas).collect(),
            ranked_seq: 0,
        }
    }

    /// Replica indexes, heaviest first, as of the newest completed write (health not applied).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// Re-ranks from the arrivals of write `seq`, whose quorum just formed. Ignored when a newer
    /// write already set the ranking. Arrivals for unknown replicas are ignored.
    pub fn record_completed(&mut self, seq: u64, arrivals: &[Arrival], facts: &[ReplicaFacts]) {
        if seq <= self.ranked_seq {
            return;
        }
        let n = facts.len();
        let mut arrived: Vec<Arrival> = Vec::with_capacity(arrivals.len());
        for a in arrivals {
            if a.replica < n && !arrived.iter().any(|b| b.replica == a.replica) {
                arrived.push(*a);
            }
        }
        let bucket = |d: Duration| d.as_nanos() / TIE_RESOLUTION.as_nanos();
        arrived.sort_by(|a, b| {
            bucket(a.after)
                .cmp(&bucket(b.after))
                .then_with(|| tie_break(facts, a.replica, b.replica))
        });
        let mut rest: Vec<usize> = (0..n)
            .filter(|i| !arrived.iter().any(|a| a.replica == *i))
            .collect();
        rest.sort_by(|a, b| tie_break(facts, *a, *b));
        self.order = arrived.iter().map(|a| a.replica).chain(rest).collect();
        self.ranked_seq = seq;
    }

    /// The weight rank each replica holds now: `ranks[replica]` is 1 for the heaviest replica,
    /// 2 for the next (rank 0 is the primary's). Healthy replicas keep the recorded order;
    /// unhealthy ones follow, in the same order.
    pub fn ranks(&self, facts: &[ReplicaFacts]) -> Vec<usize> {
        let healthy = |i: &usize| facts.get(*i).is_some_and(|f| f.healthy);
        let effective = self
            .order
            .iter()
            .filter(|i| healthy(i))
            .chain(self.order.iter().filter(|i| !healthy(i)));
        let mut ranks = vec![0; self.order.len()];
        for (position, &replica) in effective.enumerate() {
            if let Some(slot) = ranks.get_mut(replica) {
                *slot = position + 1;
            }
        }
        ranks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(latencies: &[Option<u64>]) -> Vec<ReplicaFacts> {
        latencies
            .iter()
            .enumerate()
            .map(|(i, l)| ReplicaFacts {
                id: format!("instance-{}", i + 2),
                healthy: true,
                latency: l.map(Duration::from_millis),
            })
            .collect()
    }

    fn arrival(replica: usize, ms: u64) -> Arrival {
        Arrival {
            replica,
            after: Duration::from_millis(ms),
        }
    }

    #[test]
    fn starts_in_configuration_order() {
        let r = Ranking::new(3);
        assert_eq!(r.ranks(&facts(&[None, None, None])), vec![1, 2, 3]);
    }

    #[test]
    fn arrival_order_sets_the_ranks() {
        let f = facts(&[None, None, None]);
        let mut r = Ranking::new(3);
        r.record_completed(5, &[arrival(2, 3), arrival(0, 7)], &f);
        assert_eq!(r.order(), &[2, 0, 1]);
        assert_eq!(r.ranks(&f), vec![2, 3, 1]);
    }

    #[test]
    fn an_older_write_cannot_overwrite_a_newer_ranking() {
        let f = facts(&[None, None, None]);
        let mut r = Ranking::new(3);
        r.record_completed(9, &[arrival(1, 1)], &f);
        r.record_completed(8, &[arrival(2, 1)], &f);
        assert_eq!(r.order()[0], 1);
    }

    #[test]
    fn ties_go_to_latency_then_id() {
        let f = facts(&[Some(9), Some(2), None, Some(2)]);
        let mut r = Ranking::new(4);
        // 0 and 1 arrive within the tie window: 1 is faster on average, so it leads.
        let arrivals = [
            Arrival {
                replica: 0,
                after: Duration::from_micros(4_100),
            },
            Arrival {
                replica: 1,
                after: Duration::from_micros(4_600),
            },
        ];
        r.record_completed(1, &arrivals, &f);
        // 2 and 3 did not arrive: 3 has a known latency, 2 has none.
        assert_eq!(r.order(), &[1, 0, 3, 2]);

        let same = facts(&[Some(2), Some(2)]);
        let mut r = Ranking::new(2);
        r.record_completed(1, &[], &same);
        assert_eq!(r.order(), &[0, 1], "equal latency: by id");
    }

    #[test]
    fn unhealthy_replicas_hold_the_lowest_weights() {
        let mut f = facts(&[None, None, None]);
        let mut r = Ranking::new(3);
        r.record_completed(1, &[arrival(0, 1), arrival(1, 2), arrival(2, 3)], &f);
        f[0].healthy = false;
        assert_eq!(r.ranks(&f), vec![3, 1, 2]);
        f[0].healthy = true;
        assert_eq!(r.ranks(&f), vec![1, 2, 3], "recovers its place");
    }

    #[test]
    fn unknown_and_duplicate_arrivals_are_ignored() {
        let f = facts(&[None, None]);
        let mut r = Ranking::new(2);
        r.record_completed(1, &[arrival(7, 1), arrival(1, 2), arrival(1, 3)], &f);
        assert_eq!(r.order(), &[1, 0]);
    }
}
