//! Issue 15, HTTP side, against a real 4-node cluster: the token applies on loopback, the
//! browser guards (Host, JSON content type), `/query` bounds (rows, bytes, concurrency,
//! statement timeout with KILL QUERY), the header and request timeouts and the bounded
//! shutdown. Each block failed before the fix.

mod support;

use std::time::{Duration, Instant};

use myquorum_control_plane::{ControlPlane, ControlPlaneConfig, ControlPlaneError};
use myquorum_proxy::quorum::FailureThreshold;
use myquorum_proxy::Proxy;
use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};
use support::{legacy_on_free_ports, proxy_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The control plane alone (no MySQL listener) on a proxy whose engine runs in `app`.
struct Api {
    state: ControlPlane,
    addr: std::net::SocketAddr,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ControlPlaneError>>,
}

impl Api {
    async fn start(cluster: &Cluster, config: ControlPlaneConfig) -> Api {
        let mut proxy = proxy_config(cluster, FailureThreshold::Count(1));
        proxy.engine_database = Some("app".into());
        let proxy = Proxy::start(proxy).await.expect("proxy starts");
        let state = ControlPlane::new(proxy, config);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, until) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(myquorum_control_plane::serve(
            listener,
            state.clone(),
            async move {
                let _ = until.await;
            },
        ));
        let api = Api {
            state,
            addr,
            http: reqwest::Client::new(),
            stop,
            task,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while api.http.get(api.url("/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "control plane listens");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        api
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POST `body` as JSON with `token` (if any): status, Retry-After and JSON body.
    async fn post(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.expect("POST");
        (r.status().as_u16(), r.json().await.expect("JSON body"))
    }

    async fn query(&self, sql: &str) -> (u16, Value) {
        self.post("/query", None, &json!({ "query": sql }).to_string())
            .await
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("control plane stops within its shutdown grace")
            .expect("no panic")
            .expect("serve returned Ok");
    }
}

fn config() -> ControlPlaneConfig {
    ControlPlaneConfig {
        collector_interval_ms: 200,
        ..ControlPlaneConfig::default()
    }
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

/// Proves the browser-facing guards: a configured token is required on loopback too (401
/// naming what is missing), mutating routes refuse non-JSON bodies (415) on the coordinator
/// and the legacy ports, a foreign `Host` is refused (421) and configured hosts pass; a client
/// that never finishes its headers is disconnected; shutdown does not wait for a long request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browser_guards_and_server_timeouts() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let api = Api::start(
        &cluster,
        ControlPlaneConfig {
            token: Some("s3cret".to_owned()),
            allowed_hosts: vec!["dash.example".to_owned()],
            legacy_ports: true,
            legacy: legacy_on_free_ports(),
            header_read_timeout_ms: 500,
            shutdown_grace_ms: 500,
            ..config()
        },
    )
    .await;

    // The token applies on loopback: /query, clear-data and the stress paths.
    let select = r#"{"query": "SELECT 1 AS one"}"#;
    for path in [
        "/query",
        "/admin/clear-data",
        "/admin/stress-test/concurrent-writes",
    ] {
        let (code, body) = api.post(path, None, select).await;
        assert_eq!(code, 401, "{path}: {body:#}");
        assert!(
            message(&body).contains("no Authorization header"),
            "{body:#}"
        );
    }
    let (code, body) = api.post("/query", Some("wrong"), select).await;
    assert_eq!(code, 401, "{body:#}");
    assert!(message(&body).contains("does not match"), "{body:#}");
    let (code, body) = api.post("/query", Some("s3cret"), select).await;
    assert_eq!(
        (code, &body["data"]),
        (200, &json!([{"one": 1}])),
        "{body:#}"
    );

    // Mutating routes take only application/json, token or not, on every listener.
    let seer = api
        .state
        .legacy_addrs()
        .into_iter()
        .find(|(s, _)| *s == "seer")
        .map(|(_, a)| a)
        .expect("seer listens");
    for (url, content_type) in [
        (api.url("/query"), Some("text/plain")),
        (api.url("/admin/clear-data"), None),
        (
            api.url("/select-quorum"),
            Some("application/x-www-form-urlencoded"),
        ),
        (format!("http://{seer}/elect-leader"), Some("text/plain")),
    ] {
        let mut r = api.http.post(&url).bearer_auth("s3cret").body(select);
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        let r = r.send().await.expect("POST");
        let code = r.status().as_u16();
        let body: Value = r.json().await.expect("JSON body");
        assert_eq!(code, 415, "{url} {content_type:?}: {body:#}");
        assert!(message(&body).contains("application/json"), "{body:#}");
    }

    // Host: loopback names, the arrival IP and configured names; nothing else.
    let port = api.addr.port();
    for (host, expected) in [
        (format!("localhost:{port}"), 200),
        (format!("[::1]:{port}"), 200),
        (format!("dash.example:{port}"), 200),
        (format!("rebound.example:{port}"), 421),
        ("localhost.rebound.example".to_owned(), 421),
    ] {
        let r = api
            .http
            .get(api.url("/status"))
            .header("host", &host)
            .send()
            .await
            .expect("GET");
        let code = r.status().as_u16();
        let body: Value = r.json().await.expect("JSON body");
        assert_eq!(code, expected, "{host}: {body:#}");
        if expected == 421 {
            assert!(message(&body).contains("allowed_hosts"), "{body:#}");
        }
    }

    // A client that sends half a request head is disconnected (header read timeout).
    let mut slow = tokio::net::TcpStream::connect(api.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut rest))
        .await
        .expect("the server hangs up on a client that never ends its headers")
        .ok();

    // Shutdown does not wait for a request that runs past the grace.
    let long = {
        let http = api.http.clone();
        let url = api.url("/query");
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth("s3cret")
                .header("content-type", "application/json")
                .body(r#"{"query": "SELECT SLEEP(120)"}"#)
                .send()
                .await
        })
    };
    wait_for_sleepers(&cluster, "SELECT SLEEP(120)", true).await;
    api.stop().await;
    assert!(
        long.await.expect("no panic").is_err(),
        "the long request's connection was dropped"
    );

    cluster.stop().await.expect("cluster stops");
}

/// Polls every node's processlist until a statement starting with `sql` is (`present`) or
/// is not running anywhere; panics after 20 s.
async fn wait_for_sleepers(cluster: &Cluster, sql: &str, present: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut running = 0usize;
        for node in cluster.nodes() {
            let Ok(mut conn) = myquorum_sandbox::root_conn(node).await else {
                continue;
            };
            let n: Option<usize> = conn
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE ?",
                    (format!("{sql}%"),),
                )
                .await
                .expect("processlist");
            running += n.unwrap_or(0);
            let _ = conn.disconnect().await;
        }
        if (running > 0) == present {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: expected running = {present}, {running} found"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Proves `/query`'s bounds: rows and bytes past the caps are dropped with `truncated: true`
/// (and the connection stays in step), a statement past the timeout answers 504 and is killed
/// on its server, one request past the concurrency answers 503 with Retry-After, and a
/// request past the request timeout answers 504.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn query_bounds() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let ten = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10)";

    let capped = Api::start(
        &cluster,
        ControlPlaneConfig {
            query_max_rows: 3,
            query_max_bytes: 150,
            query_timeout_ms: 1_000,
            ..config()
        },
    )
    .await;
    let (code, body) = capped.query(&format!("{ten} SELECT n FROM r")).await;
    assert_eq!(code, 200, "{body:#}");
    assert_eq!(
        body["data"],
        json!([{"n": 1}, {"n": 2}, {"n": 3}]),
        "{body:#}"
    );
    assert_eq!(body["truncated"], true, "{body:#}");
    assert!(message(&body).contains("truncated"), "{body:#}");
    // 60-byte values: two rows fit in 150 bytes, the third does not.
    let (code, body) = capped
        .query(&format!("{ten} SELECT REPEAT('x', 60) AS s FROM r"))
        .await;
    assert_eq!(code, 200, "{body:#}");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(2), "{body:#}");
    assert_eq!(body["truncated"], true, "{body:#}");
    let (code, body) = capped.query("SELECT 7 AS seven").await;
    assert_eq!((code, &body["data"]), (200, &json!([{"seven": 7}])));
    assert_eq!(body["truncated"], false, "{body:#}");

    // Past the statement timeout: 504 naming the key, and the statement no longer runs.
    let (code, body) = capped.query("SELECT SLEEP(60) AS slept").await;
    assert_eq!(code, 504, "{body:#}");
    assert_eq!(body["success"], false, "{body:#}");
    assert!(message(&body).contains("query_timeout_ms"), "{body:#}");
    assert!(message(&body).contains("KILL QUERY"), "{body:#}");
    wait_for_sleepers(&cluster, "SELECT SLEEP(60)", false).await;
    capped.stop().await;

    // One slot: a second request while the first runs is turned away with Retry-After.
    let narrow = Api::start(
        &cluster,
        ControlPlaneConfig {
            query_concurrency: 1,
            request_timeout_ms: 2_000,
            ..config()
        },
    )
    .await;
    let first = {
        let http = narrow.http.clone();
        let url = narrow.url("/query");
        tokio::spawn(async move {
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .body(r#"{"query": "SELECT SLEEP(30) AS slept"}"#)
                .send()
                .await
                .expect("POST");
            let code = r.status().as_u16();
            (code, r.json::<Value>().await.expect("JSON"))
        })
    };
    wait_for_sleepers(&cluster, "SELECT SLEEP(30)", true).await;
    let r = narrow
        .http
        .post(narrow.url("/query"))
        .header("content-type", "application/json")
        .body(r#"{"query": "SELECT 1"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = r.json().await.expect("JSON");
    assert!(message(&body).contains("query_concurrency"), "{body:#}");
    // The first one outlives the request timeout: 504 naming that key.
    let (code, body) = first.await.expect("no panic");
    assert_eq!(code, 504, "{body:#}");
    assert!(message(&body).contains("request_timeout_ms"), "{body:#}");
    // Its slot is free again.
    let (code, body) = narrow.query("SELECT 1 AS one").await;
    assert_eq!(code, 200, "{body:#}");
    narrow.stop().await;

    cluster.stop().await.expect("cluster stops");
}
