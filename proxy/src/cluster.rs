//! The cluster as the data path sees it: which node is the primary, which replicas may take
//! reads (health, known lag), the newest GTID seen, per-table timestamps, and the quorum
//! tracker. One `ClusterHandle` per proxy, shared by every session, the admin port and (later)
//! the control plane.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{BackendNode, ProxyConfig};
use crate::quorum::QuorumTracker;
use crate::timestamps::TableTimestamps;

/// How long a replica that refused a connection is skipped for reads.
const SKIP_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Shared cluster state.
#[derive(Debug)]
pub struct ClusterHandle {
    primary: BackendNode,
    replicas: Vec<BackendNode>,
    /// When each replica (same order) last failed a connection.
    failed_at: Mutex<Vec<Option<Instant>>>,
    next_replica: AtomicUsize,
    /// Highest GTID sequence number the proxy saw committed on the primary.
    newest_seq: AtomicU64,
    /// Highest sequence number of a STRONG write whose quorum was reached (DESIGN.md section
    /// 7: a failover candidate must hold it). In memory until the failover work persists it.
    highest_acknowledged: AtomicU64,
    /// Per-table write timestamps.
    pub tables: TableTimestamps,
    /// The STRONG wait (None with no replicas).
    pub quorum: Option<QuorumTracker>,
    max_lag: u64,
}

impl ClusterHandle {
    /// Builds the view of a validated configuration; `quorum` watches the replicas.
    pub fn new(config: &ProxyConfig, quorum: Option<QuorumTracker>) -> Self {
        let primary = config
            .node(&config.primary)
            .cloned()
            .unwrap_or_else(|| config.nodes[0].clone());
        let replicas = config.replicas();
        Self {
            failed_at: Mutex::new(vec![None; replicas.len()]),
            primary,
            replicas,
            next_replica: AtomicUsize::new(0),
            newest_seq: AtomicU64::new(0),
            highest_acknowledged: AtomicU64::new(0),
            tables: TableTimestamps::default(),
            quorum,
            max_lag: config.max_replica_lag,
        }
    }

    /// The node that takes writes.
    pub fn primary(&self) -> &BackendNode {
        &self.primary
    }

    /// The replicas, in configuration order.
    pub fn replicas(&self) -> &[BackendNode] {
        &self.replicas
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&BackendNode> {
        std::iter::once(&self.primary)
            .chain(&self.replicas)
            .find(|n| n.id == id)
    }

    /// Notes a committed write's sequence number.
    pub fn saw_commit(&self, seq: u64) {
        self.newest_seq.fetch_max(seq, Ordering::Relaxed);
    }

    /// Records a committed write: its sequence number, and its timestamp for every table it
    /// touched (`db` qualifies unqualified names: the session's current database).
    pub fn record_write(&self, seq: u64, tables: &[crate::classify::TableRef], db: Option<&str>) {
        self.saw_commit(seq);
        for table in tables {
            let qualified = match (table.db.as_deref(), db) {
                (Some(d), _) | (None, Some(d)) => format!("{d}.{}", table.name),
                (None, None) => table.name.clone(),
            };
            self.tables.record(&qualified, seq);
        }
    }

    /// Notes a STRONG write acknowledged by its quorum.
    pub fn acknowledged(&self, seq: u64) {
        self.highest_acknowledged.fetch_max(seq, Ordering::Relaxed);
    }

    /// The highest STRONG-acknowledged sequence number since start (0: none yet).
    pub fn highest_acknowledged(&self) -> u64 {
        self.highest_acknowledged.load(Ordering::Relaxed)
    }

    /// The newest sequence number seen committed.
    pub fn newest_seq(&self) -> u64 {
        self.newest_seq.load(Ordering::Relaxed)
    }

    /// Marks a replica unreachable for reads for a few seconds.
    pub fn replica_failed(&self, id: &str) {
        if let Some(i) = self.replicas.iter().position(|n| n.id == id) {
            let mut failed = self.failed_at.lock().unwrap_or_else(|p| p.into_inner());
            failed[i] = Some(Instant::now());
        }
    }

    /// A replica for an EVENTUAL read: round-robin over replicas that are reachable, healthy
    /// in the quorum tracker's eyes and not more than `max_replica_lag` writes behind what
    /// the proxy saw committed. None: read from the primary.
    pub fn pick_replica(&self) -> Option<&BackendNode> {
        if self.replicas.is_empty() {
            return None;
        }
        let usable = self.usable_replicas();
        let start = self.next_replica.fetch_add(1, Ordering::Relaxed);
        (0..self.replicas.len())
            .map(|k| (start + k) % self.replicas.len())
            .find(|i| usable[*i])
            .map(|i| &self.replicas[i])
    }

    /// A usable replica the quorum watchers have seen apply `seq` (rotating among them), so a
    /// CAUSAL read needs no wait there.
    pub fn replica_with(&self, seq: u64) -> Option<String> {
        let view = self.quorum.as_ref()?.read_view();
        let usable = self.usable_replicas();
        let caught_up: Vec<usize> = (0..self.replicas.len())
            .filter(|i| {
                usable[*i]
                    && view
                        .get(*i)
                        .is_some_and(|(_, a)| a.is_some_and(|a| a >= seq))
            })
            .collect();
        if caught_up.is_empty() {
            return None;
        }
        let k = self.next_replica.fetch_add(1, Ordering::Relaxed) % caught_up.len();
        Some(self.replicas[caught_up[k]].id.clone())
    }

    /// Timestamps of the primary and every replica (DESIGN.md section 3), from what the
    /// proxy saw committed and what the quorum watchers saw applied. Writes that bypass the
    /// proxy are not seen per table.
    pub fn timestamps(&self) -> ClusterTimestamps {
        let newest = self.newest_seq();
        let tables = self.tables.newest();
        let view = self
            .quorum
            .as_ref()
            .map(QuorumTracker::read_view)
            .unwrap_or_default();
        let replicas = self
            .replicas
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let applied = view.get(i).and_then(|(_, a)| *a);
                let table_timestamps = applied.map(|a| self.tables.as_of(a)).unwrap_or_default();
                let table_lag = table_timestamps
                    .iter()
                    .filter_map(|(t, ts)| {
                        tables
                            .get(t)
                            .map(|m| (t.clone(), m.saturating_sub(ts.unwrap_or(0))))
                    })
                    .collect();
                ReplicaTimestamps {
                    id: node.id.clone(),
                    global_timestamp: applied,
                    global_lag: applied.map(|a| newest.saturating_sub(a)),
                    table_timestamps,
                    table_lag,
                }
            })
            .collect();
        ClusterTimestamps {
            primary: self.primary.id.clone(),
            global_timestamp: newest,
            table_timestamps: tables,
            replicas,
        }
    }

    fn usable_replicas(&self) -> Vec<bool> {
        let failed = self
            .failed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let view = self.quorum.as_ref().map(QuorumTracker::read_view);
        let newest = self.newest_seq();
        (0..self.replicas.len())
            .map(|i| {
                if failed[i].is_some_and(|t| t.elapsed() < SKIP_AFTER_FAILURE) {
                    return false;
                }
                match view.as_ref().and_then(|v| v.get(i)) {
                    Some((healthy, applied)) => {
                        *healthy && applied.is_none_or(|a| newest.saturating_sub(a) <= self.max_lag)
                    }
                    None => true,
                }
            })
            .collect()
    }
}

/// The primary's timestamps: what [`ClusterHandle::timestamps`] returns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterTimestamps {
    /// Primary node id.
    pub primary: String,
    /// Newest GTID sequence number committed through the proxy.
    pub global_timestamp: u64,
    /// Newest write timestamp per table (`db.table`).
    pub table_timestamps: HashMap<String, u64>,
    /// Every replica.
    pub replicas: Vec<ReplicaTimestamps>,
}

/// One replica's timestamps and lags.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaTimestamps {
    /// Node id.
    pub id: String,
    /// Sequence number it has applied (None until its watcher has read it).
    pub global_timestamp: Option<u64>,
    /// Primary minus replica, in writes.
    pub global_lag: Option<u64>,
    /// Per table: the newest write timestamp it has applied (None: older than remembered).
    pub table_timestamps: HashMap<String, Option<u64>>,
    /// Per table: primary's table timestamp minus the replica's.
    pub table_lag: HashMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BackendNode;

    fn config() -> ProxyConfig {
        ProxyConfig {
            nodes: (1..=3)
                .map(|k| BackendNode {
                    id: format!("instance-{k}"),
                    addr: format!("127.0.0.1:{}", 3400 + k),
                })
                .collect(),
            ..ProxyConfig::default()
        }
    }

    #[test]
    fn replicas_rotate_and_failed_ones_are_skipped() {
        let cluster = ClusterHandle::new(&config(), None);
        assert_eq!(cluster.primary().id, "instance-1");
        let first = cluster.pick_replica().map(|n| n.id.clone());
        let second = cluster.pick_replica().map(|n| n.id.clone());
        assert_ne!(first, second, "round-robin");
        cluster.replica_failed("instance-2");
        for _ in 0..4 {
            assert_eq!(
                cluster.pick_replica().map(|n| n.id.as_str()),
                Some("instance-3")
            );
        }
        cluster.replica_failed("instance-3");
        assert!(
            cluster.pick_replica().is_none(),
            "no usable replica: read from the primary"
        );
    }

    #[test]
    fn timestamps_follow_commits() {
        let cluster = ClusterHandle::new(&config(), None);
        cluster.saw_commit(7);
        cluster.saw_commit(5);
        cluster.tables.record("app.users", 7);
        let ts = cluster.timestamps();
        assert_eq!(ts.global_timestamp, 7);
        assert_eq!(ts.table_timestamps.get("app.users"), Some(&7));
        assert_eq!(ts.replicas.len(), 2);
        assert_eq!(
            ts.replicas[0].global_timestamp, None,
            "no watcher: position unknown"
        );
    }
}
