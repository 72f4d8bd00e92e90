//! The safety gate with real servers killed (issue 16, item 8): the primary killed together
//! with the only replica that holds the last STRONG writes makes automatic failover refuse
//! (`/status`, `/elect-leader` say why) until `{"force": true}`, which lists what may be
//! lost; a proxy restarted between those writes and the kill still refuses (the acknowledged
//! position is persisted in `proxy.state_dir`). Each test starts its own sandbox.

mod support;

use std::time::Duration;

use myquorum_control_plane::ControlPlaneConfig;
use myquorum_proxy::quorum::FailureThreshold;
use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};
use support::{root, Harness};

/// Failover settings for these tests: automatic, a short cool-down.
fn config() -> ControlPlaneConfig {
    let mut cfg = ControlPlaneConfig::default();
    cfg.failover.cooldown_ms = 1_000;
    cfg
}

/// Three nodes; instance-3 stops replicating, so with `t = 1` (any two of three nodes form
/// a quorum) only instance-2 acknowledges the STRONG writes that follow. Returns the harness.
async fn only_instance_2_acknowledges(cluster: &Cluster) -> Harness {
    root(
        cluster,
        "instance-1",
        "CREATE TABLE app.refusal_rows (n INT PRIMARY KEY)",
    )
    .await;
    cluster.wait_replicated().await.expect("replicated");
    root(cluster, "instance-3", "STOP SLAVE").await;
    Harness::start(cluster, FailureThreshold::Count(1), "127.0.0.1:0", config()).await
}

/// Five STRONG writes through the MySQL port, each acknowledged by its quorum (no warning);
/// returns the highest STRONG-acknowledged position the proxy reports.
async fn strong_writes(h: &Harness) -> u64 {
    let mut conn = h.app_conn(true).await;
    for n in 1..=5 {
        conn.query_drop(format!("INSERT INTO refusal_rows VALUES ({n})"))
            .await
            .expect("STRONG write");
        assert_eq!(conn.get_warnings(), 0, "write {n} reached its quorum");
    }
    drop(conn);
    // The collector's next probe shows instance-2 holding them: it is then the only
    // eligible candidate.
    let mut dry = Value::Null;
    for _ in 0..50 {
        let (code, answer) = h.post("/elect-leader", "{}").await;
        dry = answer;
        if code == 200 && dry["leader_id"] == "instance-2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(dry["leader_id"], "instance-2", "{dry:#}");
    let required = dry["required_position"]
        .as_u64()
        .expect("required_position");
    assert!(required > 0, "{dry:#}");
    required
}

/// Kills instance-2 (a dying replica triggers nothing), then the primary; waits until the
/// automatic failover was refused and returns `/status`.
async fn kill_both_and_see_the_refusal(cluster: &Cluster, h: &Harness, required: u64) -> Value {
    cluster
        .kill_node("instance-2")
        .await
        .expect("kill instance-2");
    cluster
        .kill_node("instance-1")
        .await
        .expect("kill the primary");
    let status = h
        .until("/status", "a refused failover", |s| {
            !s["failover_refused"].is_null()
        })
        .await;
    let reason = status["failover_refused"]["reason"]
        .as_str()
        .expect("reason")
        .to_owned();
    eprintln!("refused: {reason}");
    assert!(
        reason.contains(&format!("STRONG-acknowledged position {required}")),
        "the refusal names the acknowledged position {required}: {reason}"
    );
    assert_eq!(status["epoch"], 1, "no failover happened: {status:#}");
    assert_eq!(status["current_master"]["id"], "instance-1");
    // The dry run says why too, once the collector's next probe saw instance-2 gone:
    // instance-3 misses the acknowledged writes.
    let (mut code, mut dry) = (0, Value::Null);
    for _ in 0..50 {
        (code, dry) = h.post("/elect-leader", "{}").await;
        if code == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(code, 503, "{dry:#}");
    assert_eq!(
        dry["failover_refused"]["reason"],
        reason.as_str(),
        "{dry:#}"
    );
    let candidates = dry["candidates"].as_array().expect("candidates");
    let third = candidates
        .iter()
        .find(|c| c["id"] == "instance-3")
        .expect("instance-3 is a candidate");
    assert_eq!(third["eligible"], false, "{dry:#}");
    status
}

/// The primary and the only replica holding the last STRONG writes die together: automatic
/// failover refuses, and `/elect-leader {"apply": true, "force": true}` promotes instance-3
/// and lists the acknowledged GTIDs it lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_strong_writes_is_refused_until_forced() {
    let cluster = Cluster::start_for_tests(3).await.expect("cluster starts");
    let h = only_instance_2_acknowledges(&cluster).await;
    let required = strong_writes(&h).await;
    kill_both_and_see_the_refusal(&cluster, &h, required).await;

    let (code, forced) = h
        .post(
            "/elect-leader",
            &json!({"apply": true, "force": true}).to_string(),
        )
        .await;
    assert_eq!(code, 200, "{forced:#}");
    assert_eq!(forced["leader_id"], "instance-3");
    assert_eq!(forced["applied"], true);
    let lost: Vec<&str> = forced["may_be_lost"]
        .as_array()
        .expect("may_be_lost")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    eprintln!("forced: may be lost {lost:?}");
    assert!(
        lost.iter().any(|g| g.ends_with(&format!("-{required}"))),
        "the acknowledged GTID {required} is listed as possibly lost: {lost:?}"
    );
    let status = h.until("/status", "epoch 2", |s| s["epoch"] == 2).await;
    assert_eq!(status["current_master"]["id"], "instance-3");
    assert!(status["failover_refused"].is_null(), "{status:#}");
    h.stop().await;
}

/// The same refusal from a proxy restarted between the STRONG writes and the kill: the
/// acknowledged position comes back from its state directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_proxy_still_refuses_to_lose_them() {
    let cluster = Cluster::start_for_tests(3).await.expect("cluster starts");
    let h = only_instance_2_acknowledges(&cluster).await;
    let required = strong_writes(&h).await;
    h.stop().await;
    // Let the collector of the old control plane go quiet before the new one starts.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let h = Harness::start(
        &cluster,
        FailureThreshold::Count(1),
        "127.0.0.1:0",
        config(),
    )
    .await;
    assert_eq!(
        h.state.context().cluster().highest_acknowledged(),
        required,
        "the acknowledged position survived the restart"
    );
    kill_both_and_see_the_refusal(&cluster, &h, required).await;
    h.stop().await;
}
