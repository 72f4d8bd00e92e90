//! One client connection: authenticate, then read commands and forward them until the client
//! quits, the socket fails, another client kills it, or the proxy shuts down.
//!
//! A session holds at most one backend connection per node: the primary's from login, a
//! replica's from the first statement routed there ([`super::query`]); all go back to the
//! pool (reset) when the session ends. If a connection is lost, the next command for that
//! node opens a new one and the session's settings, database and prepared statements follow
//! it (see [`super::history`] and [`super::statements`]).

use mysql_common::constants::{CapabilityFlags, Command, StatusFlags};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{debug, instrument, warn};

use super::commands::{self, Action};
use super::handshake::{self, ClientHello, Login};
use super::history::{History, Setting};
use super::statements::StatementMap;
use super::ClientIo;
use crate::backend::{BackendConn, BackendKey};
use crate::classify::{Consistency, PinReason};
use crate::compress::Compressed;
use crate::context::ProxyContext;
use crate::error::{BackendError, MysqlError, SessionError};
use crate::gtid::Gtid;
use crate::idle::IdleTimer;
use crate::limits::UserSlot;
use crate::packet::{err_payload, Packet, PacketIo, ReadError};
use crate::registry::{ConnectionId, Registration};
use crate::relay::{self, ClientFraming, RelayError, Shape, Step, Summary};
use crate::tls::ClientStream;
use std::collections::HashSet;

/// The per-client state the proxy keeps.
pub struct Session {
    pub(super) id: u32,
    /// The client's connection: a socket, or TLS over it after an SSLRequest; compressed
    /// after login if the client asked for it.
    pub(super) io: ClientIo,
    /// This session's row in the registry (removed on drop).
    pub(super) registration: Registration,
    /// This session's place under its user's `max_user_connections` (freed on drop).
    pub(super) user_slot: UserSlot,
    pub(super) hello: ClientHello,
    pub(super) shared: Arc<ProxyContext>,
    /// Backend connections held, at most one per node.
    pub(super) conns: Vec<BackendConn>,
    /// Node of the previous statement (the sticky rule, read-only transactions).
    pub(super) previous: Option<Arc<str>>,
    /// The replica of the last statement that ran on one: the next replica read prefers it
    /// (one replica connection per session instead of one per replica).
    pub(super) home: Option<Arc<str>>,
    pub(super) framing: ClientFraming,
    /// Status flags of the last complete answer.
    pub(super) status: StatusFlags,
    /// GTID of the last write this session made (CAUSAL reads will wait for it).
    pub(super) last_gtid: Option<Gtid>,
    /// Current default database, as the server reported it (changed only through
    /// [`Session::set_database`], which keeps `database_hash` in step).
    pub(super) database: Option<Vec<u8>>,
    /// A hash of `database` (0: none), for [`Session::state_fingerprint`].
    database_hash: u64,
    /// Session settings to replay on a new backend connection.
    pub(super) history: History,
    /// Prepared statements, and the nodes each is prepared on.
    pub(super) statements: StatementMap,
    /// Session consistency level (`SET myquorum_consistency`).
    pub(super) consistency: Consistency,
    /// Why the session is pinned to the primary, if it is.
    pub(super) pins: HashSet<PinReason, crate::FastHash>,
    /// The pin reason last shown in the registry (`SHOW SESSIONS`), to update it on change only.
    pub(super) reported_pin: Option<&'static str>,
    /// The replica running the session's `START TRANSACTION READ ONLY`, while it lasts.
    pub(super) read_only_node: Option<String>,
    /// The proxy's own warning for the last statement (a STRONG quorum timeout), merged into
    /// the next SHOW WARNINGS.
    pub(super) proxy_warning: Option<String>,
    /// A backend connection that held the session's state (an open transaction,
    /// autocommit=0, a pin, a read-only transaction's replica) was lost: the client connection
    /// ends after the failed command's error, as the server's own would, so no later statement
    /// can commit as part of a broken transaction.
    pub(super) state_lost: Option<Arc<str>>,
    /// The node whose connection ran the session's last write (LAST_INSERT_ID() is read
    /// there), while the session holds that connection.
    pub(super) last_write: Option<Arc<str>>,
    /// Warning count of the last answer: SHOW WARNINGS must find them on the same
    /// connection, so a session with warnings unread does not park.
    pub(super) last_warnings: u16,
    /// A statement generated a LAST_INSERT_ID on this session's connections: that value
    /// lives in the connection, so the session never parks.
    pub(super) generated_insert_id: bool,
    /// The epoch the session's connections belong to, and the primary of that epoch: when
    /// the topology moves on, connections to a node that lost its role are dropped before
    /// the next command ([`Session::follow_topology`]).
    pub(super) seen: (u64, Arc<str>),
    /// Whether the session's user holds PROCESS (SHOW PROCESSLIST then lists every session),
    /// once asked.
    pub(super) process_privilege: Option<bool>,
    /// The command just served ended with a statement after which the session may give its
    /// connections back at once (statement multiplexing): a read or a replayable setting
    /// that succeeded. Cleared before each command.
    pub(super) release_after: bool,
}

/// Serves one accepted client connection to its end. Errors are logged here, once.
#[instrument(name = "session", level = "debug", skip_all, fields(id = connection_id.get(), peer = %peer))]
pub async fn run(
    io: PacketIo<ClientStream>,
    connection_id: ConnectionId,
    peer: std::net::SocketAddr,
    shared: Arc<ProxyContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut io = io.map_stream(Compressed::new);
    // Boxed, as the command path is (see `Session::serve`): the task would otherwise keep
    // the login's state size for the session's whole life.
    let login = Box::pin(handshake::authenticate_within(
        &mut io,
        connection_id.get(),
        peer.ip(),
        shared.door(&shared.config.users),
        shared.config.limits.handshake_timeout(),
    ))
    .await;
    let hello = match login {
        Ok(Login::Accepted(hello)) => hello,
        Ok(Login::Refused) => return,
        Err(e) => {
            debug!(error = %e, "handshake ended");
            return;
        }
    };
    let Some(user_slot) = shared.limits.admit_user(&hello.user.name) else {
        let e = MysqlError::too_many_user_connections(&hello.user.name);
        let _ = io
            .send_packet(hello.next_seq, &err_payload(e.code, e.state, &e.message))
            .await;
        return;
    };
    let framing = ClientFraming {
        tracks_session: hello
            .capabilities
            .contains(CapabilityFlags::CLIENT_SESSION_TRACK),
        deprecate_eof: hello
            .capabilities
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
    };
    let id = connection_id.get();
    let registration = shared
        .registry
        .register(connection_id, &hello.user.name, peer);
    shared.registry.set_tls(id, io.stream().get_ref().is_tls());
    let topology = shared.cluster.topology();
    let seen = (topology.epoch(), topology.primary().id.clone());
    let mut session = Session {
        id,
        io,
        registration,
        user_slot,
        database: None,
        database_hash: 0,
        consistency: shared.config.default_consistency,
        hello,
        shared,
        conns: Vec::new(),
        previous: None,
        home: None,
        pins: HashSet::default(),
        reported_pin: None,
        read_only_node: None,
        proxy_warning: None,
        state_lost: None,
        last_write: None,
        last_warnings: 0,
        generated_insert_id: false,
        process_privilege: None,
        release_after: false,
        seen,
        framing,
        status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        last_gtid: None,
        history: History::default(),
        statements: StatementMap::default(),
    };
    match session.serve(&mut shutdown).await {
        Ok(()) | Err(SessionError::ClientGone(_)) => debug!("session closed"),
        Err(e) => debug!(error = %e, "session ended"),
    }
    session.release_backends();
}

/// How a run of commands ([`Session::serve_active`]) ended.
enum Served {
    /// The session is over (the client quit or was refused a command that ends it).
    Ended,
    /// The session parked (multiplexing): it waits for its next command with its state only.
    Parked,
}

/// What the client did next while the session waited for a command.
enum Next {
    /// A command packet arrived.
    Packet(Packet),
    /// The session idled past `pool.multiplex_idle_ms` with nothing that ties it to its
    /// backend connections.
    Park,
    /// The session is over (killed, shutting down, an over-large packet answered).
    End,
}

impl Session {
    /// Finishes the login, then serves commands until the session ends.
    ///
    /// Commands run inside a boxed future ([`Session::serve_active`]) that is freed when the
    /// session parks: the command path's state machine is several kilobytes, and a task keeps
    /// the size of its largest state for its whole life, so with the command path inline
    /// every idle client would cost those kilobytes. A parked session's task holds only the
    /// session and a small wait for its next packet; the box is allocated again when the
    /// session wakes (once per wake, never per command).
    async fn serve(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), SessionError> {
        let seq = self.hello.next_seq;
        let database = self.hello.database.clone();
        if !Box::pin(self.attach_with_database(seq, database)).await? {
            return Ok(());
        }
        self.send_ok(seq).await?;
        self.io.start_compression(
            self.hello
                .capabilities
                .contains(CapabilityFlags::CLIENT_COMPRESS),
        );
        let killed = Arc::clone(&self.registration.killed);
        let mut idle = IdleTimer::new(self.shared.config.limits.client_idle_timeout());
        let mut pending = None;
        loop {
            let served = Box::pin(self.serve_active(shutdown, &killed, &mut idle, pending.take()));
            if let Served::Ended = served.await? {
                return Ok(());
            }
            match self.next_packet(shutdown, &killed, &mut idle, None).await? {
                Next::Packet(packet) => pending = Some(packet),
                Next::Park | Next::End => return Ok(()),
            }
        }
    }

    /// Serves commands, starting with `pending` when the session wakes from a park, until
    /// the session ends or parks.
    async fn serve_active(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
        killed: &tokio::sync::Notify,
        idle: &mut IdleTimer,
        mut pending: Option<Packet>,
    ) -> Result<Served, SessionError> {
        let mut park = self.shared.config.pool.multiplex_idle().map(IdleTimer::new);
        let each_statement = self.shared.config.pool.multiplex_statements;
        loop {
            if std::mem::take(&mut self.release_after)
                && each_statement
                && self.can_park()
                && !self.conns.iter().any(|c| c.tainted)
            {
                self.release_between_statements();
            }
            if let Some(node) = self.state_lost.take() {
                return Err(SessionError::StateLost {
                    node: node.to_string(),
                });
            }
            let packet = match pending.take() {
                Some(packet) => packet,
                None => {
                    // Idle between commands: a 16 MB statement or answer does not stay
                    // allocated.
                    self.io.shrink_buffers();
                    idle.touch();
                    if let Some(park) = park.as_mut() {
                        park.touch();
                    }
                    match self
                        .next_packet(shutdown, killed, idle, park.as_mut())
                        .await?
                    {
                        Next::Packet(packet) => packet,
                        Next::Park => {
                            self.park();
                            return Ok(Served::Parked);
                        }
                        Next::End => return Ok(Served::Ended),
                    }
                }
            };
            let Some(&cmd) = packet.payload.first() else {
                return Err(SessionError::ClientProtocol(
                    "empty command packet".to_owned(),
                ));
            };
            if let Some(e) = self.follow_topology() {
                self.send_err(packet.next_seq(), &e).await?;
                let node = self.seen.1.clone();
                return Err(SessionError::StateLost {
                    node: node.to_string(),
                });
            }
            match commands::action(cmd) {
                Action::Quit => return Ok(Served::Ended),
                Action::Query => self.query(&packet).await?,
                Action::Forward(shape) => {
                    let done = self
                        .relay_command(packet.seq, &packet.payload, shape, None)
                        .await?;
                    // COM_INIT_DB: the session's other connections follow the new database.
                    if cmd == COM_INIT_DB && done.is_some_and(|s| !s.error) {
                        let primary = self.primary_id();
                        self.apply_to_other_conns(&primary, &packet.payload).await;
                    }
                }
                Action::SetOption => {
                    let done = self
                        .relay_command(packet.seq, &packet.payload, Shape::Query, None)
                        .await?;
                    if done.is_some_and(|s| !s.error) {
                        self.history
                            .record(Setting::SetOption(packet.payload.to_vec()));
                    }
                }
                Action::Prepare => self.prepare(&packet).await?,
                Action::Statement(shape) => self.statement_command(&packet, shape).await?,
                Action::StatementSilent => self.statement_silent(&packet).await?,
                Action::ChangeUser => self.change_user(&packet).await?,
                Action::Reset => self.reset(&packet).await?,
                Action::Unsupported(name) => {
                    debug!(command = name, "unsupported command");
                    self.send_err(packet.next_seq(), &MysqlError::unknown_command(name))
                        .await?;
                }
            }
        }
    }

    /// Waits for the client's next command packet, and meanwhile for a kill, the proxy's
    /// shutdown (answered 1053), the idle timeout and, when `park` is given and the session
    /// can park, the multiplexing idle time.
    async fn next_packet(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
        killed: &tokio::sync::Notify,
        idle: &mut IdleTimer,
        mut park: Option<&mut IdleTimer>,
    ) -> Result<Next, SessionError> {
        let parkable = park.is_some() && self.can_park();
        let read = tokio::select! {
            biased;
            _ = killed.notified() => {
                debug!("killed by another client");
                return Ok(Next::End);
            }
            _ = shutdown.changed() => {
                self.send_err(0, &MysqlError::shutdown()).await?;
                return Ok(Next::End);
            }
            read = self.io.read_packet(self.shared.config.max_packet_size) => read,
            () = idle.expired() => return Err(SessionError::IdleTimeout),
            () = expired(&mut park), if parkable => return Ok(Next::Park),
        };
        match read {
            Ok(packet) => Ok(Next::Packet(packet)),
            Err(ReadError::Io(e)) => Err(SessionError::ClientGone(e)),
            Err(ReadError::TooLarge(_)) => {
                self.send_err(0, &MysqlError::packet_too_large()).await?;
                Ok(Next::End)
            }
        }
    }

    /// Attaches a backend and selects `database` on it. Returns false when the client was
    /// refused (the ERR was sent with sequence id `seq`).
    pub(super) async fn attach_with_database(
        &mut self,
        seq: u8,
        database: Option<Vec<u8>>,
    ) -> Result<bool, SessionError> {
        let index = match self.attach_primary().await {
            Ok(i) => i,
            Err(e) => {
                self.send_backend_error(seq, &e).await?;
                return Ok(false);
            }
        };
        let primary = self.conns[index].key.node.clone();
        let Some(db) = database else {
            return Ok(true);
        };
        match self.conns[index].command_ok(&init_db(&db)).await {
            Ok(_) => {
                self.set_database(Some(db));
                Ok(true)
            }
            Err(e) => {
                if !matches!(e, BackendError::Refused { .. }) {
                    self.drop_conn(&primary);
                }
                self.send_backend_error(seq, &e).await?;
                Ok(false)
            }
        }
    }

    /// The session's first connection, to the primary: while a failover runs, or when the
    /// primary refuses the connection, login waits (bounded by `failover_wait_ms`) for the
    /// new primary instead of failing.
    async fn attach_primary(&mut self) -> Result<usize, BackendError> {
        let ctx = Arc::clone(&self.shared);
        let wait = std::time::Duration::from_millis(ctx.config.failover_wait_ms);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let topology = ctx.cluster.topology();
            self.seen = (topology.epoch(), topology.primary().id.clone());
            if ctx.cluster.failover_running() && tokio::time::Instant::now() < deadline {
                ctx.cluster.wait_failover(topology.epoch(), deadline).await;
                continue;
            }
            match self.ensure_conn(&topology.primary().id).await {
                Err(e) if !e.server_answered() && tokio::time::Instant::now() < deadline => {
                    ctx.cluster.primary_unreachable(&topology.primary().id);
                    ctx.cluster.wait_failover(topology.epoch(), deadline).await;
                }
                other => return other,
            }
        }
    }

    /// The primary's node id.
    pub(super) fn primary_id(&self) -> Arc<str> {
        self.shared.cluster.primary().id.clone()
    }

    /// True when `node` is the primary's id (no copy of it is made: this runs per statement).
    pub(super) fn is_primary(&self, node: &str) -> bool {
        *self.shared.cluster.primary().id == *node
    }

    /// Index in `conns` of the connection to `node`, if the session holds one.
    pub(super) fn conn_index(&self, node: &str) -> Option<usize> {
        self.conns.iter().position(|c| *c.key.node == *node)
    }

    /// Records the session's default database, here and in the registry (`SHOW PROCESSLIST`).
    pub(super) fn set_database(&mut self, db: Option<Vec<u8>>) {
        self.shared.registry.set_db(self.id, db.as_deref());
        self.database_hash = db.as_deref().map_or(0, super::history::fingerprint_of);
        self.database = db;
    }

    /// The pool key of this session's connections to node `node_id` (its user, its client's
    /// capabilities and collation, this worker).
    pub(super) fn backend_key(&self, node_id: &Arc<str>) -> BackendKey {
        BackendKey {
            user: Arc::clone(&self.hello.user.name),
            node: Arc::clone(node_id),
            capabilities: crate::capabilities::for_backend(self.hello.capabilities).bits(),
            mariadb_capabilities: self.hello.mariadb_capabilities.bits(),
            collation: self.hello.collation,
            worker: crate::workers::current(),
        }
    }

    /// The session's connection to `node`, opened (with the session's database and recorded
    /// settings replayed) if it holds none yet. Returns its index in `conns`.
    pub(super) async fn ensure_conn(&mut self, node_id: &str) -> Result<usize, BackendError> {
        if let Some(i) = self.conn_index(node_id) {
            return Ok(i);
        }
        // The context's own handle: the node is borrowed from it, not copied, while `self`
        // changes below.
        let ctx = Arc::clone(&self.shared);
        let node = ctx
            .cluster
            .node(node_id)
            .ok_or_else(|| BackendError::UnknownNode {
                node: node_id.to_owned(),
            })?;
        let key = self.backend_key(&node.id);
        let state = self.state_fingerprint();
        let mut conn = ctx
            .pool
            .get(
                node,
                key,
                &self.hello.user.password,
                &self.hello.attrs,
                Some(state),
            )
            .await?;
        // A connection another session in the same state gave back between statements
        // already has this database and these settings.
        if conn.state != Some(state) {
            self.replay_onto(&mut conn).await;
        }
        debug!(thread_id = conn.thread_id, node = %node.id, "backend attached");
        let as_backend = self.is_primary(&node.id) || self.conns.is_empty();
        self.shared
            .registry
            .attach(self.id, &node.id, conn.thread_id, as_backend);
        self.conns.push(conn);
        Ok(self.conns.len() - 1)
    }

    /// Sends a session setting that just succeeded on `node` to every other connection the
    /// session holds, so they stay interchangeable.
    pub(super) async fn apply_to_other_conns(&mut self, node: &str, command: &[u8]) {
        for conn in self.conns.iter_mut().filter(|c| *c.key.node != *node) {
            if let Err(e) = conn.command_ok(command).await {
                warn!(node = %conn.key.node, error = %e, "applying a session setting failed");
            }
        }
    }

    /// Replays the session's database and settings on a connection it did not have before.
    async fn replay_onto(&self, conn: &mut BackendConn) {
        if let Some(db) = &self.database {
            // A database dropped since the session chose it: the session goes on without
            // one, as it would on the server.
            if let Err(e) = conn.command_ok(&init_db(db)).await {
                debug!(error = %e, "could not re-select the session's database");
            }
        }
        if self.history.truncated {
            warn!("session settings history was truncated; replay is incomplete");
        }
        for setting in self.history.entries() {
            let result = match setting {
                Setting::Statement(sql) => {
                    let mut cmd = Vec::with_capacity(1 + sql.len());
                    cmd.push(crate::backend::conn::COM_QUERY);
                    cmd.extend_from_slice(sql);
                    conn.command_ok(&cmd).await
                }
                Setting::SetOption(cmd) => conn.command_ok(cmd).await,
            };
            if let Err(e) = result {
                warn!(error = %e, "replaying a session setting failed");
            }
        }
        let replayed_tracking = self.history.entries().iter().any(|s| match s {
            Setting::Statement(sql) => touches_gtid_tracking(sql),
            Setting::SetOption(_) => false,
        });
        if replayed_tracking {
            if let Err(e) = conn.ensure_gtid_tracking().await {
                warn!(error = %e, "could not restore last_gtid tracking");
            }
        }
    }

    /// Forwards one command to the primary and relays its answer (see [`Self::relay_on`]).
    pub(super) async fn relay_command(
        &mut self,
        seq: u8,
        payload: &[u8],
        shape: Shape,
        prepare_rewrite: Option<u32>,
    ) -> Result<Option<Summary>, SessionError> {
        let summary = Summary {
            prepare_rewrite,
            ..Summary::default()
        };
        let primary = self.primary_id();
        self.relay_on(&primary, seq, payload, shape, summary).await
    }

    /// Forwards one command to `node` and relays its answer. `summary` carries the relay's
    /// inputs (statement id rewrite, holding the final OK). Returns the answer's summary, or
    /// None when the backend failed (the client got an error packet instead).
    pub(super) async fn relay_on(
        &mut self,
        node: &str,
        seq: u8,
        payload: &[u8],
        shape: Shape,
        summary: Summary,
    ) -> Result<Option<Summary>, SessionError> {
        let next_seq = seq.wrapping_add(1);
        let index = match self.ensure_conn(node).await {
            Ok(i) => i,
            Err(e) if summary.retry_on_loss && e.connection_lost() => {
                debug!(node, error = %e, "cannot reach the node of a retryable read");
                return Ok(Some(Summary {
                    lost: Some((next_seq, MysqlError::from(&e))),
                    ..summary
                }));
            }
            Err(e) => {
                self.send_backend_error(next_seq, &e).await?;
                return Ok(None);
            }
        };
        // What KILL QUERY from another session interrupts while this statement runs.
        self.registration.running(node, self.conns[index].thread_id);
        let answer = self
            .relay_exchange(index, node, seq, payload, shape, summary)
            .await;
        self.registration.finished();
        answer
    }

    /// [`Self::relay_on`] once the connection (`conns[index]`, to `node`) is there: sends the
    /// command, relays the answer (LOCAL INFILE included), and records the session's state.
    async fn relay_exchange(
        &mut self,
        index: usize,
        node: &str,
        seq: u8,
        payload: &[u8],
        shape: Shape,
        mut summary: Summary,
    ) -> Result<Option<Summary>, SessionError> {
        let backend = &mut self.conns[index];
        // Until the relay sees the answer's end (a client gone mid-result leaves it set and
        // the pool closes the connection instead of reusing it).
        backend.answer_pending = true;
        // A command of 16 MB or more goes in several frames: the answer's first sequence id
        // follows the last of them.
        let next_seq = backend.io.queue_packet(seq, payload);
        if let Err(e) = backend.io.flush().await {
            if summary.retry_on_loss {
                return Ok(Some(self.lost_quietly(node, next_seq, summary, e)));
            }
            self.backend_lost(node, next_seq, e).await?;
            return Ok(None);
        }
        summary.next_seq = next_seq;
        let mut shape = shape;
        loop {
            let backend = &mut self.conns[index];
            match relay::relay(
                &mut backend.io,
                &mut self.io,
                shape,
                self.framing,
                &mut summary,
            )
            .await
            {
                Ok(Step::Done) => {
                    backend.answer_pending = false;
                    backend.io.shrink_buffers();
                    break;
                }
                Ok(Step::LocalInfile) => {
                    summary.next_seq = self.pump_local_infile(index).await?;
                    shape = Shape::Query;
                }
                Err(RelayError::Client(e)) => {
                    // The client stopped reading (write timeout) or left mid-answer: the rest
                    // of the answer is still on this connection, so it is closed, never pooled
                    // (the pool closes a connection whose answer is pending, and counts it).
                    let aborted = self.conns.swap_remove(index);
                    self.shared.pool.put_back(aborted);
                    return Err(SessionError::ClientGone(e));
                }
                Err(RelayError::Backend(e)) => {
                    if summary.retry_on_loss && !summary.sent_any {
                        let seq = summary.next_seq;
                        return Ok(Some(self.lost_quietly(node, seq, summary, e)));
                    }
                    self.backend_lost(node, summary.next_seq, e).await?;
                    return Ok(None);
                }
            }
        }
        if self.previous.as_deref() != Some(node) {
            // The connection's own id: shared, not copied.
            let id = Arc::clone(&self.conns[index].key.node);
            self.previous = Some(Arc::clone(&id));
            if self.home.as_deref() != Some(node) && !self.is_primary(node) {
                self.home = Some(id);
            }
        }
        self.absorb(&summary);
        Ok(Some(summary))
    }

    /// Streams the client's LOCAL INFILE packets to the backend up to the empty packet that
    /// ends them; returns the next sequence id.
    async fn pump_local_infile(&mut self, index: usize) -> Result<u8, SessionError> {
        loop {
            let packet = match self
                .io
                .read_packet(self.shared.config.max_packet_size)
                .await
            {
                Ok(p) => p,
                Err(ReadError::Io(e)) => return Err(SessionError::ClientGone(e)),
                Err(ReadError::TooLarge(_)) => {
                    return Err(SessionError::ClientProtocol(
                        "oversized LOCAL INFILE packet".to_owned(),
                    ))
                }
            };
            let backend = &mut self.conns[index];
            backend.io.queue_packet(packet.seq, &packet.payload);
            backend
                .io
                .flush()
                .await
                .map_err(|e| SessionError::Backend(BackendError::Io(e)))?;
            if packet.payload.is_empty() {
                return Ok(packet.next_seq());
            }
        }
    }

    /// COM_RESET_CONNECTION: the backend connection is reset and the session starts over.
    async fn reset(&mut self, packet: &Packet) -> Result<(), SessionError> {
        self.forget_session_state();
        let mut failed = None;
        for backend in &mut self.conns {
            if let Err(e) = backend.reset().await {
                failed = Some((backend.key.node.clone(), e));
                continue;
            }
            if let Some(db) = &self.database {
                let _ = backend.command_ok(&init_db(db)).await;
            }
        }
        if let Some((node, e)) = failed {
            self.drop_conn(&node);
            return self.send_backend_error(packet.next_seq(), &e).await;
        }
        self.send_ok(packet.next_seq()).await
    }

    /// Forgets what the session set up (reset, change user).
    pub(super) fn forget_session_state(&mut self) {
        self.last_gtid = None;
        self.status = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
        self.history.clear();
        self.statements.clear();
        self.pins.clear();
        self.read_only_node = None;
        self.last_write = None;
        self.last_warnings = 0;
        self.generated_insert_id = false;
        self.proxy_warning = None;
        self.consistency = self.shared.config.default_consistency;
        self.process_privilege = None;
    }

    fn absorb(&mut self, summary: &Summary) {
        if let Some(status) = summary.status {
            self.status = status;
        }
        if let Some(gtid) = summary.last_gtid {
            debug!(%gtid, "write produced a GTID");
            self.last_gtid = Some(gtid);
        }
        if let Some(db) = &summary.schema {
            self.set_database(Some(db.clone()));
        }
        self.last_warnings = summary.warnings;
        self.generated_insert_id |= summary.generated_insert_id;
    }

    /// The backend died under a retryable read before any byte of its answer reached the
    /// client: drop the connection and tell the client nothing yet (the read runs again
    /// elsewhere). Returns the summary marked `lost` with the error (sequence id `seq`) the
    /// client gets if no other node can run it.
    fn lost_quietly(
        &mut self,
        node: &str,
        seq: u8,
        summary: Summary,
        e: std::io::Error,
    ) -> Summary {
        debug!(node, error = %e, "lost the node of a retryable read before its answer");
        self.drop_conn(node);
        Summary {
            lost: Some((seq, MysqlError::from(&BackendError::Io(e)))),
            ..summary
        }
    }

    /// The backend died mid-command: tell the client (2013) and drop the connection; the
    /// next command opens a new one.
    async fn backend_lost(
        &mut self,
        node: &str,
        seq: u8,
        e: std::io::Error,
    ) -> Result<(), SessionError> {
        self.drop_conn(node);
        self.send_backend_error(seq, &BackendError::Io(e)).await
    }

    pub(super) async fn send_backend_error(
        &mut self,
        seq: u8,
        e: &BackendError,
    ) -> Result<(), SessionError> {
        if let BackendError::Refused { payload, .. } = e {
            self.io
                .send_packet(seq, payload)
                .await
                .map_err(SessionError::ClientGone)?;
            return Ok(());
        }
        self.send_err(seq, &MysqlError::from(e)).await
    }

    pub(super) async fn send_err(&mut self, seq: u8, e: &MysqlError) -> Result<(), SessionError> {
        self.io
            .send_packet(seq, &err_payload(e.code, e.state, &e.message))
            .await
            .map_err(SessionError::ClientGone)?;
        Ok(())
    }

    pub(super) async fn send_ok(&mut self, seq: u8) -> Result<(), SessionError> {
        let status = self.status.bits().to_le_bytes();
        let ok = [0x00, 0x00, 0x00, status[0], status[1], 0x00, 0x00];
        self.io
            .send_packet(seq, &ok)
            .await
            .map_err(SessionError::ClientGone)?;
        Ok(())
    }

    /// Pins the session for `reason`, counting the pin (SHOW PINS) the first time it is taken.
    pub(super) fn pin(&mut self, reason: PinReason) {
        if self.pins.insert(reason) {
            self.shared.registry.count_pin(reason.as_str());
        }
    }

    /// Whether the session's backend connections hold nothing a pooled connection with the
    /// session's database and settings replayed would not: no open transaction or
    /// autocommit=0, no pin (locks, temporary tables, user variables, text PREPARE, cursors,
    /// long data, SQL_CALC_FOUND_ROWS), no read-only transaction on a replica, no warnings
    /// unread, no generated LAST_INSERT_ID, a complete settings history.
    fn can_park(&self) -> bool {
        !self.conns.is_empty()
            && self.pins.is_empty()
            && !self.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS)
            && self.status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT)
            && self.read_only_node.is_none()
            && self.last_warnings == 0
            && !self.generated_insert_id
            && self.proxy_warning.is_none()
            && self.state_lost.is_none()
            && !self.history.truncated
    }

    /// Multiplexing: an idle session gives its backend connections back to the pool (reset
    /// there, then shared with other sessions of the same user); its next statement takes
    /// pooled ones, with the database and settings replayed and prepared statements
    /// prepared again where they run.
    fn park(&mut self) {
        debug!(
            connections = self.conns.len(),
            "idle session gives its backend connections back"
        );
        self.release_backends();
        self.io.release_buffers();
    }

    /// Statement multiplexing: after a read (or a replayable setting) that left nothing on
    /// the connection a later statement of the session may need, the session's connections
    /// go back to its thread's pool as they are, marked with the session's state
    /// ([`Self::state_fingerprint`]); its next statement takes whichever connection is free,
    /// preferring one in the same state (no replay), and finds its prepared statements by
    /// text on it ([`crate::backend::prepared`]).
    fn release_between_statements(&mut self) {
        let state = self.state_fingerprint();
        for conn in self.conns.drain(..) {
            self.statements
                .released_from(&conn.key.node, conn.thread_id);
            self.shared.pool.put_between_statements(conn, state);
        }
        self.last_write = None;
        self.shared.registry.detach_all(self.id);
    }

    /// What a backend connection holds of this session once its database and settings are
    /// replayed: connections given back between statements are marked with it, and one
    /// marked with the same value needs no replay.
    /// Both parts are hashed when they change, not here: this runs twice per statement.
    fn state_fingerprint(&self) -> u64 {
        // Mixed, not xor-ed: a database and a history with swapped hashes are other states.
        self.database_hash
            .rotate_left(32)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ self.history.fingerprint()
    }

    /// Gives every backend connection back to the pool (reset there).
    pub(super) fn release_backends(&mut self) {
        for conn in self.conns.drain(..) {
            self.shared.pool.put_back(conn);
        }
        self.previous = None;
        self.last_write = None;
        self.statements.backends_lost();
        self.shared.registry.detach_all(self.id);
    }

    /// Forgets a backend connection that failed; the next command for that node opens a new
    /// one; the statements prepared on it are prepared again at their next use there.
    pub(super) fn drop_conn(&mut self, node: &str) {
        let Some(i) = self.conn_index(node) else {
            return;
        };
        if self.holds_state(node) {
            debug!(
                node,
                "lost the backend connection that held the session's state"
            );
            self.state_lost = Some(Arc::from(node));
        }
        self.conns.remove(i);
        if self.previous.as_deref() == Some(node) {
            self.previous = None;
        }
        if self.last_write.as_deref() == Some(node) {
            self.last_write = None;
        }
        if self.read_only_node.as_deref() == Some(node) {
            self.read_only_node = None;
        }
        self.statements.node_lost(node);
        self.shared.registry.detach(self.id, node);
        if !self.is_primary(node) {
            self.shared.cluster.replica_failed(node);
        }
    }
}

impl Session {
    /// After a topology change (failover, switchover): drops the session's connections to
    /// the old primary and to fenced nodes, so no statement of this session can reach a node
    /// in a role it lost (a write to a fenced old primary). Cheap when nothing changed: one
    /// load and one comparison. Returns the error to give the client when the session held
    /// state on the old primary (a transaction, autocommit=0, a pin): that state is gone,
    /// and the error (1213, SQLSTATE 40001) is one drivers retry the transaction on.
    pub(super) fn follow_topology(&mut self) -> Option<MysqlError> {
        let topology = self.shared.cluster.topology();
        if topology.epoch() == self.seen.0 {
            return None;
        }
        let old_primary = std::mem::replace(
            &mut self.seen,
            (topology.epoch(), topology.primary().id.clone()),
        )
        .1;
        let held = old_primary != topology.primary().id
            && self.conn_index(&old_primary).is_some()
            && (self.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS)
                || !self.status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT)
                || !self.pins.is_empty());
        let mut i = 0;
        while i < self.conns.len() {
            let node = self.conns[i].key.node.clone();
            let demoted = node == old_primary && !topology.is_primary(&node);
            if demoted || topology.is_fenced(&node) {
                debug!(node = %node, epoch = topology.epoch(), "dropping a connection to a node that lost its role");
                drop(self.conns.remove(i));
                self.statements.node_lost(&node);
                if self.previous.as_deref() == Some(&*node) {
                    self.previous = None;
                }
                if self.read_only_node.as_deref() == Some(&*node) {
                    self.read_only_node = None;
                }
            } else {
                i += 1;
            }
        }
        self.shared.registry.set_backend(self.id, None);
        held.then(|| MysqlError::failover_retry(&topology.primary().id, topology.epoch()))
    }

    /// Whether the session's connection to `node` holds state a new connection would not
    /// have: on the primary an open transaction, autocommit=0 or a pin; on a replica the
    /// session's read-only transaction.
    pub(super) fn holds_state(&self, node: &str) -> bool {
        if self.is_primary(node) {
            self.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS)
                || !self.status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT)
                || !self.pins.is_empty()
        } else {
            self.read_only_node.as_deref() == Some(node)
        }
    }

    /// Makes every backend connection of the session track `last_gtid` again after a
    /// statement that may have changed `session_track_system_variables` (a client's SET
    /// replaces the list; without `last_gtid` the proxy would not see its writes' GTIDs, and
    /// STRONG and CAUSAL would silently weaken). The client's own list is kept, merged.
    pub(super) async fn restore_gtid_tracking(&mut self) {
        for conn in &mut self.conns {
            if let Err(e) = conn.ensure_gtid_tracking().await {
                warn!(node = %conn.key.node, error = %e, "could not restore last_gtid tracking");
            }
        }
    }
}

/// Whether `sql` may change `session_track_system_variables` (any case).
pub(super) fn touches_gtid_tracking(sql: &[u8]) -> bool {
    const NAME: &[u8] = b"session_track_system_variables";
    sql.windows(NAME.len())
        .any(|w| w.eq_ignore_ascii_case(NAME))
}

/// The COM_INIT_DB command byte.
const COM_INIT_DB: u8 = Command::COM_INIT_DB as u8;

/// COM_INIT_DB payload.
pub(super) fn init_db(db: &[u8]) -> Vec<u8> {
    let mut cmd = Vec::with_capacity(1 + db.len());
    cmd.push(COM_INIT_DB);
    cmd.extend_from_slice(db);
    cmd
}

/// The session's backend connections, as the statement pipeline uses them: one per node,
/// opened with the session's database and settings replayed.
impl crate::pipeline::Upstream for Session {
    fn context(&self) -> &crate::context::ProxyContext {
        &self.shared
    }

    async fn connect(&mut self, id: &str) -> Result<(), BackendError> {
        self.ensure_conn(id).await.map(|_| ())
    }

    async fn query_rows(
        &mut self,
        id: &str,
        sql: &str,
    ) -> Result<crate::pipeline::Rows, BackendError> {
        let index = self.ensure_conn(id).await?;
        self.conns[index].query_rows(sql).await
    }

    fn lost(&mut self, id: &str) {
        self.drop_conn(id);
    }
}

/// Completes when the session's parking timer fires (never without one).
async fn expired(park: &mut Option<&mut IdleTimer>) {
    match park {
        Some(timer) => timer.expired().await,
        None => std::future::pending().await,
    }
}
