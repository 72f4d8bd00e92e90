//! Wiring servers the sandbox did not start (docker-compose's MariaDB containers, or any four
//! fresh servers) into the same GTID-replicated cluster a sandbox start builds, with the same
//! code (the sandbox's replication module), over TCP as an administrative account.

use crate::replication::{self as repl, Admin, Server};
use crate::{SandboxConfig, SandboxError};

/// A running MariaDB server reachable over TCP, to be wired by [`wire_remote`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteServer {
    /// Its node id (`instance-1`, ...), as the proxy's `[proxy].nodes` names it.
    pub id: String,
    /// Host the wiring connects to and replicas replicate from (`CHANGE MASTER TO
    /// MASTER_HOST`): it must be reachable from every other server, not only from here.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// An account with every privilege (root, or one created like it) on every server: what the
/// wiring logs in as, since the sandbox's root-over-unix-socket is not available remotely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminLogin {
    /// The account name.
    pub user: String,
    /// Its password.
    pub password: String,
}

/// What [`wire_remote`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireOutcome {
    /// Replication was wired and the bootstrap ran: every replica caught up with `primary`.
    Wired,
    /// A server already had a replication source: the cluster was wired before (and the proxy
    /// may have moved the primary since), so nothing was changed.
    AlreadyWired {
        /// The first server found replicating.
        replicating: usize,
    },
}

/// Wires `servers` into one cluster: `servers[primary]` is detached, made writable and
/// bootstrapped (users, database and demo tables of `mysql-config/bootstrap.sql`, with the
/// accounts of `accounts`), every other server replicates from it with GTID
/// auto-positioning, and the call returns once each has caught up. Exactly what a sandbox
/// start runs, only reached over TCP as `admin`.
///
/// Runs once: when any server already replicates from somewhere it changes nothing and
/// returns [`WireOutcome::AlreadyWired`], so re-running it (a restarted compose project)
/// cannot undo a failover the proxy did since.
pub async fn wire_remote(
    servers: &[RemoteServer],
    primary: usize,
    admin: &AdminLogin,
    accounts: &SandboxConfig,
) -> Result<WireOutcome, SandboxError> {
    if primary >= servers.len() {
        return Err(SandboxError::InvalidConfig {
            key: "primary",
            reason: format!("index {primary} but only {} servers", servers.len()),
        });
    }
    let all: Vec<Server> = servers
        .iter()
        .map(|s| Server {
            id: s.id.clone(),
            host: s.host.clone(),
            port: s.port,
            admin: Admin::Tcp {
                user: admin.user.clone(),
                password: admin.password.clone(),
            },
        })
        .collect();
    for (i, server) in all.iter().enumerate() {
        if repl::has_source(server).await? {
            tracing::info!(node = %server.id, "already replicating: the cluster is wired, nothing to do");
            return Ok(WireOutcome::AlreadyWired { replicating: i });
        }
    }
    let replicas: Vec<Server> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != primary)
        .map(|(_, s)| s.clone())
        .collect();
    repl::wire(&all[primary], &replicas, accounts, true).await?;
    Ok(WireOutcome::Wired)
}
