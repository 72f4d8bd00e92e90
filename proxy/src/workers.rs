//! The threads that run client sessions: one single-threaded tokio runtime per thread, each
//! session living on one of them for its whole life (the event-loop-per-thread model of
//! haproxy and nginx).
//!
//! A proxy session is a short chain of socket reads and writes per command. On a
//! work-stealing runtime every wake-up may hop threads (a futex wake, a cold cache); pinned
//! sessions never do. Backend connections are registered with the reactor of the thread
//! that opened them, so the pool keys them by thread ([`current`]) and a session only ever
//! reuses connections of its own thread. Everything else (the control plane, the quorum
//! watchers, HTTP `/query`) stays on the main runtime.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinSet};

/// Index of a session thread, or `MAIN` for any other thread.
pub type WorkerId = usize;

/// The id of threads that are not session threads.
pub const MAIN: WorkerId = usize::MAX;

thread_local! {
    static CURRENT: Cell<WorkerId> = const { Cell::new(MAIN) };
}

/// The session thread the caller runs on ([`MAIN`] elsewhere).
pub fn current() -> WorkerId {
    CURRENT.with(Cell::get)
}

/// The session threads of one proxy.
#[derive(Debug)]
pub struct Workers {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `count` session threads (0: one per available CPU).
    pub fn start(count: usize) -> std::io::Result<Self> {
        let count = match count {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let mut workers = Self {
            handles: Vec::with_capacity(count),
            stops: Vec::with_capacity(count),
            threads: Vec::with_capacity(count),
            next: AtomicUsize::new(0),
        };
        for id in 0..count {
            let runtime = Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()?;
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            workers.handles.push(runtime.handle().clone());
            workers.stops.push(stop_tx);
            let thread = std::thread::Builder::new()
                .name(format!("myquorum-io-{id}"))
                .spawn(move || {
                    CURRENT.with(|c| c.set(id));
                    runtime.block_on(async {
                        let _ = stop_rx.await;
                    });
                    // Dropping the runtime cancels what is left (nothing, after a drain).
                    drop(runtime);
                })?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// Number of session threads.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Always false: there is at least one thread.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Spawns `task` on the next session thread (round-robin), tracked by `set`.
    pub fn spawn<F>(&self, set: &mut JoinSet<()>, task: F) -> AbortHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let k = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        set.spawn_on(task, &self.handles[k])
    }

    /// Stops the threads once their sessions are done (call after draining them).
    pub fn stop(mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_run_on_their_own_threads_round_robin() {
        let workers = Workers::start(2).expect("threads");
        assert_eq!(workers.len(), 2);
        let mut set = JoinSet::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..4 {
            let tx = tx.clone();
            workers.spawn(&mut set, async move {
                let _ = tx.send(current());
            });
        }
        while set.join_next().await.is_some() {}
        let mut seen = Vec::new();
        while let Ok(id) = rx.try_recv() {
            seen.push(id);
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 0, 1, 1]);
        assert_eq!(
            current(),
            MAIN,
            "the test's own thread is not a session thread"
        );
        tokio::task::spawn_blocking(move || workers.stop())
            .await
            .expect("stopped");
    }
}
