//! The data path's side of failover (DESIGN.md section 7): statements that need the primary
//! while a failover runs, or that found it unreachable, wait here (bounded) for the new
//! topology instead of failing; a statement that found the primary unreachable wakes the
//! control plane's detector at once ([`ClusterHandle::suspected`]). The control plane runs
//! the failover itself and brackets it with [`ClusterHandle::begin_failover`] and
//! [`ClusterHandle::end_failover`].

use std::sync::atomic::Ordering;
use tokio::time::Instant;

use super::ClusterHandle;

/// What waiting statements watch: the epoch, whether a failover runs, and how many
/// failover decisions (promotion, refusal, "the primary is alive after all") were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Epoch in force.
    pub epoch: u64,
    /// A failover is running: statements for the primary wait.
    pub failover: bool,
    /// Failover decisions made so far: a waiter wakes on the next one whatever it was.
    pub decisions: u64,
}

impl ClusterHandle {
    /// Marks a failover as running (statements for the primary start waiting). False when
    /// one already runs: one failover at a time.
    pub fn begin_failover(&self) -> bool {
        let mut began = false;
        self.changes.send_if_modified(|c| {
            began = !c.failover;
            c.failover = true;
            began
        });
        if began {
            self.failing_over.store(true, Ordering::Release);
        }
        began
    }

    /// Ends the failover begun by [`Self::begin_failover`] (promoted or refused): waiting
    /// statements go on with the topology in force.
    pub fn end_failover(&self) {
        self.failing_over.store(false, Ordering::Release);
        self.changes.send_modify(|c| {
            c.failover = false;
            c.decisions += 1;
        });
    }

    /// Tells statements waiting on an unreachable primary that the detector decided it is
    /// alive (or that nothing will be done): they stop waiting and report their error.
    pub fn suspicion_cleared(&self) {
        self.changes.send_modify(|c| c.decisions += 1);
    }

    /// Whether a failover runs now (one atomic load: read per statement for the primary).
    pub fn failover_running(&self) -> bool {
        self.failing_over.load(Ordering::Acquire)
    }

    /// Epoch, failover flag and decision count now (`/status`).
    pub fn change(&self) -> Change {
        *self.changes.borrow()
    }

    /// A statement could not reach primary `id` (connection refused, or its connection was
    /// found dead before a byte was sent): wakes the failover detector at once, so the
    /// failed probes need not be waited for. Ids that are not the primary are ignored.
    pub fn primary_unreachable(&self, id: &str) {
        if self.topology.load().is_primary(id) {
            tracing::debug!(node = id, "a statement found the primary unreachable");
            self.suspects.notify_one();
        }
    }

    /// Resolves when a statement reported the primary unreachable (the detector's wake-up).
    pub async fn suspected(&self) {
        self.suspects.notified().await;
    }

    /// Waits until the epoch moves past `seen_epoch` or the next failover decision is made
    /// (promotion, refusal, or "the primary is alive"), or until `deadline`. Returns whether
    /// the epoch moved.
    pub async fn wait_failover(&self, seen_epoch: u64, deadline: Instant) -> bool {
        let mut rx = self.changes.subscribe();
        let start = rx.borrow_and_update().decisions;
        let waited = tokio::time::timeout_at(
            deadline,
            rx.wait_for(|c| c.epoch > seen_epoch || c.decisions > start),
        )
        .await;
        drop(waited);
        self.topology.load().epoch() > seen_epoch
    }
}
