//! Cluster tests of the STRONG wait ([`QuorumTracker`]) against a real 4-node sandbox: one
//! primary, three replicas, writes by the application user over TCP, each write's GTID read
//! back with `SELECT @@last_gtid` and waited on by two trackers at once, t = 1 and t = majority.
//! What they prove: one stopped replica is harmless to both; two stopped still answer t = 1 and
//! time out majority; three stopped time out both; restarting the SQL threads releases later
//! writes; and a write acknowledged under t = 1 is really applied on the replicas named in the
//! answer at that instant (checked on the replicas themselves, 200 writes). Through the proxy:
//! after a STRONG write whose wait timed out, the warning counts include the proxy's warning.

mod support;

use std::time::Duration;

use myquorum_proxy::gtid::Gtid;
use myquorum_proxy::quorum::{FailureThreshold, QuorumOutcome, QuorumTracker, TrackerConfig};
use myquorum_proxy::{BackendNode, ProxyConfig, QuorumConfig};
use myquorum_sandbox::{app_opts, root_conn, Cluster};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use support::root;

/// Per-write timeout in these tests: short, so the timeout scenarios stay quick.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A tracker over the cluster's replicas with failure threshold `t`.
fn tracker(cluster: &Cluster, t: FailureThreshold) -> QuorumTracker {
    let cfg = cluster.config();
    let replicas = cluster
        .replicas()
        .into_iter()
        .map(|n| BackendNode {
            id: n.id.as_str().into(),
            addr: n.addr(),
        })
        .collect();
    let mut config = TrackerConfig::new(replicas, &cfg.control_user, &cfg.control_password);
    config.failure_threshold = t;
    config.timeout = TIMEOUT;
    QuorumTracker::start(config).expect("tracker starts")
}

/// The application user's connection to the primary, with the table [`write`] inserts into.
async fn probe_table(cluster: &Cluster) -> Conn {
    let mut primary = Conn::new(app_opts(cluster.primary(), cluster.config()))
        .await
        .expect("app connects to the primary");
    primary
        .query_drop(
            "CREATE TABLE IF NOT EXISTS quorum_probe (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
        )
        .await
        .expect("create table");
    primary
}

/// One INSERT on the primary; returns the GTID it produced.
async fn write(conn: &mut Conn) -> Gtid {
    conn.query_drop("INSERT INTO quorum_probe (v) VALUES (1)")
        .await
        .expect("insert");
    let gtid: Option<String> = conn
        .query_first("SELECT @@last_gtid")
        .await
        .expect("last_gtid");
    gtid.expect("a row").parse().expect("a GTID")
}

/// A replica's applied sequence number in domain 0.
async fn applied(conn: &mut Conn) -> u64 {
    let pos: Option<String> = conn
        .query_first("SELECT @@gtid_slave_pos")
        .await
        .expect("gtid_slave_pos");
    pos.unwrap_or_default()
        .split(',')
        .filter_map(|p| p.trim().parse::<Gtid>().ok())
        .find(|g| g.domain == 0)
        .map_or(0, |g| g.seq)
}

/// Writes once and waits on both trackers at once.
async fn strong_write(
    conn: &mut Conn,
    t1: &QuorumTracker,
    majority: &QuorumTracker,
) -> (QuorumOutcome, QuorumOutcome) {
    let gtid = write(conn).await;
    tokio::join!(t1.wait_for(gtid), majority.wait_for(gtid))
}

/// Walks the scenarios on one cluster (starting one costs seconds): stopped replicas under
/// t = 1 and t = majority, recovery, then 200 writes checked on the replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strong_waits_follow_the_cabinet_quorum() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let mut primary = probe_table(&cluster).await;
    let t1 = tracker(&cluster, FailureThreshold::Count(1));
    let majority = tracker(&cluster, FailureThreshold::Majority);
    let replicas = cluster.replicas();

    let (a, b) = strong_write(&mut primary, &t1, &majority).await;
    assert!(
        a.achieved && b.achieved,
        "all replicas running: {a:?} {b:?}"
    );

    root(replicas[0], "STOP SLAVE SQL_THREAD").await;
    let (a, b) = strong_write(&mut primary, &t1, &majority).await;
    assert!(a.achieved, "t=1, one stopped: {a:?}");
    assert!(b.achieved, "majority, one stopped: {b:?}");
    assert!(!b.replicas.contains(&replicas[0].id), "{b:?}");

    root(replicas[1], "STOP SLAVE SQL_THREAD").await;
    let (a, b) = strong_write(&mut primary, &t1, &majority).await;
    assert!(a.achieved, "t=1, two stopped: {a:?}");
    assert_eq!(a.replicas, vec![replicas[2].id.clone()], "{a:?}");
    assert!(!b.achieved && b.timed_out, "majority, two stopped: {b:?}");
    assert_eq!(b.replicas, vec![replicas[2].id.clone()], "{b:?}");

    root(replicas[2], "STOP SLAVE SQL_THREAD").await;
    let (a, b) = strong_write(&mut primary, &t1, &majority).await;
    assert!(!a.achieved && a.timed_out && a.replicas.is_empty(), "{a:?}");
    assert!(!b.achieved && b.timed_out && b.replicas.is_empty(), "{b:?}");

    for replica in &replicas {
        root(replica, "START SLAVE SQL_THREAD").await;
    }
    let (a, b) = strong_write(&mut primary, &t1, &majority).await;
    assert!(a.achieved && b.achieved, "restarted: {a:?} {b:?}");

    // 200 writes under t = 1: when the wait answers, the named replicas really have the write.
    let mut checkers = Vec::new();
    for replica in &replicas {
        let conn = root_conn(replica).await.expect("root connection");
        checkers.push((replica.id.clone(), conn));
    }
    let mut waits = Vec::with_capacity(200);
    for _ in 0..200 {
        let gtid = write(&mut primary).await;
        let outcome = t1.wait_for(gtid).await;
        assert!(outcome.achieved, "{gtid}: {outcome:?}");
        assert!(!outcome.replicas.is_empty(), "at least t = 1 replica");
        for (id, conn) in checkers.iter_mut() {
            if outcome.replicas.contains(id) {
                let seq = applied(conn).await;
                assert!(seq >= gtid.seq, "{id} named for {gtid} but at {seq}");
            }
        }
        waits.push(outcome.waited);
    }
    waits.sort();
    println!(
        "t=1 STRONG wait over 200 sequential writes: median {:?}, p95 {:?}, max {:?}",
        waits[waits.len() / 2],
        waits[waits.len() * 95 / 100],
        waits[waits.len() - 1]
    );

    let status = t1.snapshot();
    println!("t=1 status: {status:#?}");
    assert_eq!((status.nodes, status.failure_threshold), (4, 1));
    assert_eq!(status.timed_out, 1);
    assert_eq!(status.achieved, 204);
    assert_eq!(status.predicted_quorum.len(), 1);
    assert!(status.replicas.iter().all(|r| r.healthy));
    assert!(status
        .replicas
        .iter()
        .all(|r| r.applied_seq.is_some_and(|s| s > 0)));
    let status = majority.snapshot();
    assert_eq!((status.failure_threshold, status.timed_out), (2, 2));
    assert_eq!(status.predicted_quorum.len(), 2);

    t1.shutdown().await;
    majority.shutdown().await;
    for (_, conn) in checkers {
        conn.disconnect().await.expect("disconnect");
    }
    primary.disconnect().await.expect("disconnect");
    let later = "0-1-999999".parse().expect("a GTID");
    assert!(
        !t1.wait_for(later).await.achieved,
        "a stopped tracker answers at once"
    );
    cluster.stop().await.expect("cluster stops");
}

/// The column name and value of a one-row, one-column answer to `sql`.
async fn named_count(conn: &mut Conn, sql: &str) -> (String, u64) {
    let mut result = conn.query_iter(sql).await.expect(sql);
    let name = result.columns().expect("a result set")[0]
        .name_str()
        .into_owned();
    let rows: Vec<u64> = result.collect().await.expect(sql);
    assert_eq!(rows.len(), 1, "{sql}: one row");
    (name, rows[0])
}

/// Through the proxy, after a STRONG write whose quorum wait timed out (every replica's SQL
/// thread stopped): `SELECT @@warning_count` (any case, also the `@@session.` form) and
/// `SHOW COUNT(*) WARNINGS` answer the server's count plus the proxy's warning, as the OK packet
/// did, under the column names the server itself uses; SHOW WARNINGS still lists both; after
/// the next statement the counts are the server's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warning_counts_include_the_proxy_warning() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let config = ProxyConfig {
        quorum: QuorumConfig {
            failure_threshold: FailureThreshold::Count(1),
            timeout_ms: 500,
            ..QuorumConfig::default()
        },
        ..support::proxy_config(&cluster)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let proxy = tokio::spawn(myquorum_proxy::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("app"))
        .pass(Some("app"))
        .db_name(Some("app"))
        .prefer_socket(false);
    let mut conn = Conn::new(opts).await.expect("connect through the proxy");
    conn.query_drop("CREATE TABLE warning_probe (id INT PRIMARY KEY, v VARCHAR(3))")
        .await
        .expect("create table");
    for replica in cluster.replicas() {
        root(replica, "STOP SLAVE SQL_THREAD").await;
    }
    for sql in ["SET myquorum_consistency = 'STRONG'", "SET sql_mode = ''"] {
        conn.query_drop(sql).await.expect(sql);
    }
    // The names the server gives these columns, asked directly.
    let mut direct = Conn::new(app_opts(cluster.primary(), cluster.config()))
        .await
        .expect("app connects to the primary");
    let forms = [
        "SELECT @@warning_count",
        "select @@SESSION.Warning_Count ;",
        "SHOW COUNT(*) WARNINGS",
    ];
    let mut server_names = Vec::new();
    for sql in forms {
        server_names.push(named_count(&mut direct, sql).await.0);
    }
    direct.disconnect().await.expect("disconnect");

    // A truncated value (the server's 1265) in a write whose quorum times out (the proxy's).
    conn.query_drop("INSERT INTO warning_probe VALUES (1, 'truncated')")
        .await
        .expect("insert");
    assert_eq!(
        conn.get_warnings(),
        2,
        "the OK: server's 1265 + proxy's 1105"
    );
    for (sql, name) in forms.iter().zip(&server_names) {
        assert_eq!(
            named_count(&mut conn, sql).await,
            (name.clone(), 2),
            "{sql}"
        );
    }
    let warnings: Vec<(String, u32, String)> =
        conn.query("SHOW WARNINGS").await.expect("SHOW WARNINGS");
    let codes: Vec<u32> = warnings.iter().map(|(_, code, _)| *code).collect();
    assert_eq!(codes, vec![1265, 1105], "still both: {warnings:?}");
    // Only the proxy's warning.
    conn.query_drop("INSERT INTO warning_probe VALUES (2, 'ok')")
        .await
        .expect("insert");
    assert_eq!(conn.get_warnings(), 1, "the OK: the proxy's 1105");
    assert_eq!(named_count(&mut conn, forms[0]).await.1, 1);
    // The next statement has its own warnings: none.
    let one: Option<i64> = conn.query_first("SELECT 1").await.expect("SELECT 1");
    assert_eq!(one, Some(1));
    for sql in forms {
        assert_eq!(
            named_count(&mut conn, sql).await.1,
            0,
            "{sql} after SELECT 1"
        );
    }

    for replica in cluster.replicas() {
        root(replica, "START SLAVE SQL_THREAD").await;
    }
    conn.disconnect().await.expect("disconnect");
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), proxy)
        .await
        .expect("proxy stops")
        .expect("proxy task")
        .expect("serve returned Ok");
    cluster.stop().await.expect("cluster stops");
}

/// `quorum.follow_interval_ms`: a watcher that just followed a commit (for CAUSAL reads'
/// view) waits out the interval before following the next, but a STRONG write that starts
/// waiting meanwhile is waited on at once, and its answer settles the commits before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_watchers_still_wait_for_strong_writes_at_once() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let mut primary = probe_table(&cluster).await;
    let cfg = cluster.config();
    let replica = cluster.replicas()[0];
    let mut config = TrackerConfig::new(
        vec![BackendNode {
            id: replica.id.as_str().into(),
            addr: replica.addr(),
        }],
        &cfg.control_user,
        &cfg.control_password,
    );
    config.timeout = TIMEOUT;
    // Far longer than the test: the second commit is not followed while it runs.
    config.follow_interval = Duration::from_secs(600);
    let tracker = QuorumTracker::start(config).expect("tracker starts");

    // The first commit is followed at once.
    let first = write(&mut primary).await;
    tracker.note_commit(first.seq);
    let mut seen = None;
    for _ in 0..100 {
        seen = tracker.replica_view(0).1;
        if seen >= Some(first.seq) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen >= Some(first.seq), "first commit followed: {seen:?}");

    // The next one waits for the interval.
    let second = write(&mut primary).await;
    tracker.note_commit(second.seq);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let view = tracker.replica_view(0).1;
    assert!(view < Some(second.seq), "second commit paced: {view:?}");

    // A STRONG write is not: it is answered achieved, well inside its 2 s timeout, and
    // the replica's position it brought back covers the paced commit too.
    let third = write(&mut primary).await;
    let outcome = tracker.wait_for(third).await;
    assert!(outcome.achieved && !outcome.timed_out, "{outcome:?}");
    assert!(tracker.replica_view(0).1 >= Some(third.seq));
    tracker.shutdown().await;
    primary.disconnect().await.expect("disconnect");
    drop(cluster);
}
