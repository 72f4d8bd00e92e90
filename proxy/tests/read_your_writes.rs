//! The MySQL port's default level (CAUSAL, proxy-wide scope) against a real 4-node cluster:
//! a client that chooses nothing sees every write the proxy acknowledged before its read
//! arrived — its own and other sessions' — for every kind of write, while reads still run on
//! replicas that have caught up.

mod support;

use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use support::Proxy;

/// `SELECT COUNT(*)` of `sql` on `conn`.
async fn count(conn: &mut Conn, sql: &str) -> i64 {
    conn.query_first::<i64, _>(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or(0)
}

/// Writes on one connection, reads on another, 60 times, with the default settings: every
/// read sees the row written just before it, the same session's reads too, and the reads are
/// not all sent to the primary (replicas that caught up take them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_reads_see_every_acknowledged_write() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let proxy = Proxy::start(&cluster).await;
    let mut writer = proxy.conn().await;
    let mut reader = proxy.conn().await;
    let level: Option<String> = reader
        .query_first("SELECT @@myquorum_consistency")
        .await
        .expect("level");
    assert_eq!(level.as_deref(), Some("CAUSAL"), "the default level");

    writer
        .query_drop("CREATE TABLE ryw (id INT PRIMARY KEY)")
        .await
        .expect("create");
    let primary_id: u32 = writer
        .query_first("SELECT @@server_id FOR UPDATE")
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    let mut on_replicas = 0;
    for id in 0..60 {
        writer
            .query_drop(format!("INSERT INTO ryw VALUES ({id})"))
            .await
            .expect("insert");
        let sql = format!("SELECT COUNT(*) FROM ryw WHERE id = {id}");
        assert_eq!(count(&mut reader, &sql).await, 1, "other session, row {id}");
        assert_eq!(count(&mut writer, &sql).await, 1, "same session, row {id}");
        let server: Option<u32> = reader
            .query_first("SELECT @@server_id")
            .await
            .expect("server id");
        if server != Some(primary_id) {
            on_replicas += 1;
        }
    }
    println!("reads on replicas after each write: {on_replicas} of 60");
    writer.disconnect().await.expect("disconnect");
    reader.disconnect().await.expect("disconnect");
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}

/// Every kind of write advances the position a default read waits for: DDL, CREATE
/// PROCEDURE, multi-statements, CALL, prepared EXECUTE, and a transaction at COMMIT — each
/// read on a fresh connection right after the writer's OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_kind_is_visible_to_the_next_default_read() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let proxy = Proxy::start(&cluster).await;
    let mut w = proxy.conn().await;

    w.query_drop("CREATE TABLE kinds (id INT PRIMARY KEY, v LONGTEXT)")
        .await
        .expect("DDL");
    let mut r = proxy.conn().await;
    assert_eq!(count(&mut r, "SELECT COUNT(*) FROM kinds").await, 0, "DDL");

    w.query_drop("CREATE PROCEDURE add_kind(i INT) BEGIN INSERT INTO kinds (id) VALUES (i); END")
        .await
        .expect("CREATE PROCEDURE");
    let mut r = proxy.conn().await;
    let routines = "SELECT COUNT(*) FROM information_schema.ROUTINES \
                    WHERE ROUTINE_SCHEMA = 'app' AND ROUTINE_NAME = 'add_kind'";
    assert_eq!(count(&mut r, routines).await, 1, "CREATE PROCEDURE");

    w.query_drop("INSERT INTO kinds (id) VALUES (1); INSERT INTO kinds (id) VALUES (2)")
        .await
        .expect("multi-statement");
    let mut r = proxy.conn().await;
    assert_eq!(
        count(&mut r, "SELECT COUNT(*) FROM kinds WHERE id = 2").await,
        1,
        "multi-statement"
    );

    w.query_drop("CALL add_kind(3)").await.expect("CALL");
    let mut r = proxy.conn().await;
    assert_eq!(
        count(&mut r, "SELECT COUNT(*) FROM kinds WHERE id = 3").await,
        1,
        "CALL"
    );

    w.exec_drop(
        "INSERT INTO kinds (id, v) VALUES (?, ?)",
        (4, "x".repeat(100_000)),
    )
    .await
    .expect("prepared EXECUTE");
    let mut r = proxy.conn().await;
    assert_eq!(
        count(&mut r, "SELECT COUNT(*) FROM kinds WHERE id = 4").await,
        1,
        "prepared EXECUTE"
    );

    w.query_drop("START TRANSACTION").await.expect("begin");
    w.query_drop("INSERT INTO kinds (id) VALUES (5)")
        .await
        .expect("insert in transaction");
    w.query_drop("COMMIT").await.expect("commit");
    let mut r = proxy.conn().await;
    assert_eq!(
        count(&mut r, "SELECT COUNT(*) FROM kinds WHERE id = 5").await,
        1,
        "COMMIT"
    );
    w.disconnect().await.expect("disconnect");
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}
