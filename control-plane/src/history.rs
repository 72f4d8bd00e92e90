//! Pure bookkeeping the collector keeps between probes: when the primary reached each
//! position (for replication lag in seconds) and whether a node went down and came back (for
//! crash counts). No I/O, no clock of its own: callers pass `Instant`s.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Positions remembered; older ones fall off (the lag of a replica further behind is then a
/// lower bound: the age of the oldest remembered position).
const HISTORY_LEN: usize = 4096;

/// When the control plane first saw the primary at each position.
///
/// Replication lag in seconds is the age of the oldest write a replica has not applied: how
/// long ago the primary was first seen past the replica's position. Unlike
/// `Seconds_Behind_Master` it keeps growing while the cluster is idle and a stopped SQL thread
/// leaves a replica behind (it plays the role of a heartbeat table without writing anything),
/// and it is exact to one probe interval.
#[derive(Debug, Default)]
pub struct PrimaryHistory {
    entries: VecDeque<(u64, Instant)>,
}

impl PrimaryHistory {
    /// Notes that the primary was at `seq` at `at` (ignored unless it moved forward).
    pub fn record(&mut self, seq: u64, at: Instant) {
        if self.entries.back().is_none_or(|(last, _)| seq > *last) {
            if self.entries.len() == HISTORY_LEN {
                self.entries.pop_front();
            }
            self.entries.push_back((seq, at));
        }
    }

    /// How long a replica that applied up to `applied` has been behind at `now`: the time
    /// since the primary was first seen past `applied` (zero if it never was).
    pub fn behind_for(&self, applied: u64, now: Instant) -> Duration {
        self.entries
            .iter()
            .find(|(seq, _)| *seq > applied)
            .map(|(_, at)| now.saturating_duration_since(*at))
            .unwrap_or(Duration::ZERO)
    }
}

/// Counts a node's crashes: seen down after having been up, then up again; or up with an
/// `Uptime` lower than the last one seen (a restart between two probes). A network blip
/// longer than a probe timeout counts too: from outside it cannot be told from a crash.
#[derive(Debug, Default, Clone, Copy)]
pub struct CrashDetector {
    seen_up: bool,
    down: bool,
    last_uptime: Option<u64>,
    crashes: u64,
}

impl CrashDetector {
    /// A successful probe reporting `uptime` seconds; returns the crash count.
    pub fn up(&mut self, uptime: u64) -> u64 {
        let came_back = self.seen_up && self.down;
        let restarted = self.last_uptime.is_some_and(|last| uptime < last);
        if came_back || restarted {
            self.crashes += 1;
        }
        self.seen_up = true;
        self.down = false;
        self.last_uptime = Some(uptime);
        self.crashes
    }

    /// A failed probe; returns the crash count.
    pub fn down(&mut self) -> u64 {
        if self.seen_up {
            self.down = true;
        }
        self.crashes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_seconds_is_the_age_of_the_first_unapplied_position() {
        let t0 = Instant::now();
        let mut h = PrimaryHistory::default();
        h.record(5, t0);
        h.record(5, t0 + Duration::from_secs(1));
        h.record(8, t0 + Duration::from_secs(2));
        h.record(7, t0 + Duration::from_secs(3));
        let now = t0 + Duration::from_secs(10);
        assert_eq!(h.behind_for(8, now), Duration::ZERO, "caught up");
        assert_eq!(h.behind_for(5, now), Duration::from_secs(8));
        assert_eq!(h.behind_for(0, now), Duration::from_secs(10));
    }

    #[test]
    fn crashes_count_down_then_up_and_uptime_resets() {
        let mut c = CrashDetector::default();
        assert_eq!(c.down(), 0, "never seen up: not a crash");
        assert_eq!(c.up(100), 0);
        assert_eq!(c.up(101), 0);
        assert_eq!(c.down(), 0);
        assert_eq!(c.down(), 0);
        assert_eq!(c.up(2), 1, "back up after being down");
        assert_eq!(
            c.up(1),
            2,
            "uptime went backwards: restarted between probes"
        );
        assert_eq!(c.up(3), 2);
    }
}
