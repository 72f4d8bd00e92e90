//! [`QuorumTracker`]: the STRONG wait. One watcher task per replica keeps the replicas'
//! applied positions; `wait_for` registers a write and sleeps until the watchers have seen a
//! quorum apply it, or its timeout passes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::state::{Registration, State};
use super::status::{self, QuorumStatus};
use super::watcher::{self, WatchSettings};
use super::weights::{cabinet, FailureThreshold};
use super::QuorumError;
use crate::config::BackendNode;
use crate::gtid::Gtid;

/// How long shutdown waits for the watchers to close their connections before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What a [`QuorumTracker`] needs at start.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// The replicas (every node but the primary): n = `replicas.len() + 1`.
    pub replicas: Vec<BackendNode>,
    /// Control user (needs no privilege beyond login: MASTER_GTID_WAIT and
    /// `@@gtid_slave_pos` are open to all).
    pub user: String,
    /// Its password.
    pub password: String,
    /// Failures tolerated: `Count(1)` by default, or `Majority`.
    pub failure_threshold: FailureThreshold,
    /// Per-write bound on the wait; past it the write is answered not achieved (it stays
    /// committed: the caller answers OK with a warning).
    pub timeout: Duration,
    /// The GTID domain replicated (one domain only).
    pub domain: u32,
    /// Server-side bound of one `MASTER_GTID_WAIT` round trip; short, so a stalled replica's
    /// watcher still notices new, older-first targets and shutdown promptly.
    pub wait_slice: Duration,
    /// With nothing pending a watcher sleeps until a write arrives, but refreshes its
    /// replica's position and health this often (for the status view, not for waiters).
    pub heartbeat: Duration,
    /// Shortest time between two follow-the-newest-commit queries of one watcher while no
    /// STRONG write waits (`quorum.follow_interval_ms`); zero: no pacing.
    pub follow_interval: Duration,
    /// TLS of the watchers' control connections (`[proxy.backend_tls]`); None: plaintext.
    pub ssl: Option<mysql_async::SslOpts>,
}

impl TrackerConfig {
    /// A config with the defaults: t = 1, 5 s timeout, domain 0, 0.5 s slices, 2 s heartbeat.
    pub fn new(replicas: Vec<BackendNode>, user: &str, password: &str) -> Self {
        Self {
            replicas,
            user: user.to_owned(),
            password: password.to_owned(),
            failure_threshold: FailureThreshold::default(),
            timeout: Duration::from_secs(5),
            domain: 0,
            wait_slice: Duration::from_millis(500),
            heartbeat: Duration::from_secs(2),
            follow_interval: Duration::ZERO,
            ssl: None,
        }
    }
}

/// How one STRONG wait ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumOutcome {
    /// The primary plus the replicas that applied the write weighed more than CT.
    pub achieved: bool,
    /// Ids of the replicas seen to have applied it when the wait was answered, in arrival order.
    pub replicas: Vec<String>,
    /// How long the caller waited.
    pub waited: Duration,
    /// The wait hit its timeout (the write stays committed).
    pub timed_out: bool,
}

impl QuorumOutcome {
    /// The outcome of a write that produced no GTID (a no-op UPDATE): nothing to wait for, so
    /// the quorum is trivially met.
    pub fn trivial() -> Self {
        Self {
            achieved: true,
            replicas: Vec::new(),
            waited: Duration::ZERO,
            timed_out: false,
        }
    }

    /// Not achieved, not timed out: the tracker was shut down, or the GTID is of a domain
    /// the tracker does not follow.
    pub(super) fn unanswered() -> Self {
        Self {
            achieved: false,
            replicas: Vec::new(),
            waited: Duration::ZERO,
            timed_out: false,
        }
    }
}

/// What the tracker and its watchers share.
#[derive(Debug)]
pub(super) struct Shared {
    /// Pending writes, replica positions, counters.
    state: Mutex<State>,
    /// One per replica: wakes its idle watcher when a write is registered.
    pub wake: Vec<Notify>,
    /// One per replica: what its watcher last saw, published lock-free for routing.
    pub published: Vec<Published>,
    /// The newest sequence number the proxy saw committed: idle watchers follow it, so the
    /// replicas' known positions stay current for CAUSAL reads, not only for STRONG waits.
    pub newest: AtomicU64,
}

/// A replica's health and applied position as its watcher last saw them, in atomics that
/// every read may load without the tracker's lock.
#[derive(Debug, Default)]
pub(super) struct Published {
    /// Its watcher lost it.
    unhealthy: AtomicBool,
    /// Applied sequence number plus one (0: not known yet).
    applied: AtomicU64,
}

impl Published {
    /// Records what the watcher saw.
    pub fn store(&self, healthy: bool, applied: Option<u64>) {
        self.unhealthy.store(!healthy, Ordering::Relaxed);
        if let Some(a) = applied {
            self.applied.store(a.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// Marks the replica lost (its position stays as last known).
    pub fn lost(&self) {
        self.unhealthy.store(true, Ordering::Relaxed);
    }

    /// The applied sequence number, if known.
    pub fn load_applied(&self) -> Option<u64> {
        self.applied.load(Ordering::Relaxed).checked_sub(1)
    }

    fn load(&self) -> (bool, Option<u64>) {
        let applied = self.applied.load(Ordering::Relaxed);
        (
            !self.unhealthy.load(Ordering::Relaxed),
            applied.checked_sub(1),
        )
    }
}

impl Shared {
    /// The state, locked. Never held across an await; a panic while holding it cannot leave it
    /// half-updated in a way that matters more than refusing service, so poison is ignored.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The STRONG wait: tracks what each replica has applied and answers waiters as quorums form.
#[derive(Debug)]
pub struct QuorumTracker {
    /// State shared with the watchers.
    shared: Arc<Shared>,
    /// Per-write bound on the wait.
    timeout: Duration,
    /// Tells the watchers to stop.
    stop: watch::Sender<bool>,
    /// The watcher tasks, joined by [`QuorumTracker::shutdown`].
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl QuorumTracker {
    /// Validates `config` and spawns one watcher per replica (must run inside a tokio runtime).
    /// Watchers connect in the background: an unreachable replica is marked unhealthy, not an
    /// error here.
    pub fn start(config: TrackerConfig) -> Result<Self, QuorumError> {
        let nodes = config.replicas.len() + 1;
        let t = config.failure_threshold.resolve(nodes)?;
        let mut targets = Vec::with_capacity(config.replicas.len());
        for node in &config.replicas {
            targets.push(watcher::control_opts(
                node,
                &config.user,
                &config.password,
                config.ssl.as_ref(),
            )?);
        }
        let ids = config.replicas.iter().map(|n| n.id.to_string()).collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(cabinet(nodes, t), config.domain, ids)),
            wake: config.replicas.iter().map(|_| Notify::new()).collect(),
            published: config
                .replicas
                .iter()
                .map(|_| Published::default())
                .collect(),
            newest: AtomicU64::new(0),
        });
        let (stop, _) = watch::channel(false);
        let settings = WatchSettings {
            domain: config.domain,
            slice: config.wait_slice,
            heartbeat: config.heartbeat,
            follow_interval: config.follow_interval,
        };
        let tasks = config
            .replicas
            .iter()
            .zip(targets)
            .enumerate()
            .map(|(index, (node, opts))| {
                tokio::spawn(watcher::run(
                    Arc::clone(&shared),
                    index,
                    node.id.to_string(),
                    opts,
                    settings,
                    stop.subscribe(),
                ))
            })
            .collect();
        tracing::info!(nodes, t, "quorum tracker started");
        Ok(Self {
            shared,
            timeout: config.timeout,
            stop,
            tasks: Mutex::new(tasks),
        })
    }

    /// Waits until a Cabinet quorum has applied `gtid` (committed on the primary just before the
    /// call), or the timeout passes. Cancel-safe: dropping the future withdraws the waiter.
    pub async fn wait_for(&self, gtid: Gtid) -> QuorumOutcome {
        let started = Instant::now();
        let registration = self.shared.state().register(gtid, started);
        let (waiter, mut answer) = match registration {
            Registration::Done(outcome) => return outcome,
            Registration::Wait { waiter, answer } => (waiter, answer),
        };
        let mut guard = Withdraw {
            shared: &self.shared,
            seq: gtid.seq,
            waiter,
            armed: true,
        };
        for wake in &self.shared.wake {
            wake.notify_one();
        }
        let outcome = match tokio::time::timeout(self.timeout, &mut answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) | Err(_) => {
                let cancelled = self
                    .shared
                    .state()
                    .cancel(gtid.seq, waiter, Instant::now(), true);
                match cancelled {
                    Some(outcome) => {
                        tracing::warn!(%gtid, replicas = ?outcome.replicas, "STRONG wait timed out");
                        outcome
                    }
                    // Answered between the timeout and the lock: the answer is in the channel.
                    None => answer
                        .try_recv()
                        .unwrap_or_else(|_| QuorumOutcome::unanswered()),
                }
            }
        };
        guard.armed = false;
        outcome
    }

    /// Counts a STRONG write that produced no GTID and returns [`QuorumOutcome::trivial`].
    pub fn record_trivial(&self) -> QuorumOutcome {
        self.shared.state().counters.trivial += 1;
        QuorumOutcome::trivial()
    }

    /// The quorum as it stands: weights per replica, threshold, prediction, counters and each
    /// replica's applied position, health and smoothed apply latency.
    pub fn snapshot(&self) -> QuorumStatus {
        status::build(&self.shared.state(), self.timeout)
    }

    /// Each replica's health and applied sequence number, in configuration order (one
    /// allocation, no lock).
    pub fn read_view(&self) -> Vec<(bool, Option<u64>)> {
        (0..self.shared.published.len())
            .map(|i| self.replica_view(i))
            .collect()
    }

    /// Replica `index`'s health and applied sequence number as its watcher last saw them: the
    /// view routing reads on every read, lock-free and without allocating. An unknown index
    /// reads as unhealthy.
    pub fn replica_view(&self, index: usize) -> (bool, Option<u64>) {
        self.shared
            .published
            .get(index)
            .map_or((false, None), Published::load)
    }

    /// Tells the watchers the proxy saw `seq` committed: each idle watcher whose replica is
    /// not known to hold it wakes and waits for it (`MASTER_GTID_WAIT`), so CAUSAL reads find
    /// caught-up replicas without a round trip of their own. Cheap when nothing is new.
    pub fn note_commit(&self, seq: u64) {
        if self.shared.newest.fetch_max(seq, Ordering::Relaxed) >= seq {
            return;
        }
        for (i, wake) in self.shared.wake.iter().enumerate() {
            if self.replica_view(i).1.is_none_or(|a| a < seq) {
                wake.notify_one();
            }
        }
    }

    /// Stops the watchers and closes their connections (bounded by a short grace period);
    /// answers every pending waiter as not achieved. Later waits are answered at once.
    pub async fn shutdown(&self) {
        self.shared.state().close(Instant::now());
        self.stop.send_replace(true);
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for mut task in tasks {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for QuorumTracker {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Withdraws a waiter whose `wait_for` future was dropped before it was answered.
struct Withdraw<'a> {
    /// Where the waiter is registered.
    shared: &'a Shared,
    /// Its write.
    seq: u64,
    /// Its id.
    waiter: u64,
    /// False once `wait_for` finished normally.
    armed: bool,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self
                .shared
                .state()
                .cancel(self.seq, self.waiter, Instant::now(), false);
        }
    }
}
