//! A tiny lexical scan of statement text: the leading words, past whitespace and comments.
//! Enough for the statements the session itself must recognise (KILL with a proxy id, session
//! SETs to replay) at a cost of nanoseconds; full classification is the router's job.

/// A leading token of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A word (keyword or identifier), upper-cased ASCII.
    Word(String),
    /// An unsigned integer literal.
    Number(u64),
    /// Any other single character (`@`, `=`, `(`, ...).
    Punct(u8),
}

/// Up to `max` leading tokens of `sql`, skipping whitespace and `/* */`, `-- `, `#` comments.
/// Scanning stops early at anything it does not tokenise (quotes, for example).
pub fn leading_tokens(sql: &[u8], max: usize) -> Vec<Token> {
    let mut out = Vec::with_capacity(max);
    let mut i = 0;
    while out.len() < max && i < sql.len() {
        let c = sql[i];
        if let Some(next) = skip_blank(sql, i) {
            i = next;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < sql.len() && (sql[i].is_ascii_alphanumeric() || sql[i] == b'_') {
                i += 1;
            }
            out.push(Token::Word(
                String::from_utf8_lossy(&sql[start..i]).to_ascii_uppercase(),
            ));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < sql.len() && sql[i].is_ascii_digit() {
                i += 1;
            }
            match std::str::from_utf8(&sql[start..i])
                .ok()
                .and_then(|s| s.parse().ok())
            {
                Some(n) => out.push(Token::Number(n)),
                None => break,
            }
        } else if c == b'\'' || c == b'"' || c == b'`' {
            break;
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// Whether the first token of `sql` is the word `upper` (given in upper case), any case.
/// Allocates nothing: the per-statement checks call it before any full scan.
pub fn starts_with_word(sql: &[u8], upper: &[u8]) -> bool {
    let mut i = 0;
    while let Some(next) = skip_blank(sql, i) {
        i = next;
    }
    let rest = &sql[i..];
    rest.len() >= upper.len()
        && rest[..upper.len()].eq_ignore_ascii_case(upper)
        && !rest
            .get(upper.len())
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Where scanning resumes after the whitespace or comment at `i`, or None when `i` starts
/// neither (or is the end).
fn skip_blank(sql: &[u8], i: usize) -> Option<usize> {
    let c = *sql.get(i)?;
    if c.is_ascii_whitespace() {
        Some(i + 1)
    } else if sql[i..].starts_with(b"/*") {
        Some(
            sql[i + 2..]
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(sql.len(), |p| i + 2 + p + 2),
        )
    } else if c == b'#' || sql[i..].starts_with(b"-- ") || sql[i..].starts_with(b"--\t") {
        Some(
            sql[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(sql.len(), |p| i + p + 1),
        )
    } else {
        None
    }
}

/// True when the rest of `sql` after the scanned tokens is only whitespace, `;` and comments.
pub fn only_tokens(sql: &[u8], count: usize) -> bool {
    leading_tokens(sql, count + 1)
        .get(count..)
        .is_none_or(|rest| rest.iter().all(|t| *t == Token::Punct(b';')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_words_are_matched_without_a_scan() {
        assert!(starts_with_word(b"  /* c */ -- x\n kill 5", b"KILL"));
        assert!(starts_with_word(b"set x=1", b"SET"));
        assert!(starts_with_word(b"SET", b"SET"));
        assert!(!starts_with_word(b"SETTINGS", b"SET"));
        assert!(!starts_with_word(b"SELECT 1", b"SET"));
        assert!(!starts_with_word(b"", b"SET"));
        assert!(!starts_with_word(b"/* unterminated", b"SET"));
    }

    fn w(s: &str) -> Token {
        Token::Word(s.to_owned())
    }

    #[test]
    fn skips_comments_and_uppercases() {
        assert_eq!(
            leading_tokens(b"  /* hint */ -- x\n # y\n kill query 42;", 4),
            vec![w("KILL"), w("QUERY"), Token::Number(42), Token::Punct(b';')]
        );
        assert_eq!(
            leading_tokens(b"set @@session.x=1", 3),
            vec![w("SET"), Token::Punct(b'@'), Token::Punct(b'@')]
        );
    }

    #[test]
    fn stops_at_quotes_and_detects_trailing_text() {
        assert_eq!(
            leading_tokens(b"SET NAMES 'utf8'", 5),
            vec![w("SET"), w("NAMES")]
        );
        assert!(only_tokens(b"KILL 5 ;", 2));
        assert!(!only_tokens(b"KILL 5 AND", 2));
    }
}
