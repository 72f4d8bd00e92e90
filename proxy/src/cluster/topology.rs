//! Which configured node is the primary, stamped with an epoch. The cluster handle holds the
//! current one behind an atomic pointer: every statement reads it once (one consistent view
//! for its whole plan, execution and commit), and failover installs a new one, refusing any
//! decision made under an older epoch (DESIGN.md section 7).

use std::sync::Arc;

use crate::config::BackendNode;

/// One topology: the primary, the replicas and the epoch they belong to. Immutable: a change
/// is a new `Topology` with a higher epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    epoch: u64,
    /// Index of the primary in `nodes`.
    primary: usize,
    /// Indexes of the replicas in `nodes`, in configuration order.
    replicas: Vec<usize>,
    /// Indexes of fenced nodes: old primaries that have not rejoined as replicas. They are
    /// neither primary nor replica: never routed to, even if they come back writable.
    fenced: Vec<usize>,
    /// Every configured node (shared by all topologies of one proxy).
    nodes: Arc<[BackendNode]>,
}

/// Why a new topology was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// The decision was made under an older epoch than the one in force.
    #[error("stale decision: made under epoch {seen}, the topology is at epoch {current}")]
    StaleEpoch {
        /// Epoch the decision saw.
        seen: u64,
        /// Epoch in force.
        current: u64,
    },
    /// The named node is not configured.
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    /// The named node is already the primary.
    #[error("{0:?} is already the primary")]
    AlreadyPrimary(String),
}

impl Topology {
    /// The topology with `primary` (an index in `nodes`) at `epoch`; every other node is a
    /// replica unless it is `fenced`.
    pub(crate) fn new(
        nodes: Arc<[BackendNode]>,
        primary: usize,
        epoch: u64,
        fenced: Vec<usize>,
    ) -> Self {
        let fenced: Vec<usize> = fenced.into_iter().filter(|i| *i != primary).collect();
        let replicas = (0..nodes.len())
            .filter(|i| *i != primary && !fenced.contains(i))
            .collect();
        Self {
            epoch,
            primary,
            replicas,
            fenced,
            nodes,
        }
    }

    /// The topology that follows this one with `id` as its primary (epoch + 1); the old
    /// primary is fenced until it rejoins.
    pub(crate) fn promote(&self, id: &str) -> Result<Self, TopologyError> {
        let primary = self
            .index_of(id)
            .ok_or_else(|| TopologyError::UnknownNode(id.to_owned()))?;
        if primary == self.primary {
            return Err(TopologyError::AlreadyPrimary(id.to_owned()));
        }
        let mut fenced = self.fenced.clone();
        fenced.push(self.primary);
        Ok(Self::new(
            Arc::clone(&self.nodes),
            primary,
            self.epoch + 1,
            fenced,
        ))
    }

    /// This topology with fenced node `id` back as a replica (same epoch: the primary did
    /// not change). A node that is not fenced is returned unchanged.
    pub(crate) fn rejoin(&self, id: &str) -> Result<Self, TopologyError> {
        let i = self
            .index_of(id)
            .ok_or_else(|| TopologyError::UnknownNode(id.to_owned()))?;
        let fenced = self.fenced.iter().copied().filter(|f| *f != i).collect();
        Ok(Self::new(
            Arc::clone(&self.nodes),
            self.primary,
            self.epoch,
            fenced,
        ))
    }

    /// Fenced nodes: old primaries not rejoined yet, never routed to.
    pub fn fenced(&self) -> impl ExactSizeIterator<Item = &BackendNode> + '_ {
        self.fenced.iter().map(|i| &self.nodes[*i])
    }

    /// Whether `id` is fenced.
    pub fn is_fenced(&self, id: &str) -> bool {
        self.fenced.iter().any(|i| *self.nodes[*i].id == *id)
    }

    /// Failover generation: bumped by every promotion; a decision from an older epoch is
    /// refused.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The node that takes writes.
    pub fn primary(&self) -> &BackendNode {
        &self.nodes[self.primary]
    }

    /// Whether `id` is the primary's id (compares without a copy: this runs per statement).
    pub fn is_primary(&self, id: &str) -> bool {
        *self.nodes[self.primary].id == *id
    }

    /// The replicas, in configuration order.
    pub fn replicas(&self) -> impl ExactSizeIterator<Item = &BackendNode> + '_ {
        self.replicas.iter().map(|i| &self.nodes[*i])
    }

    /// The configured node with this id, whatever its role.
    pub fn node(&self, id: &str) -> Option<&BackendNode> {
        self.nodes.iter().find(|n| *n.id == *id)
    }

    /// The configured node at index `i` (an index this topology or the cluster handed out).
    pub(crate) fn node_at(&self, i: usize) -> &BackendNode {
        &self.nodes[i]
    }

    /// Index of the primary among the configured nodes.
    pub(crate) fn primary_index(&self) -> usize {
        self.primary
    }

    /// Indexes of the replicas among the configured nodes.
    pub(crate) fn replica_indexes(&self) -> &[usize] {
        &self.replicas
    }

    /// Index of node `id` among the configured nodes.
    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| *n.id == *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Arc<[BackendNode]> {
        (1..=4)
            .map(|i| BackendNode {
                id: format!("instance-{i}").into(),
                addr: format!("127.0.0.1:{}", 3400 + i),
            })
            .collect()
    }

    #[test]
    fn a_promotion_bumps_the_epoch_and_swaps_roles() {
        let first = Topology::new(nodes(), 0, 1, Vec::new());
        assert!(first.is_primary("instance-1"));
        assert_eq!(
            first.replicas().map(|n| &*n.id).collect::<Vec<_>>(),
            ["instance-2", "instance-3", "instance-4"]
        );
        let next = first.promote("instance-3").expect("configured node");
        assert_eq!(next.epoch(), 2);
        assert_eq!(&*next.primary().id, "instance-3");
        assert_eq!(
            next.replicas().map(|n| &*n.id).collect::<Vec<_>>(),
            ["instance-2", "instance-4"],
            "the old primary is fenced, not a replica"
        );
        assert!(next.is_fenced("instance-1"));
        let back = next.rejoin("instance-1").expect("configured node");
        assert_eq!(back.epoch(), 2);
        assert_eq!(back.replicas().count(), 3);
        assert!(!back.is_fenced("instance-1"));
        assert_eq!(
            first.promote("instance-9"),
            Err(TopologyError::UnknownNode("instance-9".to_owned()))
        );
    }
}
