//! Failover over TLS control connections (`[proxy.backend_tls]`): a 3-node sandbox serving
//! TLS whose control and application accounts are altered `REQUIRE SSL`, so the detector, the
//! failover statements (stop replication, promote, repoint) and the proxy's connections can
//! only log in over TLS.

mod support;

use std::time::Duration;

use myquorum_control_plane::ControlPlaneConfig;
use myquorum_proxy::quorum::FailureThreshold;
use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use support::Harness;

/// The primary is killed: the control plane promotes a replica over TLS (epoch 2), the
/// remaining replica follows it, and a STRONG write through the proxy works on the new
/// primary and is confirmed by the quorum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_runs_over_tls_control_connections() {
    let cluster = Cluster::start_for_tests_with(3, true)
        .await
        .expect("TLS cluster starts");
    let cfg = cluster.config().clone();
    for user in [&cfg.app_user, &cfg.control_user] {
        support::root(
            &cluster,
            &cluster.primary().id,
            &format!("ALTER USER '{user}'@'%' REQUIRE SSL"),
        )
        .await;
    }
    let mut config = ControlPlaneConfig {
        collector_interval_ms: 200,
        ..ControlPlaneConfig::default()
    };
    config.failover.cooldown_ms = 1_000;
    let h = Harness::start(&cluster, FailureThreshold::Count(1), "127.0.0.1:0", config).await;
    h.until("/metrics", "every node probed healthy over TLS", |m| {
        m["replicas"]
            .as_array()
            .is_some_and(|n| n.len() == 3 && n.iter().all(|r| r["is_healthy"] == true))
    })
    .await;
    let mut conn = h.app_conn(true).await;
    conn.query_drop("CREATE TABLE tls_failover (id INT PRIMARY KEY)")
        .await
        .expect("DDL");
    conn.query_drop("INSERT INTO tls_failover VALUES (1)")
        .await
        .expect("STRONG write");
    drop(conn);

    cluster
        .kill_node(&cluster.primary().id)
        .await
        .expect("kill primary");
    let status = h
        .until("/status", "a new primary", |s| s["epoch"] == 2)
        .await;
    let new_primary = status["current_master"]["id"]
        .as_str()
        .expect("new primary id")
        .to_owned();
    assert_ne!(new_primary, "instance-1");

    let mut written = None;
    for _ in 0..50 {
        let mut conn = h.app_conn(true).await;
        match conn.query_drop("INSERT INTO tls_failover VALUES (2)").await {
            Ok(()) => {
                written = Some(conn.get_warnings());
                break;
            }
            Err(e) => {
                eprintln!("write after failover: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert_eq!(
        written,
        Some(0),
        "a STRONG write on {new_primary} with its quorum confirmed"
    );
    let mut conn = h.app_conn(false).await;
    let n: Option<u32> = conn
        .query_first("SELECT COUNT(*) FROM tls_failover")
        .await
        .expect("read");
    assert_eq!(n, Some(2));
    drop(conn);
    h.stop().await;
    cluster.stop().await.expect("cluster stops");
}
