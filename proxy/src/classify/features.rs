//! One scan over a statement's tokens for what makes a read unsafe on a replica, sticky to the
//! previous connection, or pinning: locking clauses, sequences, named locks, INTO, functions
//! that are not known built-ins, user-variable assignment, SQL_CALC_FOUND_ROWS, and the
//! system variables that belong to one connection or one node.

use super::functions::is_builtin;
use super::lexer::Tok;
use super::statement::Stmt;
use super::types::{Classified, Kind, PinReason};

/// What the scan found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Features {
    /// FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE / SKIP LOCKED / NOWAIT.
    locking: bool,
    /// SELECT ... INTO (OUTFILE, DUMPFILE, variables).
    into: bool,
    /// INTO @var.
    into_user_var: bool,
    /// NEXT VALUE FOR / PREVIOUS VALUE FOR / NEXTVAL / LASTVAL / SETVAL.
    sequence: bool,
    /// GET_LOCK(.
    get_lock: bool,
    /// RELEASE_LOCK( / RELEASE_ALL_LOCKS(.
    release_lock: bool,
    /// IS_USED_LOCK( / IS_FREE_LOCK(: lock state lives on the primary.
    lock_query: bool,
    /// A call of something that is not a known built-in: a stored function or UDF.
    unknown_function: bool,
    /// `@x := ...`.
    user_var_assign: bool,
    /// SQL_CALC_FOUND_ROWS.
    calc_found_rows: bool,
    /// Reads the previous statement's results.
    sticky: bool,
    /// Reads (or sets) the connection's LAST_INSERT_ID.
    last_insert_id: bool,
    /// Reads a variable that differs between primary and replicas (read_only family).
    node_specific: bool,
}

impl Features {
    /// Folds the findings into `c`; a read that must not run on a replica becomes PrimaryRead.
    pub fn apply(&self, c: &mut Classified) {
        c.follows_last_write |= self.last_insert_id;
        let pins = if self.get_lock {
            Some(PinReason::NamedLock)
        } else if self.user_var_assign || (self.into_user_var && c.kind == Kind::Read) {
            Some(PinReason::UserVariable)
        } else if self.calc_found_rows {
            Some(PinReason::CalcFoundRows)
        } else {
            None
        };
        c.pins = c.pins.or(pins);
        if self.release_lock {
            c.unpins = c.unpins.or(Some(PinReason::NamedLock));
        }
        if c.kind == Kind::Read
            && (self.locking
                || self.into
                || self.sequence
                || self.release_lock
                || self.lock_query
                || self.unknown_function
                || self.node_specific
                || c.pins.is_some())
        {
            c.kind = Kind::PrimaryRead;
        }
        c.sticky |= self.sticky && matches!(c.kind, Kind::Read | Kind::PrimaryRead);
    }
}

/// Scans every token of `s`.
pub(crate) fn scan(s: Stmt<'_>) -> Features {
    let mut f = Features::default();
    let sql = s.sql;
    for (i, t) in s.t.iter().enumerate() {
        match t.tok {
            Tok::Word => {
                let called = s.punct(i + 1, b'(');
                if called {
                    function(s, i, &mut f);
                } else {
                    keyword(s, i, &mut f);
                }
            }
            Tok::Quoted if s.punct(i + 1, b'(') && !cte_columns(s, i) => {
                f.unknown_function = true;
            }
            Tok::UserVar if s.punct(i + 1, b':') && s.punct(i + 2, b'=') => {
                f.user_var_assign = true;
            }
            Tok::SysVar => sysvar(&t.text(sql)[2..], &mut f),
            _ => {}
        }
    }
    f
}

/// A word not followed by `(`: the locking and sequence clauses.
fn keyword(s: Stmt<'_>, i: usize, f: &mut Features) {
    let text = s.t[i].text(s.sql);
    // Cheap filter: only words of these lengths can matter.
    if !matches!(text.len(), 3 | 4 | 6 | 8 | 19) {
        return;
    }
    let up = |k: &str| text.eq_ignore_ascii_case(k.as_bytes());
    if up("FOR") {
        f.locking |= s.kw_any(i + 1, &["UPDATE", "SHARE"]);
    } else if up("LOCK") {
        f.locking |= s.kw(i + 1, "IN") && s.kw(i + 2, "SHARE");
    } else if up("SKIP") {
        f.locking |= s.kw(i + 1, "LOCKED");
    } else if up("NOWAIT") {
        f.locking = true;
    } else if up("NEXT") || up("PREVIOUS") {
        f.sequence |= s.kw(i + 1, "VALUE") && s.kw(i + 2, "FOR");
    } else if up("INTO") {
        f.into = true;
        f.into_user_var |= s.t.get(i + 1).is_some_and(|t| t.tok == Tok::UserVar);
    } else if up("SQL_CALC_FOUND_ROWS") {
        f.calc_found_rows = true;
    }
}

/// A word followed by `(`: a function call, a keyword before a parenthesis, or a CTE's
/// column list.
fn function(s: Stmt<'_>, i: usize, f: &mut Features) {
    let text = s.t[i].text(s.sql);
    let mut buf = [0u8; 32];
    if text.len() > buf.len() {
        f.unknown_function = true;
        return;
    }
    let lower = &mut buf[..text.len()];
    lower.copy_from_slice(text);
    lower.make_ascii_lowercase();
    let lower: &[u8] = lower;
    let qualified = i > 0 && s.punct(i - 1, b'.');
    match lower {
        b"get_lock" => f.get_lock = true,
        b"release_lock" | b"release_all_locks" => f.release_lock = true,
        b"is_used_lock" | b"is_free_lock" => f.lock_query = true,
        b"nextval" | b"lastval" | b"setval" => f.sequence = true,
        b"row_count" | b"found_rows" => f.sticky = true,
        b"last_insert_id" => f.last_insert_id = true,
        _ if qualified => f.unknown_function = true,
        _ if is_builtin(lower) => {}
        _ if cte_columns(s, i) => {}
        _ => f.unknown_function = true,
    }
}

/// `name (col, ...) AS (` with token `i` the name: a CTE's column list, not a call.
///
/// A column list holds only names and commas, so the look-ahead stops at the first other
/// token. Runs of names and commas after different `(` cannot overlap (a `(` ends a run), so
/// the whole scan looks at each token at most twice: classification stays linear in the
/// statement's length. (Matching each `(` with its `)` instead cost a scan to the end per
/// call, quadratic for `a(a(a(...)))`: 20,000 levels took 0.65 s, issue 15.)
fn cte_columns(s: Stmt<'_>, i: usize) -> bool {
    let mut j = i + 2;
    loop {
        super::work::lookahead(1);
        match s.t.get(j).map(|t| t.tok) {
            Some(Tok::Word | Tok::Quoted | Tok::Punct(b',')) => j += 1,
            Some(Tok::Punct(b')')) => return s.kw(j + 1, "AS") && s.punct(j + 2, b'('),
            _ => return false,
        }
    }
}

/// A system variable, without its `@@`.
fn sysvar(name: &[u8], f: &mut Features) {
    let name = strip_scope(name);
    let is = |k: &str| name.eq_ignore_ascii_case(k.as_bytes());
    if is("warning_count") || is("error_count") {
        f.sticky = true;
    } else if is("identity") || is("last_insert_id") {
        f.last_insert_id = true;
    } else if is("read_only") || is("innodb_read_only") || is("super_read_only") {
        f.node_specific = true;
    }
}

/// `session.x` / `local.x` / `global.x` -> `x`.
pub(crate) fn strip_scope(name: &[u8]) -> &[u8] {
    for scope in [&b"session."[..], b"local.", b"global."] {
        if name.len() > scope.len() && name[..scope.len()].eq_ignore_ascii_case(scope) {
            return &name[scope.len()..];
        }
    }
    name
}

/// `SELECT @@[session.|local.]myquorum_consistency [[AS] alias]`: the proxy answers it.
pub(crate) fn reads_consistency(s: Stmt<'_>) -> bool {
    if !s.kw(0, "SELECT") || s.t.get(1).is_none_or(|t| t.tok != Tok::SysVar) {
        return false;
    }
    let name = &s.t[1].text(s.sql)[2..];
    let session_scope = !(name.len() >= 7 && name[..7].eq_ignore_ascii_case(b"global."));
    let named = strip_scope(name).eq_ignore_ascii_case(b"myquorum_consistency");
    let rest = &s.t[2..];
    let alias_ok = match rest.len() {
        0 => true,
        1 => matches!(rest[0].tok, Tok::Word | Tok::Quoted | Tok::Str) && !s.kw(2, "FROM"),
        2 => s.kw(2, "AS") && matches!(rest[1].tok, Tok::Word | Tok::Quoted | Tok::Str),
        _ => false,
    };
    named && session_scope && alias_ok
}
