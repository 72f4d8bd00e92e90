//! Property tests (issue 15's fuzz target, run in CI with bounded case counts): the
//! classifier and its SET / SET STATEMENT parser never panic on any bytes or on SQL-ish token
//! soups, answer deterministically, answer the same through the cache, and never let a
//! statement that is not a plain read leave the primary under any of the sql_modes they read.

use proptest::prelude::*;

use super::lexer::{lex, Escapes};
use super::statement::reading;
use super::{classify, Classified, Classifier, Consistency, Kind, TransactionOp};
use crate::route::{is_plain_read, route, Route, SessionState};

/// Words and punctuation the classifier's scanners look for, and the bytes that change how
/// text splits into tokens (quotes, backslashes, comment markers, newlines).
const VOCABULARY: &[&str] = &[
    "SELECT",
    "INSERT",
    "INTO",
    "VALUES",
    "UPDATE",
    "DELETE",
    "FROM",
    "WHERE",
    "SET",
    "STATEMENT",
    "FOR",
    "SHARE",
    "LOCK",
    "IN",
    "MODE",
    "SKIP",
    "LOCKED",
    "NOWAIT",
    "WITH",
    "AS",
    "RECURSIVE",
    "EXPLAIN",
    "ANALYZE",
    "FORMAT",
    "SHOW",
    "WARNINGS",
    "COUNT",
    "KILL",
    "QUERY",
    "CALL",
    "DO",
    "BEGIN",
    "START",
    "TRANSACTION",
    "READ",
    "ONLY",
    "COMMIT",
    "ROLLBACK",
    "CREATE",
    "TEMPORARY",
    "TABLE",
    "DROP",
    "JOIN",
    "USING",
    "NEXT",
    "VALUE",
    "GLOBAL",
    "SESSION",
    "LOCAL",
    "NAMES",
    "DEFAULT",
    "t",
    "t2",
    "db",
    "a",
    "b",
    "myquorum_consistency",
    "@@myquorum_consistency",
    "@@session.myquorum_consistency",
    "@@global.x",
    "@@warning_count",
    "@@identity",
    "@a",
    "@'a'",
    "'STRONG'",
    "'EVENTUAL'",
    "CAUSAL",
    "'x'",
    "\"y\"",
    "`z`",
    "1",
    "42",
    "GET_LOCK",
    "RELEASE_LOCK",
    "NEXTVAL",
    "LAST_INSERT_ID",
    "ROW_COUNT",
    "FOUND_ROWS",
    "my_func",
    "(",
    ")",
    ",",
    ";",
    "=",
    ":=",
    ":",
    ".",
    "*",
    "'",
    "\"",
    "`",
    "\\",
    "\\'",
    "/*",
    "*/",
    "/*!",
    "/*M!50100",
    "--",
    "-- ",
    "#",
    "\n",
    "/* myquorum:consistency=STRONG */",
];

/// Text made of vocabulary items, each followed by a space or nothing.
fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(VOCABULARY), any::<bool>()), 0..40).prop_map(
        |items| {
            items
                .into_iter()
                .map(|(w, space)| if space { format!("{w} ") } else { w.to_owned() })
                .collect()
        },
    )
}

/// SET and SET STATEMENT lists, well-formed or not: empty items, doubled and trailing
/// commas, missing values and FOR, scopes, the proxy's variable among others.
fn set_text() -> impl Strategy<Value = String> {
    let item = prop::sample::select(
        &[
            "myquorum_consistency='STRONG'",
            "myquorum_consistency = causal",
            "myquorum_consistency:=EVENTUAL",
            "myquorum_consistency=",
            "myquorum_consistency",
            "@@session.myquorum_consistency='STRONG'",
            "@@global.myquorum_consistency='STRONG'",
            "GLOBAL myquorum_consistency='STRONG'",
            "SESSION myquorum_consistency = DEFAULT",
            "max_statement_time=5",
            "sql_mode=''",
            "@a := 1",
            "@b = (1, 2)",
            "x = f(1, 2)",
            "",
            "'\\'",
        ][..],
    );
    let head =
        prop::sample::select(&["SET ", "SET STATEMENT ", "set statement ", "SET SESSION "][..]);
    let tail = prop::sample::select(
        &[
            "",
            " FOR SELECT 1",
            " FOR",
            " FOR UPDATE t SET a = 1",
            " FOR SET STATEMENT x=1 FOR SELECT 1",
            " FOR SELECT * FROM t FOR UPDATE",
            "; SELECT 1",
        ][..],
    );
    (
        head,
        prop::collection::vec(item, 0..5),
        prop::sample::select(&[",", ", ", ",,", " "][..]),
        tail,
    )
        .prop_map(|(head, items, sep, tail)| format!("{head}{}{tail}", items.join(sep)))
}

/// Every session state the router distinguishes, at every level.
fn states() -> Vec<(SessionState, Consistency)> {
    let mut out = Vec::new();
    for has_previous in [false, true] {
        for pinned in [false, true] {
            for has_last_write in [false, true] {
                for level in [
                    Consistency::Eventual,
                    Consistency::Strong,
                    Consistency::Causal,
                ] {
                    let state = SessionState {
                        has_previous,
                        pinned,
                        has_last_write,
                        ..SessionState::default()
                    };
                    out.push((state, level));
                }
            }
        }
    }
    out
}

/// A statement that is not a plain read goes to the primary (or, for START TRANSACTION READ
/// ONLY, to the replica of the read-only transaction it starts) in every state outside a
/// read-only transaction.
fn assert_stays_on_primary(c: &Classified, text: &[u8]) {
    if is_plain_read(c) || c.kind == Kind::Transaction(TransactionOp::Begin { read_only: true }) {
        return;
    }
    for (state, level) in states() {
        let t = route(c, level, state);
        assert_eq!(
            t,
            Route::Primary,
            "{:?} ({c:?}) at {level} in {state:?}",
            String::from_utf8_lossy(text)
        );
    }
}

/// The checks every input gets: no panic (the call itself), the same answer twice, the same
/// answer through a cache (missed, then hit), routing that keeps non-reads on the primary,
/// and an answer at least as strict as each sql_mode's own reading.
fn check(text: &[u8]) {
    let first = classify(text);
    assert_eq!(first, classify(text), "not deterministic");
    let cache = Classifier::new(64);
    assert_eq!(*cache.classify(text), first, "cache miss differs");
    assert_eq!(*cache.classify(text), first, "cache hit differs");
    assert_stays_on_primary(&first, text);
    for escapes in [Escapes::DEFAULT, Escapes::NONE, Escapes::ANSI_QUOTES] {
        let mut tokens = Vec::new();
        let lexed = lex(text, &mut tokens, escapes);
        if lexed.unterminated {
            continue;
        }
        let one = reading(text, &tokens, &lexed);
        if !is_plain_read(&one) {
            assert!(
                !is_plain_read(&first),
                "{:?} is not a plain read under {escapes:?}, but classified {first:?}",
                String::from_utf8_lossy(text)
            );
        }
        assert!(
            first.multi_statement || !one.multi_statement,
            "{:?}: several statements under {escapes:?}",
            String::from_utf8_lossy(text)
        );
    }
    if let Some(s) = &first.set_statement {
        check_rewrite(&s.rewritten);
    }
    if let Some(r) = first
        .set_consistency
        .as_ref()
        .and_then(|s| s.remainder.as_ref())
    {
        check_rewrite(r);
    }
}

/// Text the proxy sends instead of the client's classifies without panicking too.
fn check_rewrite(text: &[u8]) {
    let c = classify(text);
    assert_eq!(c, classify(text));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check(&bytes);
    }

    #[test]
    fn sql_like_token_soups(text in soup()) {
        check(text.as_bytes());
    }

    #[test]
    fn set_and_set_statement_lists(text in set_text()) {
        check(text.as_bytes());
    }

    #[test]
    fn soups_after_a_statement_prefix(
        prefix in prop::sample::select(&["SELECT ", "INSERT INTO t ", "SET STATEMENT a=1 FOR ", "EXPLAIN ANALYZE ", "WITH x AS (SELECT 1) "][..]),
        text in soup(),
    ) {
        check(format!("{prefix}{text}").as_bytes());
    }
}
