//! Streams a backend's answer to the client, packet framing intact.
//!
//! The relay walks the answer frame by frame with a small state machine (first packet,
//! column definitions, rows, terminator, more results) so it knows where the answer ends. Row
//! and column bytes are copied through as they arrive, in bounded chunks: a 32 MB row is
//! never held whole. Only OK packets (and old-style EOFs, for one flag) are parsed and, where
//! [`crate::ok_packet`] says so, rewritten; along the way the relay collects what the proxy
//! needs: the final status flags, the `last_gtid`, a schema change.

use bytes::Buf;
use mysql_common::constants::StatusFlags;
use mysql_common::io::ParseBuf;
use std::io;

use crate::gtid::Gtid;
use crate::ok_packet;
use crate::packet::{frame_len, write_frames, ByteStream, PacketIo, MAX_FRAME};

/// Client write buffer size at which the relay flushes mid-answer.
const FLUSH_AT: usize = 128 * 1024;

/// The kind of answer a command produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// OK, ERR, a LOCAL INFILE request, or result sets (COM_QUERY, COM_STMT_EXECUTE,
    /// COM_INIT_DB, COM_PING, COM_SET_OPTION, ...).
    Query,
    /// COM_FIELD_LIST: column definitions up to an EOF, or ERR.
    FieldList,
    /// COM_STATISTICS: one string packet.
    Single,
    /// COM_STMT_PREPARE: a statement OK, then parameter and column definitions.
    Prepare,
    /// COM_STMT_FETCH: rows up to a terminator, or ERR.
    Rows,
}

/// How the client's session frames answers.
#[derive(Debug, Clone, Copy)]
pub struct ClientFraming {
    /// The client negotiated CLIENT_SESSION_TRACK.
    pub tracks_session: bool,
    /// The client negotiated CLIENT_DEPRECATE_EOF.
    pub deprecate_eof: bool,
}

/// What the proxy learned from one answer.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Status flags of the last OK/EOF (None when the answer was only an ERR).
    pub status: Option<StatusFlags>,
    /// GTID the statement produced, if any.
    pub last_gtid: Option<Gtid>,
    /// New default database, if the statement changed it.
    pub schema: Option<Vec<u8>>,
    /// The answer ended with an ERR packet.
    pub error: bool,
    /// Sequence id the client expects next (for an ERR the proxy adds itself).
    pub next_seq: u8,
    /// Bytes were already sent to the client.
    pub sent_any: bool,
    /// Input for [`Shape::Prepare`]: the statement id the client must see instead of the
    /// backend's.
    pub prepare_rewrite: Option<u32>,
    /// Output of [`Shape::Prepare`]: the backend's statement id and parameter count.
    pub prepared: Option<(u32, u16)>,
    /// Input: keep the final OK packet instead of sending it (a STRONG write answers only
    /// once its quorum wait is over).
    pub hold_final_ok: bool,
    /// Input: keep the final OK packet when the answer produced a GTID (the proxy records the
    /// write before the client can learn it committed, so a read that arrives after the OK,
    /// on any connection, finds it in the proxy's newest position).
    pub hold_gtid_ok: bool,
    /// Output with `hold_final_ok` or `hold_gtid_ok`: the final OK, framed, not yet sent.
    pub held_ok: Option<Vec<u8>>,
    /// Warning count of the last OK or EOF (SHOW WARNINGS must find them on this connection).
    pub warnings: u16,
    /// The answer's OK packets reported a generated LAST_INSERT_ID (non-zero).
    pub generated_insert_id: bool,
    /// Input: when the backend connection fails before any byte of the answer was sent,
    /// send the client nothing and report `lost` instead (the caller runs the read again on
    /// another node: [`crate::pipeline::retry_allowed`]).
    pub retry_on_loss: bool,
    /// Input: the command is a COM_STMT_EXECUTE that asks for a cursor, whose answer ends
    /// with the columns' EOF when the server opened one (SERVER_STATUS_CURSOR_EXISTS; the rows
    /// come with FETCH). Only then: a stored procedure's own cursor sets the same flag on the
    /// result sets it sends, which do carry rows.
    pub cursor_execute: bool,
    /// Output with `retry_on_loss`: the connection failed before any byte of the answer
    /// was sent, and the client was told nothing; the error it would have got (its sequence
    /// id and the error), for when no other node can run the read.
    pub lost: Option<(u8, crate::error::MysqlError)>,
}

/// Where the relay stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The answer is complete.
    Done,
    /// The server asked for a LOCAL INFILE: the client's file packets must be forwarded, then
    /// the relay resumes (with [`Shape::Query`]) for the final OK or ERR.
    LocalInfile,
}

/// Which side failed during a relay.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The backend connection broke or sent garbage; the client is still there.
    #[error("backend: {0}")]
    Backend(io::Error),
    /// Writing to the client failed; the session is over.
    #[error("client: {0}")]
    Client(io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    First,
    Columns(u64),
    ColumnsEof,
    /// Prepare answer: parameter definitions left, then column definitions to come.
    PrepareDefs {
        params: u64,
        columns: u64,
    },
    /// An old-style EOF after a block of prepare definitions; column definitions may follow.
    PrepareEof {
        columns: u64,
    },
    Rows,
    FieldList,
    Single,
    Done,
}

/// Relays one answer from `backend` to `client`. Generic over both streams so unit tests can
/// drive it from byte fixtures (see `relay/tests.rs`) and TLS can wrap either side.
pub async fn relay<B: ByteStream, C: ByteStream>(
    backend: &mut PacketIo<B>,
    client: &mut PacketIo<C>,
    shape: Shape,
    framing: ClientFraming,
    summary: &mut Summary,
) -> Result<Step, RelayError> {
    let mut state = match shape {
        Shape::Query => State::First,
        Shape::FieldList => State::FieldList,
        Shape::Single => State::Single,
        Shape::Prepare => State::First,
        Shape::Rows => State::Rows,
    };
    // Bytes of the current frame still to copy through.
    let mut pass: usize = 0;
    // The previous frame was full-length: the next one continues the same packet.
    let mut continuing = false;
    loop {
        if pass > 0 {
            if backend.rbuf.is_empty() {
                fill_backend(backend, client).await?;
            }
            let n = pass.min(backend.rbuf.len());
            client.wbuf.extend_from_slice(&backend.rbuf[..n]);
            backend.rbuf.advance(n);
            summary.sent_any = true;
            pass -= n;
            if client.wbuf.len() >= FLUSH_AT {
                client.flush().await.map_err(RelayError::Client)?;
            }
            continue;
        }
        if state == State::Done && !continuing {
            break;
        }
        if backend.rbuf.len() < 4 {
            fill_backend(backend, client).await?;
            continue;
        }
        let len = frame_len(&backend.rbuf);
        let seq = backend.rbuf[3];
        if continuing {
            if seq != summary.next_seq {
                return Err(RelayError::Backend(protocol(
                    "backend continuation frame out of sequence",
                )));
            }
            continuing = len == MAX_FRAME;
            summary.next_seq = seq.wrapping_add(1);
            pass = 4 + len;
            continue;
        }
        if seq != summary.next_seq {
            return Err(RelayError::Backend(protocol(
                "backend packet out of sequence (left over from an earlier answer?)",
            )));
        }
        let available = backend.rbuf.len() - 4;
        let first = (available > 0 && len > 0).then(|| backend.rbuf[4]);
        let need = bytes_needed(state, len, first, framing);
        if available < need {
            backend.rbuf.reserve(need - available);
            fill_backend(backend, client).await?;
            continue;
        }
        if len == MAX_FRAME && !multi_frame_allowed(state, first) {
            // The packets parsed here (OK, column count, LOCAL INFILE request, EOF) are short
            // by nature: one continued over 16 MB is a broken backend, and it is only
            // partly buffered (see `bytes_needed`), so it must not be sliced.
            return Err(RelayError::Backend(protocol(
                "answer packet of 16 MB or more where a short one belongs",
            )));
        }
        // From here on the decision consumes the frame.
        continuing = len == MAX_FRAME;
        summary.next_seq = seq.wrapping_add(1);
        let is_terminator = |first: Option<u8>| {
            first == Some(0xFE) && len < if framing.deprecate_eof { MAX_FRAME } else { 9 }
        };
        state = match state {
            State::First if shape == Shape::Prepare && first == Some(0x00) => {
                let prepared = &backend.rbuf[4..4 + len];
                if len < 9 {
                    return Err(RelayError::Backend(protocol(
                        "short COM_STMT_PREPARE answer",
                    )));
                }
                let backend_id =
                    u32::from_le_bytes([prepared[1], prepared[2], prepared[3], prepared[4]]);
                let columns = u64::from(u16::from_le_bytes([prepared[5], prepared[6]]));
                let param_count = u16::from_le_bytes([prepared[7], prepared[8]]);
                let params = u64::from(param_count);
                summary.prepared = Some((backend_id, param_count));
                if let Some(client_id) = summary.prepare_rewrite {
                    backend.rbuf[5..9].copy_from_slice(&client_id.to_le_bytes());
                }
                pass = 4 + len;
                next_prepare_block(params, columns, framing)
            }
            State::PrepareDefs { params, columns } => {
                pass = 4 + len;
                if params > 0 {
                    match params - 1 {
                        0 if !framing.deprecate_eof => State::PrepareEof { columns },
                        left => next_prepare_block(left, columns, framing),
                    }
                } else {
                    match columns - 1 {
                        0 if !framing.deprecate_eof => State::PrepareEof { columns: 0 },
                        left => next_prepare_block(0, left, framing),
                    }
                }
            }
            State::PrepareEof { columns } => {
                fix_eof_flags(backend, len, framing);
                pass = 4 + len;
                next_prepare_block(0, columns, framing)
            }
            State::First => match first {
                Some(0x00) => finish_ok(backend, client, len, framing, summary),
                Some(0xFF) => {
                    summary.error = true;
                    pass = 4 + len;
                    State::Done
                }
                Some(0xFE) if len < MAX_FRAME => {
                    finish_terminator(backend, client, len, framing, summary)
                }
                Some(0xFB) => {
                    pass_whole(backend, client, len, summary);
                    client.flush().await.map_err(RelayError::Client)?;
                    return Ok(Step::LocalInfile);
                }
                _ => {
                    let count = ParseBuf(&backend.rbuf[4..4 + len]).checked_eat_lenenc_int();
                    pass = 4 + len;
                    match count {
                        Some(n) if n > 0 => State::Columns(n),
                        _ => return Err(RelayError::Backend(protocol("bad column count"))),
                    }
                }
            },
            State::Columns(n) => {
                pass = 4 + len;
                match (n - 1, framing.deprecate_eof) {
                    (0, true) => State::Rows,
                    (0, false) => State::ColumnsEof,
                    (left, _) => State::Columns(left),
                }
            }
            State::ColumnsEof => {
                // An EXECUTE that opened a cursor ends here: its rows come with FETCH.
                let cursor = summary.cursor_execute
                    && eof_status(backend, len)
                        .is_some_and(|s| s.contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS))
                    && backend.rbuf[4] == 0xFE;
                fix_eof_flags(backend, len, framing);
                pass = 4 + len;
                if cursor {
                    State::Done
                } else {
                    State::Rows
                }
            }
            State::Rows | State::FieldList if first == Some(0xFF) => {
                summary.error = true;
                pass = 4 + len;
                State::Done
            }
            State::Rows | State::FieldList if is_terminator(first) => {
                let next = finish_terminator(backend, client, len, framing, summary);
                if state == State::FieldList {
                    State::Done
                } else {
                    next
                }
            }
            State::Rows | State::FieldList => {
                pass = 4 + len;
                state
            }
            State::Single => {
                pass = 4 + len;
                State::Done
            }
            State::Done => State::Done,
        };
    }
    client.flush().await.map_err(RelayError::Client)?;
    Ok(Step::Done)
}

/// Bytes of payload that must be buffered before the frame can be classified.
fn bytes_needed(state: State, len: usize, first: Option<u8>, framing: ClientFraming) -> usize {
    match state {
        State::Columns(_) | State::Single => 0,
        // A packet parsed whole is buffered whole; a frame of 0xFFFFFF bytes continues in the
        // next one and only its header byte is needed (an ERR streams, anything else is
        // refused: see `multi_frame_allowed`).
        State::First | State::ColumnsEof | State::PrepareEof { .. } if len == MAX_FRAME => 1,
        State::First | State::ColumnsEof | State::PrepareEof { .. } => len,
        State::PrepareDefs { .. } => 0,
        State::Rows | State::FieldList => match first {
            None if len > 0 => 1,
            Some(0xFF) => len,
            Some(0xFE) if len < if framing.deprecate_eof { MAX_FRAME } else { 9 } => len,
            _ => 0,
        },
        State::Done => 0,
    }
}

/// Whether a packet that starts in `state` with header byte `first` may span several frames
/// (be 0xFFFFFF bytes or more): rows, column and prepare definitions and ERR packets are
/// copied through frame by frame; every other packet is parsed, so it must be whole in one
/// frame.
fn multi_frame_allowed(state: State, first: Option<u8>) -> bool {
    match state {
        State::First | State::ColumnsEof | State::PrepareEof { .. } => first == Some(0xFF),
        _ => true,
    }
}

/// The state after a prepare block boundary: more definitions, or the end of the answer.
fn next_prepare_block(params: u64, columns: u64, _framing: ClientFraming) -> State {
    if params == 0 && columns == 0 {
        State::Done
    } else {
        State::PrepareDefs { params, columns }
    }
}

/// Waits for more backend bytes, flushing what the client has been sent so far first (the
/// client should not wait on the proxy while the proxy waits on the backend).
async fn fill_backend<B: ByteStream, C: ByteStream>(
    backend: &mut PacketIo<B>,
    client: &mut PacketIo<C>,
) -> Result<(), RelayError> {
    client.flush().await.map_err(RelayError::Client)?;
    backend.fill().await.map_err(RelayError::Backend)?;
    Ok(())
}

/// Copies one whole frame (header and `len` payload bytes, all buffered) to the client.
fn pass_whole<B, C>(
    backend: &mut PacketIo<B>,
    client: &mut PacketIo<C>,
    len: usize,
    summary: &mut Summary,
) {
    client.wbuf.extend_from_slice(&backend.rbuf[..4 + len]);
    backend.rbuf.advance(4 + len);
    summary.sent_any = true;
}

/// Handles an OK packet (header 0x00) that ends a statement's answer.
fn finish_ok<B, C>(
    backend: &mut PacketIo<B>,
    client: &mut PacketIo<C>,
    len: usize,
    framing: ClientFraming,
    summary: &mut Summary,
) -> State {
    let seq = backend.rbuf[3];
    let frame = &backend.rbuf[..4 + len];
    let rewritten = ok_packet::rewrite_for_client(&frame[4..], framing.tracks_session);
    let (payload, next) = match rewritten {
        Some(r) => {
            summary.warnings = r.warnings;
            summary.generated_insert_id |= r.last_insert_id != 0;
            let next = absorb(summary, r.status, r.changes);
            (r.payload, next)
        }
        None => (None, State::Done),
    };
    let wanted = summary.hold_final_ok || (summary.hold_gtid_ok && summary.last_gtid.is_some());
    let hold = wanted && next == State::Done && frame[4] == 0x00;
    if hold {
        let mut held = bytes::BytesMut::new();
        match payload {
            Some(p) => {
                write_frames(&mut held, seq, &p);
            }
            None => held.extend_from_slice(frame),
        }
        // The buffer itself, not a copy of it.
        summary.held_ok = Some(Vec::from(held));
    } else {
        summary.sent_any = true;
        match payload {
            Some(p) => {
                write_frames(&mut client.wbuf, seq, &p);
            }
            None => client.wbuf.extend_from_slice(frame),
        }
    }
    backend.rbuf.advance(4 + len);
    next
}

/// Handles a 0xFE packet that ends a result set: an old-style EOF, or an OK packet with the
/// 0xFE header when the client negotiated CLIENT_DEPRECATE_EOF.
fn finish_terminator<B, C>(
    backend: &mut PacketIo<B>,
    client: &mut PacketIo<C>,
    len: usize,
    framing: ClientFraming,
    summary: &mut Summary,
) -> State {
    if framing.deprecate_eof {
        return finish_ok(backend, client, len, framing, summary);
    }
    fix_eof_flags(backend, len, framing);
    let status = eof_status(backend, len);
    if len >= 5 {
        summary.warnings = u16::from_le_bytes([backend.rbuf[5], backend.rbuf[6]]);
    }
    pass_whole(backend, client, len, summary);
    match status {
        Some(s) => absorb(summary, s, ok_packet::SessionChanges::default()),
        None => State::Done,
    }
}

/// The status flags of the old-style EOF at the head of the read buffer (payload `len`
/// bytes), None when it is too short to carry them.
fn eof_status<B>(backend: &PacketIo<B>, len: usize) -> Option<StatusFlags> {
    (len >= 5).then(|| {
        StatusFlags::from_bits_retain(u16::from_le_bytes([backend.rbuf[7], backend.rbuf[8]]))
    })
}

/// Clears SERVER_SESSION_STATE_CHANGED in an old-style EOF for a client that cannot know it.
fn fix_eof_flags<B>(backend: &mut PacketIo<B>, len: usize, framing: ClientFraming) {
    if !framing.tracks_session && len >= 5 && backend.rbuf[4] == 0xFE {
        let bit = StatusFlags::SERVER_SESSION_STATE_CHANGED
            .bits()
            .to_le_bytes();
        backend.rbuf[7] &= !bit[0];
        backend.rbuf[8] &= !bit[1];
    }
}

/// Records an end-of-statement status and says whether more results follow.
fn absorb(summary: &mut Summary, status: StatusFlags, changes: ok_packet::SessionChanges) -> State {
    summary.status = Some(status);
    if changes.last_gtid.is_some() {
        summary.last_gtid = changes.last_gtid;
    }
    if changes.schema.is_some() {
        summary.schema = changes.schema;
    }
    if status.contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS) {
        State::First
    } else {
        State::Done
    }
}

fn protocol(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests;
