//! The dead-primary detector: checks the primary every `check_interval_ms` over a kept
//! control connection, and at once when a statement found it unreachable
//! ([`myquorum_proxy::cluster::ClusterHandle::suspected`]).
//!
//! A primary is **dead** after `failed_checks` consecutive checks that failed hard (the
//! connection refused, reset or closed: the server process is gone), or after it answered
//! nothing at all for `unresponsive_ms` (hung for good). A check that merely times out is a
//! *slow* primary, not a dead one: a primary paused for a second (SIGSTOP, a long fsync, a
//! stall) causes no failover. A server error (too many connections, access denied) means
//! the server is alive. Replicas are never checked here: a dying replica causes no failover.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{run, FailoverError, FailoverRequest, Trigger};
use crate::state::ControlPlane;

/// What one check saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// It answered (or refused us with a server error: it is alive).
    Alive,
    /// Connection refused, reset or closed.
    Gone,
    /// No answer within the check timeout.
    Silent,
}

/// Runs the detector until `stop` turns true.
pub async fn run_detector(cp: ControlPlane, mut stop: watch::Receiver<bool>) {
    let settings = cp.config().failover.clone();
    let interval = Duration::from_millis(settings.check_interval_ms);
    let timeout = Duration::from_millis(settings.check_timeout_ms);
    let mut conn: Option<(String, Conn)> = None;
    let mut failures = 0u32;
    let mut silent_since: Option<Instant> = None;
    loop {
        let suspected = tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(interval) => false,
            _ = cp.context().cluster().suspected() => true,
        };
        if *stop.borrow() {
            break;
        }
        let primary = cp.context().cluster().topology().primary().clone();
        if conn.as_ref().is_some_and(|(id, _)| **id != *primary.id) {
            conn = None;
            failures = 0;
            silent_since = None;
        }
        let check = check(&cp, &primary, &mut conn, timeout).await;
        let dead = match check {
            Check::Alive => {
                if failures > 0 || silent_since.is_some() {
                    tracing::info!(node = %primary.id, "primary answers again");
                }
                failures = 0;
                silent_since = None;
                if suspected {
                    cp.context().cluster().suspicion_cleared();
                }
                false
            }
            Check::Gone => {
                failures += 1;
                tracing::warn!(node = %primary.id, failures, "primary check failed: connection refused or closed");
                failures >= settings.failed_checks
            }
            Check::Silent => {
                let since = *silent_since.get_or_insert_with(Instant::now);
                tracing::warn!(node = %primary.id, silent_ms = since.elapsed().as_millis() as u64,
                    "primary check timed out (slow, not yet dead)");
                since.elapsed() >= Duration::from_millis(settings.unresponsive_ms)
            }
        };
        if !dead {
            continue;
        }
        if !settings.automatic {
            tracing::error!(node = %primary.id, "primary is dead; automatic failover is off");
            cp.context().cluster().suspicion_cleared();
            continue;
        }
        let request = FailoverRequest {
            trigger: Trigger::Automatic,
            target: None,
            exclude: Vec::new(),
            force: false,
        };
        match run(&cp, request).await {
            Ok(_) => {
                conn = None;
                failures = 0;
                silent_since = None;
            }
            Err(FailoverError::CoolDown { .. } | FailoverError::InProgress) => {}
            Err(_) => cp.context().cluster().suspicion_cleared(),
        }
    }
    tracing::debug!("failover detector stopped");
}

/// One check of `primary` over the kept connection (opened if needed).
async fn check(
    cp: &ControlPlane,
    primary: &myquorum_proxy::BackendNode,
    conn: &mut Option<(String, Conn)>,
    timeout: Duration,
) -> Check {
    let attempt = async {
        if conn.is_none() {
            let opened = super::control(cp).conn(primary).await;
            match opened {
                Ok(c) => *conn = Some((primary.id.to_string(), c)),
                Err(super::FailoverError::Sql { message, .. })
                    if message.starts_with("no answer") =>
                {
                    return Check::Silent;
                }
                Err(super::FailoverError::Sql { message, .. }) if is_server_error(&message) => {
                    return Check::Alive;
                }
                // TLS refused (logged by the connection): the server answered; a certificate
                // problem is not a dead primary.
                Err(super::FailoverError::Sql { statement, .. })
                    if statement == super::sql::TLS_CONNECT =>
                {
                    return Check::Alive;
                }
                Err(_) => return Check::Gone,
            }
        }
        let Some((_, c)) = conn.as_mut() else {
            return Check::Gone;
        };
        match c.query_drop("DO 1").await {
            Ok(()) => Check::Alive,
            Err(mysql_async::Error::Server(_)) => Check::Alive,
            Err(_) => {
                *conn = None;
                Check::Gone
            }
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(check) => check,
        Err(_) => {
            *conn = None;
            Check::Silent
        }
    }
}

/// A connect error that is the server speaking (it is alive): "ERROR 1040 (08004)...".
fn is_server_error(message: &str) -> bool {
    message.contains("ERROR ") && message.contains('(')
}
