//! The one statement pipeline. Every statement, whether it arrives on the MySQL port
//! ([`crate::frontend`], answer streamed to the client) or over HTTP `/query`
//! ([`crate::engine`], answer buffered into rows), goes through the same phases, named as
//! pingora names its proxy phases and each implemented once, here:
//!
//! 1. [`request_filter`]: the statement's consistency level (session or request level,
//!    overridden by a `/* myquorum:consistency=... */` hint or `SET STATEMENT
//!    myquorum_consistency=... FOR`) and the text to send (the proxy's own `SET STATEMENT`
//!    assignment removed). Classification itself is the cached [`crate::classify::Classifier`].
//! 2. [`upstream_peer`]: where it runs. The pure router ([`crate::route`]) decides the kind of
//!    node; this phase turns it into one node of the topology read for this statement: a
//!    replica chosen lag- and latency-aware, retried on another replica when one refuses a
//!    connection, for CAUSAL one that holds the wanted GTID (checked from the watchers'
//!    positions, else waited for with `MASTER_GTID_WAIT`), and the primary as the fallback.
//! 3. [`proxy_to_upstream`]: the statement runs on that node. How the answer leaves is the
//!    front door's business (relayed or collected); this phase keeps the replica's reads in
//!    flight and its latency estimate, which steer the next choices.
//!    When the node's connection fails before any byte of a read's answer was forwarded,
//!    [`retry_allowed`] says whether the read may run once more, and [`run_with_retry`]
//!    (the plan-and-run loop both front doors use, through [`Retryable`]) suspects the node
//!    ([`suspect`]) and plans the statement again with [`upstream_peer`], which does not
//!    choose it now (`retry_failed_reads`).
//! 4. [`logging`]: what the commit means for the cluster: the GTID captured from the OK
//!    packet becomes the timestamp of every table the statement touched, a STRONG write waits
//!    for its Cabinet quorum and advances the acknowledged position, and the statement is
//!    counted and timed.
//!
//! A front door provides its backend connections through [`Upstream`].

mod commit;
mod execute;
mod plan;
mod request;
mod retry;

pub use commit::{logging, Committed};
pub use execute::proxy_to_upstream;
pub use plan::{upstream_peer, Plan};
pub use request::{request_filter, Request, RequestError};
pub use retry::{retry_allowed, run_with_retry, suspect, Attempt, Retryable};

use crate::context::ProxyContext;
use crate::error::BackendError;

/// Rows of a small control query, as text (NULL as None).
pub type Rows = Vec<Vec<Option<Vec<u8>>>>;

/// What the pipeline needs from a front door's backend connections: the MySQL session holds
/// one per node for the client's life; the HTTP engine borrows them per request.
#[allow(async_fn_in_trait)] // used generically with concrete types only; Send is inferred.
pub trait Upstream {
    /// The proxy the connections belong to.
    fn context(&self) -> &ProxyContext;

    /// Makes sure a connection to node `id` is open and ready for a statement (with the
    /// front door's session state on it), opening one if needed.
    async fn connect(&mut self, id: &str) -> Result<(), BackendError>;

    /// Runs a small control query (`MASTER_GTID_WAIT`) on the open connection to node `id`.
    async fn query_rows(&mut self, id: &str, sql: &str) -> Result<Rows, BackendError>;

    /// The connection to node `id` failed: forget it (the next [`Self::connect`] opens a new
    /// one).
    fn lost(&mut self, id: &str);
}
