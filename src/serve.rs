//! `myquorum serve`: the proxy in front of existing servers from the config file, and
//! [`run_listeners`], which both `serve` and `up` use to run the MySQL, admin and HTTP ports.

use anyhow::Context;
use myquorum_proxy::Proxy;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::settings::{Mode, Settings};

/// Runs the proxy until Ctrl-C / SIGTERM. Every section is validated before anything binds;
/// with `preflight`, the servers are checked too (the control user's privileges and the
/// settings failover depends on) and every problem is named before the proxy refuses to start.
pub async fn run(settings: Settings, preflight: bool) -> anyhow::Result<()> {
    settings.validate(Mode::Serve)?;
    if preflight {
        let timeout =
            std::time::Duration::from_millis(settings.control_plane.failover.control_timeout_ms);
        let findings = myquorum_control_plane::preflight::check(&settings.proxy, timeout).await;
        if !findings.is_empty() {
            let list: Vec<String> = findings.iter().map(|f| format!("  - {f}")).collect();
            anyhow::bail!(
                "the servers are not ready for myquorum serve ({} problems; --skip-preflight starts anyway):\n{}",
                findings.len(),
                list.join("\n")
            );
        }
        tracing::info!(
            nodes = settings.proxy.nodes.len(),
            "start-up check of the servers passed"
        );
    }
    let listeners = Listeners::bind(&settings).await?;
    run_listeners(&settings, listeners, crate::shutdown::on_signal(), None).await
}

/// The bound listening sockets (bound before anything slow starts, so a taken port fails
/// fast).
pub struct Listeners {
    mysql: TcpListener,
    admin: TcpListener,
    http: TcpListener,
}

impl Listeners {
    /// Binds the MySQL, admin and control-plane ports of `settings`.
    pub async fn bind(settings: &Settings) -> anyhow::Result<Self> {
        let mysql = TcpListener::bind(&settings.listen.mysql)
            .await
            .with_context(|| {
                format!("cannot listen on {} (listen.mysql)", settings.listen.mysql)
            })?;
        let admin = TcpListener::bind(&settings.listen.admin)
            .await
            .with_context(|| {
                format!("cannot listen on {} (listen.admin)", settings.listen.admin)
            })?;
        let http = TcpListener::bind(&settings.control_plane.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (control_plane.listen)",
                    settings.control_plane.listen
                )
            })?;
        Ok(Self { mysql, admin, http })
    }
}

/// What one of the three servers returned, named for the error message.
type Served = (&'static str, anyhow::Result<()>);

/// Starts the proxy and serves its MySQL, admin and HTTP ports until `stop` is cancelled or
/// one of them ends on its own (a failed control plane must not leave MySQL served without
/// its API): then all stop, and the first failure is returned.
pub async fn run_listeners(
    settings: &Settings,
    listeners: Listeners,
    stop: CancellationToken,
    nodes: Option<std::sync::Arc<dyn myquorum_control_plane::NodeControl>>,
) -> anyhow::Result<()> {
    let proxy = Proxy::start(settings.proxy.clone()).await?;
    tracing::info!(
        mysql = %settings.listen.mysql,
        admin = %settings.listen.admin,
        http = %settings.control_plane.listen,
        "listening"
    );
    let mut servers: JoinSet<Served> = JoinSet::new();
    {
        let proxy = proxy.clone();
        let stop = stop.clone();
        servers.spawn(async move {
            let served =
                myquorum_proxy::admin::serve_admin(&proxy, listeners.admin, stop.cancelled_owned())
                    .await;
            ("admin port", served.map_err(anyhow::Error::from))
        });
    }
    {
        let state = myquorum_control_plane::ControlPlane::with_nodes(
            proxy.clone(),
            settings.control_plane.clone(),
            nodes,
        );
        let stop = stop.clone();
        servers.spawn(async move {
            let served =
                myquorum_control_plane::serve(listeners.http, state, stop.cancelled_owned()).await;
            ("control plane", served.map_err(anyhow::Error::from))
        });
    }
    {
        let stop = stop.clone();
        servers.spawn(async move {
            let served = proxy
                .serve_mysql(listeners.mysql, stop.cancelled_owned())
                .await;
            ("MySQL port", served.map_err(anyhow::Error::from))
        });
    }
    supervise(servers, stop).await
}

/// Waits for the first server to end; if that happened before `stop` was cancelled, it is a
/// failure (an `Ok` too: no server ends on its own). Then stops and awaits the others.
async fn supervise(mut servers: JoinSet<Served>, stop: CancellationToken) -> anyhow::Result<()> {
    let mut first_error = None;
    let mut keep = |name: &str, result: anyhow::Result<()>| {
        if let Err(e) = result {
            tracing::error!(server = name, error = %format!("{e:#}"), "stopped with an error");
            first_error.get_or_insert(e.context(format!("{name} failed")));
        }
    };
    if let Some(ended) = servers.join_next().await {
        let (name, result) = ended.context("a server task panicked")?;
        if !stop.is_cancelled() {
            let result = result.and_then(|()| Err(anyhow::anyhow!("ended before shutdown")));
            tracing::error!(server = name, "stopped on its own: stopping everything");
            stop.cancel();
            keep(name, result);
        } else {
            keep(name, result);
        }
    }
    while let Some(ended) = servers.join_next().await {
        let (name, result) = ended.context("a server task panicked")?;
        keep(name, result);
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A server that fails while the others run stops all of them promptly, and its error
    /// (not a later one) is what `run_listeners` returns.
    #[tokio::test]
    async fn an_early_failure_stops_every_server_with_its_error() {
        let stop = CancellationToken::new();
        let mut servers: JoinSet<Served> = JoinSet::new();
        for name in ["MySQL port", "admin port"] {
            let stop = stop.clone();
            servers.spawn(async move {
                stop.cancelled().await;
                (name, Ok(()))
            });
        }
        servers.spawn(async { ("control plane", Err(anyhow::anyhow!("token missing"))) });
        let result = tokio::time::timeout(Duration::from_secs(5), supervise(servers, stop))
            .await
            .expect("stops promptly");
        let err = format!("{:#}", result.expect_err("the failure is returned"));
        assert!(err.contains("control plane failed"), "{err}");
        assert!(err.contains("token missing"), "{err}");
    }

    /// A server that returns Ok before shutdown is a failure too: nothing ends on its own.
    #[tokio::test]
    async fn an_early_clean_exit_is_reported() {
        let stop = CancellationToken::new();
        let mut servers: JoinSet<Served> = JoinSet::new();
        let waiter = stop.clone();
        servers.spawn(async move {
            waiter.cancelled().await;
            ("MySQL port", Ok(()))
        });
        servers.spawn(async { ("admin port", Ok(())) });
        let err = supervise(servers, stop).await.expect_err("reported");
        assert!(format!("{err:#}").contains("admin port"), "{err:#}");
    }

    /// After the shutdown signal, servers that end cleanly are a clean stop.
    #[tokio::test]
    async fn a_signalled_stop_is_ok() {
        let stop = CancellationToken::new();
        let mut servers: JoinSet<Served> = JoinSet::new();
        for name in ["MySQL port", "admin port", "control plane"] {
            let stop = stop.clone();
            servers.spawn(async move {
                stop.cancelled().await;
                (name, Ok(()))
            });
        }
        stop.cancel();
        supervise(servers, stop).await.expect("clean stop");
    }
}
