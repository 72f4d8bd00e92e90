//! `myquorum serve`: the proxy in front of existing servers from the config file, and
//! [`run_listeners`], which both `serve` and `up` use to run the MySQL and admin ports.

use anyhow::Context;
use myquorum_proxy::Proxy;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;

/// Runs the proxy until Ctrl-C / SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    settings.validate_listen()?;
    settings.proxy.validate()?;
    let listeners = Listeners::bind(&settings).await?;
    run_listeners(&settings, listeners, crate::shutdown::on_signal()).await
}

/// The bound listening sockets (bound before anything slow starts, so a taken port fails
/// fast).
pub struct Listeners {
    mysql: TcpListener,
    admin: TcpListener,
    http: TcpListener,
}

impl Listeners {
    /// Binds the MySQL and admin ports of `settings`.
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

/// Starts the proxy and serves its MySQL and admin ports until `stop` is cancelled.
pub async fn run_listeners(
    settings: &Settings,
    listeners: Listeners,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let proxy = Proxy::start(settings.proxy.clone()).await?;
    tracing::info!(
        mysql = %settings.listen.mysql,
        admin = %settings.listen.admin,
        http = %settings.control_plane.listen,
        "listening"
    );
    let admin = {
        let proxy = proxy.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            myquorum_proxy::admin::serve_admin(&proxy, listeners.admin, stop.cancelled_owned())
                .await
        })
    };
    let http = {
        let state = myquorum_control_plane::ControlPlane::new(
            proxy.clone(),
            settings.control_plane.clone(),
        );
        tokio::spawn(myquorum_control_plane::serve(
            listeners.http,
            state,
            stop.clone().cancelled_owned(),
        ))
    };
    let mysql = proxy
        .serve_mysql(listeners.mysql, stop.clone().cancelled_owned())
        .await;
    stop.cancel();
    let admin = admin.await.context("admin port task")?;
    let http = http.await.context("control plane task")?;
    mysql?;
    admin?;
    http?;
    Ok(())
}
