//! Latency samples and error counts of a stress run, summarised as the reports print them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Latencies of the successful operations of one kind.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<f64>);

/// What the reports show of a [`Latencies`].
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    /// Samples.
    pub count: usize,
    /// Mean (ms).
    pub mean_ms: f64,
    /// Median (ms).
    pub p50_ms: f64,
    /// 95th percentile (ms).
    pub p95_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// Largest (ms).
    pub max_ms: f64,
}

impl Latencies {
    /// Adds one sample.
    pub fn push(&mut self, elapsed: Duration) {
        self.0.push(elapsed.as_secs_f64() * 1000.0);
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// Count, mean, nearest-rank percentiles and maximum (all 0 without samples).
    pub fn summary(&self) -> LatencySummary {
        if self.0.is_empty() {
            return LatencySummary::default();
        }
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[i.clamp(1, sorted.len()) - 1]
        };
        LatencySummary {
            count: sorted.len(),
            mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
            p50_ms: rank(50.0),
            p95_ms: rank(95.0),
            p99_ms: rank(99.0),
            max_ms: sorted[sorted.len() - 1],
        }
    }
}

/// Failed operations counted by kind of error.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Errors(BTreeMap<String, u64>);

impl Errors {
    /// Counts one failure.
    pub fn add(&mut self, kind: String) {
        *self.0.entry(kind).or_default() += 1;
    }

    /// Adds every count of `other`.
    pub fn extend(&mut self, other: Errors) {
        for (k, n) in other.0 {
            *self.0.entry(k).or_default() += n;
        }
    }

    /// Failures in all.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// The most frequent kind, for one-line summaries.
    pub fn top(&self) -> Option<(&str, u64)> {
        self.0
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(k, n)| (k.as_str(), *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.push(Duration::from_millis(ms));
        }
        let s = l.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 1e-9, "{s:?}");
        assert!((s.p95_ms - 95.0).abs() < 1e-9, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 1e-9, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 1e-9, "{s:?}");
        assert_eq!(Latencies::default().summary(), LatencySummary::default());
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let mut e = Errors::default();
        e.add("a".into());
        e.add("b".into());
        e.add("b".into());
        assert_eq!(e.total(), 3);
        assert_eq!(e.top(), Some(("b", 2)));
    }
}
