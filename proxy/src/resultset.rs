//! A small writer for text-protocol result sets: what the admin port answers its SHOW
//! statements with. Column definitions come from mysql_common's [`Column`]; the framing
//! (column count, EOF or DEPRECATE_EOF OK terminators, NULL as 0xFB) follows the client's
//! negotiated capabilities.

use mysql_common::constants::{
    CapabilityFlags, ColumnFlags, ColumnType, MariadbCapabilities, StatusFlags,
};
use mysql_common::io::BufMutExt;
use mysql_common::packets::Column;
use mysql_common::proto::MySerialize;

use crate::packet::{ByteStream, PacketIo};

/// utf8mb4_general_ci: the collation of text columns.
const UTF8MB4: u16 = 45;
/// The `binary` collation, which numeric columns carry.
const BINARY: u16 = 63;
/// Length of the fixed-length part at the end of a column definition (after its 0x0C byte).
const FIXED_LEN: usize = 12;

/// How a column's values are typed in its definition (clients align and convert by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// VARCHAR, utf8mb4.
    Text,
    /// BIGINT UNSIGNED.
    Unsigned,
    /// INT UNSIGNED NOT NULL, 10 digits, no original name: what MariaDB sends for
    /// `CONNECTION_ID()`, which the proxy answers itself.
    ConnectionId,
}

/// A result set held whole: admin answers are small.
#[derive(Debug, Clone, Default)]
pub struct ResultSet {
    /// Column names and kinds.
    pub columns: Vec<(String, Kind)>,
    /// Rows of text values; `None` is SQL NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

impl ResultSet {
    /// An empty result set with these columns.
    pub fn new(columns: &[(&str, Kind)]) -> Self {
        Self {
            columns: columns
                .iter()
                .map(|(name, kind)| ((*name).to_owned(), *kind))
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Appends one row (its length should match the columns).
    pub fn push(&mut self, row: Vec<Option<String>>) {
        self.rows.push(row);
    }
}

/// What the client negotiated that changes how a result set is framed.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    /// CLIENT_DEPRECATE_EOF: no EOF after the columns; an OK with header 0xFE ends the rows.
    pub deprecate_eof: bool,
    /// MARIADB_CLIENT_EXTENDED_METADATA: every column definition carries an extra field.
    pub extended_metadata: bool,
    /// Status flags the terminating EOF/OK reports: the session's own (IN_TRANS inside a
    /// transaction, no AUTOCOMMIT after `SET autocommit=0`), so a driver that tracks the
    /// transaction state from every answer is not told the transaction ended.
    pub status: StatusFlags,
}

impl Framing {
    /// The framing for a client's negotiated flags.
    pub fn new(caps: CapabilityFlags, mariadb: MariadbCapabilities) -> Self {
        Self {
            deprecate_eof: caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
            extended_metadata: mariadb
                .contains(MariadbCapabilities::MARIADB_CLIENT_EXTENDED_METADATA),
            status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        }
    }

    /// The same framing reporting the session's `status` (only its lasting state is kept:
    /// transaction, autocommit, read-only transaction, NO_BACKSLASH_ESCAPES; per-answer
    /// flags such as MORE_RESULTS or SESSION_STATE_CHANGED are not the proxy's to report).
    pub fn with_status(self, status: StatusFlags) -> Self {
        let lasting = StatusFlags::SERVER_STATUS_IN_TRANS
            | StatusFlags::SERVER_STATUS_AUTOCOMMIT
            | StatusFlags::SERVER_STATUS_IN_TRANS_READONLY
            | StatusFlags::SERVER_STATUS_NO_BACKSLASH_ESCAPES;
        Self {
            status: status & lasting,
            ..self
        }
    }
}

/// Queues `rs` on `io` starting at sequence id `seq`; returns the next sequence id.
pub fn queue<S: ByteStream>(
    io: &mut PacketIo<S>,
    mut seq: u8,
    framing: Framing,
    rs: &ResultSet,
) -> u8 {
    for payload in encode(framing, rs) {
        seq = io.queue_packet(seq, &payload);
    }
    seq
}

/// The packet payloads of `rs`, in order: column count, column definitions, EOF (unless
/// DEPRECATE_EOF), rows, and the terminating EOF or 0xFE OK.
pub fn encode(framing: Framing, rs: &ResultSet) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(rs.columns.len() + rs.rows.len() + 3);
    let mut count = Vec::with_capacity(9);
    count.put_lenenc_int(rs.columns.len() as u64);
    out.push(count);
    for (name, kind) in &rs.columns {
        let mut def = Vec::with_capacity(64);
        column_definition(&mut def, name, *kind, framing.extended_metadata);
        out.push(def);
    }
    if !framing.deprecate_eof {
        out.push(eof(framing.status));
    }
    for row in &rs.rows {
        let mut buf = Vec::with_capacity(64);
        for value in row {
            match value {
                Some(v) => buf.put_lenenc_str(v.as_bytes()),
                None => buf.push(0xFB),
            }
        }
        out.push(buf);
    }
    out.push(if framing.deprecate_eof {
        ok_with(0xFE, framing.status)
    } else {
        eof(framing.status)
    });
    out
}

/// An OK packet payload with `header` (0x00, or 0xFE when it ends a result set).
/// The admin port's sessions have no transactions: autocommit, always.
pub fn ok(header: u8) -> Vec<u8> {
    ok_with(header, StatusFlags::SERVER_STATUS_AUTOCOMMIT)
}

/// An OK packet payload with `header` reporting `status`.
fn ok_with(header: u8, status: StatusFlags) -> Vec<u8> {
    let status = status.bits().to_le_bytes();
    vec![header, 0x00, 0x00, status[0], status[1], 0x00, 0x00]
}

/// An EOF packet payload (no warnings) reporting `status`.
fn eof(status: StatusFlags) -> Vec<u8> {
    let status = status.bits().to_le_bytes();
    vec![0xFE, 0x00, 0x00, status[0], status[1]]
}

/// Appends one column definition to `buf`.
///
/// mysql_common 0.37's `Column::serialize` writes `column_length` before `character_set`
/// (its own parser, and the protocol, have them the other way round), so the fixed part is
/// put back in wire order here; `columns_round_trip` below checks it with mysql_common's
/// parser. MariaDB clients that negotiated extended metadata also expect an (empty) extended
/// type-info string just before the fixed part.
fn column_definition(buf: &mut Vec<u8>, name: &str, kind: Kind, extended_metadata: bool) {
    let (ty, charset, length, flags) = match kind {
        Kind::Text => (
            ColumnType::MYSQL_TYPE_VAR_STRING,
            UTF8MB4,
            1024,
            ColumnFlags::empty(),
        ),
        Kind::Unsigned => (
            ColumnType::MYSQL_TYPE_LONGLONG,
            BINARY,
            20,
            ColumnFlags::UNSIGNED_FLAG | ColumnFlags::NUM_FLAG,
        ),
        Kind::ConnectionId => (
            ColumnType::MYSQL_TYPE_LONG,
            BINARY,
            10,
            // NUM is not on the wire: clients derive it from the type.
            ColumnFlags::NOT_NULL_FLAG | ColumnFlags::UNSIGNED_FLAG | ColumnFlags::BINARY_FLAG,
        ),
    };
    // An expression's column has no original name (the server sends it empty).
    let org_name = if kind == Kind::ConnectionId {
        &b""[..]
    } else {
        name.as_bytes()
    };
    let column = Column::new(ty)
        .with_name(name.as_bytes())
        .with_org_name(org_name)
        .with_character_set(charset)
        .with_column_length(length)
        .with_flags(flags);
    let start = buf.len();
    column.serialize(buf);
    let fixed = buf.len().saturating_sub(FIXED_LEN);
    if fixed > start {
        // Serialized as [length:4][charset:2]; the wire wants [charset:2][length:4].
        buf[fixed..fixed + 6].rotate_left(4);
        if extended_metadata {
            // Before the 0x0C length byte of the fixed part: an empty lenenc string.
            buf.insert(fixed - 1, 0x00);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::io::ParseBuf;
    use mysql_common::proto::MyDeserialize;

    #[test]
    fn columns_round_trip() {
        let mut buf = Vec::new();
        column_definition(&mut buf, "pooled", Kind::Unsigned, false);
        let col = Column::deserialize((), &mut ParseBuf(&buf)).expect("parses");
        assert_eq!(col.name_str(), "pooled");
        assert_eq!(col.character_set(), BINARY);
        assert_eq!(col.column_length(), 20);
        assert_eq!(col.column_type(), ColumnType::MYSQL_TYPE_LONGLONG);
        assert!(col.flags().contains(ColumnFlags::UNSIGNED_FLAG));
    }

    #[test]
    fn extended_metadata_adds_an_empty_field() {
        let mut plain = Vec::new();
        column_definition(&mut plain, "node", Kind::Text, false);
        let mut ext = Vec::new();
        column_definition(&mut ext, "node", Kind::Text, true);
        assert_eq!(ext.len(), plain.len() + 1);
        let at = plain.len() - FIXED_LEN - 1;
        assert_eq!(&ext[..at], &plain[..at]);
        assert_eq!(ext[at], 0x00);
        assert_eq!(&ext[at + 1..], &plain[at..]);
    }

    fn sample() -> ResultSet {
        let mut rs = ResultSet::new(&[("a", Kind::Text), ("b", Kind::Unsigned)]);
        rs.push(vec![Some("x".to_owned()), None]);
        rs
    }

    #[test]
    fn classic_framing_uses_eof_packets() {
        let framing = Framing {
            deprecate_eof: false,
            extended_metadata: false,
            status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        };
        let p = encode(framing, &sample());
        assert_eq!(p.len(), 6);
        assert_eq!(p[0], vec![2]);
        assert_eq!(p[3], eof(StatusFlags::SERVER_STATUS_AUTOCOMMIT));
        assert_eq!(p[4], vec![1, b'x', 0xFB]);
        assert_eq!(p[5], eof(StatusFlags::SERVER_STATUS_AUTOCOMMIT));
    }

    #[test]
    fn deprecate_eof_ends_with_an_fe_ok() {
        let framing = Framing {
            deprecate_eof: true,
            extended_metadata: false,
            status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        };
        let p = encode(framing, &sample());
        assert_eq!(p.len(), 5);
        assert_eq!(p[3], vec![1, b'x', 0xFB]);
        assert_eq!(p[4][0], 0xFE);
        assert_eq!(p[4].len(), 7, "an OK, longer than an EOF");
    }

    /// Status flags of the terminator, as both framings carry them.
    fn terminator_status(framing: Framing) -> StatusFlags {
        let p = encode(framing, &sample());
        let last = p.last().expect("a terminator");
        // EOF: 0xFE, warnings:2, status:2; OK: 0xFE, affected 0, insert id 0, status:2.
        StatusFlags::from_bits_retain(u16::from_le_bytes([last[3], last[4]]))
    }

    /// A result set the proxy builds inside a transaction reports IN_TRANS, and after
    /// `SET autocommit=0` no AUTOCOMMIT (before the fix: always AUTOCOMMIT, never IN_TRANS);
    /// per-answer flags of the last backend answer are not repeated.
    #[test]
    fn terminators_carry_the_sessions_status() {
        let in_trans = StatusFlags::SERVER_STATUS_IN_TRANS
            | StatusFlags::SERVER_SESSION_STATE_CHANGED
            | StatusFlags::SERVER_MORE_RESULTS_EXISTS;
        for deprecate_eof in [true, false] {
            let base = Framing::new(
                if deprecate_eof {
                    CapabilityFlags::CLIENT_DEPRECATE_EOF
                } else {
                    CapabilityFlags::empty()
                },
                MariadbCapabilities::empty(),
            );
            assert_eq!(
                terminator_status(base),
                StatusFlags::SERVER_STATUS_AUTOCOMMIT
            );
            assert_eq!(
                terminator_status(base.with_status(in_trans)),
                StatusFlags::SERVER_STATUS_IN_TRANS
            );
            let autocommit_trans =
                StatusFlags::SERVER_STATUS_IN_TRANS | StatusFlags::SERVER_STATUS_AUTOCOMMIT;
            assert_eq!(
                terminator_status(base.with_status(autocommit_trans)),
                autocommit_trans
            );
        }
    }
}
