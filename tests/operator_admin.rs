//! `myquorum status`, `elect`, `switchover`, `failover` and `rejoin` run as the real binary
//! against a real `myquorum up` (4 MariaDB servers, the proxy, its control plane) with a
//! bearer token configured: the commands must find the cluster, move the primary, and fail
//! with the API's message and the documented exit codes.

mod operator;

use operator::Up;
use serde_json::Value;

fn primary(status: &Value) -> String {
    status["status"]["current_master"]["id"]
        .as_str()
        .expect("current_master.id")
        .to_owned()
}

#[test]
fn operator_commands_drive_a_real_cluster() {
    let up = Up::start("token = \"op-s3cret\"");

    // status: four nodes, instance-1 primary, the three others replicas, healthy, a quorum.
    let text = up.ok(&["status"]);
    assert!(text.contains("primary instance-1"), "{text}");
    assert!(text.contains("health healthy"), "{text}");
    for k in 1..=4 {
        assert!(text.contains(&format!("instance-{k}")), "{text}");
    }
    assert_eq!(text.matches(" replica ").count(), 3, "{text}");
    let status = up.json(&["status", "--json"]);
    assert_eq!(primary(&status), "instance-1");
    assert_eq!(
        status["metrics"]["replicas"].as_array().map(Vec::len),
        Some(4)
    );
    assert_eq!(status["status"]["epoch"], 1);
    assert!(status["quorum"]["quorum"]
        .as_array()
        .is_some_and(|q| !q.is_empty()));

    // elect: every replica ranked, the leader one of them, nothing applied.
    let text = up.ok(&["elect"]);
    assert!(text.contains("SEER would promote instance-"), "{text}");
    let elect = up.json(&["elect", "--json"]);
    let candidates = elect["candidates"].as_array().expect("candidates");
    assert_eq!(candidates.len(), 3, "{elect}");
    assert_eq!(elect["applied"], false);
    let excluded = up.json(&["elect", "--json", "--exclude", "instance-2"]);
    assert_ne!(excluded["leader_id"], "instance-2", "{excluded}");

    // A wrong token: the admin path refuses with 401, exit code 1, the API's message.
    let out = up.run_env(
        &["switchover", "--to", "instance-2"],
        &[("MYQUORUM_CONTROL_PLANE__TOKEN", "wrong")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("401") && stderr.contains("bearer token"),
        "{stderr}"
    );

    // switchover to instance-2: status then shows it as primary, instance-1 rejoined.
    let text = up.ok(&["switchover", "--to", "instance-2"]);
    assert!(
        text.contains("instance-2 is the primary (was instance-1"),
        "{text}"
    );
    let status = up.json(&["status", "--json"]);
    assert_eq!(primary(&status), "instance-2", "{status}");
    assert_eq!(status["status"]["epoch"], 2);
    let replicas: Vec<&str> = status["status"]["current_replicas"]
        .as_array()
        .expect("replicas")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(
        replicas.contains(&"instance-1"),
        "old primary rejoined: {status}"
    );
    assert!(up.ok(&["status"]).contains("primary instance-2"));

    // Bad ids: exit code 1 and the API's message, nothing moved.
    let out = up.run(&["switchover", "--to", "instance-9"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("instance-9"), "{stderr}");
    let out = up.run(&["rejoin", "instance-9", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let body: Value = serde_json::from_slice(&out.stdout).expect("--json prints the error body");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("instance-9")),
        "{body}"
    );
    assert_eq!(primary(&up.json(&["status", "--json"])), "instance-2");

    // failover: SEER promotes a replica now; the old primary is fenced until it rejoins.
    let answer = up.json(&["failover", "--json"]);
    let leader = answer["elected"]["leader_id"]
        .as_str()
        .expect("leader")
        .to_owned();
    assert_ne!(leader, "instance-2");
    let status = up.json(&["status", "--json"]);
    assert_eq!(primary(&status), leader);
    assert!(
        status["status"]["fenced"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "instance-2")),
        "{status}"
    );
    let text = up.ok(&["rejoin", "instance-2"]);
    assert!(
        text.contains(&format!("instance-2 is a replica of {leader}")),
        "{text}"
    );
    let status = up.json(&["status", "--json"]);
    assert_eq!(status["status"]["total_replicas"], 3, "{status}");

    // Nothing listening: exit code 3.
    let out = up.run(&[
        "status",
        "--api",
        &format!("127.0.0.1:{}", operator::free_port()),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot reach the control plane"),
        "{stderr}"
    );
}
