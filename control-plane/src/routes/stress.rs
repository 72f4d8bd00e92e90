//! The stress endpoints: concurrent writes, a read/write mix, EVENTUAL against STRONG, and
//! read-after-write trials. Every statement runs through
//! [`crate::consistency_metrics::execute`] (the engine, counted), at most [`IN_FLIGHT`] at once.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::Json;
use myquorum_proxy::classify::Consistency;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use utoipa::ToSchema;

use crate::body::Body;
use crate::consistency_metrics::{execute, request};
use crate::error::ControlPlaneError;
use crate::routes::query::{millis, parse_consistency};
use crate::state::ControlPlane;

/// Statements in flight at once.
pub const IN_FLIGHT: usize = 10;

/// Most operations one stress call may run.
pub const MAX_OPERATIONS: u64 = 10_000;

/// Most trials of one read-after-write call.
pub const MAX_TRIALS: u64 = 1_000;

/// The mix's read.
const MIX_READ: &str = "SELECT * FROM users ORDER BY id DESC LIMIT 10";

/// `POST /admin/stress-test/concurrent-writes` and `read-write-mix` body (may be empty).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct StressRequest {
    /// Operations to run, 1..=10000 (default 100).
    pub num_operations: Option<u64>,
    /// `EVENTUAL`, `STRONG` (default) or `CAUSAL`.
    pub consistency: Option<String>,
}

/// Smallest and largest timestamp the writes produced (null when none did).
#[derive(Debug, Clone, Default, Serialize, ToSchema, PartialEq, Eq)]
pub struct TimestampRange {
    /// Smallest.
    pub min: Option<u64>,
    /// Largest.
    pub max: Option<u64>,
}

/// The report of one stress run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StressReport {
    /// Which test.
    pub test_name: String,
    /// Operations run.
    pub total_operations: u64,
    /// Operations that succeeded.
    pub successful: u64,
    /// Operations that failed.
    pub failed: u64,
    /// Wall time of the run (s).
    pub duration_seconds: f64,
    /// Successful operations per second.
    pub throughput_ops_per_sec: f64,
    /// Mean latency of the successful operations (ms).
    pub avg_latency_ms: f64,
    /// Smallest latency (ms).
    pub min_latency_ms: f64,
    /// Largest latency (ms).
    pub max_latency_ms: f64,
    /// (+) Median latency (ms).
    pub p50_latency_ms: f64,
    /// (+) 95th percentile latency (ms).
    pub p95_latency_ms: f64,
    /// (+) 99th percentile latency (ms).
    pub p99_latency_ms: f64,
    /// The level the operations ran at.
    pub consistency_level: String,
    /// Timestamps the writes produced.
    pub timestamp_range: TimestampRange,
    /// Failures by message.
    pub errors: BTreeMap<String, u64>,
    /// (+) Every write got its own timestamp (no two writes share one).
    pub timestamps_unique: bool,
    /// (+) Timestamps follow real time: a write answered before another write started has
    /// the smaller timestamp.
    pub timestamps_ordered: bool,
    /// (+) Writes that succeeded.
    pub writes: u64,
    /// (+) Reads that succeeded.
    pub reads: u64,
    /// (+) STRONG writes whose quorum was not achieved.
    pub quorum_not_achieved: u64,
}

/// One operation's result.
struct OpResult {
    /// When the operation was sent and answered.
    window: (Instant, Instant),
    latency: Duration,
    outcome: Result<OpOk, String>,
}

struct OpOk {
    is_write: bool,
    timestamp: Option<u64>,
    quorum_missed: bool,
}

/// A prefix no other run of this process (or a previous process) uses, for unique emails.
fn run_id() -> String {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos}-{}", RUN.fetch_add(1, Ordering::Relaxed))
}

/// An insert of a unique user.
fn insert_user(run: &str, i: u64) -> String {
    format!(
        "INSERT INTO users (name, email) VALUES ('stress-{run}-{i}', 'stress-{run}-{i}@example.com')"
    )
}

/// True when every write answered before another write was sent has the smaller timestamp
/// (`(sent, answered, timestamp)` per write). Sorting by answer time and sweeping by send
/// time keeps it O(n log n).
fn follows_real_time(windows: &mut [(Instant, Instant, u64)]) -> bool {
    let mut by_answer: Vec<(Instant, u64)> = windows.iter().map(|w| (w.1, w.2)).collect();
    by_answer.sort_by_key(|w| w.0);
    windows.sort_by_key(|w| w.0);
    let (mut next, mut highest_done) = (0, 0u64);
    for (sent, _, ts) in windows.iter() {
        while next < by_answer.len() && by_answer[next].0 < *sent {
            highest_done = highest_done.max(by_answer[next].1);
            next += 1;
        }
        if *ts <= highest_done {
            return false;
        }
    }
    true
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Runs `statements` at `level`, at most [`IN_FLIGHT`] at once, and reports.
pub async fn run(
    cp: &ControlPlane,
    test_name: &str,
    level: Consistency,
    statements: Vec<String>,
) -> StressReport {
    let total = statements.len() as u64;
    let limit = Arc::new(Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for sql in statements {
        let cp = cp.clone();
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let t = Instant::now();
            let outcome = execute(&cp, request(sql, level)).await;
            OpResult {
                window: (t, Instant::now()),
                latency: t.elapsed(),
                outcome: outcome
                    .map(|o| OpOk {
                        is_write: o.is_write,
                        timestamp: o.timestamp,
                        quorum_missed: o.quorum.as_ref().is_some_and(|q| !q.achieved),
                    })
                    .map_err(|e| e.to_string()),
            }
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.unwrap_or_else(|e| OpResult {
            window: (started, started),
            latency: Duration::ZERO,
            outcome: Err(format!("task failed: {e}")),
        }));
    }
    let duration = started.elapsed();
    report(test_name, level, total, duration, results)
}

fn report(
    test_name: &str,
    level: Consistency,
    total: u64,
    duration: Duration,
    results: Vec<OpResult>,
) -> StressReport {
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut timestamps = Vec::new();
    let mut windows = Vec::new();
    let (mut writes, mut reads, mut quorum_not_achieved) = (0, 0, 0);
    for r in results {
        match r.outcome {
            Ok(ok) => {
                latencies.push(millis(r.latency));
                if ok.is_write {
                    writes += 1;
                    timestamps.extend(ok.timestamp);
                    if let Some(ts) = ok.timestamp {
                        windows.push((r.window.0, r.window.1, ts));
                    }
                } else {
                    reads += 1;
                }
                if ok.quorum_missed {
                    quorum_not_achieved += 1;
                }
            }
            Err(message) => *errors.entry(message).or_default() += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    let successful = latencies.len() as u64;
    let secs = duration.as_secs_f64();
    let unique: HashSet<u64> = timestamps.iter().copied().collect();
    StressReport {
        test_name: test_name.to_owned(),
        total_operations: total,
        successful,
        failed: total - successful,
        duration_seconds: round3(secs),
        throughput_ops_per_sec: if secs > 0.0 {
            round3(successful as f64 / secs)
        } else {
            0.0
        },
        avg_latency_ms: if latencies.is_empty() {
            0.0
        } else {
            round3(latencies.iter().sum::<f64>() / latencies.len() as f64)
        },
        min_latency_ms: latencies.first().copied().unwrap_or(0.0),
        max_latency_ms: latencies.last().copied().unwrap_or(0.0),
        p50_latency_ms: percentile(&latencies, 50.0),
        p95_latency_ms: percentile(&latencies, 95.0),
        p99_latency_ms: percentile(&latencies, 99.0),
        consistency_level: level.as_str().to_owned(),
        timestamp_range: TimestampRange {
            min: timestamps.iter().copied().min(),
            max: timestamps.iter().copied().max(),
        },
        errors,
        timestamps_unique: unique.len() == timestamps.len(),
        timestamps_ordered: follows_real_time(&mut windows),
        writes,
        reads,
        quorum_not_achieved,
    }
}

fn stress_params(
    body: StressRequest,
    default: Consistency,
) -> Result<(u64, Consistency), ControlPlaneError> {
    let n = body.num_operations.unwrap_or(100);
    if !(1..=MAX_OPERATIONS).contains(&n) {
        return Err(ControlPlaneError::BadParameter {
            name: "num_operations",
            reason: format!("{n} is not in 1..={MAX_OPERATIONS}"),
        });
    }
    let level = match body.consistency.as_deref() {
        None => default,
        Some(name) => parse_consistency(name).ok_or_else(|| ControlPlaneError::BadParameter {
            name: "consistency",
            reason: format!("unknown consistency `{name}` (EVENTUAL, STRONG or CAUSAL)"),
        })?,
    };
    Ok((n, level))
}

/// `name=N` of a query string, `default` when absent, within `1..=max`.
fn query_param(
    raw: Option<&str>,
    name: &'static str,
    default: u64,
    max: u64,
) -> Result<u64, ControlPlaneError> {
    let value = raw
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v);
    let n = match value {
        None => default,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| ControlPlaneError::BadParameter {
                name,
                reason: format!("`{v}` is not a positive integer"),
            })?,
    };
    if !(1..=max).contains(&n) {
        return Err(ControlPlaneError::BadParameter {
            name,
            reason: format!("{n} is not in 1..={max}"),
        });
    }
    Ok(n)
}

/// Inserts `num_operations` unique users concurrently; checks their timestamps are unique.
#[utoipa::path(post, path = "/admin/stress-test/concurrent-writes", tag = "stress",
    request_body = StressRequest,
    responses((status = 200, body = StressReport), (status = 422, description = "bad body or parameter"),
        (status = 401, description = "bearer token required")))]
pub async fn concurrent_writes(
    State(cp): State<ControlPlane>,
    Body(body): Body<StressRequest>,
) -> Result<Json<StressReport>, ControlPlaneError> {
    let (n, level) = stress_params(body, cp.config().query_consistency)?;
    let run_id = run_id();
    let statements = (0..n).map(|i| insert_user(&run_id, i)).collect();
    Ok(Json(run(&cp, "concurrent_writes", level, statements).await))
}

/// 30% unique inserts into `users`, 70% `SELECT * FROM users ORDER BY id DESC LIMIT 10`.
#[utoipa::path(post, path = "/admin/stress-test/read-write-mix", tag = "stress",
    request_body = StressRequest,
    responses((status = 200, body = StressReport), (status = 422, description = "bad body or parameter"),
        (status = 401, description = "bearer token required")))]
pub async fn read_write_mix(
    State(cp): State<ControlPlane>,
    Body(body): Body<StressRequest>,
) -> Result<Json<StressReport>, ControlPlaneError> {
    let (n, level) = stress_params(body, cp.config().query_consistency)?;
    let run_id = run_id();
    let statements = (0..n)
        .map(|i| {
            if i % 10 < 3 {
                insert_user(&run_id, i)
            } else {
                MIX_READ.to_owned()
            }
        })
        .collect();
    Ok(Json(run(&cp, "read_write_mix", level, statements).await))
}

/// `POST /admin/stress-test/consistency-comparison` summary.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComparisonSummary {
    /// Level with the lowest mean latency.
    pub fastest: String,
    /// Level with the highest success rate (STRONG on a tie: it also waits for a quorum).
    pub most_reliable: String,
    /// Level with the highest throughput.
    pub highest_throughput: String,
}

/// `POST /admin/stress-test/consistency-comparison` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComparisonResponse {
    /// `consistency_comparison`.
    pub test_name: String,
    /// Writes per level.
    pub operations_per_level: u64,
    /// `EVENTUAL` and `STRONG` reports.
    pub results: BTreeMap<String, StressReport>,
    /// Which level won what.
    pub summary: ComparisonSummary,
}

/// The same number of unique concurrent inserts at EVENTUAL, then at STRONG.
#[utoipa::path(post, path = "/admin/stress-test/consistency-comparison", tag = "stress",
    params(("num_operations" = Option<u64>, Query, description = "writes per level, 1..=10000 (default 50)")),
    responses((status = 200, body = ComparisonResponse), (status = 422, description = "bad parameter"),
        (status = 401, description = "bearer token required")))]
pub async fn consistency_comparison(
    State(cp): State<ControlPlane>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ComparisonResponse>, ControlPlaneError> {
    let n = query_param(raw.as_deref(), "num_operations", 50, MAX_OPERATIONS)?;
    let eventual = {
        let id = run_id();
        let stmts = (0..n).map(|i| insert_user(&id, i)).collect();
        run(&cp, "consistency_comparison", Consistency::Eventual, stmts).await
    };
    let strong = {
        let id = run_id();
        let stmts = (0..n).map(|i| insert_user(&id, i)).collect();
        run(&cp, "consistency_comparison", Consistency::Strong, stmts).await
    };
    let rate = |r: &StressReport| r.successful as f64 / r.total_operations.max(1) as f64;
    let pick = |eventual_wins: bool| if eventual_wins { "EVENTUAL" } else { "STRONG" }.to_owned();
    let summary = ComparisonSummary {
        fastest: pick(eventual.avg_latency_ms <= strong.avg_latency_ms),
        most_reliable: pick(rate(&eventual) > rate(&strong)),
        highest_throughput: pick(eventual.throughput_ops_per_sec >= strong.throughput_ops_per_sec),
    };
    let mut results = BTreeMap::new();
    results.insert("EVENTUAL".to_owned(), eventual);
    results.insert("STRONG".to_owned(), strong);
    Ok(Json(ComparisonResponse {
        test_name: "consistency_comparison".to_owned(),
        operations_per_level: n,
        results,
        summary,
    }))
}

/// One level's read-after-write results.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ReadAfterWriteResults {
    /// Trials run at this level.
    pub trials: u64,
    /// Reads that found the row just written.
    pub fresh_reads: u64,
    /// Reads that did not find it.
    pub stale_reads: u64,
    /// Trials whose write or read failed.
    pub failed: u64,
    /// Stale reads over completed trials (%).
    pub stale_read_rate: f64,
    /// Mean write latency (ms).
    pub avg_write_latency_ms: f64,
    /// Mean read latency (ms).
    pub avg_read_latency_ms: f64,
    /// Reads per node that answered.
    pub reads_by_node: BTreeMap<String, u64>,
}

/// One trial at one level.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrialLog {
    /// Trial number (from 1).
    pub trial: u64,
    /// Level.
    pub consistency: String,
    /// Timestamp of the write.
    pub write_timestamp: Option<u64>,
    /// Node that read.
    pub read_executed_on: Option<String>,
    /// The read found the row.
    pub found: bool,
    /// The read did not find the row (stale).
    pub stale: bool,
    /// Write latency (ms).
    pub write_latency_ms: f64,
    /// Read latency (ms).
    pub read_latency_ms: f64,
    /// What failed, if anything.
    pub error: Option<String>,
}

/// Read-after-write summary.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReadAfterWriteSummary {
    /// STRONG stale reads (0 expected: STRONG reads run on the primary).
    pub strong_stale_reads: u64,
    /// EVENTUAL stale reads (replicas may lag).
    pub eventual_stale_reads: u64,
    /// STRONG had no stale read.
    pub strong_read_your_writes: bool,
    /// In words.
    pub message: String,
}

/// `POST /admin/stress-test/read-after-write` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReadAfterWriteResponse {
    /// `read_after_write`.
    pub test_name: String,
    /// Trials per level.
    pub num_trials: u64,
    /// STRONG.
    pub strong_results: ReadAfterWriteResults,
    /// EVENTUAL.
    pub eventual_results: ReadAfterWriteResults,
    /// Comparison.
    pub summary: ReadAfterWriteSummary,
    /// Every trial.
    pub trial_logs: Vec<TrialLog>,
}

async fn trial(cp: &ControlPlane, trial: u64, level: Consistency, run: &str) -> TrialLog {
    let mut log = TrialLog {
        trial,
        consistency: level.as_str().to_owned(),
        write_timestamp: None,
        read_executed_on: None,
        found: false,
        stale: false,
        write_latency_ms: 0.0,
        read_latency_ms: 0.0,
        error: None,
    };
    let tag = format!("raw-{run}-{}-{trial}", level.as_str().to_ascii_lowercase());
    let t = Instant::now();
    let written = execute(
        cp,
        request(
            format!("INSERT INTO users (name, email) VALUES ('{tag}', '{tag}@example.com')"),
            level,
        ),
    )
    .await;
    log.write_latency_ms = millis(t.elapsed());
    match written {
        Ok(o) => log.write_timestamp = o.timestamp,
        Err(e) => {
            log.error = Some(format!("write: {e}"));
            return log;
        }
    }
    let t = Instant::now();
    let read = execute(
        cp,
        request(
            format!("SELECT id FROM users WHERE email = '{tag}@example.com'"),
            level,
        ),
    )
    .await;
    log.read_latency_ms = millis(t.elapsed());
    match read {
        Ok(o) => {
            log.found = !o.rows.is_empty();
            log.stale = !log.found;
            log.read_executed_on = Some(o.executed_on);
        }
        Err(e) => log.error = Some(format!("read: {e}")),
    }
    log
}

fn summarize(logs: &[&TrialLog]) -> ReadAfterWriteResults {
    let mut r = ReadAfterWriteResults {
        trials: logs.len() as u64,
        ..Default::default()
    };
    let (mut w, mut rd) = (0.0, 0.0);
    for log in logs {
        if log.error.is_some() {
            r.failed += 1;
            continue;
        }
        w += log.write_latency_ms;
        rd += log.read_latency_ms;
        if log.stale {
            r.stale_reads += 1;
        } else {
            r.fresh_reads += 1;
        }
        if let Some(node) = &log.read_executed_on {
            *r.reads_by_node.entry(node.clone()).or_default() += 1;
        }
    }
    let done = r.fresh_reads + r.stale_reads;
    if done > 0 {
        r.stale_read_rate = round3(r.stale_reads as f64 * 100.0 / done as f64);
        r.avg_write_latency_ms = round3(w / done as f64);
        r.avg_read_latency_ms = round3(rd / done as f64);
    }
    r
}

/// Writes a unique row and reads it back at once, at STRONG and at EVENTUAL, per trial.
#[utoipa::path(post, path = "/admin/stress-test/read-after-write", tag = "stress",
    params(("num_trials" = Option<u64>, Query, description = "trials, 1..=1000 (default 10)")),
    responses((status = 200, body = ReadAfterWriteResponse), (status = 422, description = "bad parameter"),
        (status = 401, description = "bearer token required")))]
pub async fn read_after_write(
    State(cp): State<ControlPlane>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ReadAfterWriteResponse>, ControlPlaneError> {
    let n = query_param(raw.as_deref(), "num_trials", 10, MAX_TRIALS)?;
    let run = run_id();
    let mut logs = Vec::new();
    for i in 1..=n {
        for level in [Consistency::Strong, Consistency::Eventual] {
            logs.push(trial(&cp, i, level, &run).await);
        }
    }
    let of = |level: &str| {
        summarize(
            &logs
                .iter()
                .filter(|l| l.consistency == level)
                .collect::<Vec<_>>(),
        )
    };
    let strong = of("STRONG");
    let eventual = of("EVENTUAL");
    let summary = ReadAfterWriteSummary {
        strong_stale_reads: strong.stale_reads,
        eventual_stale_reads: eventual.stale_reads,
        strong_read_your_writes: strong.stale_reads == 0,
        message: format!(
            "STRONG: {} stale read(s) of {} (reads on the primary); EVENTUAL: {} stale read(s) \
             of {} (reads on replicas, which may lag)",
            strong.stale_reads,
            strong.fresh_reads + strong.stale_reads,
            eventual.stale_reads,
            eventual.fresh_reads + eventual.stale_reads
        ),
    };
    Ok(Json(ReadAfterWriteResponse {
        test_name: "read_after_write".to_owned(),
        num_trials: n,
        strong_results: strong,
        eventual_results: eventual,
        summary,
        trial_logs: logs,
    }))
}

#[cfg(test)]
mod tests {

    #[test]
    fn real_time_order_of_timestamps() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // b was sent after a was answered: it must have the larger timestamp.
        let mut ok = vec![(at(0), at(5), 10), (at(6), at(9), 11), (at(1), at(8), 9)];
        assert!(follows_real_time(&mut ok));
        let mut bad = vec![(at(0), at(5), 12), (at(6), at(9), 11)];
        assert!(!follows_real_time(&mut bad));
    }

    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn query_params_are_bounded() {
        assert_eq!(query_param(None, "n", 7, 10).ok(), Some(7));
        assert_eq!(query_param(Some("x=1&n=3"), "n", 7, 10).ok(), Some(3));
        assert!(query_param(Some("n=0"), "n", 7, 10).is_err());
        assert!(query_param(Some("n=11"), "n", 7, 10).is_err());
        assert!(query_param(Some("n=abc"), "n", 7, 10).is_err());
    }
}
