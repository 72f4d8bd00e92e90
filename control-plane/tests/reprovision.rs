//! Re-provisioning a diverged node (issue 16 item 7) against real servers: an old primary
//! that took a write the cluster never received is refused by the plain rejoin, and
//! `"reprovision": true` replaces its data with the primary's and rejoins it.

mod support;

use std::sync::Arc;
use std::time::Instant;

use myquorum_control_plane::ControlPlaneConfig;
use myquorum_proxy::quorum::FailureThreshold;
use myquorum_sandbox::{root_conn, Cluster};
use mysql_async::prelude::Queryable;
use support::{root, Harness, SandboxNodes};

/// One value read as root on `node` of `cluster`.
async fn root_value<T: mysql_async::prelude::FromRow + Send + 'static>(
    cluster: &Cluster,
    node: &str,
    sql: &str,
) -> T {
    let node = cluster.node(node).expect("node exists");
    let mut conn = root_conn(node).await.expect("root connection");
    let value = conn
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("{}: {sql}: {e}", node.id))
        .unwrap_or_else(|| panic!("{}: {sql}: no row", node.id));
    let _ = conn.disconnect().await;
    value
}

/// Inserts rows `ids` into `reprov` through the proxy, STRONG.
async fn write(h: &Harness, ids: std::ops::RangeInclusive<u32>) {
    let mut app = h.app_conn(true).await;
    for id in ids {
        app.exec_drop("INSERT INTO reprov (id, v) VALUES (?, 'committed')", (id,))
            .await
            .unwrap_or_else(|e| panic!("insert {id}: {e}"));
    }
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_diverged_old_primary_is_refused_then_reprovisioned_and_rejoins() {
    let cluster = Arc::new(Cluster::start_for_tests(3).await.expect("cluster starts"));
    let mut cfg = ControlPlaneConfig {
        collector_interval_ms: 200,
        ..ControlPlaneConfig::default()
    };
    cfg.failover.cooldown_ms = 1_000;

    // Without a server launcher (`myquorum serve`) the flag gets the stop/start paths' error.
    let bare = Harness::start(
        &cluster,
        FailureThreshold::Count(1),
        "127.0.0.1:0",
        cfg.clone(),
    )
    .await;
    let (code, body) = bare
        .post(
            "/admin/start-instance",
            r#"{"instance_id": "instance-2", "reprovision": true}"#,
        )
        .await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("myquorum serve")),
        "{body}"
    );
    bare.stop().await;

    let h = Harness::start_with(
        support::proxy_config(&cluster, FailureThreshold::Count(1)),
        Some(Arc::new(SandboxNodes(Arc::clone(&cluster)))),
        "127.0.0.1:0",
        cfg,
    )
    .await;
    let mut app = h.app_conn(true).await;
    app.query_drop("CREATE TABLE reprov (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL)")
        .await
        .expect("create table");
    drop(app);
    write(&h, 1..=20).await;

    // Fail over away from instance-1.
    let (code, answer) = h.post("/admin/stop-master", "{}").await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["old_master"], "instance-1", "{answer}");
    let primary = answer["new_master"]
        .as_str()
        .expect("new_master")
        .to_owned();

    // The old primary diverges: started behind the proxy's back, it takes writes (binary
    // logging on) that the cluster never receives, then goes down again: a row, a table and
    // a database only it has.
    cluster
        .start_node("instance-1")
        .await
        .expect("start instance-1");
    let common: String =
        root_value(&cluster, "instance-1", "SELECT @@GLOBAL.gtid_binlog_pos").await;
    let last_common: u64 = common
        .strip_prefix("0-1-")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("one domain, written by instance-1: {common}"));
    for sql in [
        "INSERT INTO app.reprov (id, v) VALUES (1000, 'diverged')",
        "CREATE TABLE app.only_here (id INT PRIMARY KEY)",
        "CREATE DATABASE strayed",
    ] {
        root(&cluster, "instance-1", sql).await;
    }
    let diverged: Vec<String> = (1..=3)
        .map(|k| format!("0-1-{}", last_common + k))
        .collect();
    let now: String = root_value(&cluster, "instance-1", "SELECT @@GLOBAL.gtid_binlog_pos").await;
    assert_eq!(Some(&now), diverged.last(), "three diverged transactions");
    cluster
        .stop_node("instance-1")
        .await
        .expect("stop instance-1");

    // The cluster commits more meanwhile.
    write(&h, 21..=40).await;

    // The plain rejoin refuses, with the report and the way out.
    let (code, refused) = h.post("/admin/restart-old-master", "{}").await;
    assert_eq!(code, 502, "{refused}");
    let message = refused["message"].as_str().expect("message");
    assert!(message.contains("1236"), "{refused}");
    assert!(message.contains(r#""reprovision": true"#), "{refused}");
    let (_, status) = h.get("/status").await;
    assert!(
        !status["current_replicas"]
            .as_array()
            .expect("replicas")
            .iter()
            .any(|r| r["id"] == "instance-1"),
        "a refused node is not a replica: {status:#}"
    );

    // Re-provisioned from the primary, it rejoins; the answer names what it discarded.
    let started = Instant::now();
    let (code, done) = h
        .post("/admin/restart-old-master", r#"{"reprovision": true}"#)
        .await;
    eprintln!("re-provision and rejoin took {:?}", started.elapsed());
    assert_eq!(code, 200, "{done}");
    assert_eq!(done["reprovisioned"], true, "{done}");
    assert_eq!(done["discarded"], serde_json::json!(diverged), "{done}");
    assert_eq!(done["master"], primary.as_str(), "{done}");
    let (_, status) = h.get("/status").await;
    assert!(
        status["current_replicas"]
            .as_array()
            .expect("replicas")
            .iter()
            .any(|r| r["id"] == "instance-1"),
        "{status:#}"
    );

    // It replicates what the cluster commits next.
    write(&h, 41..=50).await;
    let pos: String = root_value(&cluster, &primary, "SELECT @@GLOBAL.gtid_binlog_pos").await;
    let waited: i64 = root_value(
        &cluster,
        "instance-1",
        &format!("SELECT MASTER_GTID_WAIT('{pos}', 30)"),
    )
    .await;
    assert_eq!(waited, 0, "instance-1 did not apply {pos}");
    let running: String = root_value(
        &cluster,
        "instance-1",
        "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVES_RUNNING'",
    )
    .await;
    assert_eq!(running, "1", "instance-1 replicates");

    // Its data equals the primary's: the diverged row is gone, every committed row is there.
    let checksum = |node: String| {
        let cluster = Arc::clone(&cluster);
        async move {
            let (_, sum): (String, Option<u64>) =
                root_value(&cluster, &node, "CHECKSUM TABLE app.reprov").await;
            sum
        }
    };
    let on_primary = checksum(primary.clone()).await;
    assert!(on_primary.is_some());
    assert_eq!(checksum("instance-1".to_owned()).await, on_primary);
    for node in [primary.as_str(), "instance-1"] {
        let (rows, diverged): (u64, u64) = root_value(
            &cluster,
            node,
            "SELECT COUNT(*), COALESCE(SUM(id = 1000), 0) FROM app.reprov",
        )
        .await;
        assert_eq!((rows, diverged), (50, 0), "{node}");
    }
    let strays: (u64, u64) = root_value(
        &cluster,
        "instance-1",
        "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'only_here'), (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'strayed')",
    )
    .await;
    assert_eq!(
        strays,
        (0, 0),
        "the table and database only instance-1 had are gone"
    );
    let read_only: i64 = root_value(&cluster, "instance-1", "SELECT @@GLOBAL.read_only").await;
    assert_eq!(read_only, 1, "a rejoined node is read-only");

    // A node that did not diverge rejoins without re-provisioning, flag or not.
    let replica = status["current_replicas"]
        .as_array()
        .expect("replicas")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .find(|id| *id != "instance-1")
        .expect("another replica")
        .to_owned();
    cluster.stop_node(&replica).await.expect("stop replica");
    let body = format!(r#"{{"instance_id": "{replica}", "reprovision": true}}"#);
    let (code, started) = h.post("/admin/start-instance", &body).await;
    assert_eq!(code, 200, "{started}");
    assert_eq!(started["reprovisioned"], false, "{started}");
    assert_eq!(started["discarded"], serde_json::json!([]), "{started}");
    h.stop().await;
}
