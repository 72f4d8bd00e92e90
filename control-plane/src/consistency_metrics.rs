//! Per-consistency-level counters of the statements the control plane runs (`POST /query`
//! and the stress endpoints), and [`execute`], the one place they run: every statement goes
//! through it, so `GET /consistency-metrics` counts each exactly once.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use myquorum_proxy::classify::Consistency;
use myquorum_proxy::engine::{EngineError, Outcome, Request};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::ControlPlane;

/// Raw counters of one level.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    reads: u64,
    writes: u64,
    read_latency: Duration,
    write_latency: Duration,
    failures: u64,
    quorum_not_achieved: u64,
}

/// One level in `GET /consistency-metrics`.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct LevelMetrics {
    /// Successful reads.
    pub read_count: u64,
    /// Successful writes (DDL included).
    pub write_count: u64,
    /// Every statement: reads, writes and failures.
    pub total_count: u64,
    /// Mean latency of the reads (ms).
    pub avg_read_latency_ms: f64,
    /// Mean latency of the writes, quorum wait included (ms).
    pub avg_write_latency_ms: f64,
    /// Mean latency of reads and writes (ms).
    pub avg_latency_ms: f64,
    /// Statements that failed (SQL error, unavailable, timeout).
    pub failures: u64,
    /// STRONG writes that committed but whose quorum wait timed out or was not met.
    pub quorum_not_achieved: u64,
    /// Percentage of statements that succeeded (100 when none ran).
    pub success_rate: f64,
}

/// The counters of every level, shared by every handler.
#[derive(Debug, Default)]
pub struct ConsistencyMetrics {
    levels: Mutex<BTreeMap<&'static str, Counters>>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn avg(total: Duration, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        ms(total / u32::try_from(n).unwrap_or(u32::MAX))
    }
}

impl ConsistencyMetrics {
    /// Records one statement's result.
    pub fn record(&self, level: Consistency, result: &Result<Outcome, EngineError>) {
        let mut levels = self.levels.lock().unwrap_or_else(|p| p.into_inner());
        let c = levels.entry(level.as_str()).or_default();
        match result {
            Ok(o) if o.is_write => {
                c.writes += 1;
                c.write_latency += o.latency;
                if o.quorum.as_ref().is_some_and(|q| !q.achieved) {
                    c.quorum_not_achieved += 1;
                }
            }
            Ok(o) => {
                c.reads += 1;
                c.read_latency += o.latency;
            }
            Err(_) => c.failures += 1,
        }
    }

    /// Every level (EVENTUAL, STRONG, CAUSAL), zeros for levels never used.
    pub fn snapshot(&self) -> BTreeMap<String, LevelMetrics> {
        let levels = self.levels.lock().unwrap_or_else(|p| p.into_inner());
        [
            Consistency::Eventual,
            Consistency::Strong,
            Consistency::Causal,
        ]
        .into_iter()
        .map(|level| {
            let c = levels.get(level.as_str()).copied().unwrap_or_default();
            let ok = c.reads + c.writes;
            let total = ok + c.failures;
            let metrics = LevelMetrics {
                read_count: c.reads,
                write_count: c.writes,
                total_count: total,
                avg_read_latency_ms: avg(c.read_latency, c.reads),
                avg_write_latency_ms: avg(c.write_latency, c.writes),
                avg_latency_ms: avg(c.read_latency + c.write_latency, ok),
                failures: c.failures,
                quorum_not_achieved: c.quorum_not_achieved,
                success_rate: if total == 0 {
                    100.0
                } else {
                    (ok as f64 * 10_000.0 / total as f64).round() / 100.0
                },
            };
            (level.as_str().to_owned(), metrics)
        })
        .collect()
    }
}

/// Runs one statement through the proxy's engine and counts it: the one place the control
/// plane runs statements (the engine records write timestamps per table itself).
pub async fn execute(cp: &ControlPlane, request: Request) -> Result<Outcome, EngineError> {
    let level = request.consistency;
    let result = cp.engine().execute(request).await;
    cp.consistency_metrics().record(level, &result);
    result
}

/// A statement at `level`, without `after_timestamp`.
pub fn request(sql: impl Into<String>, level: Consistency) -> Request {
    Request {
        sql: sql.into(),
        consistency: level,
        after_timestamp: None,
    }
}
