//! The classifier's answer: plain data the router, the session and the metrics read.

use std::fmt;
use std::str::FromStr;

/// Consistency levels (DESIGN.md section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Consistency {
    /// Primary commit, return at once; reads on replicas.
    Eventual,
    /// Primary commit, then wait for a Cabinet quorum of replicas to apply; reads on the primary.
    Strong,
    /// Read your own writes: reads on a replica that has applied the session's last GTID.
    Causal,
}

impl Consistency {
    /// The level's name as MariaDB would show a variable value.
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Eventual => "EVENTUAL",
            Consistency::Strong => "STRONG",
            Consistency::Causal => "CAUSAL",
        }
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A consistency name that is none of EVENTUAL, STRONG, CAUSAL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown consistency level '{value}' (expected EVENTUAL, STRONG or CAUSAL)")]
pub struct ParseConsistencyError {
    /// The value as given, so the 1231 error can quote it.
    pub value: String,
}

impl FromStr for Consistency {
    type Err = ParseConsistencyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        for level in [
            Consistency::Eventual,
            Consistency::Strong,
            Consistency::Causal,
        ] {
            if s.eq_ignore_ascii_case(level.as_str()) {
                return Ok(level);
            }
        }
        Err(ParseConsistencyError {
            value: s.to_owned(),
        })
    }
}

/// What a statement is, as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Plain SELECT / WITH ... SELECT / SHOW / DESCRIBE / EXPLAIN / VALUES / TABLE / HELP /
    /// GET DIAGNOSTICS: safe on a replica (unless `sticky`).
    Read,
    /// INSERT / REPLACE / UPDATE / DELETE / LOAD DATA|XML, multi-table forms, CALL
    /// (conservatively: a procedure may write anything).
    Write,
    /// CREATE / ALTER / DROP / RENAME / TRUNCATE / GRANT / REVOKE / ANALYZE|OPTIMIZE|REPAIR
    /// TABLE / INSTALL / UNINSTALL.
    Ddl,
    /// Transaction control.
    Transaction(TransactionOp),
    /// SET of session variables (also SET NAMES / CHARACTER SET / ROLE / [SESSION]
    /// TRANSACTION), USE db, and `SET @user_var` (with `pins` = UserVariable).
    /// A SET that touches a GLOBAL variable is [`Kind::Other`]: it must not be replayed.
    SessionSet,
    /// A read that must run on the primary: locking clauses, sequences, named-lock functions,
    /// SELECT ... INTO, HANDLER, functions that are not known built-ins (stored functions or
    /// UDFs), reads that create session state (`pins`), node-specific SHOWs (MASTER / SLAVE /
    /// PROCESSLIST / STATUS ...) and `@@read_only`-family variables (the proxy presents a
    /// writable server).
    PrimaryRead,
    /// Anything else that must go to the primary: FLUSH, KILL, DO, LOCK / UNLOCK TABLES,
    /// PREPARE / EXECUTE / DEALLOCATE, SET GLOBAL, compound statements, unknown text.
    Other,
}

/// Which transaction-control statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionOp {
    /// BEGIN [WORK] / START TRANSACTION [...]; `read_only` for `READ ONLY`.
    Begin {
        /// `START TRANSACTION READ ONLY`: may run on one replica under EVENTUAL.
        read_only: bool,
    },
    /// COMMIT [WORK] [[NO] RELEASE].
    Commit,
    /// ROLLBACK [WORK] [[NO] RELEASE] (not `ROLLBACK TO`).
    Rollback,
    /// SAVEPOINT, ROLLBACK [WORK] TO [SAVEPOINT], RELEASE SAVEPOINT: the transaction goes on.
    Savepoint,
    /// XA START | BEGIN | END | PREPARE | COMMIT | ROLLBACK | RECOVER.
    Xa,
    /// COMMIT / ROLLBACK ... AND CHAIN: ends the transaction and opens the next at once.
    Other,
}

/// A table named by a statement, exactly as written (quotes removed, case kept): whether
/// `T` and `t` are the same table depends on the server's `lower_case_table_names`, which the
/// classifier does not know; callers that key maps by table normalise there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRef {
    /// The database the text names; None means the session's current database.
    pub db: Option<String>,
    /// The table name.
    pub name: String,
}

impl TableRef {
    /// A table in the session's current database.
    pub fn new(name: &str) -> Self {
        TableRef {
            db: None,
            name: name.to_owned(),
        }
    }

    /// A table qualified by its database.
    pub fn qualified(db: &str, name: &str) -> Self {
        TableRef {
            db: Some(db.to_owned()),
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.db {
            Some(db) => write!(f, "{db}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Why a session is pinned to its primary connection (counted by reason, never silent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinReason {
    /// LOCK TABLE(S), FLUSH TABLES ... WITH READ LOCK / FOR EXPORT, BACKUP LOCK.
    TableLock,
    /// GET_LOCK held.
    NamedLock,
    /// CREATE TEMPORARY TABLE / SEQUENCE.
    TemporaryTable,
    /// A user variable assigned (SET @a, @a := ..., INTO @a, CALL p(@a)).
    UserVariable,
    /// Text PREPARE.
    TextPrepare,
    /// SQL_CALC_FOUND_ROWS: the next FOUND_ROWS() must see it.
    CalcFoundRows,
    /// Text neither the fast path nor sqlparser understands.
    Unparseable,
    /// An open read-write transaction (from status flags), or XA START / BEGIN.
    Transaction,
    /// HANDLER ... OPEN.
    Cursor,
    /// A prepared statement's cursor (COM_STMT_EXECUTE with a cursor flag), until the
    /// statement is closed or reset.
    StatementCursor,
    /// COM_STMT_SEND_LONG_DATA awaiting its EXECUTE.
    LongData,
    /// `SET sql_auto_is_null = 1`: `WHERE <auto_increment column> IS NULL` then finds the
    /// row of the connection's LAST_INSERT_ID, which only the last write's connection knows.
    AutoIsNull,
}

impl PinReason {
    /// Every reason, for registering metrics up front.
    pub const ALL: [PinReason; 12] = [
        PinReason::TableLock,
        PinReason::NamedLock,
        PinReason::TemporaryTable,
        PinReason::UserVariable,
        PinReason::TextPrepare,
        PinReason::CalcFoundRows,
        PinReason::Unparseable,
        PinReason::Transaction,
        PinReason::Cursor,
        PinReason::LongData,
        PinReason::AutoIsNull,
        PinReason::StatementCursor,
    ];

    /// Stable label for metrics, the admin port and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            PinReason::TableLock => "table_lock",
            PinReason::NamedLock => "named_lock",
            PinReason::TemporaryTable => "temporary_table",
            PinReason::UserVariable => "user_variable",
            PinReason::TextPrepare => "text_prepare",
            PinReason::CalcFoundRows => "calc_found_rows",
            PinReason::Unparseable => "unparseable",
            PinReason::Transaction => "transaction",
            PinReason::Cursor => "cursor",
            PinReason::LongData => "long_data",
            PinReason::AutoIsNull => "auto_is_null",
            PinReason::StatementCursor => "statement_cursor",
        }
    }
}

impl fmt::Display for PinReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a `myquorum_consistency` assignment cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetConsistencyError {
    /// Not a level name: MariaDB's 1231 (42000) "Variable ... can't be set to the value of ...".
    #[error("Variable 'myquorum_consistency' can't be set to the value of '{0}'")]
    BadValue(String),
    /// `SET GLOBAL myquorum_consistency`: 1228 (HY000), the variable is session-only (the
    /// default comes from the proxy's configuration).
    #[error(
        "Variable 'myquorum_consistency' is a SESSION variable and can't be used with SET GLOBAL"
    )]
    GlobalScope,
}

/// A `SET ... myquorum_consistency = X` the proxy intercepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetConsistency {
    /// The new level; `Ok(None)` for `= DEFAULT` (back to the configured default).
    pub value: Result<Option<Consistency>, SetConsistencyError>,
    /// The SET with the myquorum item removed, to send to the server (original bytes kept,
    /// items re-joined with ", "); None when myquorum_consistency was the only assignment
    /// (the proxy answers OK itself).
    pub remainder: Option<Vec<u8>>,
}

/// A `SET STATEMENT ... myquorum_consistency = X ... FOR <stmt>`: the level is in
/// [`Classified::hint`] (when valid) and the rest of [`Classified`] describes `<stmt>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetStatement {
    /// The level, or why it is refused (the proxy answers the error and sends nothing).
    pub value: Result<Option<Consistency>, SetConsistencyError>,
    /// Other `SET STATEMENT` variables remain in `rewritten`.
    pub other_vars: bool,
    /// The text to send instead of the original: `SET STATEMENT <others> FOR <stmt>` when
    /// `other_vars`, else the leading comments followed by `<stmt>` alone.
    pub rewritten: Vec<u8>,
}

/// A `KILL` of a numeric connection id, which the proxy maps to a backend thread: the id a
/// client knows is the proxy's, not the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kill {
    /// `KILL QUERY`: stop the running statement, keep the connection.
    pub query_only: bool,
    /// Proxy connection id.
    pub target: u32,
}

/// A query about the previous statement's warnings, which the proxy answers itself when it
/// added a warning the server does not know about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WarningsQuery {
    /// `SHOW WARNINGS ...` (with LIMIT or anything else after it), not `SHOW COUNT(*) WARNINGS`.
    ShowWarnings,
    /// Exactly `SELECT @@[session.]warning_count` or `SHOW COUNT(*) WARNINGS`, with only
    /// whitespace between the tokens, no comments, and only whitespace and `;` after them.
    WarningCount {
        /// The result column's name, as the server would give it: the variable as written
        /// for the SELECT, `@@session.warning_count` for SHOW COUNT(*) WARNINGS.
        column: String,
    },
}

/// Everything the router needs to know about one COM_QUERY text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// What the statement is (for multi-statement text: the common kind, else Other).
    pub kind: Kind,
    /// Tables a write or DDL writes, qualified by database where the text names it. For
    /// multi-table UPDATE every table of the join is listed (conservative); for multi-table
    /// DELETE the deleted-from tables (aliases resolved); INSERT ... SELECT lists the target.
    pub tables: Vec<TableRef>,
    /// False when the statement writes but its tables could not be named (CALL, a shape
    /// neither path reads): treat every table as touched.
    pub tables_known: bool,
    /// The statement's own consistency choice: a leading comment hint
    /// `/* myquorum:consistency=STRONG */` (any leading comment, case-insensitive; an invalid
    /// value in a comment is ignored) or a valid `SET STATEMENT myquorum_consistency=...`
    /// (which wins over the comment).
    pub hint: Option<Consistency>,
    /// `SET STATEMENT ... myquorum_consistency ... FOR`: the item to strip before sending.
    pub set_statement: Option<SetStatement>,
    /// A read of results that belong to the previous statement's connection (SHOW WARNINGS /
    /// ERRORS / COUNT(*), @@warning_count, @@error_count, ROW_COUNT(), FOUND_ROWS(), GET
    /// DIAGNOSTICS). Only reads are sticky: a write that calls ROW_COUNT() is not, and goes
    /// to the primary like any write (issue 15).
    pub sticky: bool,
    /// Reads the connection's LAST_INSERT_ID() (also `@@identity`, `@@last_insert_id`, and
    /// `LAST_INSERT_ID(expr)`, which sets it): the value belongs to the connection of the
    /// session's *last write*, not of its previous statement (a read in between may have run
    /// on a replica). The router sends a plain read with it to that connection
    /// ([`crate::route::Target::LastWrite`]); a write with it still goes to the primary.
    pub follows_last_write: bool,
    /// Session state this statement creates (the session pins to its primary connection).
    /// One reason even when several apply; priority follows the order they are detected.
    pub pins: Option<PinReason>,
    /// Session state this statement ends (UNLOCK TABLES, RELEASE_LOCK / RELEASE_ALL_LOCKS,
    /// DROP TEMPORARY TABLE, DEALLOCATE PREPARE, HANDLER ... CLOSE, XA COMMIT / ROLLBACK).
    pub unpins: Option<PinReason>,
    /// `SET [SESSION] myquorum_consistency = X` in any of its forms.
    pub set_consistency: Option<SetConsistency>,
    /// `SELECT @@[session.|local.]myquorum_consistency [[AS] alias]`, answered by the proxy.
    pub reads_consistency: bool,
    /// More than one statement in the text: always the primary.
    pub multi_statement: bool,
    /// `KILL [HARD | SOFT] [CONNECTION | QUERY] <id>`: the id is the *proxy's* connection id
    /// (the one the client saw in the greeting), so the session maps it to a backend thread
    /// instead of sending the text. Text after a `;` does not prevent it (and is not run).
    pub kill: Option<Kill>,
    /// `SELECT CONNECTION_ID() [AS alias]`, answered by the proxy with its own connection id
    /// (the greeting's, the one KILL through the proxy accepts); the value is the result
    /// column's name as the server would give it.
    pub connection_id: Option<String>,
    /// A warnings query the proxy answers itself while it holds a warning of its own (a
    /// STRONG write whose quorum wait timed out), since the server does not know that warning.
    pub warnings: Option<WarningsQuery>,
    /// The text the proxy sends for this statement (the `SET STATEMENT` rewrite when there is
    /// one) is a single statement that sets session variables and can be replayed as is on a
    /// connection the session opens later: `SET x = ..`, `SET SESSION ..`, `SET @@session.x`,
    /// `SET NAMES`, `SET CHARACTER SET`, `SET ROLE`. Not `SET GLOBAL` / `SET @@global.x`,
    /// `SET TRANSACTION`, `SET STATEMENT .. FOR`, `SET PASSWORD`, `SET @user_var`,
    /// `SET DEFAULT ROLE`, a quoted first name, or multi-statement text. Only the first
    /// assignment is looked at.
    pub session_setting: bool,
    /// `SHOW [FULL] PROCESSLIST` (`Some(full)`), answered by the proxy from its sessions: the
    /// ids it lists are the proxy's connection ids, the ones `KILL` through the proxy takes.
    pub processlist: Option<bool>,
    /// A `SET STATEMENT` that sets `session_track_system_variables` for its statement: the
    /// server's OK then carries the tracked variables the client asked for, which may leave out
    /// the `last_gtid` the proxy learns its writes' GTIDs from. After such a write the proxy
    /// reads `@@last_gtid` on the same connection before the client gets its OK, so the CAUSAL
    /// position still advances.
    pub sets_tracking: bool,
    /// The lexical fast path decided alone (false: sqlparser was consulted).
    pub fast_path: bool,
}

impl Classified {
    /// A fast-path answer of `kind` with nothing else set.
    pub(crate) fn of(kind: Kind) -> Self {
        Classified {
            kind,
            tables: Vec::new(),
            tables_known: true,
            hint: None,
            set_statement: None,
            sticky: false,
            follows_last_write: false,
            pins: None,
            unpins: None,
            set_consistency: None,
            reads_consistency: false,
            multi_statement: false,
            kill: None,
            connection_id: None,
            warnings: None,
            session_setting: false,
            processlist: None,
            sets_tracking: false,
            fast_path: true,
        }
    }

    /// Text neither path understands: the primary, pinned until the server reports no
    /// transaction.
    pub(crate) fn unparseable() -> Self {
        Classified {
            pins: Some(PinReason::Unparseable),
            ..Classified::of(Kind::Other)
        }
    }
}
