//! The session's `sql_mode` decides where a string ends, and the classifier does not know it:
//! by default a backslash escapes the next byte inside `'...'` and `"..."`; under
//! `NO_BACKSLASH_ESCAPES` it is a plain byte; under `ANSI_QUOTES` `"..."` is an identifier,
//! where it is a plain byte too. So `SELECT '\' FOR UPDATE -- '` is one string by default and
//! a locking read under `NO_BACKSLASH_ESCAPES`, and a classifier that read it one way only
//! could be made to send a locking read, a named lock or a second statement to a replica.
//!
//! Text with a backslash inside quotes is therefore read under each mode whose tokens differ
//! (at most three lexer passes, so still linear), and the strictest answer is kept
//! ([`stricter`]). A reading that ends inside a string or comment is dropped: the server
//! rejects such text under that mode, so it cannot run as that reading says. The usual
//! escaped text (`'it\'s'`, `'a\\b'`, `'{\"k\": 1}'`) reads the same every way or is
//! unterminated under the other modes, and keeps its classification.

use super::dml::Unique;
use super::lexer::{lex, Escapes, Lexed, Token};
use super::statement::reading;
use super::types::{Classified, Consistency, Kind};

/// The modes read besides [`Escapes::DEFAULT`].
const OTHER_MODES: [Escapes; 2] = [Escapes::NONE, Escapes::ANSI_QUOTES];

/// The strictest classification of `sql` over every sql_mode, given its default reading
/// (`tokens`, `lexed`, classified as `default`).
pub(crate) fn every_reading(
    sql: &[u8],
    tokens: &[Token],
    lexed: &Lexed,
    default: Classified,
) -> Classified {
    let (mut answer, unterminated) = if lexed.unterminated {
        (None, Some(default))
    } else {
        (Some(default), None)
    };
    let mut seen: Vec<Vec<Token>> = Vec::new();
    for escapes in OTHER_MODES {
        let mut other = Vec::new();
        let other_lexed = lex(sql, &mut other, escapes);
        if other_lexed.unterminated || other == tokens || seen.contains(&other) {
            continue;
        }
        let c = reading(sql, &other, &other_lexed);
        answer = Some(match answer {
            Some(a) => stricter(a, c),
            None => c,
        });
        seen.push(other);
    }
    answer
        .or(unterminated)
        .unwrap_or_else(Classified::unparseable)
}

/// The stricter of two readings of one text. Equal readings are kept as they are. Otherwise
/// the answer never leaves the primary: it is not a plain read (Read becomes PrimaryRead), its
/// kind is the heavier of the two (DDL, then write, then anything else as Other), its tables
/// are both readings' (known only when both kinds agree and both knew them), it pins when
/// either pins and unpins only when both unpin alike, a differing hint is STRONG, and what the
/// proxy would intercept or rewrite (SET of its variable, KILL, warnings queries, the
/// settings it replays) is only kept when both readings agree: otherwise the text goes to the
/// server unchanged.
pub(crate) fn stricter(a: Classified, b: Classified) -> Classified {
    if a == b {
        return a;
    }
    let same_kind = a.kind == b.kind;
    let kind = match (a.kind, b.kind) {
        (x, y) if x == y && x != Kind::Read => x,
        (Kind::Read | Kind::PrimaryRead, Kind::Read | Kind::PrimaryRead) => Kind::PrimaryRead,
        (Kind::Ddl, _) | (_, Kind::Ddl) => Kind::Ddl,
        (Kind::Write, _) | (_, Kind::Write) => Kind::Write,
        _ => Kind::Other,
    };
    let mut tables = Unique::default();
    for t in a.tables.iter().chain(&b.tables) {
        tables.push(t.clone());
    }
    let agree = |x: bool| x.then_some(());
    Classified {
        kind,
        tables: tables.into_vec(),
        tables_known: same_kind && a.tables_known && b.tables_known,
        hint: if a.hint == b.hint {
            a.hint
        } else {
            Some(Consistency::Strong)
        },
        set_statement: agree(a.set_statement == b.set_statement).and(a.set_statement),
        sticky: false,
        follows_last_write: a.follows_last_write || b.follows_last_write,
        pins: a.pins.or(b.pins),
        unpins: agree(a.unpins == b.unpins).and(a.unpins),
        set_consistency: agree(a.set_consistency == b.set_consistency).and(a.set_consistency),
        reads_consistency: a.reads_consistency && b.reads_consistency,
        multi_statement: a.multi_statement || b.multi_statement,
        kill: agree(a.kill == b.kill).and(a.kill),
        warnings: agree(a.warnings == b.warnings).and(a.warnings),
        connection_id: agree(a.connection_id == b.connection_id).and(a.connection_id),
        session_setting: a.session_setting && b.session_setting,
        sets_tracking: a.sets_tracking || b.sets_tracking,
        processlist: agree(a.processlist == b.processlist).and(a.processlist),
        fast_path: a.fast_path && b.fast_path,
    }
}

#[cfg(test)]
mod tests {
    use super::super::work;
    use super::super::{classify, Consistency, Kind, PinReason, TableRef};
    use crate::route::{route, Route, SessionState};

    fn c(sql: &str) -> super::Classified {
        classify(sql.as_bytes())
    }

    /// Where an EVENTUAL session that ran a statement before sends `sql`.
    fn eventual(sql: &str) -> Route {
        let state = SessionState {
            has_previous: true,
            ..SessionState::default()
        };
        route(&c(sql), Consistency::Eventual, state)
    }

    /// Issue 15: the lexer always treated a backslash as an escape, so under
    /// NO_BACKSLASH_ESCAPES (or ANSI_QUOTES for `"`) crafted text hid a locking clause, a
    /// named lock, a sequence, a stored function or a second statement inside what it took
    /// for one string, and the read went to a replica.
    #[test]
    fn text_hidden_by_one_sql_mode_is_seen() {
        let hidden = [
            ("SELECT '\\' FOR UPDATE -- '", Kind::PrimaryRead),
            (
                "SELECT * FROM t WHERE a = '\\' LOCK IN SHARE MODE -- '",
                Kind::PrimaryRead,
            ),
            ("SELECT '\\', NEXTVAL(s) -- '", Kind::PrimaryRead),
            ("SELECT '\\', my_func() -- '", Kind::PrimaryRead),
            ("SELECT \"\\\" FOR UPDATE -- \"", Kind::PrimaryRead),
            ("SELECT @'\\' FOR UPDATE -- '", Kind::PrimaryRead),
            (
                "SELECT 'it\\'s', \"\\\" FROM t FOR UPDATE -- \"",
                Kind::PrimaryRead,
            ),
            ("SELECT '\\'; DELETE FROM t; -- '", Kind::Other),
            ("SELECT '\\'; INSERT INTO t VALUES (1); -- '", Kind::Other),
        ];
        for (sql, kind) in hidden {
            assert_eq!(c(sql).kind, kind, "{sql}");
            assert_eq!(eventual(sql), Route::Primary, "{sql}");
        }
        let lock = c("SELECT '\\', GET_LOCK('a', 10) -- '");
        assert_eq!(lock.pins, Some(PinReason::NamedLock));
        assert!(c("SELECT '\\'; DELETE FROM t; -- '").multi_statement);
        let var = c("SELECT '\\', @a := 1 -- '");
        assert_eq!(var.pins, Some(PinReason::UserVariable));
        let release = c("SELECT '\\', RELEASE_LOCK('a') -- '");
        assert_eq!(release.unpins, None, "one reading only: never unpin");
        assert_eq!(release.kind, Kind::PrimaryRead);
    }

    /// The other modes cost a lexer pass only when a backslash stands inside quotes, and
    /// the usual escaped text keeps its classification.
    #[test]
    fn escaped_text_keeps_its_classification() {
        work::take();
        assert_eq!(c("SELECT c FROM t WHERE id = 1").kind, Kind::Read);
        assert_eq!(work::take().lex_passes, 1, "no backslash: one reading");
        for sql in [
            "SELECT 'it\\'s' FROM t",
            "SELECT * FROM t WHERE a IN ('it\\'s', 'x\\'y')",
            "SELECT 'a\\\\b', 'c\\nd' FROM t",
            "SELECT * FROM t WHERE j = '{\\\"k\\\": 1}'",
            "SELECT 'C:\\' FROM t",
        ] {
            let got = c(sql);
            assert_eq!(got.kind, Kind::Read, "{sql}");
            assert!(got.pins.is_none() && !got.multi_statement, "{sql}");
            assert!(work::take().lex_passes <= 3, "{sql}");
        }
        let insert = c("INSERT INTO t (a, b) VALUES ('it\\'s', 'x\\'y')");
        assert_eq!(insert.kind, Kind::Write);
        assert_eq!(insert.tables, vec![TableRef::new("t")]);
        assert!(insert.tables_known && insert.fast_path);
        let set = c("SET STATEMENT myquorum_consistency='STRONG' FOR SELECT 'it\\'s'");
        assert_eq!(set.hint, Some(Consistency::Strong));
        assert!(set.set_statement.is_some());
    }

    /// When the readings disagree on what the proxy would rewrite or answer itself, the
    /// text goes to the server unchanged.
    #[test]
    fn disagreeing_readings_intercept_nothing() {
        let sql = "SET STATEMENT max_statement_time='\\', myquorum_consistency='EVENTUAL' FOR \
                   SELECT 1 -- '";
        let got = c(sql);
        assert!(got.set_statement.is_none(), "{got:?}");
        assert_ne!(got.kind, Kind::Read);
        let set = c("SET sql_mode='\\', myquorum_consistency='EVENTUAL' -- '");
        assert!(set.set_consistency.is_none(), "{set:?}");
    }
}
