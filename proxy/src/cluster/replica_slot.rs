//! The routing state of one replica (health, lag, failures, latency, load) in atomics, and
//! the read guard that counts reads in flight: what [`super::ClusterHandle`] chooses from on
//! every EVENTUAL read without a lock.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// How long a replica that refused a connection is skipped for reads.
const SKIP_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Time constant of the read-latency estimate, a "peak EWMA" as Finagle and linkerd balance
/// with: a sample above the estimate replaces it at once; a lower one is blended in with weight
/// `1 - exp(-dt / LATENCY_DECAY)`, dt being the time since the previous sample; and while a
/// replica gets no samples its estimate decays toward zero by the same factor, so a replica
/// that was slow once is tried again seconds later instead of being starved forever.
const LATENCY_DECAY: Duration = Duration::from_secs(1);

/// [`SKIP_AFTER_FAILURE`] in nanoseconds.
const SKIP_AFTER_FAILURE_NS: u64 = SKIP_AFTER_FAILURE.as_nanos() as u64;

/// Routing state of one replica: atomics only, read and written by every session without a
/// lock. Times are nanoseconds since the cluster handle's epoch.
#[derive(Debug, Default)]
pub(super) struct ReplicaSlot {
    /// When it last refused a connection, plus one (0: never).
    pub(super) failed_at: AtomicU64,
    /// Cached from the quorum tracker: its watcher lost it.
    pub(super) unhealthy: AtomicBool,
    /// Cached from the quorum tracker: the sequence number it has applied, plus one (0: not
    /// known yet).
    pub(super) applied: AtomicU64,
    /// Read-latency estimate in nanoseconds, as `f64` bits (0.0: no sample yet).
    pub(super) latency: AtomicU64,
    /// When `latency` was last updated.
    pub(super) latency_at: AtomicU64,
    /// Reads running on it now (see [`ReplicaRead`]).
    pub(super) in_flight: AtomicUsize,
}

impl ReplicaSlot {
    /// Reachable, healthy, and at most `max_lag` writes behind `newest` (or position unknown).
    pub(super) fn usable(&self, now: u64, newest: u64, max_lag: u64) -> bool {
        let failed = self.failed_at.load(Ordering::Relaxed);
        if failed != 0 && now.saturating_sub(failed - 1) < SKIP_AFTER_FAILURE_NS {
            return false;
        }
        if self.unhealthy.load(Ordering::Relaxed) {
            return false;
        }
        let applied = self.applied.load(Ordering::Relaxed);
        applied == 0 || newest.saturating_sub(applied - 1) <= max_lag
    }

    /// Whether it is known to have applied sequence number `seq`.
    pub(super) fn holds(&self, seq: u64) -> bool {
        self.applied.load(Ordering::Relaxed) > seq
    }

    /// The latency estimate at `now` in nanoseconds, decayed since its last sample (0.0: no
    /// sample yet).
    pub(super) fn latency(&self, now: u64) -> f64 {
        let value = f64::from_bits(self.latency.load(Ordering::Relaxed));
        value * decay(now.saturating_sub(self.latency_at.load(Ordering::Relaxed)))
    }

    /// Folds in one read that took `sample` nanoseconds and ended at `now`. Lock-free: a
    /// compare-and-swap on the value; a sample racing with another may see the other's value
    /// with the older timestamp (slightly more decay), which a heuristic can afford.
    pub(super) fn observe(&self, sample: f64, now: u64) {
        let sample = sample.max(1.0);
        let mut old = self.latency.load(Ordering::Relaxed);
        loop {
            let w = decay(now.saturating_sub(self.latency_at.load(Ordering::Relaxed)));
            let current = f64::from_bits(old) * w;
            let new = if sample > current {
                sample
            } else {
                current + sample * (1.0 - w)
            };
            match self.latency.compare_exchange_weak(
                old,
                new.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => old = actual,
            }
        }
        self.latency_at.fetch_max(now, Ordering::Relaxed);
    }

    /// What sending it one more read costs: latency × (reads in flight + 1). A replica with
    /// no sample yet counts 1 ns per read, so it is tried first and gets its first samples.
    pub(super) fn cost(&self, now: u64) -> f64 {
        let in_flight = self.in_flight.load(Ordering::Relaxed) as f64;
        self.latency(now).max(1.0) * (in_flight + 1.0)
    }
}

/// The weight an estimate keeps after `elapsed_ns` without samples: `exp(-elapsed / tau)`.
fn decay(elapsed_ns: u64) -> f64 {
    (-(elapsed_ns as f64) / LATENCY_DECAY.as_nanos() as f64).exp()
}

/// SplitMix64's finaliser: spreads a counter over 64 well-mixed bits (the second candidate's
/// draw; no `rand` on the read path).
pub(super) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A read running on a replica, counted in its reads in flight until dropped (so every path,
/// errors and cancellation included, gives it back). From [`ClusterHandle::begin_read`].
#[derive(Debug)]
#[must_use = "the read counts as in flight only while the guard lives"]
pub struct ReplicaRead<'a> {
    /// The replica's counter.
    pub(super) in_flight: &'a AtomicUsize,
}

impl Drop for ReplicaRead<'_> {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
