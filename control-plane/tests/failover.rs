//! Failover with real servers killed (DESIGN.md section 7): each test starts its own sandbox.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use myquorum_control_plane::ControlPlaneConfig;
use myquorum_proxy::quorum::FailureThreshold;
use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use support::{root, Harness};

/// What the writers saw.
#[derive(Debug, Default)]
struct Log {
    /// (writer, n) of every STRONG write acknowledged with its quorum.
    strong_acked: Vec<(u32, u64)>,
    /// Successful writes: when each was sent and when it was answered.
    successes: Vec<(Instant, Instant)>,
    /// Client-visible errors.
    errors: Vec<String>,
}

fn config() -> ControlPlaneConfig {
    let mut cfg = ControlPlaneConfig {
        collector_interval_ms: 200,
        ..ControlPlaneConfig::default()
    };
    cfg.failover.cooldown_ms = 1_000;
    cfg
}

/// One writer through the MySQL port: inserts (writer, n) at `level` until `stop`.
async fn mysql_writer(
    opts: mysql_async::Opts,
    writer: u32,
    strong: bool,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) {
    let mut conn: Option<mysql_async::Conn> = None;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            match mysql_async::Conn::new(opts.clone()).await {
                Ok(mut c) => {
                    let level = if strong { "STRONG" } else { "EVENTUAL" };
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
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        n += 1;
        let sql = format!("INSERT INTO failover_rows (writer, n) VALUES ({writer}, {n})");
        let sent = Instant::now();
        match c.query_drop(&sql).await {
            Ok(()) => {
                let mut log = log.lock().expect("log");
                log.successes.push((sent, Instant::now()));
                if strong && c.get_warnings() == 0 {
                    log.strong_acked.push((writer, n));
                }
            }
            Err(e) => {
                log.lock()
                    .expect("log")
                    .errors
                    .push(format!("writer {writer}: {e}"));
                conn = None;
            }
        }
    }
}

/// One writer through `POST /query`.
async fn http_writer(
    url: String,
    writer: u32,
    strong: bool,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) {
    let http = reqwest::Client::new();
    let mut n = 0u64;
    let level = if strong { "STRONG" } else { "EVENTUAL" };
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = serde_json::json!({
            "query": format!("INSERT INTO app.failover_rows (writer, n) VALUES ({writer}, {n})"),
            "consistency": level,
        });
        let sent = Instant::now();
        let answer = http.post(&url).json(&body).send().await;
        let json: Option<serde_json::Value> = match answer {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
        let mut log = log.lock().expect("log");
        match json {
            Some(v) if v["success"] == true => {
                log.successes.push((sent, Instant::now()));
                if strong && v["quorum_achieved"] == true {
                    log.strong_acked.push((writer, n));
                }
            }
            other => log.errors.push(format!("http writer {writer}: {other:?}")),
        }
    }
}

fn pid_of(cluster: &Cluster, id: &str) -> String {
    let node = cluster.node(id).expect("node");
    std::fs::read_to_string(&node.pid_file)
        .expect("pid file")
        .trim()
        .to_owned()
}

async fn epoch(h: &Harness) -> u64 {
    h.get("/status").await.1["epoch"].as_u64().expect("epoch")
}

/// Concurrent EVENTUAL and STRONG writers (MySQL port and `/query`): a primary paused for
/// 1 s and a killed replica trigger nothing; SIGKILL of the primary fails over on its own,
/// every STRONG-acknowledged row is on the new primary, none twice, writers resume, `/status`
/// shows the new primary and epoch 2; the old primary rejoins; a second kill fails over to
/// a third node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_primary_loses_no_strong_write() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    root(&cluster, "instance-1",
        "CREATE TABLE app.failover_rows (id BIGINT AUTO_INCREMENT PRIMARY KEY, writer INT, n BIGINT)").await;
    cluster.wait_replicated().await.expect("replicated");
    let h = Harness::start(
        &cluster,
        FailureThreshold::Count(1),
        "127.0.0.1:0",
        config(),
    )
    .await;
    assert_eq!(epoch(&h).await, 1);

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let mut writers = Vec::new();
    for w in 0..4u32 {
        writers.push(tokio::spawn(mysql_writer(
            h.proxy.opts(),
            w,
            w % 2 == 0,
            Arc::clone(&stop),
            Arc::clone(&log),
        )));
    }
    for w in 4..6u32 {
        writers.push(tokio::spawn(http_writer(
            h.url("/query"),
            w,
            w % 2 == 0,
            Arc::clone(&stop),
            Arc::clone(&log),
        )));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A slow primary is not a dead one.
    let pid = pid_of(&cluster, "instance-1");
    std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .expect("SIGSTOP");
    tokio::time::sleep(Duration::from_secs(1)).await;
    std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .expect("SIGCONT");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(epoch(&h).await, 1, "SIGSTOP for 1 s triggered a failover");

    // A dying replica never causes a failover.
    cluster.kill_node("instance-4").await.expect("kill replica");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(epoch(&h).await, 1, "a killed replica triggered a failover");

    let before = log.lock().expect("log").successes.len();
    assert!(
        before > 0,
        "writers made progress: {:?}",
        log.lock().expect("log").errors
    );
    let killed = Instant::now();
    cluster.kill_node("instance-1").await.expect("kill primary");
    let status = h
        .until("/status", "a new primary", |s| s["epoch"] == 2)
        .await;
    let new_primary = status["current_master"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ne!(new_primary, "instance-1");
    assert!(status["fenced"]
        .as_array()
        .expect("fenced")
        .iter()
        .any(|f| f == "instance-1"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    let log = Arc::try_unwrap(log)
        .expect("writers done")
        .into_inner()
        .expect("log");
    // Kill -> answer of the first successful write sent after the kill (it may have waited
    // in the proxy for the new primary).
    let resumed = log
        .successes
        .iter()
        .filter(|(sent, _)| *sent > killed)
        .map(|(_, done)| done.duration_since(killed))
        .min()
        .expect("writes resumed after the kill");
    eprintln!(
        "FAILOVER kill -> first successful write sent after the kill: {} ms; client-visible errors: {}; STRONG acknowledged: {}; report: {}",
        resumed.as_millis(),
        log.errors.len(),
        log.strong_acked.len(),
        status["last_failover"]
    );
    for e in log.errors.iter().take(10) {
        eprintln!("  error: {e}");
    }

    // Every STRONG-acknowledged row is on the new primary, and no row is there twice.
    let node = cluster.node(&new_primary).expect("node");
    let opts = myquorum_sandbox::app_opts(node, cluster.config());
    let mut direct = mysql_async::Conn::new(opts)
        .await
        .expect("direct connection");
    let rows: Vec<(u32, u64)> = direct
        .query("SELECT writer, n FROM failover_rows")
        .await
        .expect("rows");
    let present: std::collections::HashSet<(u32, u64)> = rows.iter().copied().collect();
    assert_eq!(present.len(), rows.len(), "duplicate rows");
    let missing: Vec<_> = log
        .strong_acked
        .iter()
        .filter(|r| !present.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "STRONG-acknowledged rows lost: {missing:?}"
    );
    drop(direct);

    // The old primary rejoins as a replica of the new one, unless it holds a write the
    // cluster never received (an EVENTUAL write only it acknowledged, or one in flight at the
    // kill): then the rejoin is refused with a report naming re-provisioning, never applied.
    cluster
        .start_node("instance-1")
        .await
        .expect("restart old primary");
    match myquorum_control_plane::failover::rejoin(&h.state, "instance-1").await {
        Ok(_) => {
            let status = h.get("/status").await.1;
            assert!(status["current_replicas"]
                .as_array()
                .expect("replicas")
                .iter()
                .any(|r| r["id"] == "instance-1"));
        }
        Err(refused) => {
            let refusal = refused.to_string();
            assert!(
                refusal.contains("re-provision"),
                "only a diverged old primary is refused: {refusal}"
            );
            eprintln!("the old primary held writes the cluster never received: {refusal}");
        }
    }

    // A second failover, to a third node.
    tokio::time::sleep(Duration::from_millis(1_200)).await; // the cool-down
    let mut conn = h.proxy.conn().await;
    conn.query_drop("INSERT INTO failover_rows (writer, n) VALUES (99, 1)")
        .await
        .expect("write");
    cluster
        .kill_node(&new_primary)
        .await
        .expect("kill second primary");
    let status = h
        .until("/status", "a third primary", |s| s["epoch"] == 3)
        .await;
    let third = status["current_master"]["id"].as_str().expect("id");
    assert!(third != new_primary && third != "instance-4", "{status:#}");
    conn.query_drop("INSERT INTO failover_rows (writer, n) VALUES (99, 2)")
        .await
        .expect("write after the second failover");
    drop(conn);
    h.stop().await;
}

/// `/admin/stop-master` stops the primary and fails over exactly once: the detector, which
/// sees the primary die in the middle, does not run a failover of its own before or after
/// the request's (two in a row would move the role off the node just promoted).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_master_fails_over_once_despite_the_detector() {
    let cluster = Arc::new(Cluster::start_for_tests(4).await.expect("cluster starts"));
    let mut cfg = config();
    // The detector would declare the primary dead well before the request's failover ends.
    cfg.failover.check_interval_ms = 50;
    cfg.failover.failed_checks = 1;
    cfg.failover.cooldown_ms = 0;
    let h = Harness::start_with(
        support::proxy_config(&cluster, FailureThreshold::Count(1)),
        Some(Arc::new(support::SandboxNodes(Arc::clone(&cluster)))),
        "127.0.0.1:0",
        cfg,
    )
    .await;
    let (code, before) = h.get("/status").await;
    assert_eq!(code, 200);
    assert_eq!(before["epoch"], 1);
    let (code, answer) = h.post("/admin/stop-master", "{}").await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["old_master"], "instance-1");
    let promoted = answer["new_master"]
        .as_str()
        .expect("new_master")
        .to_owned();
    // Long enough for the detector to have run many checks against the stopped node.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, after) = h.get("/status").await;
    assert_eq!(after["epoch"], 2, "one failover, not two: {after}");
    assert_eq!(after["current_master"]["id"], promoted.as_str(), "{after}");
    let mut app = h.app_conn(true).await;
    app.query_drop("CREATE TABLE app.after_stop (id INT PRIMARY KEY)")
        .await
        .expect("the new primary takes writes");
    drop(app);
    h.stop().await;
}
