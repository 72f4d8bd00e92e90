//! Cabinet weights (Zhang et al., PVLDB 18(5), 2025): a geometric series of node weights such
//! that the `t + 1` heaviest nodes outweigh half the total and the `t` heaviest do not. Pure
//! arithmetic, no I/O. See `shared/DESIGN.md` section 4.
//!
//! The primary's weight sits a hair under the consensus threshold (n = 4, t = 1: 6.2194 against
//! 6.2200), so every "more than half" test goes through one function, [`CabinetWeights::exceeds`],
//! which demands a small relative margin instead of a bare float comparison. The margin is
//! safe because the ratio lives on a 0.001 grid: for r > 1 no sum of distinct weights equals
//! half the total exactly (the only rational root of the threshold polynomials is 1), and the
//! real gaps are orders of magnitude larger than the margin.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::QuorumError;

/// Relative margin by which a weight sum must exceed half the total to count as a quorum.
const MARGIN: f64 = 1e-9;

/// The largest ratio tried, and the step down, in thousandths (the reference code starts at 2.0
/// and steps by 0.001; integers avoid accumulating float error while stepping).
const RATIO_START_MILLI: u32 = 2000;

/// A Cabinet weight scheme for `n` nodes (primary included) and failure threshold `t`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CabinetWeights {
    /// Ratio `r` of the geometric series; 1.0 when the scheme fell back to equal weights.
    pub ratio: f64,
    /// Weights in descending order, `r^(n-1), ..., r, 1`; index 0 is the primary's.
    pub weights: Vec<f64>,
    /// Consensus threshold CT: half the total weight. A quorum must weigh *more* than this.
    pub threshold: f64,
    /// The `t` the scheme was built for: any `n - t` nodes still form a quorum.
    pub failure_threshold: usize,
}

/// Builds the Cabinet scheme for `n` nodes (primary included, `n >= 1`) tolerating `t` failures.
///
/// `r` is the largest ratio on the 0.001 grid in (1, 2] for which the `t + 1` largest weights
/// exceed CT and the `t` largest do not. Where no such `r` exists (for example `n = 2`, or
/// `t >= n / 2` with `n` even) the weights are equal and a quorum is a plain majority. `t` is
/// clamped to `n - 1`.
pub fn cabinet(n: usize, t: usize) -> CabinetWeights {
    let n = n.max(1);
    let t = t.min(n - 1);
    for milli in (1001..=RATIO_START_MILLI).rev() {
        let ratio = f64::from(milli) / 1000.0;
        let scheme = geometric(n, t, ratio);
        let top = |k: usize| scheme.weights[..k].iter().sum::<f64>();
        if scheme.exceeds(top(t + 1)) && !scheme.exceeds(top(t)) {
            return scheme;
        }
    }
    geometric(n, t, 1.0)
}

/// The scheme with ratio `ratio` (no condition checked).
fn geometric(n: usize, t: usize, ratio: f64) -> CabinetWeights {
    let weights: Vec<f64> = (0..n).rev().map(|i| ratio.powi(i as i32)).collect();
    let threshold = weights.iter().sum::<f64>() / 2.0;
    CabinetWeights {
        ratio,
        weights,
        threshold,
        failure_threshold: t,
    }
}

impl CabinetWeights {
    /// Number of nodes, primary included.
    pub fn nodes(&self) -> usize {
        self.weights.len()
    }

    /// Whether `sum` is more than the consensus threshold, by a relative margin (see the module
    /// documentation for why this is never a bare float comparison).
    pub fn exceeds(&self, sum: f64) -> bool {
        let total = self.threshold * 2.0;
        2.0 * sum - total > MARGIN * total
    }

    /// Whether the nodes holding these ranks (0 = the primary, `k` = the k-th heaviest replica)
    /// together form a quorum. Unknown and repeated ranks are ignored.
    pub fn is_quorum(&self, holders: &[usize]) -> bool {
        let mut seen = vec![false; self.weights.len()];
        let mut sum = 0.0;
        for &rank in holders {
            if let Some(slot) = seen.get_mut(rank) {
                if !*slot {
                    *slot = true;
                    sum += self.weights[rank];
                }
            }
        }
        self.exceeds(sum)
    }

    /// The fewest heaviest ranks (primary first) that form a quorum: the predicted quorum.
    pub fn predicted_ranks(&self) -> Vec<usize> {
        let mut ranks = Vec::new();
        for rank in 0..self.weights.len() {
            ranks.push(rank);
            if self.is_quorum(&ranks) {
                break;
            }
        }
        ranks
    }
}

/// How many failures the quorum tolerates, as configured: `t = 1` or `t = "majority"` in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawThreshold", into = "RawThreshold")]
pub enum FailureThreshold {
    /// Exactly `t`: the primary plus the `t` heaviest replicas form the smallest quorum, and any
    /// `n - t` nodes form a quorum. `t = 1` (the default) answers STRONG writes after the
    /// fastest replica; it survives one failure.
    Count(usize),
    /// A strict majority of nodes, as the old system waited for: `t = floor(n / 2)`, so the
    /// smallest quorum has `floor(n / 2) + 1` nodes (n = 4: the primary and 2 replicas, with
    /// equal weights; n = 5: 3 nodes, r ~ 1.178). Slower than `t = 1` but survives more.
    Majority,
}

impl Default for FailureThreshold {
    fn default() -> Self {
        FailureThreshold::Count(1)
    }
}

impl FailureThreshold {
    /// The `t` this setting means for `n` nodes (primary included), checked: `1 <= t <= n / 2`.
    /// A lone primary (`n = 1`) is its own quorum and gets `t = 0`.
    pub fn resolve(self, n: usize) -> Result<usize, QuorumError> {
        if n <= 1 {
            return Ok(0);
        }
        let t = match self {
            FailureThreshold::Count(t) => t,
            FailureThreshold::Majority => n / 2,
        };
        if t == 0 || t > n / 2 {
            return Err(QuorumError::Threshold { t, nodes: n });
        }
        Ok(t)
    }
}

impl fmt::Display for FailureThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureThreshold::Count(t) => write!(f, "{t}"),
            FailureThreshold::Majority => f.write_str("majority"),
        }
    }
}

impl FromStr for FailureThreshold {
    type Err = QuorumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("majority") {
            return Ok(FailureThreshold::Majority);
        }
        s.parse()
            .map(FailureThreshold::Count)
            .map_err(|_| QuorumError::ThresholdSyntax(s.to_owned()))
    }
}

/// The TOML shape of [`FailureThreshold`]: a number or a word.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawThreshold {
    Count(usize),
    Word(String),
}

impl TryFrom<RawThreshold> for FailureThreshold {
    type Error = QuorumError;

    fn try_from(raw: RawThreshold) -> Result<Self, Self::Error> {
        match raw {
            RawThreshold::Count(t) => Ok(FailureThreshold::Count(t)),
            RawThreshold::Word(w) => w.parse(),
        }
    }
}

impl From<FailureThreshold> for RawThreshold {
    fn from(t: FailureThreshold) -> Self {
        match t {
            FailureThreshold::Count(t) => RawThreshold::Count(t),
            FailureThreshold::Majority => RawThreshold::Word("majority".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.0006
    }

    #[test]
    fn four_nodes_t1_matches_the_paper() {
        let c = cabinet(4, 1);
        assert!(close(c.ratio, 1.839), "{c:?}");
        for (w, want) in c.weights.iter().zip([6.219, 3.382, 1.839, 1.000]) {
            assert!(close(*w, want), "{c:?}");
        }
        assert!(close(c.threshold, 6.220), "{c:?}");
        assert!(
            c.weights[0] < c.threshold,
            "the primary sits a hair under CT"
        );
        assert!(!c.is_quorum(&[0]), "the primary alone is not a quorum");
        for replica in 1..4 {
            assert!(c.is_quorum(&[0, replica]), "primary + replica {replica}");
        }
        assert!(c.is_quorum(&[1, 2, 3]), "any n - t nodes survive");
        assert!(!c.is_quorum(&[2, 3]));
        assert_eq!(c.predicted_ranks(), vec![0, 1]);
    }

    #[test]
    fn four_nodes_majority_needs_two_replicas() {
        let t = FailureThreshold::Majority.resolve(4).expect("valid");
        assert_eq!(t, 2);
        let c = cabinet(4, t);
        assert_eq!(c.ratio, 1.0, "no r > 1 exists: equal weights");
        assert!(!c.is_quorum(&[0, 1]));
        assert!(!c.is_quorum(&[0, 3]));
        assert!(c.is_quorum(&[0, 2, 3]));
        assert!(c.is_quorum(&[1, 2, 3]));
        assert_eq!(c.predicted_ranks(), vec![0, 1, 2]);
    }

    #[test]
    fn five_nodes_t2() {
        let c = cabinet(5, 2);
        assert!(close(c.ratio, 1.178), "{c:?}");
        assert!(!c.is_quorum(&[0, 1]));
        assert!(c.is_quorum(&[0, 1, 2]));
        assert!(c.is_quorum(&[2, 3, 4]), "any 3 of 5");
        assert_eq!(FailureThreshold::Majority.resolve(5).expect("valid"), 2);
    }

    #[test]
    fn seven_nodes_t2() {
        let c = cabinet(7, 2);
        assert!(close(c.ratio, 1.324), "{c:?}");
        assert!(close(c.weights[0], 5.387), "{c:?}");
        assert_eq!(c.weights[6], 1.0);
        assert!(!c.is_quorum(&[0, 1]));
        assert!(c.is_quorum(&[0, 1, 2]));
        assert!(c.is_quorum(&[2, 3, 4, 5, 6]), "any n - t = 5 nodes");
    }

    #[test]
    fn small_clusters() {
        let two = cabinet(2, 1);
        assert_eq!(two.weights, vec![1.0, 1.0]);
        assert!(!two.is_quorum(&[0]));
        assert!(two.is_quorum(&[0, 1]));

        let three = cabinet(3, 1);
        assert!(close(three.ratio, 1.618), "{three:?}");
        assert!(!three.is_quorum(&[0]));
        assert!(three.is_quorum(&[0, 2]));
        assert!(three.is_quorum(&[1, 2]), "a hair over CT, by the margin");

        let one = cabinet(1, 0);
        assert!(one.is_quorum(&[0]), "a lone primary is its own quorum");
        assert_eq!(FailureThreshold::Count(1).resolve(1).expect("valid"), 0);
    }

    #[test]
    fn thresholds_parse_and_validate() {
        assert_eq!("majority".parse().ok(), Some(FailureThreshold::Majority));
        assert_eq!("2".parse().ok(), Some(FailureThreshold::Count(2)));
        assert!("most".parse::<FailureThreshold>().is_err());
        assert!(FailureThreshold::Count(0).resolve(4).is_err());
        assert!(FailureThreshold::Count(3).resolve(4).is_err());
        let json: FailureThreshold = serde_json::from_str("\"majority\"").expect("word");
        assert_eq!(json, FailureThreshold::Majority);
        let json: FailureThreshold = serde_json::from_str("1").expect("number");
        assert_eq!(json, FailureThreshold::Count(1));
        assert!(serde_json::from_str::<FailureThreshold>("\"all\"").is_err());
        assert_eq!(
            serde_json::to_string(&FailureThreshold::Majority).expect("ser"),
            "\"majority\""
        );
    }
}
