//! `POST /query`, the data and stress endpoints and `/consistency-metrics` against a real
//! 4-node cluster: timestamps, quorum outcomes, rows, SQL errors, bad input, unique stress
//! timestamps, 0 stale STRONG reads, counts and clearing.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use myquorum_control_plane::{ControlPlane, ControlPlaneConfig};
use myquorum_proxy::quorum::FailureThreshold;
use myquorum_proxy::Proxy;
use myquorum_sandbox::Cluster;
use serde_json::{json, Value};
use support::{get_from, post_to, proxy_config};
use tokio::net::TcpListener;

/// The control plane (no MySQL listener) on a proxy whose engine runs in database `app`.
struct Api {
    base: String,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), myquorum_control_plane::ControlPlaneError>>,
}

impl Api {
    async fn start(cluster: &Cluster, listen: &str, token: Option<&str>) -> Api {
        let mut config = proxy_config(cluster, FailureThreshold::Count(1));
        config.engine_database = Some("app".into());
        let proxy = Proxy::start(config).await.expect("proxy starts");
        let state = ControlPlane::new(
            proxy,
            ControlPlaneConfig {
                collector_interval_ms: 200,
                token: token.map(str::to_owned),
                ..ControlPlaneConfig::default()
            },
        );
        let listener = TcpListener::bind(listen).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let base = format!("http://127.0.0.1:{port}");
        let (stop, until) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(myquorum_control_plane::serve(listener, state, async move {
            let _ = until.await;
        }));
        let api = Api {
            base,
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
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        get_from(&self.http, &self.url(path)).await
    }

    async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        post_to(&self.http, &self.url(path), body).await
    }

    async fn query(&self, sql: &str, consistency: &str) -> (u16, Value) {
        self.post(
            "/query",
            &json!({ "query": sql, "consistency": consistency }).to_string(),
        )
        .await
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("control plane stops")
            .expect("no panic")
            .expect("serve returned Ok");
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("array: {v}"))
        .iter()
        .map(|x| x.as_str().expect("string").to_owned())
        .collect()
}

/// Walks `/query` (writes, reads, errors, bad input), the stress endpoints, data-count,
/// clear-data and `/consistency-metrics` with t = 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn query_and_stress_walkthrough() {
    let cluster = Cluster::start_for_tests(4).await.expect("cluster starts");
    let api = Api::start(&cluster, "127.0.0.1:0", None).await;

    // A STRONG write: timestamp, quorum, the exact message, and the timestamp per table.
    let (code, w) = api
        .query(
            "INSERT INTO users (name, email) VALUES ('q1', 'q1@example.com')",
            "STRONG",
        )
        .await;
    assert_eq!(code, 200, "{w:#}");
    assert_eq!(w["success"], true);
    assert_eq!(w["quorum_achieved"], true, "{w:#}");
    assert_eq!(w["rows_affected"], 1);
    assert_eq!(w["data"], Value::Null);
    assert_eq!(w["executed_on"], "instance-1");
    assert_eq!(w["consistency_level"], "STRONG");
    assert!(w["latency_ms"].as_f64().is_some());
    let ts = w["timestamp"].as_u64().expect("timestamp is an integer");
    let caught_up = strings(&w["replica_caught_up"]);
    assert!(!caught_up.is_empty(), "{w:#}");
    assert_eq!(
        w["message"],
        format!(
            "Write successful (consistency: STRONG, timestamp: {ts}, Cabinet replicas: {})",
            caught_up.join(", ")
        )
    );
    let (_, tables) = api.get("/table-timestamps").await;
    assert_eq!(
        tables["master"]["table_timestamps"]["app.users"], ts,
        "{tables:#}"
    );

    // The default level is STRONG; EVENTUAL writes have no quorum fields.
    let (code, d) = api
        .post(
            "/query",
            r#"{"query": "INSERT INTO users (name, email) VALUES ('q2', 'q2@example.com')"}"#,
        )
        .await;
    assert_eq!((code, &d["consistency_level"]), (200, &json!("STRONG")));
    let (code, e) = api
        .query(
            "INSERT INTO users (name, email) VALUES ('q3', 'q3@example.com')",
            "EVENTUAL",
        )
        .await;
    assert_eq!(code, 200, "{e:#}");
    assert_eq!(e["quorum_achieved"], Value::Null);
    assert_eq!(e["replica_caught_up"], Value::Null);
    let eventual_ts = e["timestamp"].as_u64().expect("timestamp");
    assert!(eventual_ts > ts);

    // Reads: rows as objects and columns, at EVENTUAL (a replica), CAUSAL and STRONG.
    let (code, r) = api
        .query("SELECT id, name, email FROM users ORDER BY id", "EVENTUAL")
        .await;
    assert_eq!(code, 200, "{r:#}");
    assert_eq!(strings(&r["columns"]), vec!["id", "name", "email"]);
    assert!(r["data"].is_array());
    assert_ne!(
        r["executed_on"], "instance-1",
        "EVENTUAL reads on a replica"
    );
    assert_eq!(r["quorum_achieved"], Value::Null);
    let (code, c) = api
        .post(
            "/query",
            &json!({"query": "SELECT email FROM users WHERE name = 'q3'", "consistency": "CAUSAL",
                    "after_timestamp": eventual_ts})
            .to_string(),
        )
        .await;
    assert_eq!(code, 200, "{c:#}");
    assert_eq!(c["data"], json!([{"email": "q3@example.com"}]), "{c:#}");
    let (code, s) = api
        .query("SELECT id, email FROM users ORDER BY id", "STRONG")
        .await;
    assert_eq!(code, 200);
    assert_eq!(s["executed_on"], "instance-1");
    let rows = s["data"].as_array().expect("rows");
    assert_eq!(rows.len(), 3);
    assert!(rows[0]["id"].is_i64());
    assert_eq!(rows[0]["email"], "q1@example.com");

    // SQL errors: 400 with the server's code and SQLSTATE.
    let (code, err) = api.query("SELECT * FROM no_such_table", "EVENTUAL").await;
    assert_eq!(code, 400, "{err:#}");
    assert_eq!(err["success"], false);
    assert_eq!(err["error"]["code"], 1146);
    assert_eq!(err["error"]["sqlstate"], "42S02");
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    let (code, dup) = api
        .query(
            "INSERT INTO users (name, email) VALUES ('again', 'q1@example.com')",
            "STRONG",
        )
        .await;
    assert_eq!(
        (code, &dup["error"]["code"]),
        (400, &json!(1062)),
        "{dup:#}"
    );
    let (code, syntax) = api.query("SELEKT 1", "STRONG").await;
    assert_eq!((code, &syntax["error"]["code"]), (400, &json!(1064)));

    // Bad input: 422 with the /query error shape.
    for body in [
        r#"{"query": "SELECT 1", "consistency": "SOMETIMES"}"#.to_owned(),
        r#"{"query": "SELECT 1""#.to_owned(),
        r#"{"query": "   "}"#.to_owned(),
        r#"{"consistency": "STRONG"}"#.to_owned(),
        json!({ "query": format!("SELECT '{}'", "x".repeat(1024 * 1024)) }).to_string(),
    ] {
        let (code, bad) = api.post("/query", &body).await;
        assert_eq!(code, 422, "{} -> {bad:#}", &body[..body.len().min(60)]);
        assert_eq!(bad["success"], false);
        assert!(bad["error"].is_object() && bad["message"].is_string());
    }

    // Concurrent writes: 50 unique rows, unique timestamps within the range.
    let (code, cw) = api
        .post(
            "/admin/stress-test/concurrent-writes",
            r#"{"num_operations": 50, "consistency": "STRONG"}"#,
        )
        .await;
    assert_eq!(code, 200, "{cw:#}");
    assert_eq!(cw["test_name"], "concurrent_writes");
    assert_eq!(
        (&cw["total_operations"], &cw["successful"], &cw["failed"]),
        (&json!(50), &json!(50), &json!(0)),
        "{cw:#}"
    );
    assert_eq!(cw["timestamps_unique"], true);
    assert_eq!(cw["timestamps_ordered"], true);
    assert_eq!(cw["consistency_level"], "STRONG");
    assert_eq!(cw["errors"], json!({}));
    let (min, max) = (
        cw["timestamp_range"]["min"].as_u64().expect("min"),
        cw["timestamp_range"]["max"].as_u64().expect("max"),
    );
    assert!(min > eventual_ts && max - min >= 49, "{cw:#}");
    let lat = |k: &str| cw[k].as_f64().unwrap_or_else(|| panic!("{k}"));
    assert!(lat("min_latency_ms") <= lat("p50_latency_ms"));
    assert!(lat("p50_latency_ms") <= lat("p95_latency_ms"));
    assert!(lat("p95_latency_ms") <= lat("p99_latency_ms"));
    assert!(lat("p99_latency_ms") <= lat("max_latency_ms"));
    assert!(lat("throughput_ops_per_sec") > 0.0 && lat("duration_seconds") > 0.0);

    // Read/write mix: 30% inserts.
    let (code, mix) = api
        .post(
            "/admin/stress-test/read-write-mix",
            r#"{"num_operations": 20, "consistency": "EVENTUAL"}"#,
        )
        .await;
    assert_eq!(code, 200, "{mix:#}");
    assert_eq!((&mix["writes"], &mix["reads"]), (&json!(6), &json!(14)));
    assert_eq!(mix["successful"], 20);
    assert_eq!(mix["consistency_level"], "EVENTUAL");

    // Bad parameters.
    for (path, body) in [
        (
            "/admin/stress-test/concurrent-writes",
            r#"{"num_operations": 0}"#,
        ),
        (
            "/admin/stress-test/concurrent-writes",
            r#"{"num_operations": 100000}"#,
        ),
        (
            "/admin/stress-test/read-write-mix",
            r#"{"consistency": "NEVER"}"#,
        ),
        ("/admin/stress-test/read-write-mix", r#"{"num_operations""#),
        ("/admin/stress-test/read-after-write?num_trials=abc", ""),
        (
            "/admin/stress-test/consistency-comparison?num_operations=0",
            "",
        ),
    ] {
        let (code, bad) = api.post(path, body).await;
        assert_eq!(code, 422, "{path} {body}: {bad:#}");
    }

    // Read-after-write: STRONG never stale.
    let (code, raw) = api
        .post("/admin/stress-test/read-after-write?num_trials=10", "")
        .await;
    assert_eq!(code, 200, "{raw:#}");
    assert_eq!(raw["num_trials"], 10);
    assert_eq!(raw["strong_results"]["stale_reads"], 0, "{raw:#}");
    assert_eq!(raw["strong_results"]["fresh_reads"], 10, "{raw:#}");
    assert_eq!(raw["strong_results"]["failed"], 0);
    assert_eq!(raw["eventual_results"]["failed"], 0);
    assert_eq!(raw["summary"]["strong_read_your_writes"], true);
    assert_eq!(raw["trial_logs"].as_array().map(Vec::len), Some(20));

    // EVENTUAL against STRONG.
    let (code, cmp) = api
        .post(
            "/admin/stress-test/consistency-comparison?num_operations=5",
            "",
        )
        .await;
    assert_eq!(code, 200, "{cmp:#}");
    assert_eq!(cmp["operations_per_level"], 5);
    for level in ["EVENTUAL", "STRONG"] {
        assert_eq!(cmp["results"][level]["successful"], 5, "{cmp:#}");
        assert_eq!(cmp["results"][level]["consistency_level"], level);
    }
    for k in ["fastest", "most_reliable", "highest_throughput"] {
        assert!(
            ["EVENTUAL", "STRONG"].contains(&cmp["summary"][k].as_str().expect(k)),
            "{cmp:#}"
        );
    }

    // Counts: 3 rows by /query, 50 + 6 + 20 + 10 by the stress tests.
    let (code, count) = api.get("/admin/stress-test/data-count").await;
    assert_eq!(code, 200, "{count:#}");
    let users = 3 + 50 + 6 + 20 + 10;
    assert_eq!(
        count,
        json!({"users": users, "products": 0, "total": users})
    );

    // The Prometheus exporter counts statements by route and level, and the quorum waits.
    let text = api
        .http
        .get(api.url("/metrics/prometheus"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let sample = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no `{prefix}` sample in:\n{text}"))
    };
    assert!(sample("myquorum_queries_total{route=\"primary\",consistency=\"STRONG\"}") >= 60.0);
    assert!(sample("myquorum_queries_total{route=\"replica\",consistency=\"EVENTUAL\"}") >= 1.0);
    assert!(sample("myquorum_quorum_wait_seconds_count") >= 60.0);
    assert!(sample("myquorum_query_latency_seconds_bucket{route=\"primary\",le=\"+Inf\"}") >= 60.0);

    // Every statement was counted at its level.
    let (code, m) = api.get("/consistency-metrics").await;
    assert_eq!(code, 200);
    let strong = &m["STRONG"];
    // Writes: 2 by /query, 50, 10 (read-after-write), 5 (comparison); failures: 1062, 1064.
    assert_eq!(strong["write_count"], 2 + 50 + 10 + 5, "{m:#}");
    assert_eq!(strong["failures"], 2, "{m:#}");
    // Reads: 1 by /query, 10 (read-after-write), 2 (data-count).
    assert_eq!(strong["read_count"], 1 + 10 + 2, "{m:#}");
    assert_eq!(strong["total_count"], 67 + 13 + 2);
    assert_eq!(strong["quorum_not_achieved"], 0);
    let eventual = &m["EVENTUAL"];
    assert_eq!(eventual["write_count"], 1 + 6 + 10 + 5, "{m:#}");
    assert_eq!(eventual["read_count"], 1 + 14 + 10, "{m:#}");
    assert_eq!(eventual["failures"], 1);
    assert!(eventual["success_rate"].as_f64().is_some_and(|r| r < 100.0));
    assert_eq!(m["CAUSAL"]["read_count"], 1);
    for level in ["EVENTUAL", "STRONG", "CAUSAL"] {
        for k in [
            "avg_read_latency_ms",
            "avg_write_latency_ms",
            "avg_latency_ms",
            "success_rate",
        ] {
            assert!(m[level][k].is_number(), "{level}.{k}: {m:#}");
        }
    }

    // Clearing: every row deleted, timestamps not rewound.
    let (code, cleared) = api.post("/admin/clear-data", "").await;
    assert_eq!(code, 200, "{cleared:#}");
    assert_eq!(cleared["success"], true);
    assert_eq!(cleared["users_deleted"], users);
    assert_eq!(cleared["products_deleted"], 0);
    assert_eq!(cleared["timestamp_reset"], false);
    let (_, count) = api.get("/admin/stress-test/data-count").await;
    assert_eq!(count, json!({"users": 0, "products": 0, "total": 0}));
    let (_, ts_now) = api.get("/timestamp").await;
    assert!(ts_now["timestamp"].as_u64().is_some_and(|t| t > max));

    // Every new path is in the OpenAPI description.
    let (_, doc) = api.get("/openapi.json").await;
    let paths: HashSet<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(String::as_str)
        .collect();
    for p in [
        "/query",
        "/consistency-metrics",
        "/admin/clear-data",
        "/admin/stress-test/data-count",
        "/admin/stress-test/concurrent-writes",
        "/admin/stress-test/read-write-mix",
        "/admin/stress-test/consistency-comparison",
        "/admin/stress-test/read-after-write",
    ] {
        assert!(paths.contains(p), "{p} in OpenAPI");
    }

    api.stop().await;

    // Beyond loopback, /query and the data paths need the bearer token.
    let open = Api::start(&cluster, "0.0.0.0:0", Some("s3cret")).await;
    let (code, body) = open.query("SELECT 1 AS one", "STRONG").await;
    assert_eq!((code, body["error"].as_str()), (401, Some("Unauthorized")));
    let (code, _) = open.get("/admin/stress-test/data-count").await;
    assert_eq!(code, 401);
    let r = open
        .http
        .post(open.url("/query"))
        .bearer_auth("s3cret")
        .header("content-type", "application/json")
        .body(r#"{"query": "SELECT 1 AS one"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["data"], json!([{"one": 1}]));
    let (code, _) = open.get("/consistency-metrics").await;
    assert_eq!(code, 200, "metrics stay public");
    open.stop().await;

    cluster.stop().await.expect("cluster stops");
}
