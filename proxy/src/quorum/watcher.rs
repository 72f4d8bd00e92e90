//! One watcher per replica: one control connection, one query in flight at a time.
//!
//! The loop: find the oldest pending write this replica has not been seen to apply; run
//! `SELECT MASTER_GTID_WAIT('<it>', <slice>), @@gtid_slave_pos`, which returns as soon as the
//! replica applies it (or after the slice) and reports the real position; release every waiter
//! at or below that position; repeat. With nothing pending it sleeps on its `Notify`, waking
//! only for a new write, the heartbeat or shutdown. A failed connection marks the replica
//! unhealthy and is reopened with backoff; the other watchers never wait on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use tokio::sync::watch;

use super::tracker::Shared;
use super::QuorumError;
use crate::config::BackendNode;
use crate::gtid::Gtid;

/// First reconnect delay; doubled per failure up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Bound on opening a control connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Slack beyond the server-side slice before a round trip counts as hung.
const QUERY_GRACE: Duration = Duration::from_secs(2);

/// The per-watcher settings taken from the tracker's config.
#[derive(Debug, Clone, Copy)]
pub(super) struct WatchSettings {
    /// The GTID domain to read from `@@gtid_slave_pos`.
    pub domain: u32,
    /// Server-side timeout of one MASTER_GTID_WAIT.
    pub slice: Duration,
    /// Idle refresh period.
    pub heartbeat: Duration,
    /// Shortest time between two queries that only follow the newest commit (no STRONG
    /// write pending); zero: none.
    pub follow_interval: Duration,
}

/// Control-connection options for `node`: TCP (never the unix socket), no database, TLS
/// when `ssl` is given.
pub(super) fn control_opts(
    node: &BackendNode,
    user: &str,
    password: &str,
    ssl: Option<&mysql_async::SslOpts>,
) -> Result<Opts, QuorumError> {
    let bad = || QuorumError::Address {
        node: node.id.to_string(),
        addr: node.addr.clone(),
    };
    let (host, port) = node.addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(OptsBuilder::default()
        .ip_or_hostname(host.to_owned())
        .tcp_port(port)
        .user(Some(user.to_owned()))
        .pass(Some(password.to_owned()))
        .prefer_socket(false)
        .ssl_opts(ssl.cloned())
        .into())
}

/// The sequence number of `domain` in a GTID position such as `0-1-7,1-2-3` (`None` when the
/// domain is absent; unparseable entries are skipped).
pub(super) fn domain_seq(position: &str, domain: u32) -> Option<u64> {
    position
        .split(',')
        .filter_map(|part| part.trim().parse::<Gtid>().ok())
        .find(|g| g.domain == domain)
        .map(|g| g.seq)
}

/// The watcher task of replica `index` (`node` is its id, for logs and errors).
pub(super) async fn run(
    shared: Arc<Shared>,
    index: usize,
    node: String,
    opts: Opts,
    settings: WatchSettings,
    mut stop: watch::Receiver<bool>,
) {
    let mut conn: Option<Conn> = None;
    let mut backoff = BACKOFF_MIN;
    // When the last query that only followed the newest commit was sent.
    let mut followed: Option<Instant> = None;
    while !*stop.borrow() {
        let live = match conn.as_mut() {
            Some(c) => c,
            None => match connect(&node, &opts).await {
                Ok(c) => {
                    tracing::debug!(replica = %node, "quorum watcher connected");
                    conn.insert(c)
                }
                Err(e) => {
                    fail(&shared, index, &e, &mut backoff, &mut stop).await;
                    continue;
                }
            },
        };
        // Bound first: the state's lock must not live across the match's await.
        let strong = shared.state().next_target(index);
        let target = match strong {
            Some(gtid) => Some(gtid),
            None => match newest_target(&shared, index, settings.domain) {
                Some(newest) => {
                    let due = followed.map(|at| at + settings.follow_interval);
                    if let Some(until) = due.filter(|until| *until > Instant::now()) {
                        if !paced(&shared, index, until, &mut stop).await {
                            break;
                        }
                        continue;
                    }
                    followed = Some(Instant::now());
                    Some(newest)
                }
                None => None,
            },
        };
        let query = match target {
            Some(gtid) => format!(
                "SELECT MASTER_GTID_WAIT('{gtid}', {:.3}), @@gtid_slave_pos",
                settings.slice.as_secs_f64()
            ),
            None => {
                tokio::select! {
                    _ = shared.wake[index].notified() => continue,
                    _ = stop.changed() => break,
                    _ = tokio::time::sleep(settings.heartbeat) => {}
                }
                "SELECT 0, @@gtid_slave_pos".to_owned()
            }
        };
        match position(live, &node, &query, settings.slice + QUERY_GRACE).await {
            Ok(pos) => {
                backoff = BACKOFF_MIN;
                let seq = domain_seq(&pos, settings.domain);
                // Published before the waiters are answered: whoever a STRONG answer wakes
                // (the session, then its next CAUSAL read) already sees the replica hold it.
                shared.published[index].store(true, seq);
                shared.state().observe(index, seq, Instant::now());
            }
            Err(e) => {
                // A connection that failed mid-query is in an unknown state: drop it.
                conn = None;
                fail(&shared, index, &e, &mut backoff, &mut stop).await;
            }
        }
    }
    if let Some(c) = conn {
        let _ = c.disconnect().await;
    }
    tracing::debug!(replica = %node, "quorum watcher stopped");
}

/// Waits until `until` (the end of a follow interval), or less when a STRONG write starts
/// waiting on this replica; false when the watcher must stop. Commits that arrive meanwhile
/// only wake it: the query after the interval settles them all.
async fn paced(
    shared: &Shared,
    index: usize,
    until: Instant,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let sleep = tokio::time::sleep_until(until.into());
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return true,
            _ = stop.changed() => return false,
            _ = shared.wake[index].notified() => {
                if shared.state().next_target(index).is_some() {
                    return true;
                }
            }
        }
    }
}

/// With no STRONG write pending for it: the newest write the proxy saw committed, when the
/// replica is not known to hold it yet (CAUSAL reads look for caught-up replicas). Only the
/// domain and sequence number of a GTID matter to `MASTER_GTID_WAIT`.
fn newest_target(shared: &Shared, index: usize, domain: u32) -> Option<Gtid> {
    let newest = shared.newest.load(std::sync::atomic::Ordering::Relaxed);
    let applied = shared.published.get(index)?.load_applied();
    (newest > 0 && applied.is_none_or(|a| a < newest)).then_some(Gtid {
        domain,
        server_id: 0,
        seq: newest,
    })
}

/// Opens the control connection, bounded by [`CONNECT_TIMEOUT`].
async fn connect(node: &str, opts: &Opts) -> Result<Conn, QuorumError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(opts.clone())).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(source)) => Err(QuorumError::Control {
            node: node.to_owned(),
            source,
        }),
        Err(_) => Err(QuorumError::ControlTimeout {
            node: node.to_owned(),
            waited: CONNECT_TIMEOUT,
        }),
    }
}

/// Runs one position query (`SELECT <anything>, @@gtid_slave_pos`), bounded by `limit`, and
/// returns the position text.
async fn position(
    conn: &mut Conn,
    node: &str,
    query: &str,
    limit: Duration,
) -> Result<String, QuorumError> {
    let row = tokio::time::timeout(
        limit,
        conn.query_first::<(Option<i64>, Option<String>), _>(query),
    )
    .await;
    match row {
        Ok(Ok(row)) => Ok(row.and_then(|(_, pos)| pos).unwrap_or_default()),
        Ok(Err(source)) => Err(QuorumError::Control {
            node: node.to_owned(),
            source,
        }),
        Err(_) => Err(QuorumError::ControlTimeout {
            node: node.to_owned(),
            waited: limit,
        }),
    }
}

/// Marks the replica unhealthy, logs, and sleeps the backoff (cut short by shutdown).
async fn fail(
    shared: &Shared,
    index: usize,
    error: &QuorumError,
    backoff: &mut Duration,
    stop: &mut watch::Receiver<bool>,
) {
    let was_healthy = {
        let mut state = shared.state();
        let was = state.replicas.get(index).is_some_and(|r| r.facts.healthy);
        state.mark_unhealthy(index);
        was
    };
    if let Some(published) = shared.published.get(index) {
        published.lost();
    }
    if was_healthy {
        tracing::warn!(%error, "quorum watcher lost its replica; retrying with backoff");
    } else {
        tracing::debug!(%error, "quorum watcher still cannot reach its replica");
    }
    tokio::select! {
        _ = tokio::time::sleep(*backoff) => {}
        _ = stop.changed() => {}
    }
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_configured_domain() {
        assert_eq!(domain_seq("0-1-7", 0), Some(7));
        assert_eq!(domain_seq("1-2-3,0-1-42", 0), Some(42));
        assert_eq!(domain_seq(" 0-1-5,\n1-2-9", 1), Some(9));
        assert_eq!(domain_seq("", 0), None);
        assert_eq!(domain_seq("1-2-3", 0), None);
    }

    #[test]
    fn control_opts_need_host_and_port() {
        let node = |addr: &str| BackendNode {
            id: "instance-2".into(),
            addr: addr.to_owned(),
        };
        assert!(control_opts(&node("127.0.0.1:3307"), "u", "p", None).is_ok());
        assert!(control_opts(&node("127.0.0.1"), "u", "p", None).is_err());
        assert!(control_opts(&node("127.0.0.1:x"), "u", "p", None).is_err());
    }
}
