//! A client with mysql_async's DEFAULT options (`prefer_socket` true, host 127.0.0.1) stays on
//! the proxy, against a real 2-node cluster: the driver reads `@@socket` after login and
//! reconnects to the named unix socket when there is one, which through a proxy that relayed
//! the backend's answer meant a silent direct connection to one MariaDB node. Through the proxy
//! `@@socket` is NULL (select list, prepared statement), a string that spells it is untouched.

mod support;

use myquorum_sandbox::{Cluster, NodeInfo, SandboxConfig};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row};
use support::Proxy;

/// The application user's options with the driver's defaults (no `prefer_socket(false)`).
fn default_opts(host: &str, port: u16, cfg: &SandboxConfig) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(cfg.app_user.clone()))
        .pass(Some(cfg.app_password.clone()))
        .db_name(Some(cfg.app_database.clone()))
        .into()
}

/// How the server sees the connection: `localhost` over a unix socket, `127.0.0.1:<port>`
/// over TCP.
async fn seen_host(conn: &mut Conn) -> String {
    conn.query_first("SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()")
        .await
        .expect("processlist")
        .expect("a row")
}

/// The premise: straight to a node, the default options do end up on its unix socket (else
/// the test below could not fail).
async fn default_options_follow_the_socket(node: &NodeInfo, cfg: &SandboxConfig) {
    let mut direct = Conn::new(default_opts("127.0.0.1", node.port, cfg))
        .await
        .expect("direct connection");
    let host = seen_host(&mut direct).await;
    assert_eq!(
        host, "localhost",
        "mysql_async with default options reconnected to {}'s socket",
        node.id
    );
    direct.disconnect().await.expect("disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_mysql_async_options_stay_on_the_proxy() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let cfg = cluster.config().clone();
    default_options_follow_the_socket(cluster.primary(), &cfg).await;
    let proxy = Proxy::start(&cluster).await;

    let mut conn = Conn::new(default_opts("127.0.0.1", proxy.addr.port(), &cfg))
        .await
        .expect("connects through the proxy");
    // Only the proxy knows this variable and this id.
    conn.query_drop("SET myquorum_consistency='STRONG'")
        .await
        .expect("the proxy's own variable: the connection is the proxy's");
    let registry = proxy.handle.context().registry();
    assert!(
        registry.get(conn.id()).is_some(),
        "the driver's connection id {} is a proxy session",
        conn.id()
    );
    let host = seen_host(&mut conn).await;
    assert_ne!(host, "localhost", "the backend sees the proxy over TCP");

    // The select-list form keeps the server's column name; every form is NULL.
    let mut result = conn
        .query_iter("SELECT @@socket, @@max_allowed_packet")
        .await
        .expect("SELECT @@socket");
    let name = result.columns().expect("columns")[0]
        .name_str()
        .into_owned();
    let rows: Vec<Row> = result.collect().await.expect("rows");
    assert_eq!(name, "@@socket");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], mysql_async::Value::NULL, "@@socket is NULL");
    for (sql, want) in [
        ("SELECT @@GLOBAL.socket", None),
        ("SELECT @@socket IS NULL", Some("1")),
        ("SELECT COALESCE(@@global.`socket`, 'none')", Some("none")),
    ] {
        let v: Option<Option<String>> = conn.query_first(sql).await.expect(sql);
        assert_eq!(v, Some(want.map(str::to_owned)), "{sql}");
    }
    let prepared: Option<(Option<String>, u32)> = conn
        .exec_first("SELECT @@socket, ?", (7u32,))
        .await
        .expect("prepared");
    assert_eq!(prepared, Some((None, 7)), "prepared @@socket is NULL");

    // A string that spells it is the client's data.
    let literal: Option<String> = conn
        .query_first("SELECT '@@socket' /* @@socket */")
        .await
        .expect("literal");
    assert_eq!(literal.as_deref(), Some("@@socket"));

    // Writes go through the proxy to the primary and are read back at STRONG.
    conn.query_drop("CREATE TABLE socket_t (id INT PRIMARY KEY)")
        .await
        .expect("create");
    conn.query_drop("INSERT INTO socket_t VALUES (1)")
        .await
        .expect("insert");
    let n: Option<u32> = conn
        .query_first("SELECT COUNT(*) FROM socket_t")
        .await
        .expect("count");
    assert_eq!(n, Some(1));
    conn.disconnect().await.expect("disconnect");
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}
