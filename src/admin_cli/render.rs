//! The readable summaries of the operator commands, built from the API's JSON answers.

use serde_json::Value;

use crate::table::{num, Table};

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("-")
}

fn list(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}

/// `status`: a header (primary, epoch, health, quorum) and one row per node.
pub fn status(all: &Value) -> String {
    let status = &all["status"];
    let health = &all["health"];
    let quorum = &all["quorum"];
    let primary = &status["current_master"];
    let fenced = list(status, "fenced");
    let mut out = format!(
        "primary {} ({})   epoch {}   health {}   replicas {}{}\n",
        s(primary, "id"),
        s(primary, "host"),
        status["epoch"]
            .as_u64()
            .map_or("-".to_owned(), |e| e.to_string()),
        s(health, "status"),
        status["total_replicas"].as_u64().unwrap_or(0),
        if status["failover_in_progress"].as_bool() == Some(true) {
            "   FAILOVER IN PROGRESS"
        } else {
            ""
        }
    );
    let in_quorum = list(quorum, "quorum");
    if let Some(why) = quorum.get("unavailable").and_then(Value::as_str) {
        out.push_str(&format!("STRONG quorum: none possible ({why})\n"));
    } else {
        out.push_str(&format!(
            "STRONG quorum (next write): primary + {} ({} of {} replicas; threshold {}, failure threshold {})\n",
            if in_quorum.is_empty() { "-".to_owned() } else { in_quorum.join(", ") },
            quorum["quorum_size"].as_u64().unwrap_or(0),
            quorum["total_replicas"].as_u64().unwrap_or(0),
            num(quorum["threshold"].as_f64(), 3),
            quorum["failure_threshold"].as_u64().map_or("-".to_owned(), |t| t.to_string()),
        ));
    }
    if let Some(refused) = status.get("failover_refused").filter(|v| !v.is_null()) {
        out.push_str(&format!(
            "last automatic failover refused: {}\n",
            s(refused, "reason")
        ));
    }
    if let Some(last) = status.get("last_failover").filter(|v| !v.is_null()) {
        out.push_str(&format!(
            "last failover: {} -> {} (epoch {}, {} ms)\n",
            s(last, "old_master"),
            s(last, "new_master"),
            last["epoch"].as_u64().unwrap_or(0),
            last["duration_ms"].as_u64().unwrap_or(0)
        ));
    }
    out.push('\n');
    let hosts: Vec<(String, String)> = std::iter::once(primary)
        .chain(status["current_replicas"].as_array().into_iter().flatten())
        .map(|n| (s(n, "id").to_owned(), s(n, "host").to_owned()))
        .collect();
    let health_of = |id: &str| {
        std::iter::once(&health["primary"])
            .chain(health["replicas"].as_array().into_iter().flatten())
            .find(|c| s(c, "id") == id)
            .cloned()
    };
    let mut table = Table::new([
        "NODE",
        "ROLE",
        "ADDRESS",
        "HEALTHY",
        "LAG(writes)",
        "LAG(s)",
        "LATENCY(ms)",
        "GTID",
        "IO/SQL",
        "WEIGHT",
        "QUORUM",
        "LAST ERROR",
    ]);
    for m in all["metrics"]["replicas"].as_array().into_iter().flatten() {
        let id = s(m, "replica_id");
        let role = if id == s(primary, "id") {
            "primary"
        } else if fenced.iter().any(|f| f == id) {
            "fenced"
        } else {
            "replica"
        };
        let threads = match (m["io_running"].as_bool(), m["sql_running"].as_bool()) {
            (None, None) => "-".to_owned(),
            (io, sql) => format!("{}/{}", yes_no(io), yes_no(sql)),
        };
        let healthy = health_of(id)
            .and_then(|c| c["healthy"].as_bool())
            .or(m["is_healthy"].as_bool());
        let error = m["last_error"].as_str().unwrap_or("");
        table.row([
            id.to_owned(),
            role.to_owned(),
            hosts
                .iter()
                .find(|(h, _)| h == id)
                .map_or("-".to_owned(), |(_, a)| a.clone()),
            yes_no(healthy).to_owned(),
            m["replication_lag"]
                .as_u64()
                .map_or("-".to_owned(), |l| l.to_string()),
            num(m["replication_lag_seconds"].as_f64(), 1),
            num(m["latency_ms"].as_f64(), 2),
            m["gtid_seq"]
                .as_u64()
                .map_or("-".to_owned(), |g| g.to_string()),
            threads,
            num(quorum["weights"][id].as_f64(), 3),
            if role == "primary" {
                "primary".to_owned()
            } else {
                yes_no(Some(in_quorum.iter().any(|q| q == id))).to_owned()
            },
            error.chars().take(60).collect(),
        ]);
    }
    out.push_str(&table.render());
    out
}

/// `switchover` / `failover`: who is primary now, and what the failover report says.
pub fn failover(what: &str, answer: &Value) -> String {
    // `failover` without `--to` answers {elected, status}; the others the failover answer.
    if let Some(elected) = answer.get("elected") {
        let status = &answer["status"];
        return format!(
            "{what}: {} promoted by SEER (score {}); primary now {} (epoch {})\n",
            s(elected, "leader_id"),
            num(elected["score"].as_f64(), 3),
            s(&status["current_master"], "id"),
            status["epoch"].as_u64().unwrap_or(0),
        );
    }
    let report = &answer["report"];
    let mut out = format!(
        "{what}: {} is the primary (was {}, epoch {}, {} ms)\n",
        s(answer, "new_master"),
        s(answer, "old_master"),
        report["epoch"].as_u64().unwrap_or(0),
        report["duration_ms"].as_u64().unwrap_or(0),
    );
    let moved = list(answer, "reconfigured_replicas");
    out.push_str(&format!(
        "replicas re-pointed: {}\n",
        if moved.is_empty() {
            "none".to_owned()
        } else {
            moved.join(", ")
        }
    ));
    for not in list(report, "not_reconfigured") {
        out.push_str(&format!("not re-pointed: {not}\n"));
    }
    let lost = list(report, "may_be_lost");
    if !lost.is_empty() {
        out.push_str(&format!(
            "forced: GTIDs that may be lost: {}\n",
            lost.join(", ")
        ));
    }
    out
}

/// `rejoin`: the topology after the node came back.
pub fn rejoin(id: &str, answer: &Value) -> String {
    let replicas: Vec<String> = answer["current_replicas"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| s(r, "id").to_owned())
        .collect();
    format!(
        "rejoin: {id} is a replica of {}; replicas now: {}\n",
        s(&answer["current_master"], "id"),
        replicas.join(", ")
    )
}

/// `elect`: SEER's choice and every candidate, best first.
pub fn elect(answer: &Value) -> String {
    let mut out = match answer.get("leader_id").and_then(Value::as_str) {
        Some(leader) => format!(
            "SEER would promote {leader} (score {}); required position {} ({})\n\n",
            num(answer["score"].as_f64(), 3),
            answer["required_position"].as_u64().unwrap_or(0),
            s(answer, "required_basis"),
        ),
        None => format!("SEER: {}\n\n", s(answer, "message")),
    };
    let mut table = Table::new([
        "RANK",
        "CANDIDATE",
        "SCORE",
        "ELIGIBLE",
        "LAG(writes)",
        "LATENCY(ms)",
        "UPTIME(s)",
        "CRASHES",
        "REASON",
    ]);
    for (i, c) in answer["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        table.row([
            (i + 1).to_string(),
            s(c, "id").to_owned(),
            num(c["score"].as_f64(), 3),
            yes_no(c["eligible"].as_bool()).to_owned(),
            c["replication_lag"]
                .as_u64()
                .map_or("-".to_owned(), |v| v.to_string()),
            num(c["latency_ms"].as_f64(), 2),
            c["uptime_seconds"]
                .as_u64()
                .map_or("-".to_owned(), |v| v.to_string()),
            c["crash_count"]
                .as_u64()
                .map_or("-".to_owned(), |v| v.to_string()),
            s(c, "reason").to_owned(),
        ]);
    }
    out.push_str(&table.render());
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// A fenced node, a lagging replica and a quorum member each show as such.
    #[test]
    fn status_rows_show_roles_lag_and_quorum() {
        let node = |id: &str, port: u16| json!({"id": id, "host": format!("127.0.0.1:{port}")});
        let metric = |id: &str, lag: u64, master: bool| {
            json!({"replica_id": id, "replication_lag": lag, "replication_lag_seconds": lag as f64 / 10.0,
                   "latency_ms": 1.5, "gtid_seq": 100 - lag, "is_healthy": true, "is_master": master,
                   "io_running": if master { None } else { Some(true) },
                   "sql_running": if master { None } else { Some(lag == 0) }})
        };
        let all = json!({
            "status": {"current_master": node("instance-2", 3402),
                       "current_replicas": [node("instance-3", 3403)],
                       "total_replicas": 1, "epoch": 4, "fenced": ["instance-1"],
                       "failover_in_progress": false, "failover_refused": null, "last_failover": null},
            "health": {"status": "degraded", "primary": {"id": "instance-2", "healthy": true},
                       "replicas": [{"id": "instance-3", "healthy": true}]},
            "metrics": {"replicas": [metric("instance-1", 0, false), metric("instance-2", 0, true),
                                     metric("instance-3", 12, false)]},
            "quorum": {"quorum": ["instance-3"], "quorum_size": 1, "total_replicas": 1,
                       "threshold": 2.618, "failure_threshold": 1,
                       "weights": {"instance-2": 2.618, "instance-3": 1.618}},
        });
        let text = super::status(&all);
        assert!(
            text.starts_with("primary instance-2 (127.0.0.1:3402)   epoch 4   health degraded"),
            "{text}"
        );
        assert!(
            text.contains("primary + instance-3 (1 of 1 replicas"),
            "{text}"
        );
        let row = |id: &str| {
            text.lines()
                .find(|l| l.starts_with(id))
                .unwrap_or_else(|| panic!("no {id} row in\n{text}"))
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(row("instance-1")[1], "fenced");
        assert_eq!(row("instance-2")[1], "primary");
        let r3 = row("instance-3");
        assert_eq!(&r3[1..5], ["replica", "127.0.0.1:3403", "yes", "12"]);
        assert!(
            r3.contains(&"yes/no") && r3.ends_with(&["1.618", "yes"]),
            "{r3:?}"
        );
    }

    /// `elect` ranks the candidates in the API's order and names the leader.
    #[test]
    fn elect_lists_candidates_best_first() {
        let answer = json!({"leader_id": "instance-3", "score": 0.8, "required_position": 7,
            "required_basis": "basis", "candidates": [
                {"id": "instance-3", "score": 0.8, "eligible": true, "reason": "ok"},
                {"id": "instance-2", "score": 0.5, "eligible": false, "reason": "behind"}]});
        let text = super::elect(&answer);
        assert!(
            text.starts_with("SEER would promote instance-3 (score 0.800); required position 7"),
            "{text}"
        );
        let ranks: Vec<&str> = text
            .lines()
            .skip(4)
            .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
            .collect();
        assert_eq!(ranks, ["instance-3", "instance-2"], "{text}");
        assert!(text.contains("behind"));
    }
}
