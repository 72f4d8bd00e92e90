//! The control plane's HTTP API against a real 4-node cluster: every landed path's names,
//! types and values, lag appearing and disappearing, Cabinet following t and health, SEER's
//! eligibility gate, bad input, the failover paths' refusals and the legacy ports.

mod support;

use myquorum_control_plane::ControlPlaneConfig;
use myquorum_proxy::quorum::FailureThreshold;
use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use serde_json::Value;
use support::{get_from, node, post_to, root, Harness};

fn config(legacy: bool) -> ControlPlaneConfig {
    ControlPlaneConfig {
        legacy_ports: legacy,
        legacy: support::legacy_on_free_ports(),
        collector_interval_ms: 200,
        ..ControlPlaneConfig::default()
    }
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_str().expect("string").to_owned())
        .collect()
}

/// Walks the coordinator API with t = 1: topology, timestamps of a write, metrics, Cabinet,
/// SEER, lag while a replica's SQL thread is stopped and after it restarts, bad input, the
/// failover paths' refusals, OpenAPI and the legacy ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coordinator_api_walkthrough() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let h = Harness::start(
        &cluster,
        FailureThreshold::Count(1),
        "127.0.0.1:0",
        config(true),
    )
    .await;

    // Topology.
    let (code, status) = h.get("/status").await;
    assert_eq!(code, 200);
    assert_eq!(status["current_master"]["id"], "instance-1");
    assert_eq!(status["current_master"]["host"], cluster.primary().addr());
    assert!(status["current_master"]["container"].is_string());
    assert_eq!(
        ids(&status["current_replicas"]
            .as_array()
            .expect("replicas")
            .iter()
            .map(|r| r["id"].clone())
            .collect()),
        vec!["instance-2", "instance-3", "instance-4"]
    );
    assert_eq!(status["total_replicas"], 3);
    assert_eq!(status["replication_mode"], "binlog");
    assert_eq!(status["failover_in_progress"], false);
    let (code, topo) = h.get("/admin/topology").await;
    assert_eq!(code, 200);
    assert_eq!(topo["total_replicas"], 3);
    assert_eq!(topo["current_master"]["id"], "instance-1");
    let (code, health) = h.get("/health").await;
    assert_eq!(
        (code, health["status"].as_str()),
        (200, Some("healthy")),
        "{health:#}"
    );
    assert_eq!(health["service"], "coordinator");
    assert_eq!(health["quorum_possible"], true);

    // A STRONG write: its timestamp is the primary's position and appears per table.
    let mut app = h.app_conn(true).await;
    app.query_drop("INSERT INTO users (name, email) VALUES ('a', 'a@example.com')")
        .await
        .expect("insert");
    let (code, ts) = h.get("/timestamp").await;
    assert_eq!(code, 200);
    assert_eq!(ts["server_id"], 1);
    let written = ts["timestamp"].as_u64().expect("timestamp is an integer");
    assert!(written > 0);
    let (_, tables) = h.get("/table-timestamps").await;
    assert_eq!(tables["master"]["id"], "instance-1");
    assert_eq!(tables["master"]["global_timestamp"], written);
    assert_eq!(
        tables["master"]["table_timestamps"]["app.users"], written,
        "{tables:#}"
    );
    assert_eq!(tables["replicas"].as_array().expect("replicas").len(), 3);
    for r in tables["replicas"].as_array().expect("replicas") {
        assert!(r["host"]
            .as_str()
            .is_some_and(|h| h.starts_with("127.0.0.1:")));
        assert!(r["table_lag"].is_object() && r["table_timestamps"].is_object());
    }
    let (code, reset) = h.post("/reset", "").await;
    assert_eq!(code, 409);
    assert!(
        reset["message"]
            .as_str()
            .is_some_and(|m| m.contains("clear-data")),
        "{reset}"
    );

    // Metrics: every node, the primary included, caught up.
    let metrics = h
        .until("/metrics", "every node healthy and caught up", |m| {
            m["replicas"].as_array().is_some_and(|a| {
                a.len() == 4
                    && a.iter()
                        .all(|n| n["is_healthy"] == true && n["replication_lag"] == 0)
            })
        })
        .await;
    assert_eq!(metrics["master_timestamp"], written);
    let primary = node(&metrics, "instance-1");
    assert_eq!(primary["is_master"], true);
    for id in ["instance-1", "instance-2", "instance-3", "instance-4"] {
        let n = node(&metrics, id);
        assert!(n["latency_ms"].as_f64().is_some_and(|l| l > 0.0), "{n}");
        // A node started less than a second ago reports Uptime 0: present, not positive.
        assert!(n["uptime_seconds"].as_u64().is_some(), "{n}");
        assert_eq!(n["crash_count"], 0);
        assert!(n["last_updated"].as_f64().is_some_and(|t| t > 1.6e9), "{n}");
        assert_eq!(n["replication_lag_seconds"], 0.0);
    }
    assert_eq!(node(&metrics, "instance-2")["is_master"], false);
    assert_eq!(node(&metrics, "instance-2")["sql_running"], true);
    let (code, one) = h.get("/metrics/instance-3").await;
    assert_eq!(
        (code, one["replica_id"].as_str()),
        (200, Some("instance-3"))
    );
    let (code, missing) = h.get("/metrics/instance-9").await;
    assert_eq!(
        (code, missing["error"].as_str()),
        (404, Some("Replica not found"))
    );
    let prom = h
        .http
        .get(h.url("/metrics/prometheus"))
        .send()
        .await
        .expect("GET");
    assert_eq!(prom.status(), 200);
    let prom = prom.text().await.expect("text");
    assert!(
        prom.contains("myquorum_node_healthy{node=\"instance-1\",role=\"primary\"} 1"),
        "{prom}"
    );
    assert!(prom.contains("# TYPE myquorum_quorum_achieved_total counter"));
    assert!(prom.contains("myquorum_replication_lag_writes{node=\"instance-4\"} 0"));
    assert!(prom.contains("myquorum_pool_opened_total"));
    assert!(prom.contains("myquorum_pool_refused_total 0"), "{prom}");
    assert!(
        prom.contains("# TYPE myquorum_client_sockets gauge"),
        "{prom}"
    );
    for reason in [
        "max_client_connections",
        "max_user_connections",
        "host_blocked",
    ] {
        assert!(
            prom.contains(&format!(
                "myquorum_client_refused_total{{reason=\"{reason}\"}} 0"
            )),
            "{prom}"
        );
    }

    // Cabinet with t = 1: the primary and the heaviest replica.
    let (code, q) = h.post("/select-quorum", r#"{"operation": "write"}"#).await;
    assert_eq!(code, 200, "{q}");
    assert_eq!(q["quorum_size"], 1);
    assert_eq!(ids(&q["quorum"]).len(), 1);
    assert_eq!(q["total_replicas"], 3);
    assert_eq!(q["failure_threshold"], 1);
    assert_eq!(q["weights"].as_object().expect("weights").len(), 4);
    let (code, _) = h.post("/select-quorum", "").await;
    assert_eq!(code, 200, "an empty body means defaults");
    let (code, cq) = h.get("/admin/current-quorum").await;
    assert_eq!(code, 200);
    assert_eq!(cq["master"], "instance-1");
    assert_eq!(cq["cabinet_selected"], q["quorum"]);
    assert_eq!(cq["actual_replicas_to_wait"], q["quorum"]);
    assert_eq!(cq["total_instances"], 3);
    assert_eq!(cq["metrics"]["instance-2"]["is_healthy"], true);

    // SEER: every replica eligible, the primary is no candidate.
    let (code, e) = h.post("/elect-leader", "{}").await;
    assert_eq!(code, 200, "{e:#}");
    assert_eq!(e["applied"], false);
    let candidates = e["candidates"].as_array().expect("candidates");
    assert_eq!(candidates.len(), 3);
    assert!(
        candidates
            .iter()
            .all(|c| c["eligible"] == true && c["score"].as_f64().is_some_and(|s| s > 0.0)),
        "{e:#}"
    );
    assert_eq!(e["leader_id"], candidates[0]["id"]);
    assert!(e["score"].is_f64() && e["uptime_seconds"].is_u64() && e["replication_lag"] == 0);
    let (code, e) = h
        .post("/elect-leader", r#"{"exclude_replicas": ["instance-2"]}"#)
        .await;
    assert_eq!(code, 200);
    assert_ne!(e["leader_id"], "instance-2");

    // A replica falls behind: lag in writes and seconds, unhealthy, dropped by Cabinet, gated
    // out by SEER.
    root(&cluster, "instance-4", "STOP SLAVE SQL_THREAD").await;
    for i in 0..5 {
        app.query_drop(format!(
            "INSERT INTO users (name, email) VALUES ('b{i}', 'b{i}@example.com')"
        ))
        .await
        .expect("insert");
    }
    let lagging = h
        .until(
            "/metrics/instance-4",
            "instance-4 lagging by 5 writes",
            |n| {
                n["replication_lag"] == 5
                    && n["replication_lag_seconds"]
                        .as_f64()
                        .is_some_and(|s| s > 0.0)
            },
        )
        .await;
    assert_eq!(lagging["is_healthy"], false);
    assert_eq!(lagging["sql_running"], false);
    assert_eq!(lagging["io_running"], true);
    let (code, health) = h.get("/health").await;
    assert_eq!((code, health["status"].as_str()), (200, Some("degraded")));
    let (_, q) = h.post("/select-quorum", "{}").await;
    assert!(
        !ids(&q["quorum"]).contains(&"instance-4".to_owned()),
        "{q:#}"
    );
    let weights = q["weights"].as_object().expect("weights");
    let w4 = weights["instance-4"].as_f64().expect("weight");
    assert!(
        weights.values().all(|w| w.as_f64().expect("f64") >= w4),
        "lightest: {q:#}"
    );
    let (code, e) = h.post("/elect-leader", "{}").await;
    assert_eq!(code, 200, "{e:#}");
    assert_ne!(e["leader_id"], "instance-4");
    let c4 = e["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .find(|c| c["id"] == "instance-4")
        .expect("instance-4");
    assert_eq!(c4["eligible"], false, "{e:#}");
    assert!(
        c4["reason"]
            .as_str()
            .is_some_and(|r| r.contains("required")),
        "{c4}"
    );
    let (code, none) = h
        .post(
            "/elect-leader",
            r#"{"exclude_replicas": ["instance-2", "instance-3"]}"#,
        )
        .await;
    assert_eq!(code, 503, "only the lagging replica is left: {none:#}");
    assert_eq!(none["candidates"].as_array().map(Vec::len), Some(3));

    root(&cluster, "instance-4", "START SLAVE SQL_THREAD").await;
    let caught_up = h
        .until("/metrics/instance-4", "instance-4 caught up", |n| {
            n["replication_lag"] == 0 && n["is_healthy"] == true
        })
        .await;
    assert_eq!(caught_up["replication_lag_seconds"], 0.0);

    // Bad input.
    let (code, bad) = h.post("/select-quorum", "{").await;
    assert_eq!(code, 422);
    assert!(bad["error"].is_string() && bad["message"].is_string());
    let (code, _) = h.post("/select-quorum", r#"{"operation": "delete"}"#).await;
    assert_eq!(code, 422);
    let (code, _) = h
        .post("/elect-leader", r#"{"exclude_replicas": "instance-2"}"#)
        .await;
    assert_eq!(code, 422);
    let (code, unknown) = h
        .post("/elect-leader", r#"{"exclude_replicas": ["nope"]}"#)
        .await;
    assert_eq!(
        (code, unknown["error"].as_str()),
        (404, Some("Replica not found"))
    );
    let (code, _) = h.get("/no/such/path").await;
    assert_eq!(code, 404);

    // Failover paths without a server launcher (the proxy did not start the servers) and
    // with bad targets: clear errors, nothing touched.
    for (path, want) in [
        ("/admin/stop-master", 409),
        ("/admin/stop-master-only", 422),
        ("/admin/promote-leader", 422),
        ("/admin/start-instance", 422),
        ("/admin/restart-old-master", 422),
        ("/admin/switchover", 422),
    ] {
        let (code, body) = h.post(path, "{}").await;
        assert_eq!(code, want, "{path}: {body}");
        assert!(body["message"].as_str().is_some(), "{path}: {body}");
    }
    let (_, status) = h.get("/status").await;
    assert_eq!(status["epoch"], 1, "nothing was promoted");

    // OpenAPI.
    let (code, api) = h.get("/openapi.json").await;
    assert_eq!(code, 200);
    for path in [
        "/status",
        "/metrics/{replica_id}",
        "/select-quorum",
        "/elect-leader",
        "/admin/stop-master",
    ] {
        assert!(api["paths"][path].is_object(), "{path} documented");
    }

    // Legacy ports, each with its own shapes.
    for service in ["timestamp_1", "timestamp_2"] {
        let base = h.legacy(service);
        let (code, health) = get_from(&h.http, &format!("{base}/health")).await;
        assert_eq!(code, 200);
        assert_eq!(health["status"], "healthy");
        assert_eq!(health["server_id"], 1);
        assert!(health["current_counter"]
            .as_u64()
            .is_some_and(|c| c > written));
        let (code, ts) = get_from(&h.http, &format!("{base}/timestamp")).await;
        assert_eq!((code, &ts["server_id"]), (200, &Value::from(1)));
        let (code, _) = post_to(&h.http, &format!("{base}/reset"), "").await;
        assert_eq!(code, 409);
        let (code, _) = get_from(&h.http, &format!("{base}/metrics")).await;
        assert_eq!(code, 404, "one route table per service");
    }
    let base = h.legacy("metrics");
    let (_, health) = get_from(&h.http, &format!("{base}/health")).await;
    assert_eq!(
        (
            health["status"].as_str(),
            health["replicas_tracked"].as_u64()
        ),
        (Some("healthy"), Some(4))
    );
    let (_, tables) = get_from(&h.http, &format!("{base}/table-timestamps")).await;
    assert!(tables["master"]["host"].is_string() && tables["master"]["id"].is_null());
    assert_eq!(tables["instances"].as_array().map(Vec::len), Some(4));
    let (code, m) = get_from(&h.http, &format!("{base}/metrics/instance-2")).await;
    assert_eq!((code, m["replica_id"].as_str()), (200, Some("instance-2")));
    let base = h.legacy("cabinet");
    let (_, health) = get_from(&h.http, &format!("{base}/health")).await;
    assert_eq!(
        health,
        serde_json::json!({"status": "healthy", "service": "cabinet"})
    );
    let (code, q) = post_to(
        &h.http,
        &format!("{base}/select-quorum"),
        r#"{"operation":"write"}"#,
    )
    .await;
    assert_eq!((code, q["quorum_size"].as_u64()), (200, Some(1)));
    let base = h.legacy("seer");
    let (_, health) = get_from(&h.http, &format!("{base}/health")).await;
    assert_eq!(
        health,
        serde_json::json!({"status": "healthy", "service": "seer"})
    );
    let (code, e) = post_to(&h.http, &format!("{base}/elect-leader"), "{}").await;
    assert_eq!(code, 200);
    assert!(e["leader_id"].is_string());

    drop(app);
    h.stop().await;
    cluster.stop().await.expect("cluster stops");
}
