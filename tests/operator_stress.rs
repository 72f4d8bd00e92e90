//! `myquorum stress` run as the real binary against a real `myquorum up`: the concurrent,
//! read-after-write, performance and lag scenarios with `--json`, checking the fields each
//! scenario promises (and that their checks passed), plus the refusal of a bad login.

mod operator;

use operator::Up;
use serde_json::Value;

fn scenario<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["scenarios"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["scenario"] == name))
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

fn results(s: &Value) -> &Vec<Value> {
    s["results"].as_array().expect("results")
}

#[test]
fn stress_scenarios_run_and_check_against_a_real_cluster() {
    let up = Up::start("");

    // concurrent: every acknowledged row found, unique timestamps in commit order, both targets.
    let v = up.json(&[
        "stress",
        "concurrent",
        "--count",
        "120",
        "--concurrency",
        "6",
        "--json",
    ]);
    assert_eq!(v["passed"], true, "{v:#}");
    let c = scenario(&v, "concurrent");
    assert_eq!(results(c).len(), 2, "mysql and http: {c:#}");
    for r in results(c) {
        assert_eq!(r["level"], "STRONG");
        assert_eq!(r["acknowledged"], 120, "{r:#}");
        assert_eq!(r["missing_rows"], 0);
        assert_eq!(r["duplicate_timestamps"], 0);
        assert_eq!(r["order_violations"], 0);
        assert_eq!(r["without_timestamp"], 0);
        let (min, max) = (
            r["timestamp_range"]["min"].as_u64().expect("min"),
            r["timestamp_range"]["max"].as_u64().expect("max"),
        );
        assert!(max - min >= 119, "120 distinct GTID timestamps: {r:#}");
        assert!(r["latency"]["p99_ms"].as_f64().is_some_and(|p| p > 0.0));
        eprintln!(
            "concurrent {}: {:.0} ops/s, p50 {:.2} ms",
            r["target"], r["throughput_ops_per_sec"], r["latency"]["p50_ms"]
        );
    }

    // read-after-write: every level on both targets; STRONG and CAUSAL never stale.
    let v = up.json(&["stress", "read-after-write", "--count", "40", "--json"]);
    assert_eq!(v["passed"], true, "{v:#}");
    let r = scenario(&v, "read-after-write");
    assert_eq!(results(r).len(), 6, "{r:#}");
    for x in results(r) {
        assert_eq!(x["trials"], 40, "{x:#}");
        if x["level"] != "EVENTUAL" {
            assert_eq!(x["stale_reads"], 0, "{x:#}");
        }
        eprintln!(
            "read-after-write {} {}: {} stale",
            x["target"], x["level"], x["stale_reads"]
        );
    }

    // performance, one level and target: throughput and percentiles of writes and reads.
    let v = up.json(&[
        "stress",
        "performance",
        "--count",
        "100",
        "--level",
        "causal",
        "--target",
        "mysql",
        "--json",
    ]);
    assert_eq!(v["passed"], true, "{v:#}");
    let p = results(scenario(&v, "performance"));
    assert_eq!(p.len(), 1);
    let x = &p[0];
    assert_eq!(
        (x["target"].as_str(), x["level"].as_str()),
        (Some("mysql"), Some("CAUSAL"))
    );
    assert_eq!(x["successful"], 100, "{x:#}");
    assert_eq!(x["write"]["count"], 30);
    assert_eq!(x["read"]["count"], 70);
    for kind in ["write", "read"] {
        let l = &x[kind];
        let (p50, p95, p99) = (
            l["p50_ms"].as_f64().expect("p50"),
            l["p95_ms"].as_f64().expect("p95"),
            l["p99_ms"].as_f64().expect("p99"),
        );
        assert!(0.0 < p50 && p50 <= p95 && p95 <= p99, "{kind}: {l}");
    }
    eprintln!(
        "performance mysql CAUSAL: {:.0} ops/s",
        x["throughput_ops_per_sec"]
    );

    // lag: the paused replica lags while writes run and catches up once resumed.
    let v = up.json(&[
        "stress",
        "lag",
        "--duration",
        "3",
        "--concurrency",
        "4",
        "--json",
    ]);
    assert_eq!(v["passed"], true, "{v:#}");
    let l = scenario(&v, "lag");
    assert!(l["max_lag_writes"].as_u64().is_some_and(|m| m > 0), "{l:#}");
    assert!(l["catch_up_seconds"].as_f64().is_some(), "{l:#}");
    assert!(
        l["samples"].as_array().is_some_and(|s| s.len() >= 3),
        "{l:#}"
    );
    eprintln!(
        "lag: {} max {} writes behind; quorum before {} while paused {}",
        l["replica"], l["max_lag_writes"], l["quorum_before"], l["quorum_while_paused"]
    );

    // Every scenario deleted its rows from the demo table.
    let left = count_stress_rows(&up.mysql);
    assert_eq!(left, 0, "stress rows left in app.users");

    // A login the proxy refuses: exit code 3 and why, before any scenario runs.
    let out = up.run(&["stress", "concurrent", "--password", "wrong", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot log in to the MySQL port"),
        "{stderr}"
    );
}

/// Rows named `stress-%` in the demo `users` table, read through the proxy at STRONG.
fn count_stress_rows(mysql: &str) -> u64 {
    use mysql_async::prelude::Queryable;
    // prefer_socket=false: mysql_async would otherwise ask `@@socket` and reconnect to the
    // primary's Unix socket, bypassing the proxy.
    let url = format!("mysql://app:app@{mysql}/app?prefer_socket=false");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut conn = mysql_async::Conn::from_url(url).await.expect("connect");
        conn.query_drop("SET myquorum_consistency = 'STRONG'")
            .await
            .expect("level");
        let n: Option<u64> = conn
            .query_first("SELECT COUNT(*) FROM users WHERE name LIKE 'stress-%'")
            .await
            .expect("count");
        let _ = conn.disconnect().await;
        n.unwrap_or(0)
    })
}
