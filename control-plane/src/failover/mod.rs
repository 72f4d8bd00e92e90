//! Failover (DESIGN.md section 7): detect a dead primary ([`detector`]), drain the
//! replicas, elect with the SEER gate and score, promote, re-point, fence, bump the epoch.
//!
//! **Safety rule.** A replica is eligible only if, after its relay log is drained, its
//! applied position is at or beyond the required position: the highest STRONG-acknowledged
//! GTID (durable in `proxy.state_dir`) and the most advanced position among the drained
//! replicas (promoting a replica behind another would strand the one ahead: its next
//! CHANGE MASTER would ask the new primary for transactions it never had). Without a
//! state directory the acknowledged position is not known after a proxy restart, so every
//! replica must be reachable and drained (the most advanced one then holds every
//! acknowledged write). No eligible replica: refused with the reasons, unless forced, and
//! then the answer lists the sequence numbers that may be lost.

pub mod detector;
mod sql;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;
use utoipa::ToSchema;

use myquorum_proxy::cluster::TopologyError;
use myquorum_proxy::BackendNode;

pub use sql::Control;

use crate::seer::{elect, Candidate, CandidateFacts};
use crate::state::ControlPlane;

/// Why a failover did not happen or failed.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    /// Another failover runs now (one at a time).
    #[error("a failover is already in progress")]
    InProgress,
    /// The last automatic failover was too recent.
    #[error("cool-down: the last failover ended {ago:?} ago (cool-down {cooldown:?})")]
    CoolDown {
        /// Since the last failover.
        ago: Duration,
        /// The configured cool-down.
        cooldown: Duration,
    },
    /// No replica passed the safety gate.
    #[error("no eligible replica: {reason}")]
    NoEligible {
        /// Why, in one sentence.
        reason: String,
        /// Every candidate with its reason.
        candidates: Vec<Candidate>,
        /// The position a candidate had to hold.
        required: u64,
    },
    /// A control statement failed on a node.
    #[error("{node}: {statement}: {message}")]
    Sql {
        /// The node.
        node: String,
        /// What was run.
        statement: String,
        /// What went wrong.
        message: String,
    },
    /// The topology changed under the decision (a newer epoch is in force).
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// The request names a node that cannot take the role asked for.
    #[error("{0}")]
    BadTarget(String),
    /// The node holds transactions the primary never had (replication answered 1236): it
    /// cannot rejoin as it is; re-provisioning it from the primary discards them.
    #[error("{node}: `START SLAVE` refused to rejoin: {detail}; it may hold transactions the cluster never received: re-provision it from the primary (`\"reprovision\": true` in the request's body, sandbox only)")]
    Diverged {
        /// The node.
        node: String,
        /// The replica's IO and SQL errors.
        detail: String,
    },
    /// Stopping or starting a server needs the sandbox (`myquorum up`).
    #[error("{0}: the proxy did not start the servers (myquorum serve); stop or start it with your own tooling")]
    NoNodeControl(&'static str),
}

/// What asked for a failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The detector declared the primary dead.
    Automatic,
    /// An operator (`/admin/stop-master`, `/admin/promote-leader`, `/elect-leader` apply).
    Manual,
}

/// A failover to run.
#[derive(Debug, Clone)]
pub struct FailoverRequest {
    /// Who asked.
    pub trigger: Trigger,
    /// The replica to promote (None: SEER chooses).
    pub target: Option<String>,
    /// Replicas not to consider.
    pub exclude: Vec<String>,
    /// Promote even if no replica passes the gate (the report lists what may be lost).
    pub force: bool,
}

/// What a failover did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailoverReport {
    /// The primary before.
    pub old_master: String,
    /// The primary now.
    pub new_master: String,
    /// The new epoch.
    pub epoch: u64,
    /// Replicas re-pointed at the new primary.
    pub reconfigured_replicas: Vec<String>,
    /// Replicas that could not be re-pointed, with why.
    pub not_reconfigured: Vec<String>,
    /// Every candidate as judged after the drain.
    pub candidates: Vec<Candidate>,
    /// The position the winner had to hold.
    pub required_position: u64,
    /// Forced past the gate: GTIDs (domain-server-seq) acknowledged or committed that the
    /// new primary does not hold.
    pub may_be_lost: Vec<String>,
    /// Wall time of the failover (ms).
    pub duration_ms: u64,
}

/// A refused automatic failover, kept for `/status` and `/elect-leader`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Refusal {
    /// Why.
    pub reason: String,
    /// Unix time (s).
    pub at: f64,
}

/// The failover state the control plane keeps.
#[derive(Debug, Default)]
pub struct FailoverState {
    /// When the last failover ended (cool-down).
    last: Mutex<Option<Instant>>,
    /// The last refusal, cleared by the next promotion.
    refusal: Mutex<Option<Refusal>>,
    /// The last report.
    report: Mutex<Option<FailoverReport>>,
}

impl FailoverState {
    /// The last refusal (None after a promotion).
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The last failover's report.
    pub fn last_report(&self) -> Option<FailoverReport> {
        self.report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn since_last(&self) -> Option<Duration> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }
}

/// Ends the failover bracket on every path out of [`run`].
/// The one failover allowed to run now, claimed until dropped: while it is held, the
/// detector's automatic attempts and other operators' requests get
/// [`FailoverError::InProgress`], and statements for the primary wait.
#[must_use = "the claim is released when dropped"]
pub struct Claim<'a>(&'a myquorum_proxy::cluster::ClusterHandle);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.end_failover();
    }
}

/// Claims the failover slot ([`FailoverError::InProgress`] when one runs). An operator path
/// that first stops the primary (`/admin/stop-master`) claims before stopping it, so the
/// detector, seeing the primary gone, cannot run a failover of its own in between (two
/// failovers in a row would promote twice and move the role off the node just promoted).
pub fn claim(cp: &ControlPlane) -> Result<Claim<'_>, FailoverError> {
    let cluster = cp.context().cluster();
    if !cluster.begin_failover() {
        return Err(FailoverError::InProgress);
    }
    Ok(Claim(cluster))
}

/// Runs one failover away from the primary in force (see the module docs).
pub async fn run(cp: &ControlPlane, req: FailoverRequest) -> Result<FailoverReport, FailoverError> {
    let settings = cp.config().failover.clone();
    if req.trigger == Trigger::Automatic {
        let cooldown = Duration::from_millis(settings.cooldown_ms);
        if let Some(ago) = cp.failover().since_last().filter(|a| *a < cooldown) {
            return Err(FailoverError::CoolDown { ago, cooldown });
        }
    }
    let claim = claim(cp)?;
    run_claimed(cp, req, claim).await
}

/// [`run`] with the failover slot already claimed (the claim is released at the end).
pub async fn run_claimed(
    cp: &ControlPlane,
    req: FailoverRequest,
    claim: Claim<'_>,
) -> Result<FailoverReport, FailoverError> {
    let started = Instant::now();
    let _claim = claim;
    let result = run_inner(cp, &req, started).await;
    match &result {
        Ok(report) => {
            tracing::warn!(old = %report.old_master, new = %report.new_master, epoch = report.epoch,
                trigger = ?req.trigger, duration_ms = report.duration_ms,
                reconfigured = ?report.reconfigured_replicas, may_be_lost = ?report.may_be_lost,
                "failover done");
            *cp.failover()
                .refusal
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = None;
            *cp.failover()
                .report
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
            *cp.failover().last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
        Err(e) => {
            tracing::error!(error = %e, trigger = ?req.trigger, "failover refused or failed");
            *cp.failover()
                .refusal
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(Refusal {
                reason: e.to_string(),
                at: crate::collector::unix_now(),
            });
            if req.trigger == Trigger::Automatic {
                *cp.failover().last.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now());
            }
        }
    }
    result
}

/// The control settings from the proxy's configuration.
pub fn control(cp: &ControlPlane) -> Control {
    let config = cp.context().config();
    Control {
        user: config.control_user.clone(),
        password: config.control_password.clone(),
        domain: config.gtid_domain,
        connect_timeout: Duration::from_millis(cp.config().failover.control_timeout_ms),
        ssl: cp.context().backend_ssl_opts(),
    }
}

async fn run_inner(
    cp: &ControlPlane,
    req: &FailoverRequest,
    started: Instant,
) -> Result<FailoverReport, FailoverError> {
    let cluster = cp.context().cluster();
    let control = control(cp);
    let topology = cluster.topology();
    let old = topology.primary().clone();
    let replicas: Vec<BackendNode> = topology.replicas().cloned().collect();
    if let Some(target) = &req.target {
        if !replicas.iter().any(|r| *r.id == **target) {
            return Err(FailoverError::BadTarget(format!(
                "{target} is not a replica of the current topology"
            )));
        }
    }
    // Fence first: if the old primary is alive after all, it takes no more writes, and
    // every replica first receives all it logged (a switchover loses nothing).
    let catch_up = match control.fence(&old).await {
        Ok(()) => {
            tracing::info!(node = %old.id, "old primary fenced (read_only=ON)");
            control.binlog_pos(&old).await.ok()
        }
        Err(e) => {
            tracing::info!(node = %old.id, error = %e, "old primary unreachable: fenced by the topology only");
            None
        }
    };
    let drained = drain_all(&control, &replicas, cp, catch_up.as_deref()).await;
    let view = cp.view();
    let facts: Vec<CandidateFacts> = replicas
        .iter()
        .zip(&drained)
        .map(|(r, d)| {
            let metrics = view.node(&r.id).map(|n| n.metrics.clone());
            CandidateFacts {
                id: r.id.to_string(),
                reachable: d.is_ok(),
                excluded: req.exclude.iter().any(|e| **e == *r.id)
                    || req.target.as_ref().is_some_and(|t| **t != *r.id),
                latency_ms: metrics.as_ref().and_then(|m| m.latency_ms).unwrap_or(0.0),
                uptime_seconds: metrics.as_ref().map_or(0, |m| m.uptime_seconds),
                crash_count: metrics.as_ref().map_or(0, |m| m.crash_count),
                replication_lag: 0,
                applied: d.as_ref().ok().copied(),
            }
        })
        .collect();
    let acknowledged = cluster.highest_acknowledged();
    let most_advanced = drained
        .iter()
        .filter_map(|d| d.as_ref().ok())
        .max()
        .copied();
    let required = acknowledged.max(most_advanced.unwrap_or(0));
    let (leader, mut candidates) = elect(&facts, required);
    for c in &mut candidates {
        if let Some(Err(e)) = replicas
            .iter()
            .position(|r| *r.id == *c.id)
            .map(|i| &drained[i])
        {
            c.reason = format!("unreachable or not drained: {e}");
        }
    }
    let unknown_ack = !cluster.acknowledged_is_durable() && drained.iter().any(Result::is_err);
    let refusal = if unknown_ack {
        Some(
            "the acknowledged position is not persisted (no proxy.state_dir): every replica must be reachable and drained, and some are not"
                .to_owned(),
        )
    } else if leader.is_none() {
        Some(match most_advanced {
            None => "no replica is reachable".to_owned(),
            Some(a) if a < acknowledged => format!(
                "the most advanced reachable replica has applied {a}, below the highest STRONG-acknowledged position {acknowledged}"
            ),
            Some(_) => "every reachable replica is excluded or behind another".to_owned(),
        })
    } else {
        None
    };
    let winner = match (refusal, leader) {
        (None, Some(i)) => candidates[i].id.clone(),
        (Some(reason), _) if !req.force => {
            if catch_up.is_some() {
                // The old primary answered and was fenced for nothing: give it back.
                let unfenced = async {
                    let mut conn = control.conn(&old).await?;
                    control
                        .exec(&mut conn, &old, "SET GLOBAL read_only = OFF")
                        .await
                };
                if let Err(e) = unfenced.await {
                    tracing::error!(node = %old.id, error = %e, "could not lift the fence after a refused failover");
                }
            }
            for (r, d) in replicas.iter().zip(&drained) {
                if d.is_ok() {
                    if let Err(e) = control.resume(r).await {
                        tracing::warn!(node = %r.id, error = %e, "could not restart replication after a refused failover");
                    }
                }
            }
            return Err(FailoverError::NoEligible {
                reason,
                candidates,
                required,
            });
        }
        _ => {
            // Forced: the most advanced reachable candidate that is not excluded.
            let best = facts
                .iter()
                .filter(|f| f.reachable && !f.excluded)
                .max_by_key(|f| f.applied.unwrap_or(0))
                .ok_or_else(|| {
                    FailoverError::BadTarget("no reachable replica to force".to_owned())
                })?;
            best.id.clone()
        }
    };
    let winner_node = replicas
        .iter()
        .find(|r| *r.id == *winner)
        .cloned()
        .ok_or_else(|| FailoverError::BadTarget(winner.clone()))?;
    let winner_pos = facts
        .iter()
        .find(|f| f.id == winner)
        .and_then(|f| f.applied)
        .unwrap_or(0);
    let may_be_lost = lost_gtids(cp, &old, winner_pos, acknowledged.max(cluster.newest_seq()));
    tracing::info!(winner = %winner, position = winner_pos, required, acknowledged,
        candidates = ?candidates.iter().map(|c| (c.id.as_str(), c.eligible, c.score, c.reason.as_str())).collect::<Vec<_>>(),
        "SEER decision");
    control.promote(&winner_node).await?;
    let mut reconfigured = Vec::new();
    let mut not_reconfigured = Vec::new();
    let mut tasks = JoinSet::new();
    for (r, d) in replicas.iter().zip(&drained) {
        if *r.id == *winner || d.is_err() {
            if *r.id != *winner {
                not_reconfigured.push(format!("{}: unreachable", r.id));
            }
            continue;
        }
        let (control, r, primary) = (control.clone(), r.clone(), winner_node.clone());
        tasks.spawn(async move {
            let done = control.repoint(&r, &primary, "slave_pos").await;
            (r.id, done)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Ok((id, done)) = joined {
            match done {
                Ok(()) => reconfigured.push(id.to_string()),
                Err(e) => not_reconfigured.push(format!("{id}: {e}")),
            }
        }
    }
    reconfigured.sort();
    let next = cluster.promote(&winner, topology.epoch())?;
    cluster.reset_newest(winner_pos);
    cp.topology_changed(&next);
    Ok(FailoverReport {
        old_master: old.id.to_string(),
        new_master: winner,
        epoch: next.epoch(),
        reconfigured_replicas: reconfigured,
        not_reconfigured,
        candidates,
        required_position: required,
        may_be_lost,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// How long a rejoining node's replication threads must be seen running before the rejoin
/// counts as done (see [`rejoin`]).
const REJOIN_STABLE: Duration = Duration::from_millis(300);

/// How often a rejoin checks the node's replication threads.
const REJOIN_POLL: Duration = Duration::from_millis(100);

/// Brings fenced node `id` back as a read-only replica of the current primary
/// (MASTER_USE_GTID=current_pos: an old primary's slave position predates its reign), then
/// the tracker watches it again. Refuses when it holds transactions the primary never had
/// (START SLAVE fails with 1236 under gtid_strict_mode: [`FailoverError::Diverged`]):
/// re-provision that node instead.
pub async fn rejoin(cp: &ControlPlane, id: &str) -> Result<(), FailoverError> {
    let cluster = cp.context().cluster();
    let topology = cluster.topology();
    let node = topology
        .node(id)
        .cloned()
        .ok_or_else(|| FailoverError::BadTarget(format!("unknown node {id}")))?;
    if topology.is_primary(id) {
        return Err(FailoverError::BadTarget(format!("{id} is the primary")));
    }
    let control = control(cp);
    let use_gtid = if topology.is_fenced(id) {
        "current_pos"
    } else {
        "slave_pos"
    };
    control.repoint(&node, topology.primary(), use_gtid).await?;
    // START SLAVE returns before the IO thread meets the primary: check it did. Both threads
    // must be seen running for REJOIN_STABLE: the IO thread shows "Yes" as soon as it has
    // connected, and the primary's 1236 refusal of a diverged position comes a moment later,
    // in answer to its dump request (a rejoin was once reported done in that moment).
    let deadline = Instant::now() + Duration::from_millis(cp.config().failover.drain_timeout_ms);
    let mut running_since: Option<Instant> = None;
    loop {
        let mut conn = control.conn(&node).await?;
        let row: Option<mysql_async::Row> =
            mysql_async::prelude::Queryable::query_first(&mut conn, "SHOW SLAVE STATUS")
                .await
                .map_err(|e| FailoverError::Sql {
                    node: id.to_owned(),
                    statement: "SHOW SLAVE STATUS".to_owned(),
                    message: e.to_string(),
                })?;
        let _ = conn.disconnect().await;
        let col = |name: &str| {
            row.as_ref()
                .and_then(|r| r.get_opt::<Option<String>, _>(name))
                .and_then(Result::ok)
                .flatten()
                .unwrap_or_default()
        };
        if col("Slave_IO_Running") == "Yes" && col("Slave_SQL_Running") == "Yes" {
            let since = *running_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= REJOIN_STABLE {
                break;
            }
            tokio::time::sleep(REJOIN_POLL).await;
            continue;
        }
        running_since = None;
        let error = format!("{} {}", col("Last_IO_Error"), col("Last_SQL_Error"));
        if error.contains("1236") {
            return Err(FailoverError::Diverged {
                node: id.to_owned(),
                detail: error.trim().to_owned(),
            });
        }
        if Instant::now() > deadline {
            return Err(FailoverError::Sql {
                node: id.to_owned(),
                statement: "START SLAVE".to_owned(),
                message: format!(
                    "refused to rejoin: {}; it may hold transactions the cluster never received: re-provision it from the primary",
                    error.trim()
                ),
            });
        }
        tokio::time::sleep(REJOIN_POLL).await;
    }
    cluster.rejoin(id, topology.epoch())?;
    tracing::info!(node = id, primary = %topology.primary().id, "node rejoined as a replica");
    Ok(())
}

/// Drains every replica in parallel (each bounded by the drain timeout).
async fn drain_all(
    control: &Control,
    replicas: &[BackendNode],
    cp: &ControlPlane,
    catch_up: Option<&str>,
) -> Vec<Result<u64, FailoverError>> {
    let bound = Duration::from_millis(cp.config().failover.drain_timeout_ms);
    let mut tasks = JoinSet::new();
    for (i, r) in replicas.iter().enumerate() {
        let (control, r) = (control.clone(), r.clone());
        let catch_up = catch_up.map(str::to_owned);
        tasks.spawn(async move {
            let outer = bound * 2 + control.connect_timeout * 2;
            let drained =
                tokio::time::timeout(outer, control.drain(&r, bound, catch_up.as_deref()))
                    .await
                    .unwrap_or_else(|_| {
                        Err(FailoverError::Sql {
                            node: r.id.to_string(),
                            statement: "drain".to_owned(),
                            message: format!("no answer within {outer:?}"),
                        })
                    });
            (i, drained)
        });
    }
    let mut out: Vec<Result<u64, FailoverError>> = replicas
        .iter()
        .map(|r| {
            Err(FailoverError::Sql {
                node: r.id.to_string(),
                statement: "drain".to_owned(),
                message: "task failed".to_owned(),
            })
        })
        .collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, drained)) = joined {
            out[i] = drained;
        }
    }
    out
}

/// The GTIDs between the winner's position and `newest` (capped at 1,000), named with the
/// old primary's server id as the collector last saw it.
fn lost_gtids(cp: &ControlPlane, old: &BackendNode, winner: u64, newest: u64) -> Vec<String> {
    let domain = cp.context().config().gtid_domain;
    let server = cp
        .collector()
        .snapshot()
        .into_iter()
        .find(|m| *m.id == *old.id)
        .and_then(|m| m.server_id)
        .unwrap_or(0);
    (winner + 1..=newest)
        .take(1_000)
        .map(|seq| format!("{domain}-{server}-{seq}"))
        .collect()
}
