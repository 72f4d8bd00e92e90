//! Protocol-tier tests: the proxy against a real 2-node sandbox cluster, driven by a raw
//! client (for bytes no driver sends) and by mysql_async. What they prove: bad input closes
//! only the offending connection, unsupported commands get a named error and the session goes
//! on, a dead backend gives a clean error and the proxy recovers when it returns, and shutdown
//! tells idle clients 1053 before closing.

mod support;

use myquorum_proxy::packet::{parse_err, PacketIo};
use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use std::time::Duration;
use support::{raw_login, Proxy};
use tokio::net::TcpStream;

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
        let r: Result<Option<i64>, _> = victim
            .query_first("/* myquorum:consistency=STRONG */ SELECT SLEEP(60)")
            .await;
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
