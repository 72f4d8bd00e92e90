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

/// The value of `myquorum_consistency = <tokens a..b>`: one string, word or quoted name, or
/// else the text the tokens span (which then is not a level name). An empty range is the
/// empty value.
fn value(s: Stmt<'_>, a: usize, b: usize) -> Result<Option<Consistency>, SetConsistencyError> {
    let tokens = s.t.get(a..b).unwrap_or_default();
    let raw = match tokens {
        [t] => match t.tok {
            Tok::Str => Some(string_text(s.sql, t)),
            Tok::Word if t.is_kw(s.sql, "DEFAULT") => return Ok(None),
            Tok::Word | Tok::Quoted => ident_text(s.sql, t),
            _ => None,
        },
        _ => None,
    };
    let raw = raw.unwrap_or_else(|| match (tokens.first(), tokens.last()) {
        (Some(x), Some(y)) => String::from_utf8_lossy(&s.sql[x.start..y.end]).into_owned(),
        _ => String::new(),
    });
    raw.parse::<Consistency>()
        .map(Some)
        .map_err(|e| SetConsistencyError::BadValue(e.value))
}

/// Index of the first token after `=` or `:=` in an assignment whose name is token `k - 1`
/// and which ends before token `end`, if any.
fn after_eq(s: Stmt<'_>, k: usize, end: usize) -> Option<usize> {
    let v = if s.punct(k, b'=') {
        k + 1
    } else if s.punct(k, b':') && s.punct(k + 1, b'=') {
        k + 2
    } else {
        return None;
    };
    (v <= end).then_some(v)
}

/// `before + kept items joined by ", " + after`, from the original bytes (empty items, which
/// the callers refuse before, contribute nothing).
fn rejoin(s: Stmt<'_>, before: &[u8], kept: &[(usize, usize)], after: &[u8]) -> Vec<u8> {
    let mut out = before.to_vec();
    let mut first = true;
    for &(a, b) in kept {
        let Some(span) = span(s, a, b) else {
            continue;
        };
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        out.extend_from_slice(span);
    }
    out.extend_from_slice(after);
    out
}

/// The text of tokens `a..b`, None when the range is empty.
fn span<'a>(s: Stmt<'a>, a: usize, b: usize) -> Option<&'a [u8]> {
    match s.t.get(a..b)? {
        [x, .., y] => Some(&s.sql[x.start..y.end]),
        [x] => Some(&s.sql[x.start..x.end]),
        [] => None,
    }
}

/// SET [GLOBAL | SESSION | LOCAL] var = expr [, ...] (also @@scope.var and @user vars).
fn assignments(s: Stmt<'_>) -> Classified {
    let list = items(s, 1, s.len());
    let mut global_scope = false;
    let mut any_global = false;
    let mut user_var = false;
    let mut auto_is_null: Option<bool> = None;
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
            let v = match after_eq(s, k + 1, b) {
                _ if item_global => Err(SetConsistencyError::GlobalScope),
                Some(v) => value(s, v, b),
                None => return parser::fallback(s),
            };
            ours = Some((n, v));
        } else if item_global {
            any_global = true;
        } else if name.eq_ignore_ascii_case(b"sql_auto_is_null") {
            auto_is_null = Some(switched_on(s, after_eq(s, k + 1, b), b));
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
    match auto_is_null {
        Some(true) => c.pins = c.pins.or(Some(PinReason::AutoIsNull)),
        Some(false) => c.unpins = Some(PinReason::AutoIsNull),
        None => {}
    }
    features::scan(s).apply(&mut c);
    if let Some((n, value)) = ours {
        let kept: Vec<(usize, usize)> = list
            .iter()
            .enumerate()
            .filter(|&(m, _)| m != n && !is_ours(s, list[m]))
            .map(|(_, r)| *r)
            .collect();
        let whole = (list.first(), list.last());
        let remainder = match (kept.is_empty(), whole) {
            (false, (Some(&(a, _)), Some(&(_, b)))) => span_bounds(s, a, b)
                .map(|(first, last)| rejoin(s, &s.sql[..first], &kept, &s.sql[last..])),
            _ => None,
        };
        c.set_consistency = Some(SetConsistency { value, remainder });
    }
    c
}

/// Whether the value of a boolean assignment (tokens `v..end`) may switch it on: anything
/// but a lone `0`, `OFF`, `FALSE` or `DEFAULT` counts as on (the narrower reading pins).
fn switched_on(s: Stmt<'_>, v: Option<usize>, end: usize) -> bool {
    let Some(v) = v else {
        return true;
    };
    match s.t.get(v..end) {
        Some([t]) => {
            let text = match t.tok {
                Tok::Str => string_text(s.sql, t).into_bytes(),
                _ => t.text(s.sql).to_vec(),
            };
            !["0", "OFF", "FALSE", "DEFAULT"]
                .iter()
                .any(|off| text.eq_ignore_ascii_case(off.as_bytes()))
        }
        _ => true,
    }
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
/// into the hint and give the text without it. A malformed list (an empty item: `SET
/// STATEMENT FOR`, `x=1, FOR`, `x=1,, y=2 FOR`) or a missing FOR is not intercepted: the
/// text goes to the primary as is, and the server answers its syntax error.
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
    let list = items(s, 2, f);
    if list.iter().any(|&(a, b)| a >= b) {
        return Classified::unparseable();
    }
    let mut c = one(s.nested(f + 1));
    c.sets_tracking = list.iter().any(|&(a, _)| names_tracking(s, a));
    let Some(&(a, b)) = list.iter().find(|&&r| is_ours(s, r)) else {
        return c;
    };
    let v = match after_eq(s, a + 1, b) {
        Some(v) => value(s, v, b),
        None => Err(SetConsistencyError::BadValue(String::new())),
    };
    let kept: Vec<(usize, usize)> = list.iter().copied().filter(|&r| !is_ours(s, r)).collect();
    let rewritten = match span_bounds(s, 2, f) {
        Some((first, last)) if !kept.is_empty() => {
            rejoin(s, &s.sql[..first], &kept, &s.sql[last..])
        }
        _ => {
            let lead = s.t.first().map_or(0, |t| t.start);
            let body = s.t.get(f + 1).map_or(s.sql.len(), |t| t.start);
            let mut out = s.sql[..lead].to_vec();
            out.extend_from_slice(&s.sql[body..]);
            out
        }
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

/// Token `a` (the start of a `SET STATEMENT` item) names `session_track_system_variables`.
fn names_tracking(s: Stmt<'_>, a: usize) -> bool {
    s.t.get(a).is_some_and(|t| {
        let text = match t.tok {
            Tok::SysVar => strip_scope(&t.text(s.sql)[2..]),
            Tok::Quoted => unbacktick(t.text(s.sql)),
            _ => t.text(s.sql),
        };
        text.eq_ignore_ascii_case(b"session_track_system_variables")
    })
}

/// The byte offsets where token `a` starts and token `b - 1` ends; None for an empty range.
fn span_bounds(s: Stmt<'_>, a: usize, b: usize) -> Option<(usize, usize)> {
    let first = s.t.get(a)?;
    let last = s.t.get(b.checked_sub(1)?)?;
    (a < b).then_some((first.start, last.end))
}
