//! [`Window`]: the proxy's cumulative statement counters and histograms turned into rates and
//! percentiles over the last sampling interval, which is what a live chart plots (a cumulative
//! histogram's percentiles barely move after the first minutes).

use std::collections::BTreeMap;

use myquorum_proxy::metrics::{RouteLabel, StatementMetrics, BUCKETS_MS, LEVELS};
use serde::Serialize;

/// Percentiles of the observations made during one interval (milliseconds). Estimated from
/// the histogram's buckets by linear interpolation inside the bucket, as Prometheus'
/// `histogram_quantile` does; an observation past the last bound counts as that bound.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Observations in the interval.
    pub count: u64,
    /// Median (null without observations).
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Mean, from the histogram's sum.
    pub mean: Option<f64>,
}

/// Rates and percentiles of one interval.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WindowStats {
    /// Length of the interval (s).
    pub interval_s: f64,
    /// Statements per second, all routes and levels.
    pub throughput_qps: f64,
    /// Statements per second by `route/LEVEL` (`primary/STRONG`, `replica/EVENTUAL`, ...).
    pub qps: BTreeMap<String, f64>,
    /// Statement latency by route (`primary`, `replica`), every level.
    pub latency_ms: BTreeMap<String, Percentiles>,
    /// Statement latency by consistency level (`EVENTUAL`, `STRONG`, `CAUSAL`), every route.
    pub latency_by_level_ms: BTreeMap<String, Percentiles>,
    /// STRONG writes' wait for their Cabinet quorum.
    pub quorum_wait_ms: Percentiles,
}

/// One histogram read: cumulative bucket counts, count, sum (ms).
type Read = myquorum_proxy::metrics::HistogramRead;

/// The previous reads, to subtract from the next ones.
#[derive(Debug, Default)]
pub struct Window {
    previous: Option<Previous>,
}

#[derive(Debug, Clone)]
struct Previous {
    queries: Vec<u64>,
    latency: Vec<Read>,
    latency_by_level: Vec<Read>,
    quorum_wait: Read,
}

fn read_all(m: &StatementMetrics) -> Previous {
    let queries = RouteLabel::ALL
        .iter()
        .flat_map(|r| LEVELS.iter().map(move |l| m.queries(*r, *l)))
        .collect();
    let latency = RouteLabel::ALL.iter().map(|r| m.latency(*r)).collect();
    let latency_by_level = LEVELS.iter().map(|l| m.latency_at_level(*l)).collect();
    Previous {
        queries,
        latency,
        latency_by_level,
        quorum_wait: m.quorum_wait.read(),
    }
}

impl Window {
    /// Reads `m` and returns what happened since the previous call, `interval_s` ago (the
    /// first call only records: everything counted before it is history, not this second).
    pub fn advance(&mut self, m: &StatementMetrics, interval_s: f64) -> WindowStats {
        let now = read_all(m);
        let Some(before) = self.previous.replace(now.clone()) else {
            return WindowStats {
                interval_s,
                ..WindowStats::default()
            };
        };
        let per_s = |n: u64| {
            if interval_s > 0.0 {
                n as f64 / interval_s
            } else {
                0.0
            }
        };
        let mut qps = BTreeMap::new();
        let mut total = 0;
        let labels = RouteLabel::ALL
            .iter()
            .flat_map(|r| LEVELS.iter().map(move |l| format!("{}/{l}", r.as_str())));
        for ((label, now), before) in labels.zip(&now.queries).zip(&before.queries) {
            let n = now.saturating_sub(*before);
            total += n;
            qps.insert(label, per_s(n));
        }
        let latency_ms = RouteLabel::ALL
            .iter()
            .zip(now.latency.iter().zip(&before.latency))
            .map(|(r, (now, before))| (r.as_str().to_owned(), percentiles(now, before)))
            .collect();
        let latency_by_level_ms = LEVELS
            .iter()
            .zip(now.latency_by_level.iter().zip(&before.latency_by_level))
            .map(|(l, (now, before))| (l.to_string(), percentiles(now, before)))
            .collect();
        WindowStats {
            interval_s,
            throughput_qps: per_s(total),
            qps,
            latency_ms,
            latency_by_level_ms,
            quorum_wait_ms: percentiles(&now.quorum_wait, &before.quorum_wait),
        }
    }
}

/// Percentiles of the observations between two reads of one histogram.
fn percentiles(now: &Read, before: &Read) -> Percentiles {
    let buckets: Vec<u64> = now
        .0
        .iter()
        .zip(&before.0)
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let count = now.1.saturating_sub(before.1);
    if count == 0 {
        return Percentiles::default();
    }
    let q = |q: f64| Some(round3(quantile(&buckets, count, q)));
    Percentiles {
        count,
        p50: q(0.50),
        p95: q(0.95),
        p99: q(0.99),
        mean: Some(round3((now.2 - before.2).max(0.0) / count as f64)),
    }
}

/// The `q` quantile (0..1) from cumulative bucket counts over [`BUCKETS_MS`] and the total.
fn quantile(cumulative: &[u64], count: u64, q: f64) -> f64 {
    let rank = q * count as f64;
    let mut lower_bound = 0.0;
    let mut lower_count = 0u64;
    for (bound, c) in BUCKETS_MS.iter().zip(cumulative) {
        if *c as f64 >= rank && *c > lower_count {
            let share = (rank - lower_count as f64) / (*c - lower_count) as f64;
            return lower_bound + (bound - lower_bound) * share.clamp(0.0, 1.0);
        }
        lower_bound = *bound;
        lower_count = *c;
    }
    BUCKETS_MS[BUCKETS_MS.len() - 1]
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use myquorum_proxy::classify::Consistency;
    use myquorum_proxy::metrics::Histogram;
    use std::time::Duration;

    fn observe(h: &Histogram, ms: f64) {
        h.observe(Duration::from_secs_f64(ms / 1000.0));
    }

    /// The first call only records; the second reports the statements between the two, per
    /// route and level, as rates over the interval.
    #[test]
    fn rates_cover_only_the_interval() {
        let m = StatementMetrics::default();
        m.statement(
            RouteLabel::Primary,
            Consistency::Strong,
            Duration::from_millis(3),
        );
        let mut w = Window::default();
        let first = w.advance(&m, 1.0);
        assert_eq!(first.throughput_qps, 0.0, "history is not this second");
        for _ in 0..4 {
            m.statement(
                RouteLabel::Replica,
                Consistency::Eventual,
                Duration::from_micros(700),
            );
        }
        let second = w.advance(&m, 2.0);
        assert_eq!(second.throughput_qps, 2.0);
        assert_eq!(second.qps["replica/EVENTUAL"], 2.0);
        assert_eq!(second.qps["primary/STRONG"], 0.0);
        let replica = second.latency_ms["replica"];
        assert_eq!(replica.count, 4);
        let p50 = replica.p50.expect("p50");
        assert!(p50 > 0.5 && p50 <= 1.0, "0.7 ms lies in (0.5, 1]: {p50}");
        assert_eq!(second.latency_ms["primary"].count, 0);
        assert_eq!(second.latency_ms["primary"].p50, None);
    }

    /// Percentiles interpolate inside buckets and cap at the last bound.
    #[test]
    fn quantiles_from_buckets() {
        let h = Histogram::default();
        for _ in 0..90 {
            observe(&h, 0.8);
        }
        for _ in 0..9 {
            observe(&h, 40.0);
        }
        observe(&h, 9_000.0);
        let p = percentiles(&h.read(), &(vec![0; BUCKETS_MS.len()], 0, 0.0));
        assert_eq!(p.count, 100);
        let (p50, p95, p99) = (
            p.p50.expect("p50"),
            p.p95.expect("p95"),
            p.p99.expect("p99"),
        );
        assert!(p50 > 0.5 && p50 <= 1.0, "{p50}");
        assert!(p95 > 25.0 && p95 <= 50.0, "{p95}");
        assert!(p99 > 25.0 && p99 <= 50.0, "{p99}");
        let only_slow = Histogram::default();
        observe(&only_slow, 9_000.0);
        let p = percentiles(&only_slow.read(), &(vec![0; BUCKETS_MS.len()], 0, 0.0));
        assert_eq!(p.p99, Some(5_000.0), "past the last bound: the bound");
    }
}
