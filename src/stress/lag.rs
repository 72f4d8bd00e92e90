//! `stress lag`: pauses the SQL thread of the replica the next STRONG write would wait for
//! (`STOP SLAVE SQL_THREAD`, logged in to that replica as the control user) while writes run
//! through the proxy, samples the replica's lag and the Cabinet quorum from the HTTP API every
//! half second, then resumes it and waits for it to catch up.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use serde_json::{json, Value};

use super::session::{Level, Target};
use super::stats::{Errors, Latencies};
use super::{Ctx, ScenarioReport};
use crate::table::{num, Table};

/// Longest wait for the replica to catch up after it is resumed.
const CATCH_UP: Duration = Duration::from_secs(60);

/// Runs the scenario with writes at `level`.
pub async fn run(ctx: &Ctx, level: Level) -> ScenarioReport {
    let mut report = ScenarioReport::new("lag");
    let pause = ctx.duration.unwrap_or(Duration::from_secs(5));
    let setup = async {
        let status = ctx.ep.api.get("/status").await.map_err(|e| e.to_string())?;
        let quorum = quorum(ctx).await;
        let replicas: Vec<(String, String)> = status["current_replicas"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["id"].as_str()?.to_owned(), r["host"].as_str()?.to_owned())))
            .collect();
        let chosen = replicas
            .iter()
            .find(|(id, _)| quorum.contains(id))
            .or_else(|| replicas.first())
            .cloned()
            .ok_or("the cluster has no replica")?;
        Ok::<_, String>((chosen, quorum))
    }
    .await;
    let ((replica, addr), quorum_before) = match setup {
        Ok(s) => s,
        Err(e) => {
            report.fail(format!("cannot read the topology: {e}"));
            return report;
        }
    };
    let mut direct = match connect(ctx, &addr).await {
        Ok(c) => c,
        Err(e) => {
            report.fail(format!(
                "cannot log in to {replica} ({addr}) as the control user: {e}"
            ));
            return report;
        }
    };
    if let Err(e) = direct.query_drop("STOP SLAVE SQL_THREAD").await {
        report.fail(format!("STOP SLAVE SQL_THREAD on {replica}: {e}"));
        return report;
    }
    let bar = ctx.bar(
        pause.as_secs().max(1),
        &format!("lag: {replica} paused (seconds)"),
    );
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    let prefix = format!("stress-{}-l", ctx.run);
    for w in 0..ctx.concurrency {
        let (ep, stop, prefix) = (ctx.ep.clone(), stop.clone(), prefix.clone());
        workers.spawn(async move {
            let mut latency = Latencies::default();
            let mut errors = Errors::default();
            let mut session = None;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let tag = format!("{prefix}-{w}-{i}");
                i += 1;
                let sent = Instant::now();
                let result = match super::ensure(&mut session, &ep, Target::Mysql, level).await {
                    Ok(s) => {
                        s.write(&format!(
                            "INSERT INTO users (name, email) VALUES ('{tag}', '{tag}@example.com')"
                        ))
                        .await
                    }
                    Err(e) => Err(e),
                };
                match result {
                    Ok(_) => latency.push(sent.elapsed()),
                    Err(e) => {
                        errors.add(e.kind());
                        if super::broken(&e) {
                            session = None;
                        }
                    }
                }
            }
            if let Some(s) = session {
                s.close().await;
            }
            (latency, errors)
        });
    }
    let mut samples = Vec::new();
    while started.elapsed() < pause {
        samples.push(sample(ctx, &replica, started, "paused").await);
        bar.set_position(started.elapsed().as_secs());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut latency = Latencies::default();
    let mut errors = Errors::default();
    while let Some(done) = workers.join_next().await {
        match done {
            Ok((l, e)) => {
                latency.extend(l);
                errors.extend(e);
            }
            Err(e) => errors.add(format!("worker panicked: {e}")),
        }
    }
    bar.finish_and_clear();
    let resumed = Instant::now();
    if let Err(e) = direct.query_drop("START SLAVE SQL_THREAD").await {
        report.fail(format!(
            "START SLAVE SQL_THREAD on {replica}: {e} (start it by hand)"
        ));
    }
    let _ = direct.disconnect().await;
    let mut caught_up = None;
    while resumed.elapsed() < CATCH_UP {
        let s = sample(ctx, &replica, started, "resumed").await;
        let lag = s["lag_writes"].as_u64();
        samples.push(s);
        if lag == Some(0) {
            caught_up = Some(resumed.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let quorum_after = quorum(ctx).await;
    super::cleanup(ctx, &prefix).await;

    let paused: Vec<&Value> = samples.iter().filter(|s| s["phase"] == "paused").collect();
    let max_lag = paused
        .iter()
        .filter_map(|s| s["lag_writes"].as_u64())
        .max()
        .unwrap_or(0);
    let max_lag_s = paused
        .iter()
        .filter_map(|s| s["lag_seconds"].as_f64())
        .fold(0.0, f64::max);
    let quorum_paused: BTreeSet<String> = paused
        .iter()
        .flat_map(|s| s["quorum"].as_array().cloned().unwrap_or_default())
        .filter_map(|q| q.as_str().map(str::to_owned))
        .collect();
    let w = latency.summary();
    if w.count == 0 {
        report.fail(format!("no write succeeded while {replica} was paused"));
    } else if max_lag == 0 {
        report.fail(format!(
            "{replica} showed no lag while its SQL thread was stopped"
        ));
    }
    if caught_up.is_none() {
        report.fail(format!(
            "{replica} did not catch up within {CATCH_UP:?} of being resumed"
        ));
    }
    let mut table = Table::new(["T(s)", "PHASE", "LAG(writes)", "LAG(s)", "QUORUM"]);
    for s in &samples {
        table.row([
            num(s["t"].as_f64(), 1),
            s["phase"].as_str().unwrap_or("-").to_owned(),
            s["lag_writes"]
                .as_u64()
                .map_or("-".to_owned(), |l| l.to_string()),
            num(s["lag_seconds"].as_f64(), 1),
            s["quorum"]
                .as_array()
                .map(|q| {
                    q.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    report.text = format!(
        "{replica} paused {:.0} s under {} writes: {} ok ({} failed), p50 {:.2} ms, p99 {:.2} ms\n\
         max lag {max_lag} writes / {max_lag_s:.1} s; quorum before {:?}, while paused {:?}, after {:?}; \
         caught up {}\n{}",
        pause.as_secs_f64(),
        level.as_str(),
        w.count,
        errors.total(),
        w.p50_ms,
        w.p99_ms,
        quorum_before,
        quorum_paused,
        quorum_after,
        caught_up.map_or("never".to_owned(), |s| format!("{s:.1} s after resuming")),
        table.render()
    );
    report.extra = json!({
        "replica": replica,
        "level": level,
        "paused_seconds": pause.as_secs_f64(),
        "writes": {"successful": w.count, "failed": errors.total(), "errors": errors, "latency": w},
        "max_lag_writes": max_lag,
        "max_lag_seconds": max_lag_s,
        "quorum_before": quorum_before,
        "quorum_while_paused": quorum_paused,
        "quorum_after": quorum_after,
        "catch_up_seconds": caught_up,
        "samples": samples,
    });
    report
}

async fn connect(ctx: &Ctx, addr: &str) -> Result<Conn, String> {
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("{addr:?} is not host:port"))?;
    let opts = OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(ctx.control.0.clone()))
        .pass(Some(ctx.control.1.clone()))
        .prefer_socket(false);
    tokio::time::timeout(ctx.ep.op_timeout, Conn::new(opts))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())
}

/// The replicas of the next STRONG write's quorum (empty when none can form).
async fn quorum(ctx: &Ctx) -> Vec<String> {
    ctx.ep
        .api
        .post("/select-quorum", json!({"operation": "write"}))
        .await
        .ok()
        .and_then(|q| q["quorum"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|q| q.as_str().map(str::to_owned))
        .collect()
}

async fn sample(ctx: &Ctx, replica: &str, started: Instant, phase: &str) -> Value {
    let metrics = ctx
        .ep
        .api
        .get(&format!("/metrics/{replica}"))
        .await
        .unwrap_or(Value::Null);
    json!({
        "t": started.elapsed().as_secs_f64(),
        "phase": phase,
        "lag_writes": metrics["replication_lag"],
        "lag_seconds": metrics["replication_lag_seconds"],
        "quorum": quorum(ctx).await,
    })
}
