//! One raw connection to a MariaDB server, opened with exactly the flags and collation of the
//! client it serves (plus CLIENT_SESSION_TRACK and `last_gtid` tracking for the proxy).

use bytes::BufMut;
use mysql_common::constants::{
    CapabilityFlags, ColumnType, Command, MariadbCapabilities, StatusFlags,
};
use mysql_common::io::{BufMutExt, ParseBuf};
use mysql_common::packets::{AuthSwitchRequest, Column, HandshakePacket};
use mysql_common::proto::MyDeserialize;
use mysql_common::scramble::scramble_native;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::prepared::PreparedCache;
use super::tls::{BackendStream, BackendTls};
use crate::config::BackendNode;
use crate::error::BackendError;
use crate::packet::{parse_err, PacketIo};

/// Largest packet the proxy accepts from a backend in the small conversations it parses
/// whole (handshake, OK of internal statements).
const MAX_CONTROL_PACKET: usize = 1 << 24;

/// COM_QUERY, as the byte that starts a command packet.
pub const COM_QUERY: u8 = Command::COM_QUERY as u8;
/// COM_STMT_PREPARE, as the byte that starts a command packet.
pub const COM_STMT_PREPARE: u8 = Command::COM_STMT_PREPARE as u8;
/// COM_STMT_CLOSE, as the byte that starts a command packet.
pub const COM_STMT_CLOSE: u8 = Command::COM_STMT_CLOSE as u8;
/// COM_RESET_CONNECTION, as the byte that starts a command packet.
pub const COM_RESET_CONNECTION: u8 = Command::COM_RESET_CONNECTION as u8;

/// Makes the server report the GTID of every write in its OK packet, on top of whatever the
/// server's own default tracks.
const TRACK_LAST_GTID: &str = "SET SESSION session_track_system_variables = \
     IF(@@global.session_track_system_variables = '', 'last_gtid', \
     CONCAT(@@global.session_track_system_variables, ',last_gtid'))";

/// Adds `last_gtid` to the session's tracked variables when a client's SET left it out,
/// keeping the rest of the client's list.
const ENSURE_LAST_GTID: &str = "SET SESSION session_track_system_variables = \
     IF(FIND_IN_SET('last_gtid', @@session.session_track_system_variables) > 0, \
     @@session.session_track_system_variables, \
     IF(@@session.session_track_system_variables = '', 'last_gtid', \
     CONCAT(@@session.session_track_system_variables, ',last_gtid')))";

/// A statement's whole answer, buffered (see [`BackendConn::query_full`]).
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    /// The statement returned rows (else it returned an OK).
    pub is_result_set: bool,
    /// Column names and types of the first result set.
    pub columns: Vec<(String, ColumnType)>,
    /// Its rows, text values, None for NULL.
    pub rows: Vec<Vec<Option<Vec<u8>>>>,
    /// Rows changed (OK answers).
    pub affected_rows: u64,
    /// LAST_INSERT_ID of the statement (OK answers).
    pub last_insert_id: u64,
    /// Warning count (OK answers).
    pub warnings: u16,
    /// Info string (OK answers).
    pub info: String,
    /// The GTID the statement produced, if it wrote anything.
    pub last_gtid: Option<crate::gtid::Gtid>,
    /// Status flags of the answer's last packet (an open transaction shows here), if it
    /// carried them.
    pub status: Option<StatusFlags>,
    /// The first result set had more rows than [`ResultCaps`] allowed: `rows` holds the ones
    /// that fit, the rest were read and dropped.
    pub truncated: bool,
}

/// Bounds on what [`BackendConn::query_capped`] keeps of a result set, so a `SELECT` over a
/// big table cannot make the HTTP `/query` path buffer it whole. Rows past a cap are still
/// read (the connection stays in step with the server) but not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultCaps {
    /// Most rows kept.
    pub max_rows: usize,
    /// Most bytes kept, counted as the values' lengths plus each column name once per row
    /// (a row becomes a JSON object keyed by column name).
    pub max_bytes: usize,
}

impl ResultCaps {
    /// No bound: the proxy's own small queries (MASTER_GTID_WAIT, SHOW WARNINGS).
    pub const UNLIMITED: ResultCaps = ResultCaps {
        max_rows: usize::MAX,
        max_bytes: usize::MAX,
    };
}

/// What a backend said about itself in its greeting (the start-up probe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// Version string, e.g. `5.5.5-10.11.19-MariaDB-0+deb12u1`.
    pub version: String,
    /// Capabilities offered.
    pub capabilities: CapabilityFlags,
    /// MariaDB extended capabilities offered.
    pub mariadb_capabilities: MariadbCapabilities,
    /// Default collation id.
    pub collation: u8,
}

/// Identity of interchangeable backend connections: the pool key of DESIGN.md section 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackendKey {
    /// Account the connection is logged in as (shared with the session: a key is built for
    /// every statement, without a copy).
    pub user: Arc<str>,
    /// Node id (shared with the topology).
    pub node: Arc<str>,
    /// Negotiated capability flags.
    pub capabilities: u32,
    /// Negotiated MariaDB extended capabilities.
    pub mariadb_capabilities: u32,
    /// Connection collation.
    pub collation: u8,
    /// The session thread whose reactor the socket is registered with
    /// ([`crate::workers::current`]): connections are reused on their own thread only.
    pub worker: crate::workers::WorkerId,
}

/// A logged-in backend connection.
#[derive(Debug)]
pub struct BackendConn {
    /// Framed socket, plain or TLS (`[proxy.backend_tls]`).
    pub io: PacketIo<BackendStream>,
    /// The server's thread id (what `CONNECTION_ID()` returns on it).
    pub thread_id: u32,
    /// Pool key.
    pub key: BackendKey,
    /// When it last went idle (pool eviction).
    pub idle_since: Instant,
    /// A command was sent and its answer not read to its end (the client went away
    /// mid-result): unread packets may follow, so the pool closes it instead of reusing it.
    pub answer_pending: bool,
    /// Its places under the pool's connection caps, given back when it is dropped.
    pub permits: Option<super::pool::Permits>,
    /// The session state it holds, given back between statements (statement multiplexing):
    /// a fingerprint of the database and settings replayed on it. None: reset, or fresh.
    pub state: Option<u64>,
    /// The statements prepared on it, by text.
    pub prepared: PreparedCache,
    /// A statement ran on it that may have left session state the proxy does not record
    /// (a stored procedure or function, multi-statement text, SET TRANSACTION, a statement
    /// the classifier does not know): it is never given back between statements, only
    /// reset. Cleared by a reset.
    pub tainted: bool,
}

/// COM_QUIT in one frame: payload length 1, sequence id 0.
const QUIT_FRAME: [u8; 5] = [1, 0, 0, 0, 0x01];

impl Drop for BackendConn {
    /// Says goodbye before the socket closes. Without COM_QUIT, every connection the pool
    /// trims, evicts or gives up on ends on the server as "Aborted connection ... Got an error
    /// reading communication packets" in its error log and one more `Aborted_clients`, which
    /// is what operators watch for network trouble. One non-blocking `send(2)` of five bytes
    /// straight on the socket: it needs no runtime (the connection may be dropped on a thread
    /// whose reactor it does not belong to) and an idle socket's send buffer always has room.
    /// Nothing is sent over TLS (a plaintext byte would break the record stream; the server
    /// logs those closes as before), after a half-sent packet, or while an answer is still
    /// coming (the server is busy sending it and the unread bytes reset the socket anyway).
    fn drop(&mut self) {
        if self.io.has_unsent() || self.answer_pending {
            return;
        }
        if let BackendStream::Plain(socket) = self.io.stream() {
            let _ = socket2::SockRef::from(socket).send_with_flags(&QUIT_FRAME, libc::MSG_NOSIGNAL);
        }
    }
}

/// Reads a server's greeting and hangs up: version, capabilities and default collation.
pub async fn probe(
    node: &BackendNode,
    limit: std::time::Duration,
) -> Result<ServerInfo, BackendError> {
    let run = async {
        let stream = tcp_connect(&node.addr).await?;
        let mut io = PacketIo::new(stream);
        let greeting = io.read_packet(MAX_CONTROL_PACKET).await.map_err(read_err)?;
        let hs = parse_greeting(&greeting.payload)?;
        io.shutdown().await;
        Ok(ServerInfo {
            version: hs.server_version_str().into_owned(),
            capabilities: hs.capabilities(),
            mariadb_capabilities: hs.mariadb_ext_capabilities(),
            collation: hs.default_collation(),
        })
    };
    timeout(limit, run)
        .await
        .map_err(|_| BackendError::ConnectTimeout {
            addr: node.addr.clone(),
        })?
}

/// Opens and logs in a connection for `key` with `password`, forwarding the client's
/// connection attributes, then turns on `last_gtid` tracking. With `tls`, the connection
/// switches to TLS after the greeting (SSLRequest, handshake, certificate verified) and the
/// login runs encrypted; a server that does not offer TLS is refused, never used in
/// plaintext.
pub async fn connect(
    node: &BackendNode,
    key: BackendKey,
    password: &str,
    attrs: &HashMap<String, String>,
    limit: std::time::Duration,
    tls: Option<&BackendTls>,
) -> Result<BackendConn, BackendError> {
    let addr = node.addr.clone();
    let run = async {
        let stream = tcp_connect(&node.addr).await?;
        let mut io = PacketIo::over(BackendStream::plain(stream));
        let greeting = io.read_packet(MAX_CONTROL_PACKET).await.map_err(read_err)?;
        let hs = parse_greeting(&greeting.payload)?;
        let thread_id = hs.connection_id();
        let nonce = hs.nonce();
        let mut flags = key.capabilities;
        let mut seq = greeting.next_seq();
        if let Some(tls) = tls {
            if !hs.capabilities().contains(CapabilityFlags::CLIENT_SSL) {
                return Err(BackendError::Tls {
                    addr: node.addr.clone(),
                    reason: "the server does not offer TLS (start it with ssl_cert and ssl_key)"
                        .to_owned(),
                });
            }
            flags |= CapabilityFlags::CLIENT_SSL.bits();
            io.send_packet(seq, &ssl_request(flags, &key)).await?;
            if !io.rbuf.is_empty() {
                return Err(BackendError::Protocol(
                    "the server spoke before the TLS handshake".to_owned(),
                ));
            }
            io.stream_mut().start_tls(tls, &node.addr).await?;
            seq = seq.wrapping_add(1);
        }
        let scramble = scramble_native(&nonce, password.as_bytes())
            .map(|s| s.to_vec())
            .unwrap_or_default();
        let response = handshake_response(flags, &key, &scramble, attrs);
        io.send_packet(seq, &response).await?;
        loop {
            let reply = io.read_packet(MAX_CONTROL_PACKET).await.map_err(read_err)?;
            match reply.payload.first() {
                Some(0x00) => break,
                Some(0xFF) => return Err(refused(&reply.payload)),
                Some(0xFE) => {
                    let switch = AuthSwitchRequest::deserialize((), &mut ParseBuf(&reply.payload))
                        .map_err(|e| BackendError::Protocol(format!("auth switch: {e}")))?;
                    let plugin = switch.auth_plugin().as_bytes().to_vec();
                    if plugin != b"mysql_native_password" {
                        return Err(BackendError::UnsupportedAuth(
                            String::from_utf8_lossy(&plugin).into_owned(),
                        ));
                    }
                    let answer = scramble_native(switch.plugin_data(), password.as_bytes())
                        .map(|s| s.to_vec())
                        .unwrap_or_default();
                    io.send_packet(reply.next_seq(), &answer).await?;
                }
                _ => {
                    return Err(BackendError::UnsupportedAuth(
                        "a multi-step method (auth more data)".to_owned(),
                    ))
                }
            }
        }
        let mut conn = BackendConn {
            io,
            thread_id,
            key,
            idle_since: Instant::now(),
            answer_pending: false,
            permits: None,
            state: None,
            prepared: PreparedCache::default(),
            tainted: false,
        };
        conn.query_ok(TRACK_LAST_GTID).await?;
        Ok(conn)
    };
    timeout(limit, run)
        .await
        .map_err(|_| BackendError::ConnectTimeout { addr })?
}

impl BackendConn {
    /// Runs a statement that answers OK (internal SETs); the OK payload is returned.
    pub async fn query_ok(&mut self, sql: &str) -> Result<Vec<u8>, BackendError> {
        let mut payload = Vec::with_capacity(1 + sql.len());
        payload.push(COM_QUERY);
        payload.extend_from_slice(sql.as_bytes());
        self.command_ok(&payload).await
    }

    /// Runs a text query for the proxy's own use and returns its rows (text values, None
    /// for NULL). Meant for small answers (MASTER_GTID_WAIT, SHOW WARNINGS).
    pub async fn query_rows(
        &mut self,
        sql: &str,
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, BackendError> {
        Ok(self.query_full(sql.as_bytes()).await?.rows)
    }

    /// Runs a text query and buffers its whole answer: the first result set (column names
    /// and types, text values) or the OK, with the GTID the statement produced. Further
    /// result sets of a multi-statement are read and dropped. For the HTTP `/query` path,
    /// whose answers are JSON documents, not streams.
    pub async fn query_full(&mut self, sql: &[u8]) -> Result<QueryResult, BackendError> {
        self.query_capped(sql, ResultCaps::UNLIMITED).await
    }

    /// [`Self::query_full`] keeping at most what `caps` allows of the first result set
    /// ([`QueryResult::truncated`] says when rows were dropped).
    pub async fn query_capped(
        &mut self,
        sql: &[u8],
        caps: ResultCaps,
    ) -> Result<QueryResult, BackendError> {
        let mut payload = Vec::with_capacity(1 + sql.len());
        payload.push(COM_QUERY);
        payload.extend_from_slice(sql);
        self.io.send_packet(0, &payload).await?;
        let mut result = QueryResult::default();
        let mut first = true;
        loop {
            let head = self
                .io
                .read_packet(MAX_CONTROL_PACKET)
                .await
                .map_err(read_err)?;
            let more = match head.payload.first() {
                Some(0xFF) => return Err(refused(&head.payload)),
                Some(0x00) => self.absorb_ok(&head.payload, first, &mut result),
                Some(0xFB) => {
                    // LOCAL INFILE request: the HTTP path sends no file.
                    self.io.send_packet(head.next_seq(), &[]).await?;
                    continue;
                }
                _ => {
                    self.read_result_set(&head.payload, first, caps, &mut result)
                        .await?
                }
            };
            first = false;
            if !more {
                return Ok(result);
            }
        }
    }

    /// Records an OK's fields (the first statement's) and its GTID; returns MORE_RESULTS.
    fn absorb_ok(&self, payload: &[u8], first: bool, result: &mut QueryResult) -> bool {
        let Some(ok) = crate::ok_packet::parse_tracked(payload) else {
            return false;
        };
        if first {
            result.affected_rows = ok.affected_rows;
            result.last_insert_id = ok.last_insert_id;
            result.warnings = ok.warnings;
            result.info = String::from_utf8_lossy(ok.info).into_owned();
        }
        if let Some(state) = ok.session_state {
            let (changes, _) = crate::ok_packet::split_session_state(state, false);
            if changes.last_gtid.is_some() {
                result.last_gtid = changes.last_gtid;
            }
        }
        result.status = Some(ok.status);
        ok.status.contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS)
    }

    /// Reads one result set after its column-count packet; returns MORE_RESULTS.
    async fn read_result_set(
        &mut self,
        head: &[u8],
        first: bool,
        caps: ResultCaps,
        result: &mut QueryResult,
    ) -> Result<bool, BackendError> {
        let count = ParseBuf(head)
            .checked_eat_lenenc_int()
            .ok_or_else(|| BackendError::Protocol("bad column count".to_owned()))?;
        let mut columns = Vec::new();
        for _ in 0..count {
            let def = self
                .io
                .read_packet(MAX_CONTROL_PACKET)
                .await
                .map_err(read_err)?;
            let plain;
            let payload = if self.extended_metadata() {
                plain = without_extended_metadata(&def.payload).ok_or_else(|| {
                    BackendError::Protocol("column definition: bad extended metadata".to_owned())
                })?;
                &plain[..]
            } else {
                &def.payload[..]
            };
            let column = Column::deserialize((), &mut ParseBuf(payload))
                .map_err(|e| BackendError::Protocol(format!("column definition: {e}")))?;
            columns.push((column.name_str().into_owned(), column.column_type()));
        }
        if !self.deprecates_eof() {
            self.io
                .read_packet(MAX_CONTROL_PACKET)
                .await
                .map_err(read_err)?;
        }
        let mut rows = Vec::new();
        let mut kept_bytes = 0usize;
        let mut full = !first;
        loop {
            let packet = self
                .io
                .read_packet(MAX_CONTROL_PACKET)
                .await
                .map_err(read_err)?;
            let p = &packet.payload;
            match p.first() {
                Some(0xFF) => return Err(refused(p)),
                Some(0xFE) if p.len() < 0xFF_FFFF && (p.len() < 9 || self.deprecates_eof()) => {
                    let status = if self.deprecates_eof() {
                        crate::ok_packet::parse_tracked(p).map(|ok| ok.status)
                    } else {
                        (p.len() >= 5).then(|| {
                            StatusFlags::from_bits_retain(u16::from_le_bytes([p[3], p[4]]))
                        })
                    };
                    if first {
                        result.columns = columns;
                        result.rows = rows;
                        result.is_result_set = true;
                    }
                    result.status = status;
                    return Ok(
                        status.is_some_and(|s| s.contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS))
                    );
                }
                _ => {}
            }
            if full {
                result.truncated |= first;
                continue;
            }
            let mut buf = ParseBuf(p);
            let mut row = Vec::with_capacity(columns.len());
            for _ in 0..columns.len() {
                if buf.0.first() == Some(&0xFB) {
                    buf.skip(1);
                    row.push(None);
                } else {
                    let v = buf
                        .checked_eat_lenenc_str()
                        .ok_or_else(|| BackendError::Protocol("bad text row".to_owned()))?;
                    row.push(Some(v.to_vec()));
                }
            }
            let size: usize = row
                .iter()
                .zip(&columns)
                .map(|(v, (name, _))| v.as_ref().map_or(4, Vec::len) + name.len() + 4)
                .sum();
            if rows.len() >= caps.max_rows || kept_bytes.saturating_add(size) > caps.max_bytes {
                full = true;
                result.truncated = true;
                continue;
            }
            kept_bytes += size;
            rows.push(row);
        }
    }

    /// Sends one command whose whole answer is a single OK or ERR packet.
    pub async fn command_ok(&mut self, payload: &[u8]) -> Result<Vec<u8>, BackendError> {
        self.io.send_packet(0, payload).await?;
        let reply = self
            .io
            .read_packet(MAX_CONTROL_PACKET)
            .await
            .map_err(read_err)?;
        if reply.seq != 1 {
            // A packet left over from an earlier answer, not the reply to this command.
            return Err(BackendError::Protocol(format!(
                "reply out of sequence (id {})",
                reply.seq
            )));
        }
        match reply.payload.first() {
            Some(0x00) => Ok(reply.payload.to_vec()),
            Some(0xFF) => Err(refused(&reply.payload)),
            _ => Err(BackendError::Protocol("expected OK or ERR".to_owned())),
        }
    }

    /// Prepares `sql` for the proxy's own use (re-preparing a client's statement on a new
    /// connection): the definitions the server sends are read and dropped. Returns the
    /// backend statement id and parameter count.
    pub async fn prepare(&mut self, sql: &[u8]) -> Result<(u32, u16), BackendError> {
        let mut payload = Vec::with_capacity(1 + sql.len());
        payload.push(COM_STMT_PREPARE);
        payload.extend_from_slice(sql);
        self.io.send_packet(0, &payload).await?;
        let first = self
            .io
            .read_packet(MAX_CONTROL_PACKET)
            .await
            .map_err(read_err)?;
        let p = &first.payload;
        if p.first() == Some(&0xFF) {
            return Err(refused(p));
        }
        if p.len() < 9 || p[0] != 0x00 {
            return Err(BackendError::Protocol(
                "bad COM_STMT_PREPARE answer".to_owned(),
            ));
        }
        let id = u32::from_le_bytes([p[1], p[2], p[3], p[4]]);
        let columns = usize::from(u16::from_le_bytes([p[5], p[6]]));
        let params = u16::from_le_bytes([p[7], p[8]]);
        let eof = usize::from(!self.deprecates_eof());
        let mut left = 0;
        for block in [usize::from(params), columns] {
            if block > 0 {
                left += block + eof;
            }
        }
        for _ in 0..left {
            self.io
                .read_packet(MAX_CONTROL_PACKET)
                .await
                .map_err(read_err)?;
        }
        Ok((id, params))
    }

    /// Whether column definitions on this connection carry MariaDB's extended metadata (the
    /// client negotiated MARIADB_CLIENT_EXTENDED_METADATA, and backend connections request
    /// exactly the client's flags).
    fn extended_metadata(&self) -> bool {
        self.key.mariadb_capabilities & MariadbCapabilities::MARIADB_CLIENT_EXTENDED_METADATA.bits()
            != 0
    }

    /// The connection negotiated CLIENT_DEPRECATE_EOF.
    pub fn deprecates_eof(&self) -> bool {
        self.key.capabilities & CapabilityFlags::CLIENT_DEPRECATE_EOF.bits() != 0
    }

    /// Makes the connection fit for another client: COM_RESET_CONNECTION (session
    /// variables, temporary tables, prepared statements, locks and transactions all go),
    /// then `last_gtid` tracking again.
    pub async fn reset(&mut self) -> Result<(), BackendError> {
        self.state = None;
        self.prepared.clear();
        self.tainted = false;
        self.command_ok(&[COM_RESET_CONNECTION]).await?;
        self.query_ok(TRACK_LAST_GTID).await?;
        Ok(())
    }

    /// Records that `sql` is prepared on this connection as `id` ([`PreparedCache`]); the
    /// statements the cache lets go (not `in_use` by the session holding the connection)
    /// are closed on the server with the next command sent (COM_STMT_CLOSE has no answer).
    pub fn remember_prepared(
        &mut self,
        sql: &[u8],
        id: u32,
        params: u16,
        in_use: impl Fn(u32) -> bool,
    ) {
        for closed in self.prepared.insert(sql, id, params, in_use) {
            self.queue_close(closed);
        }
    }

    /// Closes statement `id` if this connection's cache holds it (sent with the next
    /// command).
    pub fn forget_prepared(&mut self, id: u32) {
        if self.prepared.remove_id(id) {
            self.queue_close(id);
        }
    }

    /// Queues COM_STMT_CLOSE of statement `id` (no answer comes).
    fn queue_close(&mut self, id: u32) {
        let mut close = [COM_STMT_CLOSE, 0, 0, 0, 0];
        close[1..].copy_from_slice(&id.to_le_bytes());
        self.io.queue_packet(0, &close);
    }

    /// Makes the server report `last_gtid` again after the client changed
    /// `session_track_system_variables` (its own list stays, merged).
    pub async fn ensure_gtid_tracking(&mut self) -> Result<(), BackendError> {
        self.query_ok(ENSURE_LAST_GTID).await.map(|_| ())
    }
}

/// Keepalive idle time of backend sockets: a server that vanished (power, network) is found
/// by the kernel while its connection sits idle in the pool or pinned by a session.
const BACKEND_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(60);

async fn tcp_connect(addr: &str) -> Result<TcpStream, BackendError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| BackendError::Connect {
            addr: addr.to_owned(),
            source,
        })?;
    crate::limits::set_keepalive(&stream, Some(BACKEND_KEEPALIVE));
    Ok(stream)
}

fn parse_greeting(payload: &[u8]) -> Result<HandshakePacket<'_>, BackendError> {
    if payload.first() == Some(&0xFF) {
        return Err(refused(payload));
    }
    HandshakePacket::deserialize((), &mut ParseBuf(payload))
        .map_err(|e| BackendError::Protocol(format!("greeting: {e}")))
}

/// The SSLRequest: the fixed 32-byte head of a handshake response (capabilities with
/// CLIENT_SSL, max packet, collation, filler, MariaDB capabilities), sent before the TLS
/// handshake.
fn ssl_request(flags: u32, key: &BackendKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    put_response_head(&mut out, flags, key);
    out
}

/// The head both the SSLRequest and the handshake response start with (32 bytes).
fn put_response_head(out: &mut Vec<u8>, flags: u32, key: &BackendKey) {
    out.put_u32_le(flags);
    out.put_u32_le(0x0100_0000);
    out.put_u8(key.collation);
    out.put_slice(&[0u8; 19]);
    out.put_u32_le(key.mariadb_capabilities);
}

/// Builds HandshakeResponse41 by hand: mysql_common's builder fixes the collation, and the
/// backend must use the client's. `flags` are the key's capabilities, plus CLIENT_SSL on a
/// TLS connection.
fn handshake_response(
    flags: u32,
    key: &BackendKey,
    scramble: &[u8],
    attrs: &HashMap<String, String>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    put_response_head(&mut out, flags, key);
    out.put_slice(key.user.as_bytes());
    out.put_u8(0);
    out.put_lenenc_str(scramble);
    out.put_slice(b"mysql_native_password");
    out.put_u8(0);
    let mut encoded = Vec::new();
    for (k, v) in attrs {
        encoded.put_lenenc_str(k.as_bytes());
        encoded.put_lenenc_str(v.as_bytes());
    }
    out.put_lenenc_str(&encoded);
    out
}

fn refused(payload: &[u8]) -> BackendError {
    let (code, state, message) = parse_err(payload).unwrap_or((
        2013,
        "HY000".to_owned(),
        "malformed error packet".to_owned(),
    ));
    BackendError::Refused {
        code,
        state,
        message,
        payload: payload.to_vec(),
    }
}

/// Maps a framing error on a backend socket.
pub fn read_err(e: crate::packet::ReadError) -> BackendError {
    match e {
        crate::packet::ReadError::Io(e) => BackendError::Io(e),
        crate::packet::ReadError::TooLarge(n) => {
            BackendError::Protocol(format!("packet over {n} bytes"))
        }
    }
}

/// A column definition without MariaDB's extended metadata field (the length-encoded string
/// after the six names), in the layout mysql_common parses. None when the packet is too short.
fn without_extended_metadata(def: &[u8]) -> Option<Vec<u8>> {
    let mut buf = ParseBuf(def);
    for _ in 0..6 {
        buf.checked_eat_lenenc_str()?;
    }
    let names = def.len() - buf.0.len();
    buf.checked_eat_lenenc_str()?;
    let mut plain = Vec::with_capacity(def.len());
    plain.extend_from_slice(&def[..names]);
    plain.extend_from_slice(buf.0);
    Some(plain)
}

#[cfg(test)]
mod extended_metadata_tests {
    use super::without_extended_metadata;

    /// Six names, MariaDB's extended metadata (one `format` entry), then the fixed fields.
    #[test]
    fn the_extended_field_is_cut_out() {
        let mut names = Vec::new();
        for name in ["def", "app", "t", "t", "id", "id"] {
            names.push(name.len() as u8);
            names.extend_from_slice(name.as_bytes());
        }
        let fixed = [0x0c, 0x3f, 0, 11, 0, 0, 0, 3, 0, 0, 0, 0, 0];
        let extended = [5, 1, 3, b'u', b'u', b'i'];
        let def = [&names[..], &extended, &fixed].concat();
        assert_eq!(
            without_extended_metadata(&def),
            Some([&names[..], &fixed].concat())
        );
        assert_eq!(without_extended_metadata(&names[..10]), None);
    }
}
