//! Command-line interface (clap). Every option has a default shown in `--help`; flags override
//! the TOML file and the environment (see [`crate::settings`]).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// myquorum: a MySQL-protocol proxy for replicated MariaDB.
#[derive(Debug, Parser)]
#[command(name = "myquorum", version, about, long_about = None)]
pub struct Cli {
    /// TOML configuration file (optional; see README "Configuration").
    #[arg(long, short, global = true, env = "MYQUORUM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `myquorum_proxy=debug`.
    #[arg(long, global = true, env = "MYQUORUM_LOG")]
    pub log: Option<String>,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a local 4-node MariaDB sandbox cluster and the proxy in front of it.
    Up(UpArgs),
    /// Run the proxy in front of existing MariaDB servers listed in the config file.
    Serve(ServeArgs),
    /// Print the effective configuration (defaults + file + environment + flags) as TOML,
    /// passwords and tokens shown as `***`.
    Config(ConfigArgs),
    /// Show the cluster through the control plane: topology, roles, lag, epoch, quorum, health.
    Status(crate::admin_cli::StatusArgs),
    /// Planned, lossless handover of the primary role to a healthy replica.
    Switchover(crate::admin_cli::SwitchoverArgs),
    /// Promote a replica now (SEER's choice unless `--to`); the old primary is fenced.
    Failover(crate::admin_cli::FailoverArgs),
    /// Start a stopped node (sandbox) and rejoin it as a read-only replica.
    Rejoin(crate::admin_cli::RejoinArgs),
    /// SEER's ranking of the replicas as the next primary (a dry run).
    Elect(crate::admin_cli::ElectArgs),
    /// Load and check the cluster through the proxy: concurrent, lag, failover, performance,
    /// read-after-write or all.
    Stress(crate::stress::StressArgs),
    /// Wire already-running servers (`[proxy].nodes`) into a GTID-replicated cluster with
    /// `[proxy].primary` as primary, as the sandbox does; used by docker-compose.
    Wire(crate::wire::WireArgs),
}

/// Options of `myquorum config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print passwords and tokens as they are (for generating a config file to edit).
    #[arg(long)]
    pub show_secrets: bool,
}

/// Options of `myquorum up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Wipe the sandbox's data directory and start over.
    #[arg(long)]
    pub fresh: bool,
    /// Number of MariaDB servers (instance-1 starts as primary). Default 4.
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Port of instance-1; instance-k listens on base-port + k - 1. Default 3401.
    #[arg(long)]
    pub base_port: Option<u16>,
    /// Sandbox data directory. Default `.myquorum/sandbox`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address of the proxy's MySQL port. Default 127.0.0.1:6033.
    #[arg(long)]
    pub listen: Option<String>,
    /// Address of the admin SQL port. Default 127.0.0.1:6032.
    #[arg(long)]
    pub admin_listen: Option<String>,
    /// Address of the HTTP control plane. Default 127.0.0.1:9000.
    #[arg(long)]
    pub http_listen: Option<String>,
    /// Also answer on the old system's service ports 9001-9005 (default: on for `up`).
    #[arg(long)]
    pub legacy_ports: Option<bool>,
}

/// Options of `myquorum serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the proxy's MySQL port. Default 127.0.0.1:6033.
    #[arg(long)]
    pub listen: Option<String>,
    /// Address of the admin SQL port. Default 127.0.0.1:6032.
    #[arg(long)]
    pub admin_listen: Option<String>,
    /// Address of the HTTP control plane. Default 127.0.0.1:9000.
    #[arg(long)]
    pub http_listen: Option<String>,
    /// Start even when the start-up check of the servers (control user's privileges,
    /// log_bin, log_slave_updates, gtid_strict_mode, binlog format, read_only) finds problems.
    #[arg(long)]
    pub skip_preflight: bool,
}
