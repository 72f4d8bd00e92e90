//! Cluster tests against real MariaDB servers started by the sandbox itself.

use std::path::Path;
use std::time::Instant;

use myquorum_sandbox::{app_opts, root_conn, Cluster, NodeInfo, Topology};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("myquorum_sandbox=info")
        .with_test_writer()
        .try_init();
}

async fn gtid_pos(node: &NodeInfo) -> String {
    let mut c = root_conn(node).await.expect("root conn");
    c.query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .expect("gtid")
        .unwrap_or_default()
}

/// Waits until `replica` has applied everything `primary` has logged.
async fn wait_caught_up(primary: &NodeInfo, replica: &NodeInfo) {
    let pos = gtid_pos(primary).await;
    let mut c = root_conn(replica).await.expect("root conn");
    let waited: Option<i64> = c
        .exec_first("SELECT MASTER_GTID_WAIT(?, 30)", (pos,))
        .await
        .expect("MASTER_GTID_WAIT");
    assert_eq!(
        waited,
        Some(0),
        "{} did not catch up with {}",
        replica.id,
        primary.id
    );
}

/// Processes whose command line mentions `dir`.
fn processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter_map(|e| {
            std::fs::read(e.path().join("cmdline"))
                .ok()
                .map(|c| (e.file_name(), c))
        })
        .filter(|(_, c)| String::from_utf8_lossy(c).contains(&needle) && !c.starts_with(b"/bin/sh"))
        .map(|(pid, c)| {
            format!(
                "{}: {}",
                pid.to_string_lossy(),
                String::from_utf8_lossy(&c).replace('\0', " ")
            )
        })
        .collect()
}

/// Proves the whole life cycle: a 3-node cluster comes up; an app-user write over TCP on the
/// primary reaches every replica; replicas are read-only, even for the app user (1290); stop()
/// leaves no process; a second start on the same work dir keeps the data and crowns the
/// persisted primary — also after the topology file names another primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_replicates_stops_and_restarts_with_persisted_topology() {
    init_tracing();
    let t = Instant::now();
    let cluster = Cluster::start_for_tests(3).await.expect("cluster starts");
    eprintln!("start_for_tests(3) took {:?}", t.elapsed());
    let cfg = cluster.config().clone();
    assert_eq!(cluster.primary().id, "instance-1");
    assert_eq!(cluster.replicas().len(), 2);
    assert_eq!(cluster.epoch(), 1);

    let mut app = Conn::new(app_opts(cluster.primary(), &cfg))
        .await
        .expect("app user logs in over TCP");
    app.query_drop("INSERT INTO users (name, email) VALUES ('ada', 'ada@example.com')")
        .await
        .expect("insert");
    for replica in cluster.replicas() {
        wait_caught_up(cluster.primary(), replica).await;
        let mut r = Conn::new(app_opts(replica, &cfg))
            .await
            .expect("app user on replica");
        let name: Option<String> = r
            .query_first("SELECT name FROM users WHERE email='ada@example.com'")
            .await
            .expect("select");
        assert_eq!(name.as_deref(), Some("ada"), "row reached {}", replica.id);
        let ro: Option<i64> = r
            .query_first("SELECT @@read_only")
            .await
            .expect("read_only");
        assert_eq!(ro, Some(1), "{} is read-only", replica.id);
        let err = r
            .query_drop("INSERT INTO users (name) VALUES ('nope')")
            .await
            .expect_err("write on replica");
        match err {
            mysql_async::Error::Server(e) => assert_eq!(e.code, 1290, "{e}"),
            other => panic!("expected ER_OPTION_PREVENTS_STATEMENT, got {other}"),
        }
    }
    drop(app);

    // node.cnf is in force (not Debian's my.cnf), and the control user logs in over TCP.
    let mut root = root_conn(cluster.primary()).await.expect("root");
    let settings: Option<(String, String, i64, i64, i64, i64)> = root
        .query_first(
            "SELECT @@character_set_server, @@collation_server, @@slave_parallel_threads, \
             @@gtid_strict_mode, @@log_bin, @@port",
        )
        .await
        .expect("settings");
    let port = i64::from(cluster.primary().port);
    assert_eq!(
        settings,
        Some((
            "utf8mb4".into(),
            "utf8mb4_general_ci".into(),
            32,
            1,
            1,
            port
        ))
    );
    let control = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(cluster.replicas()[0].port)
        .user(Some(cfg.control_user.clone()))
        .pass(Some(cfg.control_password.clone()))
        .prefer_socket(false);
    let mut control = Conn::new(control)
        .await
        .expect("control user logs in over TCP");
    control
        .query_drop("SHOW SLAVE STATUS")
        .await
        .expect("control user monitors replication");
    drop((root, control));

    cluster.stop().await.expect("stop");
    let left = processes_under(&cfg.work_dir);
    assert!(left.is_empty(), "processes left after stop: {left:#?}");

    // Restart on the same data: no re-bootstrap, same primary, data kept.
    let again = Cluster::start(cfg.clone()).await.expect("restart");
    assert_eq!(again.primary().id, "instance-1");
    let mut app = Conn::new(app_opts(again.primary(), &cfg))
        .await
        .expect("app user");
    let n: Option<i64> = app
        .query_first("SELECT COUNT(*) FROM users")
        .await
        .expect("count");
    assert_eq!(n, Some(1), "data kept, bootstrap not redone");
    drop(app);
    again.stop().await.expect("stop again");

    // A failover recorded in topology.json is honoured: instance-2 is crowned, not instance-1.
    let mut topo = Topology::load(&cfg.work_dir)
        .expect("load")
        .expect("topology exists");
    topo.primary = "instance-2".into();
    topo.epoch = 2;
    topo.save(&cfg.work_dir).expect("save");
    let failed_over = Cluster::start(cfg.clone())
        .await
        .expect("restart after failover");
    assert_eq!(
        (failed_over.primary().id.as_str(), failed_over.epoch()),
        ("instance-2", 2)
    );
    let mut app = Conn::new(app_opts(failed_over.primary(), &cfg))
        .await
        .expect("app user on new primary");
    app.query_drop("INSERT INTO users (name, email) VALUES ('bob', 'bob@example.com')")
        .await
        .expect("insert");
    let old = &failed_over.nodes()[0];
    wait_caught_up(failed_over.primary(), old).await;
    let mut r = Conn::new(app_opts(old, &cfg))
        .await
        .expect("app user on old primary");
    let n: Option<i64> = r
        .query_first("SELECT COUNT(*) FROM users")
        .await
        .expect("count");
    assert_eq!(n, Some(2), "old primary replicates from the new one");
    drop((app, r));
    failed_over.stop().await.expect("final stop");
    assert!(processes_under(&cfg.work_dir).is_empty());
}

/// Proves kill_node / start_node: a replica killed with SIGKILL comes back on the same port
/// with its data and catches up with writes made while it was down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_replica_restarts_and_catches_up() {
    init_tracing();
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let cfg = cluster.config().clone();
    let replica = cluster.replicas()[0].clone();
    cluster.kill_node(&replica.id).await.expect("kill");
    assert!(
        Conn::new(app_opts(&replica, &cfg)).await.is_err(),
        "killed node refuses connections"
    );
    let mut app = Conn::new(app_opts(cluster.primary(), &cfg))
        .await
        .expect("app");
    app.query_drop("INSERT INTO products (name, price, stock) VALUES ('pen', 1.50, 10)")
        .await
        .expect("insert");
    cluster.start_node(&replica.id).await.expect("restart node");
    wait_caught_up(cluster.primary(), &replica).await;
    let mut r = Conn::new(app_opts(&replica, &cfg))
        .await
        .expect("app on replica");
    let stock: Option<i64> = r
        .query_first("SELECT stock FROM products WHERE name='pen'")
        .await
        .expect("select");
    assert_eq!(stock, Some(10));
    drop((app, r));
    cluster.stop().await.expect("stop");
}

/// Proves the reaping of a killed `myquorum up`: servers left running (their Cluster was
/// leaked, as if the process had died) are stopped by the next start on the same work dir,
/// which then comes up on the same ports; and `fresh` wipes the data and bootstraps again
/// (building the work dir's own template).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reaps_leftover_servers_and_fresh_wipes() {
    init_tracing();
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let cfg = cluster.config().clone();
    let mut app = Conn::new(app_opts(cluster.primary(), &cfg))
        .await
        .expect("app");
    app.query_drop("INSERT INTO users (name, email) VALUES ('x', 'x@example.com')")
        .await
        .expect("insert");
    drop(app);
    let leftover = processes_under(&cfg.work_dir);
    assert_eq!(leftover.len(), 2, "{leftover:#?}");
    std::mem::forget(cluster); // the "killed" run: no stop, no Drop (its watchdog stays armed)

    let again = Cluster::start(cfg.clone())
        .await
        .expect("start reaps the leftovers");
    let mut app = Conn::new(app_opts(again.primary(), &cfg))
        .await
        .expect("app");
    let n: Option<i64> = app
        .query_first("SELECT COUNT(*) FROM users")
        .await
        .expect("count");
    assert_eq!(n, Some(1));
    drop(app);
    again.stop().await.expect("stop");

    let fresh = Cluster::start(myquorum_sandbox::SandboxConfig {
        fresh: true,
        ..cfg.clone()
    })
    .await
    .expect("fresh start");
    assert!(
        cfg.work_dir.join("template/data").is_dir(),
        "work dir has its own template"
    );
    let mut app = Conn::new(app_opts(fresh.primary(), &cfg))
        .await
        .expect("app");
    let n: Option<i64> = app
        .query_first("SELECT COUNT(*) FROM users")
        .await
        .expect("count");
    assert_eq!(n, Some(0), "fresh wiped the data");
    drop(app);
    fresh.stop().await.expect("stop");
    assert!(processes_under(&cfg.work_dir).is_empty());
}
