//! Phase 3b, the read retry: a read whose node died under it runs once more elsewhere,
//! as MaxScale's `retry_failed_reads` does (issue 16, item 5). A replica SIGKILLed under read
//! load would otherwise hand the 2013 of every read in flight there to its client, although
//! a read has no effect and another node can answer it.
//!
//! Only a statement that nobody can tell ran twice qualifies: a plain autocommit read outside
//! any transaction, pin or read-only transaction, that creates no session state and does not
//! belong to one connection (the sticky rule's SHOW WARNINGS, a `LAST_INSERT_ID()` read), and
//! only when its connection failed before any byte of its answer reached the client. A write,
//! anything inside a transaction, a statement with session effects, or an answer already
//! partly forwarded gets its error as before. The failed node is suspected first, so the
//! new plan does not choose it again: a replica is skipped for reads for a few seconds, a
//! primary wakes the failover detector (the retry then waits for the new primary like any
//! statement for the primary, bounded by `failover_wait_ms`). The retry is planned by the
//! same [`super::upstream_peer`], so a CAUSAL read still runs only on a node holding its GTID
//! or on the primary. When that plan chooses the failed node again (no failover came), the
//! front door answers with the first failure instead of running the read twice there.

use std::ops::ControlFlow;
use std::sync::Arc;
use tracing::debug;

use super::Upstream;
use crate::classify::{Classified, Consistency};
use crate::cluster::Topology;
use crate::context::ProxyContext;
use crate::route::{is_plain_read, route, Route, SessionState};

/// How one attempt at a statement ended, as [`run_with_retry`] sees it.
#[derive(Debug)]
pub enum Attempt<T, L> {
    /// It ran, or failed for good (the client has, or will get, the answer): the front
    /// door's result.
    Done(T),
    /// Only when the attempt was told it may be retried: its node failed before any byte of
    /// the answer was forwarded, and the client was told nothing. `L` is that failure, for
    /// when no other node can run the read.
    Lost(L),
}

/// A front door's steps for one statement, which [`run_with_retry`] drives: plan it, run it
/// on a node, and answer with a failure that was kept back for a retry.
#[allow(async_fn_in_trait)] // used generically with concrete types only; Send is inferred.
pub trait Retryable {
    /// The front door's backend connections.
    type Up: Upstream;
    /// What the front door makes of the statement.
    type Answer;
    /// A failure kept back from the client ([`Attempt::Lost`]).
    type Lost;
    /// What ends the front door's work on the statement early (its client gone).
    type Error;

    /// Plans the statement on the topology in force: the topology and node id, or
    /// `Break(answer)` when the front door answered instead (a transaction lost to a
    /// failover).
    async fn place(
        &mut self,
        up: &mut Self::Up,
    ) -> Result<ControlFlow<Self::Answer, (Arc<Topology>, Arc<str>)>, Self::Error>;

    /// Runs it on `node` of `topology`; with `retry`, a failure before any byte of the
    /// answer was forwarded comes back as [`Attempt::Lost`] instead of reaching the client.
    async fn run(
        &mut self,
        up: &mut Self::Up,
        topology: &Arc<Topology>,
        node: &Arc<str>,
        retry: bool,
    ) -> Result<Attempt<Self::Answer, Self::Lost>, Self::Error>;

    /// Gives the client a failure that was kept back, when no other node can run the read.
    async fn report(
        &mut self,
        up: &mut Self::Up,
        lost: Self::Lost,
    ) -> Result<Self::Answer, Self::Error>;
}

/// Plans and runs one statement for a front door, once more on another node when a
/// retryable read's node fails before any byte of its answer was forwarded (see the module
/// docs): the node is suspected and the statement planned again; when that plan chooses the
/// failed node again (the primary, when no failover came within `failover_wait_ms`), the
/// kept-back failure is the answer. `retry`: [`retry_allowed`] for this statement.
pub async fn run_with_retry<R: Retryable>(
    statement: &mut R,
    up: &mut R::Up,
    mut retry: bool,
) -> Result<R::Answer, R::Error> {
    let mut failed: Option<(Arc<str>, R::Lost)> = None;
    loop {
        let (topology, node) = match statement.place(up).await? {
            ControlFlow::Continue(plan) => plan,
            ControlFlow::Break(answer) => return Ok(answer),
        };
        if let Some((was, lost)) = failed.take() {
            if was == node {
                return statement.report(up, lost).await;
            }
        }
        match statement.run(up, &topology, &node, retry).await? {
            Attempt::Done(answer) => return Ok(answer),
            Attempt::Lost(lost) if !retry => return statement.report(up, lost).await,
            Attempt::Lost(lost) => {
                suspect(up.context(), &topology, &node);
                retry = false;
                failed = Some((node, lost));
            }
        }
    }
}

/// Whether `stmt`, run at `level` by a front door in `state`, may be retried on another node
/// if its node fails before any byte of its answer was forwarded (and the proxy's
/// `retry_failed_reads` is on).
pub fn retry_allowed(
    ctx: &ProxyContext,
    stmt: &Classified,
    level: Consistency,
    state: SessionState,
) -> bool {
    ctx.config.retry_failed_reads && read_is_retryable(stmt, level, state)
}

/// The rule itself (see the module docs), without the configuration switch.
fn read_is_retryable(stmt: &Classified, level: Consistency, state: SessionState) -> bool {
    let outside_transaction = !state.in_transaction
        && !state.autocommit_off
        && !state.pinned
        && !state.read_only_transaction;
    let no_session_effect = is_plain_read(stmt)
        && !stmt.session_setting
        && stmt.unpins.is_none()
        && stmt.set_consistency.is_none()
        && stmt.kill.is_none();
    let anywhere = matches!(
        route(stmt, level, state),
        Route::Replica | Route::Causal | Route::Primary
    );
    outside_transaction && no_session_effect && !stmt.sticky && !stmt.follows_last_write && anywhere
}

/// Node `id` failed under a retryable read before any byte of its answer was forwarded:
/// suspects it (a replica is skipped for reads for a while; the primary wakes the failover
/// detector) and counts the retry that follows.
pub fn suspect(ctx: &ProxyContext, topology: &Topology, id: &str) {
    debug!(
        node = id,
        "a read failed before its answer: retrying it on another node"
    );
    if topology.is_primary(id) {
        ctx.cluster.primary_unreachable(id);
    } else {
        ctx.cluster.replica_failed(id);
    }
    ctx.metrics.read_retried();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;

    fn idle() -> SessionState {
        SessionState {
            has_previous: true,
            ..SessionState::default()
        }
    }

    fn retryable(sql: &str, level: Consistency, state: SessionState) -> bool {
        read_is_retryable(&classify(sql.as_bytes()), level, state)
    }

    #[test]
    fn plain_reads_outside_transactions_are_retried() {
        use Consistency::*;
        for level in [Eventual, Causal, Strong] {
            assert!(retryable("SELECT SLEEP(1), @@server_id", level, idle()));
            assert!(retryable("SELECT * FROM t WHERE id = 3", level, idle()));
        }
    }

    #[test]
    fn writes_transactions_and_session_effects_are_not() {
        use Consistency::*;
        let in_txn = SessionState {
            in_transaction: true,
            ..idle()
        };
        let read_only = SessionState {
            read_only_transaction: true,
            ..idle()
        };
        let autocommit_off = SessionState {
            autocommit_off: true,
            ..idle()
        };
        let pinned = SessionState {
            pinned: true,
            ..idle()
        };
        let written = SessionState {
            has_last_write: true,
            ..idle()
        };
        assert!(!retryable("INSERT INTO t VALUES (1)", Eventual, idle()));
        assert!(!retryable("UPDATE t SET a = SLEEP(1)", Eventual, idle()));
        assert!(!retryable("SELECT 1", Eventual, in_txn));
        assert!(!retryable("SELECT 1", Eventual, read_only));
        assert!(!retryable("SELECT 1", Eventual, autocommit_off));
        assert!(!retryable("SELECT 1", Eventual, pinned));
        assert!(!retryable("SELECT * FROM t FOR UPDATE", Eventual, idle()));
        assert!(!retryable("SELECT @a := 1", Eventual, idle()));
        assert!(!retryable("SELECT GET_LOCK('x', 1)", Eventual, idle()));
        assert!(!retryable("SELECT 1; SELECT 2", Eventual, idle()));
        assert!(!retryable("SHOW WARNINGS", Eventual, idle()));
        assert!(!retryable("SELECT LAST_INSERT_ID()", Eventual, written));
        assert!(!retryable("SET @@session.sql_mode = ''", Eventual, idle()));
        assert!(!retryable("START TRANSACTION READ ONLY", Eventual, idle()));
    }
}
