//! [`Feed`]: the dashboard's live data. One sampler task ([`run_sampler`]) takes a
//! [`crate::dashboard::snapshot::Snapshot`] every [`INTERVAL`], keeps the last [`HISTORY`] of
//! them (serialized once) so a page that opens gets the last minutes at once, and broadcasts
//! each new one to every open event stream. [`Feed::close`] ends the streams when the server
//! shuts down, so an open page never holds shutdown for its grace period.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use crate::dashboard::snapshot;
use crate::dashboard::window::Window;
use crate::state::ControlPlane;

/// Time between two snapshots.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Snapshots kept for a page that opens (five minutes at [`INTERVAL`]).
pub const HISTORY: usize = 300;

/// A snapshot serialized as JSON, shared by every stream that sends it.
pub type Frame = Arc<str>;

/// The live data and the streams' shutdown signal.
#[derive(Debug)]
pub struct Feed {
    history: Mutex<VecDeque<Frame>>,
    live: broadcast::Sender<Frame>,
    closing: watch::Sender<bool>,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            live: broadcast::channel(8).0,
            closing: watch::channel(false).0,
        }
    }
}

impl Feed {
    /// The kept snapshots, oldest first, and a receiver of the next ones (taken under the
    /// same lock as a publish, so none is missed or sent twice).
    pub fn subscribe(&self) -> (Vec<Frame>, broadcast::Receiver<Frame>) {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        (history.iter().cloned().collect(), self.live.subscribe())
    }

    /// Keeps `frame` and sends it to every stream.
    pub fn publish(&self, frame: Frame) {
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(Arc::clone(&frame));
        // No receiver (no page open) is not an error.
        let _ = self.live.send(frame);
    }

    /// Tells every open stream to end (the server is shutting down).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Self::close`] was called (at once if it already was).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            // Err: the sender is gone with the state, which also means closing.
            let _ = rx.wait_for(|closing| *closing).await;
        }
    }
}

/// Takes a snapshot every [`INTERVAL`] until `stop` turns true.
pub async fn run_sampler(cp: ControlPlane, mut stop: watch::Receiver<bool>) {
    let mut window = Window::default();
    let mut ticker = tokio::time::interval(INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
                continue;
            }
        }
        let now = Instant::now();
        let stats = window.advance(
            cp.context().metrics(),
            now.duration_since(last).as_secs_f64(),
        );
        last = now;
        match serde_json::to_string(&snapshot::take(&cp, stats)) {
            Ok(json) => cp.feed().publish(Arc::from(json)),
            Err(error) => tracing::warn!(%error, "dashboard snapshot not serializable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The history keeps the newest [`HISTORY`] frames in order; a subscriber gets them and
    /// then each new frame.
    #[tokio::test]
    async fn history_then_live() {
        let feed = Feed::default();
        for i in 0..HISTORY + 5 {
            feed.publish(Arc::from(i.to_string()));
        }
        let (history, mut live) = feed.subscribe();
        assert_eq!(history.len(), HISTORY);
        assert_eq!(&*history[0], "5");
        assert_eq!(&*history[HISTORY - 1], (HISTORY + 4).to_string());
        feed.publish(Arc::from("next"));
        assert_eq!(&*live.recv().await.expect("live frame"), "next");
    }

    /// `closed` resolves after `close`, also for a waiter that started before.
    #[tokio::test]
    async fn close_wakes_waiters() {
        let feed = Feed::default();
        let waiter = tokio::spawn(feed.closed());
        feed.close();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("no panic");
        tokio::time::timeout(Duration::from_secs(5), feed.closed())
            .await
            .expect("already closed");
    }
}
