//! The web dashboard (README "Dashboard"): its embedded files and headers, the event stream
//! (`GET /events`), the page driven in headless Chromium against a real 4-node sandbox
//! (tests/py/dashboard_browser.py), and a shutdown that an open event stream does not hold.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use myquorum_control_plane::ControlPlaneConfig;
use myquorum_proxy::quorum::FailureThreshold;
use myquorum_sandbox::Cluster;
use serde_json::Value;
use support::{root, Harness, SandboxNodes};

const TOKEN: &str = "dashboard-test-token";

/// The exit code the browser script uses when Chromium cannot start.
const SKIP: i32 = 77;

fn config() -> ControlPlaneConfig {
    let mut config = ControlPlaneConfig {
        token: Some(TOKEN.to_owned()),
        collector_interval_ms: 200,
        // Far beyond the harness's 15 s stop timeout: if an open event stream held shutdown
        // for the grace period, `Harness::stop` would fail.
        shutdown_grace_ms: 60_000,
        ..ControlPlaneConfig::default()
    };
    // The page walks the failover steps itself: no automatic failover in between.
    config.failover.automatic = false;
    config
}

/// The test venv's Python: `MYQUORUM_PYTHON`, else `<repo>/.venv/bin/python`.
fn python() -> PathBuf {
    let path = std::env::var_os("MYQUORUM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python"))
        });
    assert!(
        path.exists(),
        "Python test venv missing at {}: run scripts/setup.sh (or set MYQUORUM_PYTHON)",
        path.display()
    );
    path
}

/// Runs the browser script with `args` against `h`; false when Chromium cannot start here
/// (said loudly), panics when a check fails.
async fn browser(h: &Harness, artifacts: &Path, args: &[&str]) -> bool {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/py/dashboard_browser.py"
    );
    let run = tokio::process::Command::new(python())
        .arg(script)
        .args(["--url", &h.base, "--token", TOKEN, "--artifacts"])
        .arg(artifacts)
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(400), run)
        .await
        .expect("browser checks finish within 400 s")
        .expect("python runs");
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => true,
        Some(SKIP) => {
            eprintln!("SKIPPED the browser checks: Chromium cannot start here (see above)");
            false
        }
        _ => panic!(
            "browser checks {args:?} failed ({:?}); screenshots in {}",
            out.status,
            artifacts.display()
        ),
    }
}

/// Reads `n` `snapshot` events from an open `/events` response.
async fn snapshots(resp: &mut reqwest::Response, n: usize) -> Vec<Value> {
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, resp.chunk())
            .await
            .expect("a snapshot within 20 s")
            .expect("stream readable")
            .expect("stream still open");
        buf.push_str(std::str::from_utf8(&chunk).expect("UTF-8 events"));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if !event.lines().any(|l| l == "event: snapshot") {
                continue;
            }
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            out.push(serde_json::from_str(&data).expect("snapshot is JSON"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_in_a_real_browser() {
    let cluster = Arc::new(Cluster::start_for_tests(4).await.expect("cluster starts"));
    let mut proxy = support::proxy_config(&cluster, FailureThreshold::Count(1));
    // The demo tables' database, for the stress panel's data count and the console's SQL.
    proxy.engine_database = Some("app".into());
    let nodes = Arc::new(SandboxNodes(Arc::clone(&cluster)));
    let h = Harness::start_with(proxy, Some(nodes), "127.0.0.1:0", config()).await;

    // The page and its files: embedded, typed, not framable, no script from elsewhere.
    let page = h.http.get(h.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/html"));
    assert_eq!(headers["x-frame-options"], "DENY");
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = page.text().await.expect("html");
    assert!(
        html.contains("/assets/app.js") && !html.contains("http://") && !html.contains("https://")
    );
    for (path, kind) in [
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
    ] {
        let r = h.http.get(h.url(path)).send().await.expect("asset");
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with(kind),
            "{path}"
        );
    }
    let (status, body) = h.get("/assets/nope.js").await;
    assert_eq!(status, 404, "{body}");

    // The event stream: history then one snapshot per second, with everything the cards show.
    let mut stream = h
        .http
        .get(h.url("/events"))
        .send()
        .await
        .expect("GET /events");
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/event-stream"));
    let got = snapshots(&mut stream, 2).await;
    let snap = got.last().expect("a snapshot");
    eprintln!(
        "one snapshot: {} bytes of JSON",
        serde_json::to_string(snap).map_or(0, |s| s.len())
    );
    assert_eq!(snap["auth_required"], true, "{snap:#}");
    assert_eq!(snap["primary"], "instance-1");
    assert_eq!(
        snap["nodes"].as_array().expect("nodes").len(),
        4,
        "{snap:#}"
    );
    assert!(got[1]["t"].as_u64() > got[0]["t"].as_u64(), "newer second");
    let replica = &snap["nodes"][1];
    for field in [
        "replica_id",
        "role",
        "gtid_seq",
        "replication_lag",
        "latency_ms",
        "weight",
    ] {
        assert!(!replica[field].is_null(), "{field} in {replica:#}");
    }
    assert!(
        !snap["quorum"]["predicted"]
            .as_array()
            .expect("quorum")
            .is_empty(),
        "{snap:#}"
    );
    assert_eq!(
        snap["seer"]["candidates"].as_array().expect("seer").len(),
        3
    );
    assert!(
        snap["stats"]["latency_ms"]["primary"].is_object(),
        "{snap:#}"
    );
    drop(stream);
    let (_, doc) = h.get("/openapi.json").await;
    assert!(
        doc["paths"]["/events"]["get"].is_object(),
        "/events documented"
    );

    // The page in headless Chromium: first everything but failover, with instance-4's SQL
    // thread stopped so the table view has a lagging replica to highlight; then, with it
    // caught up, the failover steps and a switchover.
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    eprintln!("dashboard screenshots: {}", artifacts.display());
    root(&cluster, "instance-4", "STOP SLAVE SQL_THREAD").await;
    let ran = browser(
        &h,
        &artifacts,
        &["--phase", "overview", "--lagging", "instance-4"],
    )
    .await;
    root(&cluster, "instance-4", "START SLAVE SQL_THREAD").await;
    h.until("/metrics", "instance-4 caught up and healthy", |m| {
        let n = support::node(m, "instance-4");
        n["is_healthy"] == true && n["replication_lag"] == 0
    })
    .await;
    if ran {
        browser(&h, &artifacts, &["--phase", "failover"]).await;
    }

    // Shutdown with an event stream open: the stream ends, shutdown does not wait 60 s.
    let mut open = h
        .http
        .get(h.url("/events"))
        .send()
        .await
        .expect("GET /events");
    snapshots(&mut open, 1).await;
    let started = Instant::now();
    h.stop().await;
    eprintln!(
        "shutdown with an open event stream took {:?}",
        started.elapsed()
    );
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = open.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the event stream ended with the server");
}
