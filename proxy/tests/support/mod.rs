//! Test support of the proxy's integration tests: the shared proxy fixture (from
//! `myquorum_sandbox::testing`), and a raw protocol client for bytes no driver sends.
#![allow(dead_code)]

use myquorum_proxy::admin::serve_admin;
use myquorum_proxy::packet::{parse_err, PacketIo};
use myquorum_proxy::{ProxyConfig, ProxyError};
use mysql_common::constants::CapabilityFlags;
use mysql_common::scramble::scramble_native;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

// The proxy fixture and its configuration are shared with the other test crates (each test
// binary uses some of them).
#[allow(unused_imports)]
pub use myquorum_sandbox::testing::{proxy_config, root, TestProxy as Proxy};

/// A raw client: logs in with mysql_native_password and sends arbitrary commands.
pub async fn raw_login(addr: SocketAddr) -> PacketIo {
    raw_login_as(addr, "app", "app").await
}

/// A raw client logged in as `user` (mysql_native_password), without CLIENT_DEPRECATE_EOF, so
/// result sets come EOF-framed.
pub async fn raw_login_as(addr: SocketAddr, user: &str, password: &str) -> PacketIo {
    raw_login_with(addr, user, password, CapabilityFlags::empty()).await
}

/// A raw client logged in as `user` that also asks for the capabilities in `extra` (say
/// CLIENT_DEPRECATE_EOF), to compare framings the default raw client does not negotiate.
pub async fn raw_login_with(
    addr: SocketAddr,
    user: &str,
    password: &str,
    extra: CapabilityFlags,
) -> PacketIo {
    let mut io = PacketIo::new(TcpStream::connect(addr).await.expect("connect"));
    let greeting = io.read_packet(1 << 20).await.expect("greeting");
    let ok = login_answer(&mut io, &greeting.payload, user, password, extra).await;
    assert_eq!(ok[0], 0x00, "login OK, got {:?}", parse_err(&ok));
    io
}

/// Answers a `greeting` already read from `io` with a login as `user`, and returns the
/// payload of the proxy's answer (OK or ERR).
pub async fn raw_login_answer(
    io: &mut PacketIo,
    greeting: &[u8],
    user: &str,
    password: &str,
) -> Vec<u8> {
    login_answer(io, greeting, user, password, CapabilityFlags::empty()).await
}

async fn login_answer(
    io: &mut PacketIo,
    greeting: &[u8],
    user: &str,
    password: &str,
    extra: CapabilityFlags,
) -> Vec<u8> {
    let scramble = scramble_native(&nonce_of(greeting), password.as_bytes()).expect("scramble");
    let caps = CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | extra;
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
    let answer = io.read_packet(1 << 20).await.expect("login answer");
    answer.payload.to_vec()
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

/// A proxy with its MySQL and admin ports on free loopback ports.
pub struct Ports {
    pub mysql: SocketAddr,
    pub admin: SocketAddr,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<Result<(), ProxyError>>>,
}

impl Ports {
    /// Starts a proxy with `config` and serves both its ports.
    pub async fn start(config: ProxyConfig) -> Ports {
        let proxy = myquorum_proxy::Proxy::start(config)
            .await
            .expect("proxy starts");
        let mysql_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mysql = mysql_listener.local_addr().expect("addr");
        let admin = admin_listener.local_addr().expect("addr");
        let (mysql_tx, mysql_rx) = oneshot::channel::<()>();
        let (admin_tx, admin_rx) = oneshot::channel::<()>();
        let p = proxy.clone();
        let mysql_task = tokio::spawn(async move {
            p.serve_mysql(mysql_listener, async move {
                let _ = mysql_rx.await;
            })
            .await
        });
        let admin_task = tokio::spawn(async move {
            serve_admin(&proxy, admin_listener, async move {
                let _ = admin_rx.await;
            })
            .await
        });
        Ports {
            mysql,
            admin,
            stops: vec![admin_tx, mysql_tx],
            tasks: vec![admin_task, mysql_task],
        }
    }

    /// Stops both ports and checks they shut down cleanly within the grace period.
    pub async fn stop(mut self) {
        for tx in self.stops.drain(..) {
            let _ = tx.send(());
        }
        for task in self.tasks.drain(..) {
            let result = tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("port stops within the grace period")
                .expect("port task did not panic");
            result.expect("serve returned Ok");
        }
    }
}
