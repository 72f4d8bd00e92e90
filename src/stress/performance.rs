//! `stress performance`: throughput and latency percentiles per consistency level and target
//! under the old system's read/write mix (30% `INSERT INTO users`, 70% `SELECT * FROM users
//! ORDER BY id DESC LIMIT 10`), for `--count` operations or `--duration` seconds each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::session::{Level, Target};
use super::stats::{Errors, Latencies};
use super::{Ctx, ScenarioReport};
use crate::table::{num, Table};

/// The mix's read, as the old stress test ran it.
const READ: &str = "SELECT * FROM users ORDER BY id DESC LIMIT 10";

/// Runs the mix per target and level.
pub async fn run(ctx: &Ctx, targets: &[Target], levels: &[Level]) -> ScenarioReport {
    let mut report = ScenarioReport::new("performance");
    let mut table = Table::new([
        "TARGET",
        "LEVEL",
        "OPS",
        "FAILED",
        "OPS/S",
        "WRITE P50",
        "P95",
        "P99",
        "READ P50",
        "P95",
        "P99",
    ]);
    for &target in targets {
        for &level in levels {
            let prefix = format!(
                "stress-{}-p-{}-{}",
                ctx.run,
                target.as_str(),
                level.as_str().to_lowercase()
            );
            let label = format!("performance {} {}", target.as_str(), level.as_str());
            let (limit, deadline) = match ctx.duration {
                Some(d) => (u64::MAX, Some(Instant::now() + d)),
                None => (ctx.count, None),
            };
            let bar = match ctx.duration {
                Some(d) => ctx.bar(d.as_secs().max(1), &format!("{label} (seconds)")),
                None => ctx.bar(ctx.count, &label),
            };
            let next = Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            let mut workers = tokio::task::JoinSet::new();
            for _ in 0..ctx.concurrency {
                let (ep, next, bar, prefix) =
                    (ctx.ep.clone(), next.clone(), bar.clone(), prefix.clone());
                let timed = ctx.duration.is_some();
                workers.spawn(async move {
                    let (mut writes, mut reads) = (Latencies::default(), Latencies::default());
                    let mut errors = Errors::default();
                    let mut session = None;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= limit || deadline.is_some_and(|d| Instant::now() >= d) {
                            break;
                        }
                        let write = i % 10 < 3;
                        let sent = Instant::now();
                        let result = match super::ensure(&mut session, &ep, target, level).await {
                            Ok(s) if write => {
                                let tag = format!("{prefix}-{i}");
                                s.write(&format!(
                                    "INSERT INTO users (name, email) VALUES ('{tag}', '{tag}@example.com')"
                                ))
                                .await
                                .map(|_| ())
                            }
                            Ok(s) => s.read(READ).await.map(|_| ()),
                            Err(e) => Err(e),
                        };
                        match result {
                            Ok(()) if write => writes.push(sent.elapsed()),
                            Ok(()) => reads.push(sent.elapsed()),
                            Err(e) => {
                                errors.add(e.kind());
                                if super::broken(&e) {
                                    session = None;
                                }
                            }
                        }
                        if timed {
                            bar.set_position(started.elapsed().as_secs());
                        } else {
                            bar.inc(1);
                        }
                    }
                    if let Some(s) = session {
                        s.close().await;
                    }
                    (writes, reads, errors)
                });
            }
            let (mut writes, mut reads) = (Latencies::default(), Latencies::default());
            let mut errors = Errors::default();
            while let Some(done) = workers.join_next().await {
                match done {
                    Ok((w, r, e)) => {
                        writes.extend(w);
                        reads.extend(r);
                        errors.extend(e);
                    }
                    Err(e) => errors.add(format!("worker panicked: {e}")),
                }
            }
            let seconds = started.elapsed().as_secs_f64();
            bar.finish_and_clear();
            super::cleanup(ctx, &prefix).await;
            let (w, r) = (writes.summary(), reads.summary());
            let ok = (w.count + r.count) as u64;
            let throughput = ok as f64 / seconds.max(1e-9);
            table.row([
                target.as_str().to_owned(),
                level.as_str().to_owned(),
                ok.to_string(),
                errors.total().to_string(),
                num(Some(throughput), 1),
                num(Some(w.p50_ms), 2),
                num(Some(w.p95_ms), 2),
                num(Some(w.p99_ms), 2),
                num(Some(r.p50_ms), 2),
                num(Some(r.p95_ms), 2),
                num(Some(r.p99_ms), 2),
            ]);
            if ok == 0 {
                report.fail(format!(
                    "{} {}: no operation succeeded",
                    target.as_str(),
                    level.as_str()
                ));
            }
            report.push_result(json!({
                "target": target,
                "level": level,
                "successful": ok,
                "failed": errors.total(),
                "errors": errors,
                "duration_seconds": seconds,
                "throughput_ops_per_sec": throughput,
                "write": w,
                "read": r,
            }));
        }
    }
    report.text = format!("latencies in ms\n{}", table.render());
    report
}
