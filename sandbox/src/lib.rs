//! myquorum-sandbox: starts, stops and reaps a local cluster of MariaDB 10.11 servers with GTID
//! replication (instance-1 primary, the others replicas). `myquorum up` runs on it, and every
//! cluster test uses it as its fixture ([`Cluster::start_for_tests`]).
//!
//! The option file and bootstrap SQL live in `mysql-config/` (documented in its README) and are
//! compiled in, so the sandbox and a docker-compose setup share exactly the same settings.

#![warn(missing_docs)]

mod cluster;
mod config;
mod error;
mod node;
mod process;
mod remote;
mod replication;
mod reprovision;
mod template;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
mod topology;

pub use cluster::Cluster;
pub use config::{SandboxConfig, REPL_USER};
pub use error::{LogTail, ReplicaStatus, SandboxError};
pub use node::{app_opts, app_opts_via, make_primary_writable, root_conn, root_exec, NodeInfo};
pub use remote::{wire_remote, AdminLogin, RemoteServer, WireOutcome};
pub use reprovision::Reprovisioned;
pub use template::{find_mariadbd, NODE_CNF};
pub use tls::TlsFiles;
pub use topology::Topology;
