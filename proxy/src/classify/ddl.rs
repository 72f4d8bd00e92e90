//! DDL on the fast path: CREATE / ALTER / DROP of tables, views, sequences, indexes and
//! triggers with the tables they name; RENAME TABLE; TRUNCATE; ANALYZE / OPTIMIZE / REPAIR
//! TABLE; everything else DDL-like (databases, users, routines, GRANT ...) without tables.
//! Temporary tables pin and unpin the session.

use super::dml::table_name;
use super::parser;
use super::statement::Stmt;
use super::types::{Classified, Kind, PinReason, TableRef};

/// The object keywords of CREATE / ALTER / DROP.
const OBJECTS: &[&str] = &[
    "TABLE",
    "VIEW",
    "SEQUENCE",
    "INDEX",
    "TRIGGER",
    "DATABASE",
    "SCHEMA",
    "PROCEDURE",
    "FUNCTION",
    "EVENT",
    "USER",
    "ROLE",
    "SERVER",
    "TABLESPACE",
    "PACKAGE",
    "LOGFILE",
    "SYNONYM",
];

/// Classifies a statement whose leading keyword (`verb`, upper-case) is a DDL verb.
pub(crate) fn ddl(s: Stmt<'_>, verb: &[u8]) -> Classified {
    let mut c = Classified::of(Kind::Ddl);
    let tables = match verb {
        b"CREATE" | b"ALTER" | b"DROP" => object(s, verb, &mut c),
        b"RENAME" if s.kw_any(1, &["TABLE", "TABLES"]) => rename(s),
        b"TRUNCATE" => table_name(s, if s.kw(1, "TABLE") { 2 } else { 1 }).map(|(t, _)| vec![t]),
        b"ANALYZE" | b"OPTIMIZE" | b"REPAIR" => {
            let i = (1..s.len().min(4)).find(|&i| s.kw_any(i, &["TABLE", "TABLES"]));
            i.and_then(|i| list(s, i + 1))
        }
        _ => Some(Vec::new()),
    };
    match tables {
        Some(t) => c.tables = t,
        None => {
            c.fast_path = false;
            match parser::write_tables(s) {
                Some(t) if !t.is_empty() => c.tables = t,
                _ => c.tables_known = false,
            }
        }
    }
    c
}

/// CREATE / ALTER / DROP [modifiers] <object> ...: the tables for TABLE, VIEW, SEQUENCE,
/// INDEX ... ON t, CREATE TRIGGER ... ON t; none for other objects.
fn object(s: Stmt<'_>, verb: &[u8], c: &mut Classified) -> Option<Vec<TableRef>> {
    let Some(at) = (1..s.len().min(16)).find(|&i| s.kw_any(i, OBJECTS)) else {
        return Some(Vec::new());
    };
    let temporary = (1..at).any(|i| s.kw(i, "TEMPORARY"));
    let mut i = at + 1;
    if s.kw(i, "IF") {
        i += if s.kw(i + 1, "NOT") { 3 } else { 2 };
    }
    if s.kw_any(at, &["TABLE", "VIEW", "SEQUENCE"]) {
        if temporary && verb == b"CREATE" {
            c.pins = Some(PinReason::TemporaryTable);
        } else if temporary && verb == b"DROP" {
            c.unpins = Some(PinReason::TemporaryTable);
        }
        return if verb == b"DROP" {
            list(s, i)
        } else {
            table_name(s, i).map(|(t, _)| vec![t])
        };
    }
    if s.kw_any(at, &["INDEX", "TRIGGER"]) {
        if s.kw(at, "TRIGGER") && verb != b"CREATE" {
            return Some(Vec::new());
        }
        let on = (i..s.len()).find(|&j| s.kw(j, "ON"))?;
        return table_name(s, on + 1).map(|(t, _)| vec![t]);
    }
    Some(Vec::new())
}

/// Comma-separated table names (DROP TABLE, ANALYZE TABLE ...).
fn list(s: Stmt<'_>, mut i: usize) -> Option<Vec<TableRef>> {
    let mut out = Vec::new();
    loop {
        let (t, j) = table_name(s, i)?;
        out.push(t);
        if !s.punct(j, b',') {
            return Some(out);
        }
        i = j + 1;
    }
}

/// RENAME TABLE a TO b [, c TO d]: both sides of every pair.
fn rename(s: Stmt<'_>) -> Option<Vec<TableRef>> {
    let mut out = Vec::new();
    let mut i = 2;
    loop {
        let (from, j) = table_name(s, i)?;
        if !s.kw(j, "TO") {
            return None;
        }
        let (to, k) = table_name(s, j + 1)?;
        out.push(from);
        out.push(to);
        if !s.punct(k, b',') {
            return Some(out);
        }
        i = k + 1;
    }
}
