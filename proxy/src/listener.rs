//! The one accept-and-drain loop behind both MySQL-protocol listeners (the client port in
//! [`crate::server`], the admin port in [`crate::admin`]).
//!
//! Shutdown follows one shape (STYLE.md habit 6): stop accepting, signal every connection
//! (they answer 1053 between commands), wait for them under the grace deadline, abort what is
//! left. What differs between the two ports is only where a connection's task runs and what
//! it does, so those are the caller's: a [`SpawnOn`] and a closure that turns an accepted
//! socket into the connection's future.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::workers::Workers;

/// Pause after a failed accept (out of file descriptors, a connection reset before it was
/// accepted): long enough not to spin on a persistent error, short enough not to be noticed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The stop signal a connection task receives: it turns `true` when the listener shuts down.
/// Sessions check it between commands.
pub type Stop = watch::Receiver<bool>;

/// Where connection tasks run.
#[derive(Debug, Clone, Copy)]
pub enum SpawnOn<'a> {
    /// The runtime that runs the listener: the admin port, whose connections are few and
    /// take no backend connections.
    Here,
    /// The session threads, round-robin: the MySQL port (see [`crate::workers`] for why).
    Workers(&'a Workers),
}

/// How a listener drains on shutdown.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    /// Which listener this is, for its log lines.
    pub name: &'static str,
    /// How long connections get to finish once told to stop (`shutdown_grace_ms`).
    pub grace: Duration,
}

/// How the drain went, for the caller's logs and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Connections still running at the grace deadline, aborted.
    pub aborted: usize,
}

/// Accepts connections on `listener` until `shutdown` resolves, running the future that
/// `connection` makes of each one as a task placed by `spawn_on`; then stops accepting,
/// signals every connection through its [`Stop`], waits for them up to `drain.grace` and
/// aborts the rest. `connection` may return `None` to drop a socket it could not set up (it
/// logs why).
pub async fn serve<C, F>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    drain: Drain,
    spawn_on: SpawnOn<'_>,
    mut connection: C,
) -> Drained
where
    C: FnMut(TcpStream, SocketAddr, Stop) -> Option<F>,
    F: Future<Output = ()> + Send + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(listener = drain.name, error = %e, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let Some(task) = connection(stream, peer, stop_rx.clone()) else {
                    continue;
                };
                match spawn_on {
                    SpawnOn::Here => {
                        tasks.spawn(task);
                    }
                    SpawnOn::Workers(workers) => {
                        workers.spawn(&mut tasks, task);
                    }
                }
            }
        }
    }
    drop(listener);
    info!(
        listener = drain.name,
        connections = tasks.len(),
        "shutting down: draining connections"
    );
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(drain.grace, async {
        while tasks.join_next().await.is_some() {}
    });
    let aborted = if drained.await.is_err() {
        let left = tasks.len();
        warn!(
            listener = drain.name,
            left, "grace period over: closing remaining connections"
        );
        tasks.shutdown().await;
        left
    } else {
        0
    };
    Drained { aborted }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::oneshot;

    const GRACE: Duration = Duration::from_secs(5);

    /// A connection that writes one byte, then waits for the stop signal and says goodbye:
    /// the drain lets it finish, and it finishes because it was signalled.
    #[tokio::test]
    async fn connections_are_signalled_and_drained() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            async {
                let _ = stopped.await;
            },
            Drain {
                name: "test",
                grace: GRACE,
            },
            SpawnOn::Here,
            |mut stream: TcpStream, _peer, mut stop: Stop| {
                Some(async move {
                    let _ = stream.write_all(b"h").await;
                    let _ = stop.changed().await;
                    let _ = stream.write_all(b"bye").await;
                })
            },
        ));
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let mut hello = [0u8; 1];
        client.read_exact(&mut hello).await.expect("greeting");
        let _ = stop.send(());
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.expect("goodbye");
        assert_eq!(rest, b"bye");
        let drained = server.await.expect("listener task");
        assert_eq!(drained, Drained { aborted: 0 });
    }

    /// A connection that ignores the stop signal is aborted at the grace deadline, on the
    /// session threads as on the listener's runtime.
    #[tokio::test]
    async fn stragglers_are_aborted_after_the_grace_period() {
        let workers = Workers::start(1).expect("threads");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
        let server = serve(
            listener,
            async {
                let _ = stopped.await;
            },
            Drain {
                name: "test",
                grace: Duration::from_millis(100),
            },
            SpawnOn::Workers(&workers),
            move |stream: TcpStream, _peer, _stop| {
                let _ = accepted_tx.send(());
                let stream = stream.into_std().ok()?;
                Some(async move {
                    let _stream = stream;
                    std::future::pending::<()>().await;
                })
            },
        );
        let client = async {
            let client = TcpStream::connect(addr).await.expect("connect");
            accepted.recv().await.expect("accepted");
            let _ = stop.send(());
            client
        };
        let (drained, _client) = tokio::join!(server, client);
        assert_eq!(drained, Drained { aborted: 1 });
        tokio::task::spawn_blocking(move || workers.stop())
            .await
            .expect("stopped");
    }
}
