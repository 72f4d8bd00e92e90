//! Cluster-tier tests of TLS from the proxy to its backends (`[proxy.backend_tls]`, issue 14
//! item 5): a 2-node sandbox whose servers serve TLS with the CA the sandbox generates, its
//! application and control accounts altered `REQUIRE SSL` (so any plaintext login of the
//! proxy fails), and proxies verifying the servers against that CA or against a foreign one;
//! plus the identity check (`verify_identity`) against an in-process TLS server.

mod support;

use myquorum_proxy::classify::Consistency;
use myquorum_proxy::engine::Request;
use myquorum_proxy::{BackendTlsConfig, PoolConfig, ProxyConfig};
use myquorum_sandbox::testing::TestProxy;
use myquorum_sandbox::{Cluster, TlsFiles};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

/// The proxy configuration for `cluster` verifying the servers against `ca`, keeping no idle
/// backend connection (every session opens its own, so a changed server certificate is met
/// by the next login, not hidden by a pooled connection).
fn config_with_ca(cluster: &Cluster, ca: &std::path::Path) -> ProxyConfig {
    ProxyConfig {
        backend_tls: BackendTlsConfig {
            ca: Some(ca.to_path_buf()),
            ..BackendTlsConfig::default()
        },
        engine_database: Some(cluster.config().app_database.clone()),
        pool: PoolConfig {
            max_idle_per_key: 0,
            ..PoolConfig::default()
        },
        ..support::proxy_config(cluster)
    }
}

/// `Ssl_cipher` of the session a statement runs on, with that server's `server_id`.
const CIPHER: &str = "SELECT @@server_id, VARIABLE_VALUE FROM information_schema.SESSION_STATUS \
                      WHERE VARIABLE_NAME = 'SSL_CIPHER'";

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// With the sandbox CA: the proxy starts (its start-up control connection logs in as a
/// `REQUIRE SSL` account), queries work through the MySQL port, the primary's session (inside
/// a transaction) and a replica's (EVENTUAL reads) report a cipher, the HTTP engine's
/// connection too, and a STRONG write reaches its quorum (the replica watchers' control
/// connections are TLS as well). Then the primary is made to present a certificate from
/// another CA (`FLUSH SSL`): a new login through the proxy is refused with 2026 naming the
/// certificate problem, the proxy stays up, and once the right certificate is back logins
/// work again. Finally a proxy given a foreign CA refuses to start, naming the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_connections_use_tls_verified_against_the_ca() {
    let cluster = Cluster::start_for_tests_with(2, true)
        .await
        .expect("TLS cluster starts");
    let files = cluster.tls_files().expect("the cluster serves TLS").clone();
    let cfg = cluster.config().clone();
    for user in [&cfg.app_user, &cfg.control_user] {
        support::root(
            cluster.primary(),
            &format!("ALTER USER '{user}'@'%' REQUIRE SSL"),
        )
        .await;
    }

    let proxy = TestProxy::start_with(config_with_ca(&cluster, &files.ca)).await;
    let mut conn = proxy.conn().await;
    conn.query_drop("CREATE TABLE tls_t (id INT PRIMARY KEY, v VARCHAR(10))")
        .await
        .expect("DDL through a TLS backend");
    conn.query_drop("INSERT INTO tls_t VALUES (1, 'one')")
        .await
        .expect("INSERT");
    let v: Option<String> = conn
        .query_first("SELECT v FROM tls_t WHERE id = 1")
        .await
        .expect("SELECT");
    assert_eq!(v.as_deref(), Some("one"), "read-your-writes over TLS");

    conn.query_drop("START TRANSACTION").await.expect("BEGIN");
    let (primary_id, cipher): (u32, String) = conn
        .query_first(CIPHER)
        .await
        .expect("cipher query")
        .expect("a row");
    conn.query_drop("COMMIT").await.expect("COMMIT");
    assert!(!cipher.is_empty(), "the primary session runs over TLS");
    eprintln!("primary (server_id {primary_id}) session cipher: {cipher}");

    conn.query_drop("SET myquorum_consistency = 'EVENTUAL'")
        .await
        .expect("EVENTUAL");
    let mut replica_cipher = None;
    for _ in 0..50 {
        let (id, cipher): (u32, String) = conn
            .query_first(CIPHER)
            .await
            .expect("cipher query")
            .expect("a row");
        assert!(!cipher.is_empty(), "server_id {id}: a session without TLS");
        if id != primary_id {
            replica_cipher = Some(cipher);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let replica_cipher = replica_cipher.expect("an EVENTUAL read ran on the replica");
    eprintln!("replica session cipher: {replica_cipher}");

    let engine = proxy.handle.engine();
    let read = engine
        .execute(Request {
            sql: "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'SSL_CIPHER'".to_owned(),
            consistency: Consistency::Causal,
            after_timestamp: None,
        })
        .await
        .expect("engine read");
    let engine_cipher = read.rows[0][0].as_str().unwrap_or_default().to_owned();
    assert!(
        !engine_cipher.is_empty(),
        "the engine's session runs over TLS"
    );
    let write = engine
        .execute(Request {
            sql: "INSERT INTO tls_t VALUES (2, 'two')".to_owned(),
            consistency: Consistency::Strong,
            after_timestamp: None,
        })
        .await
        .expect("STRONG write");
    let quorum = write.quorum.expect("a STRONG write reports its quorum");
    assert!(
        quorum.achieved,
        "the replica's watcher (a TLS control connection) confirmed the write: {quorum:?}"
    );

    // The primary now presents a certificate signed by another CA.
    let foreign =
        TlsFiles::ensure(&cfg.work_dir.join("foreign-tls")).expect("foreign certificates");
    let original = (
        std::fs::read(&files.cert).expect("cert"),
        std::fs::read(&files.key).expect("key"),
    );
    std::fs::copy(&foreign.cert, &files.cert).expect("swap cert");
    std::fs::copy(&foreign.key, &files.key).expect("swap key");
    support::root(cluster.primary(), "FLUSH SSL").await;
    let refused = Conn::new(proxy.opts())
        .await
        .expect_err("a login needing a new primary connection is refused");
    assert_eq!(server_code(&refused), Some(2026), "{refused}");
    let text = refused.to_string();
    assert!(
        text.contains("TLS to backend") && text.contains("certificate"),
        "the client is told why: {text}"
    );
    eprintln!("refused login: {text}");

    std::fs::write(&files.cert, &original.0).expect("restore cert");
    std::fs::write(&files.key, &original.1).expect("restore key");
    support::root(cluster.primary(), "FLUSH SSL").await;
    let mut again = Conn::new(proxy.opts())
        .await
        .expect("the proxy stayed up and logs in again");
    let n: Option<u32> = again
        .query_first("SELECT COUNT(*) FROM tls_t")
        .await
        .expect("query");
    assert_eq!(n, Some(2));
    drop(again);
    drop(conn);
    proxy.stop().await;

    // With the default pool, TLS connections go back to the pool and are reused: the
    // liveness probe of idle connections sees the socket under TLS and keeps them.
    let pooled = TestProxy::start_with(ProxyConfig {
        pool: PoolConfig::default(),
        ..config_with_ca(&cluster, &files.ca)
    })
    .await;
    let started = std::time::Instant::now();
    for _ in 0..10 {
        let mut c = pooled.conn().await;
        let one: Option<u32> = c.query_first("SELECT 1").await.expect("query");
        assert_eq!(one, Some(1));
        c.disconnect().await.expect("disconnect");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let stats = &pooled.handle.context().pool().stats;
    let (opened, reused, discarded) = (
        stats.opened.load(std::sync::atomic::Ordering::Relaxed),
        stats.reused.load(std::sync::atomic::Ordering::Relaxed),
        stats.discarded.load(std::sync::atomic::Ordering::Relaxed),
    );
    eprintln!(
        "10 logins + SELECT 1 over pooled TLS backends: {:?}; opened {opened}, reused {reused}, discarded {discarded}",
        started.elapsed()
    );
    assert!(reused > 0, "pooled TLS connections are reused");
    assert_eq!(discarded, 0, "no idle TLS connection was taken for dead");
    pooled.stop().await;

    // A proxy that trusts another CA does not start: its first control connection fails.
    let wrong = myquorum_proxy::Proxy::start(config_with_ca(&cluster, &foreign.ca)).await;
    let error = wrong.expect_err("a proxy with the wrong CA refuses to start");
    let text = error.to_string();
    assert!(
        text.contains(&cluster.primary().id) && text.to_lowercase().contains("certificate"),
        "the start-up error names the node and the certificate: {text}"
    );
    eprintln!("refused start: {text}");
    cluster.stop().await.expect("cluster stops");
}

/// Without TLS on the servers, a proxy configured for backend TLS refuses to start instead
/// of falling back to plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_tls_is_refused() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let files = TlsFiles::ensure(&cluster.config().work_dir.join("tls")).expect("certificates");
    let started = myquorum_proxy::Proxy::start(config_with_ca(&cluster, &files.ca)).await;
    let error = started.expect_err("no plaintext fallback");
    eprintln!("refused start: {error}");
    assert!(
        error.to_string().contains(&cluster.primary().id),
        "names the node: {error}"
    );
    cluster.stop().await.expect("cluster stops");
}

/// A TLS server on loopback serving `files`' certificate (valid for `localhost` and
/// `127.0.0.1`); completes one handshake per connection and holds it open briefly.
async fn tls_server(files: &TlsFiles) -> std::net::SocketAddr {
    let config = myquorum_proxy::tls::server_config(&files.cert, &files.key, "test.tls")
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(socket).await {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    drop(stream);
                }
            });
        }
    });
    addr
}

/// The certificate checks of `[proxy.backend_tls]` on their own, against an in-process TLS
/// server: the node's host is checked against the certificate's names (`127.0.0.1` and
/// `localhost` pass, another name fails) unless `verify_identity = false`, which still
/// refuses a certificate from another CA.
#[tokio::test]
async fn identity_is_checked_unless_turned_off_and_the_chain_always() {
    let dir = std::env::temp_dir().join(format!("myquorum-btls-it-{}", std::process::id()));
    let files = TlsFiles::ensure(&dir.join("tls")).expect("certificates");
    let foreign = TlsFiles::ensure(&dir.join("foreign")).expect("foreign certificates");
    let server = tls_server(&files).await;
    let tls = |ca: &std::path::Path, verify_identity: bool| {
        myquorum_proxy::backend::BackendTls::from_config(&BackendTlsConfig {
            ca: Some(ca.to_path_buf()),
            verify_identity,
            ..BackendTlsConfig::default()
        })
        .expect("valid")
        .expect("on")
    };
    let handshake = |tls: myquorum_proxy::backend::BackendTls, name: &'static str| async move {
        let socket = tokio::net::TcpStream::connect(server)
            .await
            .expect("connect");
        tls.handshake(&format!("{name}:{}", server.port()), socket)
            .await
            .map(drop)
    };
    let strict = tls(&files.ca, true);
    handshake(strict.clone(), "127.0.0.1")
        .await
        .expect("the IP is in the certificate");
    handshake(strict.clone(), "localhost")
        .await
        .expect("the name is in the certificate");
    let wrong_name = handshake(strict, "db.example")
        .await
        .expect_err("another name is refused");
    assert!(
        wrong_name.to_string().contains("not valid for name"),
        "{wrong_name}"
    );
    handshake(tls(&files.ca, false), "db.example")
        .await
        .expect("verify_identity = false lets another name through");
    let wrong_ca = handshake(tls(&foreign.ca, false), "127.0.0.1")
        .await
        .expect_err("the chain is still checked");
    assert!(
        wrong_ca.to_string().contains("invalid peer certificate"),
        "{wrong_ca}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `[proxy.backend_tls] cert` / `key`: with the application and control accounts altered
/// `REQUIRE X509`, a proxy without a client certificate is refused by the server (its start-up
/// control connection gets 1045), and one presenting the client certificate the sandbox CA
/// signed runs queries, and a STRONG write reaches its quorum (the watchers present it too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_logs_in_to_require_x509_accounts() {
    let cluster = Cluster::start_for_tests_with(2, true)
        .await
        .expect("TLS cluster starts");
    let files = cluster.tls_files().expect("the cluster serves TLS").clone();
    let cfg = cluster.config().clone();
    for user in [&cfg.app_user, &cfg.control_user] {
        support::root(
            cluster.primary(),
            &format!("ALTER USER '{user}'@'%' REQUIRE X509"),
        )
        .await;
    }

    let refused = myquorum_proxy::Proxy::start(config_with_ca(&cluster, &files.ca))
        .await
        .expect_err("no client certificate, no login");
    assert!(refused.to_string().contains("1045"), "{refused}");
    eprintln!("without a client certificate: {refused}");

    let mut config = config_with_ca(&cluster, &files.ca);
    config.backend_tls.cert = Some(files.client_cert.clone());
    config.backend_tls.key = Some(files.client_key.clone());
    let proxy = TestProxy::start_with(config).await;
    let mut conn = proxy.conn().await;
    conn.query_drop("CREATE TABLE x509_t (id INT PRIMARY KEY)")
        .await
        .expect("DDL as a REQUIRE X509 account");
    let write = proxy
        .handle
        .engine()
        .execute(Request {
            sql: "INSERT INTO x509_t VALUES (1)".to_owned(),
            consistency: Consistency::Strong,
            after_timestamp: None,
        })
        .await
        .expect("STRONG write");
    let quorum = write.quorum.expect("a STRONG write reports its quorum");
    assert!(quorum.achieved, "{quorum:?}");
    let n: Option<u32> = conn
        .query_first("SELECT COUNT(*) FROM x509_t")
        .await
        .expect("read");
    assert_eq!(n, Some(1));
    drop(conn);
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}
