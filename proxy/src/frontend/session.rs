//! One client connection: authenticate, then read commands and forward them until the client
//! quits, the socket fails, another client kills it, or the proxy shuts down.
//!
//! Until routing lands every command goes to the primary over one backend connection, taken
//! from the pool at login and given back (reset) when the session ends. If that connection
//! is lost, the next command opens a new one and the session's settings, database and
//! prepared statements follow it (see [`super::history`] and [`super::statements`]).

use mysql_common::constants::{CapabilityFlags, StatusFlags};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{debug, instrument, warn};

use super::commands::{self, Action};
use super::handshake::{self, ClientHello, Login};
use super::history::{self, History, Setting};
use super::statements::StatementMap;
use crate::backend::{BackendConn, BackendKey};
use crate::error::{BackendError, MysqlError, SessionError};
use crate::gtid::Gtid;
use crate::packet::{err_payload, Packet, PacketIo, ReadError};
use crate::registry::Registration;
use crate::relay::{self, ClientFraming, RelayError, Shape, Step, Summary};
use crate::server::Shared;

/// The per-client state the proxy keeps.
pub struct Session {
    pub(super) id: u32,
    pub(super) io: PacketIo,
    /// This session's row in the registry (removed on drop).
    pub(super) registration: Registration,
    pub(super) hello: ClientHello,
    pub(super) shared: Arc<Shared>,
    pub(super) backend: Option<BackendConn>,
    pub(super) framing: ClientFraming,
    /// Status flags of the last complete answer.
    pub(super) status: StatusFlags,
    /// GTID of the last write this session made (CAUSAL reads will wait for it).
    pub(super) last_gtid: Option<Gtid>,
    /// Current default database, as the server reported it.
    pub(super) database: Option<Vec<u8>>,
    /// Session settings to replay on a new backend connection.
    pub(super) history: History,
    /// Prepared statements.
    pub(super) statements: StatementMap,
}

/// Serves one accepted client connection to its end. Errors are logged here, once.
#[instrument(name = "session", skip_all, fields(id = connection_id, peer = %peer))]
pub async fn run(
    io: PacketIo,
    connection_id: u32,
    peer: std::net::SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut io = io;
    let login = handshake::authenticate(
        &mut io,
        connection_id,
        &shared.server,
        &shared.config.version_suffix,
        &shared.config.users,
        &peer.ip().to_string(),
    )
    .await;
    let hello = match login {
        Ok(Login::Accepted(hello)) => hello,
        Ok(Login::Refused) => return,
        Err(e) => {
            debug!(error = %e, "handshake ended");
            return;
        }
    };
    let framing = ClientFraming {
        tracks_session: hello
            .capabilities
            .contains(CapabilityFlags::CLIENT_SESSION_TRACK),
        deprecate_eof: hello
            .capabilities
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
    };
    let registration = shared
        .registry
        .register(connection_id, &hello.user.name, peer);
    let mut session = Session {
        id: connection_id,
        io,
        registration,
        database: None,
        hello,
        shared,
        backend: None,
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
    session.release_backend();
}

impl Session {
    async fn serve(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), SessionError> {
        let seq = self.hello.next_seq;
        let database = self.hello.database.clone();
        if !self.attach_with_database(seq, database).await? {
            return Ok(());
        }
        self.send_ok(seq).await?;
        let killed = Arc::clone(&self.registration.killed);
        loop {
            let packet = tokio::select! {
                biased;
                _ = killed.notified() => {
                    debug!("killed by another client");
                    return Ok(());
                }
                _ = shutdown.changed() => {
                    self.send_err(0, &MysqlError::shutdown()).await?;
                    return Ok(());
                }
                read = self.io.read_packet(self.shared.config.max_packet_size) => read,
            };
            let packet = match packet {
                Ok(p) => p,
                Err(ReadError::Io(e)) => return Err(SessionError::ClientGone(e)),
                Err(ReadError::TooLarge(_)) => {
                    self.send_err(0, &MysqlError::packet_too_large()).await?;
                    return Ok(());
                }
            };
            let Some(&cmd) = packet.payload.first() else {
                return Err(SessionError::ClientProtocol(
                    "empty command packet".to_owned(),
                ));
            };
            match commands::action(cmd) {
                Action::Quit => return Ok(()),
                Action::Query => self.query(&packet).await?,
                Action::Forward(shape) => {
                    self.relay_command(packet.seq, &packet.payload, shape, None)
                        .await?;
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

    /// COM_QUERY: `KILL <proxy id>` is mapped; a successful session SET is recorded.
    async fn query(&mut self, packet: &Packet) -> Result<(), SessionError> {
        let sql = &packet.payload[1..];
        if let Some(kill) = super::kill::parse(sql) {
            return self.kill(packet, kill).await;
        }
        let done = self
            .relay_command(packet.seq, &packet.payload, Shape::Query, None)
            .await?;
        if done.is_some_and(|s| !s.error)
            && history::is_session_setting(sql)
            && is_single_statement(sql)
        {
            self.history.record(Setting::Statement(sql.to_vec()));
        }
        Ok(())
    }

    /// Attaches a backend and selects `database` on it. Returns false when the client was
    /// refused (the ERR was sent with sequence id `seq`).
    pub(super) async fn attach_with_database(
        &mut self,
        seq: u8,
        database: Option<Vec<u8>>,
    ) -> Result<bool, SessionError> {
        if let Err(e) = self.ensure_backend().await {
            self.send_backend_error(seq, &e).await?;
            return Ok(false);
        }
        let (Some(db), Some(backend)) = (database, self.backend.as_mut()) else {
            return Ok(true);
        };
        match backend.command_ok(&init_db(&db)).await {
            Ok(_) => {
                self.database = Some(db);
                Ok(true)
            }
            Err(e) => {
                if !matches!(e, BackendError::Refused { .. }) {
                    self.drop_backend();
                }
                self.send_backend_error(seq, &e).await?;
                Ok(false)
            }
        }
    }

    /// Makes sure the session holds a backend connection; a new one gets the session's
    /// database and recorded settings replayed.
    pub(super) async fn ensure_backend(&mut self) -> Result<(), BackendError> {
        if self.backend.is_some() {
            return Ok(());
        }
        let config = &self.shared.config;
        let node = config.node(&config.primary).ok_or_else(|| {
            BackendError::Protocol(format!("primary {} is not configured", config.primary))
        })?;
        let key = BackendKey {
            user: self.hello.user.name.clone(),
            node: node.id.clone(),
            capabilities: crate::capabilities::for_backend(self.hello.capabilities).bits(),
            mariadb_capabilities: self.hello.mariadb_capabilities.bits(),
            collation: self.hello.collation,
        };
        let mut conn = self
            .shared
            .pool
            .get(node, key, &self.hello.user.password, &self.hello.attrs)
            .await?;
        self.replay_onto(&mut conn).await;
        debug!(thread_id = conn.thread_id, node = %node.id, "backend attached");
        self.shared
            .registry
            .set_backend(self.id, Some((node.id.clone(), conn.thread_id)));
        self.backend = Some(conn);
        Ok(())
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
    }

    /// Forwards one command and relays its answer. Returns the answer's summary, or None
    /// when the backend failed (the client got an error packet instead).
    pub(super) async fn relay_command(
        &mut self,
        seq: u8,
        payload: &[u8],
        shape: Shape,
        prepare_rewrite: Option<u32>,
    ) -> Result<Option<Summary>, SessionError> {
        let next_seq = seq.wrapping_add(1);
        if let Err(e) = self.ensure_backend().await {
            self.send_backend_error(next_seq, &e).await?;
            return Ok(None);
        }
        let Some(backend) = self.backend.as_mut() else {
            return Ok(None);
        };
        backend.io.queue_packet(seq, payload);
        if let Err(e) = backend.io.flush().await {
            self.backend_lost(next_seq, e).await?;
            return Ok(None);
        }
        let mut summary = Summary {
            next_seq,
            prepare_rewrite,
            ..Summary::default()
        };
        let mut shape = shape;
        loop {
            let Some(backend) = self.backend.as_mut() else {
                return Ok(None);
            };
            match relay::relay(
                &mut backend.io,
                &mut self.io,
                shape,
                self.framing,
                &mut summary,
            )
            .await
            {
                Ok(Step::Done) => break,
                Ok(Step::LocalInfile) => {
                    summary.next_seq = self.pump_local_infile().await?;
                    shape = Shape::Query;
                }
                Err(RelayError::Client(e)) => return Err(SessionError::ClientGone(e)),
                Err(RelayError::Backend(e)) => {
                    self.backend_lost(summary.next_seq, e).await?;
                    return Ok(None);
                }
            }
        }
        self.absorb(&summary);
        Ok(Some(summary))
    }

    /// Streams the client's LOCAL INFILE packets to the backend up to the empty packet that
    /// ends them; returns the next sequence id.
    async fn pump_local_infile(&mut self) -> Result<u8, SessionError> {
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
            let Some(backend) = self.backend.as_mut() else {
                return Ok(packet.next_seq());
            };
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
        if let Some(backend) = self.backend.as_mut() {
            if let Err(e) = backend.reset().await {
                self.drop_backend();
                return self.send_backend_error(packet.next_seq(), &e).await;
            }
            if let Some(db) = &self.database {
                let _ = backend.command_ok(&init_db(db)).await;
            }
        }
        self.send_ok(packet.next_seq()).await
    }

    /// Forgets what the session set up (reset, change user).
    pub(super) fn forget_session_state(&mut self) {
        self.last_gtid = None;
        self.status = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
        self.history.clear();
        self.statements.clear();
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
            self.database = Some(db.clone());
        }
    }

    /// The backend died mid-command: tell the client (2013) and drop the connection; the
    /// next command opens a new one.
    async fn backend_lost(&mut self, seq: u8, e: std::io::Error) -> Result<(), SessionError> {
        self.drop_backend();
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

    /// Gives the backend connection back to the pool (reset there).
    pub(super) fn release_backend(&mut self) {
        if let Some(conn) = self.backend.take() {
            self.shared.pool.put_back(conn);
        }
        self.statements.backend_lost();
        self.shared.registry.set_backend(self.id, None);
    }

    /// Forgets a backend connection that failed; the next command opens a new one.
    pub(super) fn drop_backend(&mut self) {
        self.backend = None;
        self.statements.backend_lost();
        self.shared.registry.set_backend(self.id, None);
    }
}

/// COM_INIT_DB payload.
pub(super) fn init_db(db: &[u8]) -> Vec<u8> {
    let mut cmd = Vec::with_capacity(1 + db.len());
    cmd.push(0x02);
    cmd.extend_from_slice(db);
    cmd
}

/// No `;` before the end other than trailing ones (a multi-statement SET is not replayed).
fn is_single_statement(sql: &[u8]) -> bool {
    let trimmed = sql
        .iter()
        .rposition(|b| !b.is_ascii_whitespace() && *b != b';')
        .map_or(&sql[..0], |end| &sql[..=end]);
    !trimmed.contains(&b';')
}
