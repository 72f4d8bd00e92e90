//! `POST /admin/switchover` under write load (issue 16, item 8): EVENTUAL and STRONG writers
//! on the MySQL port keep writing while the primary role moves; every acknowledged row is on
//! the new primary, none twice. The pause (how long writes were held) is printed, not
//! asserted. Own sandbox.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use myquorum_control_plane::ControlPlaneConfig;
use myquorum_proxy::quorum::FailureThreshold;
use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use serde_json::json;
use support::{root, Harness};

/// What the writers saw.
#[derive(Debug, Default)]
struct Log {
    /// (writer, n) of every write answered OK.
    acked: Vec<(u32, u64)>,
    /// Each OK write: when it was sent and when its answer came.
    answered: Vec<(Instant, Instant)>,
    /// Client-visible errors.
    errors: Vec<String>,
}

/// One writer on the MySQL port: inserts (writer, n) at `level` until `stop`, reconnecting
/// after an error.
async fn writer(
    opts: mysql_async::Opts,
    writer: u32,
    level: &'static str,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) {
    let mut conn: Option<mysql_async::Conn> = None;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            match mysql_async::Conn::new(opts.clone()).await {
                Ok(mut c) => {
                    if c.query_drop(format!("SET myquorum_consistency = '{level}'"))
                        .await
                        .is_ok()
                    {
                        conn = Some(c);
                    }
                }
                Err(e) => {
                    log.lock()
                        .expect("log")
                        .errors
                        .push(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            continue;
        }
        let Some(c) = conn.as_mut() else { continue };
        n += 1;
        let sent = Instant::now();
        match c
            .query_drop(format!(
                "INSERT INTO switch_rows (writer, n) VALUES ({writer}, {n})"
            ))
            .await
        {
            Ok(()) => {
                let mut log = log.lock().expect("log");
                log.acked.push((writer, n));
                log.answered.push((sent, Instant::now()));
            }
            Err(e) => {
                log.lock()
                    .expect("log")
                    .errors
                    .push(format!("writer {writer} ({level}): {e}"));
                conn = None;
            }
        }
    }
}

/// Four writers (two EVENTUAL, two STRONG) during a switchover to instance-2: every row
/// answered OK is on instance-2, none twice; instance-2 is the primary of epoch 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn switchover_under_write_load_loses_nothing() {
    let cluster = Cluster::start_for_tests(3).await.expect("cluster starts");
    root(
        &cluster,
        "instance-1",
        "CREATE TABLE app.switch_rows (id BIGINT AUTO_INCREMENT PRIMARY KEY, writer INT, n BIGINT)",
    )
    .await;
    cluster.wait_replicated().await.expect("replicated");
    let h = Harness::start(
        &cluster,
        FailureThreshold::Count(1),
        "127.0.0.1:0",
        ControlPlaneConfig::default(),
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let mut writers = Vec::new();
    for (w, level) in [
        (0, "EVENTUAL"),
        (1, "STRONG"),
        (2, "EVENTUAL"),
        (3, "STRONG"),
    ] {
        writers.push(tokio::spawn(writer(
            h.proxy.opts(),
            w,
            level,
            Arc::clone(&stop),
            Arc::clone(&log),
        )));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = Instant::now();
    let (code, answer) = h
        .post(
            "/admin/switchover",
            &json!({"to": "instance-2"}).to_string(),
        )
        .await;
    let switched = Instant::now();
    assert_eq!(code, 200, "{answer:#}");
    assert_eq!(answer["new_master"], "instance-2");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    let log = Arc::try_unwrap(log)
        .expect("writers done")
        .into_inner()
        .expect("log");

    // The pause: the longest a write sent around the switchover waited for its answer.
    let pause = log
        .answered
        .iter()
        .filter(|(sent, done)| *done >= asked && *sent <= switched)
        .map(|(sent, done)| done.duration_since(*sent))
        .max()
        .unwrap_or_default();
    eprintln!(
        "SWITCHOVER: request took {} ms (failover {} ms); longest write held across it: {} ms; {} writes acknowledged, {} client-visible errors",
        switched.duration_since(asked).as_millis(),
        answer["report"]["duration_ms"],
        pause.as_millis(),
        log.acked.len(),
        log.errors.len()
    );
    for e in log.errors.iter().take(10) {
        eprintln!("  error: {e}");
    }
    let status = h.get("/status").await.1;
    assert_eq!(status["current_master"]["id"], "instance-2", "{status:#}");
    assert_eq!(status["epoch"], 2, "{status:#}");

    let node = cluster.node("instance-2").expect("node");
    let mut direct = mysql_async::Conn::new(myquorum_sandbox::app_opts(node, cluster.config()))
        .await
        .expect("direct connection to the new primary");
    let rows: Vec<(u32, u64)> = direct
        .query("SELECT writer, n FROM switch_rows")
        .await
        .expect("rows");
    let present: std::collections::HashSet<(u32, u64)> = rows.iter().copied().collect();
    assert_eq!(present.len(), rows.len(), "duplicate rows");
    let missing: Vec<_> = log.acked.iter().filter(|r| !present.contains(r)).collect();
    assert!(missing.is_empty(), "acknowledged rows lost: {missing:?}");
    assert!(!log.acked.is_empty(), "writers made progress");
    drop(direct);
    h.stop().await;
}
