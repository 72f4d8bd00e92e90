//! `wire_remote` against real MariaDB servers: four sandbox nodes are unwired by hand (no
//! replication source, all read-only), then wired again over TCP with an admin account, with
//! another node as primary, exactly as `myquorum wire` does for docker-compose.

use myquorum_sandbox::{
    app_opts, root_conn, wire_remote, AdminLogin, Cluster, NodeInfo, RemoteServer, SandboxConfig,
    WireOutcome,
};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

const ADMIN: &str = "wire_admin";
const ADMIN_PASSWORD: &str = "wire-admin-pw";

/// Runs `sql` as root over the socket, one statement after another on one connection.
async fn root_run(node: &NodeInfo, sql: &[&str]) {
    let mut c = root_conn(node).await.expect("root conn");
    for s in sql {
        c.query_drop(*s)
            .await
            .unwrap_or_else(|e| panic!("{}: {s}: {e}", node.id));
    }
    let _ = c.disconnect().await;
}

/// `@@read_only` and whether `SHOW SLAVE STATUS` has a row, and the master port if so.
async fn role(node: &NodeInfo) -> (bool, Option<u16>) {
    let mut c = root_conn(node).await.expect("root conn");
    let read_only: Option<bool> = c.query_first("SELECT @@read_only").await.expect("ro");
    let row: Option<mysql_async::Row> = c.query_first("SHOW SLAVE STATUS").await.expect("status");
    let port = row.map(|r| r.get::<u16, _>("Master_Port").expect("Master_Port"));
    (read_only.unwrap_or(false), port)
}

#[tokio::test]
async fn wires_unwired_servers_over_tcp_and_leaves_a_wired_cluster_alone() {
    let cluster = Cluster::start_for_tests(4).await.expect("start cluster");
    // Unwire: every node read-only, no source; an admin account over TCP on each, created
    // outside the binary log as the docker entrypoint does.
    for node in cluster.nodes() {
        root_run(
            node,
            &[
                "STOP SLAVE",
                "RESET SLAVE ALL",
                "SET GLOBAL read_only=ON",
                "SET SESSION sql_log_bin=0",
                &format!("CREATE USER '{ADMIN}'@'127.0.0.1' IDENTIFIED BY '{ADMIN_PASSWORD}'"),
                &format!("GRANT ALL PRIVILEGES ON *.* TO '{ADMIN}'@'127.0.0.1' WITH GRANT OPTION"),
            ],
        )
        .await;
        assert_eq!(role(node).await, (true, None), "{} not unwired", node.id);
    }
    let servers: Vec<RemoteServer> = cluster
        .nodes()
        .iter()
        .map(|n| RemoteServer {
            id: n.id.clone(),
            host: n.host.clone(),
            port: n.port,
        })
        .collect();
    let admin = AdminLogin {
        user: ADMIN.into(),
        password: ADMIN_PASSWORD.into(),
    };
    let accounts = SandboxConfig::default();

    let wrong = AdminLogin {
        user: ADMIN.into(),
        password: "wrong".into(),
    };
    let refused = wire_remote(&servers, 1, &wrong, &accounts)
        .await
        .expect_err("a wrong admin password must fail");
    assert!(refused.to_string().contains("instance-1"), "{refused}");

    let outcome = wire_remote(&servers, 1, &admin, &accounts)
        .await
        .expect("wire");
    assert_eq!(outcome, WireOutcome::Wired);
    let nodes = cluster.nodes();
    let primary = &nodes[1];
    assert_eq!(
        role(primary).await,
        (false, None),
        "instance-2 is the writable primary"
    );
    for replica in nodes.iter().filter(|n| n.id != primary.id) {
        assert_eq!(
            role(replica).await,
            (true, Some(primary.port)),
            "{}",
            replica.id
        );
    }

    // A write on the new primary as the application user reaches every replica.
    let mut app = Conn::new(app_opts(primary, &accounts))
        .await
        .expect("app conn");
    app.query_drop("INSERT INTO users(name, email) VALUES ('wired', 'wired@example.invalid')")
        .await
        .expect("insert on the new primary");
    let pos: String = app
        .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .expect("pos")
        .unwrap_or_default();
    for replica in nodes.iter().filter(|n| n.id != primary.id) {
        let mut c = root_conn(replica).await.expect("root conn");
        let waited: Option<i64> = c
            .exec_first("SELECT MASTER_GTID_WAIT(?, 30)", (pos.clone(),))
            .await
            .expect("wait");
        assert_eq!(waited, Some(0), "{} did not catch up", replica.id);
        let n: Option<i64> = c
            .query_first("SELECT COUNT(*) FROM app.users WHERE email='wired@example.invalid'")
            .await
            .expect("count");
        assert_eq!(n, Some(1), "{}", replica.id);
    }

    // Wired once: a second run (instance-1 asked as primary) changes nothing.
    let again = wire_remote(&servers, 0, &admin, &accounts)
        .await
        .expect("second wire");
    assert!(
        matches!(again, WireOutcome::AlreadyWired { .. }),
        "{again:?}"
    );
    assert_eq!(
        role(primary).await,
        (false, None),
        "instance-2 still the primary"
    );
    assert_eq!(role(&nodes[0]).await, (true, Some(primary.port)));
    cluster.stop().await.expect("stop");
}
