//! Writes on the fast path: INSERT / REPLACE, UPDATE (single and multi-table), DELETE (single
//! and both multi-table forms), LOAD DATA / XML, each with the tables it writes. A shape the
//! scanner cannot name tables for goes to sqlparser ([`parser::write_tables`]).

use std::collections::{HashMap, HashSet};

use super::features;
use super::lexer::{ident_text, Tok};
use super::parser;
use super::statement::Stmt;
use super::types::{Classified, Kind, TableRef};

/// A table reference of a FROM / UPDATE / USING list and its alias.
type Aliased = (TableRef, Option<String>);

/// INSERT / REPLACE [LOW_PRIORITY | DELAYED | HIGH_PRIORITY] [IGNORE] [INTO] t ...
/// (INSERT ... SELECT, ON DUPLICATE KEY UPDATE and RETURNING included: the target is written).
pub(crate) fn insert(s: Stmt<'_>, at: usize) -> Classified {
    let mut i = at + 1;
    while s.kw_any(
        i,
        &["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"],
    ) {
        i += 1;
    }
    let tables = table_name(s, i).map(|(t, _)| vec![t]);
    write(s, tables)
}

/// UPDATE [LOW_PRIORITY] [IGNORE] table_references SET ...: every table of the references is
/// listed (a multi-table UPDATE may write any of them), CTE names excluded.
pub(crate) fn update(s: Stmt<'_>, at: usize, ctes: &[&[u8]]) -> Classified {
    let mut i = at + 1;
    while s.kw_any(i, &["LOW_PRIORITY", "IGNORE"]) {
        i += 1;
    }
    let tables = table_refs(s, i, &["SET"])
        .filter(|(_, end)| s.kw(*end, "SET"))
        .map(|(refs, _)| without_ctes(refs.into_iter().map(|(t, _)| t), ctes));
    write(s, tables)
}

/// DELETE [LOW_PRIORITY] [QUICK] [IGNORE] in its three forms:
/// `FROM t ...`, `t1[.*], ... FROM refs ...`, `FROM t1[.*], ... USING refs ...`.
/// The tables rows are deleted from are listed, aliases resolved.
pub(crate) fn delete(s: Stmt<'_>, at: usize, ctes: &[&[u8]]) -> Classified {
    const END: &[&str] = &["WHERE", "ORDER", "LIMIT", "RETURNING"];
    let mut i = at + 1;
    while s.kw_any(i, &["LOW_PRIORITY", "QUICK", "IGNORE"]) {
        i += 1;
    }
    let tables = if s.kw(i, "FROM") {
        name_list(s, i + 1).and_then(|(targets, j)| {
            if s.kw(j, "USING") {
                let (refs, _) = table_refs(s, j + 1, END)?;
                Some(resolve(targets, &refs))
            } else {
                Some(targets)
            }
        })
    } else {
        name_list(s, i).and_then(|(targets, j)| {
            if !s.kw(j, "FROM") {
                return None;
            }
            let (refs, _) = table_refs(s, j + 1, END)?;
            Some(resolve(targets, &refs))
        })
    };
    write(s, tables.map(|t| without_ctes(t.into_iter(), ctes)))
}

/// LOAD DATA | XML [LOW_PRIORITY | CONCURRENT] [LOCAL] INFILE 'f' [REPLACE | IGNORE]
/// INTO TABLE t ...; LOAD INDEX INTO CACHE is not a write.
pub(crate) fn load(s: Stmt<'_>) -> Classified {
    if !s.kw_any(1, &["DATA", "XML"]) {
        return Classified::of(Kind::Other);
    }
    let tables = (2..s.len())
        .find(|&i| s.kw(i, "INTO") && s.kw(i + 1, "TABLE"))
        .and_then(|i| table_name(s, i + 2))
        .map(|(t, _)| vec![t]);
    write(s, tables)
}

/// A Write with `tables` (or sqlparser's answer when the scanner found none), plus the
/// session-state findings.
fn write(s: Stmt<'_>, tables: Option<Vec<TableRef>>) -> Classified {
    let mut c = Classified::of(Kind::Write);
    match tables {
        Some(t) if !t.is_empty() => c.tables = t,
        _ => {
            c.fast_path = false;
            match parser::write_tables(s) {
                Some(t) if !t.is_empty() => c.tables = t,
                _ => c.tables_known = false,
            }
        }
    }
    features::scan(s).apply(&mut c);
    c
}

/// `name` or `db.name` at token `i`; returns it and the index after it.
pub(crate) fn table_name(s: Stmt<'_>, i: usize) -> Option<(TableRef, usize)> {
    let first = s.t.get(i)?;
    let a = ident_text(s.sql, first)?;
    if s.punct(i + 1, b'.') {
        if let Some(b) = s.t.get(i + 2).and_then(|t| ident_text(s.sql, t)) {
            return Some((
                TableRef {
                    db: Some(a),
                    name: b,
                },
                i + 3,
            ));
        }
    }
    Some((TableRef { db: None, name: a }, i + 1))
}

/// Comma-separated names, each optionally followed by `.*` (DELETE targets).
fn name_list(s: Stmt<'_>, mut i: usize) -> Option<(Vec<TableRef>, usize)> {
    let mut out = Vec::new();
    loop {
        let (t, mut j) = table_name(s, i)?;
        if s.punct(j, b'.') && s.punct(j + 1, b'*') {
            j += 2;
        }
        out.push(t);
        if !s.punct(j, b',') {
            return Some((out, j));
        }
        i = j + 1;
    }
}

/// Words that end a table reference where an alias could stand.
const NOT_ALIAS: &[&str] = &[
    "ON",
    "USING",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "CROSS",
    "NATURAL",
    "STRAIGHT_JOIN",
    "OUTER",
    "SET",
    "WHERE",
    "USE",
    "FORCE",
    "IGNORE",
    "PARTITION",
    "ORDER",
    "LIMIT",
    "RETURNING",
    "FROM",
    "FOR",
    "LATERAL",
    "GROUP",
    "HAVING",
    "WINDOW",
    "UNION",
];

/// The tables of a table_references list starting at token `i`, up to one of `stops` at
/// depth 0 (or the end). Derived tables are skipped; a table function makes it unsure (None).
fn table_refs(s: Stmt<'_>, mut i: usize, stops: &[&str]) -> Option<(Vec<Aliased>, usize)> {
    let mut out = Vec::new();
    let mut expect = true;
    let mut depth = 0usize;
    while i < s.len() {
        if depth == 0 && s.kw_any(i, stops) {
            break;
        }
        let t = s.t[i];
        match t.tok {
            Tok::Punct(b'(') => {
                let derived = s.kw_any(i + 1, &["SELECT", "WITH", "VALUES", "TABLE"]);
                if expect && !derived {
                    depth += 1;
                    i += 1;
                } else {
                    i = s.skip_parens(i)?;
                    expect = false;
                }
            }
            Tok::Punct(b')') => {
                depth = depth.checked_sub(1)?;
                expect = false;
                i += 1;
            }
            Tok::Punct(b',') => {
                expect = true;
                i += 1;
            }
            Tok::Word if s.kw_any(i, &["JOIN", "STRAIGHT_JOIN"]) => {
                expect = true;
                i += 1;
            }
            Tok::Word if s.kw(i, "LATERAL") => i += 1,
            Tok::Word | Tok::Quoted if expect => {
                let (table, mut j) = table_name(s, i)?;
                if s.kw(j, "PARTITION") && s.punct(j + 1, b'(') {
                    j = s.skip_parens(j + 1)?;
                }
                if s.punct(j, b'(') {
                    return None;
                }
                let mut alias = None;
                if s.kw(j, "AS") {
                    alias = s.t.get(j + 1).and_then(|t| ident_text(s.sql, t));
                    j += 2;
                } else if matches!(s.t.get(j).map(|t| t.tok), Some(Tok::Word | Tok::Quoted))
                    && !s.kw_any(j, NOT_ALIAS)
                    && !s.kw_any(j, stops)
                {
                    alias = ident_text(s.sql, &s.t[j]);
                    j += 1;
                }
                out.push((table, alias));
                expect = false;
                i = j;
            }
            _ => i += 1,
        }
    }
    (depth == 0 && !out.is_empty()).then_some((out, i))
}

/// DELETE targets named by alias or table name, mapped to the referenced tables. Indexed by
/// alias and by name, so many targets cost linear time.
fn resolve(targets: Vec<TableRef>, refs: &[Aliased]) -> Vec<TableRef> {
    let mut by_alias: HashMap<&str, &TableRef> = HashMap::new();
    let mut by_name: HashMap<&str, Vec<&TableRef>> = HashMap::new();
    for (t, alias) in refs {
        if let Some(a) = alias {
            by_alias.entry(a.as_str()).or_insert(t);
        }
        by_name.entry(t.name.as_str()).or_default().push(t);
    }
    targets
        .into_iter()
        .map(|target| {
            if target.db.is_none() {
                if let Some(t) = by_alias.get(target.name.as_str()) {
                    return (*t).clone();
                }
            }
            by_name
                .get(target.name.as_str())
                .and_then(|ts| ts.iter().find(|t| target.db.is_none() || t.db == target.db))
                .map_or(target, |t| (*t).clone())
        })
        .collect()
}

/// Drops CTE names (unqualified references to a WITH clause's names) and duplicates, in
/// linear time (a statement may name thousands of tables and CTEs).
fn without_ctes(tables: impl Iterator<Item = TableRef>, ctes: &[&[u8]]) -> Vec<TableRef> {
    let many: Option<HashSet<Vec<u8>>> =
        (ctes.len() > SHORT).then(|| ctes.iter().map(|c| c.to_ascii_lowercase()).collect());
    let mut out = Unique::default();
    for t in tables {
        let name = t.name.as_bytes();
        let is_cte = t.db.is_none()
            && match &many {
                Some(set) => set.contains(&name.to_ascii_lowercase()),
                None => ctes.iter().any(|c| c.eq_ignore_ascii_case(name)),
            };
        if !is_cte {
            out.push(t);
        }
    }
    out.into_vec()
}

/// Lists shorter than this are searched linearly (no hashing, no allocation for the common
/// statement of one to three tables); longer ones through a hash set.
const SHORT: usize = 16;

/// A list of tables without duplicates, in first-seen order, built in linear time.
#[derive(Default)]
pub(crate) struct Unique {
    list: Vec<TableRef>,
    seen: Option<HashSet<TableRef>>,
}

impl Unique {
    /// Appends `t` unless it is already listed.
    pub(crate) fn push(&mut self, t: TableRef) {
        if self.list.len() < SHORT {
            if !self.list.contains(&t) {
                self.list.push(t);
            }
            return;
        }
        let list = &self.list;
        let seen = self
            .seen
            .get_or_insert_with(|| list.iter().cloned().collect());
        if seen.insert(t.clone()) {
            self.list.push(t);
        }
    }

    /// The tables, in first-seen order.
    pub(crate) fn into_vec(self) -> Vec<TableRef> {
        self.list
    }
}
