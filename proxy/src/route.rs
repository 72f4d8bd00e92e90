//! Where a statement runs: a pure function of the classified statement, the session's state
//! and its consistency level (DESIGN.md section 5). No I/O: the session turns the decision
//! into a connection, and the tests below check the rules with plain SQL strings.

use crate::classify::{Classified, Consistency, Kind, TransactionOp};

/// The session state routing depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionState {
    /// The server reported an open transaction (IN_TRANS) on the session's connection.
    pub in_transaction: bool,
    /// autocommit is off (every statement opens a transaction): the session stays on the
    /// primary until it is switched back on.
    pub autocommit_off: bool,
    /// The session is pinned to its primary connection (locks, temporary tables, user
    /// variables, text PREPARE, unparseable SQL in a transaction...).
    pub pinned: bool,
    /// The session is inside a `START TRANSACTION READ ONLY` that runs on one replica.
    pub read_only_transaction: bool,
    /// The session ran a statement before (the sticky rule has a connection to stick to).
    pub has_previous: bool,
}

/// The routing decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The primary.
    Primary,
    /// Any healthy replica (EVENTUAL read), lag- and load-aware.
    Replica,
    /// A replica that has applied the session's last GTID, else the primary (CAUSAL read).
    Causal,
    /// The connection of the previous statement (SHOW WARNINGS, ROW_COUNT(), ... and the
    /// statements of a read-only transaction on a replica).
    Previous,
    /// A replica chosen for the whole read-only transaction this statement starts.
    ReadOnlyTransaction,
}

/// Decides where `stmt` runs at consistency `level` for a session in `state`.
pub fn route(stmt: &Classified, level: Consistency, state: SessionState) -> Route {
    if stmt.sticky && state.has_previous {
        return Route::Previous;
    }
    if state.read_only_transaction {
        return Route::Previous;
    }
    if stmt.multi_statement || state.pinned || stmt.pins.is_some() {
        return Route::Primary;
    }
    if state.in_transaction || state.autocommit_off {
        return Route::Primary;
    }
    match stmt.kind {
        Kind::Transaction(TransactionOp::Begin { read_only: true })
            if level == Consistency::Eventual =>
        {
            Route::ReadOnlyTransaction
        }
        Kind::Read => match level {
            Consistency::Eventual => Route::Replica,
            Consistency::Strong => Route::Primary,
            Consistency::Causal => Route::Causal,
        },
        _ => Route::Primary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;

    fn at(sql: &str, level: Consistency, state: SessionState) -> Route {
        route(&classify(sql.as_bytes()), level, state)
    }

    const E: Consistency = Consistency::Eventual;
    const S: Consistency = Consistency::Strong;
    const C: Consistency = Consistency::Causal;

    fn idle() -> SessionState {
        SessionState {
            has_previous: true,
            ..SessionState::default()
        }
    }

    #[test]
    fn reads_follow_the_consistency_level() {
        for sql in [
            "SELECT c FROM sbtest1 WHERE id=1",
            "SELECT * FROM users ORDER BY id DESC LIMIT 10",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SELECT 1 UNION SELECT 2",
            "SHOW TABLES",
        ] {
            assert_eq!(at(sql, E, idle()), Route::Replica, "{sql}");
            assert_eq!(at(sql, S, idle()), Route::Primary, "{sql}");
            assert_eq!(at(sql, C, idle()), Route::Causal, "{sql}");
        }
    }

    #[test]
    fn writes_ddl_and_side_effect_reads_go_to_the_primary() {
        for sql in [
            "INSERT INTO users(name) VALUES ('a')",
            "UPDATE t SET a=1",
            "DELETE FROM t",
            "REPLACE INTO t VALUES (1)",
            "CREATE TABLE x (a int)",
            "SELECT * FROM t FOR UPDATE",
            "SELECT * FROM t LOCK IN SHARE MODE",
            "SELECT NEXTVAL(s)",
            "SELECT GET_LOCK('a', 1)",
            "SELECT 1; SELECT 2",
            "CALL p()",
            "XA START 'x'",
            "this is not sql",
        ] {
            assert_eq!(at(sql, E, idle()), Route::Primary, "{sql}");
        }
    }

    #[test]
    fn transactions_and_pins_keep_the_primary() {
        let in_txn = SessionState {
            in_transaction: true,
            ..idle()
        };
        assert_eq!(at("SELECT 1 FROM t", E, in_txn), Route::Primary);
        let no_autocommit = SessionState {
            autocommit_off: true,
            ..idle()
        };
        assert_eq!(at("SELECT 1 FROM t", E, no_autocommit), Route::Primary);
        let pinned = SessionState {
            pinned: true,
            ..idle()
        };
        assert_eq!(at("SELECT 1 FROM t", C, pinned), Route::Primary);
        assert_eq!(
            at("SELECT @a := 1", E, idle()),
            Route::Primary,
            "creates a pin"
        );
    }

    #[test]
    fn read_only_transactions_run_on_one_replica() {
        assert_eq!(
            at("START TRANSACTION READ ONLY", E, idle()),
            Route::ReadOnlyTransaction
        );
        assert_eq!(at("START TRANSACTION READ ONLY", S, idle()), Route::Primary);
        assert_eq!(at("START TRANSACTION", E, idle()), Route::Primary);
        let inside = SessionState {
            read_only_transaction: true,
            in_transaction: true,
            ..idle()
        };
        assert_eq!(at("SELECT * FROM t", E, inside), Route::Previous);
        assert_eq!(at("COMMIT", E, inside), Route::Previous);
    }

    #[test]
    fn sticky_statements_follow_the_previous_one() {
        for sql in [
            "SHOW WARNINGS",
            "SHOW ERRORS",
            "SELECT ROW_COUNT()",
            "SELECT FOUND_ROWS()",
            "SELECT LAST_INSERT_ID()",
            "SELECT @@warning_count",
        ] {
            assert_eq!(at(sql, E, idle()), Route::Previous, "{sql}");
        }
        let fresh = SessionState::default();
        assert_eq!(at("SHOW WARNINGS", E, fresh), Route::Replica);
    }
}
