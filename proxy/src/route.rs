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
    /// The session still holds the connection its last write ran on (see
    /// [`records_last_write`]): false before its first write, and after that connection was
    /// closed, reset or handed back to the pool.
    pub has_last_write: bool,
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
    /// The connection of the previous statement (a plain read of SHOW WARNINGS, ROW_COUNT(),
    /// ... and the statements of a read-only transaction on a replica).
    Previous,
    /// A replica chosen for the whole read-only transaction this statement starts.
    ReadOnlyTransaction,
    /// The connection the session's last write ran on (a plain read of LAST_INSERT_ID(),
    /// `@@identity`, `@@last_insert_id`): the value belongs to that connection, whatever ran
    /// in between. Only when [`SessionState::has_last_write`]; otherwise such a read goes to
    /// the primary.
    LastWrite,
}

/// Decides where `stmt` runs at consistency `level` for a session in `state`.
pub fn route(stmt: &Classified, level: Consistency, state: SessionState) -> Route {
    let plain_read = is_plain_read(stmt);
    if state.read_only_transaction {
        return Route::Previous;
    }
    if plain_read && stmt.follows_last_write {
        return if state.has_last_write {
            Route::LastWrite
        } else {
            Route::Primary
        };
    }
    if plain_read && stmt.sticky && state.has_previous {
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

/// A plain read: one statement that only reads and creates no session state. Only these may
/// leave the primary for the previous statement's connection (the sticky rule) or the last
/// write's; a statement that writes, locks, pins or holds several statements never does,
/// whatever functions it calls (issue 15: an INSERT ... LAST_INSERT_ID() after an EVENTUAL
/// read followed the sticky rule to a replica).
pub fn is_plain_read(stmt: &Classified) -> bool {
    stmt.kind == Kind::Read && stmt.pins.is_none() && !stmt.multi_statement
}

/// True when the session must remember the node `stmt` ran on (when it succeeded) as its
/// last write's, for [`Route::LastWrite`]: everything but a plain read may change the
/// connection's LAST_INSERT_ID (INSERT, CALL, stored functions, `LAST_INSERT_ID(expr)`),
/// and all of it runs on the primary.
pub fn records_last_write(stmt: &Classified) -> bool {
    !is_plain_read(stmt) || stmt.follows_last_write
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
            "SHOW COUNT(*) WARNINGS",
            "SELECT ROW_COUNT()",
            "SELECT FOUND_ROWS()",
            "SELECT @@warning_count",
            "GET DIAGNOSTICS @n = NUMBER",
        ] {
            for level in [E, S, C] {
                assert_eq!(at(sql, level, idle()), Route::Previous, "{sql}");
            }
        }
        let fresh = SessionState::default();
        assert_eq!(at("SHOW WARNINGS", E, fresh), Route::Replica);
    }

    fn target_at(sql: &str, level: Consistency, state: SessionState, last: bool) -> Route {
        let state = SessionState {
            has_last_write: last,
            ..state
        };
        route(&classify(sql.as_bytes()), level, state)
    }

    /// Issue 15: after an EVENTUAL read (the previous statement ran on a replica), a write
    /// calling LAST_INSERT_ID() or ROW_COUNT() followed the sticky rule to that replica. A
    /// statement that writes, locks, pins or holds several statements goes to the primary,
    /// whatever the sticky and last-write rules say.
    #[test]
    fn writes_go_to_the_primary_whatever_they_read() {
        for sql in [
            "INSERT INTO t (v) VALUES (LAST_INSERT_ID())",
            "INSERT INTO t (v) SELECT LAST_INSERT_ID()",
            "INSERT INTO t (v) SELECT ROW_COUNT()",
            "insert into t (v) values (@@identity)",
            "REPLACE INTO t VALUES (FOUND_ROWS())",
            "UPDATE t SET v = LAST_INSERT_ID() WHERE id = 1",
            "UPDATE t SET v = @@warning_count",
            "DELETE FROM t WHERE id = ROW_COUNT()",
            "CREATE TABLE t2 AS SELECT LAST_INSERT_ID() AS id",
            "CALL p(LAST_INSERT_ID())",
            "DO LAST_INSERT_ID(5)",
            "SET @id = LAST_INSERT_ID()",
            "SELECT LAST_INSERT_ID() INTO @id",
            "SELECT ROW_COUNT(), GET_LOCK('a', 1)",
            "SELECT LAST_INSERT_ID() FROM t FOR UPDATE",
            "SELECT FOUND_ROWS() FROM t FOR UPDATE",
            "SELECT LAST_INSERT_ID(); DELETE FROM t",
            "SHOW WARNINGS; DELETE FROM t",
        ] {
            for level in [E, S, C] {
                assert_eq!(at(sql, level, idle()), Route::Primary, "{sql} at {level}");
                for last in [false, true] {
                    assert_eq!(
                        target_at(sql, level, idle(), last),
                        Route::Primary,
                        "{sql} at {level}"
                    );
                }
            }
            assert!(records_last_write(&classify(sql.as_bytes())), "{sql}");
        }
    }

    /// LAST_INSERT_ID() belongs to the connection of the session's last write, not of its
    /// previous statement: a plain read of it goes there, or to the primary while the
    /// session has no last write.
    #[test]
    fn last_insert_id_follows_the_last_write() {
        for sql in [
            "SELECT LAST_INSERT_ID()",
            "select last_insert_id() as id",
            "SELECT @@identity",
            "SELECT @@session.last_insert_id",
            "SELECT LAST_INSERT_ID(), ROW_COUNT()",
            "SELECT LAST_INSERT_ID(42)",
        ] {
            for level in [E, S, C] {
                assert_eq!(
                    target_at(sql, level, idle(), true),
                    Route::LastWrite,
                    "{sql}"
                );
                assert_eq!(
                    target_at(sql, level, idle(), false),
                    Route::Primary,
                    "{sql}"
                );
                assert_eq!(at(sql, level, idle()), Route::Primary, "{sql}");
            }
            assert!(records_last_write(&classify(sql.as_bytes())), "{sql}");
        }
        let inside = SessionState {
            read_only_transaction: true,
            in_transaction: true,
            ..idle()
        };
        assert_eq!(
            target_at("SELECT LAST_INSERT_ID()", E, inside, true),
            Route::Previous,
            "a read-only transaction keeps its replica"
        );
        for sql in ["SELECT 1", "SHOW WARNINGS", "SELECT c FROM t WHERE id = 1"] {
            assert!(!records_last_write(&classify(sql.as_bytes())), "{sql}");
        }
    }
}
