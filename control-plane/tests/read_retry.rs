//! `retry_failed_reads` with real servers killed (issue 16, item 5): a plain read whose
//! replica's mariadbd is SIGKILLed under it runs again on another node and the client gets
//! its answer; a write or a read inside a transaction keeps its error; a replica killed under
//! read load gives no client any error. Each test starts its own sandbox.

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

/// A 3-row table every node holds, and a harness on `cluster`.
async fn start(cluster: &Cluster) -> Harness {
    root(
        cluster,
        "instance-1",
        "CREATE TABLE app.retry_rows (n INT PRIMARY KEY)",
    )
    .await;
    root(
        cluster,
        "instance-1",
        "INSERT INTO app.retry_rows VALUES (1), (2), (3)",
    )
    .await;
    cluster.wait_replicated().await.expect("replicated");
    Harness::start(
        cluster,
        FailureThreshold::Count(1),
        "127.0.0.1:0",
        ControlPlaneConfig::default(),
    )
    .await
}

/// The node among `ids` whose server is running a statement containing `marker` (polled
/// through root connections, 20 s at most).
async fn running_on(cluster: &Cluster, ids: &[&str], marker: &str) -> String {
    let sql = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
         WHERE INFO LIKE '%{marker}%' AND INFO NOT LIKE '%PROCESSLIST%'"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for id in ids {
            let node = cluster.node(id).expect("node");
            let Ok(mut conn) = myquorum_sandbox::root_conn(node).await else {
                continue;
            };
            let running: Option<u64> = conn.query_first(&sql).await.ok().flatten();
            let _ = conn.disconnect().await;
            if running.unwrap_or(0) > 0 {
                return (*id).to_owned();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no node of {ids:?} ran the statement marked {marker}");
}

/// Waits (20 s at most) until node `id` holds `rows` rows in `app.retry_rows`.
async fn holds_rows(cluster: &Cluster, id: &str, rows: u64) {
    let node = cluster.node(id).expect("node");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut conn) = myquorum_sandbox::root_conn(node).await {
            let n: Option<u64> = conn
                .query_first("SELECT COUNT(*) FROM app.retry_rows")
                .await
                .ok()
                .flatten();
            let _ = conn.disconnect().await;
            if n == Some(rows) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} did not reach {rows} rows");
}

/// `myquorum_read_retries_total` from `/metrics/prometheus`.
async fn retries(h: &Harness) -> f64 {
    let text = h
        .http
        .get(h.url("/metrics/prometheus"))
        .send()
        .await
        .expect("GET /metrics/prometheus")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("myquorum_read_retries_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("myquorum_read_retries_total exported: {text}"))
}

/// An EVENTUAL read on a replica whose mariadbd is SIGKILLed mid-statement answers
/// correctly from another node, through the MySQL port (COM_QUERY at EVENTUAL, then
/// COM_STMT_EXECUTE at CAUSAL: another replica each time) and `/query` (the last replica
/// killed too: the primary).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_on_a_killed_replica_runs_again_elsewhere() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let h = start(&cluster).await;
    let mut replicas = vec!["instance-2", "instance-3", "instance-4"];

    let mut conn = h.proxy.conn().await;
    conn.query_drop("SET myquorum_consistency = 'EVENTUAL'")
        .await
        .expect("EVENTUAL");
    let read = tokio::spawn(async move {
        let answer: Result<Option<(i64, i64)>, _> = conn
            .query_first(
                "SELECT SLEEP(2) AS retry_mysql, (SELECT COUNT(*) FROM retry_rows) AS total",
            )
            .await;
        answer
    });
    let killed = running_on(&cluster, &replicas, "retry_mysql").await;
    cluster.kill_node(&killed).await.expect("kill the replica");
    replicas.retain(|r| *r != killed);
    let answer = read.await.expect("reader");
    assert_eq!(
        answer.expect("the read was retried, not failed"),
        Some((0, 3)),
        "the retried read's answer"
    );
    assert_eq!(retries(&h).await, 1.0, "one read retried");
    eprintln!("MySQL port: the read on {killed} was killed mid-statement and answered elsewhere");

    // The same for a prepared statement (binary protocol), prepared again where it reruns, at
    // CAUSAL after a write: the retry still runs where that write is (another replica that
    // applied it, or the primary), so the answer counts it.
    let mut conn = h.proxy.conn().await;
    conn.query_drop("SET myquorum_consistency = 'CAUSAL'")
        .await
        .expect("CAUSAL");
    conn.query_drop("INSERT INTO retry_rows VALUES (4)")
        .await
        .expect("write");
    for id in &replicas {
        holds_rows(&cluster, id, 4).await;
    }
    let read = tokio::spawn(async move {
        let answer: Result<Option<(i64, i64)>, _> = conn
            .exec_first(
                "SELECT SLEEP(?) AS retry_prepared, (SELECT COUNT(*) FROM retry_rows) AS total",
                (2,),
            )
            .await;
        answer
    });
    let killed = running_on(&cluster, &replicas, "retry_prepared").await;
    cluster.kill_node(&killed).await.expect("kill the replica");
    replicas.retain(|r| *r != killed);
    let answer = read.await.expect("prepared reader");
    assert_eq!(
        answer.expect("the prepared read was retried, not failed"),
        Some((0, 4)),
        "the retried CAUSAL read's answer counts the session's write"
    );
    assert_eq!(retries(&h).await, 2.0, "two reads retried");

    let survivor = replicas[0];
    let body = json!({
        "query": "SELECT SLEEP(2) AS retry_http, (SELECT COUNT(*) FROM app.retry_rows) AS total",
        "consistency": "EVENTUAL",
    })
    .to_string();
    let url = h.url("/query");
    let http = h.http.clone();
    let read = tokio::spawn(async move { support::post_to(&http, &url, &body).await });
    running_on(&cluster, &[survivor], "retry_http").await;
    cluster
        .kill_node(survivor)
        .await
        .expect("kill the last replica");
    let (code, answer) = read.await.expect("HTTP reader");
    assert_eq!(code, 200, "{answer:#}");
    assert_eq!(answer["data"], json!([{"retry_http": 0, "total": 4}]));
    assert_eq!(
        answer["executed_on"], "instance-1",
        "no replica left: the primary"
    );
    assert_eq!(retries(&h).await, 3.0, "three reads retried");
    h.stop().await;
}

/// The counter-cases: a read inside a transaction (on its replica) and a write (on the
/// primary) whose server is SIGKILLed under them get the error; nothing is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_and_transaction_reads_keep_their_error() {
    let cluster = Cluster::start_for_tests(3).await.expect("cluster starts");
    let h = start(&cluster).await;

    let mut conn = h.proxy.conn().await;
    conn.query_drop("SET myquorum_consistency = 'EVENTUAL'")
        .await
        .expect("EVENTUAL");
    conn.query_drop("START TRANSACTION READ ONLY")
        .await
        .expect("read-only transaction on a replica");
    let read = tokio::spawn(async move {
        let answer: Result<Option<i64>, _> =
            conn.query_first("SELECT SLEEP(3) AS retry_in_txn").await;
        answer
    });
    let replica = running_on(&cluster, &["instance-2", "instance-3"], "retry_in_txn").await;
    cluster.kill_node(&replica).await.expect("kill the replica");
    let answer = read.await.expect("reader");
    eprintln!("read in a transaction on killed {replica}: {answer:?}");
    assert!(
        answer.is_err(),
        "a read inside a transaction is never retried: {answer:?}"
    );

    let mut conn = h.proxy.conn().await;
    let write = tokio::spawn(async move {
        conn.query_drop("INSERT INTO retry_rows (n) SELECT 10 + SLEEP(3) AS retry_write")
            .await
    });
    running_on(&cluster, &["instance-1"], "retry_write").await;
    cluster
        .kill_node("instance-1")
        .await
        .expect("kill the primary");
    let answer = write.await.expect("writer");
    eprintln!("write on the killed primary: {answer:?}");
    assert!(answer.is_err(), "a write is never retried: {answer:?}");
    assert_eq!(retries(&h).await, 0.0, "nothing retried");
    h.stop().await;
}

/// Reads and what went wrong with them.
#[derive(Debug, Default)]
struct Tally {
    reads: u64,
    errors: Vec<String>,
}

/// Eight clients (six on the MySQL port, two over `/query`) reading at EVENTUAL while a
/// replica's mariadbd is SIGKILLed: every read answers, correctly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_under_read_load_gives_no_client_error() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let h = start(&cluster).await;
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut readers = Vec::new();
    for _ in 0..6 {
        let opts = h.proxy.opts();
        let (stop, tally) = (Arc::clone(&stop), Arc::clone(&tally));
        readers.push(tokio::spawn(async move {
            let mut conn = mysql_async::Conn::new(opts).await.expect("connect");
            conn.query_drop("SET myquorum_consistency = 'EVENTUAL'")
                .await
                .expect("EVENTUAL");
            while !stop.load(Ordering::Relaxed) {
                let answer: Result<Option<i64>, _> =
                    conn.query_first("SELECT COUNT(*) FROM retry_rows").await;
                let mut tally = tally.lock().expect("tally");
                tally.reads += 1;
                match answer {
                    Ok(Some(3)) => {}
                    other => tally.errors.push(format!("mysql: {other:?}")),
                }
            }
        }));
    }
    for _ in 0..2 {
        let (http, url) = (h.http.clone(), h.url("/query"));
        let (stop, tally) = (Arc::clone(&stop), Arc::clone(&tally));
        readers.push(tokio::spawn(async move {
            let body = json!({"query": "SELECT COUNT(*) AS total FROM app.retry_rows",
                              "consistency": "EVENTUAL"})
            .to_string();
            while !stop.load(Ordering::Relaxed) {
                let (code, answer) = support::post_to(&http, &url, &body).await;
                let mut tally = tally.lock().expect("tally");
                tally.reads += 1;
                if code != 200 || answer["data"] != json!([{"total": 3}]) {
                    tally.errors.push(format!("http {code}: {answer}"));
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = tally.lock().expect("tally").reads;
    cluster
        .kill_node("instance-2")
        .await
        .expect("kill a replica");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.expect("reader");
    }
    let tally = Arc::try_unwrap(tally)
        .expect("readers done")
        .into_inner()
        .expect("tally");
    let retried = retries(&h).await;
    eprintln!(
        "READ LOAD: {} reads ({} before the kill of instance-2), {} client-visible errors, {} reads retried on another node",
        tally.reads,
        before,
        tally.errors.len(),
        retried
    );
    assert!(before > 0, "readers made progress before the kill");
    assert!(
        tally.errors.is_empty(),
        "client-visible errors: {:?}",
        &tally.errors[..tally.errors.len().min(10)]
    );
    h.stop().await;
}
