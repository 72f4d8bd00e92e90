//! `Engine::execute` (the HTTP `/query` path) against a real 4-node cluster: STRONG writes
//! carry their GTID timestamp and a quorum outcome, reads return typed JSON rows from the node
//! the level asks for, CAUSAL reads with `after_timestamp` see the write, SQL errors keep
//! their code and SQLSTATE.

use myquorum_proxy::classify::Consistency;
use myquorum_proxy::engine::{EngineError, Request};
mod support;

use myquorum_proxy::{Proxy, ProxyConfig};
use myquorum_sandbox::Cluster;

fn request(sql: &str, consistency: Consistency, after: Option<u64>) -> Request {
    Request {
        sql: sql.to_owned(),
        consistency,
        after_timestamp: after,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_runs_statements_at_each_level() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let config = ProxyConfig {
        engine_database: Some(cluster.config().app_database.clone()),
        ..support::proxy_config(&cluster)
    };
    let proxy = Proxy::start(config).await.expect("proxy starts");
    let engine = proxy.engine();

    let created = engine
        .execute(request(
            "CREATE TABLE engine_t (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(6,2), ratio DOUBLE)",
            Consistency::Strong,
            None,
        ))
        .await
        .expect("DDL runs");
    assert!(created.timestamp.is_some(), "DDL produces a GTID");

    let write = engine
        .execute(request(
            "INSERT INTO engine_t VALUES (1, 'a', 9.99, 0.5)",
            Consistency::Strong,
            None,
        ))
        .await
        .expect("STRONG write");
    assert_eq!(write.executed_on, cluster.primary().id);
    assert_eq!(write.rows_affected, 1);
    let ts = write.timestamp.expect("a write has a timestamp");
    let quorum = write
        .quorum
        .clone()
        .expect("STRONG writes report their quorum");
    assert!(quorum.achieved, "{quorum:?}");
    assert!(!quorum.replicas.is_empty());

    let noop = engine
        .execute(request(
            "UPDATE engine_t SET name='a' WHERE id=1",
            Consistency::Strong,
            None,
        ))
        .await
        .expect("no-op update");
    assert_eq!(
        noop.timestamp, None,
        "a write that changed nothing has no timestamp"
    );

    let causal = engine
        .execute(request(
            "SELECT * FROM engine_t WHERE id = 1",
            Consistency::Causal,
            Some(ts),
        ))
        .await
        .expect("CAUSAL read");
    assert_eq!(
        causal.rows.len(),
        1,
        "CAUSAL after the write's timestamp sees it"
    );
    // Values in the order of `columns` (names are held once, not per row).
    let row = &causal.rows[0];
    assert_eq!(row[0], serde_json::json!(1));
    assert_eq!(row[1], serde_json::json!("a"));
    assert_eq!(row[2], serde_json::json!("9.99"));
    assert_eq!(row[3], serde_json::json!(0.5));
    assert_eq!(causal.columns, vec!["id", "name", "price", "ratio"]);

    let strong_read = engine
        .execute(request(
            "SELECT COUNT(*) AS n FROM engine_t",
            Consistency::Strong,
            None,
        ))
        .await
        .expect("STRONG read");
    assert_eq!(strong_read.executed_on, cluster.primary().id);
    assert!(strong_read.quorum.is_none());

    let mut replicas_seen = std::collections::HashSet::new();
    for _ in 0..9 {
        let r = engine
            .execute(request(
                "SELECT @@server_id AS id",
                Consistency::Eventual,
                None,
            ))
            .await
            .expect("EVENTUAL read");
        assert_ne!(
            r.executed_on,
            cluster.primary().id,
            "EVENTUAL reads go to replicas"
        );
        replicas_seen.insert(r.executed_on);
    }
    assert!(replicas_seen.len() >= 2, "reads spread: {replicas_seen:?}");

    match engine
        .execute(request(
            "SELECT * FROM no_such_table",
            Consistency::Strong,
            None,
        ))
        .await
    {
        Err(EngineError::Sql { code, state, .. }) => {
            assert_eq!((code, state.as_str()), (1146, "42S02"))
        }
        other => panic!("expected 1146, got {other:?}"),
    }
    match engine
        .execute(request(
            "INSERT INTO engine_t VALUES (1, 'dup', 1, 1)",
            Consistency::Eventual,
            None,
        ))
        .await
    {
        Err(EngineError::Sql { code, .. }) => assert_eq!(code, 1062),
        other => panic!("expected 1062, got {other:?}"),
    }
    cluster.stop().await.expect("cluster stops");
}

/// The HTTP engine goes through the same pipeline as the MySQL port: a clean connection is
/// reused by the next request without a reset (the pool is not asked again), a statement that
/// leaves session state behind never leaks it into the next request, `SET STATEMENT
/// myquorum_consistency=... FOR` sets the level, and a CAUSAL read waits on a replica
/// (MASTER_GTID_WAIT) instead of giving up on replicas that are briefly behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_shares_the_pipeline_with_the_mysql_port() {
    use mysql_async::prelude::Queryable;
    use std::sync::atomic::Ordering;

    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let config = ProxyConfig {
        engine_database: Some(cluster.config().app_database.clone()),
        causal_wait_ms: 10_000,
        ..support::proxy_config(&cluster)
    };
    let proxy = Proxy::start(config).await.expect("proxy starts");
    let engine = proxy.engine();
    let run = |sql: &str, level: Consistency| engine.execute(request(sql, level, None));

    run(
        "CREATE TABLE pipe_t (id INT PRIMARY KEY, v INT)",
        Consistency::Strong,
    )
    .await
    .expect("DDL");
    let pool = &proxy.context().pool().stats;
    let taken = || pool.opened.load(Ordering::Relaxed) + pool.reused.load(Ordering::Relaxed);
    run("SELECT 1", Consistency::Strong).await.expect("warm up");
    let before = taken();
    for i in 0..5 {
        let r = run(&format!("SELECT {i} AS i"), Consistency::Strong)
            .await
            .expect("STRONG read");
        assert_eq!(r.rows[0][0], serde_json::json!(i));
    }
    assert_eq!(
        taken(),
        before,
        "clean engine connections are reused without going back to the pool"
    );

    run("SET SESSION sql_mode = 'ANSI_QUOTES'", Consistency::Strong)
        .await
        .expect("session setting");
    let mode = run("SELECT @@session.sql_mode AS m", Consistency::Strong)
        .await
        .expect("read sql_mode");
    assert!(
        !mode.rows[0][0]
            .as_str()
            .is_some_and(|m| m.contains("ANSI_QUOTES")),
        "a session setting must not leak into the next request: {:?}",
        mode.rows
    );

    let strong = run(
        "SET STATEMENT myquorum_consistency='STRONG' FOR INSERT INTO pipe_t VALUES (1, 1)",
        Consistency::Eventual,
    )
    .await
    .expect("SET STATEMENT ... FOR INSERT");
    assert!(
        strong.quorum.as_ref().is_some_and(|q| q.achieved),
        "SET STATEMENT myquorum_consistency='STRONG' makes the write wait: {:?}",
        strong.quorum
    );
    match run(
        "SET STATEMENT myquorum_consistency='NOPE' FOR SELECT 1",
        Consistency::Eventual,
    )
    .await
    {
        Err(EngineError::Sql { code, state, .. }) => {
            assert_eq!((code, state.as_str()), (1231, "42000"))
        }
        other => panic!("expected 1231, got {other:?}"),
    }

    // Every replica stops applying; a write lands on the primary; the replicas resume a
    // moment later. A CAUSAL read that arrives in between waits for a replica to apply it.
    let mut roots = Vec::new();
    for replica in cluster.replicas() {
        let mut root = myquorum_sandbox::root_conn(replica).await.expect("root");
        root.query_drop("STOP SLAVE SQL_THREAD")
            .await
            .expect("stop");
        roots.push(root);
    }
    run("INSERT INTO pipe_t VALUES (2, 2)", Consistency::Eventual)
        .await
        .expect("EVENTUAL write");
    let resume = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        for mut root in roots {
            root.query_drop("START SLAVE SQL_THREAD")
                .await
                .expect("start");
            root.disconnect().await.expect("disconnect");
        }
    });
    let causal = run("SELECT v FROM pipe_t WHERE id = 2", Consistency::Causal)
        .await
        .expect("CAUSAL read");
    resume.await.expect("replicas resumed");
    assert_eq!(causal.rows.len(), 1, "CAUSAL sees the write");
    assert_ne!(
        causal.executed_on,
        cluster.primary().id,
        "the CAUSAL read waited on a replica instead of falling back to the primary"
    );
    cluster.stop().await.expect("cluster stops");
}
