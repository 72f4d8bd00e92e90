//! The tables the admin port's SHOW statements answer with, built from the proxy's shared
//! state. Nothing here writes to a socket.

use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;

use crate::config::ProxyConfig;
use crate::context::ProxyContext;
use crate::resultset::{Kind, ResultSet};

/// How long `SHOW BACKENDS` waits for a TCP connect before calling a node `down`.
const REACHABLE_TIMEOUT: Duration = Duration::from_millis(500);

/// `SHOW BACKENDS`: node, address, role, state (a TCP connect, all nodes checked at once),
/// pooled (idle) and busy (held by sessions) connections.
pub async fn backends(shared: &ProxyContext) -> ResultSet {
    let config = &shared.config;
    let checks: Vec<_> = config
        .nodes
        .iter()
        .map(|n| tokio::spawn(reachable(n.addr.clone())))
        .collect();
    let idle = shared.pool.idle_by_node();
    let busy = shared.registry.busy_by_node();
    let mut rs = ResultSet::new(&[
        ("node", Kind::Text),
        ("address", Kind::Text),
        ("role", Kind::Text),
        ("state", Kind::Text),
        ("pooled", Kind::Unsigned),
        ("busy", Kind::Unsigned),
    ]);
    for (node, check) in config.nodes.iter().zip(checks) {
        let up = check.await.unwrap_or(false);
        let role = if *node.id == *config.primary {
            "primary"
        } else {
            "replica"
        };
        rs.push(vec![
            Some(node.id.to_string()),
            Some(node.addr.clone()),
            Some(role.to_owned()),
            Some(if up { "up" } else { "down" }.to_owned()),
            Some(idle.get(&*node.id).copied().unwrap_or(0).to_string()),
            Some(busy.get(&*node.id).copied().unwrap_or(0).to_string()),
        ]);
    }
    rs
}

async fn reachable(addr: String) -> bool {
    matches!(
        tokio::time::timeout(REACHABLE_TIMEOUT, TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// `SHOW SESSIONS`: one row per live client session of the MySQL port (admin connections
/// are not sessions and are not listed).
pub fn sessions(shared: &ProxyContext) -> ResultSet {
    let now = SystemTime::now();
    let mut rs = ResultSet::new(&[
        ("id", Kind::Unsigned),
        ("user", Kind::Text),
        ("client", Kind::Text),
        ("connected_seconds", Kind::Unsigned),
        ("backend_node", Kind::Text),
        ("backend_thread_id", Kind::Unsigned),
        ("pin_reason", Kind::Text),
        ("tls", Kind::Text),
    ]);
    for s in shared.registry.snapshot() {
        let age = now.duration_since(s.connected_at).unwrap_or_default();
        rs.push(vec![
            Some(s.id.to_string()),
            Some(s.user),
            Some(s.peer.to_string()),
            Some(age.as_secs().to_string()),
            s.backend.as_ref().map(|(node, _)| node.to_string()),
            s.backend.as_ref().map(|(_, thread)| thread.to_string()),
            s.pin.map(str::to_owned),
            Some(if s.tls { "yes" } else { "no" }.to_owned()),
        ]);
    }
    rs
}

/// `SHOW QUORUM`: one row per node (the primary first) with its Cabinet rank and weight,
/// health and applied position, plus the threshold, the predicted quorum and the wait
/// outcomes repeated on every row (one flat table reads best in the CLI).
pub fn quorum(shared: &ProxyContext) -> ResultSet {
    let mut rs = ResultSet::new(&[
        ("node", Kind::Text),
        ("role", Kind::Text),
        ("rank", Kind::Unsigned),
        ("weight", Kind::Text),
        ("healthy", Kind::Text),
        ("applied_seq", Kind::Unsigned),
        ("lag_writes", Kind::Unsigned),
        ("in_predicted_quorum", Kind::Text),
        ("threshold", Kind::Text),
        ("failure_threshold", Kind::Unsigned),
        ("achieved", Kind::Unsigned),
        ("timed_out", Kind::Unsigned),
        ("trivially_met", Kind::Unsigned),
    ]);
    let Some(tracker) = shared.cluster.quorum() else {
        return rs;
    };
    let q = tracker.snapshot();
    let newest = shared.cluster.newest_seq();
    let common = |rs: &mut ResultSet,
                  node: String,
                  role: &str,
                  rank: usize,
                  weight: f64,
                  healthy: bool,
                  applied: Option<u64>,
                  predicted: bool| {
        rs.push(vec![
            Some(node),
            Some(role.to_owned()),
            Some(rank.to_string()),
            Some(format!("{weight:.3}")),
            Some(if healthy { "yes" } else { "no" }.to_owned()),
            applied.map(|a| a.to_string()),
            applied.map(|a| newest.saturating_sub(a).to_string()),
            Some(if predicted { "yes" } else { "no" }.to_owned()),
            Some(format!("{:.3}", q.threshold)),
            Some(q.failure_threshold.to_string()),
            Some(q.achieved.to_string()),
            Some(q.timed_out.to_string()),
            Some(q.trivially_met.to_string()),
        ]);
    };
    common(
        &mut rs,
        shared.cluster.primary().id.to_string(),
        "primary",
        0,
        q.primary_weight,
        true,
        Some(shared.cluster.newest_seq()),
        true,
    );
    for r in &q.replicas {
        let predicted = q.predicted_quorum.contains(&r.id);
        common(
            &mut rs,
            r.id.clone(),
            "replica",
            r.rank,
            r.weight,
            r.healthy,
            r.applied_seq,
            predicted,
        );
    }
    rs
}

/// `SHOW METRICS`: the numbers `/metrics/prometheus` exports, as rows of (metric, labels,
/// value): statements by route and level, latency and quorum-wait count / mean.
pub fn metrics(shared: &ProxyContext) -> ResultSet {
    use crate::metrics::{RouteLabel, LEVELS};
    let mut rs = ResultSet::new(&[
        ("metric", Kind::Text),
        ("labels", Kind::Text),
        ("value", Kind::Text),
    ]);
    let m = &shared.metrics;
    for route in RouteLabel::ALL {
        for level in LEVELS {
            rs.push(vec![
                Some("queries_total".to_owned()),
                Some(format!("route={},consistency={level}", route.as_str())),
                Some(m.queries(route, level).to_string()),
            ]);
        }
    }
    let mut summary = |name: &str, labels: String, read: crate::metrics::HistogramRead| {
        let (_, count, sum_ms) = read;
        let mean = if count == 0 {
            0.0
        } else {
            sum_ms / count as f64
        };
        rs.push(vec![
            Some(format!("{name}_count")),
            Some(labels.clone()),
            Some(count.to_string()),
        ]);
        rs.push(vec![
            Some(format!("{name}_mean_ms")),
            Some(labels),
            Some(format!("{mean:.3}")),
        ]);
    };
    for route in RouteLabel::ALL {
        summary(
            "query_latency",
            format!("route={}", route.as_str()),
            m.latency(route),
        );
    }
    summary("quorum_wait", String::new(), m.quorum_wait.read());
    for (reason, count) in shared.registry.pin_counts() {
        rs.push(vec![
            Some("pins_total".to_owned()),
            Some(format!("reason={reason}")),
            Some(count.to_string()),
        ]);
    }
    rs
}

/// `SHOW PINS`: pins taken since start, by reason (DESIGN.md: every pin is counted).
pub fn pins(shared: &ProxyContext) -> ResultSet {
    let mut rs = ResultSet::new(&[("reason", Kind::Text), ("count", Kind::Unsigned)]);
    for (reason, count) in shared.registry.pin_counts() {
        rs.push(vec![Some(reason.to_owned()), Some(count.to_string())]);
    }
    rs
}

/// `SHOW POOL`: connections opened, checkouts served from the idle pool, connections
/// discarded.
pub fn pool(shared: &ProxyContext) -> ResultSet {
    let stats = &shared.pool.stats;
    let mut rs = ResultSet::new(&[
        ("opened", Kind::Unsigned),
        ("reused", Kind::Unsigned),
        ("discarded", Kind::Unsigned),
    ]);
    rs.push(vec![
        Some(stats.opened.load(Ordering::Relaxed).to_string()),
        Some(stats.reused.load(Ordering::Relaxed).to_string()),
        Some(stats.discarded.load(Ordering::Relaxed).to_string()),
    ]);
    rs
}

/// `SHOW CONFIG`: one `variable, value` row per effective setting, nested keys flattened
/// (`pool.max_idle_per_key`, `nodes[0].addr`). Accounts are shown by name only, and any key
/// that looks like a secret is left out entirely.
pub fn config(config: &ProxyConfig) -> ResultSet {
    let mut rs = ResultSet::new(&[("variable", Kind::Text), ("value", Kind::Text)]);
    match serde_json::to_value(config) {
        Ok(tree) => flatten("", &tree, &mut rs.rows),
        Err(e) => rs.push(vec![Some("error".to_owned()), Some(e.to_string())]),
    }
    rs
}

fn flatten(prefix: &str, value: &Value, rows: &mut Vec<Vec<Option<String>>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if is_secret(key) {
                    continue;
                }
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, rows);
            }
        }
        Value::Array(items) if items.iter().any(has_secret) => {
            let names: Vec<&str> = items
                .iter()
                .filter_map(|i| i.get("name").and_then(Value::as_str))
                .collect();
            rows.push(vec![Some(prefix.to_owned()), Some(names.join(","))]);
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), child, rows);
            }
        }
        Value::Null => rows.push(vec![Some(prefix.to_owned()), None]),
        Value::String(s) => rows.push(vec![Some(prefix.to_owned()), Some(s.clone())]),
        other => rows.push(vec![Some(prefix.to_owned()), Some(other.to_string())]),
    }
}

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|s| key.contains(s))
}

fn has_secret(item: &Value) -> bool {
    item.as_object()
        .is_some_and(|m| m.keys().any(|k| is_secret(k)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BackendNode, UserConfig};

    #[test]
    fn config_is_flat_and_has_no_passwords() {
        let cfg = ProxyConfig {
            users: vec![UserConfig {
                name: "app".into(),
                password: "s3cret-app".into(),
                require_ssl: false,
            }],
            nodes: vec![BackendNode {
                id: "instance-1".into(),
                addr: "127.0.0.1:3401".to_owned(),
            }],
            ..ProxyConfig::default()
        };
        let rs = config(&cfg);
        let get = |k: &str| {
            rs.rows
                .iter()
                .find(|r| r[0].as_deref() == Some(k))
                .and_then(|r| r[1].clone())
        };
        assert_eq!(get("primary").as_deref(), Some("instance-1"));
        assert_eq!(get("pool.max_idle_per_key").as_deref(), Some("64"));
        assert_eq!(get("nodes[0].addr").as_deref(), Some("127.0.0.1:3401"));
        assert_eq!(get("users").as_deref(), Some("app"));
        assert_eq!(get("admin_users").as_deref(), Some("admin"));
        for row in &rs.rows {
            for cell in row.iter().flatten() {
                assert!(!cell.contains("s3cret"), "password leaked in {row:?}");
                assert!(!cell.contains("password"), "password key in {row:?}");
            }
        }
    }
}
