//! Trust under failure (issue 15), against a real 4-node cluster: a backend connection lost
//! inside a transaction (or another state that lives on it) ends the client connection, so
//! nothing after it commits as part of a broken transaction; and a client cannot switch off
//! the `last_gtid` tracking that STRONG and CAUSAL rely on.

mod support;

use myquorum_proxy::{ProxyConfig, QuorumConfig};
use myquorum_sandbox::{root_conn, Cluster};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use support::{proxy_config, root, Proxy};

/// Kills every connection of the application user on the primary (the session's backend
/// connections; a fresh proxy with one client has no others there).
async fn kill_app_connections(cluster: &Cluster) {
    let mut r = root_conn(cluster.primary()).await.expect("root");
    let ids: Vec<u64> = r
        .query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app'")
        .await
        .expect("processlist");
    assert!(!ids.is_empty(), "the session holds a primary connection");
    for id in ids {
        r.query_drop(format!("KILL CONNECTION {id}"))
            .await
            .expect("kill");
    }
    r.disconnect().await.expect("disconnect");
}

/// Rows of `app.broken` with these ids, read on a fresh connection.
async fn rows(proxy: &Proxy, ids: &str) -> i64 {
    let mut c = proxy.conn().await;
    let n: Option<i64> = c
        .query_first(format!(
            "/* myquorum:consistency=STRONG */ SELECT COUNT(*) FROM broken WHERE id IN ({ids})"
        ))
        .await
        .expect("count");
    c.disconnect().await.expect("disconnect");
    n.unwrap_or(0)
}

/// `BEGIN; INSERT 100`, the backend connection is killed, then `INSERT 101`, `INSERT 102`,
/// `COMMIT`: 101 fails, the client connection is closed (as the server's would be), and no
/// row of the broken transaction is ever committed. The same with `autocommit=0` and under a
/// pin (a user variable). Outside any state, a lost connection costs one statement only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_backend_never_commits_half_a_transaction() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let proxy = Proxy::start(&cluster).await;
    let mut setup = proxy.conn().await;
    setup
        .query_drop("CREATE TABLE broken (id INT PRIMARY KEY)")
        .await
        .expect("create");
    setup.disconnect().await.expect("disconnect");

    for (opening, first) in [("BEGIN", 100), ("SET autocommit = 0", 200)] {
        let mut c = proxy.conn().await;
        c.query_drop(opening).await.expect(opening);
        c.query_drop(format!("INSERT INTO broken VALUES ({first})"))
            .await
            .expect("first insert");
        kill_app_connections(&cluster).await;
        let second = c
            .query_drop(format!("INSERT INTO broken VALUES ({})", first + 1))
            .await;
        assert!(
            second.is_err(),
            "{opening}: the statement after the loss fails"
        );
        let third = c
            .query_drop(format!("INSERT INTO broken VALUES ({})", first + 2))
            .await;
        assert!(
            third.is_err(),
            "{opening}: the client connection is closed, nothing runs on a fresh backend"
        );
        let _ = c.query_drop("COMMIT").await;
        let ids = format!("{first}, {}, {}", first + 1, first + 2);
        assert_eq!(rows(&proxy, &ids).await, 0, "{opening}: nothing committed");
    }

    // A pin (a user variable lives on the lost connection): the session ends too, rather
    // than answering from a connection where the variable does not exist.
    let mut c = proxy.conn().await;
    c.query_drop("SET @pinned = 1")
        .await
        .expect("user variable");
    kill_app_connections(&cluster).await;
    assert!(c.query_drop("SELECT @pinned").await.is_err(), "pin: lost");
    let after: Result<Option<i64>, _> = c.query_first("SELECT @pinned").await;
    assert!(
        after.is_err(),
        "pin: the client connection is closed, got {after:?}"
    );

    // No state: the failed statement reports the loss, the session goes on.
    let mut c = proxy.conn().await;
    c.query_drop("INSERT INTO broken VALUES (1)")
        .await
        .expect("insert");
    kill_app_connections(&cluster).await;
    let _ = c.query_drop("INSERT INTO broken VALUES (2)").await;
    c.query_drop("INSERT INTO broken VALUES (3)")
        .await
        .expect("a stateless session goes on on a new backend connection");
    assert_eq!(rows(&proxy, "1, 3").await, 2);
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}

/// `SET SESSION session_track_system_variables = ''` (as some drivers do) does not blind the
/// proxy: with every replica stopped, a STRONG write still waits and answers with the proxy's
/// quorum warning, and a default (CAUSAL) read on another connection sees the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_switch_off_gtid_tracking() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let proxy = Proxy::start_with(ProxyConfig {
        quorum: QuorumConfig {
            timeout_ms: 500,
            ..QuorumConfig::default()
        },
        ..proxy_config(&cluster)
    })
    .await;
    let mut c: Conn = proxy.conn().await;
    c.query_drop("CREATE TABLE tracked (id INT PRIMARY KEY)")
        .await
        .expect("create");
    c.query_drop("SET SESSION session_track_system_variables = ''")
        .await
        .expect("switch tracking off");
    c.query_drop("INSERT INTO tracked VALUES (1)")
        .await
        .expect("insert");
    let mut other = proxy.conn().await;
    let seen: Option<i64> = other
        .query_first("SELECT COUNT(*) FROM tracked WHERE id = 1")
        .await
        .expect("read");
    assert_eq!(
        seen,
        Some(1),
        "the write advanced the position reads wait for"
    );

    for replica in cluster.replicas() {
        root(replica, "STOP SLAVE SQL_THREAD").await;
    }
    c.query_drop("SET myquorum_consistency = 'STRONG'")
        .await
        .expect("STRONG");
    c.query_drop("INSERT INTO tracked VALUES (2)")
        .await
        .expect("insert");
    assert_eq!(
        c.get_warnings(),
        1,
        "the STRONG write waited for its quorum and timed out with the proxy's warning"
    );
    for replica in cluster.replicas() {
        root(replica, "START SLAVE SQL_THREAD").await;
    }
    c.disconnect().await.expect("disconnect");
    other.disconnect().await.expect("disconnect");
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}
