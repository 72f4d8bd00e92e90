//! Phase 3, `proxy_to_upstream`: a statement running on its node. The front door sends it
//! and moves the answer (relayed to a client, or collected into rows); around that, a read on
//! a replica counts as in flight there and its duration feeds the replica's latency estimate,
//! both of which steer replica choice ([`crate::cluster`]).

use std::future::Future;
use std::time::Instant;

use crate::cluster::Topology;
use crate::context::ProxyContext;

/// Runs `exchange` (send the statement to node `id`, move its answer) and, when `id` is a
/// replica, counts it in flight there until it ends (also on an early return or
/// cancellation) and folds its duration into the replica's latency estimate when
/// `answered` says the backend answered.
pub async fn proxy_to_upstream<T>(
    ctx: &ProxyContext,
    topology: &Topology,
    id: &str,
    exchange: impl Future<Output = T>,
    answered: impl FnOnce(&T) -> bool,
) -> T {
    let on_replica = !topology.is_primary(id);
    let _in_flight = on_replica.then(|| ctx.cluster.begin_read(id)).flatten();
    let sent = Instant::now();
    let outcome = exchange.await;
    if on_replica && answered(&outcome) {
        ctx.cluster.observe_latency(id, sent.elapsed());
    }
    outcome
}
