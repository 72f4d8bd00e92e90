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
    #[error("{node}: port {port} is already in use\n--- tail of {} ---\n{log_tail}", log.display())]
    AddressInUse {
        /// The node id ("instance-2").
        node: String,
        /// The TCP port that was taken.
        port: u16,
        /// The node's error log.
        log: PathBuf,
        /// Its last lines.
        log_tail: String,
    },
    /// mariadbd exited while starting.
    #[error("{node}: mariadbd exited during start-up ({status})\n--- tail of {} ---\n{log_tail}", log.display())]
    NodeExited {
        /// The node id.
        node: String,
        /// The exit status.
        status: String,
        /// The node's error log.
        log: PathBuf,
        /// Its last lines.
        log_tail: String,
    },
    /// mariadbd kept running but did not accept connections in time.
    #[error(
        "{node}: not accepting connections on {} after {waited_secs} s (last error: {last_error})\n\
         --- tail of {} ---\n{log_tail}", socket.display(), log.display()
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
        /// The node's error log.
        log: PathBuf,
        /// Its last lines.
        log_tail: String,
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
    #[error(
        "{node}: replication not healthy: {reason} (Slave_IO_Running={io_running}, \
         Slave_SQL_Running={sql_running}, Last_IO_Error={last_io_error:?}, \
         Last_SQL_Error={last_sql_error:?})"
    )]
    Replication {
        /// The replica's node id.
        node: String,
        /// What was waited for.
        reason: String,
        /// Slave_IO_Running.
        io_running: String,
        /// Slave_SQL_Running.
        sql_running: String,
        /// Last_IO_Error.
        last_io_error: String,
        /// Last_SQL_Error.
        last_sql_error: String,
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
