//! Unit tests of the tracker's release logic ([`super::State`]), no server needed.

use super::*;
use crate::quorum::weights::cabinet;

fn gtid(seq: u64) -> Gtid {
    Gtid {
        domain: 0,
        server_id: 1,
        seq,
    }
}

fn state(t: usize) -> State {
    let ids = (2..=4).map(|k| format!("instance-{k}")).collect();
    State::new(cabinet(4, t), 0, ids)
}

fn wait(state: &mut State, seq: u64, now: Instant) -> (u64, oneshot::Receiver<QuorumOutcome>) {
    match state.register(gtid(seq), now) {
        Registration::Wait { waiter, answer } => (waiter, answer),
        Registration::Done(o) => panic!("answered at once: {o:?}"),
    }
}

#[test]
fn one_replica_releases_every_write_at_or_below_its_position_under_t1() {
    let now = Instant::now();
    let mut s = state(1);
    let (_, mut a) = wait(&mut s, 5, now);
    let (_, mut b) = wait(&mut s, 6, now);
    let (_, mut c) = wait(&mut s, 7, now);
    assert_eq!(s.next_target(1), Some(gtid(5)), "the oldest pending write");
    s.observe(1, Some(6), now + Duration::from_millis(3));
    let first = a.try_recv().expect("released");
    assert!(first.achieved && !first.timed_out);
    assert_eq!(first.replicas, vec!["instance-3".to_owned()]);
    assert_eq!(first.waited, Duration::from_millis(3));
    assert!(b.try_recv().is_ok());
    assert!(c.try_recv().is_err(), "7 is not applied yet");
    assert_eq!(s.next_target(1), Some(gtid(7)));
    assert_eq!(s.counters.achieved, 2);
    assert_eq!(
        s.ranking.order()[0],
        1,
        "re-ranked: instance-3 arrived first"
    );
}

#[test]
fn majority_needs_two_replicas_and_a_replica_stops_waiting_on_what_it_has() {
    let now = Instant::now();
    let mut s = state(2);
    let (_, mut a) = wait(&mut s, 9, now);
    s.observe(0, Some(9), now);
    assert!(a.try_recv().is_err());
    assert_eq!(
        s.next_target(0),
        None,
        "instance-2 holds it: sleep, do not spin"
    );
    assert_eq!(s.next_target(2), Some(gtid(9)));
    s.observe(2, Some(12), now);
    let o = a.try_recv().expect("released");
    assert_eq!(
        o.replicas,
        vec!["instance-2".to_owned(), "instance-4".to_owned()]
    );
    assert_eq!(s.pending_len(), 0);
}

#[test]
fn a_write_already_applied_is_answered_at_once() {
    let now = Instant::now();
    let mut s = state(1);
    s.observe(2, Some(20), now);
    match s.register(gtid(20), now) {
        Registration::Done(o) => assert!(o.achieved),
        Registration::Wait { .. } => panic!("should be answered at once"),
    }
    assert_eq!(s.counters.achieved, 1);
}

#[test]
fn timeouts_are_counted_and_keep_what_arrived() {
    let now = Instant::now();
    let mut s = state(2);
    let (w, _rx) = wait(&mut s, 3, now);
    s.observe(1, Some(3), now);
    let o = s
        .cancel(3, w, now + Duration::from_secs(2), true)
        .expect("still pending");
    assert!(o.timed_out && !o.achieved);
    assert_eq!(o.replicas, vec!["instance-3".to_owned()]);
    assert_eq!(s.counters.timed_out, 1);
    assert_eq!(
        s.pending_len(),
        0,
        "no waiter left: no watcher waits for it"
    );
    assert!(s.cancel(3, w, now, true).is_none());
}

#[test]
fn foreign_domains_and_closed_trackers_answer_at_once() {
    let now = Instant::now();
    let mut s = state(1);
    let foreign = Gtid {
        domain: 1,
        server_id: 1,
        seq: 1,
    };
    assert!(matches!(s.register(foreign, now), Registration::Done(o) if !o.achieved));
    let (_, mut rx) = wait(&mut s, 4, now);
    s.close(now);
    assert!(!rx.try_recv().expect("answered on close").achieved);
    assert!(matches!(s.register(gtid(5), now), Registration::Done(_)));
}

#[test]
fn unhealthy_replicas_weigh_least_in_later_snapshots() {
    let now = Instant::now();
    let mut s = state(1);
    s.mark_unhealthy(0);
    let ranks = s.ranking.ranks(&s.facts());
    assert_eq!(ranks[0], 3);
    s.observe(0, Some(1), now);
    assert!(s.replicas[0].facts.healthy, "an answer means healthy again");
}
