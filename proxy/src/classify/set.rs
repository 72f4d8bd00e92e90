//! SET in all its forms: NAMES / CHARACTER SET / ROLE / TRANSACTION / PASSWORD, assignment
//! lists (session, global, user variables, `myquorum_consistency`), and
//! `SET STATEMENT ... FOR <stmt>`. The proxy's own variable is cut out of the text the server
//! gets; the original bytes of everything else are kept.

use super::features::{self, strip_scope};
use super::lexer::{ident_text, string_text, unbacktick, Tok};
use super::statement::{one, Stmt};
use super::types::{
    Classified, Consistency, Kind, PinReason, SetConsistency, SetConsistencyError, SetStatement,
};
use super::{intercept, parser};

/// The proxy's session variable.
const VAR: &[u8] = b"myquorum_consistency";

/// Classifies a statement starting with SET.
pub(crate) fn set(s: Stmt<'_>) -> Classified {
    let Some(word) = s.upper(1) else {
        return assignments(s);
    };
    match word.as_bytes() {
        b"NAMES" | b"CHARACTER" | b"CHARSET" | b"ROLE" | b"TRANSACTION" => {
            Classified::of(Kind::SessionSet)
        }
        b"PASSWORD" => Classified::of(Kind::Other),
        b"DEFAULT" if s.kw(2, "ROLE") => Classified::of(Kind::Ddl),
        b"GLOBAL" if s.kw(2, "TRANSACTION") => Classified::of(Kind::Other),
        b"SESSION" | b"LOCAL" if s.kw(2, "TRANSACTION") => Classified::of(Kind::SessionSet),
        b"STATEMENT" => statement(s),
        _ => assignments(s),
    }
}

/// Token ranges of the comma-separated items from `from` up to `end` (depth 0 commas).
fn items(s: Stmt<'_>, from: usize, end: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = from;
    for i in from..end {
        match s.t[i].tok {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => depth = depth.saturating_sub(1),
            Tok::Punct(b',') if depth == 0 => {
                out.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((start, end));
    out
}

/// The value of `myquorum_consistency = <tokens a..b>`.
fn value(s: Stmt<'_>, a: usize, b: usize) -> Result<Option<Consistency>, SetConsistencyError> {
    let raw = if b == a + 1 {
        let t = &s.t[a];
        match t.tok {
            Tok::Str => Some(string_text(s.sql, t)),
            Tok::Word if t.is_kw(s.sql, "DEFAULT") => return Ok(None),
            Tok::Word | Tok::Quoted => ident_text(s.sql, t),
            _ => None,
        }
    } else {
        None
    };
    let raw =
        raw.unwrap_or_else(
            || match (s.t.get(a), b.checked_sub(1).and_then(|l| s.t.get(l))) {
                (Some(x), Some(y)) if b > a => {
                    String::from_utf8_lossy(&s.sql[x.start..y.end]).into_owned()
                }
                _ => String::new(),
            },
        );
    raw.parse::<Consistency>()
        .map(Some)
        .map_err(|e| SetConsistencyError::BadValue(e.value))
}

/// Index of the first token after `=` or `:=` in an assignment starting at `k`, if any.
fn after_eq(s: Stmt<'_>, k: usize) -> Option<usize> {
    if s.punct(k, b'=') {
        Some(k + 1)
    } else if s.punct(k, b':') && s.punct(k + 1, b'=') {
        Some(k + 2)
    } else {
        None
    }
}

/// `before + kept items joined by ", " + after`, from the original bytes.
fn rejoin(s: Stmt<'_>, before: &[u8], kept: &[(usize, usize)], after: &[u8]) -> Vec<u8> {
    let mut out = before.to_vec();
    for (n, &(a, b)) in kept.iter().enumerate() {
        if n > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(&s.sql[s.t[a].start..s.t[b - 1].end]);
    }
    out.extend_from_slice(after);
    out
}

/// SET [GLOBAL | SESSION | LOCAL] var = expr [, ...] (also @@scope.var and @user vars).
fn assignments(s: Stmt<'_>) -> Classified {
    let list = items(s, 1, s.len());
    let mut global_scope = false;
    let mut any_global = false;
    let mut user_var = false;
    let mut ours: Option<(usize, Result<Option<Consistency>, SetConsistencyError>)> = None;
    for (n, &(a, b)) in list.iter().enumerate() {
        let mut k = a;
        if s.kw(k, "GLOBAL") {
            global_scope = true;
            k += 1;
        } else if s.kw_any(k, &["SESSION", "LOCAL"]) {
            global_scope = false;
            k += 1;
        }
        let Some(t) = s.t.get(k).filter(|_| k < b) else {
            return parser::fallback(s);
        };
        let (name, item_global) = match t.tok {
            Tok::UserVar => {
                user_var = true;
                continue;
            }
            Tok::SysVar => {
                let full = &t.text(s.sql)[2..];
                let global = if full.len() > 7 && full[..7].eq_ignore_ascii_case(b"global.") {
                    true
                } else {
                    strip_scope(full).len() == full.len() && global_scope
                };
                (strip_scope(full), global)
            }
            Tok::Word | Tok::Quoted => (t.text(s.sql), global_scope),
            _ => return parser::fallback(s),
        };
        let name = unbacktick(name);
        if name.eq_ignore_ascii_case(VAR) {
            let v = match after_eq(s, k + 1) {
                _ if item_global => Err(SetConsistencyError::GlobalScope),
                Some(v) => value(s, v, b),
                None => return parser::fallback(s),
            };
            ours = Some((n, v));
        } else if item_global {
            any_global = true;
        }
    }
    let mut c = Classified::of(if any_global {
        Kind::Other
    } else {
        Kind::SessionSet
    });
    if user_var {
        c.pins = Some(PinReason::UserVariable);
    }
    features::scan(s).apply(&mut c);
    if let Some((n, value)) = ours {
        let kept: Vec<(usize, usize)> = list
            .iter()
            .enumerate()
            .filter(|&(m, _)| m != n && !is_ours(s, list[m]))
            .map(|(_, r)| *r)
            .collect();
        let remainder = (!kept.is_empty()).then(|| {
            let first = s.t[list[0].0].start;
            let last = s.t[list[list.len() - 1].1 - 1].end;
            rejoin(s, &s.sql[..first], &kept, &s.sql[last..])
        });
        c.set_consistency = Some(SetConsistency { value, remainder });
    }
    c
}

/// An assignment item naming myquorum_consistency (any scope form).
fn is_ours(s: Stmt<'_>, (a, b): (usize, usize)) -> bool {
    let k = if s.kw_any(a, &["GLOBAL", "SESSION", "LOCAL"]) {
        a + 1
    } else {
        a
    };
    s.t.get(k).filter(|_| k < b).is_some_and(|t| {
        let text = match t.tok {
            Tok::SysVar => strip_scope(&t.text(s.sql)[2..]),
            _ => t.text(s.sql),
        };
        text.eq_ignore_ascii_case(VAR)
    })
}

/// SET STATEMENT var = value [, ...] FOR <stmt>: classify <stmt>; lift myquorum_consistency
/// into the hint and give the text without it.
fn statement(s: Stmt<'_>) -> Classified {
    let mut depth = 0usize;
    let Some(f) = (2..s.len()).find(|&i| {
        match s.t[i].tok {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => depth = depth.saturating_sub(1),
            _ => {}
        }
        depth == 0 && s.kw(i, "FOR")
    }) else {
        return Classified::unparseable();
    };
    let mut c = one(s.from(f + 1));
    let list = items(s, 2, f);
    let Some(n) = list.iter().position(|&r| is_ours(s, r)) else {
        return c;
    };
    let (a, b) = list[n];
    let v = match after_eq(s, a + 1) {
        Some(v) => value(s, v, b),
        None => Err(SetConsistencyError::BadValue(String::new())),
    };
    let kept: Vec<(usize, usize)> = list.iter().copied().filter(|&r| !is_ours(s, r)).collect();
    let rewritten = if kept.is_empty() {
        let mut out = s.sql[..s.t[0].start].to_vec();
        out.extend_from_slice(&s.sql[s.t.get(f + 1).map_or(s.sql.len(), |t| t.start)..]);
        out
    } else {
        let first = s.t[2].start;
        let last = s.t[f - 1].end;
        rejoin(s, &s.sql[..first], &kept, &s.sql[last..])
    };
    if let Ok(Some(level)) = v {
        c.hint = Some(level);
    }
    c.session_setting = kept.is_empty() && intercept::session_setting(s.from(f + 1));
    c.set_statement = Some(SetStatement {
        value: v,
        other_vars: !kept.is_empty(),
        rewritten,
    });
    c
}
