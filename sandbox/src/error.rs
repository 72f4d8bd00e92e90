//! The one error type of the sandbox: every variant names the node, path or command that failed.

use std::path::PathBuf;

/// Why a sandbox operation failed. Each variant says *who* failed (which node, file or command)
/// so that `myquorum up` and a failing test print something actionable without a debugger.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The MariaDB server binary is not installed (or not where the config says).
    #[error(
        "mariadbd not found (searched: {searched}); install MariaDB 10.11 with \
         `apt-get install -y mariadb-server` or set `mariadbd` in the sandbox config"
    )]
    MariadbdNotFound {
        /// The places that were looked at, comma separated.
        searched: String,
    },
    /// A helper program shipped with MariaDB (e.g. `mariadb-install-db`) is missing.
    #[error(
        "{program} not found (searched: {searched}); install it with `apt-get install -y mariadb-server`"
    )]
    ProgramNotFound {
        /// The program's name.
        program: &'static str,
        /// The places that were looked at, comma separated.
        searched: String,
    },
    /// A configuration value is out of range or unusable.
    #[error("invalid sandbox config `{key}`: {reason}")]
    InvalidConfig {
        /// The config key, as spelt in `SandboxConfig`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("create directory", "read pid file", ...).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The self-signed TLS certificates of `myquorum up` could not be generated.
    #[error("cannot generate the TLS certificates in {}: {source}", dir.display())]
    Certificate {
        /// The directory they were to be written to.
        dir: PathBuf,
        /// What rcgen said.
        #[source]
        source: rcgen::Error,
    },
    /// An external command could not be run or exited unsuccessfully.
    #[error("command `{command}` failed: {reason}\n{output}")]
    Command {
        /// The command line, for copy-pasting.
        command: String,
        /// Exit status or spawn error.
        reason: String,
        /// The tail of its output.
        output: String,
    },
    /// mariadbd could not bind its port because something else holds it.
    #[error("{node}: port {port} is already in use\n{log}")]
    AddressInUse {
        /// The node id ("instance-2").
        node: String,
        /// The TCP port that was taken.
        port: u16,
        /// The node's error log and its last lines.
        log: Box<LogTail>,
    },
    /// mariadbd exited while starting.
    #[error("{node}: mariadbd exited during start-up ({status})\n{log}")]
    NodeExited {
        /// The node id.
        node: String,
        /// The exit status.
        status: String,
        /// The node's error log and its last lines.
        log: Box<LogTail>,
    },
    /// mariadbd kept running but did not accept connections in time.
    #[error(
        "{node}: not accepting connections on {} after {waited_secs} s (last error: {last_error})\n{log}",
        socket.display()
    )]
    NotReady {
        /// The node id.
        node: String,
        /// The socket that was polled.
        socket: PathBuf,
        /// How long we waited.
        waited_secs: u64,
        /// The last connection error.
        last_error: String,
        /// The node's error log and its last lines.
        log: Box<LogTail>,
    },
    /// A connection or statement failed on a node.
    #[error("{node}: `{statement}` failed: {source}")]
    Sql {
        /// The node id (or address).
        node: String,
        /// The statement (or "connect").
        statement: String,
        /// The driver or server error (server codes are kept unchanged inside).
        #[source]
        source: mysql_async::Error,
    },
    /// A replica's IO or SQL thread did not run (or did not catch up) in time.
    #[error("{node}: replication not healthy: {reason} ({status})")]
    Replication {
        /// The replica's node id.
        node: String,
        /// What was waited for.
        reason: String,
        /// The replica's threads and last errors.
        status: Box<ReplicaStatus>,
    },
    /// `topology.json` is unreadable or does not match the config.
    #[error("topology {}: {reason}", path.display())]
    Topology {
        /// The topology file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A node id that is not part of this cluster.
    #[error("no node named {id:?} in this cluster")]
    UnknownNode {
        /// The id that was asked for.
        id: String,
    },
    /// Sending a signal to a server process failed.
    #[error("cannot send {signal} to {node} (pid {pid}): {source}")]
    Signal {
        /// The node id.
        node: String,
        /// The process id.
        pid: i32,
        /// The signal name.
        signal: &'static str,
        /// The OS error.
        #[source]
        source: nix::Error,
    },
    /// A server did not exit within the deadline, even after SIGKILL.
    #[error("{node}: mariadbd (pid {pid}) did not exit")]
    StuckProcess {
        /// The node id.
        node: String,
        /// The process id.
        pid: i32,
    },
}

/// A node's error log and its last lines, carried by start-up errors so the cause (a bad
/// option, a taken port, a corrupt datadir) is on screen without opening the file.
#[derive(Debug, Clone, Default)]
pub struct LogTail {
    /// The error log's path.
    pub path: PathBuf,
    /// Its last ~20 lines.
    pub tail: String,
}

impl std::fmt::Display for LogTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--- tail of {} ---\n{}", self.path.display(), self.tail)
    }
}

/// What `SHOW SLAVE STATUS` said about a replica, carried by replication errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Slave_IO_Running ("Yes", "No", "Connecting").
    pub io_running: String,
    /// Slave_SQL_Running.
    pub sql_running: String,
    /// Last_IO_Error (why the replica cannot fetch from the primary).
    pub last_io_error: String,
    /// Last_SQL_Error (why it cannot apply what it fetched).
    pub last_sql_error: String,
}

impl std::fmt::Display for ReplicaStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Slave_IO_Running={}, Slave_SQL_Running={}, Last_IO_Error={:?}, Last_SQL_Error={:?}",
            self.io_running, self.sql_running, self.last_io_error, self.last_sql_error
        )
    }
}

impl SandboxError {
    /// Shorthand for [`SandboxError::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        SandboxError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
