//! The cluster as the data path sees it: which node is the primary, which replicas may take
//! reads (health, known lag, recent connection failures) and how fast and busy each one is,
//! the newest GTID seen, per-table timestamps, and the quorum tracker. One `ClusterHandle` per
//! proxy, shared by every session, the admin port and (later) the control plane.
//!
//! Replica choice runs on every EVENTUAL read, so it takes no lock and allocates nothing:
//! per replica, atomics hold a cached copy of the quorum tracker's view (health, applied
//! position; re-read at most every `VIEW_REFRESH`), the time of its last refused connection,
//! a smoothed read latency and its reads in flight. Among the usable replicas two candidates
//! are drawn and the cheaper one wins ("power of two choices"), cost = latency estimate ×
//! (reads in flight + 1): a slow or busy replica gets fewer reads, equal ones share them.
//!
//! A session keeps a home replica: the one its last replica read ran on. Its next read goes
//! there again unless the home is no longer usable (or not caught up, for CAUSAL) or a
//! randomly drawn other replica costs less than a [`HOME_SLACK`]th of it. Sessions then hold
//! one replica connection each instead of one per replica (every replica connection also
//! costs a server thread and a prepare of each statement), while the homes, drawn by the
//! same two choices, stay spread over the replicas.

use std::collections::HashMap;
mod durable;
mod failover;
mod replica_slot;
mod topology;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use arc_swap::{ArcSwap, ArcSwapOption};
pub use durable::{AckLog, PersistedTopology, StateError};
pub use failover::Change;
pub use replica_slot::ReplicaRead;
use replica_slot::{mix, ReplicaSlot};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
pub use topology::{Topology, TopologyError};

use crate::config::{BackendNode, ProxyConfig};
use crate::gtid::Gtid;
use crate::quorum::{QuorumTracker, TrackerConfig};
use crate::timestamps::TableTimestamps;

thread_local! {
    /// The thread's buffer for the `db.table` names of a write's tables
    /// ([`ClusterHandle::record_write`]): looked up in the timestamps without a new string
    /// per write (one is made only for a table seen for the first time).
    static QUALIFIED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// How much cheaper another replica must be before a session's read leaves its home replica.
const HOME_SLACK: f64 = 2.0;

/// How long the cached copy of the quorum tracker's replica view serves EVENTUAL reads before
/// it is read again (the tracker publishes it in atomics: a re-read is a few loads, no lock). A
/// CAUSAL read that finds no caught-up replica in the copy re-reads it at once. The watchers
/// follow every commit the proxy sees, so the positions are one replica round trip old.
const VIEW_REFRESH: Duration = Duration::from_millis(10);

/// [`VIEW_REFRESH`] in nanoseconds.
const VIEW_REFRESH_NS: u64 = VIEW_REFRESH.as_nanos() as u64;

/// Shared cluster state.
#[derive(Debug)]
pub struct ClusterHandle {
    /// Which node is the primary now, and the epoch: read once per statement, replaced whole
    /// by a promotion.
    topology: ArcSwap<Topology>,
    /// Every configured node (the topology decides their roles).
    nodes: Arc<[BackendNode]>,
    /// Routing state of each configured node (same order as `nodes`; only replicas' slots
    /// are used).
    slots: Vec<ReplicaSlot>,
    /// Origin of the slots' timestamps.
    epoch: Instant,
    /// When the slots' copy of the quorum tracker's view was last refreshed (ns since `epoch`).
    view_at: AtomicU64,
    /// Turn counter of replica choice: the first candidate rotates with it (so equal replicas
    /// share reads evenly), the second is drawn from its mixed bits.
    next_replica: AtomicUsize,
    /// Highest GTID sequence number the proxy saw committed on the primary.
    newest_seq: AtomicU64,
    /// Highest sequence number of a STRONG write whose quorum was reached (DESIGN.md section
    /// 7: a failover candidate must hold it); on disk too when a state directory is set.
    highest_acknowledged: AtomicU64,
    /// Where `highest_acknowledged` is made durable before a STRONG OK leaves.
    acks: AckLog,
    /// Where the topology is persisted (None: not persisted).
    state_dir: Option<PathBuf>,
    /// Per-table write timestamps.
    tables: TableTimestamps,
    /// The STRONG wait and the replicas it watches (None with no replicas). Replaced when
    /// the replica set changes (promotion, rejoin).
    quorum: ArcSwapOption<Watching>,
    /// How to start a tracker for a new replica set (None: trackers are not restarted).
    tracker_template: Option<TrackerConfig>,
    /// Epoch and failover progress, for statements waiting out a failover.
    changes: watch::Sender<Change>,
    /// Mirror of `changes.failover`, read per statement without a lock.
    failing_over: AtomicBool,
    /// Wakes the failover detector when a statement found the primary unreachable.
    suspects: Notify,
    max_lag: u64,
    /// The one GTID domain.
    domain: u32,
}

/// A quorum tracker and the nodes it watches (indexes in `nodes`, in the order of its views).
#[derive(Debug)]
struct Watching {
    tracker: Arc<QuorumTracker>,
    watched: Vec<usize>,
}

/// What a proxy resumes from at start (see [`ClusterHandle::resume`]).
#[derive(Debug)]
pub struct Resumed {
    /// The persisted topology, if the state directory had one.
    pub topology: Option<PersistedTopology>,
    /// The durable acknowledged position and the position read from it.
    pub acks: (AckLog, u64),
    /// How to start trackers for later replica sets.
    pub tracker_template: Option<TrackerConfig>,
}

impl ClusterHandle {
    /// Builds the view of a validated configuration; `quorum` watches the replicas. Nothing
    /// is persisted and the tracker is not restarted on promotion (unit tests, tools).
    pub fn new(config: &ProxyConfig, quorum: Option<QuorumTracker>) -> Self {
        let resumed = Resumed {
            topology: None,
            acks: (AckLog::memory_only(), 0),
            tracker_template: None,
        };
        Self::resume(config, quorum, resumed)
    }

    /// Builds the view of a validated configuration and the state a previous run left in
    /// `proxy.state_dir`: the persisted epoch, primary and fenced nodes (when the persisted
    /// primary is a configured node), and the acknowledged position.
    pub fn resume(config: &ProxyConfig, quorum: Option<QuorumTracker>, resumed: Resumed) -> Self {
        let nodes: Arc<[BackendNode]> = config.nodes.iter().cloned().collect();
        let index = |id: &str| nodes.iter().position(|n| *n.id == *id);
        let persisted = resumed.topology.filter(|t| index(&t.primary).is_some());
        let (primary, epoch, fenced) = match &persisted {
            Some(t) => (
                index(&t.primary).unwrap_or(0),
                t.epoch,
                t.fenced.iter().filter_map(|f| index(f)).collect(),
            ),
            None => (index(&config.primary).unwrap_or(0), 1, Vec::new()),
        };
        let topology = Topology::new(Arc::clone(&nodes), primary, epoch, fenced);
        let watched = topology.replica_indexes().to_vec();
        let quorum = quorum.map(|tracker| {
            Arc::new(Watching {
                tracker: Arc::new(tracker),
                watched,
            })
        });
        let (acks, acknowledged) = resumed.acks;
        let cluster = Self {
            slots: nodes.iter().map(|_| ReplicaSlot::default()).collect(),
            epoch: Instant::now(),
            view_at: AtomicU64::new(0),
            changes: watch::Sender::new(Change {
                epoch,
                failover: false,
                decisions: 0,
            }),
            topology: ArcSwap::from_pointee(topology),
            nodes,
            next_replica: AtomicUsize::new(0),
            newest_seq: AtomicU64::new(0),
            highest_acknowledged: AtomicU64::new(acknowledged),
            acks,
            state_dir: config.state_dir.clone(),
            tables: TableTimestamps::default(),
            quorum: ArcSwapOption::new(quorum),
            tracker_template: resumed.tracker_template,
            failing_over: AtomicBool::new(false),
            suspects: Notify::new(),
            max_lag: config.max_replica_lag,
            domain: config.gtid_domain,
        };
        cluster.refresh_view(0, true);
        cluster
    }

    /// The topology in force: read it once per statement (or per decision) and use that
    /// copy throughout, so a promotion in between cannot split one statement across two
    /// primaries.
    pub fn topology(&self) -> Arc<Topology> {
        self.topology.load_full()
    }

    /// Installs the topology that makes `id` the primary, if `seen_epoch` is still the epoch
    /// in force (a decision made under an older topology is refused). Returns the new
    /// topology. Failover calls this once the promotion is done on the servers.
    pub fn promote(&self, id: &str, seen_epoch: u64) -> Result<Arc<Topology>, TopologyError> {
        let current = self.topology.load_full();
        let stale = |current: u64| TopologyError::StaleEpoch {
            seen: seen_epoch,
            current,
        };
        if current.epoch() != seen_epoch {
            return Err(stale(current.epoch()));
        }
        let next = Arc::new(current.promote(id)?);
        self.install(&current, next)
    }

    /// Installs the topology in which fenced node `id` is a replica again (same epoch), if
    /// `seen_epoch` is still the epoch in force. The quorum tracker starts watching it.
    pub fn rejoin(&self, id: &str, seen_epoch: u64) -> Result<Arc<Topology>, TopologyError> {
        let current = self.topology.load_full();
        if current.epoch() != seen_epoch {
            return Err(TopologyError::StaleEpoch {
                seen: seen_epoch,
                current: current.epoch(),
            });
        }
        let next = Arc::new(current.rejoin(id)?);
        self.install(&current, next)
    }

    /// Swaps `current` for `next` (refused if another change won the race), then makes
    /// everything follow: the quorum tracker watches the new replica set, the topology is
    /// persisted, and waiting statements are told.
    fn install(
        &self,
        current: &Arc<Topology>,
        next: Arc<Topology>,
    ) -> Result<Arc<Topology>, TopologyError> {
        let previous = self.topology.compare_and_swap(current, Arc::clone(&next));
        if !Arc::ptr_eq(&previous, current) {
            return Err(TopologyError::StaleEpoch {
                seen: current.epoch(),
                current: previous.epoch(),
            });
        }
        tracing::info!(primary = %next.primary().id, epoch = next.epoch(),
            fenced = ?next.fenced().map(|n| &*n.id).collect::<Vec<_>>(), "topology changed");
        self.retarget(&next);
        self.persist_topology(&next);
        self.changes.send_modify(|c| c.epoch = next.epoch());
        Ok(next)
    }

    /// Starts a quorum tracker for `topology`'s replicas and retires the old one (its pending
    /// waiters are answered "not achieved": their writes were committed on a primary that
    /// is gone or fenced). Without a template the old tracker stays.
    fn retarget(&self, topology: &Topology) {
        let Some(template) = &self.tracker_template else {
            return;
        };
        let watched = topology.replica_indexes().to_vec();
        let next = if watched.is_empty() {
            None
        } else {
            let mut config = template.clone();
            config.replicas = watched.iter().map(|i| self.nodes[*i].clone()).collect();
            match QuorumTracker::start(config) {
                Ok(tracker) => Some(Arc::new(Watching {
                    tracker: Arc::new(tracker),
                    watched,
                })),
                Err(e) => {
                    tracing::error!(error = %e, "could not start the quorum tracker for the new replicas");
                    None
                }
            }
        };
        if let Some(old) = self.quorum.swap(next) {
            tokio::spawn(async move { old.tracker.shutdown().await });
        }
        self.refresh_view(self.nanos(Instant::now()), true);
    }

    /// Writes the topology to the state directory (errors are logged: the topology in
    /// memory is in force either way).
    fn persist_topology(&self, topology: &Topology) {
        let Some(dir) = &self.state_dir else {
            return;
        };
        let persisted = PersistedTopology {
            epoch: topology.epoch(),
            primary: topology.primary().id.to_string(),
            fenced: topology.fenced().map(|n| n.id.to_string()).collect(),
        };
        if let Err(e) = persisted.save(dir) {
            tracing::error!(error = %e, "could not persist the topology");
        }
    }

    /// The quorum tracker that runs the STRONG wait now (None when the cluster has no
    /// replicas). Read it once per write: a promotion replaces it.
    pub fn quorum(&self) -> Option<Arc<QuorumTracker>> {
        self.quorum.load().as_ref().map(|w| Arc::clone(&w.tracker))
    }

    /// Per-table write timestamps (bounded rings; see [`Self::timestamps`] for the view with
    /// replica lags).
    pub fn tables(&self) -> &TableTimestamps {
        &self.tables
    }

    /// The node that takes writes now (a shortcut for one-off reads; a statement reads
    /// [`Self::topology`] once instead).
    pub fn primary(&self) -> &BackendNode {
        &self.nodes[self.topology.load().primary_index()]
    }

    /// The replicas now, in configuration order.
    pub fn replicas(&self) -> Vec<&BackendNode> {
        let topology = self.topology.load();
        topology
            .replica_indexes()
            .iter()
            .map(|i| &self.nodes[*i])
            .collect()
    }

    /// The configured node with this id, whatever its role.
    pub fn node(&self, id: &str) -> Option<&BackendNode> {
        self.nodes.iter().find(|n| *n.id == *id)
    }

    /// Notes a committed write's sequence number.
    pub fn saw_commit(&self, seq: u64) {
        if self.newest_seq.fetch_max(seq, Ordering::Relaxed) < seq {
            if let Some(watching) = self.quorum.load().as_ref() {
                watching.tracker.note_commit(seq);
            }
        }
    }

    /// Records a committed write: its sequence number, and its timestamp for every table it
    /// touched (`db` qualifies unqualified names: the session's current database).
    pub fn record_write(&self, seq: u64, tables: &[crate::classify::TableRef], db: Option<&str>) {
        self.saw_commit(seq);
        for table in tables {
            match (table.db.as_deref(), db) {
                (Some(d), _) | (None, Some(d)) => QUALIFIED.with_borrow_mut(|qualified| {
                    qualified.clear();
                    qualified.push_str(d);
                    qualified.push('.');
                    qualified.push_str(&table.name);
                    self.tables.record(qualified, seq);
                }),
                (None, None) => self.tables.record(&table.name, seq),
            }
        }
    }

    /// Notes a STRONG write acknowledged by its quorum, and returns once that position is
    /// durable (with a state directory; group-committed with the other OKs of the moment):
    /// the OK may leave after this.
    pub async fn acknowledged(&self, seq: u64) {
        self.highest_acknowledged.fetch_max(seq, Ordering::Relaxed);
        self.acks.persist(seq).await;
    }

    /// Whether the acknowledged position survives a proxy restart (a state directory is
    /// configured). When it does not, a failover after a restart cannot know it and must
    /// take the most advanced replica with every replica reachable.
    pub fn acknowledged_is_durable(&self) -> bool {
        self.acks.is_durable()
    }

    /// Sets the newest sequence number seen committed, also downwards: after a promotion
    /// the new primary's position is the truth (writes only the old primary had are gone,
    /// and CAUSAL reads must not wait for them for ever).
    pub fn reset_newest(&self, seq: u64) {
        self.newest_seq.store(seq, Ordering::Relaxed);
    }

    /// The highest STRONG-acknowledged sequence number since start (0: none yet).
    pub fn highest_acknowledged(&self) -> u64 {
        self.highest_acknowledged.load(Ordering::Relaxed)
    }

    /// The newest write seen committed through this proxy, as a GTID of the configured
    /// domain (None before the first): what a CAUSAL read in the proxy-wide scope must see.
    /// `MASTER_GTID_WAIT` compares only the domain and sequence number, so the server id is 0.
    pub fn newest_gtid(&self) -> Option<Gtid> {
        let seq = self.newest_seq();
        (seq > 0).then_some(Gtid {
            domain: self.domain,
            server_id: 0,
            seq,
        })
    }

    /// The newest sequence number seen committed.
    pub fn newest_seq(&self) -> u64 {
        self.newest_seq.load(Ordering::Relaxed)
    }

    /// Marks a replica unreachable for reads for a few seconds.
    pub fn replica_failed(&self, id: &str) {
        if let Some(i) = self.replica_index(id) {
            let now = self.nanos(Instant::now());
            self.slots[i].failed_at.store(now + 1, Ordering::Relaxed);
        }
    }

    /// A replica for an EVENTUAL read, among those that are reachable, healthy in the quorum
    /// tracker's eyes and not more than `max_replica_lag` writes behind what the proxy saw
    /// committed: the cheaper of two candidates by latency and reads in flight (see the module
    /// docs). None: read from the primary. No lock, no allocation.
    ///
    /// `home`: the replica the session's reads last ran on, taken again while it is usable
    /// and no other candidate costs less than a [`HOME_SLACK`]th of it.
    pub fn pick_replica<'t>(
        &self,
        topology: &'t Topology,
        home: Option<&str>,
    ) -> Option<&'t BackendNode> {
        let home = home.and_then(|id| self.replica_index_in(topology, id));
        self.pick_at(topology, home, Instant::now())
            .map(|i| topology.node_at(i))
    }

    /// A usable replica the quorum watchers have seen apply `seq` (the cheaper of two, as for
    /// [`Self::pick_replica`]), so a CAUSAL read needs no wait there. Positions only grow, so a
    /// replica the cached view shows caught up is answered from it; otherwise the tracker's
    /// current view is read before giving up. `home` is preferred as [`Self::pick_replica`]
    /// prefers it.
    pub fn replica_with<'t>(
        &self,
        topology: &'t Topology,
        seq: u64,
        home: Option<&str>,
    ) -> Option<&'t BackendNode> {
        if self.quorum.load().is_none() {
            return None;
        }
        let home = home.and_then(|id| self.replica_index_in(topology, id));
        self.replica_with_at(topology, seq, home, Instant::now())
            .map(|i| topology.node_at(i))
    }

    /// Counts a read starting on `node_id` until the returned guard is dropped; None when the
    /// id is not a replica (the primary's load is not balanced).
    pub fn begin_read(&self, node_id: &str) -> Option<ReplicaRead<'_>> {
        self.replica_index(node_id).map(|i| self.begin_read_on(i))
    }

    /// Folds the duration of one read that ran on replica `node_id` into its latency estimate
    /// (see `LATENCY_DECAY`); other ids are ignored. Lock-free.
    pub fn observe_latency(&self, node_id: &str, elapsed: Duration) {
        if let Some(i) = self.replica_index(node_id) {
            self.observe_latency_at(i, elapsed, Instant::now());
        }
    }

    /// Each replica's read-latency estimate as routing sees it right now, in configuration
    /// order: smoothed over recent reads, raised at once by a slow one, decaying while the
    /// replica gets no reads. None until its first read through this proxy.
    pub fn replica_latencies(&self) -> Vec<(String, Option<Duration>)> {
        self.replica_latencies_at(Instant::now())
    }

    /// Each replica's reads in flight through this proxy, in configuration order.
    pub fn replica_reads_in_flight(&self) -> Vec<(String, usize)> {
        let topology = self.topology.load();
        topology
            .replica_indexes()
            .iter()
            .map(|i| {
                let reads = self.slots[*i].in_flight.load(Ordering::Relaxed);
                (self.nodes[*i].id.to_string(), reads)
            })
            .collect()
    }

    /// Timestamps of the primary and every replica (DESIGN.md section 3), from what the
    /// proxy saw committed and what the quorum watchers saw applied. Writes that bypass the
    /// proxy are not seen per table.
    pub fn timestamps(&self) -> ClusterTimestamps {
        let newest = self.newest_seq();
        let tables = self.tables.newest();
        let watching = self.quorum.load_full();
        let view = watching
            .as_ref()
            .map(|w| w.tracker.read_view())
            .unwrap_or_default();
        let topology = self.topology.load();
        let watched = watching
            .as_ref()
            .map_or(topology.replica_indexes(), |w| w.watched.as_slice());
        let replicas = watched
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let node = &self.nodes[*node];
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
                    id: node.id.to_string(),
                    global_timestamp: applied,
                    global_lag: applied.map(|a| newest.saturating_sub(a)),
                    table_timestamps,
                    table_lag,
                }
            })
            .collect();
        ClusterTimestamps {
            primary: self.primary().id.to_string(),
            global_timestamp: newest,
            table_timestamps: tables,
            replicas,
        }
    }

    /// Index of replica `id` in `nodes` and `slots` (None for the primary and unknown ids).
    fn replica_index(&self, id: &str) -> Option<usize> {
        self.replica_index_in(&self.topology.load(), id)
    }

    /// Index of replica `id` of `topology` in `nodes` and `slots`.
    fn replica_index_in(&self, topology: &Topology, id: &str) -> Option<usize> {
        topology
            .replica_indexes()
            .iter()
            .copied()
            .find(|i| *self.nodes[*i].id == *id)
    }

    /// `at` in nanoseconds since `epoch`.
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn begin_read_on(&self, i: usize) -> ReplicaRead<'_> {
        let in_flight = &self.slots[i].in_flight;
        in_flight.fetch_add(1, Ordering::Relaxed);
        ReplicaRead { in_flight }
    }

    fn observe_latency_at(&self, i: usize, elapsed: Duration, now: Instant) {
        self.slots[i].observe(elapsed.as_nanos() as f64, self.nanos(now));
    }

    fn replica_latencies_at(&self, now: Instant) -> Vec<(String, Option<Duration>)> {
        let now = self.nanos(now);
        let topology = self.topology.load();
        topology
            .replica_indexes()
            .iter()
            .map(|i| (&self.nodes[*i], &self.slots[*i]))
            .map(|(node, slot)| {
                let sampled = slot.latency.load(Ordering::Relaxed) != 0.0f64.to_bits();
                let estimate = sampled.then(|| Duration::from_nanos(slot.latency(now) as u64));
                (node.id.to_string(), estimate)
            })
            .collect()
    }

    /// [`Self::pick_replica`] at `now`: the index of the chosen replica.
    fn pick_at(&self, topology: &Topology, home: Option<usize>, now: Instant) -> Option<usize> {
        let now = self.nanos(now);
        self.refresh_view(now, false);
        let newest = self.newest_seq();
        self.choose(topology, now, home, |s| s.usable(now, newest, self.max_lag))
    }

    /// [`Self::replica_with`] at `now`: the index of the chosen replica.
    fn replica_with_at(
        &self,
        topology: &Topology,
        seq: u64,
        home: Option<usize>,
        now: Instant,
    ) -> Option<usize> {
        let now = self.nanos(now);
        let newest = self.newest_seq();
        let caught_up = |s: &ReplicaSlot| s.holds(seq) && s.usable(now, newest, self.max_lag);
        self.refresh_view(now, false);
        self.choose(topology, now, home, caught_up).or_else(|| {
            self.refresh_view(now, true);
            self.choose(topology, now, home, caught_up)
        })
    }

    /// Power of two choices among the replicas `eligible` accepts: the first candidate in turn,
    /// the second drawn among the others, and the one with the lower cost wins (ties: the
    /// first, so equal replicas take turns). One eligible replica is taken as it is; none
    /// gives None.
    fn choose(
        &self,
        topology: &Topology,
        now: u64,
        home: Option<usize>,
        eligible: impl Fn(&ReplicaSlot) -> bool,
    ) -> Option<usize> {
        let replicas = topology.replica_indexes();
        let nth = |k: usize| {
            replicas
                .iter()
                .copied()
                .filter(|i| eligible(&self.slots[*i]))
                .nth(k)
        };
        let count = replicas
            .iter()
            .filter(|i| eligible(&self.slots[**i]))
            .count();
        if count < 2 {
            return nth(0);
        }
        let turn = self.next_replica.fetch_add(1, Ordering::Relaxed);
        if let Some(home) = home.filter(|h| eligible(&self.slots[*h])) {
            // The home replica against one other eligible replica drawn at random.
            let k = (mix(turn as u64) % (count as u64 - 1)) as usize;
            let other = replicas
                .iter()
                .copied()
                .filter(|i| *i != home && eligible(&self.slots[*i]))
                .nth(k);
            return Some(match other {
                Some(o) if self.slots[o].cost(now) * HOME_SLACK < self.slots[home].cost(now) => o,
                _ => home,
            });
        }
        let first = turn % count;
        let offset = (mix(turn as u64) % (count as u64 - 1)) as usize;
        let second = (first + 1 + offset) % count;
        // Eligibility may change between the passes (other sessions, the view refresh).
        match (nth(first), nth(second)) {
            (Some(a), Some(b)) if a != b => {
                let cheaper = self.slots[b].cost(now) < self.slots[a].cost(now);
                Some(if cheaper { b } else { a })
            }
            (Some(a), _) | (None, Some(a)) => Some(a),
            (None, None) => nth(0),
        }
    }

    /// Copies the quorum tracker's replica view (health, applied position) into the slots when
    /// the copy is older than [`VIEW_REFRESH`] (one caller refreshes, the others go on with
    /// the copy), or at once with `force`.
    fn refresh_view(&self, now: u64, force: bool) {
        let watching = self.quorum.load();
        let Some(watching) = watching.as_ref() else {
            return;
        };
        let tracker = &watching.tracker;
        if force {
            self.view_at.fetch_max(now, Ordering::Relaxed);
        } else {
            let at = self.view_at.load(Ordering::Relaxed);
            if now.saturating_sub(at) < VIEW_REFRESH_NS
                || self
                    .view_at
                    .compare_exchange(at, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                return;
            }
        }
        for (k, i) in watching.watched.iter().enumerate() {
            let slot = &self.slots[*i];
            let (healthy, applied) = tracker.replica_view(k);
            slot.unhealthy.store(!healthy, Ordering::Relaxed);
            let applied = applied.map_or(0, |a| a.saturating_add(1));
            slot.applied.store(applied, Ordering::Relaxed);
        }
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

    const MS: Duration = Duration::from_millis(1);

    /// instance-1 (the primary) to instance-`n`.
    fn config_of(n: usize) -> ProxyConfig {
        ProxyConfig {
            nodes: (1..=n)
                .map(|k| BackendNode {
                    id: format!("instance-{k}").into(),
                    addr: format!("127.0.0.1:{}", 3400 + k),
                })
                .collect(),
            ..ProxyConfig::default()
        }
    }

    fn config() -> ProxyConfig {
        config_of(3)
    }

    /// The replica chosen at `now`, as an index among the replicas (instance-2 is 0).
    fn pick(cluster: &ClusterHandle, now: Instant) -> usize {
        cluster
            .pick_at(&cluster.topology(), None, now)
            .expect("a replica")
            - 1
    }

    /// Feeds a read latency to replica `i` (instance-2 is 0).
    fn observe(cluster: &ClusterHandle, i: usize, elapsed: Duration, now: Instant) {
        cluster.observe_latency_at(i + 1, elapsed, now);
    }

    /// Picks per replica index over `rounds` picks at `now`, no latency fed back.
    fn tally(cluster: &ClusterHandle, rounds: usize, now: Instant) -> Vec<usize> {
        let mut picks = vec![0; cluster.replicas().len()];
        for _ in 0..rounds {
            picks[pick(cluster, now)] += 1;
        }
        picks
    }

    fn assert_even(picks: &[usize], what: &str) {
        let total: usize = picks.iter().sum();
        for (i, n) in picks.iter().enumerate() {
            let share = *n as f64 / total as f64;
            assert!(
                (0.20..=0.47).contains(&share),
                "{what}: replica {i} got {n} of {total} ({picks:?})"
            );
        }
    }

    #[test]
    fn a_session_stays_on_its_home_replica_until_another_is_much_cheaper() {
        let cluster = ClusterHandle::new(&config_of(4), None);
        let topology = cluster.topology();
        let now = Instant::now();
        for i in 0..3 {
            observe(&cluster, i, MS, now);
        }
        let home = |id| {
            cluster
                .pick_replica(&topology, Some(id))
                .map(|n| n.id.clone())
        };
        for _ in 0..20 {
            assert_eq!(home("instance-3").as_deref(), Some("instance-3"));
        }
        // Busy home: 3 reads in flight there, none elsewhere: cost 4x the others'.
        let busy: Vec<_> = (0..3).map(|_| cluster.begin_read_on(2)).collect();
        assert_ne!(home("instance-3").as_deref(), Some("instance-3"));
        drop(busy);
        // One read in flight is not enough to leave (2x is the slack, and it is not less).
        let one = cluster.begin_read_on(2);
        assert_eq!(home("instance-3").as_deref(), Some("instance-3"));
        drop(one);
        cluster.replica_failed("instance-3");
        assert_ne!(
            home("instance-3").as_deref(),
            Some("instance-3"),
            "unusable home"
        );
        assert!(
            home("instance-1").is_some(),
            "the primary is no home: a replica is picked"
        );
    }

    #[test]
    fn replicas_rotate_and_failed_ones_are_skipped() {
        let cluster = ClusterHandle::new(&config(), None);
        assert_eq!(&*cluster.primary().id, "instance-1");
        let first = cluster
            .pick_replica(&cluster.topology(), None)
            .map(|n| n.id.clone());
        let second = cluster
            .pick_replica(&cluster.topology(), None)
            .map(|n| n.id.clone());
        assert_ne!(first, second, "round-robin");
        cluster.replica_failed("instance-2");
        for _ in 0..4 {
            assert_eq!(
                cluster
                    .pick_replica(&cluster.topology(), None)
                    .map(|n| &*n.id),
                Some("instance-3")
            );
        }
        cluster.replica_failed("instance-3");
        assert!(
            cluster.pick_replica(&cluster.topology(), None).is_none(),
            "no usable replica: read from the primary"
        );
    }

    #[test]
    fn a_promotion_swaps_the_primary_and_refuses_stale_decisions() {
        let cluster = ClusterHandle::new(&config(), None);
        let first = cluster.topology();
        assert_eq!(
            (first.epoch(), first.primary().id.as_ref()),
            (1, "instance-1")
        );
        let next = cluster
            .promote("instance-2", first.epoch())
            .expect("a decision under the current epoch");
        assert_eq!(
            (next.epoch(), next.primary().id.as_ref()),
            (2, "instance-2")
        );
        assert_eq!(&*cluster.primary().id, "instance-2");
        assert!(
            cluster.begin_read("instance-2").is_none(),
            "not a replica any more"
        );
        for _ in 0..10 {
            let read = cluster.pick_replica(&next, None).map(|n| &*n.id);
            assert!(
                matches!(read, Some("instance-1" | "instance-3")),
                "{read:?}"
            );
        }
        assert_eq!(
            cluster.promote("instance-3", first.epoch()),
            Err(TopologyError::StaleEpoch {
                seen: 1,
                current: 2
            }),
            "a decision made under epoch 1 is refused at epoch 2"
        );
        assert_eq!(
            cluster.promote("instance-9", 2),
            Err(TopologyError::UnknownNode("instance-9".to_owned()))
        );
        assert_eq!(cluster.topology().epoch(), 2);
    }

    #[test]
    fn equal_latencies_share_reads_evenly() {
        let cluster = ClusterHandle::new(&config_of(4), None);
        let now = Instant::now();
        assert_even(&tally(&cluster, 1000, now), "no samples yet");
        for i in 0..3 {
            observe(&cluster, i, MS, now);
        }
        assert_even(&tally(&cluster, 1000, now), "equal samples");
    }

    /// Ten simulated seconds, one read per millisecond, each read's latency fed back:
    /// instance-2 answers in 10 ms, the others in 1 ms.
    #[test]
    fn the_faster_replicas_are_preferred() {
        let cluster = ClusterHandle::new(&config_of(4), None);
        let start = Instant::now();
        let mut picks = [0usize; 3];
        for step in 0..10_000u32 {
            let now = start + step * MS;
            let i = pick(&cluster, now);
            picks[i] += 1;
            observe(&cluster, i, if i == 0 { 10 * MS } else { MS }, now);
        }
        assert!(picks[0] < 1_000, "the slow replica got {picks:?}");
        assert!(picks[1] > 3_000 && picks[2] > 3_000, "{picks:?}");
    }

    #[test]
    fn reads_in_flight_move_picks_away() {
        let cluster = ClusterHandle::new(&config_of(4), None);
        let now = Instant::now();
        for i in 0..3 {
            observe(&cluster, i, MS, now);
        }
        assert!(
            cluster.begin_read("instance-1").is_none(),
            "not the primary"
        );
        let busy: Vec<_> = (0..3)
            .map(|_| cluster.begin_read("instance-3").expect("a replica"))
            .collect();
        assert_eq!(
            cluster.replica_reads_in_flight()[1],
            ("instance-3".into(), 3)
        );
        let picks = tally(&cluster, 1000, now);
        assert!(picks[1] < 100, "the busy replica got {picks:?}");
        drop(busy);
        assert!(cluster
            .replica_reads_in_flight()
            .iter()
            .all(|(_, n)| *n == 0));
        assert_even(&tally(&cluster, 1000, now), "after the reads ended");
    }

    /// One read stalled 300 ms on instance-2; from then on every replica answers in 1 ms.
    /// instance-2 is avoided at first, read again once its estimate decayed, and then shares
    /// the reads.
    #[test]
    fn a_slow_replica_is_tried_again_once_its_estimate_decays() {
        let cluster = ClusterHandle::new(&config_of(4), None);
        let start = Instant::now();
        for i in 0..3 {
            observe(&cluster, i, MS, start);
        }
        observe(&cluster, 0, 300 * MS, start);
        let mut back = None;
        let mut late = [0usize; 3];
        for step in 1..=20_000u32 {
            let now = start + step * MS;
            let i = pick(&cluster, now);
            if i == 0 && back.is_none() {
                back = Some(step);
            }
            if step > 15_000 {
                late[i] += 1;
            }
            observe(&cluster, i, MS, now);
        }
        let back = back.expect("read again within 20 s");
        assert!(
            back > 1_000,
            "avoided while its estimate is high: back at {back} ms"
        );
        assert_even(&late, "the last 5 s");
    }

    #[test]
    fn latency_estimates_jump_up_blend_down_and_decay() {
        let cluster = ClusterHandle::new(&config(), None);
        let t0 = Instant::now();
        let estimate = |at: Instant| {
            let d = cluster.replica_latencies_at(at)[0].1.expect("sampled");
            d.as_secs_f64() * 1e3
        };
        observe(&cluster, 0, 2 * MS, t0);
        observe(&cluster, 0, 100 * MS, t0);
        assert!((estimate(t0) - 100.0).abs() < 0.01, "a slower read sets it");
        observe(&cluster, 0, 2 * MS, t0);
        assert!(
            (estimate(t0) - 100.0).abs() < 0.01,
            "a fast one at once barely counts"
        );
        let idle = estimate(t0 + 1000 * MS);
        assert!((idle - 100.0 / std::f64::consts::E).abs() < 0.1, "{idle}");
        for k in 1..=100u32 {
            observe(&cluster, 0, 2 * MS, t0 + k * 10 * MS);
        }
        let e = 1.0 / std::f64::consts::E;
        let blended = estimate(t0 + 1000 * MS);
        assert!(
            (blended - (100.0 * e + 2.0 * (1.0 - e))).abs() < 0.5,
            "{blended}"
        );
        let shown = cluster.replica_latencies();
        assert_eq!(shown.len(), 2);
        assert_eq!(shown[0].0, "instance-2");
        assert!(shown[0].1.is_some());
        assert_eq!(shown[1], ("instance-3".to_owned(), None), "no read yet");
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
