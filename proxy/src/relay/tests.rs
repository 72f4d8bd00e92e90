//! The relay driven from byte fixtures, in the manner of readyset's `mysql-srv` tests: a
//! backend stream holding hand-built packets, a client stream capturing what the relay
//! writes, and assertions on the exact client bytes and the returned [`Summary`] / [`Step`].
//!
//! Small fixtures are replayed with the backend's bytes arriving 1, 3 and 64 KiB at a time,
//! so every "not buffered yet, read more" branch of the state machine is taken.

use bytes::{BufMut, BytesMut};
use mysql_common::constants::{ColumnType, StatusFlags};
use mysql_common::io::BufMutExt;
use mysql_common::packets::Column;
use mysql_common::proto::MySerialize;
use std::io;

use super::*;
use crate::mem_stream::Mem;
use crate::packet::{err_payload, write_frames, PacketIo, MAX_FRAME};

/// How many bytes one backend read may return, for the small fixtures.
const CHUNKS: [usize; 3] = [1, 3, 64 * 1024];

const AUTOCOMMIT: StatusFlags = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
const MORE: StatusFlags = StatusFlags::SERVER_MORE_RESULTS_EXISTS;
const CHANGED: StatusFlags = StatusFlags::SERVER_SESSION_STATE_CHANGED;

/// Client framings: the modern one, and an old client (EOF packets, no session tracking).
const MODERN: ClientFraming = ClientFraming {
    tracks_session: true,
    deprecate_eof: true,
};
const OLD: ClientFraming = ClientFraming {
    tracks_session: false,
    deprecate_eof: false,
};

/// A backend answer being written: packets framed with consecutive sequence ids.
struct Wire {
    bytes: BytesMut,
    seq: u8,
}

impl Wire {
    /// An answer whose first packet has sequence id `seq` (1 after a client command).
    fn from(seq: u8) -> Self {
        Self {
            bytes: BytesMut::new(),
            seq,
        }
    }

    fn packet(mut self, payload: &[u8]) -> Self {
        self.seq = write_frames(&mut self.bytes, self.seq, payload);
        self
    }

    /// Bytes that end mid-way, as when the backend dies while sending.
    fn truncated(mut self, bytes: &[u8]) -> Self {
        self.bytes.extend_from_slice(bytes);
        self
    }

    fn next_seq(&self) -> u8 {
        self.seq
    }

    fn bytes(&self) -> Vec<u8> {
        self.bytes.to_vec()
    }
}

/// An OK packet payload (`header` 0x00, or 0xFE ending a result set) for a connection with
/// CLIENT_SESSION_TRACK; `state` is the session-state block, when there is one.
fn ok(header: u8, status: StatusFlags, state: Option<&[u8]>) -> Vec<u8> {
    let mut p = vec![header];
    p.put_lenenc_int(1);
    p.put_lenenc_int(0);
    let status = match state {
        Some(_) => status | CHANGED,
        None => status,
    };
    p.put_u16_le(status.bits());
    p.put_u16_le(0);
    if let Some(state) = state {
        p.put_lenenc_str(b"");
        p.put_lenenc_str(state);
    }
    p
}

/// A session-state entry reporting a changed system variable.
fn sysvar(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    data.put_lenenc_str(name);
    data.put_lenenc_str(value);
    let mut entry = vec![0x00];
    entry.put_lenenc_str(&data);
    entry
}

/// An old-style EOF packet payload.
fn eof(status: StatusFlags) -> Vec<u8> {
    let mut p = vec![0xFE];
    p.put_u16_le(0);
    p.put_u16_le(status.bits());
    p
}

/// A result set's first packet: the column count.
fn column_count(n: u64) -> Vec<u8> {
    let mut p = Vec::new();
    p.put_lenenc_int(n);
    p
}

/// A column definition, encoded by mysql_common.
fn column(name: &str) -> Vec<u8> {
    let mut p = Vec::new();
    Column::new(ColumnType::MYSQL_TYPE_VAR_STRING)
        .with_schema(b"app")
        .with_table(b"t")
        .with_name(name.as_bytes())
        .with_character_set(45)
        .serialize(&mut p);
    p
}

/// A text-protocol row (None is NULL).
fn row(values: &[Option<&[u8]>]) -> Vec<u8> {
    let mut p = Vec::new();
    for v in values {
        match v {
            Some(v) => p.put_lenenc_str(v),
            None => p.put_u8(0xFB),
        }
    }
    p
}

/// A text row holding one string, `len` payload bytes in all: a 4-byte length (0xFD) below
/// 16 MB of data, a 9-byte one (0xFE) from there on.
fn long_row(len: usize) -> Vec<u8> {
    let data = if len - 4 < 1 << 24 { len - 4 } else { len - 9 };
    let mut p = Vec::with_capacity(len);
    p.put_lenenc_str(&vec![b'x'; data]);
    assert_eq!(p.len(), len, "the row has the asked-for length");
    p
}

/// What one relay call did.
struct Relayed {
    step: Result<Step, RelayError>,
    summary: Summary,
    client: Vec<u8>,
    backend: PacketIo<Mem>,
}

/// Relays the answer in `input` (arriving `chunk` bytes at a time) to a fresh client.
async fn relay_bytes(
    input: Vec<u8>,
    chunk: usize,
    shape: Shape,
    framing: ClientFraming,
    mut summary: Summary,
) -> Relayed {
    // The session sets the sequence id the answer must start with (the command's + 1); the
    // fixtures that do not say take it from their first packet.
    if summary.next_seq == 0 {
        summary.next_seq = input.get(3).copied().unwrap_or(0);
    }
    let backend = PacketIo::over(Mem::reading(input, chunk));
    relay_on(backend, shape, framing, summary).await
}

/// Relays the next answer from an existing backend stream to a fresh client.
async fn relay_on(
    mut backend: PacketIo<Mem>,
    shape: Shape,
    framing: ClientFraming,
    mut summary: Summary,
) -> Relayed {
    let mut client = PacketIo::over(Mem::writing());
    let step = relay(&mut backend, &mut client, shape, framing, &mut summary).await;
    Relayed {
        step,
        summary,
        client: client.stream().output.clone(),
        backend,
    }
}

/// Asserts two large byte strings are equal without printing them.
fn assert_same_bytes(got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "length of what the client received");
    let first_difference = got.iter().zip(want).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "first differing byte");
}

fn gtid(s: &str) -> Gtid {
    s.parse().expect("a GTID")
}

/// A plain OK reaches the client byte for byte, and its status ends the answer.
#[tokio::test]
async fn ok_passes_through_unchanged() {
    let wire = Wire::from(1).packet(&ok(0x00, AUTOCOMMIT, None));
    for chunk in CHUNKS {
        for framing in [MODERN, OLD] {
            let r = relay_bytes(
                wire.bytes(),
                chunk,
                Shape::Query,
                framing,
                Summary::default(),
            )
            .await;
            assert_eq!(r.step.expect("relayed"), Step::Done);
            assert_eq!(r.client, wire.bytes());
            assert_eq!(r.summary.status, Some(AUTOCOMMIT));
            assert_eq!(r.summary.next_seq, 2);
            assert!(r.summary.sent_any);
            assert!(!r.summary.error);
            assert_eq!(r.summary.last_gtid, None);
        }
    }
}

/// The proxy's own `last_gtid` entry is taken out of an OK (and captured); what the client
/// asked to track stays; a client without session tracking gets MariaDB's plain OK.
#[tokio::test]
async fn ok_loses_the_proxys_last_gtid_entry() {
    let mut state = sysvar(b"last_gtid", b"0-1-7");
    state.extend(sysvar(b"autocommit", b"ON"));
    let wire = Wire::from(1).packet(&ok(0x00, AUTOCOMMIT, Some(&state)));
    let tracked = Wire::from(1).packet(&ok(0x00, AUTOCOMMIT, Some(&sysvar(b"autocommit", b"ON"))));
    let plain = Wire::from(1).packet(&[0x00, 1, 0, 0x02, 0x00, 0, 0]);
    for chunk in CHUNKS {
        for (framing, want) in [(MODERN, &tracked), (OLD, &plain)] {
            let r = relay_bytes(
                wire.bytes(),
                chunk,
                Shape::Query,
                framing,
                Summary::default(),
            )
            .await;
            assert_eq!(r.step.expect("relayed"), Step::Done);
            assert_eq!(r.client, want.bytes());
            assert_eq!(r.summary.last_gtid, Some(gtid("0-1-7")));
            assert_eq!(r.summary.status, Some(AUTOCOMMIT | CHANGED));
            assert_eq!(r.summary.next_seq, 2);
        }
    }
    // Only the GTID tracked: the client sees no state and no SESSION_STATE_CHANGED.
    let wire = Wire::from(1).packet(&ok(0x00, AUTOCOMMIT, Some(&sysvar(b"last_gtid", b"0-1-8"))));
    let r = relay_bytes(wire.bytes(), 64, Shape::Query, MODERN, Summary::default()).await;
    assert_eq!(r.client, plain.bytes());
    assert_eq!(r.summary.last_gtid, Some(gtid("0-1-8")));
}

/// An ERR ends the answer, unchanged, with no status.
#[tokio::test]
async fn err_passes_through() {
    let wire = Wire::from(1).packet(&err_payload(
        1146,
        "42S02",
        "Table 'app.nope' doesn't exist",
    ));
    for chunk in CHUNKS {
        let r = relay_bytes(
            wire.bytes(),
            chunk,
            Shape::Query,
            MODERN,
            Summary::default(),
        )
        .await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_eq!(r.client, wire.bytes());
        assert!(r.summary.error);
        assert_eq!(r.summary.status, None);
        assert_eq!(r.summary.next_seq, 2);
    }
}

/// A text result set for an old client: column definitions and rows pass through, the EOF
/// after the columns loses SERVER_SESSION_STATE_CHANGED (the client cannot know it), and the
/// final EOF's status ends the answer.
#[tokio::test]
async fn result_set_with_eof_packets() {
    let answer = |columns_eof: Vec<u8>| {
        Wire::from(1)
            .packet(&column_count(2))
            .packet(&column("id"))
            .packet(&column("name"))
            .packet(&columns_eof)
            .packet(&row(&[Some(b"1"), Some(b"ann")]))
            .packet(&row(&[Some(b"2"), None]))
            .packet(&eof(AUTOCOMMIT))
    };
    let wire = answer(eof(AUTOCOMMIT | CHANGED));
    let cleaned = answer(eof(AUTOCOMMIT));
    for chunk in CHUNKS {
        let r = relay_bytes(wire.bytes(), chunk, Shape::Query, OLD, Summary::default()).await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_eq!(r.client, cleaned.bytes());
        assert_eq!(r.summary.status, Some(AUTOCOMMIT));
        assert_eq!(r.summary.next_seq, 8);
        assert!(!r.summary.error);
        // A client that tracks session state gets the flag as the server sent it.
        let tracking = ClientFraming {
            tracks_session: true,
            deprecate_eof: false,
        };
        let r = relay_bytes(
            wire.bytes(),
            chunk,
            Shape::Query,
            tracking,
            Summary::default(),
        )
        .await;
        assert_eq!(r.client, wire.bytes());
    }
}

/// An EXECUTE that opened a cursor answers with its columns and an EOF whose status says
/// SERVER_STATUS_CURSOR_EXISTS: the answer ends there (the rows come with FETCH).
#[tokio::test]
async fn cursor_execute_ends_after_the_columns() {
    let cursor = StatusFlags::SERVER_STATUS_CURSOR_EXISTS;
    let wire = Wire::from(1)
        .packet(&column_count(1))
        .packet(&column("v"))
        .packet(&eof(AUTOCOMMIT | cursor));
    let execute = Summary {
        cursor_execute: true,
        ..Summary::default()
    };
    for chunk in CHUNKS {
        let r = relay_bytes(wire.bytes(), chunk, Shape::Query, OLD, execute.clone()).await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_eq!(r.client, wire.bytes());
        assert_eq!(r.summary.next_seq, 4);
    }
    // A stored procedure whose own cursor is open sends result sets with the same flag:
    // their rows follow.
    let procedure = Wire::from(1)
        .packet(&column_count(1))
        .packet(&column("v"))
        .packet(&eof(AUTOCOMMIT | cursor))
        .packet(&row(&[Some(b"1")]))
        .packet(&eof(AUTOCOMMIT | cursor));
    for chunk in CHUNKS {
        let r = relay_bytes(
            procedure.bytes(),
            chunk,
            Shape::Query,
            OLD,
            Summary::default(),
        )
        .await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_eq!(r.client, procedure.bytes());
        assert_eq!(r.summary.next_seq, 6);
    }
}

/// With CLIENT_DEPRECATE_EOF there is no EOF after the columns and the result set ends with
/// an OK whose header is 0xFE; that OK is rewritten like any other (an INSERT ... RETURNING
/// produces a GTID and a result set).
#[tokio::test]
async fn result_set_with_deprecate_eof() {
    let answer = |terminator: Vec<u8>| {
        Wire::from(1)
            .packet(&column_count(1))
            .packet(&column("id"))
            .packet(&row(&[Some(b"1")]))
            .packet(&row(&[Some(b"two")]))
            .packet(&terminator)
    };
    let wire = answer(ok(0xFE, AUTOCOMMIT, None));
    for chunk in CHUNKS {
        let r = relay_bytes(
            wire.bytes(),
            chunk,
            Shape::Query,
            MODERN,
            Summary::default(),
        )
        .await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_eq!(r.client, wire.bytes());
        assert_eq!(r.summary.status, Some(AUTOCOMMIT));
        assert_eq!(r.summary.next_seq, 6);
    }
    let returning = answer(ok(0xFE, AUTOCOMMIT, Some(&sysvar(b"last_gtid", b"0-1-9"))));
    let r = relay_bytes(
        returning.bytes(),
        3,
        Shape::Query,
        MODERN,
        Summary::default(),
    )
    .await;
    assert_eq!(
        r.client,
        wire.bytes(),
        "the GTID entry and its flag are gone"
    );
    assert_eq!(r.summary.last_gtid, Some(gtid("0-1-9")));
}

/// SERVER_MORE_RESULTS_EXISTS keeps the relay going: an OK, a result set and a final OK all
/// reach the client; the first OK's GTID is captured and the last status wins.
#[tokio::test]
async fn multi_results_run_to_the_last() {
    let first = ok(
        0x00,
        AUTOCOMMIT | MORE,
        Some(&sysvar(b"last_gtid", b"0-1-11")),
    );
    let rest = |wire: Wire| {
        wire.packet(&column_count(1))
            .packet(&column("n"))
            .packet(&row(&[Some(b"42")]))
            .packet(&ok(0xFE, AUTOCOMMIT | MORE, None))
            .packet(&ok(0x00, AUTOCOMMIT, None))
    };
    let wire = rest(Wire::from(1).packet(&first));
    let want = rest(Wire::from(1).packet(&ok(0x00, AUTOCOMMIT | MORE, None)));
    for chunk in CHUNKS {
        let r = relay_bytes(
            wire.bytes(),
            chunk,
            Shape::Query,
            MODERN,
            Summary::default(),
        )
        .await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_eq!(r.client, want.bytes());
        assert_eq!(r.summary.last_gtid, Some(gtid("0-1-11")));
        assert_eq!(r.summary.status, Some(AUTOCOMMIT));
        assert_eq!(r.summary.next_seq, wire.next_seq());
        assert_eq!(r.backend.rbuf.len(), 0, "nothing left unread");
    }
}

/// A LOAD DATA LOCAL request (0xFB) stops the relay so the session can forward the client's
/// file; bytes the backend sent after it stay buffered for the next relay call.
#[tokio::test]
async fn local_infile_request_stops_for_the_file() {
    let request = Wire::from(1).packet(b"\xFBdata.csv");
    let after_file = Wire::from(4).packet(&ok(0x00, AUTOCOMMIT, None));
    let mut input = request.bytes();
    input.extend(after_file.bytes());
    for chunk in CHUNKS {
        let r = relay_bytes(
            input.clone(),
            chunk,
            Shape::Query,
            MODERN,
            Summary::default(),
        )
        .await;
        assert_eq!(r.step.expect("relayed"), Step::LocalInfile);
        assert_eq!(r.client, request.bytes());
        assert_eq!(r.summary.next_seq, 2);
        assert_eq!(r.summary.status, None);
        // The client's file packets took sequence ids 2 and 3 (the empty one ends them).
        let resumed = Summary {
            next_seq: 4,
            ..r.summary
        };
        let r = relay_on(r.backend, Shape::Query, MODERN, resumed).await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_eq!(r.client, after_file.bytes());
        assert_eq!(r.summary.status, Some(AUTOCOMMIT));
        assert_eq!(r.summary.next_seq, 5);
    }
}

/// An ERR after some rows (a killed query) ends the answer; the rows were already relayed.
#[tokio::test]
async fn err_after_rows_ends_the_answer() {
    let wire = Wire::from(1)
        .packet(&column_count(1))
        .packet(&column("id"))
        .packet(&eof(AUTOCOMMIT))
        .packet(&row(&[Some(b"1")]))
        .packet(&row(&[Some(b"2")]))
        .packet(&err_payload(
            1317,
            "70100",
            "Query execution was interrupted",
        ));
    for chunk in CHUNKS {
        let r = relay_bytes(wire.bytes(), chunk, Shape::Query, OLD, Summary::default()).await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_eq!(r.client, wire.bytes());
        assert!(r.summary.error);
        assert_eq!(r.summary.status, None, "no OK or final EOF was seen");
        assert_eq!(r.summary.next_seq, 7);
    }
}

/// A row of exactly 0xFFFFFF bytes is followed by an empty frame of the same packet: the
/// empty frame is copied as part of the row, not read as a packet of its own, and the
/// sequence ids after it are counted right.
#[tokio::test]
async fn row_of_exactly_16mb_then_an_empty_frame() {
    let big = long_row(MAX_FRAME);
    for framing in [MODERN, OLD] {
        let terminator = if framing.deprecate_eof {
            ok(0xFE, AUTOCOMMIT, None)
        } else {
            eof(AUTOCOMMIT)
        };
        let mut wire = Wire::from(1)
            .packet(&column_count(1))
            .packet(&column("blob"));
        if !framing.deprecate_eof {
            wire = wire.packet(&eof(AUTOCOMMIT));
        }
        let before = wire.next_seq();
        let wire = wire.packet(&big);
        assert_eq!(wire.next_seq(), before.wrapping_add(2), "two frames");
        let wire = wire.packet(&row(&[Some(b"small")])).packet(&terminator);
        let r = relay_bytes(
            wire.bytes(),
            64 * 1024,
            Shape::Query,
            framing,
            Summary::default(),
        )
        .await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_same_bytes(&r.client, &wire.bytes());
        assert_eq!(r.summary.status, Some(AUTOCOMMIT));
        assert_eq!(r.summary.next_seq, wire.next_seq());
    }
}

/// A row spanning three frames, starting with 0xFE (an 8-byte string length), whose
/// continuation frames start with 0xFF and with 0xFE (the last one 5 bytes long, shaped like
/// an old EOF): none of them is taken for an ERR or a terminator; they are copied, never
/// parsed.
#[tokio::test]
async fn row_spanning_several_16mb_frames() {
    let mut big = long_row(2 * MAX_FRAME + 5);
    assert_eq!(big[0], 0xFE);
    big[MAX_FRAME] = 0xFF;
    big[2 * MAX_FRAME] = 0xFE;
    for framing in [MODERN, OLD] {
        let mut wire = Wire::from(1)
            .packet(&column_count(1))
            .packet(&column("blob"));
        let terminator = if framing.deprecate_eof {
            ok(0xFE, AUTOCOMMIT, None)
        } else {
            wire = wire.packet(&eof(AUTOCOMMIT));
            eof(AUTOCOMMIT)
        };
        let before = wire.next_seq();
        let wire = wire.packet(&big);
        assert_eq!(
            wire.next_seq(),
            before + 3,
            "the row took three sequence ids"
        );
        let wire = wire.packet(&terminator);
        let r = relay_bytes(
            wire.bytes(),
            256 * 1024,
            Shape::Query,
            framing,
            Summary::default(),
        )
        .await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_same_bytes(&r.client, &wire.bytes());
        assert_eq!(r.summary.status, Some(AUTOCOMMIT));
        assert_eq!(r.summary.next_seq, wire.next_seq());
        assert!(!r.summary.error);
    }
}

/// A STRONG write's final OK is held back (rewritten, framed) for the session to send after
/// the quorum wait; earlier results of a multi-statement still go out at once.
#[tokio::test]
async fn strong_write_holds_its_final_ok() {
    let hold = Summary {
        hold_final_ok: true,
        ..Summary::default()
    };
    let state = sysvar(b"last_gtid", b"0-1-12");
    let wire = Wire::from(1).packet(&ok(0x00, AUTOCOMMIT, Some(&state)));
    let held = Wire::from(1).packet(&ok(0x00, AUTOCOMMIT, None));
    for chunk in CHUNKS {
        let r = relay_bytes(wire.bytes(), chunk, Shape::Query, MODERN, hold.clone()).await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_eq!(r.client, Vec::<u8>::new(), "nothing sent yet");
        assert!(!r.summary.sent_any);
        assert_eq!(r.summary.held_ok, Some(held.bytes()));
        assert_eq!(r.summary.last_gtid, Some(gtid("0-1-12")));
        assert_eq!(r.summary.next_seq, 2);
    }
    let first = ok(0x00, AUTOCOMMIT | MORE, Some(&state));
    let wire = Wire::from(1)
        .packet(&first)
        .packet(&ok(0x00, AUTOCOMMIT, None));
    let r = relay_bytes(wire.bytes(), 3, Shape::Query, MODERN, hold.clone()).await;
    assert_eq!(r.step.expect("relayed"), Step::Done);
    assert_eq!(
        r.client,
        Wire::from(1)
            .packet(&ok(0x00, AUTOCOMMIT | MORE, None))
            .bytes()
    );
    assert_eq!(
        r.summary.held_ok,
        Some(Wire::from(2).packet(&ok(0x00, AUTOCOMMIT, None)).bytes())
    );
    // An ERR is never held.
    let wire = Wire::from(1).packet(&err_payload(1062, "23000", "Duplicate entry"));
    let r = relay_bytes(wire.bytes(), 3, Shape::Query, MODERN, hold).await;
    assert_eq!(r.client, wire.bytes());
    assert_eq!(r.summary.held_ok, None);
    assert!(r.summary.error);
}

/// The backend closing mid-result is a backend error, and everything it sent before (the
/// complete rows and the start of the broken one) has been flushed to the client.
#[tokio::test]
async fn backend_eof_mid_result_is_a_backend_error() {
    let wire = Wire::from(1)
        .packet(&column_count(1))
        .packet(&column("id"))
        .packet(&row(&[Some(b"1")]))
        .truncated(&[10, 0, 0, 4, 9, b'p', b'a']);
    for chunk in CHUNKS {
        let r = relay_bytes(
            wire.bytes(),
            chunk,
            Shape::Query,
            MODERN,
            Summary::default(),
        )
        .await;
        match r.step {
            Err(RelayError::Backend(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
            other => panic!("expected a backend error, got {other:?}"),
        }
        assert_eq!(r.client, wire.bytes());
        assert!(r.summary.sent_any);
        assert_eq!(r.summary.status, None);
    }
    // Closed before the first byte of the answer.
    let r = relay_bytes(Vec::new(), 1, Shape::Query, MODERN, Summary::default()).await;
    assert!(matches!(r.step, Err(RelayError::Backend(_))));
    assert!(!r.summary.sent_any);
}

/// A client that cannot be written to is a client error: the session is over.
#[tokio::test]
async fn client_write_failure_is_a_client_error() {
    let wire = Wire::from(1).packet(&ok(0x00, AUTOCOMMIT, None));
    let mut backend = PacketIo::over(Mem::reading(wire.bytes(), 64));
    let mut client = PacketIo::over(Mem {
        broken: true,
        ..Mem::writing()
    });
    let mut summary = Summary {
        next_seq: 1,
        ..Summary::default()
    };
    let step = relay(
        &mut backend,
        &mut client,
        Shape::Query,
        MODERN,
        &mut summary,
    )
    .await;
    assert!(matches!(step, Err(RelayError::Client(_))), "{step:?}");
}

/// A COM_STMT_PREPARE answer carries the client's statement id instead of the backend's;
/// the backend's id and the parameter count are reported.
#[tokio::test]
async fn prepare_answer_gets_the_clients_statement_id() {
    let prepare_ok = |id: u32| {
        let mut p = vec![0x00];
        p.put_u32_le(id);
        p.put_u16_le(1); // columns
        p.put_u16_le(2); // parameters
        p.put_u8(0);
        p.put_u16_le(0); // warnings
        p
    };
    let answer = |id: u32| {
        Wire::from(1)
            .packet(&prepare_ok(id))
            .packet(&column("?"))
            .packet(&column("?"))
            .packet(&eof(AUTOCOMMIT))
            .packet(&column("id"))
            .packet(&eof(AUTOCOMMIT))
    };
    let rewrite = Summary {
        prepare_rewrite: Some(7),
        ..Summary::default()
    };
    for chunk in CHUNKS {
        let r = relay_bytes(
            answer(0x1234).bytes(),
            chunk,
            Shape::Prepare,
            OLD,
            rewrite.clone(),
        )
        .await;
        assert_eq!(r.step.expect("relayed"), Step::Done);
        assert_eq!(r.client, answer(7).bytes());
        assert_eq!(r.summary.prepared, Some((0x1234, 2)));
        assert_eq!(r.summary.next_seq, 7);
        assert_eq!(r.backend.rbuf.len(), 0, "nothing left unread");
    }
}

/// A first answer packet of exactly 0xFFFFFF bytes (an OK, a column count or a LOCAL INFILE
/// request continued over 16 MB: a broken or hostile backend) is a backend error, not a slice
/// past what is buffered (a panic before the fix); an ERR that long streams to the client.
#[tokio::test]
async fn first_packet_of_exactly_16mb() {
    for header in [0x00u8, 0xFB, 0x05] {
        let mut first = vec![b'x'; MAX_FRAME];
        first[0] = header;
        let wire = Wire::from(1)
            .packet(&first)
            .packet(&ok(0x00, AUTOCOMMIT, None));
        let r = relay_bytes(
            wire.bytes(),
            64 * 1024,
            Shape::Query,
            MODERN,
            Summary::default(),
        )
        .await;
        assert!(
            matches!(r.step, Err(RelayError::Backend(_))),
            "header {header:#x}: {:?}",
            r.step
        );
        assert!(!r.summary.sent_any, "nothing of it reached the client");
    }
    let mut long_err = err_payload(1064, "42000", "");
    long_err.resize(MAX_FRAME + 10, b'e');
    let wire = Wire::from(1).packet(&long_err);
    let r = relay_bytes(
        wire.bytes(),
        64 * 1024,
        Shape::Query,
        MODERN,
        Summary::default(),
    )
    .await;
    assert_eq!(r.step.expect("relayed"), Step::Done);
    assert!(r.summary.error);
    assert_same_bytes(&r.client, &wire.bytes());
    assert_eq!(r.summary.next_seq, wire.next_seq());
}

/// Packets left over from an earlier answer (a client that went away mid-result) carry the
/// wrong sequence ids for the next command: the relay refuses them instead of sending another
/// session's rows.
#[tokio::test]
async fn leftover_packets_are_out_of_sequence() {
    // Rows 5 and 6 of an abandoned result, then the answer to the next command.
    let leftover = Wire::from(5)
        .packet(&row(&[Some(b"secret")]))
        .packet(&row(&[Some(b"more")]));
    let mut input = leftover.bytes();
    input.extend(Wire::from(1).packet(&ok(0x00, AUTOCOMMIT, None)).bytes());
    for chunk in CHUNKS {
        let summary = Summary {
            next_seq: 1,
            ..Summary::default()
        };
        let r = relay_bytes(input.clone(), chunk, Shape::Query, MODERN, summary).await;
        match r.step {
            Err(RelayError::Backend(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidData),
            other => panic!("expected a backend error, got {other:?}"),
        }
        assert!(r.client.is_empty(), "no leftover row reached the client");
    }
}
