//! Protocol-tier tests: the proxy against a real 2-node sandbox cluster, driven by a raw
//! client (for bytes no driver sends) and by mysql_async. What they prove: bad input closes
//! only the offending connection, unsupported commands get a named error and the session goes
//! on, a dead backend gives a clean error and the proxy recovers when it returns, shutdown
//! tells idle clients 1053 before closing, and hostile statement text is classified safely.

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

/// Issue 15 through a real client and a real replica (the app user has no READ_ONLY ADMIN, so
/// a write misrouted to the replica fails with 1290 instead of diverging it):
/// - a malformed `SET STATEMENT` list gets the server's error, not a dropped session;
/// - after an EVENTUAL read ran on the replica, writes calling LAST_INSERT_ID() run on the
///   primary, and `SELECT LAST_INSERT_ID()` answers the session's last insert id;
/// - under NO_BACKSLASH_ESCAPES a locking read hidden behind `'\'` runs on the primary;
/// - a 20,000-deep nested call is answered by the server and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_statements_are_classified_safely() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let primary_id = cluster.primary().server_id;
    let proxy = Proxy::start(&cluster).await;
    let mut c = proxy.conn().await;

    let malformed = "SET STATEMENT myquorum_consistency='STRONG', FOR SELECT 1";
    match c.query_drop(malformed).await {
        // The server names the proxy's variable (1193) before it reaches the stray comma.
        Err(mysql_async::Error::Server(e)) => assert!(matches!(e.code, 1064 | 1193), "{e:?}"),
        other => panic!("expected the server's error, got {other:?}"),
    }
    let one: Option<i64> = c.query_first("SELECT 1").await.expect("session goes on");
    assert_eq!(one, Some(1));

    c.query_drop("CREATE TABLE li (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        .await
        .expect("create");
    c.query_drop("SET myquorum_consistency = 'EVENTUAL'")
        .await
        .expect("eventual");
    c.query_drop("INSERT INTO li (v) VALUES (0)")
        .await
        .expect("first insert");
    let read_on: Option<u32> = c
        .query_first("SELECT @@server_id")
        .await
        .expect("eventual read");
    assert_ne!(
        read_on,
        Some(primary_id),
        "the EVENTUAL read ran on the replica"
    );
    for sql in [
        "INSERT INTO li (v) VALUES (LAST_INSERT_ID())",
        "INSERT INTO li (v) SELECT LAST_INSERT_ID()",
        "INSERT INTO li (v) VALUES (ROW_COUNT())",
    ] {
        let _: Option<u32> = c
            .query_first("SELECT @@server_id")
            .await
            .expect("eventual read");
        c.query_drop(sql).await.expect(sql);
    }
    let _: Option<u32> = c.query_first("SELECT @@server_id").await.expect("read");
    let last: Option<u64> = c
        .query_first("SELECT LAST_INSERT_ID()")
        .await
        .expect("last insert id");
    assert_eq!(
        last,
        Some(4),
        "the id of the session's last insert, not the replica's 0"
    );

    c.query_drop("SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        .await
        .expect("sql_mode");
    let hidden: Option<(u32, String)> = c
        .query_first("SELECT @@server_id, '\\' FROM li LIMIT 1 FOR UPDATE -- '")
        .await
        .expect("hidden locking read");
    assert_eq!(
        hidden,
        Some((primary_id, "\\".to_owned())),
        "FOR UPDATE seen under NO_BACKSLASH_ESCAPES"
    );

    let deep = format!("SELECT {}1{}", "a(".repeat(20_000), ")".repeat(20_000));
    match c.query_drop(&deep).await {
        Err(mysql_async::Error::Server(e)) => assert_ne!(e.code, 2013, "{e:?}"),
        other => panic!("expected the server's error, got {other:?}"),
    }
    let one: Option<i64> = c.query_first("SELECT 1").await.expect("session goes on");
    assert_eq!(one, Some(1));

    drop(c);
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}
