//! [`Cluster`]: start, stop, kill and restart the sandbox's MariaDB servers.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;

use tokio::task::JoinSet;

use crate::process::{self, Watchdog};
use crate::replication as repl;
use crate::template::{self, NODE_CNF};
use crate::topology::Topology;
use crate::{NodeInfo, SandboxConfig, SandboxError, TlsFiles};

/// How often `start_for_tests` picks new ports when one turned out to be taken.
const PORT_ATTEMPTS: usize = 5;

/// A running sandbox: one primary and N-1 GTID replicas on 127.0.0.1. Used by `myquorum up`
/// and as the fixture of every cluster test. Servers it started are stopped by [`Cluster::stop`]
/// (gracefully, awaited) or, failing that, signalled when the Cluster is dropped.
#[derive(Debug)]
pub struct Cluster {
    config: SandboxConfig,
    nodes: Vec<NodeInfo>,
    primary: usize,
    epoch: u64,
    mariadbd: PathBuf,
    cnf: PathBuf,
    /// The servers' TLS files (`config.tls`); None: plaintext only.
    tls: Option<TlsFiles>,
    /// One slot per node; `None` once stopped or killed.
    children: Mutex<Vec<Option<Child>>>,
    _watchdog: Option<Watchdog>,
}

impl Cluster {
    /// Starts (or re-uses the data of) the cluster described by `config`: every node accepts
    /// connections, every replica's IO and SQL threads run and have caught up with the primary.
    pub async fn start(config: SandboxConfig) -> Result<Cluster, SandboxError> {
        let work_dir = config.absolute_work_dir()?;
        let template_root = work_dir.join("template");
        start_in(config, work_dir, template_root, None)
            .await
            .map_err(|f| f.error)
    }

    /// Test fixture: a cluster on free ports in a fresh temporary directory. A watchdog process
    /// shuts every server down and deletes the directory when the calling process exits (even
    /// if killed, or if the Cluster lives in a static and is never dropped). The template
    /// datadir is shared between test binaries, so only the first one pays for it.
    pub async fn start_for_tests(nodes: usize) -> Result<Cluster, SandboxError> {
        Self::start_for_tests_with(nodes, false).await
    }

    /// [`Self::start_for_tests`], with every server serving TLS when `tls` (see
    /// [`SandboxConfig::tls`]; the CA is [`Self::tls_files`]).
    pub async fn start_for_tests_with(nodes: usize, tls: bool) -> Result<Cluster, SandboxError> {
        let work_dir = tempfile::Builder::new()
            .prefix("myquorum-test-")
            .tempdir()
            .map_err(|e| SandboxError::io("create temp dir in", std::env::temp_dir(), e))?
            .keep();
        let watchdog = process::spawn_watchdog(&work_dir, &crate::config::socket_dir(&work_dir))?;
        let mariadbd = template::find_mariadbd(None)?;
        let template_root = template::shared_template_root(&mariadbd).await?;
        let mut watchdog = Some(watchdog);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let config = SandboxConfig {
                work_dir: work_dir.clone(),
                nodes,
                base_port: free_port_range(nodes)?,
                tls,
                ..SandboxConfig::default()
            };
            match start_in(
                config,
                work_dir.clone(),
                template_root.clone(),
                watchdog.take(),
            )
            .await
            {
                Err(StartFailure {
                    error: SandboxError::AddressInUse { port, .. },
                    watchdog: w,
                }) if attempt < PORT_ATTEMPTS => {
                    tracing::warn!(
                        port,
                        attempt,
                        "port taken while starting test cluster; retrying"
                    );
                    watchdog = w;
                    remove_instance_dirs(&work_dir)?;
                }
                other => return other.map_err(|f| f.error),
            }
        }
    }

    /// The CA, certificate and key the servers serve TLS with; None when started without
    /// ([`SandboxConfig::tls`]).
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// Every node, instance-1 first.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// The persisted primary (instance-1 on first start): the only writable node.
    pub fn primary(&self) -> &NodeInfo {
        &self.nodes[self.primary]
    }

    /// Every node but the primary.
    pub fn replicas(&self) -> Vec<&NodeInfo> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.primary)
            .map(|(_, n)| n)
            .collect()
    }

    /// The config the cluster was started with (for tests: its temp dir and chosen ports), so a
    /// second `Cluster::start(cluster.config().clone())` re-uses the same data.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The persisted epoch (1 on first start), for fencing by the proxy.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Graceful shutdown of every server this Cluster started (SIGTERM, wait, SIGKILL after a
    /// deadline), all in parallel. Data is kept: a later `start` with the same config resumes.
    pub async fn stop(&self) -> Result<(), SandboxError> {
        let children: Vec<_> = self.lock_children().iter_mut().map(Option::take).collect();
        let mut tasks = JoinSet::new();
        for (node, child) in self.nodes.iter().cloned().zip(children) {
            if let Some(mut child) = child {
                tasks.spawn(async move { process::stop_child(&node, &mut child).await });
            }
        }
        let mut result = Ok(());
        while let Some(joined) = tasks.join_next().await {
            if let Ok(Err(e)) = joined {
                result = result.and(Err(e));
            }
        }
        if let Some(dir) = self.nodes.first().and_then(|n| n.socket.parent()) {
            let _ = std::fs::remove_dir(dir); // only if empty: never take a live socket away
        }
        result
    }

    /// `kill -9` one node (a crash, for failover tests). Its data stays for [`Cluster::start_node`].
    pub async fn kill_node(&self, id: &str) -> Result<(), SandboxError> {
        let i = self.index_of(id)?;
        let child = self.lock_children()[i].take();
        if let Some(mut child) = child {
            process::kill_child(&self.nodes[i], &mut child).await?;
            tracing::info!(node = id, "node killed");
        }
        Ok(())
    }

    /// Stops one node gracefully (SIGTERM, wait; SIGKILL after a deadline): the control
    /// plane's `/admin/stop-master` in sandbox mode. Its data stays for [`Cluster::start_node`].
    pub async fn stop_node(&self, id: &str) -> Result<(), SandboxError> {
        let i = self.index_of(id)?;
        let child = self.lock_children()[i].take();
        if let Some(mut child) = child {
            process::stop_child(&self.nodes[i], &mut child).await?;
            tracing::info!(node = id, "node stopped");
        }
        Ok(())
    }

    /// Records a failover done by the proxy in `topology.json`, so a later start crowns
    /// `primary`, not the node that was primary before.
    pub fn record_failover(&self, primary: &str, epoch: u64) -> Result<(), SandboxError> {
        let work_dir = self.config.absolute_work_dir()?;
        Topology {
            primary: primary.to_owned(),
            epoch,
            nodes: self.nodes.iter().map(|n| n.port).collect(),
        }
        .save(&work_dir)
    }

    /// Starts a stopped or killed node again with the same data and port. It comes back
    /// read-only (like any restarted server); a replica resumes replicating on its own.
    pub async fn start_node(&self, id: &str) -> Result<(), SandboxError> {
        let i = self.index_of(id)?;
        let node = &self.nodes[i];
        if let Some(child) = self.lock_children()[i].as_mut() {
            if matches!(child.try_wait(), Ok(None)) {
                return Ok(()); // already running
            }
        }
        let mut child = process::spawn(node, &self.mariadbd, &self.cnf, self.tls.as_ref())?;
        if let Err(e) = process::wait_ready(node, &mut child).await {
            let _ = process::kill_child(node, &mut child).await;
            return Err(e);
        }
        self.lock_children()[i] = Some(child);
        Ok(())
    }

    /// The server binary the nodes run: the tools beside it (`mariadb-dump`, `mariadb`) are
    /// the ones re-provisioning uses.
    pub(crate) fn mariadbd(&self) -> &Path {
        &self.mariadbd
    }

    /// The node named `id` (`instance-<k>`), for tests that act on one server by name.
    pub fn node(&self, id: &str) -> Result<&NodeInfo, SandboxError> {
        Ok(&self.nodes[self.index_of(id)?])
    }

    fn index_of(&self, id: &str) -> Result<usize, SandboxError> {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .ok_or_else(|| SandboxError::UnknownNode { id: id.into() })
    }

    fn lock_children(&self) -> std::sync::MutexGuard<'_, Vec<Option<Child>>> {
        // A panic while holding the lock cannot leave the Vec inconsistent: use it anyway.
        self.children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Everything after the servers run: wiring replication, first-time bootstrap, waiting.
    /// The same wiring `myquorum wire` runs on servers reached over TCP ([`crate::wire_remote`]).
    async fn configure(&self, bootstrapped: bool) -> Result<(), SandboxError> {
        let (primary, replicas) = self.servers();
        repl::wire(&primary, &replicas, &self.config, !bootstrapped).await
    }

    /// The primary and the replicas as the replication code addresses them.
    fn servers(&self) -> (repl::Server, Vec<repl::Server>) {
        let replicas = self
            .replicas()
            .into_iter()
            .map(repl::Server::from)
            .collect();
        (repl::Server::from(self.primary()), replicas)
    }

    /// Waits until every replica's threads run and it has applied everything the primary has
    /// logged so far: what a test calls after DDL or writes it needs on every node (before
    /// stopping replication, before reading on a replica).
    pub async fn wait_replicated(&self) -> Result<(), SandboxError> {
        let (primary, replicas) = self.servers();
        repl::wait_all_replicating(&primary, &replicas).await
    }
}

impl Drop for Cluster {
    /// Last resort when `stop()` was not awaited: SIGTERM whatever still runs (no waiting in a
    /// destructor), and reap the processes on a thread so they do not linger as zombies.
    fn drop(&mut self) {
        let children: Vec<Child> = self
            .lock_children()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for (node, child) in self.nodes.iter().zip(children.iter()) {
            let _ = process::signal(node, child.id() as i32, nix::sys::signal::Signal::SIGTERM);
        }
        if !children.is_empty() {
            std::thread::spawn(move || children.into_iter().for_each(|mut c| drop(c.wait())));
        }
    }
}

/// A failed start, handing the watchdog back so a retry can keep it.
struct StartFailure {
    error: SandboxError,
    watchdog: Option<Watchdog>,
}

impl From<SandboxError> for StartFailure {
    fn from(error: SandboxError) -> Self {
        StartFailure {
            error,
            watchdog: None,
        }
    }
}

/// The body of both constructors.
async fn start_in(
    config: SandboxConfig,
    work_dir: PathBuf,
    template_root: PathBuf,
    watchdog: Option<Watchdog>,
) -> Result<Cluster, StartFailure> {
    let fail = |error, watchdog| StartFailure { error, watchdog };
    if let Err(e) = config.validate() {
        return Err(fail(e, watchdog));
    }
    let prepared = prepare(&config, &work_dir, &template_root).await;
    let (mariadbd, nodes, topology) = match prepared {
        Ok(p) => p,
        Err(e) => return Err(fail(e, watchdog)),
    };
    let tls = if config.tls {
        match TlsFiles::ensure(&work_dir.join("tls")) {
            Ok(files) => Some(files),
            Err(e) => return Err(fail(e, watchdog)),
        }
    } else {
        None
    };
    let bootstrapped = topology.is_some();
    let topology = topology.unwrap_or_else(|| Topology {
        primary: "instance-1".into(),
        epoch: 1,
        nodes: nodes.iter().map(|n| n.port).collect(),
    });
    let primary = nodes
        .iter()
        .position(|n| n.id == topology.primary)
        .unwrap_or(0);
    let cluster = Cluster {
        config,
        primary,
        epoch: topology.epoch,
        cnf: work_dir.join("node.cnf"),
        tls,
        children: Mutex::new(nodes.iter().map(|_| None).collect()),
        nodes,
        mariadbd,
        _watchdog: watchdog,
    };
    let result = async {
        spawn_all(&cluster).await?;
        cluster.configure(bootstrapped).await?;
        let ports = cluster.nodes.iter().map(|n| n.port).collect();
        Topology {
            nodes: ports,
            ..topology
        }
        .save(&work_dir)
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!(primary = %cluster.primary().addr(), nodes = cluster.nodes.len(),
                epoch = cluster.epoch, "sandbox cluster ready");
            Ok(cluster)
        }
        Err(error) => {
            let _ = cluster.stop().await;
            let mut cluster = cluster;
            Err(StartFailure {
                error,
                watchdog: cluster._watchdog.take(),
            })
        }
    }
}

/// Filesystem side of a start: reap stale servers, wipe if `fresh`, check the persisted
/// topology, and copy the template into every node that has no datadir yet.
async fn prepare(
    config: &SandboxConfig,
    work_dir: &Path,
    template_root: &Path,
) -> Result<(PathBuf, Vec<NodeInfo>, Option<Topology>), SandboxError> {
    let mariadbd = template::find_mariadbd(config.mariadbd.as_deref())?;
    // Reap with the node layout of the persisted topology if there is one (node count may differ).
    let known = Topology::load(work_dir)
        .ok()
        .flatten()
        .map_or(config.nodes, |t| t.nodes.len());
    for k in 1..=known.max(config.nodes) {
        process::reap_stale(&NodeInfo::new(k, config, work_dir)).await?;
    }
    if config.fresh && work_dir.exists() {
        tracing::info!(dir = %work_dir.display(), "fresh start: wiping the sandbox");
        remove_instance_dirs(work_dir)?;
        let topo = Topology::path(work_dir);
        let _ = std::fs::remove_file(&topo);
    }
    std::fs::create_dir_all(work_dir)
        .map_err(|e| SandboxError::io("create directory", work_dir, e))?;
    template::write(&work_dir.join("node.cnf"), NODE_CNF)?;
    let nodes: Vec<NodeInfo> = (1..=config.nodes)
        .map(|k| NodeInfo::new(k, config, work_dir))
        .collect();
    let mut topology = Topology::load(work_dir)?;
    if let Some(t) = &topology {
        let path = Topology::path(work_dir);
        if t.nodes.len() != config.nodes {
            let reason = format!(
                "has {} nodes but the config asks for {}; start with fresh",
                t.nodes.len(),
                config.nodes
            );
            return Err(SandboxError::Topology { path, reason });
        }
        if !nodes.iter().any(|n| n.id == t.primary) {
            return Err(SandboxError::Topology {
                path,
                reason: format!("unknown primary {:?}", t.primary),
            });
        }
        if let Some(n) = nodes.iter().find(|n| !n.data_dir.is_dir()) {
            let reason = format!(
                "{} has no datadir ({}); start with fresh",
                n.id,
                n.data_dir.display()
            );
            return Err(SandboxError::Topology { path, reason });
        }
    } else if nodes.iter().any(|n| n.data_dir.exists()) {
        // No topology means the first start never finished: its data is not trustworthy.
        tracing::warn!(dir = %work_dir.display(), "unfinished earlier start: wiping its node data");
        remove_instance_dirs(work_dir)?;
        topology = None;
    }
    if nodes.iter().any(|n| !n.data_dir.is_dir()) {
        let template = template::ensure_template(template_root, &mariadbd).await?;
        for node in nodes.iter().filter(|n| !n.data_dir.is_dir()) {
            template::copy_dir(&template, &node.data_dir)?;
        }
    }
    let sockets = crate::config::socket_dir(work_dir);
    std::fs::create_dir_all(&sockets)
        .map_err(|e| SandboxError::io("create directory", &sockets, e))?;
    Ok((mariadbd, nodes, topology))
}

/// Spawns every node, then waits for all of them in parallel.
async fn spawn_all(cluster: &Cluster) -> Result<(), SandboxError> {
    let mut tasks = JoinSet::new();
    for (i, node) in cluster.nodes.iter().enumerate() {
        let mut child =
            process::spawn(node, &cluster.mariadbd, &cluster.cnf, cluster.tls.as_ref())?;
        let node = node.clone();
        tasks.spawn(async move {
            let ready = process::wait_ready(&node, &mut child).await;
            (i, child, ready)
        });
    }
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, child, ready)) = joined {
            cluster.lock_children()[i] = Some(child);
            result = result.and(ready);
        }
    }
    result
}

/// Removes every `instance-*` directory of `work_dir` (data, logs, pid files).
fn remove_instance_dirs(work_dir: &Path) -> Result<(), SandboxError> {
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with("instance-") {
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(|e| SandboxError::io("remove", &path, e))?;
        }
    }
    Ok(())
}

/// A base port with `n` consecutive free ports after it, found by binding 127.0.0.1:0.
/// Racy by nature (someone may take a port before mariadbd binds it): callers retry.
fn free_port_range(n: usize) -> Result<u16, SandboxError> {
    let bind = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port));
    let mut last_error = None;
    for _ in 0..50 {
        let first = match bind(0).and_then(|l| l.local_addr().map(|a| (l, a.port()))) {
            Ok(found) => found,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        let base = first.1;
        if usize::from(base) + n > usize::from(u16::MAX) {
            continue;
        }
        let rest: Result<Vec<_>, _> = (1..n as u16).map(|i| bind(base + i)).collect();
        if rest.is_ok() {
            return Ok(base);
        }
    }
    let source = last_error
        .unwrap_or_else(|| std::io::Error::other("no free consecutive ports after 50 tries"));
    Err(SandboxError::io("find free ports on", "127.0.0.1", source))
}
