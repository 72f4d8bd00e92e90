//! The statements the session itself must recognise, read from the same tokens as the rest of
//! the classification: a KILL of a *proxy* connection id (mapped to a backend thread), the
//! warnings queries the proxy completes with its own warning, `SHOW [FULL] PROCESSLIST`
//! (answered from the proxy's sessions), and the session settings it records to replay on a
//! connection it opens later.
//!
//! Each check looks at the leading keyword first and allocates nothing unless the statement
//! has the shape, so a plain SELECT or INSERT pays a few byte comparisons. The shapes are
//! deliberately narrow (a KILL followed by more text, or a warnings query with comments or an
//! alias, goes to the server unchanged).

use super::lexer::{Tok, Token};
use super::statement::Stmt;
use super::types::{Classified, Kill, WarningsQuery};

/// Fills [`Classified::kill`], [`Classified::warnings`] and [`Classified::session_setting`]
/// from the whole text's tokens (`s` spans every token, comments removed; `c` is the rest of
/// the answer). A `SET STATEMENT ... FOR` rewrite already set `session_setting` for the text
/// it sends.
pub(crate) fn apply(s: Stmt<'_>, c: &mut Classified) {
    let Some(first) = s.t.first().filter(|t| t.tok == Tok::Word) else {
        return;
    };
    match first.end - first.start {
        3 if c.set_statement.is_none() => {
            c.session_setting = !c.multi_statement && session_setting(s);
        }
        4 if s.kw(0, "KILL") => c.kill = kill(s),
        4 if s.kw(0, "SHOW") && !c.multi_statement => {
            c.processlist = processlist(s);
            c.warnings = warnings(s);
        }
        4 | 6 => c.warnings = warnings(s),
        _ => {}
    }
}

/// `KILL [HARD | SOFT] [CONNECTION | QUERY] <id>` with a decimal id that fits a connection id,
/// followed by nothing or by `;` (what comes after a `;` is not looked at). Anything else
/// (`KILL USER u`, `KILL QUERY ID 5`, `KILL 5 6`) is None: the server gets it unchanged.
fn kill(s: Stmt<'_>) -> Option<Kill> {
    let mut i = 1;
    if s.kw_any(i, &["HARD", "SOFT"]) {
        i += 1;
    }
    let mut query_only = false;
    if s.kw(i, "QUERY") {
        query_only = true;
        i += 1;
    } else if s.kw(i, "CONNECTION") {
        i += 1;
    }
    let id = s.t.get(i).filter(|t| t.tok == Tok::Num)?;
    if !(s.t.get(i + 1).is_none() || s.punct(i + 1, b';')) {
        return None;
    }
    let digits = id.text(s.sql);
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let target = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(Kill { query_only, target })
}

/// `SHOW [FULL] PROCESSLIST` followed by nothing or `;`: `Some(full)`.
fn processlist(s: Stmt<'_>) -> Option<bool> {
    let full = s.kw(1, "FULL");
    let at = if full { 2 } else { 1 };
    let end = s.kw(at, "PROCESSLIST") && (s.t.get(at + 1).is_none() || s.punct(at + 1, b';'));
    end.then_some(full)
}

/// True when the statement sets session variables and can be replayed as is: `SET x = ..`,
/// `SET SESSION ..`, `SET @@session.x`, `SET NAMES`, `SET CHARACTER SET`, `SET ROLE`. Not:
/// `SET GLOBAL` / `SET @@global.x` (server-wide), `SET TRANSACTION` (next transaction only),
/// `SET STATEMENT .. FOR` (one statement), `SET PASSWORD`, user variables (`SET @a`: state
/// that pins, not a setting), `SET DEFAULT ROLE`, and a first name that is quoted.
/// Only the first assignment is looked at.
pub(crate) fn session_setting(s: Stmt<'_>) -> bool {
    if !s.kw(0, "SET") {
        return false;
    }
    let Some(t) = s.t.get(1) else {
        return false;
    };
    match t.tok {
        Tok::SysVar => {
            let name = &t.text(s.sql)[2..];
            let scope = if name.is_empty() {
                s.t.get(2)
                    .filter(|n| n.tok == Tok::Word)
                    .map_or(&[][..], |n| n.text(s.sql))
            } else {
                name
            };
            !word_prefix(scope).eq_ignore_ascii_case(b"GLOBAL")
        }
        Tok::Word => {
            let word = word_prefix(t.text(s.sql));
            !word.is_empty()
                && !["GLOBAL", "TRANSACTION", "STATEMENT", "PASSWORD", "DEFAULT"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k.as_bytes()))
        }
        _ => false,
    }
}

/// The leading ASCII word of `text` (letters, digits, `_`): what a keyword comparison sees.
fn word_prefix(text: &[u8]) -> &[u8] {
    let len = text
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        .unwrap_or(text.len());
    &text[..len]
}

/// `SHOW WARNINGS ...` (any continuation), or exactly one of the warning-count shapes.
fn warnings(s: Stmt<'_>) -> Option<WarningsQuery> {
    if s.kw(0, "SHOW") && s.kw(1, "WARNINGS") {
        return Some(WarningsQuery::ShowWarnings);
    }
    warning_count_column(s).map(|column| WarningsQuery::WarningCount { column })
}

/// The column to answer with when the text is exactly `SELECT @@warning_count` (also
/// `@@session.warning_count`, any case: named as written, as the server names it) or `SHOW
/// COUNT(*) WARNINGS` (which the server names `@@session.warning_count`), with nothing but
/// whitespace between the tokens and nothing but whitespace and `;` after them. Anything else
/// (more columns, comments, aliases) is None: the server answers it.
fn warning_count_column(s: Stmt<'_>) -> Option<String> {
    let shape: &[Token] = if s.kw(0, "SELECT") {
        let var = s.t.get(1).filter(|t| t.tok == Tok::SysVar)?;
        let name = &var.text(s.sql)[2..];
        let name = name
            .get(..8)
            .filter(|scope| scope.eq_ignore_ascii_case(b"session."))
            .map_or(name, |_| &name[8..]);
        if !name.eq_ignore_ascii_case(b"warning_count") {
            return None;
        }
        &s.t[..2]
    } else if s.kw(0, "SHOW")
        && s.kw(1, "COUNT")
        && s.punct(2, b'(')
        && s.punct(3, b'*')
        && s.punct(4, b')')
        && s.kw(5, "WARNINGS")
    {
        &s.t[..6]
    } else {
        return None;
    };
    let blank = |bytes: &[u8]| bytes.iter().all(u8::is_ascii_whitespace);
    let (first, last) = (shape.first()?, shape.last()?);
    let tight = shape
        .windows(2)
        .all(|w| blank(&s.sql[w[0].end..w[1].start]));
    let rest_empty = s.sql[last.end..]
        .iter()
        .all(|b| b.is_ascii_whitespace() || *b == b';');
    if !(blank(&s.sql[..first.start]) && tight && rest_empty) {
        return None;
    }
    Some(if s.kw(0, "SELECT") {
        String::from_utf8_lossy(last.text(s.sql)).into_owned()
    } else {
        "@@session.warning_count".to_owned()
    })
}
