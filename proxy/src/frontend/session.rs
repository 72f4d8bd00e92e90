//! One client connection: authenticate, then read commands and forward them until the client
//! quits, the socket fails or the proxy shuts down.
//!
//! Until routing lands every command goes to the primary over one backend connection, taken
//! from the pool at login and given back (reset) when the session ends.

use mysql_common::constants::{CapabilityFlags, StatusFlags};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{debug, instrument};

use super::commands::{self, Action};
use super::handshake::{self, ClientHello, Login};
use crate::backend::{BackendConn, BackendKey};
use crate::error::{BackendError, MysqlError, SessionError};
use crate::gtid::Gtid;
use crate::packet::{err_payload, Packet, PacketIo, ReadError};
use crate::registry::Registration;
use crate::relay::{self, ClientFraming, RelayError, Shape, Step, Summary};
use crate::server::Shared;

/// The per-client state the proxy keeps.
pub struct Session {
    id: u32,
    io: PacketIo,
    /// This session's row in the registry (removed on drop).
    registration: Registration,
    hello: ClientHello,
    shared: Arc<Shared>,
    backend: Option<BackendConn>,
    framing: ClientFraming,
    /// Status flags of the last complete answer.
    status: StatusFlags,
    /// GTID of the last write this session made (CAUSAL reads will wait for it).
    last_gtid: Option<Gtid>,
    /// Current default database, as the server reported it.
    database: Option<Vec<u8>>,
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
    };
    match session.serve(&mut shutdown).await {
        Ok(()) | Err(SessionError::ClientGone(_)) => debug!("session closed"),
        Err(e) => debug!(error = %e, "session ended"),
    }
    session.release_backend();
}

impl Session {
    async fn serve(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), SessionError> {
        if !self.login_backend().await? {
            return Ok(());
        }
        let seq = self.hello.next_seq;
        self.send_ok(seq).await?;
        let killed = std::sync::Arc::clone(&self.registration.killed);
        loop {
            let packet = tokio::select! {
                biased;
                _ = killed.notified() => {
                    debug!("killed by another client");
                    return Ok(());
                }
                _ = shutdown.changed() => {
                    let e = MysqlError::shutdown();
                    self.send_err(0, &e).await?;
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
                Action::Forward(shape) => self.forward(&packet, shape).await?,
                Action::ForwardSilent => self.forward_silent(&packet).await?,
                Action::Reset => self.reset(&packet).await?,
                Action::Unsupported(name) => {
                    debug!(command = name, "unsupported command");
                    self.send_err(packet.next_seq(), &MysqlError::unknown_command(name))
                        .await?;
                }
            }
        }
    }

    /// Takes the primary connection and selects the handshake's database on it. Returns false
    /// when the client was refused (an ERR was sent).
    async fn login_backend(&mut self) -> Result<bool, SessionError> {
        let seq = self.hello.next_seq;
        if let Err(e) = self.ensure_backend().await {
            self.send_backend_error(seq, &e).await?;
            return Ok(false);
        }
        let Some(db) = self.hello.database.clone() else {
            return Ok(true);
        };
        let Some(backend) = self.backend.as_mut() else {
            return Ok(false);
        };
        let mut cmd = Vec::with_capacity(1 + db.len());
        cmd.push(0x02);
        cmd.extend_from_slice(&db);
        match backend.command_ok(&cmd).await {
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

    async fn ensure_backend(&mut self) -> Result<(), BackendError> {
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
        if let Some(db) = self.database.clone() {
            let mut cmd = vec![0x02];
            cmd.extend_from_slice(&db);
            // A database dropped since the session chose it: the session goes on without one,
            // as it would on the server.
            if let Err(e) = conn.command_ok(&cmd).await {
                debug!(error = %e, "could not re-select the session's database");
            }
        }
        debug!(thread_id = conn.thread_id, node = %node.id, "backend attached");
        self.shared
            .registry
            .set_backend(self.id, Some((node.id.clone(), conn.thread_id)));
        self.backend = Some(conn);
        Ok(())
    }

    /// Forwards one command and relays its answer.
    async fn forward(&mut self, packet: &Packet, shape: Shape) -> Result<(), SessionError> {
        if let Err(e) = self.ensure_backend().await {
            return self.send_backend_error(packet.next_seq(), &e).await;
        }
        let Some(backend) = self.backend.as_mut() else {
            return Ok(());
        };
        backend.io.queue_packet(packet.seq, &packet.payload);
        if let Err(e) = backend.io.flush().await {
            return self.backend_lost(packet.next_seq(), e).await;
        }
        let mut summary = Summary {
            next_seq: packet.next_seq(),
            ..Summary::default()
        };
        let mut shape = shape;
        loop {
            let Some(backend) = self.backend.as_mut() else {
                return Ok(());
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
                Err(RelayError::Backend(e)) => return self.backend_lost(summary.next_seq, e).await,
            }
        }
        self.absorb(summary);
        Ok(())
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

    /// Forwards a command that has no answer.
    async fn forward_silent(&mut self, packet: &Packet) -> Result<(), SessionError> {
        if let Some(backend) = self.backend.as_mut() {
            backend.io.queue_packet(packet.seq, &packet.payload);
            if backend.io.flush().await.is_err() {
                self.drop_backend();
            }
        }
        Ok(())
    }

    /// COM_RESET_CONNECTION: the backend connection is reset and the session starts over.
    async fn reset(&mut self, packet: &Packet) -> Result<(), SessionError> {
        self.last_gtid = None;
        self.status = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
        if let Some(backend) = self.backend.as_mut() {
            if let Err(e) = backend.reset().await {
                self.drop_backend();
                return self.send_backend_error(packet.next_seq(), &e).await;
            }
        }
        if let (Some(db), Some(backend)) = (self.database.clone(), self.backend.as_mut()) {
            let mut cmd = vec![0x02];
            cmd.extend_from_slice(&db);
            let _ = backend.command_ok(&cmd).await;
        }
        self.send_ok(packet.next_seq()).await
    }

    fn absorb(&mut self, summary: Summary) {
        if let Some(status) = summary.status {
            self.status = status;
        }
        if let Some(gtid) = summary.last_gtid {
            debug!(%gtid, "write produced a GTID");
            self.last_gtid = Some(gtid);
        }
        if let Some(db) = summary.schema {
            self.database = Some(db);
        }
    }

    /// The backend died mid-command: tell the client (2013) and drop the connection; the
    /// next command opens a new one.
    async fn backend_lost(&mut self, seq: u8, e: std::io::Error) -> Result<(), SessionError> {
        self.drop_backend();
        self.send_backend_error(seq, &BackendError::Io(e)).await
    }

    async fn send_backend_error(&mut self, seq: u8, e: &BackendError) -> Result<(), SessionError> {
        if let BackendError::Refused { payload, .. } = e {
            self.io
                .send_packet(seq, payload)
                .await
                .map_err(SessionError::ClientGone)?;
            return Ok(());
        }
        self.send_err(seq, &MysqlError::from(e)).await
    }

    async fn send_err(&mut self, seq: u8, e: &MysqlError) -> Result<(), SessionError> {
        self.io
            .send_packet(seq, &err_payload(e.code, e.state, &e.message))
            .await
            .map_err(SessionError::ClientGone)?;
        Ok(())
    }

    async fn send_ok(&mut self, seq: u8) -> Result<(), SessionError> {
        let status = self.status.bits().to_le_bytes();
        let ok = [0x00, 0x00, 0x00, status[0], status[1], 0x00, 0x00];
        self.io
            .send_packet(seq, &ok)
            .await
            .map_err(SessionError::ClientGone)?;
        Ok(())
    }

    /// Gives the backend connection back to the pool (reset there) when the session ends.
    fn release_backend(&mut self) {
        if let Some(conn) = self.backend.take() {
            self.shared.pool.put_back(conn);
        }
        self.shared.registry.set_backend(self.id, None);
    }

    /// Forgets a backend connection that failed; the next command opens a new one.
    fn drop_backend(&mut self) {
        self.backend = None;
        self.shared.registry.set_backend(self.id, None);
    }
}
