//! `SELECT CONNECTION_ID()`, which the proxy answers itself with its own connection id (the
//! one in the greeting, the one `KILL` through the proxy accepts): a backend would answer with
//! its thread id, which differs per node and changes when a backend connection is replaced.
//!
//! Only the exact common shape is recognised, read from the whole text's tokens: `SELECT
//! CONNECTION_ID()` with an optional `AS alias`, any case, then nothing but whitespace and
//! `;`. Anything else (`CONNECTION_ID() + 0`, more columns, a FROM, comments inside the
//! call) goes to the server, which then answers with its own thread id.

use super::lexer::{unbacktick, Tok, Token};
use super::statement::Stmt;

/// The result column's name when the text is `SELECT CONNECTION_ID() [AS alias]` (the server
/// names the column after the call exactly as written, spaces inside the parentheses
/// included, or after the alias), else None.
pub(crate) fn column(s: Stmt<'_>) -> Option<String> {
    if !(s.kw(0, "SELECT") && s.kw(1, "CONNECTION_ID") && s.punct(2, b'(') && s.punct(3, b')')) {
        return None;
    }
    let (call_start, call_end) = (s.t[1].start, s.t[3].end);
    let blank = |bytes: &[u8]| bytes.iter().all(u8::is_ascii_whitespace);
    // Comments are not tokens: only whitespace may separate the tokens (a leading comment,
    // such as a consistency hint, does not change the answer).
    let tight = s.t[..4]
        .windows(2)
        .all(|w| blank(&s.sql[w[0].end..w[1].start]));
    if !tight {
        return None;
    }
    let mut next = 4;
    let mut name = String::from_utf8_lossy(&s.sql[call_start..call_end]).into_owned();
    if s.kw(4, "AS") {
        let alias = s.t.get(5)?;
        name = alias_name(s.sql, alias)?;
        if !blank(&s.sql[s.t[3].end..s.t[4].start]) || !blank(&s.sql[s.t[4].end..alias.start]) {
            return None;
        }
        next = 6;
    }
    let last_end = s.t[next - 1].end;
    let rest_empty = s.sql[last_end..]
        .iter()
        .all(|b| b.is_ascii_whitespace() || *b == b';');
    // A `;` is a token: every token after the call must be one, with nothing else in between.
    let only_semicolons = s.t[next..].iter().all(|t| t.tok == Tok::Punct(b';'));
    (rest_empty && only_semicolons).then_some(name)
}

/// An alias as the server names the column: a plain word as written, a backtick-quoted one
/// without its quotes (a doubled backtick inside is one). Quoted strings and words that are
/// not UTF-8 are left to the server.
fn alias_name(sql: &[u8], alias: &Token) -> Option<String> {
    let text = alias.text(sql);
    let name = match alias.tok {
        Tok::Word => std::str::from_utf8(text).ok()?.to_owned(),
        Tok::Quoted => std::str::from_utf8(unbacktick(text))
            .ok()?
            .replace("``", "`"),
        _ => return None,
    };
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use crate::classify::classify;

    fn column(sql: &str) -> Option<String> {
        classify(sql.as_bytes()).connection_id
    }

    #[test]
    fn the_common_shapes_are_answered_by_the_proxy() {
        for (sql, name) in [
            ("SELECT CONNECTION_ID()", "CONNECTION_ID()"),
            ("select connection_id()", "connection_id()"),
            ("  Select Connection_Id( ) ;", "Connection_Id( )"),
            ("SELECT CONNECTION_ID();", "CONNECTION_ID()"),
            ("SELECT CONNECTION_ID() AS id", "id"),
            ("select connection_id() as `my id`", "my id"),
            ("SELECT CONNECTION_ID() AS `a``b`;", "a`b"),
            ("SELECT\n\tCONNECTION_ID()\n", "CONNECTION_ID()"),
            (
                "/* myquorum:consistency=STRONG */ SELECT CONNECTION_ID()",
                "CONNECTION_ID()",
            ),
        ] {
            assert_eq!(column(sql).as_deref(), Some(name), "{sql:?}");
        }
    }

    #[test]
    fn other_shapes_go_to_the_server() {
        for sql in [
            "SELECT CONNECTION_ID() + 0",
            "SELECT CONNECTION_ID(), 1",
            "SELECT CONNECTION_ID() FROM dual",
            "SELECT CONNECTION_ID() id",
            "SELECT CONNECTION_ID() AS 'id'",
            "SELECT CONNECTION_ID() AS",
            "SELECT /* c */ CONNECTION_ID()",
            "SELECT CONNECTION_ID(/* c */)",
            "SELECT CONNECTION_ID(); SELECT 1",
            "SELECT `CONNECTION_ID`()",
            "SELECT CONNECTION_ID",
            "SELECT 'CONNECTION_ID()'",
            "DO CONNECTION_ID()",
        ] {
            assert_eq!(column(sql), None, "{sql:?}");
        }
    }
}
