//! Cabinet as a service (`POST /select-quorum`): which replicas the next STRONG write is
//! expected to wait for. Pure: the caller passes the weight scheme and the replicas in the
//! quorum tracker's rank order with their health.

use std::collections::BTreeMap;

use myquorum_proxy::quorum::CabinetWeights;

/// The predicted quorum and the weights behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Replicas predicted to complete the next STRONG write, heaviest first.
    pub quorum: Vec<String>,
    /// Weight each node holds now, the primary included.
    pub weights: BTreeMap<String, f64>,
}

/// Predicts the quorum: healthy replicas keep the tracker's rank order and take the heaviest
/// replica weights, unhealthy ones the lightest (as the tracker itself does for replicas its
/// watchers cannot reach); the quorum is the heaviest healthy replicas whose weights, added to
/// the primary's, first exceed the threshold. `Err` says why no quorum can form.
pub fn select(
    scheme: &CabinetWeights,
    primary: &str,
    primary_healthy: bool,
    ranked: &[(String, bool)],
) -> Result<Selection, String> {
    let mut order: Vec<&(String, bool)> = ranked.iter().filter(|(_, h)| *h).collect();
    order.extend(ranked.iter().filter(|(_, h)| !*h));
    let weight = |rank: usize| scheme.weights.get(rank).copied().unwrap_or(0.0);
    let mut weights = BTreeMap::new();
    weights.insert(primary.to_owned(), weight(0));
    for (i, (id, _)) in order.iter().enumerate() {
        weights.insert(id.clone(), weight(i + 1));
    }
    if !primary_healthy {
        return Err(format!("the primary {primary} is unreachable"));
    }
    let mut holders = vec![0];
    let mut quorum = Vec::new();
    for (i, (id, healthy)) in order.iter().enumerate() {
        if scheme.is_quorum(&holders) {
            break;
        }
        if !healthy {
            break;
        }
        holders.push(i + 1);
        quorum.push(id.clone());
    }
    if !scheme.is_quorum(&holders) {
        let healthy = order.iter().filter(|(_, h)| *h).count();
        return Err(format!(
            "the primary and {healthy} healthy replica(s) do not exceed the threshold {:.3} \
             (failure threshold t = {})",
            scheme.threshold, scheme.failure_threshold
        ));
    }
    Ok(Selection { quorum, weights })
}

#[cfg(test)]
mod tests {
    use super::*;
    use myquorum_proxy::quorum::cabinet;

    fn ranked(health: &[bool]) -> Vec<(String, bool)> {
        health
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("instance-{}", i + 2), *h))
            .collect()
    }

    #[test]
    fn t1_waits_for_the_heaviest_healthy_replica() {
        let scheme = cabinet(4, 1);
        let s = select(&scheme, "instance-1", true, &ranked(&[true, true, true])).expect("quorum");
        assert_eq!(s.quorum, vec!["instance-2"]);
        assert_eq!(s.weights.len(), 4);
        let s = select(&scheme, "instance-1", true, &ranked(&[false, true, true])).expect("quorum");
        assert_eq!(
            s.quorum,
            vec!["instance-3"],
            "unhealthy replicas drop to the back"
        );
        assert!(s.weights["instance-2"] < s.weights["instance-3"]);
    }

    #[test]
    fn majority_needs_two_and_fails_with_one() {
        let scheme = cabinet(4, 2);
        let s = select(&scheme, "instance-1", true, &ranked(&[true, true, true])).expect("quorum");
        assert_eq!(s.quorum.len(), 2);
        let err = select(&scheme, "instance-1", true, &ranked(&[false, false, true]))
            .expect_err("one healthy replica is not a majority");
        assert!(err.contains("threshold"), "{err}");
        assert!(select(&scheme, "instance-1", false, &ranked(&[true, true, true])).is_err());
    }
}
