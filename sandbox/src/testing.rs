//! The test fixture every test crate shares (feature `testing`): the proxy configuration for a
//! sandbox cluster, and a proxy started on a free port in front of it. The proxy, control-plane
//! and root crates enable this feature in their dev-dependencies, so there is one copy of this
//! wiring instead of one per crate.

use std::net::SocketAddr;
use std::time::Duration;

use myquorum_proxy::{BackendNode, ProxyConfig, ProxyError, UserConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Cluster;

/// How long a test proxy may take to drain on [`TestProxy::stop`].
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// The configuration every test proxy starts from: `cluster`'s nodes and primary, its
/// application user, its control user, a state directory in its work dir (the acknowledged
/// GTID and the topology survive a proxy restart), and a short shutdown grace (2 s) so a
/// test that stops the proxy does not wait for the production default. Tests change fields on top of it.
pub fn proxy_config(cluster: &Cluster) -> ProxyConfig {
    let cfg = cluster.config();
    ProxyConfig {
        users: vec![UserConfig {
            name: cfg.app_user.as_str().into(),
            password: cfg.app_password.as_str().into(),
            require_ssl: false,
        }],
        nodes: cluster
            .nodes()
            .iter()
            .map(|n| BackendNode {
                id: n.id.as_str().into(),
                addr: n.addr(),
            })
            .collect(),
        primary: cluster.primary().id.clone(),
        control_user: cfg.control_user.clone(),
        control_password: cfg.control_password.clone(),
        shutdown_grace_ms: 2_000,
        state_dir: Some(cfg.work_dir.join("proxy-state")),
        ..ProxyConfig::default()
    }
}

/// A proxy serving its MySQL port on `127.0.0.1:<free port>` for one test, with the running
/// proxy at hand (cluster state, quorum tracker, registry) and a stop that checks it drained.
pub struct TestProxy {
    /// The MySQL port's address.
    pub addr: SocketAddr,
    /// The running proxy.
    pub handle: myquorum_proxy::Proxy,
    /// The application user, password and database connections through it use.
    app: (String, String, String),
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ProxyError>>,
}

impl TestProxy {
    /// A proxy in front of `cluster` with the fixture's configuration ([`proxy_config`]).
    pub async fn start(cluster: &Cluster) -> TestProxy {
        Self::start_with(proxy_config(cluster)).await
    }

    /// A proxy with its own configuration; connections log in as its first user, in database
    /// `app` (the sandbox's default application database).
    pub async fn start_with(config: ProxyConfig) -> TestProxy {
        let app = config
            .users
            .first()
            .map(|u| (u.name.to_string(), u.password.to_string(), "app".to_owned()))
            .expect("a test proxy needs an application user");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy's port");
        let addr = listener.local_addr().expect("the proxy's address");
        let handle = myquorum_proxy::Proxy::start(config)
            .await
            .expect("proxy starts");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = handle.clone();
        let task = tokio::spawn(async move {
            serving
                .serve_mysql(listener, async move {
                    let _ = stopped.await;
                })
                .await
        });
        TestProxy {
            addr,
            handle,
            app,
            stop: Some(stop),
            task,
        }
    }

    /// Connection options through the proxy as the application user (TCP, database selected).
    pub fn opts(&self) -> mysql_async::Opts {
        let (user, password, database) = &self.app;
        mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.addr.ip().to_string())
            .tcp_port(self.addr.port())
            .user(Some(user))
            .pass(Some(password))
            .db_name(Some(database))
            .prefer_socket(false)
            .into()
    }

    /// A connection through the proxy as the application user.
    pub async fn conn(&self) -> mysql_async::Conn {
        mysql_async::Conn::new(self.opts())
            .await
            .expect("connect through the proxy")
    }

    /// Stops the proxy; it must drain within 30 s and return Ok.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = tokio::time::timeout(STOP_DEADLINE, self.task)
            .await
            .expect("proxy stops within the grace period")
            .expect("proxy task did not panic");
        served.expect("serve_mysql returned Ok");
    }
}

/// Runs `sql` as root on `node` on a fresh connection, panicking with the statement and the
/// server's error: the tests' way to change a server behind the proxy's back.
pub async fn root(node: &crate::NodeInfo, sql: &str) {
    crate::root_exec(node, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}
