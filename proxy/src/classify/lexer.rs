//! One pass over the statement bytes: tokens with their byte spans, the leading-comment hint,
//! and whether the text ended inside a string or comment. Only ASCII is interpreted, so text
//! that is not UTF-8 needs no copy. Executable comments (`/*! ... */`, `/*!50100 ... */`,
//! `/*M! ... */`, `/*M!100100 ... */`) are statement text: their markers are skipped and their
//! content is tokenized like the rest (the server's version gate is assumed to pass).

use super::types::Consistency;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An unquoted word: keyword or identifier.
    Word,
    /// A backtick-quoted identifier (span includes the backticks).
    Quoted,
    /// A `'...'` or `"..."` string (span includes the quotes).
    Str,
    /// A number (or an identifier starting with a digit).
    Num,
    /// `@name`, `@'name'`, ``@`name` ``.
    UserVar,
    /// `@@name`, `@@session.name`, ...
    SysVar,
    /// Any other single byte.
    Punct(u8),
}

/// A token and its byte span in the statement text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The token's bytes.
    pub fn text<'a>(&self, sql: &'a [u8]) -> &'a [u8] {
        &sql[self.start..self.end]
    }

    /// True for an unquoted word equal to `kw` (given upper-case), ignoring ASCII case.
    pub fn is_kw(&self, sql: &[u8], kw: &str) -> bool {
        self.tok == Tok::Word && self.text(sql).eq_ignore_ascii_case(kw.as_bytes())
    }
}

/// What the lexer found besides the tokens.
#[derive(Debug, Default)]
pub(crate) struct Lexed {
    /// A `myquorum:consistency=X` found in a comment before the first token.
    pub hint: Option<Consistency>,
    /// The text ended inside a string, quoted identifier or comment (the server rejects
    /// such text in the sql_mode this reading assumes).
    pub unterminated: bool,
    /// A backslash stood inside a `'...'` or `"..."` span: the text may split into other
    /// tokens under another sql_mode (see [`Escapes`]).
    pub backslash_quoted: bool,
}

/// Where a backslash escapes the next byte, which depends on the session's `sql_mode`: the
/// classifier does not know it, so text whose tokens depend on it is read every way (see
/// `statement::classify_with`). Under `NO_BACKSLASH_ESCAPES`, `'\' FOR UPDATE -- '` is a
/// string and a locking clause, not one string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Escapes {
    /// In `'...'` strings.
    pub single: bool,
    /// In `"..."` strings.
    pub double: bool,
}

impl Escapes {
    /// MariaDB's default: a backslash escapes in both kinds of strings.
    pub const DEFAULT: Escapes = Escapes {
        single: true,
        double: true,
    };
    /// `NO_BACKSLASH_ESCAPES` (with or without `ANSI_QUOTES`): a backslash is a plain byte.
    pub const NONE: Escapes = Escapes {
        single: false,
        double: false,
    };
    /// `ANSI_QUOTES` alone: `"..."` is an identifier, where a backslash is a plain byte.
    pub const ANSI_QUOTES: Escapes = Escapes {
        single: true,
        double: false,
    };

    /// Whether a backslash escapes inside a span opened by `quote`.
    fn within(self, quote: u8) -> bool {
        match quote {
            b'\'' => self.single,
            b'"' => self.double,
            _ => false,
        }
    }
}

/// Bytes that continue an identifier: ASCII letters, digits, `_`, `$`, and every non-ASCII
/// byte (UTF-8 identifiers), as a lookup table for the hot loops.
const IDENT: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
        b += 1;
    }
    t
};

fn is_ident_byte(b: u8) -> bool {
    IDENT[b as usize]
}

/// Tokenizes `sql` into `tokens` (cleared first; comments removed), with backslashes
/// escaping as `escapes` says.
pub(crate) fn lex(sql: &[u8], tokens: &mut Vec<Token>, escapes: Escapes) -> Lexed {
    super::work::lex_pass();
    tokens.clear();
    let mut out = Lexed::default();
    let n = sql.len();
    let mut i = 0;
    let mut in_exec = false;
    while i < n {
        let c = sql[i];
        let next = sql.get(i + 1).copied().unwrap_or(0);
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                i += 1;
                continue;
            }
            b'/' if next == b'*' => {
                let rest = &sql[i + 2..];
                if rest.first() == Some(&b'!') || rest.starts_with(b"M!") {
                    i += if rest[0] == b'!' { 3 } else { 4 };
                    while i < n && sql[i].is_ascii_digit() {
                        i += 1;
                    }
                    in_exec = true;
                    continue;
                }
                let Some(p) = find(rest, b"*/") else {
                    out.unterminated = true;
                    break;
                };
                if tokens.is_empty() && !in_exec && out.hint.is_none() {
                    out.hint = hint_in(&rest[..p]);
                }
                i += 2 + p + 2;
                continue;
            }
            b'*' if in_exec && next == b'/' => {
                in_exec = false;
                i += 2;
                continue;
            }
            b'#' => {
                i = line_comment(sql, i, tokens.is_empty(), &mut out);
                continue;
            }
            b'-' if next == b'-' && sql.get(i + 2).is_none_or(|&b| b <= b' ') => {
                i = line_comment(sql, i, tokens.is_empty(), &mut out);
                continue;
            }
            b'\'' | b'"' => match quoted_end(sql, i, c, escapes.within(c), &mut out) {
                Some(e) => {
                    i = e;
                    Tok::Str
                }
                None => {
                    out.unterminated = true;
                    break;
                }
            },
            b'`' => match quoted_end(sql, i, b'`', false, &mut out) {
                Some(e) => {
                    i = e;
                    Tok::Quoted
                }
                None => {
                    out.unterminated = true;
                    break;
                }
            },
            b'@' if next == b'@' => {
                i += 2;
                while i < n && (is_ident_byte(sql[i]) || sql[i] == b'.') {
                    i += 1;
                }
                Tok::SysVar
            }
            b'@' => {
                i += 1;
                if matches!(next, b'\'' | b'"' | b'`') {
                    match quoted_end(sql, i, next, escapes.within(next), &mut out) {
                        Some(e) => i = e,
                        None => {
                            out.unterminated = true;
                            break;
                        }
                    }
                } else {
                    while i < n && (is_ident_byte(sql[i]) || sql[i] == b'.') {
                        i += 1;
                    }
                }
                Tok::UserVar
            }
            b'0'..=b'9' => {
                while i < n && (is_ident_byte(sql[i]) || sql[i] == b'.') {
                    i += 1;
                }
                Tok::Num
            }
            _ if is_ident_byte(c) => {
                while i < n && is_ident_byte(sql[i]) {
                    i += 1;
                }
                Tok::Word
            }
            _ => {
                i += 1;
                Tok::Punct(c)
            }
        };
        tokens.push(Token { tok, start, end: i });
    }
    out
}

/// Skips a `#` or `-- ` comment starting at `i`; returns the index after its newline.
fn line_comment(sql: &[u8], i: usize, leading: bool, out: &mut Lexed) -> usize {
    let end = sql[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(sql.len(), |p| i + p);
    if leading && out.hint.is_none() {
        out.hint = hint_in(&sql[i..end]);
    }
    end + 1
}

/// The index just past the quoted span opening at `i` with `q`, or None if unterminated.
/// A doubled quote is an escaped quote; with `backslash` a backslash escapes the next byte.
/// A backslash inside a `'` or `"` span is noted in `out` (another sql_mode may read the
/// span differently).
fn quoted_end(sql: &[u8], i: usize, q: u8, backslash: bool, out: &mut Lexed) -> Option<usize> {
    let mut j = i + 1;
    while j < sql.len() {
        let b = sql[j];
        if b == b'\\' && q != b'`' {
            out.backslash_quoted = true;
        }
        if backslash && b == b'\\' {
            j += 2;
        } else if b == q {
            if sql.get(j + 1) == Some(&q) {
                j += 2;
            } else {
                return Some(j + 1);
            }
        } else {
            j += 1;
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `myquorum:consistency = X` inside a comment's text, X optionally quoted; invalid values
/// are ignored (a comment must never break a statement).
fn hint_in(comment: &[u8]) -> Option<Consistency> {
    const KEY: &[u8] = b"myquorum:consistency";
    let at = comment
        .windows(KEY.len())
        .position(|w| w.eq_ignore_ascii_case(KEY))?;
    let rest = &comment[at + KEY.len()..];
    let rest = trim_start(rest);
    let rest = trim_start(rest.strip_prefix(b"=")?);
    let rest = rest
        .strip_prefix(b"'")
        .or_else(|| rest.strip_prefix(b"\""))
        .unwrap_or(rest);
    let len = rest
        .iter()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..len]).ok()?.parse().ok()
}

fn trim_start(s: &[u8]) -> &[u8] {
    let k = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    &s[k..]
}

/// The unquoted text of an identifier token (backticks removed, doubled backticks undone).
pub(crate) fn ident_text(sql: &[u8], t: &Token) -> Option<String> {
    match t.tok {
        Tok::Word => Some(String::from_utf8_lossy(t.text(sql)).into_owned()),
        Tok::Quoted => {
            let inner = &sql[t.start + 1..t.end - 1];
            Some(String::from_utf8_lossy(inner).replace("``", "`"))
        }
        _ => None,
    }
}

/// The unquoted text of a string token (quotes removed, doubled quotes and backslash escapes
/// undone).
pub(crate) fn string_text(sql: &[u8], t: &Token) -> String {
    let inner = &sql[t.start + 1..t.end - 1];
    let q = sql[t.start];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        if b == b'\\' && i + 1 < inner.len() {
            out.push(inner[i + 1]);
            i += 2;
        } else if b == q && inner.get(i + 1) == Some(&q) {
            out.push(q);
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `bytes` without surrounding backticks.
pub(crate) fn unbacktick(bytes: &[u8]) -> &[u8] {
    match bytes {
        [b'`', inner @ .., b'`'] => inner,
        _ => bytes,
    }
}
