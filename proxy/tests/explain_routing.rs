//! EXPLAIN of a statement shows the plan of the node that would run that statement (issue 14
//! item 6), against a real 3-node cluster. Each node gets an index of its own on the same
//! column (added with the binary log off, so it does not replicate): the index EXPLAIN lists
//! names the node that answered.

mod support;

use myquorum_sandbox::{root_conn, Cluster};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use support::Proxy;

/// The index name of node `id` (ids are plain words, maybe with digits and dashes).
fn index_of(id: &str) -> String {
    format!(
        "ix_{}",
        id.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
}

/// Every value of `sql`'s answer, as text.
async fn answer(conn: &mut Conn, sql: &str) -> String {
    let rows: Vec<Row> = conn
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| v.as_sql(true))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The node whose index appears in the plan `sql` returns.
async fn planned_on(conn: &mut Conn, sql: &str, nodes: &[String]) -> String {
    let plan = answer(conn, sql).await;
    let found: Vec<&String> = nodes
        .iter()
        .filter(|id| plan.contains(&index_of(id)))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{sql}: one node's index in the plan:\n{plan}"
    );
    found[0].clone()
}

/// EXPLAIN of a locking read, of UPDATE / DELETE / INSERT ... SELECT, and of any read inside
/// a read-write transaction comes from the primary; EXPLAIN of a plain read goes where the
/// read goes at the session's level (STRONG: the primary; EVENTUAL: a replica; CAUSAL: a
/// node that has the session's writes, so EXPLAIN of a table created just before works). A
/// prepared SHOW WARNINGS after a prepared EXPLAIN EXTENDED reads the note where it was made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_runs_where_the_statement_would() {
    let cluster = Cluster::start_for_tests(3).await.expect("cluster starts");
    let proxy = Proxy::start(&cluster).await;
    let mut conn = proxy.conn().await;
    conn.query_drop("CREATE TABLE ex (id INT PRIMARY KEY, v INT, w INT)")
        .await
        .expect("create");
    conn.query_drop("INSERT INTO ex SELECT seq, seq % 10, 0 FROM seq_1_to_200")
        .await
        .expect("rows");
    cluster.wait_replicated().await.expect("replicated");
    let nodes: Vec<String> = cluster.nodes().iter().map(|n| n.id.clone()).collect();
    for node in cluster.nodes() {
        let mut root = root_conn(node).await.expect("root connection");
        root.query_drop("SET SESSION sql_log_bin = 0")
            .await
            .expect("binlog off");
        root.query_drop(format!(
            "ALTER TABLE app.ex ADD INDEX {} (v)",
            index_of(&node.id)
        ))
        .await
        .expect("a node's own index");
        root.disconnect().await.expect("disconnect");
    }
    let primary = cluster.primary().id.clone();
    let read = "EXPLAIN SELECT * FROM ex WHERE v = 3";

    for sql in [
        "EXPLAIN SELECT * FROM ex WHERE v = 3 FOR UPDATE",
        "EXPLAIN SELECT * FROM ex WHERE v = 3 LOCK IN SHARE MODE",
        "EXPLAIN UPDATE ex SET w = 1 WHERE v = 3",
        "EXPLAIN DELETE FROM ex WHERE v = 3",
        "EXPLAIN INSERT INTO ex (id, v, w) SELECT id + 1000, v, w FROM ex WHERE v = 3",
        "EXPLAIN FORMAT=JSON UPDATE ex SET w = 1 WHERE v = 3",
    ] {
        assert_eq!(planned_on(&mut conn, sql, &nodes).await, primary, "{sql}");
    }

    conn.query_drop("SET myquorum_consistency = STRONG")
        .await
        .expect("strong");
    assert_eq!(planned_on(&mut conn, read, &nodes).await, primary, "STRONG");
    conn.query_drop("SET myquorum_consistency = EVENTUAL")
        .await
        .expect("eventual");
    for _ in 0..5 {
        assert_ne!(
            planned_on(&mut conn, read, &nodes).await,
            primary,
            "EVENTUAL: a replica"
        );
    }
    // The binary protocol: EXPLAIN EXTENDED executed on a replica, then a prepared SHOW
    // WARNINGS reads that replica's note (preparing it, on the primary, must not move the
    // connection SHOW WARNINGS reads from).
    let plan: Vec<Row> = conn
        .exec("EXPLAIN EXTENDED SELECT * FROM ex WHERE v = ?", (3,))
        .await
        .expect("prepared EXPLAIN EXTENDED");
    assert!(!plan.is_empty());
    let warnings: Vec<(String, u32, String)> = conn
        .exec("SHOW WARNINGS", ())
        .await
        .expect("prepared SHOW WARNINGS");
    assert!(
        warnings.iter().any(|(_, code, _)| *code == 1003),
        "the EXPLAIN EXTENDED note, read where the EXPLAIN ran: {warnings:?}"
    );
    conn.query_drop("SET myquorum_consistency = DEFAULT")
        .await
        .expect("default");

    // Inside a read-write transaction every statement runs on the primary, EXPLAIN too.
    conn.query_drop("BEGIN").await.expect("begin");
    conn.query_drop("UPDATE ex SET w = w + 1 WHERE id = 1")
        .await
        .expect("write in transaction");
    assert_eq!(
        planned_on(&mut conn, read, &nodes).await,
        primary,
        "in a transaction"
    );
    conn.query_drop("ROLLBACK").await.expect("rollback");

    // CAUSAL (the default): the plan comes from a node that has every acknowledged write.
    let mut on_replicas = 0;
    for i in 0..10 {
        conn.query_drop(format!("CREATE TABLE fresh{i} (id INT PRIMARY KEY, v INT)"))
            .await
            .expect("create");
        answer(
            &mut conn,
            &format!("EXPLAIN SELECT * FROM fresh{i} WHERE v = 1"),
        )
        .await;
        if planned_on(&mut conn, read, &nodes).await != primary {
            on_replicas += 1;
        }
    }
    println!("CAUSAL EXPLAIN plans from replicas: {on_replicas} of 10");
    conn.disconnect().await.expect("disconnect");
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}
