//! One sandbox node: where it lives, and how to talk to it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use serde::Serialize;

use crate::{SandboxConfig, SandboxError};

/// One MariaDB server of the cluster, as the proxy, the control plane and tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// Stable name, `instance-<k>`, used in topology.json, logs and the HTTP API.
    pub id: String,
    /// Always "127.0.0.1": the sandbox binds loopback only.
    pub host: String,
    /// TCP port (`base_port + k - 1`).
    pub port: u16,
    /// Unix socket, used for root access (root authenticates by socket credentials).
    pub socket: PathBuf,
    /// `server_id` = k; replication needs a distinct one per server.
    pub server_id: u32,
    /// The node's datadir (`<work_dir>/instance-<k>/data`).
    pub data_dir: PathBuf,
    /// The node's error log: the first place to look when it misbehaves.
    pub error_log: PathBuf,
    /// The node's pid file: lets a later run reap a server a killed run left behind.
    pub pid_file: PathBuf,
}

impl NodeInfo {
    /// Describes node `k` (1-based) of `config` living under `work_dir`.
    pub(crate) fn new(k: usize, config: &SandboxConfig, work_dir: &Path) -> NodeInfo {
        let dir = work_dir.join(format!("instance-{k}"));
        NodeInfo {
            id: format!("instance-{k}"),
            host: "127.0.0.1".into(),
            port: config.port_of(k),
            socket: crate::config::socket_dir(work_dir).join(format!("n{k}.sock")),
            server_id: k as u32,
            data_dir: dir.join("data"),
            error_log: dir.join("error.log"),
            pid_file: dir.join("mariadbd.pid"),
        }
    }

    /// `"127.0.0.1:<port>"`, the form the proxy's backend list and mysql clients take.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The last `lines` lines of the error log (empty if it does not exist yet).
    pub fn log_tail(&self, lines: usize) -> String {
        std::fs::read(&self.error_log)
            .map(|b| tail(&String::from_utf8_lossy(&b), lines))
            .unwrap_or_default()
    }

    /// The error log's last 20 lines, boxed for an error.
    pub(crate) fn log_for_error(&self) -> Box<crate::LogTail> {
        Box::new(crate::LogTail {
            path: self.error_log.clone(),
            tail: self.log_tail(20),
        })
    }
}

/// An administrative connection to `node`: root over its unix socket.
///
/// Root has no password; MariaDB's `unix_socket` plugin trusts the OS user on the other end of
/// the socket, so this only works for the OS user that created the sandbox (root, or the
/// account mariadb-install-db named after a non-root user). Exists so tests and the sandbox
/// never need a root password.
pub async fn root_conn(node: &NodeInfo) -> Result<Conn, SandboxError> {
    let opts = OptsBuilder::default()
        .socket(Some(node.socket.to_string_lossy().into_owned()))
        .user(Some(os_user()))
        .prefer_socket(true);
    Conn::new(opts).await.map_err(|source| SandboxError::Sql {
        node: node.id.clone(),
        statement: format!("connect as root over {}", node.socket.display()),
        source,
    })
}

/// Connection options for the application user over TCP `127.0.0.1:<port>`, database selected.
///
/// `prefer_socket(false)` matters: on loopback mysql_async otherwise reads `@@socket` and
/// silently reconnects over the unix socket, which would hide TCP-only problems (e.g. the
/// anonymous-user 1045) and bypass anything listening on the port.
pub fn app_opts(node: &NodeInfo, cfg: &SandboxConfig) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname(node.host.clone())
        .tcp_port(node.port)
        .user(Some(cfg.app_user.clone()))
        .pass(Some(cfg.app_password.clone()))
        .db_name(Some(cfg.app_database.clone()))
        .prefer_socket(false)
        .into()
}

/// Connection options for the application user of `cfg` through another MySQL-protocol
/// address (a proxy in front of the cluster), over TCP, database selected.
pub fn app_opts_via(addr: std::net::SocketAddr, cfg: &SandboxConfig) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .user(Some(cfg.app_user.clone()))
        .pass(Some(cfg.app_password.clone()))
        .db_name(Some(cfg.app_database.clone()))
        .prefer_socket(false)
        .into()
}

/// Makes `node` writable (`SET GLOBAL read_only=OFF`). Every node starts read-only; the
/// sandbox calls this on the primary it crowns. Kept as one named function because the
/// proxy's failover will own this decision later.
pub async fn make_primary_writable(node: &NodeInfo) -> Result<(), SandboxError> {
    crate::replication::make_writable(&node.into()).await
}

/// Runs one statement as root on `node`, on a fresh connection: how the sandbox and tests
/// change a server behind the proxy's back (stop replication, lock a table, ...).
pub async fn root_exec(node: &NodeInfo, sql: &str) -> Result<(), SandboxError> {
    let mut conn = root_conn(node).await?;
    run(&mut conn, node, sql).await?;
    let _ = conn.disconnect().await;
    Ok(())
}

/// Runs one statement on an open connection, naming node and statement on failure.
pub(crate) async fn run(conn: &mut Conn, node: &NodeInfo, sql: &str) -> Result<(), SandboxError> {
    conn.query_drop(sql)
        .await
        .map_err(|source| SandboxError::Sql {
            node: node.id.clone(),
            statement: sql.to_string(),
            source,
        })
}

/// Whether we run as root: mariadbd then needs `--user=root`.
pub(crate) fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The MariaDB account that matches our OS user over the socket: root, or (when not root) the
/// account `mariadb-install-db` creates for the installing user.
pub(crate) fn os_user() -> String {
    static USER: OnceLock<String> = OnceLock::new();
    USER.get_or_init(|| {
        let uid = nix::unistd::geteuid();
        if uid.is_root() {
            return "root".to_string();
        }
        nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map(|u| u.name)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "root".to_string())
    })
    .clone()
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
