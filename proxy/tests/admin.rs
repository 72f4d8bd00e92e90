//! Cluster-tier tests of the admin SQL port: a proxy over a real 2-node sandbox cluster, its
//! MySQL port and its admin port on free loopback ports, driven by mysql_async and by the
//! real `mariadb` CLI.

mod support;
use support::Ports;

use myquorum_proxy::packet::{parse_err, PacketIo};
use myquorum_proxy::{ProxyConfig, UserConfig};
use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row};
use std::net::SocketAddr;
use std::time::Duration;

/// A second admin account whose password must never appear in `SHOW CONFIG`.
const OPS_PASSWORD: &str = "ops-Secret-42";

/// Both ports of a proxy over `cluster` with the admin accounts of these tests, its
/// configuration changed by `adjust`.
async fn start_ports(cluster: &Cluster, adjust: impl FnOnce(&mut ProxyConfig)) -> Ports {
    let mut config = ProxyConfig {
        admin_users: vec![
            UserConfig {
                name: "admin".into(),
                password: "admin".into(),
                require_ssl: false,
            },
            UserConfig {
                name: "ops".into(),
                password: OPS_PASSWORD.into(),
                require_ssl: false,
            },
        ],
        ..support::proxy_config(cluster)
    };
    adjust(&mut config);
    Ports::start(config).await
}

fn opts(addr: SocketAddr, user: &str, pass: &str, db: Option<&str>) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(addr.port())
        .user(Some(user))
        .pass(Some(pass))
        .db_name(db)
        .prefer_socket(false)
        .into()
}

async fn app(ports: &Ports) -> Conn {
    Conn::new(opts(ports.mysql, "app", "app", Some("app")))
        .await
        .expect("app connects through the MySQL port")
}

async fn admin(ports: &Ports) -> Conn {
    Conn::new(opts(ports.admin, "admin", "admin", None))
        .await
        .expect("admin connects to the admin port")
}

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// Proves the admin port end to end: a wrong password is refused with 1045; SHOW BACKENDS
/// lists both nodes with their roles, `up`, and the primary's connection held by an app
/// client as `busy`; SHOW SESSIONS shows that client under the id its driver reports and
/// user `app`; SHOW CONFIG has `primary` and no password; an unsupported statement gets 1235
/// and the connection goes on; the app client's row disappears when it leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_port_reports_backends_sessions_and_config() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    // Sessions keep their connections between statements (no statement multiplexing), so
    // the app client's primary connection shows as busy.
    let ports = start_ports(&cluster, |c| c.pool.multiplex_statements = false).await;
    let primary = cluster.primary().id.clone();
    let replica = cluster.replicas()[0].id.clone();

    let refused = Conn::new(opts(ports.admin, "admin", "wrong", None))
        .await
        .expect_err("a wrong admin password is refused");
    assert_eq!(server_code(&refused), Some(1045), "{refused:?}");

    let mut app = app(&ports).await;
    let one: Option<i64> = app.query_first("SELECT 1").await.expect("SELECT 1");
    assert_eq!(one, Some(1));
    let mut admin = admin(&ports).await;

    let backends: Vec<(String, String, String, String, u64, u64)> =
        admin.query("SHOW BACKENDS").await.expect("SHOW BACKENDS");
    assert_eq!(backends.len(), 2, "{backends:?}");
    for (node, address, role, state, _pooled, busy) in &backends {
        let info = cluster
            .nodes()
            .iter()
            .find(|n| &n.id == node)
            .expect("a configured node");
        assert_eq!(address, &info.addr());
        assert_eq!(state, "up", "{node}");
        if node == &primary {
            assert_eq!(role, "primary");
            assert_eq!(*busy, 1, "the app client holds one primary connection");
        } else {
            assert_eq!(node, &replica);
            assert_eq!(role, "replica");
            assert_eq!(*busy, 0);
        }
    }

    let sessions: Vec<Row> = admin.query("show sessions;").await.expect("SHOW SESSIONS");
    let mine = sessions
        .iter()
        .find(|r| r.get::<u32, _>("id") == Some(app.id()))
        .unwrap_or_else(|| panic!("session {} listed in {sessions:?}", app.id()));
    assert_eq!(mine.get::<String, _>("user").as_deref(), Some("app"));
    assert_eq!(
        mine.get::<Option<String>, _>("backend_node"),
        Some(Some(primary.clone()))
    );
    assert!(mine
        .get::<Option<u32>, _>("backend_thread_id")
        .is_some_and(|t| t.is_some()));
    assert_eq!(mine.get::<Option<String>, _>("pin_reason"), Some(None));

    let config: Vec<(String, Option<String>)> =
        admin.query("  SHOW   CONFIG ").await.expect("SHOW CONFIG");
    assert!(
        config
            .iter()
            .any(|(k, v)| k == "primary" && v.as_deref() == Some(primary.as_str())),
        "{config:?}"
    );
    for (k, v) in &config {
        assert!(!k.contains("password"), "{k} shown");
        let v = v.as_deref().unwrap_or_default();
        assert!(!v.contains(OPS_PASSWORD), "{k} = {v} leaks a password");
    }

    let pool: Vec<(u64, u64, u64)> = admin.query("SHOW POOL").await.expect("SHOW POOL");
    assert!(pool.first().is_some_and(|(opened, _, _)| *opened >= 1));

    let unsupported = admin
        .query_drop("SHOW TABLES")
        .await
        .expect_err("SHOW TABLES is not an admin statement");
    assert_eq!(server_code(&unsupported), Some(1235), "{unsupported:?}");
    let comment: Option<String> = admin
        .query_first("SELECT @@version_comment LIMIT 1")
        .await
        .expect("the connection goes on");
    assert_eq!(comment.as_deref(), Some("myquorum admin"));
    admin.ping().await.expect("COM_PING");

    let app_id = app.id();
    app.disconnect().await.expect("app disconnects");
    let mut gone = false;
    for _ in 0..50 {
        let rows: Vec<Row> = admin.query("SHOW SESSIONS").await.expect("SHOW SESSIONS");
        if !rows.iter().any(|r| r.get::<u32, _>("id") == Some(app_id)) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "session {app_id} still listed after disconnect");

    admin.disconnect().await.expect("admin disconnects");
    ports.stop().await;
}

/// Proves the real `mariadb` CLI can use the admin port (its connect-time chatter is answered
/// and `-e "SHOW BACKENDS"` prints the nodes); that a client without CLIENT_DEPRECATE_EOF gets
/// EOF-framed results, OK to COM_INIT_DB, and 1047 for an unknown command byte without
/// losing its connection; and that shutdown tells an idle admin client 1053.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_classic_client_and_shutdown() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let ports = start_ports(&cluster, |_| {}).await;
    let port = ports.admin.port().to_string();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("mariadb")
            .args([
                "--no-defaults",
                "-h127.0.0.1",
                &format!("-P{port}"),
                "-uadmin",
                "-padmin",
                "-e",
                "SHOW BACKENDS",
            ])
            .output()
    })
    .await
    .expect("join")
    .expect("the mariadb CLI runs (is it installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "mariadb exited with {}: {stderr}",
        output.status
    );
    assert!(stdout.contains("instance-1"), "stdout: {stdout}");
    assert!(stdout.contains("primary"), "stdout: {stdout}");

    let mut raw = support::raw_login_as(ports.admin, "admin", "admin").await;
    let answer = command(&mut raw, &[0x02, b'x']).await;
    assert_eq!(answer[0][0], 0x00, "COM_INIT_DB is OK");
    let answer = command(&mut raw, &[0x09]).await;
    let (code, _, message) = parse_err(&answer[0]).expect("an ERR");
    assert_eq!(code, 1047);
    assert!(message.contains("COM_STATISTICS"), "{message}");
    let answer = command(&mut raw, b"\x03SHOW POOL").await;
    // count, 3 column definitions, EOF, 1 row, EOF.
    assert_eq!(answer.len(), 7, "{answer:?}");
    assert_eq!(answer[0], vec![3]);
    assert_eq!(answer[4][0], 0xFE);
    assert_eq!(answer[6][0], 0xFE);
    assert_eq!(answer[6].len(), 5, "an EOF packet, not an OK");

    ports.stop().await;
    let last = raw.read_packet(1 << 20).await.expect("a last packet");
    assert_eq!(parse_err(&last.payload).map(|e| e.0), Some(1053));
}

/// Sends one command and reads its whole answer: one packet for OK/ERR, or a classic
/// (EOF-framed) result set.
async fn command(io: &mut PacketIo, payload: &[u8]) -> Vec<Vec<u8>> {
    io.send_packet(0, payload).await.expect("send command");
    let mut packets = Vec::new();
    let mut eofs = 0;
    loop {
        let p = io
            .read_packet(1 << 20)
            .await
            .expect("answer")
            .payload
            .to_vec();
        let first = p[0];
        let single = packets.is_empty() && matches!(first, 0x00 | 0xFF);
        if first == 0xFE && p.len() < 9 {
            eofs += 1;
        }
        packets.push(p);
        if single || eofs == 2 {
            return packets;
        }
    }
}

/// An admin client idle past `client_idle_timeout_secs` is closed without a word, as on the
/// MySQL port (issue 15: no idle timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_admin_client_is_closed() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let ports = start_ports(&cluster, |c| c.limits.client_idle_timeout_secs = 1).await;
    let mut raw = support::raw_login_as(ports.admin, "admin", "admin").await;
    let answer = command(&mut raw, b"\x03SHOW POOL").await;
    assert!(!answer.is_empty(), "the admin port answers");
    let closed = tokio::time::timeout(Duration::from_secs(60), raw.read_packet(1 << 20))
        .await
        .expect("closed within the bound");
    assert!(closed.is_err(), "EOF, no packet: {closed:?}");
    ports.stop().await;
    cluster.stop().await.expect("cluster stops");
}
