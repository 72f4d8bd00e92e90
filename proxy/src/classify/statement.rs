//! The fast path's entry: split multi-statement text, then dispatch each statement on its
//! leading keyword.

use std::cell::RefCell;

use super::lexer::{lex, unbacktick, Escapes, Lexed, Tok, Token};
use super::types::{Classified, Kind, PinReason, TransactionOp};
use super::{connection_id, ddl, dml, features, intercept, modes, parser, set};

/// One statement's tokens, with the whole text they index into (token spans are absolute).
#[derive(Clone, Copy)]
pub(crate) struct Stmt<'a> {
    pub sql: &'a [u8],
    pub t: &'a [Token],
    /// How many statement prefixes (`EXPLAIN ANALYZE`, `ANALYZE`, `SET STATEMENT ... FOR`)
    /// enclose this statement: bounded by [`MAX_NESTING`] so that client text cannot make
    /// the classifier recurse without limit.
    pub depth: u8,
}

/// Deepest nesting of statement prefixes classified; deeper text (which MariaDB rejects
/// anyway) is unparseable and runs on the primary.
pub(crate) const MAX_NESTING: u8 = 4;

/// An upper-cased copy of a short word, for `match` on keywords.
pub(crate) struct Upper {
    buf: [u8; 24],
    len: usize,
}

impl Upper {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<'a> Stmt<'a> {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// Token `i` is the unquoted keyword `k` (upper-case).
    pub fn kw(&self, i: usize, k: &str) -> bool {
        self.t.get(i).is_some_and(|t| t.is_kw(self.sql, k))
    }

    /// Token `i` is one of the keywords.
    pub fn kw_any(&self, i: usize, ks: &[&str]) -> bool {
        ks.iter().any(|k| self.kw(i, k))
    }

    /// Token `i` is the punctuation byte `p`.
    pub fn punct(&self, i: usize, p: u8) -> bool {
        self.t.get(i).is_some_and(|t| t.tok == Tok::Punct(p))
    }

    /// Token `i` upper-cased, if it is a word of at most 24 bytes.
    pub fn upper(&self, i: usize) -> Option<Upper> {
        let t = self.t.get(i)?;
        let text = t.text(self.sql);
        if t.tok != Tok::Word || text.len() > 24 {
            return None;
        }
        let mut u = Upper {
            buf: [0; 24],
            len: text.len(),
        };
        for (d, s) in u.buf.iter_mut().zip(text) {
            *d = s.to_ascii_uppercase();
        }
        Some(u)
    }

    /// With token `i` an opening `(`: the index after its matching `)`; None when token `i`
    /// is not `(` or the parenthesis is never closed.
    pub fn skip_parens(&self, i: usize) -> Option<usize> {
        if !self.punct(i, b'(') {
            return None;
        }
        let mut depth = 0usize;
        for (j, t) in self.t.iter().enumerate().skip(i) {
            super::work::lookahead(1);
            match t.tok {
                Tok::Punct(b'(') => depth += 1,
                Tok::Punct(b')') => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(j + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The statement from token `i` on.
    pub fn from(&self, i: usize) -> Stmt<'a> {
        Stmt {
            sql: self.sql,
            t: self.t.get(i..).unwrap_or_default(),
            depth: self.depth,
        }
    }

    /// The statement from token `i` on, as the statement a prefix encloses (one level
    /// deeper, see [`MAX_NESTING`]).
    pub fn nested(&self, i: usize) -> Stmt<'a> {
        Stmt {
            depth: self.depth.saturating_add(1),
            ..self.from(i)
        }
    }

    /// The statement's own text, first token to last (for sqlparser).
    pub fn text(&self) -> &'a [u8] {
        match (self.t.first(), self.t.last()) {
            (Some(a), Some(b)) => &self.sql[a.start..b.end],
            _ => &[],
        }
    }
}

thread_local! {
    /// Each thread's token buffer, reused so the hot path does not allocate for tokens.
    static TOKENS: RefCell<Vec<Token>> = const { RefCell::new(Vec::new()) };
}

/// Token buffers larger than this are not kept after a long statement.
const KEEP_TOKENS: usize = 4096;

/// Classifies a whole COM_QUERY text.
pub(crate) fn classify_text(sql: &[u8]) -> Classified {
    TOKENS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut tokens) => {
            let c = classify_with(sql, &mut tokens);
            if tokens.capacity() > KEEP_TOKENS {
                *tokens = Vec::new();
            }
            c
        }
        Err(_) => classify_with(sql, &mut Vec::new()),
    })
}

fn classify_with(sql: &[u8], tokens: &mut Vec<Token>) -> Classified {
    let lexed = lex(sql, tokens, Escapes::DEFAULT);
    let mut c = reading(sql, tokens, &lexed);
    if lexed.backslash_quoted {
        c = modes::every_reading(sql, tokens, &lexed, c);
    }
    if sql.len() > parser::MAX_PARSED_LEN {
        to_primary(&mut c);
    }
    c
}

/// The classification of one reading of the whole text: `tokens` as lexed into `lexed`.
/// Text that ends inside a string or comment is unparseable (the server rejects it).
pub(crate) fn reading(sql: &[u8], tokens: &[Token], lexed: &Lexed) -> Classified {
    let whole = Stmt {
        sql,
        t: tokens,
        depth: 0,
    };
    let mut c = if lexed.unterminated {
        Classified::unparseable()
    } else {
        classify_tokens(whole)
    };
    if c.hint.is_none() {
        c.hint = lexed.hint;
    }
    intercept::apply(whole, &mut c);
    c.connection_id = connection_id::column(whole);
    c
}

/// Text longer than [`parser::MAX_PARSED_LEN`] runs on the primary: the fast path alone
/// classified it, so a read it would send elsewhere (a replica, the previous statement's
/// connection, a read-only transaction's replica) goes to the primary instead.
fn to_primary(c: &mut Classified) {
    match c.kind {
        Kind::Read => c.kind = Kind::PrimaryRead,
        Kind::Transaction(TransactionOp::Begin { read_only: true }) => {
            c.kind = Kind::Transaction(TransactionOp::Begin { read_only: false });
        }
        _ => {}
    }
    c.sticky = false;
}

fn classify_tokens(s: Stmt<'_>) -> Classified {
    let has_semicolon = s.t.iter().any(|t| t.tok == Tok::Punct(b';'));
    if !has_semicolon || is_compound(s) {
        return one(trim_semicolons(s));
    }
    let parts = split(s);
    match parts.len() {
        0 => Classified::of(Kind::Other),
        1 => one(parts[0]),
        _ => merge(parts.into_iter().map(one).collect()),
    }
}

fn trim_semicolons(s: Stmt<'_>) -> Stmt<'_> {
    let mut end = s.t.len();
    while end > 0 && s.t[end - 1].tok == Tok::Punct(b';') {
        end -= 1;
    }
    Stmt {
        t: &s.t[..end],
        ..s
    }
}

/// Statements whose body holds `;` without being several statements: stored programs and
/// MariaDB compound statements. They run on the primary as one statement.
fn is_compound(s: Stmt<'_>) -> bool {
    if s.kw(0, "CREATE") {
        return s
            .t
            .iter()
            .take(16)
            .enumerate()
            .any(|(i, _)| s.kw_any(i, &["PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "PACKAGE"]));
    }
    (s.kw(0, "BEGIN") && s.kw(1, "NOT"))
        || s.punct(1, b':')
        || s.kw_any(
            0,
            &["IF", "CASE", "LOOP", "WHILE", "REPEAT", "DECLARE", "FOR"],
        )
}

fn split(s: Stmt<'_>) -> Vec<Stmt<'_>> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, t) in s.t.iter().enumerate() {
        match t.tok {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => depth = depth.saturating_sub(1),
            Tok::Punct(b';') if depth == 0 => {
                if i > start {
                    parts.push(Stmt {
                        t: &s.t[start..i],
                        ..s
                    });
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.t.len() {
        parts.push(Stmt {
            t: &s.t[start..],
            ..s
        });
    }
    parts
}

/// Multi-statement text: one kind if all agree (else Other), tables and pins merged. SETs of
/// myquorum_consistency inside multi-statement text are not intercepted.
fn merge(parts: Vec<Classified>) -> Classified {
    let Some(first) = parts.first().map(|p| p.kind) else {
        return Classified::of(Kind::Other);
    };
    let mut c = Classified::of(if parts.iter().all(|p| p.kind == first) {
        first
    } else {
        Kind::Other
    });
    c.multi_statement = true;
    c.sticky = parts.first().is_some_and(|p| p.sticky);
    let mut tables = dml::Unique::default();
    for p in parts {
        for t in p.tables {
            tables.push(t);
        }
        c.tables_known &= p.tables_known;
        c.pins = c.pins.or(p.pins);
        c.unpins = c.unpins.or(p.unpins);
        c.fast_path &= p.fast_path;
        c.follows_last_write |= p.follows_last_write;
        c.sets_tracking |= p.sets_tracking;
    }
    c.tables = tables.into_vec();
    c
}

/// Classifies one statement (no top-level `;` inside, except compound statements).
pub(crate) fn one(s: Stmt<'_>) -> Classified {
    if s.depth > MAX_NESTING {
        return Classified::unparseable();
    }
    let Some(first) = s.t.first() else {
        return Classified::of(Kind::Other);
    };
    if first.tok == Tok::Punct(b'(') {
        return read(s);
    }
    let Some(word) = s.upper(0) else {
        return parser::fallback(s);
    };
    match word.as_bytes() {
        b"SELECT" | b"VALUES" | b"TABLE" => read(s),
        b"WITH" => with(s),
        b"INSERT" | b"REPLACE" => dml::insert(s, 0),
        b"UPDATE" => dml::update(s, 0, &[]),
        b"DELETE" => dml::delete(s, 0, &[]),
        b"LOAD" => dml::load(s),
        b"CALL" => call(s),
        b"SHOW" => show(s),
        b"DESCRIBE" | b"DESC" | b"EXPLAIN" => explain(s),
        b"HELP" => Classified::of(Kind::Read),
        b"BEGIN" | b"START" | b"COMMIT" | b"ROLLBACK" | b"SAVEPOINT" | b"RELEASE" | b"XA" => {
            transaction(s, word.as_bytes())
        }
        b"SET" => set::set(s),
        b"USE" => Classified::of(Kind::SessionSet),
        b"LOCK" | b"UNLOCK" | b"FLUSH" | b"BACKUP" => locks(s, word.as_bytes()),
        b"HANDLER" => handler(s),
        b"PREPARE" => pinning(Kind::Other, Some(PinReason::TextPrepare), None),
        b"DEALLOCATE" => pinning(Kind::Other, None, Some(PinReason::TextPrepare)),
        b"DROP" if s.kw(1, "PREPARE") => pinning(Kind::Other, None, Some(PinReason::TextPrepare)),
        b"CREATE" | b"ALTER" | b"DROP" | b"RENAME" | b"TRUNCATE" | b"GRANT" | b"REVOKE"
        | b"OPTIMIZE" | b"REPAIR" | b"INSTALL" | b"UNINSTALL" => ddl::ddl(s, word.as_bytes()),
        b"ANALYZE" => analyze(s),
        b"GET" if s.kw_any(1, &["DIAGNOSTICS", "CURRENT", "STACKED"]) => Classified {
            sticky: true,
            ..Classified::of(Kind::Read)
        },
        b"DO" => {
            let mut c = Classified::of(Kind::Other);
            features::scan(s).apply(&mut c);
            c
        }
        b"EXECUTE" | b"KILL" | b"RESET" | b"PURGE" | b"CHANGE" | b"STOP" | b"SHUTDOWN"
        | b"BINLOG" | b"CACHE" | b"CHECK" | b"CHECKSUM" | b"SIGNAL" | b"RESIGNAL" | b"IF"
        | b"CASE" | b"LOOP" | b"WHILE" | b"REPEAT" | b"DECLARE" | b"FOR" => {
            Classified::of(Kind::Other)
        }
        _ if s.punct(1, b':') => Classified::of(Kind::Other),
        _ => parser::fallback(s),
    }
}

fn pinning(kind: Kind, pins: Option<PinReason>, unpins: Option<PinReason>) -> Classified {
    Classified {
        pins,
        unpins,
        ..Classified::of(kind)
    }
}

/// SELECT / VALUES / TABLE / parenthesised query / WITH ... SELECT.
pub(crate) fn read(s: Stmt<'_>) -> Classified {
    let mut c = Classified::of(Kind::Read);
    features::scan(s).apply(&mut c);
    c.reads_consistency = features::reads_consistency(s);
    c
}

/// WITH [RECURSIVE] cte [(cols)] AS (...) [, ...] <main statement>.
fn with(s: Stmt<'_>) -> Classified {
    let mut ctes: Vec<&[u8]> = Vec::new();
    let mut i = if s.kw(1, "RECURSIVE") { 2 } else { 1 };
    loop {
        let Some(name) = s.t.get(i) else {
            return parser::fallback(s);
        };
        ctes.push(&s.sql[name.start..name.end]);
        i += 1;
        if s.punct(i, b'(') {
            let Some(j) = s.skip_parens(i) else {
                return parser::fallback(s);
            };
            i = j;
        }
        if !s.kw(i, "AS") || !s.punct(i + 1, b'(') {
            return parser::fallback(s);
        }
        let Some(j) = s.skip_parens(i + 1) else {
            return parser::fallback(s);
        };
        i = j;
        if !s.punct(i, b',') {
            break;
        }
        i += 1;
    }
    let ctes: Vec<&[u8]> = ctes.into_iter().map(unbacktick).collect();
    match s.upper(i).as_ref().map(Upper::as_bytes) {
        Some(b"UPDATE") => dml::update(s, i, &ctes),
        Some(b"DELETE") => dml::delete(s, i, &ctes),
        Some(b"INSERT" | b"REPLACE") => dml::insert(s, i),
        _ => read(s),
    }
}

/// CALL p(...): a procedure may write anything and assign OUT parameters.
fn call(s: Stmt<'_>) -> Classified {
    let mut c = Classified::of(Kind::Write);
    c.tables_known = false;
    features::scan(s).apply(&mut c);
    if c.pins.is_none() && s.t.iter().any(|t| t.tok == Tok::UserVar) {
        c.pins = Some(PinReason::UserVariable);
    }
    c
}

/// SHOW ...: sticky for WARNINGS / ERRORS, primary for what describes one node.
fn show(s: Stmt<'_>) -> Classified {
    let mut i = 1;
    while s.kw_any(i, &["FULL", "GLOBAL", "SESSION", "LOCAL"]) {
        i += 1;
    }
    if s.kw_any(i, &["WARNINGS", "ERRORS"])
        || (s.kw(i, "COUNT") && s.kw_any(i + 4, &["WARNINGS", "ERRORS"]))
    {
        return Classified {
            sticky: true,
            ..Classified::of(Kind::Read)
        };
    }
    const NODE: &[&str] = &[
        "MASTER",
        "BINLOG",
        "BINARY",
        "SLAVE",
        "SLAVES",
        "REPLICA",
        "REPLICAS",
        "ALL",
        "RELAYLOG",
        "PROCESSLIST",
        "STATUS",
        "ENGINE",
        "OPEN",
        "PROFILE",
        "PROFILES",
        "INNODB",
        "EXPLAIN",
        "ANALYZE",
        "USER_STATISTICS",
        "CLIENT_STATISTICS",
        "INDEX_STATISTICS",
        "TABLE_STATISTICS",
    ];
    Classified::of(if s.kw_any(i, NODE) {
        Kind::PrimaryRead
    } else {
        Kind::Read
    })
}

/// DESCRIBE / EXPLAIN: a read that executes nothing, except EXPLAIN ANALYZE (MySQL executes
/// the statement) and EXPLAIN FOR CONNECTION (one node's session). `EXPLAIN <statement>`
/// shows the plan of the node that would run `<statement>`, so it goes where that statement
/// would go ([`explained`]); `DESCRIBE t` / `EXPLAIN t` describe a table: a plain read.
fn explain(s: Stmt<'_>) -> Classified {
    if s.kw(1, "ANALYZE") {
        return one(s.nested(2));
    }
    if s.kw(1, "FOR") || s.kw(1, "EXTENDED") && s.kw(2, "FOR") {
        return Classified::of(Kind::PrimaryRead);
    }
    let at = if s.kw_any(1, &["EXTENDED", "PARTITIONS"]) {
        2
    } else if s.kw(1, "FORMAT") && s.punct(2, b'=') {
        4
    } else {
        1
    };
    const STATEMENTS: &[&str] = &[
        "SELECT", "WITH", "VALUES", "TABLE", "INSERT", "REPLACE", "UPDATE", "DELETE",
    ];
    if s.kw_any(at, STATEMENTS) || s.punct(at, b'(') {
        return explained(&one(s.nested(at)));
    }
    Classified::of(Kind::Read)
}

/// `EXPLAIN <inner>`: routed like `<inner>` (a plain read stays a read, at the session's
/// level, sticky or following the last write as `<inner>` would), anything else goes to the
/// primary, where `<inner>` would run. Nothing is executed, so no session state is created
/// and no table is written.
fn explained(inner: &Classified) -> Classified {
    let plain = inner.kind == Kind::Read && inner.pins.is_none() && !inner.multi_statement;
    Classified {
        sticky: plain && inner.sticky,
        follows_last_write: plain && inner.follows_last_write,
        fast_path: inner.fast_path,
        ..Classified::of(if plain { Kind::Read } else { Kind::PrimaryRead })
    }
}

/// ANALYZE TABLE is maintenance (DDL); MariaDB's ANALYZE <stmt> executes <stmt>.
fn analyze(s: Stmt<'_>) -> Classified {
    if s.kw_any(1, &["TABLE", "TABLES", "NO_WRITE_TO_BINLOG", "LOCAL"]) {
        return ddl::ddl(s, b"ANALYZE");
    }
    let mut i = 1;
    if s.kw(1, "FORMAT") && s.punct(2, b'=') {
        i = 4;
    }
    one(s.nested(i))
}

fn transaction(s: Stmt<'_>, word: &[u8]) -> Classified {
    let op = match word {
        b"BEGIN" if s.kw(1, "NOT") => return Classified::of(Kind::Other),
        b"BEGIN" => TransactionOp::Begin { read_only: false },
        b"START" if !s.kw(1, "TRANSACTION") => return Classified::of(Kind::Other),
        b"START" => TransactionOp::Begin {
            read_only: (2..s.len()).any(|i| s.kw(i, "READ") && s.kw(i + 1, "ONLY")),
        },
        b"COMMIT" | b"ROLLBACK" if (1..s.len()).any(|i| s.kw(i, "CHAIN") && !s.kw(i - 1, "NO")) => {
            TransactionOp::Other
        }
        b"COMMIT" => TransactionOp::Commit,
        b"ROLLBACK" if s.kw(1, "TO") || s.kw(2, "TO") => TransactionOp::Savepoint,
        b"ROLLBACK" => TransactionOp::Rollback,
        b"SAVEPOINT" => TransactionOp::Savepoint,
        b"RELEASE" if s.kw(1, "SAVEPOINT") => TransactionOp::Savepoint,
        b"RELEASE" => return parser::fallback(s),
        _ => {
            let mut c = Classified::of(Kind::Transaction(TransactionOp::Xa));
            if s.kw_any(1, &["START", "BEGIN"]) {
                c.pins = Some(PinReason::Transaction);
            } else if s.kw_any(1, &["COMMIT", "ROLLBACK"]) {
                c.unpins = Some(PinReason::Transaction);
            }
            return c;
        }
    };
    Classified::of(Kind::Transaction(op))
}

/// LOCK / UNLOCK TABLE(S), FLUSH (TABLES ... WITH READ LOCK / FOR EXPORT), BACKUP LOCK.
fn locks(s: Stmt<'_>, word: &[u8]) -> Classified {
    let (pins, unpins) = match word {
        b"LOCK" if s.kw_any(1, &["TABLE", "TABLES"]) => (Some(PinReason::TableLock), None),
        b"UNLOCK" if s.kw_any(1, &["TABLE", "TABLES"]) => (None, Some(PinReason::TableLock)),
        b"FLUSH" => {
            let locking = (1..s.len()).any(|i| {
                (s.kw(i, "READ") && s.kw(i + 1, "LOCK"))
                    || (s.kw(i, "FOR") && s.kw(i + 1, "EXPORT"))
            });
            (locking.then_some(PinReason::TableLock), None)
        }
        b"BACKUP" if s.kw(1, "LOCK") => (Some(PinReason::TableLock), None),
        b"BACKUP" if s.kw(1, "UNLOCK") => (None, Some(PinReason::TableLock)),
        _ => (None, None),
    };
    pinning(Kind::Other, pins, unpins)
}

/// HANDLER t OPEN | READ | CLOSE: a cursor on one connection.
fn handler(s: Stmt<'_>) -> Classified {
    let open = (1..s.len().min(6)).any(|i| s.kw(i, "OPEN"));
    let close = (1..s.len().min(6)).any(|i| s.kw(i, "CLOSE"));
    pinning(
        Kind::PrimaryRead,
        open.then_some(PinReason::Cursor),
        close.then_some(PinReason::Cursor),
    )
}
