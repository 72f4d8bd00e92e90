//! The slow path: sqlparser with MySqlDialect, for statements whose leading keyword the fast
//! path does not know and for writes / DDL whose tables it cannot name. sqlparser costs
//! microseconds and rejects several MariaDB forms (DESIGN.md section 5), so it never decides
//! what the fast path already knows; text it rejects is Unparseable and runs on the primary.

use sqlparser::ast::{
    FromTable, ObjectName, ObjectNamePart, Statement, TableFactor, TableObject, TableWithJoins,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::statement::Stmt;
use super::types::{Classified, Kind, TableRef};

fn parse(text: &[u8]) -> Option<Statement> {
    let text = String::from_utf8_lossy(text);
    let mut statements = Parser::parse_sql(&MySqlDialect {}, &text).ok()?;
    (statements.len() == 1).then(|| statements.remove(0))
}

/// Classifies a statement the fast path does not recognise.
pub(crate) fn fallback(s: Stmt<'_>) -> Classified {
    let Some(statement) = parse(s.text()) else {
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
/// text or the statement names none.
pub(crate) fn write_tables(text: &[u8]) -> Option<Vec<TableRef>> {
    tables_of(&parse(text)?)
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
