//! Statement counters and latency histograms, counted at the one place each event happens
//! (the session's COM_QUERY path and the engine), read by the control plane's Prometheus
//! exporter and the admin port's `SHOW METRICS`. Lock-free: fixed label sets and buckets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::classify::Consistency;

/// Upper bounds of the latency histogram buckets, in milliseconds (+Inf is implicit).
pub const BUCKETS_MS: [f64; 13] = [
    0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
];

/// Where a statement ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteLabel {
    /// The primary.
    Primary,
    /// A replica.
    Replica,
}

impl RouteLabel {
    /// Both labels, in export order.
    pub const ALL: [RouteLabel; 2] = [RouteLabel::Primary, RouteLabel::Replica];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteLabel::Primary => "primary",
            RouteLabel::Replica => "replica",
        }
    }
}

/// Every consistency level, in export order.
pub const LEVELS: [Consistency; 3] = [
    Consistency::Eventual,
    Consistency::Strong,
    Consistency::Causal,
];

/// What [`Histogram::read`] returns: cumulative counts per bucket (same order as
/// [`BUCKETS_MS`]), total count, sum in milliseconds.
pub type HistogramRead = (Vec<u64>, u64, f64);

/// Sums reads of several histograms (they share [`BUCKETS_MS`]).
fn merged<'a>(histograms: impl Iterator<Item = &'a Histogram>) -> HistogramRead {
    let mut out = (vec![0; BUCKETS_MS.len()], 0, 0.0);
    for h in histograms {
        let (buckets, count, sum_ms) = h.read();
        for (total, n) in out.0.iter_mut().zip(buckets) {
            *total += n;
        }
        out.1 += count;
        out.2 += sum_ms;
    }
    out
}

/// A cumulative histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_MS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        for (bound, bucket) in BUCKETS_MS.iter().zip(&self.buckets) {
            if ms <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Cumulative counts per bucket (same order as [`BUCKETS_MS`]), total count, sum in ms.
    pub fn read(&self) -> HistogramRead {
        let buckets = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let sum_ms = self.sum_us.load(Ordering::Relaxed) as f64 / 1000.0;
        (buckets, self.count.load(Ordering::Relaxed), sum_ms)
    }
}

/// The proxy's statement metrics.
#[derive(Debug, Default)]
pub struct StatementMetrics {
    /// Statements by route (index of [`RouteLabel::ALL`]) and level (index of [`LEVELS`]).
    queries: [[AtomicU64; 3]; 2],
    /// Statement latency (proxy + server) by route and level: one histogram per statement
    /// whichever way it is read (per route or per level, merged on read).
    latency: [[Histogram; 3]; 2],
    /// How long STRONG writes waited for their quorum.
    pub quorum_wait: Histogram,
    /// Reads run a second time on another node after theirs failed before any byte of the
    /// answer reached the client (`retry_failed_reads`).
    read_retries: AtomicU64,
}

fn level_index(level: Consistency) -> usize {
    match level {
        Consistency::Eventual => 0,
        Consistency::Strong => 1,
        Consistency::Causal => 2,
    }
}

impl StatementMetrics {
    /// Counts one statement that ran on `route` at `level` and took `elapsed`.
    pub fn statement(&self, route: RouteLabel, level: Consistency, elapsed: Duration) {
        let r = route as usize;
        self.queries[r][level_index(level)].fetch_add(1, Ordering::Relaxed);
        self.latency[r][level_index(level)].observe(elapsed);
    }

    /// Statements counted for `route` and `level`.
    pub fn queries(&self, route: RouteLabel, level: Consistency) -> u64 {
        self.queries[route as usize][level_index(level)].load(Ordering::Relaxed)
    }

    /// Statement latency on `route`, every level.
    pub fn latency(&self, route: RouteLabel) -> HistogramRead {
        merged(self.latency[route as usize].iter())
    }

    /// Statement latency at `level`, every route.
    pub fn latency_at_level(&self, level: Consistency) -> HistogramRead {
        merged(
            self.latency
                .iter()
                .map(|by_level| &by_level[level_index(level)]),
        )
    }

    /// Counts one read retried on another node ([`crate::pipeline::retry_allowed`]).
    pub fn read_retried(&self) {
        self.read_retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads retried on another node since start.
    pub fn read_retries(&self) -> u64 {
        self.read_retries.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets() {
        let m = StatementMetrics::default();
        m.statement(
            RouteLabel::Replica,
            Consistency::Eventual,
            Duration::from_micros(700),
        );
        m.statement(
            RouteLabel::Primary,
            Consistency::Strong,
            Duration::from_millis(3),
        );
        assert_eq!(m.queries(RouteLabel::Replica, Consistency::Eventual), 1);
        assert_eq!(m.queries(RouteLabel::Primary, Consistency::Strong), 1);
        assert_eq!(m.queries(RouteLabel::Primary, Consistency::Eventual), 0);
        let (buckets, count, sum) = m.latency(RouteLabel::Replica);
        assert_eq!(count, 1);
        assert_eq!(buckets[1], 0, "0.7 ms is not <= 0.5 ms");
        assert_eq!(buckets[2], 1, "0.7 ms <= 1 ms");
        assert!((sum - 0.7).abs() < 1e-9);
        m.statement(
            RouteLabel::Replica,
            Consistency::Strong,
            Duration::from_millis(2),
        );
        let (_, count, sum) = m.latency(RouteLabel::Replica);
        assert_eq!(count, 2, "a route merges its levels");
        assert!((sum - 2.7).abs() < 1e-9);
        let (buckets, count, _) = m.latency_at_level(Consistency::Strong);
        assert_eq!(
            count, 2,
            "a level merges its routes: 3 ms on the primary, 2 ms on a replica"
        );
        assert_eq!(buckets[2], 0);
        assert_eq!(m.latency_at_level(Consistency::Causal).1, 0);
    }
}
