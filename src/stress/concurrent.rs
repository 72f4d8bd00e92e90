//! `stress concurrent`: concurrent writes at one level, then the checks the old
//! `stress_test.py` made: every acknowledged row exists, every write's timestamp is unique,
//! and timestamps follow commit order (a write acknowledged before another was sent has the
//! smaller timestamp).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::session::{Level, Session, Target};
use super::stats::{Errors, Latencies};
use super::{Ctx, ScenarioReport};
use crate::table::{num, Table};

/// One acknowledged write.
#[derive(Debug, Clone)]
struct Ack {
    tag: String,
    ts: Option<u64>,
    /// Sent / acknowledged, in ns since the run started.
    sent: u128,
    acked: u128,
}

/// Runs the scenario on every target at every level asked for.
pub async fn run(ctx: &Ctx, targets: &[Target], levels: &[Level]) -> ScenarioReport {
    let mut report = ScenarioReport::new("concurrent");
    let mut table = Table::new([
        "TARGET", "LEVEL", "ACKED", "FAILED", "OPS/S", "P50(ms)", "P99(ms)", "MISSING", "DUP TS",
        "ORDER", "NO TS",
    ]);
    for &target in targets {
        for &level in levels {
            let one = one_run(ctx, target, level).await;
            table.row([
                target.as_str().to_owned(),
                level.as_str().to_owned(),
                one.acked.to_string(),
                one.errors.total().to_string(),
                num(Some(one.throughput), 1),
                num(Some(one.latency.p50_ms), 2),
                num(Some(one.latency.p99_ms), 2),
                one.missing.to_string(),
                one.duplicate_timestamps.to_string(),
                one.order_violations.to_string(),
                one.without_timestamp.to_string(),
            ]);
            for failure in one.failures(target, level) {
                report.fail(failure);
            }
            report.push_result(json!({
                "target": target,
                "level": level,
                "operations": one.operations,
                "acknowledged": one.acked,
                "failed": one.errors.total(),
                "errors": one.errors,
                "duration_seconds": one.seconds,
                "throughput_ops_per_sec": one.throughput,
                "latency": one.latency,
                "missing_rows": one.missing,
                "duplicate_timestamps": one.duplicate_timestamps,
                "order_violations": one.order_violations,
                "without_timestamp": one.without_timestamp,
                "timestamp_range": {"min": one.ts_min, "max": one.ts_max},
                "verify_error": one.verify_error,
            }));
        }
    }
    report.text = table.render();
    report
}

/// What one (target, level) run saw.
struct OneRun {
    operations: u64,
    acked: usize,
    errors: Errors,
    seconds: f64,
    throughput: f64,
    latency: super::stats::LatencySummary,
    missing: usize,
    duplicate_timestamps: usize,
    order_violations: usize,
    without_timestamp: usize,
    ts_min: Option<u64>,
    ts_max: Option<u64>,
    verify_error: Option<String>,
}

impl OneRun {
    fn failures(&self, target: Target, level: Level) -> Vec<String> {
        let at = format!("{} {}", target.as_str(), level.as_str());
        let mut out = Vec::new();
        if self.acked == 0 {
            out.push(format!("{at}: no write was acknowledged"));
        }
        if let Some(e) = &self.verify_error {
            out.push(format!("{at}: could not read the rows back: {e}"));
        }
        if self.missing > 0 {
            out.push(format!(
                "{at}: {} acknowledged rows are missing",
                self.missing
            ));
        }
        if self.duplicate_timestamps > 0 {
            out.push(format!(
                "{at}: {} duplicate timestamps",
                self.duplicate_timestamps
            ));
        }
        if self.order_violations > 0 {
            out.push(format!(
                "{at}: {} writes have a timestamp below one acknowledged before they were sent",
                self.order_violations
            ));
        }
        if self.without_timestamp > 0 {
            out.push(format!(
                "{at}: {} acknowledged writes without a timestamp",
                self.without_timestamp
            ));
        }
        out
    }
}

async fn one_run(ctx: &Ctx, target: Target, level: Level) -> OneRun {
    let prefix = format!(
        "stress-{}-c-{}-{}",
        ctx.run,
        target.as_str(),
        level.as_str().to_lowercase()
    );
    let bar = ctx.bar(
        ctx.count,
        &format!("concurrent {} {}", target.as_str(), level.as_str()),
    );
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..ctx.concurrency {
        let (ep, next, bar, prefix, count) = (
            ctx.ep.clone(),
            next.clone(),
            bar.clone(),
            prefix.clone(),
            ctx.count,
        );
        workers.spawn(async move {
            let mut acks = Vec::new();
            let mut errors = Errors::default();
            let mut latency = Latencies::default();
            let mut session = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let tag = format!("{prefix}-{i}");
                let sql = format!(
                    "INSERT INTO users (name, email) VALUES ('{tag}', '{tag}@example.com')"
                );
                let sent = Instant::now();
                let result = match super::ensure(&mut session, &ep, target, level).await {
                    Ok(s) => s.write(&sql).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(ts) => {
                        latency.push(sent.elapsed());
                        acks.push(Ack {
                            tag,
                            ts,
                            sent: sent.duration_since(started).as_nanos(),
                            acked: started.elapsed().as_nanos(),
                        });
                    }
                    Err(e) => {
                        errors.add(e.kind());
                        if super::broken(&e) {
                            session = None;
                        }
                    }
                }
                bar.inc(1);
            }
            if let Some(s) = session {
                s.close().await;
            }
            (acks, errors, latency)
        });
    }
    let mut acks = Vec::new();
    let mut errors = Errors::default();
    let mut latency = Latencies::default();
    while let Some(done) = workers.join_next().await {
        match done {
            Ok((a, e, l)) => {
                acks.extend(a);
                errors.extend(e);
                latency.extend(l);
            }
            Err(e) => errors.add(format!("worker panicked: {e}")),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    // Read back, on the primary (STRONG reads run there), every row of this run.
    let (missing, verify_error) = match read_back(ctx, target, &prefix).await {
        Ok(found) => (
            acks.iter().filter(|a| !found.contains(&a.tag)).count(),
            None,
        ),
        Err(e) => (0, Some(e)),
    };
    let (duplicate_timestamps, order_violations) = check_timestamps(&acks);
    let stamped: Vec<u64> = acks.iter().filter_map(|a| a.ts).collect();
    super::cleanup(ctx, &prefix).await;
    OneRun {
        operations: ctx.count,
        acked: acks.len(),
        throughput: acks.len() as f64 / seconds.max(1e-9),
        seconds,
        errors,
        latency: latency.summary(),
        missing,
        duplicate_timestamps,
        order_violations,
        without_timestamp: acks.iter().filter(|a| a.ts.is_none()).count(),
        ts_min: stamped.iter().min().copied(),
        ts_max: stamped.iter().max().copied(),
        verify_error,
    }
}

async fn read_back(ctx: &Ctx, target: Target, prefix: &str) -> Result<HashSet<String>, String> {
    let mut session = Session::open(&ctx.ep, target, Level::Strong)
        .await
        .map_err(|e| e.to_string())?;
    let rows = session
        .read(&format!(
            "SELECT name FROM users WHERE name LIKE '{prefix}-%' LIMIT {}",
            ctx.count + 1
        ))
        .await
        .map_err(|e| e.to_string());
    session.close().await;
    Ok(rows?
        .iter()
        .filter_map(|r| r.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        .collect())
}

/// Duplicate timestamps, and writes whose timestamp is not above that of every write
/// acknowledged before they were sent (commit order as the clients could observe it).
fn check_timestamps(acks: &[Ack]) -> (usize, usize) {
    let stamped: Vec<&Ack> = acks.iter().filter(|a| a.ts.is_some()).collect();
    let unique: HashSet<u64> = stamped.iter().filter_map(|a| a.ts).collect();
    let duplicates = stamped.len() - unique.len();
    let mut by_ack: Vec<&Ack> = stamped.clone();
    by_ack.sort_by_key(|a| a.acked);
    let mut by_sent: Vec<&Ack> = stamped;
    by_sent.sort_by_key(|a| a.sent);
    let mut violations = 0;
    let mut j = 0;
    let mut highest_before: Option<u64> = None;
    for b in by_sent {
        while j < by_ack.len() && by_ack[j].acked < b.sent {
            highest_before = highest_before.max(by_ack[j].ts);
            j += 1;
        }
        if let (Some(h), Some(t)) = (highest_before, b.ts) {
            if t <= h {
                violations += 1;
            }
        }
    }
    (duplicates, violations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(ts: u64, sent: u128, acked: u128) -> Ack {
        Ack {
            tag: String::new(),
            ts: Some(ts),
            sent,
            acked,
        }
    }

    #[test]
    fn overlapping_writes_may_commit_in_any_order() {
        // b was sent before a was acknowledged: either order is fine.
        assert_eq!(check_timestamps(&[ack(5, 0, 10), ack(4, 5, 12)]), (0, 0));
    }

    #[test]
    fn a_later_write_with_a_smaller_timestamp_is_a_violation() {
        assert_eq!(check_timestamps(&[ack(5, 0, 10), ack(4, 11, 12)]), (0, 1));
        assert_eq!(check_timestamps(&[ack(5, 0, 10), ack(5, 11, 12)]), (1, 1));
        assert_eq!(check_timestamps(&[ack(5, 0, 10), ack(6, 11, 12)]), (0, 0));
    }
}
