//! The front door's limits (issue 15), against a real 4-node cluster: the login deadline,
//! the connection caps, the failed-login throttle, the idle and write timeouts and TCP
//! keepalive. No test asserts how long anything took: each polls for the outcome under a
//! generous bound.

mod support;

use std::future::Future;
use std::time::Duration;

use myquorum_proxy::packet::{parse_err, PacketIo, ReadError};
use myquorum_proxy::{LimitsConfig, ProxyConfig, UserConfig};
use myquorum_sandbox::{root_conn, Cluster};
use mysql_async::prelude::Queryable;
use support::{proxy_config, raw_login, raw_login_answer, Proxy};
use tokio::net::TcpStream;

/// Bound on every poll: far beyond what any outcome needs, so only a real failure hits it.
const PATIENCE: Duration = Duration::from_secs(120);

/// Polls `check` until it holds, panicking with `what` after [`PATIENCE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn with_limits(cluster: &Cluster, limits: LimitsConfig) -> ProxyConfig {
    ProxyConfig {
        limits,
        ..proxy_config(cluster)
    }
}

/// The server error a mysql_async connection attempt ended with: (code, SQLSTATE).
fn server_error(e: mysql_async::Error) -> (u16, String) {
    match e {
        mysql_async::Error::Server(e) => (e.code, e.state),
        other => panic!("expected a server error, got {other}"),
    }
}

/// The first packet a new connection receives, as (code, SQLSTATE) when it is an ERR.
async fn first_packet_error(proxy: &Proxy) -> Option<(u16, String)> {
    let mut io = PacketIo::new(TcpStream::connect(proxy.addr).await.expect("connect"));
    let first = io.read_packet(1 << 20).await.expect("first packet");
    parse_err(&first.payload).map(|(code, state, _)| (code, state))
}

/// 5,000 connections that never answer the greeting: the proxy serves a normal client while
/// they are held, and closes every one of them at the login deadline (its count of open
/// client sockets returns to zero, and each idle client reads EOF) although the clients
/// themselves never hang up. The test process's fd limit (20,000 here) covers both ends of
/// 5,000 loopback connections; no rlimit change is needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_logins_are_closed_at_the_deadline_while_others_are_served() {
    const SILENT: usize = 5_000;
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let proxy = Proxy::start_with(with_limits(
        &cluster,
        LimitsConfig {
            handshake_timeout_ms: 10_000,
            ..LimitsConfig::default()
        },
    ))
    .await;
    let limits = || proxy.handle.context().limits();
    let mut silent = Vec::with_capacity(SILENT);
    for _ in 0..SILENT {
        silent.push(TcpStream::connect(proxy.addr).await.expect("connect"));
    }
    eventually("every silent login is counted", || async {
        limits().open_clients() >= SILENT
    })
    .await;

    let mut c = proxy.conn().await;
    let one: Option<i64> = c.query_first("SELECT 1").await.expect("served meanwhile");
    assert_eq!(one, Some(1));
    c.disconnect().await.expect("disconnect");

    eventually("the silent logins are released", || async {
        limits().open_clients() == 0
    })
    .await;
    // Each silent client got its greeting, then EOF: the proxy hung up, not the client.
    for stream in silent {
        let mut io = PacketIo::new(stream);
        io.read_packet(1 << 20).await.expect("the greeting");
        assert!(matches!(
            io.read_packet(1 << 20).await,
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof
        ));
    }
    proxy.stop().await;
}

/// Over `max_client_connections` a new client gets 1040 (08004) in place of the greeting;
/// over `max_user_connections` a login gets 1203 (42000); a slot freed is usable again and the
/// proxy goes on serving. Repeated failed logins from one IP are refused with 1129 once its
/// allowance is spent, even with the right password (no guess is checked any more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_caps_and_the_login_throttle() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let mut config = with_limits(
        &cluster,
        LimitsConfig {
            max_client_connections: 4,
            max_user_connections: 2,
            ..LimitsConfig::default()
        },
    );
    // A second account that exists on the servers: the sandbox's control user.
    config.users.push(UserConfig {
        name: config.control_user.as_str().into(),
        password: config.control_password.as_str().into(),
        ..UserConfig::default()
    });
    let control = config.users[1].clone();
    let proxy = Proxy::start_with(config).await;
    let limits = || proxy.handle.context().limits();
    let as_control = || {
        mysql_async::OptsBuilder::from_opts(proxy.opts())
            .user(Some(control.name.to_string()))
            .pass(Some(control.password.to_string()))
            .db_name(None::<String>)
    };

    let a1 = proxy.conn().await;
    let a2 = proxy.conn().await;
    let refused = mysql_async::Conn::new(proxy.opts())
        .await
        .expect_err("a third app session");
    assert_eq!(server_error(refused), (1203, "42000".to_owned()));
    eventually("the refused login's socket is released", || async {
        limits().open_clients() == 2
    })
    .await;
    let c1 = mysql_async::Conn::new(as_control())
        .await
        .expect("control 1");
    let mut c2 = mysql_async::Conn::new(as_control())
        .await
        .expect("control 2");
    assert_eq!(
        first_packet_error(&proxy).await,
        Some((1040, "08004".to_owned()))
    );
    let one: Option<i64> = c2.query_first("SELECT 1").await.expect("still served");
    assert_eq!(one, Some(1));
    a1.disconnect().await.expect("disconnect");
    eventually("a freed slot admits a new client", || async {
        limits().open_clients() < 4
    })
    .await;
    let mut a3 = proxy.conn().await;
    let one: Option<i64> = a3.query_first("SELECT 1").await.expect("served");
    assert_eq!(one, Some(1));
    for c in [a2, c1, c2, a3] {
        c.disconnect().await.expect("disconnect");
    }
    proxy.stop().await;

    let proxy = Proxy::start_with(with_limits(
        &cluster,
        LimitsConfig {
            login_failures_burst: 2,
            login_failures_per_minute: 1,
            ..LimitsConfig::default()
        },
    ))
    .await;
    // Greeted before the failures: its login arrives once the allowance is spent.
    let mut early = PacketIo::new(TcpStream::connect(proxy.addr).await.expect("connect"));
    let greeting = early.read_packet(1 << 20).await.expect("greeting");
    let wrong = || mysql_async::OptsBuilder::from_opts(proxy.opts()).pass(Some("not-the-password"));
    for _ in 0..2 {
        let e = mysql_async::Conn::new(wrong()).await.expect_err("wrong");
        assert_eq!(server_error(e).0, 1045);
    }
    // The right password, but the IP is out of attempts: it is not checked.
    let answer = raw_login_answer(&mut early, &greeting.payload, "app", "app").await;
    let (code, state, _) = parse_err(&answer).expect("an ERR packet");
    assert_eq!((code, state.as_str()), (1129, "HY000"));
    // New connections are refused in place of the greeting.
    assert_eq!(
        first_packet_error(&proxy).await,
        Some((1129, "HY000".to_owned()))
    );
    proxy.stop().await;
}

/// An idle client is closed at the idle timeout without a word (MariaDB 10.11 sends nothing
/// at `wait_timeout`; checked by hand: the socket just closes). A client that sends a query
/// whose answer it never reads is closed at the write timeout, and the backend connection in
/// the middle of that answer is closed, not pooled: its server thread goes away. Client and
/// backend sockets have TCP keepalive on (the kernel's keepalive timer runs on them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_unread_clients_are_closed_and_sockets_keep_alive() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let proxy = Proxy::start_with(with_limits(
        &cluster,
        LimitsConfig {
            client_idle_timeout_secs: 1,
            tcp_keepalive_secs: 30,
            ..LimitsConfig::default()
        },
    ))
    .await;
    let registry = || proxy.handle.context().registry();

    // Keepalive: the proxy's end of a client socket, and its backend socket to the primary.
    let client = raw_login(proxy.addr).await;
    let client_port = client.stream().local_addr().expect("addr").port();
    eventually("the client socket's keepalive timer runs", || async {
        keepalive_timer(proxy.addr.port(), client_port) == Some(true)
    })
    .await;
    let mut root = root_conn(cluster.primary()).await.expect("root");
    let host: String = root
        .query_first("SELECT HOST FROM information_schema.PROCESSLIST WHERE USER = 'app'")
        .await
        .expect("processlist")
        .expect("the session's backend connection");
    let backend_port = host
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("host:port");
    eventually("the backend socket's keepalive timer runs", || async {
        keepalive_timer(backend_port, cluster.primary().port) == Some(true)
    })
    .await;

    // Idle: closed without an error packet.
    let mut idle = client;
    assert!(matches!(
        idle.read_packet(1 << 20).await,
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof
    ));
    eventually("the idle session is gone", || async {
        registry().snapshot().is_empty()
    })
    .await;

    proxy.stop().await;

    // Never reads: a large answer the client leaves in the socket (a proxy whose idle
    // timeout is the default, so only the write timeout can end the session). STRONG runs the
    // read on the primary, whose connection the registry names.
    let proxy = Proxy::start_with(with_limits(
        &cluster,
        LimitsConfig {
            client_write_timeout_ms: 1_000,
            ..LimitsConfig::default()
        },
    ))
    .await;
    let registry = || proxy.handle.context().registry();
    let mut deaf = raw_login(proxy.addr).await;
    let thread = registry()
        .snapshot()
        .first()
        .and_then(|s| s.backend.clone())
        .map(|(_, thread)| thread)
        .expect("the session's backend thread");
    deaf.send_packet(
        0,
        b"\x03/* myquorum:consistency=STRONG */ SELECT REPEAT('x', 1000000) FROM app.seq_1_to_300",
    )
    .await
    .expect("query sent");
    let first = deaf.read_packet(1 << 20).await.expect("the answer starts");
    assert_eq!(
        first.payload[..],
        [1],
        "one column, got {:?}",
        parse_err(&first.payload)
    );
    eventually("the unread session is closed", || async {
        registry().snapshot().is_empty()
    })
    .await;
    // Its backend connection is closed, not pooled: the server thread goes away.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let n: Option<i64> = root
            .query_first(format!(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {thread}"
            ))
            .await
            .expect("processlist");
        if n == Some(0) {
            break;
        }

        assert!(
            tokio::time::Instant::now() < deadline,
            "never: the unread answer's backend thread is gone"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(deaf);
    root.disconnect().await.expect("disconnect");
    proxy.stop().await;
}

/// Whether the established IPv4 socket from local port `local` to remote port `remote` has
/// its keepalive timer running (`/proc/net/tcp` timer 2); None when no such socket exists.
fn keepalive_timer(local: u16, remote: u16) -> Option<bool> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = |f: &str| {
            f.rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
        };
        let established = fields.get(3) == Some(&"01");
        (established && port(fields.get(1)?) == Some(local) && port(fields.get(2)?) == Some(remote))
            .then(|| fields.get(5).is_some_and(|t| t.starts_with("02:")))
    })
}
