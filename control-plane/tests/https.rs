//! TLS in the control plane (issue 14 item 5) against a real 2-node sandbox serving TLS: the
//! coordinator API serves HTTPS (`[control_plane.tls]`) with a certificate signed by the
//! sandbox CA; a client verifying it against that CA gets answers, a client trusting another
//! CA is refused in the handshake, and plain HTTP to the TLS port gets no HTTP answer. The
//! control account is altered `REQUIRE SSL`, so the metrics collector's probes (and the
//! proxy's own control connections) only log in over TLS (`[proxy.backend_tls]`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use myquorum_control_plane::https::HttpTlsConfig;
use myquorum_control_plane::{ControlPlane, ControlPlaneConfig};
use myquorum_proxy::{BackendTlsConfig, ProxyConfig};
use myquorum_sandbox::testing::TestProxy;
use myquorum_sandbox::{Cluster, TlsFiles};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

/// A TLS client trusting only the CA in `ca`.
fn connector(ca: &Path) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("read CA") {
        roots.add(cert.expect("PEM")).expect("CA certificate");
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Sends `GET path` (Connection: close) over `stream` and returns what came back, up to the
/// end of the stream (or 10 s).
async fn get<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut out = Vec::new();
    // A server that closes without close_notify ends the read with an error: what arrived
    // before it is the answer.
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn https_get(addr: SocketAddr, ca: &Path, path: &str) -> Result<String, std::io::Error> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").expect("IP name");
    let tls = connector(ca).connect(name, tcp).await?;
    Ok(get(tls, path).await)
}

/// The JSON body of an HTTP answer.
fn body(answer: &str) -> serde_json::Value {
    let (_, body) = answer.split_once("\r\n\r\n").unwrap_or(("", ""));
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// Serves the API over HTTPS with the sandbox CA's certificate: `/status` and `/health` answer
/// 200 to a client that verifies the certificate (and the IP address in it), and `/metrics`
/// reports every node healthy (the collector's probes log in over TLS as the `REQUIRE SSL`
/// control account); a client that trusts another CA fails the handshake; plain HTTP gets no
/// HTTP answer; shutdown is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_https_verified_against_the_ca() {
    let cluster = Cluster::start_for_tests_with(2, true)
        .await
        .expect("TLS cluster starts");
    let work = cluster.config().work_dir.clone();
    let files = cluster.tls_files().expect("the cluster serves TLS").clone();
    let foreign = TlsFiles::ensure(&work.join("foreign-tls")).expect("foreign certificates");
    let control_user = cluster.config().control_user.clone();
    myquorum_sandbox::testing::root(
        cluster.primary(),
        &format!("ALTER USER '{control_user}'@'%' REQUIRE SSL"),
    )
    .await;
    let proxy = TestProxy::start_with(ProxyConfig {
        backend_tls: BackendTlsConfig {
            ca: Some(files.ca.clone()),
            ..BackendTlsConfig::default()
        },
        ..myquorum_sandbox::testing::proxy_config(&cluster)
    })
    .await;
    let config = ControlPlaneConfig {
        tls: HttpTlsConfig {
            cert: Some(files.cert.clone()),
            key: Some(files.key.clone()),
            allow_plaintext: false,
        },
        ..ControlPlaneConfig::default()
    };
    let state = ControlPlane::new(proxy.handle.clone(), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(myquorum_control_plane::serve(listener, state, async move {
        let _ = stopped.await;
    }));

    // The first answers wait for the collector's first round: retry until the API is up.
    let mut status = String::new();
    for _ in 0..100 {
        match https_get(addr, &files.ca, "/status").await {
            Ok(text) if text.starts_with("HTTP/1.1") => {
                status = text;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(status.contains(&cluster.primary().id), "{status}");
    let health = https_get(addr, &files.ca, "/health").await.expect("HTTPS");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let mut metrics = serde_json::Value::Null;
    for _ in 0..50 {
        metrics = body(&https_get(addr, &files.ca, "/metrics").await.expect("HTTPS"));
        let nodes = metrics["replicas"].as_array().cloned().unwrap_or_default();
        if nodes.len() == 2 && nodes.iter().all(|n| n["is_healthy"] == true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let nodes = metrics["replicas"].as_array().cloned().unwrap_or_default();
    assert!(
        nodes.len() == 2 && nodes.iter().all(|n| n["is_healthy"] == true),
        "the collector's TLS probes log in to every node: {metrics}"
    );

    let distrusted = https_get(addr, &foreign.ca, "/status").await;
    let error = distrusted.expect_err("a certificate from another CA is refused");
    assert!(
        error.to_string().contains("invalid peer certificate"),
        "the client refused the server's certificate: {error}"
    );

    let plain = get(TcpStream::connect(addr).await.expect("connect"), "/status").await;
    assert!(
        !plain.starts_with("HTTP/"),
        "plain HTTP to the TLS port gets no HTTP answer: {plain:?}"
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .expect("the API stops")
        .expect("no panic")
        .expect("serve returned Ok");
    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}
