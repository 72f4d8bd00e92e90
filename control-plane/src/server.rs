//! [`serve`]: runs the coordinator API on a listener the caller bound, the legacy services
//! when configured, and the collector's probe tasks, until `shutdown` resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::collector::{self, ProbeSettings};
use crate::config::check_token;
use crate::error::ControlPlaneError;
use crate::http::{serve_http, HttpLimits};
use crate::state::ControlPlane;

/// How long shutdown waits for the probe tasks (and the legacy listeners, on top of their
/// own `control_plane.shutdown_grace_ms`) before aborting them.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Serves the control plane until `shutdown` resolves.
///
/// Refuses to start when `listener` is beyond loopback and no token is configured (the
/// configuration's `listen` is also checked for TLS by `validate`, see [`crate::https`]);
/// serves HTTPS when `[control_plane.tls]` names a certificate. Starts
/// the collector and waits (at most one probe timeout) for its first round so the first
/// answers are not empty; binds the legacy ports when configured, warning about (and
/// skipping) any that is taken; then serves until `shutdown`, and stops everything.
pub async fn serve(
    listener: TcpListener,
    state: ControlPlane,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControlPlaneError> {
    let config = state.config().clone();
    config.validate()?;
    let local = listener
        .local_addr()
        .map_err(|source| ControlPlaneError::Serve {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
    check_token(config.token.as_deref(), &local).map_err(|reason| ControlPlaneError::Config {
        key: "control_plane.token",
        reason,
    })?;
    state.set_auth_required(config.token.is_some());
    let tls = config.tls.acceptor()?;

    let shared = state.context();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let settings = ProbeSettings {
        user: shared.config().control_user.clone(),
        password: shared.config().control_password.clone(),
        domain: shared.config().gtid_domain,
        interval: config.collector_interval(),
        timeout: config.probe_timeout(),
        ssl: shared.backend_ssl_opts(),
    };
    let context = std::sync::Arc::clone(shared);
    let is_primary: collector::RoleOf =
        std::sync::Arc::new(move |id: &str| context.cluster().topology().is_primary(id));
    collector::spawn(
        state.collector(),
        &shared.config().nodes,
        &is_primary,
        &settings,
        &stop_rx,
        &mut tasks,
    );
    tasks.spawn(crate::failover::detector::run_detector(
        state.clone(),
        stop_rx.clone(),
    ));
    tasks.spawn(crate::dashboard::feed::run_sampler(
        state.clone(),
        stop_rx.clone(),
    ));
    state
        .collector()
        .wait_first_round(config.probe_timeout())
        .await;

    if config.legacy_ports {
        let bound = start_legacy(&state, &stop_rx, &mut tasks).await;
        state.set_legacy_addrs(bound);
    }

    info!(addr = %local, auth = state.auth_required(), https = tls.is_some(), "control plane listening");
    let app = crate::routes::coordinator(state.clone());
    // Event streams never end on their own: end them as soon as shutdown starts, so the
    // shutdown grace is spent on real requests.
    let feed_state = state.clone();
    let shutdown = async move {
        shutdown.await;
        feed_state.feed().close();
    };
    serve_http(listener, app, limits(&config), tls, shutdown).await;
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(STOP_GRACE, async {
        while tasks.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        tasks.shutdown().await;
    }
    state.set_legacy_addrs(Vec::new());
    info!("control plane stopped");
    Ok(())
}

/// The HTTP timeouts of every listener.
fn limits(config: &crate::ControlPlaneConfig) -> HttpLimits {
    HttpLimits {
        header_read_timeout: config.header_read_timeout(),
        shutdown_grace: config.shutdown_grace(),
    }
}

/// Binds and spawns every legacy service; a taken port is a warning naming it.
async fn start_legacy(
    state: &ControlPlane,
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> Vec<(&'static str, SocketAddr)> {
    let mut bound = Vec::new();
    let legacy = state.config().legacy.clone();
    for (service, addr) in legacy.entries() {
        let Some(router) = crate::legacy::router(service, state.clone()) else {
            continue;
        };
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(error) => {
                warn!(service, addr, %error, "legacy port not available; that service is not started");
                continue;
            }
        };
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        info!(service, addr = %local, "legacy service listening");
        bound.push((service, local));
        let mut stop = stop.clone();
        let limits = limits(state.config());
        tasks.spawn(async move {
            let until_stop = async move {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            };
            serve_http(listener, router, limits, None, until_stop).await;
        });
    }
    bound
}
