//! `myquorum up`: the local sandbox (N MariaDB servers with GTID replication) and the proxy in
//! front of it, stopped together on Ctrl-C / SIGTERM.

use crate::cli::UpArgs;
use crate::serve::{run_listeners, Listeners};
use crate::settings::{Mode, Settings};
use anyhow::Context;
use myquorum_control_plane::state::BoxFuture;
use myquorum_control_plane::NodeControl;
use myquorum_proxy::BackendNode;
use myquorum_sandbox::{Cluster, TlsFiles};
use std::path::PathBuf;
use std::sync::Arc;

/// The sandbox as the control plane's server launcher: `/admin/stop-master`,
/// `/admin/start-instance` and `/admin/restart-old-master` stop and start its mariadbd
/// processes, and a failover is recorded in its `topology.json`.
#[derive(Debug)]
struct SandboxNodes(Arc<Cluster>);

impl NodeControl for SandboxNodes {
    fn stop(&self, id: &str) -> BoxFuture<'_, Result<(), String>> {
        let id = id.to_owned();
        Box::pin(async move { self.0.stop_node(&id).await.map_err(|e| e.to_string()) })
    }

    fn start(&self, id: &str) -> BoxFuture<'_, Result<(), String>> {
        let id = id.to_owned();
        Box::pin(async move { self.0.start_node(&id).await.map_err(|e| e.to_string()) })
    }

    fn reprovision<'a>(
        &'a self,
        id: &'a str,
        from: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            self.0
                .reprovision_node(id, from)
                .await
                .map(|done| done.discarded)
                .map_err(|e| e.to_string())
        })
    }

    fn topology_changed(&self, primary: &str, epoch: u64) {
        if let Err(e) = self.0.record_failover(primary, epoch) {
            tracing::error!(error = %e, "could not record the failover in the sandbox's topology.json");
        }
    }
}

/// Applies `up`'s flags on top of the loaded settings.
pub fn apply_flags(settings: &mut Settings, args: &UpArgs) {
    settings.sandbox.fresh |= args.fresh;
    if let Some(n) = args.nodes {
        settings.sandbox.nodes = n;
    }
    if let Some(p) = args.base_port {
        settings.sandbox.base_port = p;
    }
    if let Some(d) = &args.data_dir {
        settings.sandbox.work_dir = d.clone();
    }
    if let Some(l) = &args.listen {
        settings.listen.mysql = l.clone();
    }
    if let Some(l) = &args.admin_listen {
        settings.listen.admin = l.clone();
    }
    if let Some(l) = &args.http_listen {
        settings.control_plane.listen = l.clone();
    }
    if let Some(on) = args.legacy_ports {
        settings.control_plane.legacy_ports = on;
    }
}

/// Starts the sandbox and the proxy, prints how to connect, and runs until a signal. Every
/// section (the proxy as it will be wired to the sandbox) is validated before any port is
/// bound or any MariaDB server started.
pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    settings.validate(Mode::Up)?;
    enable_backend_tls(&mut settings)?;
    let ca = enable_tls(&mut settings)?;
    let listeners = Listeners::bind(&settings).await?;
    let stop = crate::shutdown::on_signal();
    let cluster = tokio::select! {
        started = Cluster::start(settings.sandbox.clone()) => started.context("starting the sandbox cluster")?,
        _ = stop.cancelled() => anyhow::bail!("interrupted while starting the sandbox"),
    };
    wire_proxy_to(&mut settings, &cluster);
    wipe_stale_proxy_state(&settings)?;
    print_banner(&settings, &cluster, ca.as_deref());
    let cluster = Arc::new(cluster);
    let nodes: Arc<dyn NodeControl> = Arc::new(SandboxNodes(Arc::clone(&cluster)));
    let served = run_listeners(&settings, listeners, stop, Some(nodes)).await;
    tracing::info!("stopping the sandbox cluster");
    cluster
        .stop()
        .await
        .context("stopping the sandbox cluster")?;
    served
}

/// Turns TLS on for the MySQL and admin ports with the self-signed CA and server certificate
/// of the work dir's `tls/` (generated on the first run, reused after), unless `[proxy.tls]`
/// already names a certificate. Returns the CA file clients verify the proxy with, when it
/// is ours.
fn enable_tls(settings: &mut Settings) -> anyhow::Result<Option<PathBuf>> {
    let tls = &mut settings.proxy.tls;
    if tls.cert.is_some() || tls.key.is_some() {
        return Ok(None);
    }
    let files = TlsFiles::ensure(&settings.sandbox.work_dir.join("tls"))
        .context("generating the sandbox's TLS certificates")?;
    tls.cert = Some(files.cert);
    tls.key = Some(files.key);
    Ok(Some(files.ca))
}

/// With `[sandbox] tls = true` the servers serve TLS with the work dir's CA; the proxy then
/// connects to them over TLS verified against that CA, unless `[proxy.backend_tls]` already
/// names one. Off by default: the sandbox's servers and the proxy talk over loopback on one
/// machine, where TLS buys nothing and costs a handshake per backend connection.
fn enable_backend_tls(settings: &mut Settings) -> anyhow::Result<()> {
    if !settings.sandbox.tls || settings.proxy.backend_tls.ca.is_some() {
        return Ok(());
    }
    let files = TlsFiles::ensure(&settings.sandbox.work_dir.join("tls"))
        .context("generating the sandbox's TLS certificates")?;
    settings.proxy.backend_tls.ca = Some(files.ca);
    Ok(())
}

/// Points the proxy at the started sandbox's nodes, primary and application user.
fn wire_proxy_to(settings: &mut Settings, cluster: &Cluster) {
    let nodes = cluster
        .nodes()
        .iter()
        .map(|n| BackendNode {
            id: n.id.as_str().into(),
            addr: n.addr(),
        })
        .collect();
    settings.wire_to_sandbox(nodes, cluster.primary().id.clone());
    if settings.proxy.state_dir.is_none() {
        if let Ok(dir) = cluster.config().absolute_work_dir() {
            settings.proxy.state_dir = Some(dir.join("proxy-state"));
        }
    }
}

/// With `fresh` (`up --fresh` or `[sandbox] fresh`), removes the proxy's state directory
/// (`proxy.state_dir`, by default `<work_dir>/proxy-state`) together with the sandbox's data:
/// its epoch, primary, fenced nodes and acknowledged GTID describe the wiped cluster, and a
/// proxy that resumed them would crown the old cluster's primary (or refuse every promotion
/// for a position the new cluster never reached) in front of a brand-new cluster.
fn wipe_stale_proxy_state(settings: &Settings) -> anyhow::Result<()> {
    if !settings.sandbox.fresh {
        return Ok(());
    }
    let Some(dir) = &settings.proxy.state_dir else {
        return Ok(());
    };
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {
            tracing::info!(dir = %dir.display(), "fresh start: wiped the proxy's persisted state");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| {
            format!(
                "fresh start: removing the proxy's state directory {}",
                dir.display()
            )
        }),
    }
}

fn print_banner(settings: &Settings, cluster: &Cluster, ca: Option<&std::path::Path>) {
    let (host, port) = settings
        .listen
        .mysql
        .rsplit_once(':')
        .unwrap_or(("127.0.0.1", "6033"));
    let sb = &settings.sandbox;
    println!();
    println!("myquorum is up.");
    for n in cluster.nodes() {
        let role = if n.id == cluster.primary().id {
            "primary"
        } else {
            "replica"
        };
        println!("  {:<11} {:<8} 127.0.0.1:{}", n.id, role, n.port);
    }
    println!("  proxy       MySQL    {}", settings.listen.mysql);
    println!("  proxy       admin    {}", settings.listen.admin);
    let scheme = if settings.control_plane.tls.enabled() {
        "https"
    } else {
        "http"
    };
    println!(
        "  control     HTTP     {scheme}://{}",
        settings.control_plane.listen
    );
    println!();
    println!("Connect through the proxy:");
    println!(
        "  mariadb -h{host} -P{port} -u{} -p{} {}",
        sb.app_user, sb.app_password, sb.app_database
    );
    if let Some(ca) = ca {
        println!(
            "With TLS, verified against the sandbox CA ({}):\n  mariadb -h{host} -P{port} -u{} -p{} --ssl --ssl-verify-server-cert --ssl-ca={} {}",
            ca.display(),
            sb.app_user,
            sb.app_password,
            ca.display(),
            sb.app_database
        );
    }
    let (admin_host, admin_port) = settings
        .listen
        .admin
        .rsplit_once(':')
        .unwrap_or(("127.0.0.1", "6032"));
    let admin = settings.proxy.admin_users.first();
    println!(
        "Admin port:\n  mariadb -h{admin_host} -P{admin_port} -u{} -p{} -e 'SHOW BACKENDS'",
        admin.map_or("admin", |u| &*u.name),
        admin.map_or("admin", |u| &*u.password)
    );
    println!("Press Ctrl-C to stop the proxy and every server.");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[sandbox] tls = true` points `[proxy.backend_tls] ca` at the work dir's CA (made on
    /// first use) unless the section names its own; off by default.
    #[test]
    fn sandbox_tls_turns_backend_tls_on_with_its_ca() {
        let dir = std::env::temp_dir().join(format!("myquorum-up-tls-{}", std::process::id()));
        let mut settings = Settings::default();
        settings.sandbox.work_dir = dir.clone();
        enable_backend_tls(&mut settings).expect("off");
        assert_eq!(settings.proxy.backend_tls.ca, None, "off by default");

        settings.sandbox.tls = true;
        enable_backend_tls(&mut settings).expect("on");
        let ca = dir.join("tls").join("ca.pem");
        assert_eq!(settings.proxy.backend_tls.ca.as_deref(), Some(ca.as_path()));
        assert!(ca.is_file(), "the CA was generated");

        let own = PathBuf::from("/etc/myquorum/backend-ca.pem");
        settings.proxy.backend_tls.ca = Some(own.clone());
        enable_backend_tls(&mut settings).expect("kept");
        assert_eq!(
            settings.proxy.backend_tls.ca,
            Some(own),
            "an explicit CA wins"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A state dir holding what a proxy persisted in front of an earlier cluster.
    fn stale_state(root: &std::path::Path) -> (Settings, PathBuf) {
        let dir = root.join("proxy-state");
        std::fs::create_dir_all(&dir).expect("state dir");
        std::fs::write(
            dir.join("cluster.json"),
            r#"{"epoch":3,"primary":"instance-4","fenced":[]}"#,
        )
        .expect("cluster.json");
        let mut settings = Settings::default();
        settings.sandbox.work_dir = root.to_path_buf();
        settings.proxy.state_dir = Some(dir.clone());
        (settings, dir)
    }

    #[test]
    fn fresh_wipes_the_proxy_state_and_a_restart_keeps_it() {
        let root = tempfile::tempdir().expect("temp dir");
        let (mut settings, dir) = stale_state(root.path());
        wipe_stale_proxy_state(&settings).expect("not fresh");
        assert!(dir.join("cluster.json").exists(), "a plain restart resumes");
        settings.sandbox.fresh = true;
        wipe_stale_proxy_state(&settings).expect("fresh");
        assert!(
            !dir.exists(),
            "fresh starts without the old primary and epoch"
        );
        wipe_stale_proxy_state(&settings).expect("nothing left to wipe is fine");
    }
}
