//! The slow path: sqlparser with MySqlDialect, for statements whose leading keyword the fast
//! path does not know and for writes / DDL whose tables it cannot name. sqlparser costs
//! microseconds and rejects several MariaDB forms (DESIGN.md section 5), so it never decides
//! what the fast path already knows; text it rejects is Unparseable and runs on the primary.
//!
//! Two bounds keep a hostile statement from stalling a session thread: text longer than
//! [`MAX_PARSED_LEN`] is never handed to sqlparser (the fast path, linear in the length, still
//! classifies it, and the caller sends it to the primary), and sqlparser's recursion is capped
//! at [`PARSER_RECURSION_LIMIT`] levels of nesting (deeper text is a parse error: primary).

use sqlparser::ast::{
    FromTable, ObjectName, ObjectNamePart, Statement, TableFactor, TableObject, TableWithJoins,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::statement::Stmt;
use super::types::{Classified, Kind, TableRef};

/// Longest COM_QUERY text, in bytes, that sqlparser may see (64 KiB). Longer text is
/// classified by the fast path alone and always runs on the primary: a write's tables are
/// then the fast path's or unknown (`tables_known` false), and a shape only sqlparser reads
/// is unparseable. sqlparser parses a 100 KB INSERT in about 2 ms (DESIGN.md section 5), time
/// during which every session on that thread waits; statements this long are bulk loads,
/// which belong on the primary anyway.
pub const MAX_PARSED_LEN: usize = 64 * 1024;

/// sqlparser's recursion limit (nested expressions, subqueries, parentheses). It is
/// sqlparser's own default, set here so that an upgrade cannot silently raise it: each
/// level is a stack frame of the session's thread.
pub(crate) const PARSER_RECURSION_LIMIT: usize = 50;

/// True when `s`'s whole text is too long for sqlparser (see [`MAX_PARSED_LEN`]).
pub(crate) fn too_long(s: Stmt<'_>) -> bool {
    s.sql.len() > MAX_PARSED_LEN
}

fn parse(s: Stmt<'_>) -> Option<Statement> {
    if too_long(s) {
        return None;
    }
    super::work::parser_call();
    let text = String::from_utf8_lossy(s.text());
    let mut statements = Parser::new(&MySqlDialect {})
        .with_recursion_limit(PARSER_RECURSION_LIMIT)
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_statements())
        .ok()?;
    (statements.len() == 1).then(|| statements.remove(0))
}

/// Classifies a statement the fast path does not recognise.
pub(crate) fn fallback(s: Stmt<'_>) -> Classified {
    let Some(statement) = parse(s) else {
        return Classified {
            fast_path: false,
            ..Classified::unparseable()
        };
    };
    let kind = match &statement {
        Statement::Query(_) => Kind::PrimaryRead,
        Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => Kind::Write,
        Statement::CreateTable(_)
        | Statement::CreateView(_)
        | Statement::CreateIndex(_)
        | Statement::AlterTable(_)
        | Statement::Drop { .. }
        | Statement::Truncate(_) => Kind::Ddl,
        _ => Kind::Other,
    };
    let mut c = Classified::of(kind);
    c.fast_path = false;
    if matches!(kind, Kind::Write | Kind::Ddl) {
        match tables_of(&statement) {
            Some(t) => c.tables = t,
            None => c.tables_known = false,
        }
    }
    c
}

/// The tables a write or DDL statement writes, per sqlparser; None when it cannot parse the
/// text, the text is too long for it, or the statement names none.
pub(crate) fn write_tables(s: Stmt<'_>) -> Option<Vec<TableRef>> {
    tables_of(&parse(s)?)
}

fn tables_of(statement: &Statement) -> Option<Vec<TableRef>> {
    let mut out = Vec::new();
    match statement {
        Statement::Insert(insert) => match &insert.table {
            TableObject::TableName(name) => out.extend(table_ref(name)),
            _ => return None,
        },
        Statement::Update(update) => joined(&update.table, &mut out),
        Statement::Delete(delete) => {
            if delete.tables.is_empty() {
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                    &delete.from;
                from.iter().for_each(|t| joined(t, &mut out));
            } else {
                out.extend(delete.tables.iter().filter_map(table_ref));
            }
        }
        Statement::CreateTable(create) => out.extend(table_ref(&create.name)),
        Statement::CreateView(view) => out.extend(table_ref(&view.name)),
        Statement::CreateIndex(index) => out.extend(table_ref(&index.table_name)),
        Statement::AlterTable(alter) => out.extend(table_ref(&alter.name)),
        Statement::Drop { names, .. } => out.extend(names.iter().filter_map(table_ref)),
        Statement::Truncate(truncate) => out.extend(
            truncate
                .table_names
                .iter()
                .filter_map(|t| table_ref(&t.name)),
        ),
        _ => return None,
    }
    (!out.is_empty()).then_some(out)
}

/// The named tables of a FROM item and its joins (derived tables skipped).
fn joined(t: &TableWithJoins, out: &mut Vec<TableRef>) {
    for factor in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
        if let TableFactor::Table { name, .. } = factor {
            if let Some(r) = table_ref(name) {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
    }
}

/// `[db.]name` as a [`TableRef`]; None for longer or function-valued names.
fn table_ref(name: &ObjectName) -> Option<TableRef> {
    let parts: Vec<&str> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(ident) => Some(ident.value.as_str()),
            ObjectNamePart::Function(_) => None,
        })
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [table] => Some(TableRef::new(table)),
        [db, table] => Some(TableRef::qualified(db, table)),
        _ => None,
    }
}
