//! Cluster tests of the STRONG wait ([`QuorumTracker`]) against a real 4-node sandbox: one
//! primary, three replicas, writes by the application user over TCP, each write's GTID read
//! back with `SELECT @@last_gtid` and waited on by two trackers at once, t = 1 and t = majority.
//! What they prove: one stopped replica is harmless to both; two stopped still answer t = 1 and
//! time out majority; three stopped time out both; restarting the SQL threads releases later
//! writes; and a write acknowledged under t = 1 is really applied on the replicas named in the
//! answer at that instant (checked on the replicas themselves, 200 writes).

use std::time::Duration;

use myquorum_proxy::gtid::Gtid;
use myquorum_proxy::quorum::{FailureThreshold, QuorumOutcome, QuorumTracker, TrackerConfig};
use myquorum_proxy::BackendNode;
use myquorum_sandbox::{app_opts, root_conn, Cluster, NodeInfo};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

/// Per-write timeout in these tests: short, so the timeout scenarios stay quick.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A tracker over the cluster's replicas with failure threshold `t`.
fn tracker(cluster: &Cluster, t: FailureThreshold) -> QuorumTracker {
    let cfg = cluster.config();
    let replicas = cluster
        .replicas()
        .into_iter()
        .map(|n| BackendNode {
            id: n.id.clone(),
            addr: n.addr(),
        })
        .collect();
    let mut config = TrackerConfig::new(replicas, &cfg.control_user, &cfg.control_password);
    config.failure_threshold = t;
    config.timeout = TIMEOUT;
    QuorumTracker::start(config).expect("tracker starts")
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

/// Runs `sql` as root on `node`.
async fn root(node: &NodeInfo, sql: &str) {
    let mut conn = root_conn(node).await.expect("root connection");
    conn.query_drop(sql).await.expect(sql);
    conn.disconnect().await.expect("disconnect");
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
    let mut primary = Conn::new(app_opts(cluster.primary(), cluster.config()))
        .await
        .expect("app connects to the primary");
    primary
        .query_drop(
            "CREATE TABLE IF NOT EXISTS quorum_probe (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
        )
        .await
        .expect("create table");
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
