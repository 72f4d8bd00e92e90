//! `stress read-after-write`: each trial writes a unique row and reads it back at once in the
//! same session, at each level; a read that does not find the row is stale. STRONG and CAUSAL
//! promise no stale read (a failure of the run); EVENTUAL's stale reads are what it costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::session::{Level, Target};
use super::stats::{Errors, Latencies};
use super::{Ctx, ScenarioReport};
use crate::table::{num, Table};

/// Runs `ctx.count` trials per target and level.
pub async fn run(ctx: &Ctx, targets: &[Target], levels: &[Level]) -> ScenarioReport {
    let mut report = ScenarioReport::new("read-after-write");
    let mut table = Table::new([
        "TARGET",
        "LEVEL",
        "TRIALS",
        "STALE",
        "STALE %",
        "FAILED",
        "WRITE P50(ms)",
        "READ P50(ms)",
    ]);
    for &target in targets {
        for &level in levels {
            let prefix = format!(
                "stress-{}-r-{}-{}",
                ctx.run,
                target.as_str(),
                level.as_str().to_lowercase()
            );
            let bar = ctx.bar(
                ctx.count,
                &format!("read-after-write {} {}", target.as_str(), level.as_str()),
            );
            let next = Arc::new(AtomicU64::new(0));
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
                    let mut t = Tally::default();
                    let mut session = None;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        let tag = format!("{prefix}-{i}");
                        let outcome = async {
                            let s = super::ensure(&mut session, &ep, target, level).await?;
                            let sent = Instant::now();
                            s.write(&format!(
                                "INSERT INTO users (name, email) VALUES ('{tag}', '{tag}@example.com')"
                            ))
                            .await?;
                            let wrote = sent.elapsed();
                            let read = Instant::now();
                            let n = s
                                .count(&format!(
                                    "SELECT COUNT(*) AS n FROM users WHERE email = '{tag}@example.com'"
                                ))
                                .await?;
                            Ok::<_, super::session::OpError>((wrote, read.elapsed(), n))
                        }
                        .await;
                        match outcome {
                            Ok((wrote, read, n)) => {
                                t.trials += 1;
                                t.write.push(wrote);
                                t.read.push(read);
                                if n == 0 {
                                    t.stale += 1;
                                }
                            }
                            Err(e) => {
                                t.errors.add(e.kind());
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
                    t
                });
            }
            let mut all = Tally::default();
            while let Some(done) = workers.join_next().await {
                match done {
                    Ok(t) => all.merge(t),
                    Err(e) => all.errors.add(format!("worker panicked: {e}")),
                }
            }
            bar.finish_and_clear();
            super::cleanup(ctx, &prefix).await;
            let stale_pct = 100.0 * all.stale as f64 / (all.trials.max(1)) as f64;
            let (write, read) = (all.write.summary(), all.read.summary());
            table.row([
                target.as_str().to_owned(),
                level.as_str().to_owned(),
                all.trials.to_string(),
                all.stale.to_string(),
                num(Some(stale_pct), 1),
                all.errors.total().to_string(),
                num(Some(write.p50_ms), 2),
                num(Some(read.p50_ms), 2),
            ]);
            let at = format!("{} {}", target.as_str(), level.as_str());
            if all.trials == 0 {
                report.fail(format!("{at}: no trial completed"));
            }
            if level != Level::Eventual && all.stale > 0 {
                report.fail(format!(
                    "{at}: {} stale reads (this level promises none)",
                    all.stale
                ));
            }
            report.push_result(json!({
                "target": target,
                "level": level,
                "trials": all.trials,
                "stale_reads": all.stale,
                "stale_percent": stale_pct,
                "failed": all.errors.total(),
                "errors": all.errors,
                "write_latency": write,
                "read_latency": read,
            }));
        }
    }
    report.text = table.render();
    report
}

#[derive(Default)]
struct Tally {
    trials: u64,
    stale: u64,
    errors: Errors,
    write: Latencies,
    read: Latencies,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.trials += other.trials;
        self.stale += other.stale;
        self.errors.extend(other.errors);
        self.write.extend(other.write);
        self.read.extend(other.read);
    }
}
