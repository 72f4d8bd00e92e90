//! `@@socket` answered as NULL. A backend's unix socket path must never reach a client: some
//! drivers (mysql_async with its default `prefer_socket`) read `@@socket` right after login
//! and, on a loopback connection, silently reconnect to that socket, i.e. straight to one
//! MariaDB node, out of the proxy (a replica even, where writes fail and consistency levels
//! mean nothing). The proxy has no unix socket, so every system-variable reference to
//! `socket` (`@@socket`, `@@global.socket`, `@@session.socket`, `@@local.socket`, any case,
//! backticked parts too) in a relayed statement is rewritten to `NULL`, as a server without a
//! socket would answer.
//!
//! Where the reference is a whole item of a select list (`SELECT @@socket, @@version`), the
//! rewrite is `NULL AS `<the reference as written>`` so that the column keeps the server's
//! name; anywhere else (`WHERE x = @@socket`, `f(@@socket)`, `@@socket AS s`) it is a bare
//! `NULL`, because an alias there would not parse. Strings, quoted identifiers and comments are
//! tokens of their own (the classifier's lexer), so `'@@socket'` is left alone.
//!
//! Cost: statements whose bytes do not contain `socket` (any case) are never lexed here; the
//! byte search is the only work done on them.

use super::lexer::{lex, unbacktick, Escapes, Tok, Token};

/// The sql_mode readings that may split a text into different tokens (see `modes`): a
/// reference that any of them sees is rewritten, so no reading can leak the path.
const READINGS: [Escapes; 3] = [Escapes::DEFAULT, Escapes::NONE, Escapes::ANSI_QUOTES];

/// `sql` with every `@@socket` reference replaced by NULL, or None when it has none (the
/// text is then sent as it is).
pub fn hide_socket(sql: &[u8]) -> Option<Vec<u8>> {
    if !mentions_socket(sql) {
        return None;
    }
    let mut found: Vec<(usize, usize, bool)> = Vec::new();
    let mut tokens = Vec::new();
    let mut readings = 0;
    let mut seen: Vec<Vec<Token>> = Vec::new();
    for escapes in READINGS {
        let lexed = lex(sql, &mut tokens, escapes);
        if seen.contains(&tokens) {
            continue;
        }
        // Only text with a backslash inside quotes can read differently under another mode.
        let last = !lexed.backslash_quoted;
        // A reading that ends inside a string or comment is one the server rejects.
        let refs = if lexed.unterminated {
            Vec::new()
        } else {
            readings += 1;
            references(sql, &tokens)
        };
        for (first, end) in refs {
            let alias = select_item(sql, &tokens, first, end);
            let span = (tokens[first].start, tokens[end - 1].end, alias);
            match found.iter_mut().find(|f| f.0 == span.0 && f.1 == span.1) {
                Some(f) => f.2 &= alias,
                None => found.push(span),
            }
        }
        seen.push(std::mem::take(&mut tokens));
        if last {
            break;
        }
    }
    if found.is_empty() {
        return None;
    }
    if readings > 1 {
        // Readings that disagree on the tokens may disagree on where a select item ends:
        // no alias then (the column is named NULL).
        found.iter_mut().for_each(|f| f.2 = false);
    }
    found.sort_unstable();
    Some(rewrite(sql, &found))
}

/// Whether `sql` contains `socket` in any case: the only test a statement that does not
/// mention it pays. `k` is rare in SQL, so 32-byte chunks are tested for one with a
/// branch-free fold (vectorized), and only around each `k` found is `socket` compared
/// (about 3 ns for a 33-byte statement, 60 ns for 1 KiB, release build).
fn mentions_socket(sql: &[u8]) -> bool {
    let mut base = 0;
    for chunk in sql.chunks(32) {
        if chunk.iter().fold(false, |acc, &b| acc | (b | 0x20 == b'k')) {
            for (j, &b) in chunk.iter().enumerate() {
                let k = base + j;
                if b | 0x20 == b'k'
                    && k >= 3
                    && sql
                        .get(k - 3..k + 3)
                        .is_some_and(|w| w.eq_ignore_ascii_case(b"socket"))
                {
                    return true;
                }
            }
        }
        base += chunk.len();
    }
    false
}

/// The token ranges `[first, end)` of the `socket` system-variable references: a `@@...`
/// token and the backticked parts and dots written right after it, naming `socket` with an
/// optional `global.`, `session.` or `local.` scope.
fn references(sql: &[u8], tokens: &[Token]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < tokens.len() {
        if tokens[k].tok != Tok::SysVar {
            k += 1;
            continue;
        }
        let mut end = k + 1;
        while let Some(t) = tokens.get(end) {
            let adjacent = t.start == tokens[end - 1].end;
            if !adjacent || !matches!(t.tok, Tok::Quoted | Tok::Word | Tok::Punct(b'.')) {
                break;
            }
            end += 1;
        }
        let mut name = Vec::new();
        for t in &tokens[k..end] {
            name.extend_from_slice(match t.tok {
                Tok::Quoted => unbacktick(t.text(sql)),
                _ => t.text(sql),
            });
        }
        name.make_ascii_lowercase();
        if matches!(
            &name[..],
            b"@@socket" | b"@@global.socket" | b"@@session.socket" | b"@@local.socket"
        ) {
            out.push((k, end));
        }
        k = end;
    }
    out
}

/// Whether tokens `[first, end)` are a whole item of a select list, where an alias may follow.
/// Conservative: a wrong "no" only names the column NULL, a wrong "yes" would not parse.
fn select_item(sql: &[u8], t: &[Token], first: usize, end: usize) -> bool {
    const BEFORE: [&str; 9] = [
        "SELECT",
        "DISTINCT",
        "ALL",
        "DISTINCTROW",
        "STRAIGHT_JOIN",
        "HIGH_PRIORITY",
        "SQL_CACHE",
        "SQL_NO_CACHE",
        "SQL_CALC_FOUND_ROWS",
    ];
    const AFTER: [&str; 13] = [
        "FROM",
        "INTO",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "LIMIT",
        "ORDER",
        "GROUP",
        "HAVING",
        "WHERE",
        "WINDOW",
        "FOR",
        "LOCK",
    ];
    const CLAUSES: [&str; 11] = [
        "FROM", "WHERE", "HAVING", "BY", "ON", "USING", "SET", "VALUES", "VALUE", "LIMIT", "INTO",
    ];
    let Some(prev) = first.checked_sub(1).map(|p| &t[p]) else {
        return false;
    };
    let prev_ok = prev.tok == Tok::Punct(b',') || BEFORE.iter().any(|kw| prev.is_kw(sql, kw));
    let next_ok = match t.get(end) {
        None => true,
        Some(n) => {
            matches!(n.tok, Tok::Punct(b',' | b';' | b')'))
                || AFTER.iter().any(|kw| n.is_kw(sql, kw))
        }
    };
    if !(prev_ok && next_ok) {
        return false;
    }
    // The nearest SELECT at the same parenthesis depth, with no clause keyword in between.
    let mut depth = 0usize;
    for tok in t[..first].iter().rev() {
        match tok.tok {
            Tok::Punct(b')') => depth += 1,
            Tok::Punct(b'(') => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Tok::Punct(b';') => return false,
            Tok::Word if depth == 0 => {
                if tok.is_kw(sql, "SELECT") {
                    return true;
                }
                if CLAUSES.iter().any(|kw| tok.is_kw(sql, kw)) {
                    return false;
                }
            }
            _ => {}
        }
    }
    false
}

/// `sql` with each span `(start, end, alias)` (sorted) replaced by NULL, aliased with its
/// text as written when `alias`.
fn rewrite(sql: &[u8], spans: &[(usize, usize, bool)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sql.len() + 16 * spans.len());
    let mut at = 0;
    for &(start, end, alias) in spans {
        if start < at {
            continue; // overlaps the previous one (cannot happen: spans start at `@@`)
        }
        out.extend_from_slice(&sql[at..start]);
        out.extend_from_slice(b"NULL");
        if alias {
            out.extend_from_slice(b" AS `");
            for &b in &sql[start..end] {
                if b == b'`' {
                    out.push(b'`');
                }
                out.push(b);
            }
            out.push(b'`');
        }
        at = end;
    }
    out.extend_from_slice(&sql[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::hide_socket;

    fn hidden(sql: &str) -> Option<String> {
        hide_socket(sql.as_bytes()).map(|v| String::from_utf8(v).expect("utf-8"))
    }

    #[test]
    fn select_list_items_keep_their_column_name() {
        for (sql, want) in [
            ("SELECT @@socket", "SELECT NULL AS `@@socket`"),
            (
                "SELECT @@socket,@@max_allowed_packet,@@wait_timeout",
                "SELECT NULL AS `@@socket`,@@max_allowed_packet,@@wait_timeout",
            ),
            (
                "select @@max_allowed_packet, @@SOCKET;",
                "select @@max_allowed_packet, NULL AS `@@SOCKET`;",
            ),
            ("SELECT @@global.socket", "SELECT NULL AS `@@global.socket`"),
            (
                "SELECT @@Session.Socket FROM dual",
                "SELECT NULL AS `@@Session.Socket` FROM dual",
            ),
            ("SELECT @@`socket`", "SELECT NULL AS `@@``socket```"),
            (
                "SELECT @@global.`socket`",
                "SELECT NULL AS `@@global.``socket```",
            ),
            (
                "SELECT (SELECT @@socket), f(x), @@socket INTO @a, @b",
                "SELECT (SELECT NULL AS `@@socket`), f(x), NULL AS `@@socket` INTO @a, @b",
            ),
            (
                "/* myquorum:consistency=STRONG */ SELECT DISTINCT @@socket",
                "/* myquorum:consistency=STRONG */ SELECT DISTINCT NULL AS `@@socket`",
            ),
        ] {
            assert_eq!(hidden(sql).as_deref(), Some(want), "{sql:?}");
        }
    }

    #[test]
    fn other_places_get_a_bare_null() {
        for (sql, want) in [
            ("SELECT @@socket AS s", "SELECT NULL AS s"),
            ("SELECT @@socket s", "SELECT NULL s"),
            ("SELECT @@socket IS NULL", "SELECT NULL IS NULL"),
            ("SELECT 1 IN (2, @@socket, 3)", "SELECT 1 IN (2, NULL, 3)"),
            ("SELECT CONCAT('x', @@socket)", "SELECT CONCAT('x', NULL)"),
            ("SET @s = @@socket", "SET @s = NULL"),
            (
                "SELECT a FROM t WHERE b = @@socket",
                "SELECT a FROM t WHERE b = NULL",
            ),
            (
                "SELECT a FROM t ORDER BY a, @@socket",
                "SELECT a FROM t ORDER BY a, NULL",
            ),
            (
                "INSERT INTO t VALUES (1, @@socket)",
                "INSERT INTO t VALUES (1, NULL)",
            ),
            ("SELECT 1; DO 1, @@socket", "SELECT 1; DO 1, NULL"),
            ("CALL p(1, @@socket)", "CALL p(1, NULL)"),
        ] {
            assert_eq!(hidden(sql).as_deref(), Some(want), "{sql:?}");
        }
    }

    #[test]
    fn strings_comments_and_other_names_are_untouched() {
        for sql in [
            "SELECT 1",
            "SELECT '@@socket'",
            "SELECT \"@@socket\"",
            "SELECT `@@socket` FROM t",
            "SELECT 1 /* @@socket */",
            "SELECT 1 -- @@socket",
            "SELECT @socket",
            "SELECT @@socket_path",
            "SELECT @@sockets",
            "SELECT @@global.socket2",
            "SELECT socket FROM t",
            "SHOW VARIABLES LIKE 'socket'",
            "SELECT @@ socket",
        ] {
            assert_eq!(hidden(sql), None, "{sql:?}");
        }
    }

    #[test]
    fn a_reference_any_sql_mode_would_see_is_hidden() {
        // By default one string; under NO_BACKSLASH_ESCAPES a string, `@@socket`, a string.
        let sql = r"SELECT '\', @@socket, '\'";
        let out = hidden(sql).expect("rewritten");
        assert_eq!(out, r"SELECT '\', NULL AS `@@socket`, '\'");
        // The usual escaped text is read one way and left alone.
        assert_eq!(hidden(r"SELECT 'it\'s @@socket'"), None);
    }

    #[test]
    fn the_byte_search_finds_socket_at_every_offset() {
        use super::mentions_socket;
        for pad in 0..70 {
            let text = format!("{}SoCkEt{}", "k".repeat(pad), "x".repeat(pad % 7));
            assert!(mentions_socket(text.as_bytes()), "{text}");
            let broken = format!("{}socke t", "x".repeat(pad));
            assert!(!mentions_socket(broken.as_bytes()), "{broken}");
        }
        assert!(!mentions_socket(b"sock"));
        assert!(!mentions_socket(b"k"));
        assert!(!mentions_socket(b""));
    }

    #[test]
    fn not_utf8_text_is_rewritten_byte_for_byte() {
        let mut sql = b"SELECT '\xff', @@socket".to_vec();
        let out = hide_socket(&sql).expect("rewritten");
        sql.truncate(sql.len() - b"@@socket".len());
        sql.extend_from_slice(b"NULL AS `@@socket`");
        assert_eq!(out, sql);
    }
}
