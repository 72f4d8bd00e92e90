//! `myquorum wire`: wires already-running MariaDB servers (the docker-compose nodes, or any
//! fresh servers) into a GTID-replicated cluster with the sandbox's own wiring code
//! ([`myquorum_sandbox::wire_remote`]). The servers, the primary and the accounts to create
//! come from the same `[proxy]` section `myquorum serve` reads, so both agree by construction.

use anyhow::Context;
use clap::Args;
use myquorum_sandbox::{wire_remote, AdminLogin, RemoteServer, SandboxConfig, WireOutcome};

use crate::settings::Settings;

/// Options of `myquorum wire`.
#[derive(Debug, Args)]
pub struct WireArgs {
    /// Account with every privilege on every server (the wiring logs in as it over TCP).
    #[arg(long, env = "MYQUORUM_WIRE_ADMIN_USER", default_value = "root")]
    pub admin_user: String,
    /// Its password.
    #[arg(long, env = "MYQUORUM_WIRE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: String,
}

/// Wires `[proxy].nodes` with `[proxy].primary` as the primary, creating the control user,
/// `[proxy].users[0]` and the `[proxy].engine_database` database with its demo tables. A
/// cluster that already replicates is left as it is.
pub async fn run(settings: &Settings, args: WireArgs) -> anyhow::Result<()> {
    let plan = plan(settings)?;
    let admin = AdminLogin {
        user: args.admin_user,
        password: args.admin_password,
    };
    let outcome = wire_remote(&plan.servers, plan.primary, &admin, &plan.accounts)
        .await
        .context("wiring replication")?;
    match outcome {
        WireOutcome::Wired => println!(
            "wired: {} is the primary, {} replicas caught up",
            plan.servers[plan.primary].id,
            plan.servers.len() - 1
        ),
        WireOutcome::AlreadyWired { replicating } => println!(
            "already wired ({} replicates): nothing changed",
            plan.servers[replicating].id
        ),
    }
    Ok(())
}

/// What to wire, derived from the settings.
#[derive(Debug)]
struct Plan {
    servers: Vec<RemoteServer>,
    primary: usize,
    accounts: SandboxConfig,
}

/// Reads the servers, primary and accounts from `[proxy]`, naming the key that is missing.
fn plan(settings: &Settings) -> anyhow::Result<Plan> {
    let proxy = &settings.proxy;
    anyhow::ensure!(
        proxy.nodes.len() >= 2,
        "proxy.nodes: wiring needs at least 2 servers, the config lists {}",
        proxy.nodes.len()
    );
    let servers = proxy
        .nodes
        .iter()
        .map(|n| {
            let (host, port) = n.addr.rsplit_once(':').with_context(|| {
                format!("proxy.nodes {}: addr {:?} is not host:port", n.id, n.addr)
            })?;
            let port = port
                .parse()
                .with_context(|| format!("proxy.nodes {}: bad port in {:?}", n.id, n.addr))?;
            Ok(RemoteServer {
                id: n.id.to_string(),
                host: host.to_owned(),
                port,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let primary = servers
        .iter()
        .position(|s| s.id == proxy.primary)
        .with_context(|| format!("proxy.primary: {:?} is not in proxy.nodes", proxy.primary))?;
    let app = proxy
        .users
        .first()
        .context("proxy.users: the application user to create is missing")?;
    let database = proxy
        .engine_database
        .clone()
        .context("proxy.engine_database: the application database to create is missing")?;
    let accounts = SandboxConfig {
        app_user: app.name.to_string(),
        app_password: app.password.to_string(),
        app_database: database,
        control_user: proxy.control_user.clone(),
        control_password: proxy.control_password.clone(),
        ..SandboxConfig::default()
    };
    Ok(Plan {
        servers,
        primary,
        accounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use myquorum_proxy::{BackendNode, UserConfig};

    fn settings() -> Settings {
        let mut s = Settings::default();
        s.proxy.nodes = (1..=4)
            .map(|k| BackendNode {
                id: format!("instance-{k}").into(),
                addr: format!("127.0.0.1:{}", 3400 + k),
            })
            .collect();
        s.proxy.primary = "instance-2".into();
        s.proxy.users = vec![UserConfig {
            name: "shop".into(),
            password: "pw".into(),
            require_ssl: false,
        }];
        s.proxy.engine_database = Some("shopdb".into());
        s.proxy.control_user = "ctl".into();
        s.proxy.control_password = "ctlpw".into();
        s
    }

    #[test]
    fn plan_takes_servers_primary_and_accounts_from_the_proxy_section() {
        let plan = plan(&settings()).expect("plan");
        assert_eq!(plan.primary, 1);
        assert_eq!(plan.servers[3].port, 3404);
        assert_eq!(plan.servers[0].host, "127.0.0.1");
        assert_eq!(plan.accounts.app_user, "shop");
        assert_eq!(plan.accounts.app_database, "shopdb");
        assert_eq!(plan.accounts.control_user, "ctl");
        assert_eq!(plan.accounts.control_password, "ctlpw");
    }

    #[test]
    fn plan_names_the_missing_key() {
        let err = |s: Settings| format!("{:#}", plan(&s).expect_err("must be refused"));
        let mut s = settings();
        s.proxy.primary = "instance-9".into();
        assert!(err(s).contains("proxy.primary"));
        let mut s = settings();
        s.proxy.engine_database = None;
        assert!(err(s).contains("proxy.engine_database"));
        let mut s = settings();
        s.proxy.users.clear();
        assert!(err(s).contains("proxy.users"));
        let mut s = settings();
        s.proxy.nodes[2].addr = "nowhere".into();
        assert!(err(s).contains("instance-3"));
    }
}
