//! `stress failover`: writes through the MySQL port while the primary is stopped through the
//! admin API (`POST /admin/stop-master`, sandbox only), then measures the time from the stop
//! request to the first successful write sent after it, the errors the writers saw, and the
//! acknowledged rows the new primary does not have. The old primary is brought back as a
//! replica at the end (`POST /admin/restart-old-master`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::session::{Level, Session, Target};
use super::stats::{Errors, Latencies};
use super::{Ctx, ScenarioReport};
use crate::table::num;

/// Runs the scenario with writes at `level`.
pub async fn run(ctx: &Ctx, level: Level) -> ScenarioReport {
    let mut report = ScenarioReport::new("failover");
    let total = ctx.duration.unwrap_or(Duration::from_secs(10));
    let (old, epoch_before) = match ctx.ep.api.get("/status").await {
        Ok(s) => (
            s["current_master"]["id"].as_str().unwrap_or("-").to_owned(),
            s["epoch"].as_u64(),
        ),
        Err(e) => {
            report.fail(format!("cannot read the topology: {e}"));
            return report;
        }
    };
    let bar = ctx.bar(total.as_secs().max(1), "failover: writing (seconds)");
    let prefix = format!("stress-{}-f", ctx.run);
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..ctx.concurrency {
        let (ep, stop, prefix) = (ctx.ep.clone(), stop.clone(), prefix.clone());
        workers.spawn(async move {
            // (tag, sent, acked) in seconds since the start; errors with when they happened.
            let mut acks: Vec<(String, f64, f64)> = Vec::new();
            let mut errors = Errors::default();
            let mut error_times = Vec::new();
            let mut latency = Latencies::default();
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
                let at = |t: Instant| t.duration_since(started).as_secs_f64();
                match result {
                    Ok(_) => {
                        latency.push(sent.elapsed());
                        acks.push((tag, at(sent), at(Instant::now())));
                    }
                    Err(e) => {
                        errors.add(e.kind());
                        error_times.push(at(Instant::now()));
                        if super::broken(&e) {
                            session = None;
                        }
                        // A refused connection while the primary is down: do not spin.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            if let Some(s) = session {
                s.close().await;
            }
            (acks, errors, error_times, latency)
        });
    }
    // Let the load settle, then stop the primary through the API.
    tokio::time::sleep(total / 3).await;
    bar.set_position(started.elapsed().as_secs());
    let kill_at = started.elapsed().as_secs_f64();
    let call = Instant::now();
    let answer = ctx.ep.api.post("/admin/stop-master", json!({})).await;
    let call_ms = call.elapsed().as_secs_f64() * 1000.0;
    while started.elapsed() < total {
        bar.set_position(started.elapsed().as_secs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut acks = Vec::new();
    let mut errors = Errors::default();
    let mut error_times = Vec::new();
    let mut latency = Latencies::default();
    while let Some(done) = workers.join_next().await {
        match done {
            Ok((a, e, t, l)) => {
                acks.extend(a);
                errors.extend(e);
                error_times.extend(t);
                latency.extend(l);
            }
            Err(e) => errors.add(format!("worker panicked: {e}")),
        }
    }
    bar.finish_and_clear();
    // A refusal still leaves something to measure when the primary was stopped and another
    // failover (the automatic detector's) took over: the checks below say what happened.
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            report.fail(format!("{e}"));
            e.body().cloned().unwrap_or(Value::Null)
        }
    };
    let status_now = ctx.ep.api.get("/status").await.unwrap_or(Value::Null);
    let first_write_ms = acks
        .iter()
        .filter(|(_, sent, _)| *sent >= kill_at)
        .map(|(_, _, acked)| (acked - kill_at) * 1000.0)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))));
    // The longest stretch without an acknowledgement from the stop request on: the outage as
    // the clients saw it (a graceful stop lets writes finish on the old primary first).
    let mut acked_after: Vec<f64> = acks
        .iter()
        .map(|(_, _, acked)| *acked)
        .filter(|a| *a >= kill_at)
        .collect();
    acked_after.sort_by(f64::total_cmp);
    let outage_ms = std::iter::once(kill_at)
        .chain(acked_after.iter().copied())
        .zip(acked_after.iter().copied())
        .map(|(a, b)| (b - a) * 1000.0)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let last_error_s = error_times
        .iter()
        .copied()
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    // Rows lost: acknowledged, absent from the new primary.
    let lost = match read_back(ctx, &prefix).await {
        Ok(found) => Some(acks.iter().filter(|(t, _, _)| !found.contains(t)).count()),
        Err(e) => {
            report.fail(format!("could not read the rows back: {e}"));
            None
        }
    };
    let restored = restore(ctx, &old).await;
    super::cleanup(ctx, &prefix).await;
    let new = answer["new_master"]
        .as_str()
        .or(status_now["current_master"]["id"].as_str())
        .unwrap_or("-")
        .to_owned();
    let replaced = answer["old_master"].as_str().unwrap_or(old.as_str());
    let epoch_after = answer["report"]["epoch"]
        .as_u64()
        .or(status_now["epoch"].as_u64());
    if new == old {
        report.fail(format!("{old} is still the primary after the stop"));
    }
    if replaced != old {
        report.fail(format!(
            "/admin/stop-master stopped {old} but its failover replaced {replaced} (epoch {} -> {}): \
             another failover (the automatic detector's) had already run",
            epoch_before.map_or("?".to_owned(), |e| e.to_string()),
            epoch_after.map_or("?".to_owned(), |e| e.to_string()),
        ));
    }
    if first_write_ms.is_none() {
        report.fail("no write sent after the stop succeeded".to_owned());
    }
    if level == Level::Strong && lost.is_some_and(|l| l > 0) {
        report.fail(format!(
            "{} acknowledged STRONG writes were lost",
            lost.unwrap_or(0)
        ));
    }
    if let Err(e) = &restored {
        report.fail(format!("the old primary did not come back: {e}"));
    }
    let w = latency.summary();
    report.text = format!(
        "stopped {old} after {kill_at:.1} s of {} writes; new primary {new} \
         (stop-master answered in {call_ms:.0} ms, failover {} ms)\n\
         first successful write sent after the stop: {} ms after it; longest stretch without an \
         acknowledged write: {} ms\n\
         writes: {} acknowledged, {} failed{}; last error at {} s\n\
         acknowledged rows lost: {}\nold primary back as a replica: {}\n",
        level.as_str(),
        answer["report"]["duration_ms"].as_u64().unwrap_or(0),
        num(first_write_ms, 0),
        num(outage_ms, 0),
        acks.len(),
        errors.total(),
        errors
            .top()
            .map_or(String::new(), |(k, n)| format!(" (most: {n} x {k})")),
        num(last_error_s, 2),
        lost.map_or("unknown".to_owned(), |l| l.to_string()),
        if restored.is_ok() { "yes" } else { "no" },
    );
    report.extra = json!({
        "level": level,
        "old_primary": old,
        "epoch_before": epoch_before,
        "epoch_after": epoch_after,
        "failover_replaced": replaced,
        "new_primary": new,
        "stop_requested_at_seconds": kill_at,
        "stop_master_call_ms": call_ms,
        "failover_ms": answer["report"]["duration_ms"],
        "time_to_first_write_ms": first_write_ms,
        "write_outage_ms": outage_ms,
        "acknowledged": acks.len(),
        "failed": errors.total(),
        "errors": errors,
        "last_error_at_seconds": last_error_s,
        "rows_lost": lost,
        "write_latency": w,
        "old_primary_restored": restored.is_ok(),
        "stop_master_answer": answer,
        "status_after": restored.unwrap_or(Value::Null),
    });
    report
}

/// Brings `old` back as a replica: `/admin/restart-old-master`, then, if the topology still
/// does not list it as a replica, `/admin/start-instance` for it by name. The final topology.
async fn restore(ctx: &Ctx, old: &str) -> Result<Value, String> {
    let is_replica = |status: &Value| {
        status["current_replicas"]
            .as_array()
            .is_some_and(|r| r.iter().any(|n| n["id"] == old))
    };
    let restart = ctx
        .ep
        .api
        .post("/admin/restart-old-master", json!({}))
        .await;
    let status = ctx.ep.api.get("/status").await.map_err(|e| e.to_string())?;
    if is_replica(&status) {
        return Ok(status);
    }
    ctx.ep
        .api
        .post("/admin/start-instance", json!({ "instance_id": old }))
        .await
        .map_err(|e| {
            format!(
                "restart-old-master: {}; start-instance {old}: {e}",
                restart
                    .err()
                    .map_or("answered".to_owned(), |e| e.to_string())
            )
        })?;
    let status = ctx.ep.api.get("/status").await.map_err(|e| e.to_string())?;
    if is_replica(&status) {
        Ok(status)
    } else {
        Err(format!("{old} is still not a replica after start-instance"))
    }
}

async fn read_back(ctx: &Ctx, prefix: &str) -> Result<HashSet<String>, String> {
    let mut session = Session::open(&ctx.ep, Target::Mysql, Level::Strong)
        .await
        .map_err(|e| e.to_string())?;
    let rows = session
        .read(&format!(
            "SELECT name FROM users WHERE name LIKE '{prefix}-%'"
        ))
        .await
        .map_err(|e| e.to_string());
    session.close().await;
    Ok(rows?
        .iter()
        .filter_map(|r| r.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect())
}
