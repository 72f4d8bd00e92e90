//! Reading and rewriting the backend's OK packets.
//!
//! Backend connections always negotiate CLIENT_SESSION_TRACK and track `last_gtid`, so their
//! OK packets carry session-state data the client may not have asked for. This module takes
//! out what belongs to the proxy (the `last_gtid` entry, captured for timestamps) and, for a
//! client without CLIENT_SESSION_TRACK, re-encodes the packet as MariaDB itself would for that
//! client (`net_send_ok`: the info as a length-encoded string only when it is not empty, no
//! state, no SESSION_STATE_CHANGED flag).
//! Everything else — affected rows, insert id, status, warnings, info — is kept as it was.

use bytes::BufMut;
use mysql_common::constants::StatusFlags;
use mysql_common::io::{BufMutExt, ParseBuf};

use crate::gtid::Gtid;

/// Session-state entry type of a changed system variable.
const SESSION_TRACK_SYSTEM_VARIABLES: u8 = 0;
/// Session-state entry type of a schema change.
const SESSION_TRACK_SCHEMA: u8 = 1;

/// The fields of an OK packet (header 0x00, or 0xFE for a result-set terminator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OkPacket<'a> {
    /// 0x00 or 0xFE.
    pub header: u8,
    /// Rows changed (or matched, with CLIENT_FOUND_ROWS).
    pub affected_rows: u64,
    /// LAST_INSERT_ID of the statement.
    pub last_insert_id: u64,
    /// Server status flags.
    pub status: StatusFlags,
    /// Warning count.
    pub warnings: u16,
    /// Human-readable info ("Rows matched: 1  Changed: 1  Warnings: 0").
    pub info: &'a [u8],
    /// Raw session-state block, when SESSION_STATE_CHANGED is set.
    pub session_state: Option<&'a [u8]>,
}

/// What the proxy learned from an OK packet's session state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionChanges {
    /// `last_gtid` reported by the server: the statement produced this GTID.
    pub last_gtid: Option<Gtid>,
    /// The default database changed to this.
    pub schema: Option<Vec<u8>>,
}

/// Parses an OK packet sent on a connection that negotiated CLIENT_SESSION_TRACK.
pub fn parse_tracked(payload: &[u8]) -> Option<OkPacket<'_>> {
    let mut buf = ParseBuf(payload);
    let header = *buf.checked_eat(1)?.first()?;
    let affected_rows = buf.checked_eat_lenenc_int()?;
    let last_insert_id = buf.checked_eat_lenenc_int()?;
    let status = StatusFlags::from_bits_retain(buf.checked_eat_u16_le()?);
    let warnings = buf.checked_eat_u16_le()?;
    let mut info: &[u8] = &[];
    let mut session_state = None;
    if !buf.is_empty() {
        info = buf.checked_eat_lenenc_str()?;
        if status.contains(StatusFlags::SERVER_SESSION_STATE_CHANGED) && !buf.is_empty() {
            session_state = Some(buf.checked_eat_lenenc_str()?);
        }
    }
    Some(OkPacket {
        header,
        affected_rows,
        last_insert_id,
        status,
        warnings,
        info,
        session_state,
    })
}

/// Walks a session-state block: returns what the proxy cares about and, when `keep_rest`,
/// the block without the `last_gtid` entry (None when nothing was removed, so the original
/// bytes can be reused, or when not asked for: a client that does not track session state
/// gets no block, and nothing is copied for it).
pub fn split_session_state(state: &[u8], keep_rest: bool) -> (SessionChanges, Option<Vec<u8>>) {
    let mut changes = SessionChanges::default();
    let mut kept = Vec::with_capacity(if keep_rest { state.len() } else { 0 });
    let mut removed = false;
    let mut buf = ParseBuf(state);
    while !buf.is_empty() {
        let start = state.len() - buf.len();
        let Some(kind) = buf.checked_eat_u8() else {
            break;
        };
        let Some(data) = buf.checked_eat_lenenc_str() else {
            break;
        };
        let end = state.len() - buf.len();
        let mut drop_entry = false;
        match kind {
            SESSION_TRACK_SYSTEM_VARIABLES => {
                let mut d = ParseBuf(data);
                if let (Some(name), Some(value)) =
                    (d.checked_eat_lenenc_str(), d.checked_eat_lenenc_str())
                {
                    if name == b"last_gtid" {
                        drop_entry = true;
                        changes.last_gtid =
                            std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
                    }
                }
            }
            SESSION_TRACK_SCHEMA => {
                let mut d = ParseBuf(data);
                if let Some(schema) = d.checked_eat_lenenc_str() {
                    changes.schema = Some(schema.to_vec());
                }
            }
            _ => {}
        }
        if drop_entry {
            removed = true;
        } else if keep_rest {
            kept.extend_from_slice(&state[start..end]);
        }
    }
    (changes, (removed && keep_rest).then_some(kept))
}

/// Result of [`rewrite_for_client`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// Replacement payload, or None when the backend's bytes can go out unchanged.
    pub payload: Option<Vec<u8>>,
    /// What the session state said.
    pub changes: SessionChanges,
    /// Status flags of the packet.
    pub status: StatusFlags,
    /// Warning count of the packet.
    pub warnings: u16,
    /// LAST_INSERT_ID the statement generated (0: none).
    pub last_insert_id: u64,
}

/// Decides what the client receives for a backend OK packet.
///
/// `client_tracks` says whether the client negotiated CLIENT_SESSION_TRACK.
pub fn rewrite_for_client(payload: &[u8], client_tracks: bool) -> Option<Rewritten> {
    let ok = parse_tracked(payload)?;
    let (changes, reduced) = match ok.session_state {
        Some(state) => split_session_state(state, client_tracks),
        None => (SessionChanges::default(), None),
    };
    let new_payload = if client_tracks {
        reduced.map(|state| {
            let state = (!state.is_empty()).then_some(state.as_slice());
            encode(&ok, state, true)
        })
    } else if payload.len() > 7
        || ok
            .status
            .contains(StatusFlags::SERVER_SESSION_STATE_CHANGED)
    {
        let plain = encode(&ok, None, false);
        (plain != payload).then_some(plain)
    } else {
        None
    };
    Some(Rewritten {
        payload: new_payload,
        changes,
        status: ok.status,
        warnings: ok.warnings,
        last_insert_id: ok.last_insert_id,
    })
}

/// Adds `extra` to the warning count of a framed OK packet (the proxy's own warning, e.g. a
/// STRONG write whose quorum wait timed out). Returns false when the packet is not an OK.
pub fn bump_warnings(framed: &mut [u8], extra: u16) -> bool {
    let Some(payload) = framed.get(4..) else {
        return false;
    };
    let mut buf = ParseBuf(payload);
    let header = buf.checked_eat_u8();
    if !matches!(header, Some(0x00 | 0xFE)) {
        return false;
    }
    if buf.checked_eat_lenenc_int().is_none() || buf.checked_eat_lenenc_int().is_none() {
        return false;
    }
    if buf.checked_eat_u16_le().is_none() {
        return false;
    }
    let offset = 4 + payload.len() - buf.len();
    let Some(bytes) = framed.get_mut(offset..offset + 2) else {
        return false;
    };
    let count = u16::from_le_bytes([bytes[0], bytes[1]]).saturating_add(extra);
    bytes.copy_from_slice(&count.to_le_bytes());
    true
}

/// Encodes an OK packet for a client; `tracked` selects the CLIENT_SESSION_TRACK layout.
fn encode(ok: &OkPacket<'_>, state: Option<&[u8]>, tracked: bool) -> Vec<u8> {
    let mut status = ok.status;
    if state.is_none() {
        status.remove(StatusFlags::SERVER_SESSION_STATE_CHANGED);
    }
    let mut out = Vec::with_capacity(16 + ok.info.len() + state.map_or(0, <[u8]>::len));
    out.put_u8(ok.header);
    out.put_lenenc_int(ok.affected_rows);
    out.put_lenenc_int(ok.last_insert_id);
    out.put_u16_le(status.bits());
    out.put_u16_le(ok.warnings);
    if tracked {
        if !ok.info.is_empty() || state.is_some() {
            out.put_lenenc_str(ok.info);
        }
        if let Some(state) = state {
            out.put_lenenc_str(state);
        }
    } else if !ok.info.is_empty() {
        out.put_lenenc_str(ok.info);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysvar(name: &[u8], value: &[u8]) -> Vec<u8> {
        let mut data = Vec::new();
        data.put_lenenc_str(name);
        data.put_lenenc_str(value);
        let mut entry = vec![SESSION_TRACK_SYSTEM_VARIABLES];
        entry.put_lenenc_str(&data);
        entry
    }

    fn ok_with_state(info: &[u8], state: &[u8]) -> Vec<u8> {
        let mut p = vec![0x00, 1, 5];
        p.put_u16_le(
            (StatusFlags::SERVER_STATUS_AUTOCOMMIT | StatusFlags::SERVER_SESSION_STATE_CHANGED)
                .bits(),
        );
        p.put_u16_le(2);
        p.put_lenenc_str(info);
        p.put_lenenc_str(state);
        p
    }

    #[test]
    fn captures_gtid_and_strips_it_for_tracking_client() {
        let mut state = sysvar(b"last_gtid", b"0-1-7");
        state.extend(sysvar(b"autocommit", b"ON"));
        let pkt = ok_with_state(b"", &state);
        let r = rewrite_for_client(&pkt, true).expect("parses");
        assert_eq!(r.changes.last_gtid, Some("0-1-7".parse().expect("gtid")));
        let out = r.payload.expect("rewritten");
        let ok = parse_tracked(&out).expect("re-parses");
        assert_eq!(
            ok.session_state,
            Some(sysvar(b"autocommit", b"ON").as_slice())
        );
        assert_eq!(ok.affected_rows, 1);
        assert_eq!(ok.last_insert_id, 5);
        assert_eq!(ok.warnings, 2);
    }

    #[test]
    fn only_gtid_clears_state_flag() {
        let pkt = ok_with_state(b"", &sysvar(b"last_gtid", b"0-1-9"));
        let r = rewrite_for_client(&pkt, true).expect("parses");
        let out = r.payload.expect("rewritten");
        let ok = parse_tracked(&out).expect("re-parses");
        assert!(!ok
            .status
            .contains(StatusFlags::SERVER_SESSION_STATE_CHANGED));
        assert_eq!(ok.session_state, None);
    }

    #[test]
    fn untracked_client_gets_info_without_state() {
        let info = b"Rows matched: 1  Changed: 1  Warnings: 0";
        let pkt = ok_with_state(info, &sysvar(b"last_gtid", b"0-1-9"));
        let r = rewrite_for_client(&pkt, false).expect("parses");
        let out = r.payload.expect("rewritten");
        assert_eq!(
            usize::from(out[7]),
            info.len(),
            "length-encoded, as MariaDB sends it"
        );
        assert_eq!(&out[8..], info);
        let status = u16::from_le_bytes([out[3], out[4]]);
        assert_eq!(status & StatusFlags::SERVER_SESSION_STATE_CHANGED.bits(), 0);
    }

    #[test]
    fn warnings_are_bumped_in_place() {
        let mut framed = vec![7, 0, 0, 1, 0x00, 1, 0];
        framed.extend_from_slice(&StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits().to_le_bytes());
        framed.extend_from_slice(&2u16.to_le_bytes());
        assert!(bump_warnings(&mut framed, 1));
        assert_eq!(u16::from_le_bytes([framed[9], framed[10]]), 3);
        assert!(!bump_warnings(&mut [1, 0, 0, 1, 0xFF], 1));
    }

    #[test]
    fn plain_ok_is_untouched() {
        let mut p = vec![0x00, 0, 0];
        p.put_u16_le(StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits());
        p.put_u16_le(0);
        let r = rewrite_for_client(&p, false).expect("parses");
        assert_eq!(r.payload, None);
        let r = rewrite_for_client(&p, true).expect("parses");
        assert_eq!(r.payload, None);
    }

    #[test]
    fn schema_change_is_seen() {
        let mut data = Vec::new();
        data.put_lenenc_str(b"app");
        let mut entry = vec![SESSION_TRACK_SCHEMA];
        entry.put_lenenc_str(&data);
        let pkt = ok_with_state(b"", &entry);
        let r = rewrite_for_client(&pkt, true).expect("parses");
        assert_eq!(r.changes.schema.as_deref(), Some(&b"app"[..]));
        assert_eq!(r.payload, None);
    }
}
