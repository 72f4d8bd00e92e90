//! The control plane under failure: Cabinet with t = majority as replicas stop applying, crash
//! counting across a restart, /health when the primary dies, the bearer token beyond loopback
//! and a taken legacy port.

mod support;

use myquorum_control_plane::ControlPlaneConfig;
use myquorum_proxy::quorum::FailureThreshold;
use myquorum_sandbox::Cluster;
use serde_json::Value;
use support::{root, Harness};

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_str().expect("string").to_owned())
        .collect()
}

/// With t = majority the quorum needs two replicas and fails with one healthy; a node that
/// restarts counts as a crash; beyond loopback the admin paths need the token and a missing
/// token refuses start; a taken legacy port is skipped, not fatal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn majority_health_token_and_taken_ports() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut cfg = ControlPlaneConfig {
        legacy_ports: true,
        legacy: support::legacy_on_free_ports(),
        collector_interval_ms: 200,
        ..ControlPlaneConfig::default()
    };
    cfg.legacy.seer = taken.local_addr().expect("addr").to_string();
    cfg.token = Some("s3cret".to_owned());
    let h = Harness::start(&cluster, FailureThreshold::Majority, "0.0.0.0:0", cfg).await;

    let services: Vec<&str> = h.state.legacy_addrs().iter().map(|(s, _)| *s).collect();
    assert_eq!(
        services,
        vec!["timestamp_1", "timestamp_2", "metrics", "cabinet"],
        "seer's port was taken"
    );

    // Token: required on /admin beyond loopback, not elsewhere.
    let (code, body) = h.get("/admin/topology").await;
    assert_eq!((code, body["error"].as_str()), (401, Some("Unauthorized")));
    let ok = h
        .http
        .get(h.url("/admin/topology"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("GET");
    assert_eq!(ok.status(), 200);
    let (code, _) = h.get("/status").await;
    assert_eq!(code, 200);

    // Majority: two replicas; with one healthy replica no quorum.
    let (code, q) = h.post("/select-quorum", "{}").await;
    assert_eq!(code, 200, "{q:#}");
    assert_eq!(
        (q["quorum_size"].as_u64(), q["failure_threshold"].as_u64()),
        (Some(2), Some(2))
    );
    root(&cluster, "instance-2", "STOP SLAVE SQL_THREAD").await;
    let (_, q) = {
        h.until("/metrics/instance-2", "instance-2 unhealthy", |n| {
            n["is_healthy"] == false
        })
        .await;
        h.post("/select-quorum", "{}").await
    };
    assert_eq!(q["quorum_size"], 2);
    assert!(!ids(&q["quorum"]).contains(&"instance-2".to_owned()));
    root(&cluster, "instance-3", "STOP SLAVE SQL_THREAD").await;
    h.until("/metrics/instance-3", "instance-3 unhealthy", |n| {
        n["is_healthy"] == false
    })
    .await;
    let (code, none) = h.post("/select-quorum", "{}").await;
    assert_eq!(code, 503, "{none:#}");
    assert!(none["message"]
        .as_str()
        .is_some_and(|m| m.contains("threshold")));
    let (code, health) = h.get("/health").await;
    assert_eq!(
        (code, health["status"].as_str(), &health["quorum_possible"]),
        (200, Some("degraded"), &Value::Bool(false))
    );
    root(&cluster, "instance-2", "START SLAVE SQL_THREAD").await;
    root(&cluster, "instance-3", "START SLAVE SQL_THREAD").await;

    // A replica restarts: down, back up, one crash.
    cluster.kill_node("instance-4").await.expect("kill");
    h.until("/metrics/instance-4", "instance-4 down", |n| {
        n["is_healthy"] == false && n["last_error"].is_string()
    })
    .await;
    cluster.start_node("instance-4").await.expect("restart");
    let back = h
        .until("/metrics/instance-4", "instance-4 back", |n| {
            n["is_healthy"] == true
        })
        .await;
    assert_eq!(back["crash_count"], 1, "{back:#}");

    // The primary down: /health answers 503.
    cluster.kill_node("instance-1").await.expect("kill primary");
    h.until("/health", "primary unhealthy", |b| {
        b["status"] == "unhealthy"
    })
    .await;
    let (code, _) = h.get("/health").await;
    assert_eq!(code, 503);
    cluster
        .start_node("instance-1")
        .await
        .expect("restart primary");
    h.until("/health", "primary back", |b| b["status"] != "unhealthy")
        .await;

    h.stop().await;

    // Beyond loopback without a token: refused.
    let proxy =
        myquorum_proxy::Proxy::start(support::proxy_config(&cluster, FailureThreshold::Count(1)))
            .await
            .expect("proxy");
    let state = myquorum_control_plane::ControlPlane::new(proxy, ControlPlaneConfig::default());
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let err = myquorum_control_plane::serve(listener, state, std::future::pending())
        .await
        .expect_err("no token beyond loopback");
    assert!(err.to_string().contains("token"), "{err}");
    drop(taken);
    cluster.stop().await.expect("cluster stops");
}
