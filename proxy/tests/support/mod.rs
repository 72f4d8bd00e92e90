//! Test support shared by the proxy's integration tests: a proxy on a free port in front of
//! a sandbox cluster, and a raw protocol client for bytes no driver sends.
#![allow(dead_code)]

use myquorum_proxy::packet::{parse_err, PacketIo};
use myquorum_proxy::{BackendNode, ProxyConfig, UserConfig};
use myquorum_sandbox::Cluster;
use mysql_common::constants::CapabilityFlags;
use mysql_common::scramble::scramble_native;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A proxy started on a free port for one test, with its shared state at hand.
pub struct Proxy {
    pub addr: SocketAddr,
    /// The running proxy (cluster state, quorum tracker, registry...).
    pub handle: myquorum_proxy::Proxy,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), myquorum_proxy::ProxyError>>,
}

/// The configuration every proxy test starts from: the cluster's nodes, its app user, the
/// sandbox's control user, its primary, a short shutdown grace.
pub fn proxy_config(cluster: &Cluster) -> ProxyConfig {
    let cfg = cluster.config();
    ProxyConfig {
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
        control_user: cfg.control_user.clone(),
        control_password: cfg.control_password.clone(),
        shutdown_grace_ms: 2_000,
        ..ProxyConfig::default()
    }
}

impl Proxy {
    /// A proxy with the fixture's configuration ([`proxy_config`]).
    pub async fn start(cluster: &Cluster) -> Proxy {
        Self::start_with(proxy_config(cluster)).await
    }

    /// A proxy with its own configuration.
    pub async fn start_with(config: ProxyConfig) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handle = myquorum_proxy::Proxy::start(config)
            .await
            .expect("proxy starts");
        let (tx, rx) = oneshot::channel::<()>();
        let serving = handle.clone();
        let task = tokio::spawn(async move {
            serving
                .serve_mysql(listener, async move {
                    let _ = rx.await;
                })
                .await
        });
        Proxy {
            addr,
            handle,
            stop: Some(tx),
            task,
        }
    }

    /// A mysql_async connection through the proxy as the app user.
    pub async fn conn(&self) -> mysql_async::Conn {
        mysql_async::Conn::new(self.opts())
            .await
            .expect("connect through proxy")
    }

    pub fn opts(&self) -> mysql_async::Opts {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.addr.port())
            .user(Some("app"))
            .pass(Some("app"))
            .db_name(Some("app"))
            .prefer_socket(false)
            .into()
    }

    pub async fn stop(mut self) {
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
pub async fn raw_login(addr: SocketAddr) -> PacketIo {
    raw_login_as(addr, "app", "app").await
}

/// A raw client logged in as `user` (mysql_native_password), without CLIENT_DEPRECATE_EOF, so
/// result sets come EOF-framed.
pub async fn raw_login_as(addr: SocketAddr, user: &str, password: &str) -> PacketIo {
    let mut io = PacketIo::new(TcpStream::connect(addr).await.expect("connect"));
    let greeting = io.read_packet(1 << 20).await.expect("greeting");
    let scramble =
        scramble_native(&nonce_of(&greeting.payload), password.as_bytes()).expect("scramble");
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
    resp.extend_from_slice(user.as_bytes());
    resp.push(0);
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
pub fn nonce_of(payload: &[u8]) -> Vec<u8> {
    use mysql_common::proto::MyDeserialize;
    mysql_common::packets::HandshakePacket::deserialize(
        (),
        &mut mysql_common::io::ParseBuf(payload),
    )
    .expect("greeting parses")
    .nonce()
}
