//! Whatever id a client can learn through the proxy is one `KILL` through the proxy accepts
//! (issue 14 item 2), against a real 2-node cluster: `SELECT CONNECTION_ID()` is the
//! greeting's id with the server's column metadata, `KILL QUERY` interrupts a read running on
//! a replica, `KILL` ends the connection, an unknown id is 1094 and another user's session
//! 1095, as the server answers them.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use myquorum_proxy::UserConfig;
use myquorum_sandbox::{app_opts, Cluster};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use support::{proxy_config, root, Proxy};

/// The single column of `sql`'s result: (name, type, flags, length, org_name) and the value.
async fn column_and_value(conn: &mut Conn, sql: &str) -> ((String, u8, u16, u32, String), u64) {
    let mut result = conn.query_iter(sql).await.expect(sql);
    let column = result.columns().expect("a result set")[0].clone();
    let rows: Vec<u64> = result.collect().await.expect("rows");
    let meta = (
        column.name_str().into_owned(),
        column.column_type() as u8,
        column.flags().bits(),
        column.column_length(),
        column.org_name_str().into_owned(),
    );
    (meta, rows[0])
}

/// The server error code of `result`, or a panic naming what came instead.
fn code<T: std::fmt::Debug>(result: Result<T, mysql_async::Error>) -> u16 {
    match result {
        Err(mysql_async::Error::Server(e)) => e.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// PyMySQL: `conn.thread_id()` (the greeting's id) equals `SELECT CONNECTION_ID()`. The
/// venv's Python is `MYQUORUM_PYTHON`, else `<repo>/.venv/bin/python`; missing, it fails.
async fn python_thread_id_is_connection_id(proxy: &Proxy, cluster: &Cluster) {
    let cfg = cluster.config();
    let python = std::env::var_os("MYQUORUM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    assert!(
        python.exists(),
        "Python test venv missing at {}: run scripts/setup.sh (or set MYQUORUM_PYTHON)",
        python.display()
    );
    let script = format!(
        "import pymysql\n\
         c = pymysql.connect(host='127.0.0.1', port={}, user={:?}, password={:?}, database={:?})\n\
         cur = c.cursor(); cur.execute('SELECT CONNECTION_ID()'); (got,) = cur.fetchone()\n\
         assert got == c.thread_id(), (got, c.thread_id())\n\
         print('ok', got)\n",
        proxy.addr.port(),
        cfg.app_user,
        cfg.app_password,
        cfg.app_database
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg("-c")
            .arg(&script)
            .output()
    })
    .await
    .expect("the python task")
    .expect("python starts");
    assert!(
        output.status.success(),
        "PyMySQL check failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `CONNECTION_ID()` through the proxy is the greeting's id, typed and named as the server
/// types and names it; `KILL QUERY <that id>` from another connection interrupts a
/// `SELECT SLEEP(10)` running on a replica within a second or two (1317), `KILL <id>` ends
/// the connection, an unknown id gives 1094 and another user's session 1095.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_takes_the_id_connection_id_returns() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    root(
        cluster.primary(),
        "CREATE USER 'other'@'%' IDENTIFIED BY 'other-pw'",
    )
    .await;
    root(cluster.primary(), "GRANT ALL ON app.* TO 'other'@'%'").await;
    cluster
        .wait_replicated()
        .await
        .expect("the user reaches the replica");
    let mut config = proxy_config(&cluster);
    config.users.push(UserConfig {
        name: "other".into(),
        password: "other-pw".into(),
        ..UserConfig::default()
    });
    let proxy = Proxy::start_with(config).await;

    // CONNECTION_ID() is the greeting's id, with the server's column metadata.
    let mut a = proxy.conn().await;
    let mut direct = Conn::new(app_opts(cluster.primary(), cluster.config()))
        .await
        .expect("direct connection");
    for sql in [
        "SELECT CONNECTION_ID()",
        "select connection_id( ) AS `the id`;",
    ] {
        let (proxied, id) = column_and_value(&mut a, sql).await;
        let (server, server_id) = column_and_value(&mut direct, sql).await;
        assert_eq!(id, u64::from(a.id()), "{sql}: the greeting's id");
        assert_eq!(server_id, u64::from(direct.id()));
        assert_eq!(
            proxied, server,
            "{sql}: column metadata as the server sends it"
        );
    }
    direct.disconnect().await.expect("disconnect");

    // KILL QUERY reaches a read running on a replica.
    let a_id = a.id();
    a.query_drop("SET myquorum_consistency='EVENTUAL'")
        .await
        .expect("eventual");
    let sleeper = tokio::spawn(async move {
        let started = Instant::now();
        let result = a.query_drop("SELECT SLEEP(10)").await;
        (a, result, started.elapsed())
    });
    let registry = proxy.handle.context().registry();
    let deadline = Instant::now() + Duration::from_secs(5);
    let running = loop {
        if let Some(running) = registry.get(a_id).and_then(|s| s.running) {
            break running;
        }
        assert!(Instant::now() < deadline, "the SLEEP never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ne!(
        running.0,
        cluster.primary().id,
        "the read runs on a replica"
    );
    let mut b = proxy.conn().await;
    b.query_drop(format!("KILL QUERY {a_id}"))
        .await
        .expect("KILL QUERY by the id CONNECTION_ID() gave");
    let (mut a, result, took) = sleeper.await.expect("the sleeper task");
    assert_eq!(code(result), 1317, "query interrupted");
    assert!(
        took < Duration::from_secs(5),
        "interrupted promptly: {took:?}"
    );
    let alive: u32 = a
        .query_first("SELECT 1")
        .await
        .expect("alive")
        .expect("a row");
    assert_eq!(alive, 1, "KILL QUERY keeps the connection");

    // Unknown ids and other users' sessions are refused as the server refuses them.
    assert_eq!(code(b.query_drop("KILL 2000000000").await), 1094);
    let other_opts: Opts = OptsBuilder::from_opts(proxy.opts())
        .user(Some("other"))
        .pass(Some("other-pw"))
        .into();
    let mut other = Conn::new(other_opts)
        .await
        .expect("the other user connects");
    assert_eq!(code(other.query_drop(format!("KILL {a_id}")).await), 1095);
    assert_eq!(
        code(other.query_drop(format!("KILL QUERY {a_id}")).await),
        1095
    );
    other.disconnect().await.expect("disconnect");

    // KILL <id> ends the connection.
    b.query_drop(format!("KILL {a_id}"))
        .await
        .expect("KILL by the id CONNECTION_ID() gave");
    assert!(a.query_drop("SELECT 1").await.is_err(), "A is disconnected");
    let deadline = Instant::now() + Duration::from_secs(5);
    while registry.get(a_id).is_some() {
        assert!(
            Instant::now() < deadline,
            "the killed session stays registered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.disconnect().await.expect("disconnect");

    python_thread_id_is_connection_id(&proxy, &cluster).await;
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}
