//! Test support: a 4-node sandbox cluster, a proxy on it, and the control plane on
//! 127.0.0.1:0 with every legacy service on a free port.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use myquorum_control_plane::{
    ControlPlane, ControlPlaneConfig, ControlPlaneError, LegacyListen, NodeControl,
};
use myquorum_proxy::quorum::FailureThreshold;
use myquorum_proxy::ProxyConfig;
use myquorum_sandbox::testing::TestProxy;
use myquorum_sandbox::Cluster;
use mysql_async::prelude::Queryable;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The shared proxy configuration for `cluster` ([`myquorum_sandbox::testing::proxy_config`])
/// with failure threshold `t`. A cluster serving TLS is reached over TLS verified against its
/// CA (`[proxy.backend_tls]`).
pub fn proxy_config(cluster: &Cluster, t: FailureThreshold) -> ProxyConfig {
    let mut config = myquorum_sandbox::testing::proxy_config(cluster);
    config.quorum.failure_threshold = t;
    config.backend_tls.ca = cluster.tls_files().map(|f| f.ca.clone());
    config
}

/// Legacy services on free loopback ports.
pub fn legacy_on_free_ports() -> LegacyListen {
    let any = "127.0.0.1:0".to_owned();
    LegacyListen {
        timestamp_1: any.clone(),
        timestamp_2: any.clone(),
        metrics: any.clone(),
        cabinet: any.clone(),
        seer: any,
    }
}

/// A running proxy (MySQL port) and control plane.
pub struct Harness {
    /// The control plane's state (legacy addresses, collector).
    pub state: ControlPlane,
    /// `http://127.0.0.1:PORT` of the coordinator API.
    pub base: String,
    /// The proxy serving its MySQL port.
    pub proxy: TestProxy,
    /// HTTP client.
    pub http: reqwest::Client,
    http_stop: oneshot::Sender<()>,
    http_task: JoinHandle<Result<(), ControlPlaneError>>,
}

fn stopper() -> (
    oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

impl Harness {
    /// Starts a proxy on `cluster` and the control plane on `http_addr` with `config`.
    pub async fn start(
        cluster: &Cluster,
        t: FailureThreshold,
        http_addr: &str,
        config: ControlPlaneConfig,
    ) -> Harness {
        Self::start_with(proxy_config(cluster, t), None, http_addr, config).await
    }

    /// [`Self::start`] with a proxy configuration of the caller's and, optionally, a server
    /// launcher (the paths that stop and start servers answer 409 without one).
    pub async fn start_with(
        proxy: ProxyConfig,
        nodes: Option<Arc<dyn NodeControl>>,
        http_addr: &str,
        config: ControlPlaneConfig,
    ) -> Harness {
        let proxy = TestProxy::start_with(proxy).await;
        let state = ControlPlane::with_nodes(proxy.handle.clone(), config, nodes);
        let listener = TcpListener::bind(http_addr).await.expect("bind http");
        let port = listener.local_addr().expect("addr").port();
        let (http_stop, http_until) = stopper();
        let http_task = tokio::spawn(myquorum_control_plane::serve(
            listener,
            state.clone(),
            http_until,
        ));
        let harness = Harness {
            state,
            base: format!("http://127.0.0.1:{port}"),
            proxy,
            http: reqwest::Client::new(),
            http_stop,
            http_task,
        };
        harness.wait_for_api().await;
        harness
    }

    async fn wait_for_api(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.http.get(self.url("/status")).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("control plane did not start listening");
    }

    /// Full URL of `path` on the coordinator.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path`: status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.expect("JSON body"))
    }

    /// POST `body` (raw text) to `path`: status and JSON body.
    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        post_to(&self.http, &self.url(path), body).await
    }

    /// The address a legacy service bound.
    pub fn legacy(&self, service: &str) -> String {
        let addr = self
            .state
            .legacy_addrs()
            .into_iter()
            .find(|(s, _)| *s == service)
            .map(|(_, a)| a)
            .unwrap_or_else(|| panic!("legacy service {service} is listening"));
        format!("http://{addr}")
    }

    /// An application connection through the proxy (database `app`).
    pub async fn app_conn(&self, strong: bool) -> mysql_async::Conn {
        let mut conn = self.proxy.conn().await;
        if strong {
            conn.query_drop("SET myquorum_consistency = 'STRONG'")
                .await
                .expect("STRONG");
        }
        conn
    }

    /// Polls `GET path` until `check` holds (10 s), returning the last body.
    pub async fn until(&self, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, body) = self.get(path).await;
            if check(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {body:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops both servers; both must return Ok.
    pub async fn stop(self) {
        let _ = self.http_stop.send(());
        let http = tokio::time::timeout(Duration::from_secs(15), self.http_task)
            .await
            .expect("control plane stops")
            .expect("no panic");
        http.expect("serve returned Ok");
        self.proxy.stop().await;
    }
}

/// POST raw `body` to `url`: status and JSON body.
pub async fn post_to(http: &reqwest::Client, url: &str, body: &str) -> (u16, Value) {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

/// GET `url`: status and JSON body.
pub async fn get_from(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http.get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

/// The metrics object of `id` in a `/metrics` body.
pub fn node<'a>(metrics: &'a Value, id: &str) -> &'a Value {
    metrics["replicas"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["replica_id"] == id))
        .unwrap_or_else(|| panic!("{id} in {metrics:#}"))
}

/// A sandbox cluster as the control plane's server launcher (as `myquorum up` has it), so
/// `/admin/stop-master*`, `/admin/start-instance` and `/admin/restart-old-master` work.
#[derive(Debug)]
pub struct SandboxNodes(pub Arc<Cluster>);

impl NodeControl for SandboxNodes {
    fn stop(&self, id: &str) -> myquorum_control_plane::state::BoxFuture<'_, Result<(), String>> {
        let id = id.to_owned();
        Box::pin(async move { self.0.stop_node(&id).await.map_err(|e| e.to_string()) })
    }

    fn start(&self, id: &str) -> myquorum_control_plane::state::BoxFuture<'_, Result<(), String>> {
        let id = id.to_owned();
        Box::pin(async move { self.0.start_node(&id).await.map_err(|e| e.to_string()) })
    }

    fn reprovision<'a>(
        &'a self,
        id: &'a str,
        from: &'a str,
    ) -> myquorum_control_plane::state::BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            self.0
                .reprovision_node(id, from)
                .await
                .map(|done| done.discarded)
                .map_err(|e| e.to_string())
        })
    }

    fn topology_changed(&self, _primary: &str, _epoch: u64) {}
}

/// Runs `sql` as root on the node of `cluster` named `node`.
pub async fn root(cluster: &Cluster, node: &str, sql: &str) {
    let node = cluster.node(node).expect("node exists");
    myquorum_sandbox::testing::root(node, sql).await;
}
