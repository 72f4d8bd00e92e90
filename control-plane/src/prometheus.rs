//! `GET /metrics/prometheus`: the Prometheus text exposition format. Every metric name is a
//! documented constant here; values are read at scrape time from the collector, the quorum
//! tracker, the session registry and the backend pool (where they are counted).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use myquorum_proxy::limits::Refusal;
use myquorum_proxy::metrics::{HistogramRead, RouteLabel, StatementMetrics, BUCKETS_MS, LEVELS};

use crate::state::{ControlPlane, NodeView};

/// Gauge, per node: 1 when the collector finds it healthy.
pub const NODE_HEALTHY: &str = "myquorum_node_healthy";
/// Gauge, per node: smoothed probe round trip in milliseconds.
pub const NODE_LATENCY_MS: &str = "myquorum_node_latency_ms";
/// Gauge, per node: writes behind the primary.
pub const REPLICATION_LAG_WRITES: &str = "myquorum_replication_lag_writes";
/// Gauge, per node: seconds behind the primary.
pub const REPLICATION_LAG_SECONDS: &str = "myquorum_replication_lag_seconds";
/// Gauge, per node: the server's `Uptime`.
pub const NODE_UPTIME_SECONDS: &str = "myquorum_node_uptime_seconds";
/// Counter, per node: crashes seen by the collector.
pub const NODE_CRASHES: &str = "myquorum_node_crashes_total";
/// Gauge: the primary's GTID sequence number.
pub const PRIMARY_SEQ: &str = "myquorum_primary_gtid_seq";
/// Gauge, per replica: Cabinet weight held now.
pub const QUORUM_WEIGHT: &str = "myquorum_quorum_weight";
/// Counter: STRONG waits that reached a quorum.
pub const QUORUM_ACHIEVED: &str = "myquorum_quorum_achieved_total";
/// Counter: STRONG waits that timed out.
pub const QUORUM_TIMED_OUT: &str = "myquorum_quorum_timed_out_total";
/// Counter: STRONG writes with no GTID (nothing to wait for).
pub const QUORUM_TRIVIAL: &str = "myquorum_quorum_trivially_met_total";
/// Gauge: STRONG writes being waited on.
pub const QUORUM_PENDING: &str = "myquorum_quorum_pending";
/// Counter, per reason: sessions pinned to their backend connection.
pub const PINS: &str = "myquorum_pins_total";
/// Gauge: client sessions open on the MySQL port.
pub const CLIENT_CONNECTIONS: &str = "myquorum_client_connections";
/// Gauge: client sockets open on the MySQL port, logged in or not (what
/// `max_client_connections` caps).
pub const CLIENT_SOCKETS: &str = "myquorum_client_sockets";
/// Counter, per reason: client connections the front door refused.
pub const CLIENT_REFUSED: &str = "myquorum_client_refused_total";
/// Counter: backend checkouts refused with 1040 because a pool cap stayed reached.
pub const POOL_REFUSED: &str = "myquorum_pool_refused_total";
/// Counter: backend connections opened by the pool.
pub const POOL_OPENED: &str = "myquorum_pool_opened_total";
/// Counter: backend connections reused from the pool.
pub const POOL_REUSED: &str = "myquorum_pool_reused_total";
/// Counter: pooled connections discarded (too old, broken).
pub const POOL_DISCARDED: &str = "myquorum_pool_discarded_total";
/// Gauge, per node: idle pooled connections.
pub const POOL_IDLE: &str = "myquorum_pool_idle";
/// Gauge, per node: backend connections held by sessions.
pub const POOL_BUSY: &str = "myquorum_pool_busy";
/// Counter, per route and consistency level: statements run (MySQL port and HTTP /query).
pub const QUERIES: &str = "myquorum_queries_total";
/// Histogram, per route: statement latency through the proxy, in seconds.
pub const QUERY_LATENCY: &str = "myquorum_query_latency_seconds";
/// Histogram, per consistency level: statement latency through the proxy, in seconds.
pub const QUERY_LATENCY_BY_LEVEL: &str = "myquorum_query_latency_by_level_seconds";
/// Histogram: how long STRONG writes waited for their Cabinet quorum, in seconds.
pub const QUORUM_WAIT: &str = "myquorum_quorum_wait_seconds";
/// Counter: reads retried on another node after theirs failed before any byte of the answer
/// reached the client (`proxy.retry_failed_reads`).
pub const READ_RETRIES: &str = "myquorum_read_retries_total";

/// A per-node metric: name, type, help, and how to read it from a node's view.
type PerNode = (
    &'static str,
    &'static str,
    &'static str,
    fn(&NodeView) -> f64,
);

/// Renders every metric.
pub fn render(cp: &ControlPlane) -> String {
    let shared = cp.context();
    let view = cp.view();
    let mut out = Text::default();

    out.head(
        NODE_HEALTHY,
        "gauge",
        "1 when the collector finds the node healthy",
    );
    for n in &view.nodes {
        let role = if n.metrics.is_master {
            "primary"
        } else {
            "replica"
        };
        let labels = format!("node=\"{}\",role=\"{role}\"", n.metrics.id);
        out.sample(NODE_HEALTHY, &labels, f64::from(u8::from(n.healthy())));
    }
    let per_node: [PerNode; 5] = [
        (
            NODE_LATENCY_MS,
            "gauge",
            "smoothed probe round trip (ms)",
            |n| n.metrics.latency_ms.unwrap_or(0.0),
        ),
        (
            REPLICATION_LAG_WRITES,
            "gauge",
            "writes behind the primary",
            |n| n.lag_writes as f64,
        ),
        (
            REPLICATION_LAG_SECONDS,
            "gauge",
            "seconds behind the primary",
            |n| n.lag_seconds,
        ),
        (NODE_UPTIME_SECONDS, "gauge", "server Uptime", |n| {
            n.metrics.uptime_seconds as f64
        }),
        (
            NODE_CRASHES,
            "counter",
            "crashes seen by the collector",
            |n| n.metrics.crash_count as f64,
        ),
    ];
    for (name, kind, help, value) in per_node {
        out.head(name, kind, help);
        for n in &view.nodes {
            out.sample(name, &format!("node=\"{}\"", n.metrics.id), value(n));
        }
    }
    out.head(PRIMARY_SEQ, "gauge", "the primary's GTID sequence number");
    out.sample(PRIMARY_SEQ, "", view.primary_seq as f64);

    if let Some(q) = shared.cluster().quorum().map(|q| q.snapshot()) {
        out.head(QUORUM_WEIGHT, "gauge", "Cabinet weight held now");
        out.sample(
            QUORUM_WEIGHT,
            &format!("node=\"{}\"", shared.cluster().primary().id),
            q.primary_weight,
        );
        for r in &q.replicas {
            out.sample(QUORUM_WEIGHT, &format!("node=\"{}\"", r.id), r.weight);
        }
        let counters = [
            (
                QUORUM_ACHIEVED,
                "counter",
                "STRONG waits that reached a quorum",
                q.achieved as f64,
            ),
            (
                QUORUM_TIMED_OUT,
                "counter",
                "STRONG waits that timed out",
                q.timed_out as f64,
            ),
            (
                QUORUM_TRIVIAL,
                "counter",
                "STRONG writes with nothing to wait for",
                q.trivially_met as f64,
            ),
            (
                QUORUM_PENDING,
                "gauge",
                "STRONG writes being waited on",
                q.pending as f64,
            ),
        ];
        for (name, kind, help, value) in counters {
            out.head(name, kind, help);
            out.sample(name, "", value);
        }
    }

    out.head(
        PINS,
        "counter",
        "sessions pinned to their backend connection, by reason",
    );
    for (reason, count) in shared.registry().pin_counts() {
        out.sample(PINS, &format!("reason=\"{reason}\""), count as f64);
    }
    out.head(
        CLIENT_CONNECTIONS,
        "gauge",
        "client sessions open on the MySQL port",
    );
    out.sample(
        CLIENT_CONNECTIONS,
        "",
        shared.registry().snapshot().len() as f64,
    );

    let limits = shared.limits();
    out.head(
        CLIENT_SOCKETS,
        "gauge",
        "client sockets open on the MySQL port, logged in or not",
    );
    out.sample(CLIENT_SOCKETS, "", limits.open_clients() as f64);
    out.head(
        CLIENT_REFUSED,
        "counter",
        "client connections refused by the front door, by reason",
    );
    for reason in Refusal::ALL {
        out.sample(
            CLIENT_REFUSED,
            &format!("reason=\"{}\"", reason.as_str()),
            limits.refused(reason) as f64,
        );
    }

    let stats = &shared.pool().stats;
    let pool = [
        (
            POOL_OPENED,
            "backend connections opened",
            stats.opened.load(Ordering::Relaxed),
        ),
        (
            POOL_REUSED,
            "backend connections reused",
            stats.reused.load(Ordering::Relaxed),
        ),
        (
            POOL_DISCARDED,
            "pooled connections discarded",
            stats.discarded.load(Ordering::Relaxed),
        ),
        (
            POOL_REFUSED,
            "backend checkouts refused with 1040 (a pool cap stayed reached)",
            stats.refused.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, value) in pool {
        out.head(name, "counter", help);
        out.sample(name, "", value as f64);
    }
    render_statements(&mut out, shared.metrics());
    let idle = shared.pool().idle_by_node();
    let busy = shared.registry().busy_by_node();
    let per_node_pool = [
        (POOL_IDLE, "idle pooled backend connections", &idle),
        (POOL_BUSY, "backend connections held by sessions", &busy),
    ];
    for (name, help, counts) in per_node_pool {
        out.head(name, "gauge", help);
        for node in &shared.config().nodes {
            let value = counts.get(&*node.id).copied().unwrap_or(0) as f64;
            out.sample(name, &format!("node=\"{}\"", node.id), value);
        }
    }
    out.0
}

/// Statement counters by route and level, and the latency and quorum-wait histograms.
fn render_statements(out: &mut Text, m: &StatementMetrics) {
    out.head(
        QUERIES,
        "counter",
        "statements run, by route and consistency level",
    );
    for route in RouteLabel::ALL {
        for level in LEVELS {
            let labels = format!("route=\"{}\",consistency=\"{level}\"", route.as_str());
            out.sample(QUERIES, &labels, m.queries(route, level) as f64);
        }
    }
    out.head(
        QUERY_LATENCY,
        "histogram",
        "statement latency through the proxy (seconds)",
    );
    for route in RouteLabel::ALL {
        out.histogram(
            QUERY_LATENCY,
            &format!("route=\"{}\"", route.as_str()),
            m.latency(route),
        );
    }
    out.head(
        QUERY_LATENCY_BY_LEVEL,
        "histogram",
        "statement latency through the proxy by consistency level (seconds)",
    );
    for level in LEVELS {
        out.histogram(
            QUERY_LATENCY_BY_LEVEL,
            &format!("consistency=\"{level}\""),
            m.latency_at_level(level),
        );
    }
    out.head(
        QUORUM_WAIT,
        "histogram",
        "STRONG writes' wait for their quorum (seconds)",
    );
    out.histogram(QUORUM_WAIT, "", m.quorum_wait.read());
    out.head(
        READ_RETRIES,
        "counter",
        "reads retried on another node after theirs failed before answering",
    );
    out.sample(READ_RETRIES, "", m.read_retries() as f64);
}

/// The text being built.
#[derive(Default)]
struct Text(String);

impl Text {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One histogram's `_bucket` (cumulative, `le` in seconds), `_sum` and `_count` lines.
    fn histogram(&mut self, name: &str, labels: &str, read: HistogramRead) {
        let (buckets, count, sum_ms) = read;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, n) in BUCKETS_MS.iter().zip(buckets) {
            let le = format!("{labels}{sep}le=\"{}\"", bound / 1000.0);
            self.sample(&format!("{name}_bucket"), &le, n as f64);
        }
        self.sample(
            &format!("{name}_bucket"),
            &format!("{labels}{sep}le=\"+Inf\""),
            count as f64,
        );
        self.sample(&format!("{name}_sum"), labels, sum_ms / 1000.0);
        self.sample(&format!("{name}_count"), labels, count as f64);
    }

    fn sample(&mut self, name: &str, labels: &str, value: f64) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
        }
    }
}
