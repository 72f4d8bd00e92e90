//! Protocol-tier tests: the proxy against a real 2-node sandbox cluster, driven by a raw
//! client (for bytes no driver sends) and by mysql_async. What they prove: bad input closes
//! only the offending connection, unsupported commands get a named error and the session goes
//! on, a dead backend gives a clean error and the proxy recovers when it returns, and shutdown
//! tells idle clients 1053 before closing.

use myquorum_proxy::packet::{parse_err, PacketIo};
use myquorum_proxy::{BackendNode, ProxyConfig, UserConfig};
use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use mysql_common::constants::CapabilityFlags;
use mysql_common::scramble::scramble_native;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A proxy started on a free port for one test.
struct Proxy {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), myquorum_proxy::ProxyError>>,
}

impl Proxy {
    async fn start(cluster: &Cluster) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cfg = cluster.config();
        let config = ProxyConfig {
            users: vec![UserConfig {
                name: cfg.app_user.clone(),
                password: cfg.app_password.clone(),
            }],
            nodes: cluster
                .nodes()
                .iter()
                .map(|n| BackendNode {
                    id: n.id.clone(),
                    addr: n.addr(),
                })
                .collect(),
            primary: cluster.primary().id.clone(),
            shutdown_grace_ms: 2_000,
            ..ProxyConfig::default()
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(myquorum_proxy::serve(listener, config, async move {
            let _ = rx.await;
        }));
        Proxy {
            addr,
            stop: Some(tx),
            task,
        }
    }

    fn opts(&self) -> mysql_async::Opts {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.addr.port())
            .user(Some("app"))
            .pass(Some("app"))
            .db_name(Some("app"))
            .prefer_socket(false)
            .into()
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("proxy stops within the grace period")
            .expect("proxy task did not panic");
        result.expect("serve returned Ok");
    }
}

/// A raw client: logs in with mysql_native_password and sends arbitrary commands.
async fn raw_login(addr: SocketAddr) -> PacketIo {
    let mut io = PacketIo::new(TcpStream::connect(addr).await.expect("connect"));
    let greeting = io.read_packet(1 << 20).await.expect("greeting");
    let scramble = scramble_native(&nonce_of(&greeting.payload), b"app").expect("scramble");
    let caps = CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_TRANSACTIONS;
    let mut resp = Vec::new();
    resp.extend_from_slice(&caps.bits().to_le_bytes());
    resp.extend_from_slice(&(1u32 << 24).to_le_bytes());
    resp.push(45);
    resp.extend_from_slice(&[0u8; 23]);
    resp.extend_from_slice(b"app\0");
    resp.push(20);
    resp.extend_from_slice(&scramble);
    resp.extend_from_slice(b"mysql_native_password\0");
    io.send_packet(1, &resp).await.expect("send login");
    let ok = io.read_packet(1 << 20).await.expect("login answer");
    assert_eq!(
        ok.payload[0],
        0x00,
        "login OK, got {:?}",
        parse_err(&ok.payload)
    );
    io
}

/// The 20-byte nonce of a server greeting.
fn nonce_of(payload: &[u8]) -> Vec<u8> {
    use mysql_common::proto::MyDeserialize;
    mysql_common::packets::HandshakePacket::deserialize(
        (),
        &mut mysql_common::io::ParseBuf(payload),
    )
    .expect("greeting parses")
    .nonce()
}

async fn select_one(proxy: &Proxy) -> i64 {
    let mut conn = mysql_async::Conn::new(proxy.opts())
        .await
        .expect("connect through proxy");
    let v: Option<i64> = conn.query_first("SELECT 1").await.expect("SELECT 1");
    conn.disconnect().await.expect("disconnect");
    v.expect("a row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_backend_death_are_contained() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let proxy = Proxy::start(&cluster).await;

    // A handshake response that is not one: only that connection closes.
    let mut io = PacketIo::new(TcpStream::connect(proxy.addr).await.expect("connect"));
    io.read_packet(1 << 20).await.expect("greeting");
    io.send_packet(1, &[1, 2, 3]).await.expect("send garbage");
    assert!(
        io.read_packet(1 << 20).await.is_err(),
        "malformed login closes the connection"
    );
    assert_eq!(select_one(&proxy).await, 1, "other clients are unaffected");

    // An unsupported command gets 1047 naming it, and the session goes on.
    let mut raw = raw_login(proxy.addr).await;
    raw.send_packet(0, &[0x12, 0, 0, 0, 0])
        .await
        .expect("send COM_BINLOG_DUMP");
    let err = raw.read_packet(1 << 20).await.expect("answer");
    let (code, state, message) = parse_err(&err.payload).expect("an ERR packet");
    assert_eq!((code, state.as_str()), (1047, "08S01"));
    assert!(message.contains("COM_BINLOG_DUMP"), "{message}");
    raw.send_packet(0, b"\x03SELECT 42")
        .await
        .expect("send query");
    let first = raw.read_packet(1 << 20).await.expect("result");
    assert_eq!(first.payload.as_ref(), &[1], "one column follows");

    // An empty command packet is a protocol violation: that connection closes.
    raw.send_packet(0, &[]).await.expect("send empty");
    let mut closed = false;
    for _ in 0..8 {
        if raw.read_packet(1 << 20).await.is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed, "empty command closes the connection");
    assert_eq!(select_one(&proxy).await, 1);

    // The primary dies under a running query: a clean 2013, no hang, no panic.
    let mut victim = mysql_async::Conn::new(proxy.opts()).await.expect("connect");
    let sleeper = tokio::spawn(async move {
        let r: Result<Option<i64>, _> = victim.query_first("SELECT SLEEP(60)").await;
        r
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster
        .kill_node(&cluster.primary().id)
        .await
        .expect("kill primary");
    let outcome = tokio::time::timeout(Duration::from_secs(30), sleeper)
        .await
        .expect("the client is answered, not left hanging")
        .expect("no panic");
    match outcome {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 2013, "{e:?}"),
        other => panic!("expected a 2013 server error, got {other:?}"),
    }
    // While it is down, a new client is refused with 2003 at login.
    match mysql_async::Conn::new(proxy.opts()).await {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 2003, "{e:?}"),
        other => panic!("expected 2003, got {:?}", other.map(|_| ())),
    }
    // It comes back: the proxy serves again without a restart.
    cluster
        .start_node(&cluster.primary().id)
        .await
        .expect("restart primary");
    assert_eq!(select_one(&proxy).await, 1);

    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_idle_clients_and_returns() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let proxy = Proxy::start(&cluster).await;
    let addr = proxy.addr;
    let mut raw = raw_login(addr).await;
    raw.send_packet(0, b"\x03DO 1").await.expect("query");
    let _ = raw.read_packet(1 << 20).await.expect("answer");
    proxy.stop().await;
    // The last packet before the close is the 1053 error.
    let mut saw_shutdown = false;
    while let Ok(p) = raw.read_packet(1 << 20).await {
        if let Some((code, _, _)) = parse_err(&p.payload) {
            saw_shutdown = code == 1053;
        }
    }
    assert!(saw_shutdown, "idle client told 1053 before the close");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
    cluster.stop().await.expect("cluster stops");
}
