//! Statement classification: what a COM_QUERY text is, before the router decides where it goes
//! (`shared/DESIGN.md` section 5). Pure and I/O-free.
//!
//! Two paths, one answer:
//! - the **lexical fast path** ([`lexer`] + the per-statement scanners) tokenizes the text once
//!   (comments, `/*! */` and `/*M! */` executable comments, strings and quoted identifiers
//!   handled) and decides from the leading keyword, the locking clauses, the risky functions and
//!   the session-state markers. It also names the tables a write or DDL touches for the common
//!   shapes, including the MariaDB forms sqlparser rejects (multi-table UPDATE, LOAD DATA LOCAL,
//!   SET STATEMENT ... FOR, XA, LOCK TABLE, PREPARE ... FROM, `SET @a := 1`);
//! - **sqlparser** (MySqlDialect, [`parser`]) is consulted only when the fast path does not know
//!   the leading keyword or cannot name the tables of a write or DDL. Text neither understands
//!   is [`Kind::Other`] pinned for [`PinReason::Unparseable`]: it runs on the primary.
//!
//! The same tokens also answer what the session itself must recognise ([`intercept`]): a KILL
//! of a proxy connection id, the warnings queries the proxy completes, and the session
//! settings it records for replay, and the `@@socket` references it hides ([`socket`]).
//!
//! The session's `sql_mode` is not known here, and two of its flags change where strings end
//! (`NO_BACKSLASH_ESCAPES`, `ANSI_QUOTES`): text with a backslash inside quotes is read every
//! way and the strictest answer kept ([`modes`]).
//!
//! [`Classifier`] adds a bounded, sharded cache keyed by statement text. Transaction state is
//! never derived here: it comes from the server's status flags.

mod cache;
mod connection_id;
mod ddl;
mod dml;
mod features;
mod functions;
mod intercept;
mod lexer;
mod modes;
mod parser;
mod set;
mod socket;
mod statement;
mod types;
mod work;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

pub use cache::Classifier;
pub use parser::MAX_PARSED_LEN;
pub use socket::hide_socket;
pub use types::{
    Classified, Consistency, Kill, Kind, ParseConsistencyError, PinReason, SetConsistency,
    SetConsistencyError, SetStatement, TableRef, TransactionOp, WarningsQuery,
};

/// Classifies one COM_QUERY text, uncached. Bytes that are not UTF-8 are scanned as bytes (the
/// scanner only interprets ASCII) and handed to sqlparser as a lossy copy; any rewritten text in
/// the answer keeps the original bytes.
pub fn classify(sql: &[u8]) -> Classified {
    statement::classify_text(sql)
}
