//! The classifier's corpus: plain SQL strings and what each must be. Kinds, tables, pins and
//! stickiness are checked by table; SET forms, hints and the cache by their own tests.

use super::functions::BUILTINS;
use super::*;
use super::{parser, work};
use Kind::*;

fn c(sql: &str) -> Classified {
    classify(sql.as_bytes())
}

fn table(s: &str) -> TableRef {
    match s.split_once('.') {
        Some((db, name)) => TableRef::qualified(db, name),
        None => TableRef::new(s),
    }
}

const BEGIN: Kind = Transaction(TransactionOp::Begin { read_only: false });
const BEGIN_RO: Kind = Transaction(TransactionOp::Begin { read_only: true });
const COMMIT: Kind = Transaction(TransactionOp::Commit);
const ROLLBACK: Kind = Transaction(TransactionOp::Rollback);
const SAVEPOINT: Kind = Transaction(TransactionOp::Savepoint);
const XA: Kind = Transaction(TransactionOp::Xa);

/// Every statement's kind.
const KINDS: &[(&str, Kind)] = &[
    // sysbench
    ("SELECT c FROM sbtest1 WHERE id=5012", Read),
    ("SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 100", Read),
    ("SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 100", Read),
    ("SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c", Read),
    ("SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c", Read),
    ("UPDATE sbtest1 SET k=k+1 WHERE id=5", Write),
    ("UPDATE sbtest1 SET c='83868641912-28773972837' WHERE id=5", Write),
    ("DELETE FROM sbtest1 WHERE id=5", Write),
    ("INSERT INTO sbtest1 (id, k, c, pad) VALUES (5, 4998, '1-2', '3-4')", Write),
    // driver init and probes
    ("SELECT @@version_comment LIMIT 1", Read),
    ("select @@version_comment limit 1", Read),
    ("SET NAMES utf8mb4", SessionSet),
    ("SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci", SessionSet),
    ("SET CHARACTER SET utf8mb4", SessionSet),
    ("SET autocommit=0", SessionSet),
    ("SET autocommit=1", SessionSet),
    ("SHOW VARIABLES LIKE 'sql_mode'", Read),
    ("SHOW VARIABLES WHERE Variable_name ='language' OR Variable_name = 'net_write_timeout'", Read),
    ("SELECT @@session.transaction_isolation", Read),
    ("SELECT @@session.tx_isolation", Read),
    ("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", SessionSet),
    ("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", SessionSet),
    ("SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE", Other),
    ("SET sql_mode='STRICT_TRANS_TABLES'", SessionSet),
    ("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')", SessionSet),
    ("SET character_set_results = NULL", SessionSet),
    ("SET @@session.autocommit = OFF", SessionSet),
    ("SET time_zone = '+00:00'", SessionSet),
    ("/* mysql-connector-java-8.0.33 */SELECT  @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection, @@license AS license, @@sql_mode AS sql_mode, @@system_time_zone AS system_time_zone, @@time_zone AS time_zone, @@wait_timeout AS wait_timeout", Read),
    ("SELECT DATABASE(), USER() LIMIT 1", Read),
    ("SELECT VERSION()", Read),
    ("SELECT CONNECTION_ID()", Read),
    ("SHOW WARNINGS", Read),
    ("SHOW FULL TABLES FROM `db` LIKE 'x'", Read),
    ("SHOW CREATE TABLE t", Read),
    ("SHOW COLUMNS FROM t", Read),
    ("SHOW DATABASES", Read),
    ("SHOW GRANTS", Read),
    ("SHOW COLLATION", Read),
    ("SHOW MASTER STATUS", PrimaryRead),
    ("SHOW SLAVE STATUS", PrimaryRead),
    ("SHOW FULL PROCESSLIST", PrimaryRead),
    ("SHOW SESSION STATUS LIKE 'Last_query_cost'", PrimaryRead),
    ("SHOW ENGINE INNODB STATUS", PrimaryRead),
    ("USE db", SessionSet),
    ("use `my db`", SessionSet),
    ("SELECT 1", Read),
    ("select 1 from dual", Read),
    ("HELP 'select'", Read),
    // reads of many shapes
    ("DESCRIBE t", Read),
    ("DESC db.t", Read),
    ("EXPLAIN SELECT * FROM t WHERE a = 1", Read),
    ("EXPLAIN FORMAT=JSON SELECT 1", Read),
    ("EXPLAIN EXTENDED SELECT a FROM t", Read),
    ("EXPLAIN PARTITIONS (SELECT a FROM t)", Read),
    ("DESCRIBE SELECT * FROM t", Read),
    ("EXPLAIN t", Read),
    ("EXPLAIN db.t a", Read),
    // EXPLAIN goes where the explained statement would run (issue 14)
    ("EXPLAIN SELECT * FROM t WHERE a = 1 FOR UPDATE", PrimaryRead),
    ("EXPLAIN SELECT GET_LOCK('x', 1)", PrimaryRead),
    ("EXPLAIN SELECT a INTO @v FROM t", PrimaryRead),
    ("EXPLAIN SELECT NEXTVAL(s)", PrimaryRead),
    ("EXPLAIN UPDATE t SET a = 1", PrimaryRead),
    ("EXPLAIN FORMAT=JSON DELETE FROM t WHERE a = 1", PrimaryRead),
    ("EXPLAIN INSERT INTO t SELECT * FROM u", PrimaryRead),
    ("DESC REPLACE INTO t VALUES (1)", PrimaryRead),
    ("VALUES (1, 2), (3, 4)", Read),
    ("TABLE t", Read),
    ("(SELECT a FROM t1) UNION (SELECT a FROM t2)", Read),
    ("SELECT a FROM t1 UNION ALL SELECT a FROM t2 ORDER BY a", Read),
    ("SELECT a FROM t1 INTERSECT SELECT a FROM t2", Read),
    ("WITH c AS (SELECT * FROM t) SELECT * FROM c", Read),
    ("WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r", Read),
    ("WITH a AS (SELECT 1), b AS (SELECT 2) SELECT * FROM a, b", Read),
    ("SELECT * FROM t1 JOIN t2 USING (id) WHERE t1.a IN (1, 2, 3)", Read),
    ("SELECT COUNT(*), MAX(a), GROUP_CONCAT(b SEPARATOR ',') FROM t GROUP BY c HAVING COUNT(*) > 1", Read),
    ("SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b) FROM t", Read),
    ("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)", Read),
    ("SELECT CAST(a AS DECIMAL(10, 2)), CONVERT(b, CHAR(10)), CONVERT(c USING utf8mb4) FROM t", Read),
    ("SELECT JSON_EXTRACT(doc, '$.a'), JSON_VALUE(doc, '$.b') FROM t", Read),
    ("SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (x INT PATH '$')) AS jt", Read),
    ("SELECT * FROM t FORCE INDEX (PRIMARY) WHERE a = 1", Read),
    ("SELECT * FROM t PARTITION (p0)", Read),
    ("SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2024-01-01 00:00:00'", Read),
    ("SELECT MATCH (a) AGAINST ('x' IN BOOLEAN MODE) FROM t", Read),
    ("SELECT IF(a > 1, 'x', 'y'), IFNULL(b, 0), COALESCE(c, d) FROM t", Read),
    ("SELECT NOW(), CURDATE(), UNIX_TIMESTAMP(), UUID(), RAND()", Read),
    ("SELECT * FROM t WHERE note = 'FOR UPDATE'", Read),
    ("SELECT * FROM t WHERE note = 'a;b' -- FOR UPDATE", Read),
    ("SELECT * FROM t WHERE note = \"it's; FOR UPDATE\"", Read),
    ("SELECT `for`, `update` FROM `select`", Read),
    ("SELECT 'GET_LOCK(' AS x", Read),
    ("SELECT a /* FOR UPDATE */ FROM t", Read),
    ("SELECT a # FOR UPDATE\nFROM t", Read),
    ("SELECT @a", Read),
    ("SELECT * FROM t WHERE a = @a", Read),
    ("SELECT a FROM t WHERE b = 'x\\'; DROP TABLE t; --'", Read),
    // reads that must run on the primary
    ("SELECT * FROM t WHERE id = 1 FOR UPDATE", PrimaryRead),
    ("SELECT * FROM t WHERE id = 1 FOR UPDATE SKIP LOCKED", PrimaryRead),
    ("SELECT * FROM t WHERE id = 1 FOR UPDATE NOWAIT", PrimaryRead),
    ("SELECT * FROM t WHERE id = 1 FOR UPDATE WAIT 5", PrimaryRead),
    ("SELECT * FROM t WHERE id = 1 LOCK IN SHARE MODE", PrimaryRead),
    ("SELECT * FROM t WHERE id = 1 FOR SHARE", PrimaryRead),
    ("select * from t where id = 1 for update", PrimaryRead),
    ("SELECT NEXT VALUE FOR s", PrimaryRead),
    ("SELECT PREVIOUS VALUE FOR s", PrimaryRead),
    ("SELECT NEXTVAL(s)", PrimaryRead),
    ("SELECT LASTVAL(s)", PrimaryRead),
    ("SELECT SETVAL(s, 100)", PrimaryRead),
    ("SELECT GET_LOCK('x', 10)", PrimaryRead),
    ("SELECT RELEASE_LOCK('x')", PrimaryRead),
    ("SELECT RELEASE_ALL_LOCKS()", PrimaryRead),
    ("SELECT IS_USED_LOCK('x')", PrimaryRead),
    ("SELECT IS_FREE_LOCK('x')", PrimaryRead),
    ("SELECT a INTO @x FROM t LIMIT 1", PrimaryRead),
    ("SELECT a FROM t INTO OUTFILE '/tmp/x'", PrimaryRead),
    ("SELECT a FROM t INTO DUMPFILE '/tmp/x'", PrimaryRead),
    ("SELECT @a := a FROM t", PrimaryRead),
    ("SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10", PrimaryRead),
    ("SELECT my_func(a) FROM t", PrimaryRead),
    ("SELECT db.my_func(a) FROM t", PrimaryRead),
    ("SELECT `my func`(a) FROM t", PrimaryRead),
    ("SELECT @@read_only", PrimaryRead),
    ("SELECT @@global.read_only, @@innodb_read_only", PrimaryRead),
    ("WITH c AS (SELECT * FROM t) SELECT * FROM c FOR UPDATE", PrimaryRead),
    ("(SELECT a FROM t1 FOR UPDATE)", PrimaryRead),
    ("HANDLER t OPEN", PrimaryRead),
    ("HANDLER t READ FIRST", PrimaryRead),
    ("HANDLER t CLOSE", PrimaryRead),
    ("EXPLAIN FOR CONNECTION 5", PrimaryRead),
    // writes
    ("INSERT INTO t VALUES (1)", Write),
    ("INSERT t (a) VALUES (1)", Write),
    ("INSERT IGNORE INTO t (a) VALUES (1)", Write),
    ("INSERT LOW_PRIORITY INTO t SET a = 1", Write),
    ("INSERT INTO t (a) SELECT a FROM u WHERE b > 1", Write),
    ("INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a) + 1", Write),
    ("INSERT INTO t (a) VALUES (1) RETURNING id", Write),
    ("REPLACE INTO t (a) VALUES (1)", Write),
    ("REPLACE t SELECT * FROM u", Write),
    ("UPDATE t1, t2 SET t1.a = t2.a WHERE t1.id = t2.id", Write),
    ("UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = 1", Write),
    ("DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", Write),
    ("DELETE FROM t1, t2 USING t1 JOIN t2 ON t1.id = t2.id", Write),
    ("DELETE FROM t WHERE a = 1 RETURNING a", Write),
    ("DELETE FROM t ORDER BY id LIMIT 10", Write),
    ("WITH c AS (SELECT id FROM u) UPDATE t SET a = 1 WHERE id IN (SELECT id FROM c)", Write),
    ("WITH c AS (SELECT id FROM u) DELETE FROM t WHERE id IN (SELECT id FROM c)", Write),
    ("LOAD DATA INFILE '/tmp/x' INTO TABLE t", Write),
    ("LOAD DATA LOCAL INFILE 'x.csv' REPLACE INTO TABLE db.t FIELDS TERMINATED BY ','", Write),
    ("LOAD XML LOCAL INFILE 'x.xml' INTO TABLE t", Write),
    ("CALL p(1, 2)", Write),
    ("CALL db.p()", Write),
    ("INSERT INTO t VALUES (NEXT VALUE FOR s)", Write),
    // DDL
    ("CREATE TABLE t (id INT PRIMARY KEY)", Ddl),
    ("CREATE TABLE IF NOT EXISTS db.t (id INT)", Ddl),
    ("CREATE OR REPLACE TABLE t (id INT)", Ddl),
    ("CREATE TEMPORARY TABLE tmp (id INT)", Ddl),
    ("CREATE TABLE t2 AS SELECT * FROM t1", Ddl),
    ("ALTER TABLE t ADD COLUMN b INT", Ddl),
    ("ALTER ONLINE TABLE t ADD INDEX (b)", Ddl),
    ("DROP TABLE t", Ddl),
    ("DROP TABLE IF EXISTS t1, db.t2", Ddl),
    ("DROP TEMPORARY TABLE IF EXISTS tmp", Ddl),
    ("RENAME TABLE a TO b, c TO d", Ddl),
    ("TRUNCATE TABLE t", Ddl),
    ("TRUNCATE t", Ddl),
    ("CREATE INDEX i ON t (a)", Ddl),
    ("CREATE UNIQUE INDEX IF NOT EXISTS i ON db.t (a)", Ddl),
    ("DROP INDEX i ON t", Ddl),
    ("CREATE VIEW v AS SELECT * FROM t", Ddl),
    ("CREATE OR REPLACE ALGORITHM=MERGE DEFINER=`root`@`localhost` SQL SECURITY INVOKER VIEW v AS SELECT 1", Ddl),
    ("CREATE SEQUENCE s START WITH 1", Ddl),
    ("CREATE DATABASE d", Ddl),
    ("DROP DATABASE IF EXISTS d", Ddl),
    ("CREATE USER 'u'@'%' IDENTIFIED BY 'p'", Ddl),
    ("GRANT SELECT ON db.* TO 'u'@'%'", Ddl),
    ("REVOKE ALL PRIVILEGES ON *.* FROM 'u'@'%'", Ddl),
    ("ANALYZE TABLE t", Ddl),
    ("OPTIMIZE TABLE t1, t2", Ddl),
    ("REPAIR TABLE t", Ddl),
    ("CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", Ddl),
    ("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1", Ddl),
    ("DROP PROCEDURE IF EXISTS p", Ddl),
    ("INSTALL SONAME 'ha_blackhole'", Ddl),
    // transactions
    ("BEGIN", BEGIN),
    ("begin work", BEGIN),
    ("START TRANSACTION", BEGIN),
    ("START TRANSACTION READ WRITE", BEGIN),
    ("START TRANSACTION WITH CONSISTENT SNAPSHOT", BEGIN),
    ("START TRANSACTION READ ONLY", BEGIN_RO),
    ("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", BEGIN_RO),
    ("COMMIT", COMMIT),
    ("COMMIT WORK", COMMIT),
    ("commit;", COMMIT),
    ("ROLLBACK", ROLLBACK),
    ("ROLLBACK WORK RELEASE", ROLLBACK),
    ("ROLLBACK TO SAVEPOINT s1", SAVEPOINT),
    ("ROLLBACK WORK TO s1", SAVEPOINT),
    ("SAVEPOINT s1", SAVEPOINT),
    ("RELEASE SAVEPOINT s1", SAVEPOINT),
    ("COMMIT AND CHAIN", Transaction(TransactionOp::Other)),
    ("COMMIT AND NO CHAIN", COMMIT),
    ("XA START 'x'", XA),
    ("XA END 'x'", XA),
    ("XA PREPARE 'x'", XA),
    ("XA COMMIT 'x'", XA),
    ("XA ROLLBACK 'x'", XA),
    ("XA RECOVER", XA),
    ("BEGIN NOT ATOMIC SELECT 1; SELECT 2; END", Other),
    // other statements for the primary
    ("LOCK TABLES t READ, u WRITE", Other),
    ("LOCK TABLE t WRITE", Other),
    ("UNLOCK TABLES", Other),
    ("FLUSH TABLES WITH READ LOCK", Other),
    ("FLUSH PRIVILEGES", Other),
    ("KILL 12", Other),
    ("KILL QUERY 12", Other),
    ("DO SLEEP(1)", Other),
    ("PREPARE s FROM 'SELECT ?'", Other),
    ("EXECUTE s USING @a", Other),
    ("DEALLOCATE PREPARE s", Other),
    ("DROP PREPARE s", Other),
    ("SET GLOBAL max_connections = 200", Other),
    ("SET @@global.max_connections = 200", Other),
    ("SET PASSWORD FOR 'u'@'%' = PASSWORD('x')", Other),
    ("CHANGE MASTER TO MASTER_HOST='h'", Other),
    ("START SLAVE", Other),
    ("SIGNAL SQLSTATE '45000'", Other),
    ("", Other),
    ("  -- only a comment\n", Other),
    // session SETs
    ("SET @a = 1", SessionSet),
    ("SET @a := 1", SessionSet),
    ("SET @a = 1, @b = 'x'", SessionSet),
    ("SET ROLE r", SessionSet),
    ("SET SESSION max_statement_time = 5", SessionSet),
    ("SET LOCAL sql_log_bin = 0", SessionSet),
    ("SET DEFAULT ROLE r FOR u", Ddl),
    // SET STATEMENT classifies its statement
    ("SET STATEMENT max_statement_time=1 FOR SELECT * FROM t", Read),
    ("SET STATEMENT max_statement_time=1 FOR UPDATE t SET a = 1", Write),
    ("SET STATEMENT myquorum_consistency='STRONG' FOR SELECT * FROM t", Read),
    // executable comments are statement text
    ("/*!40101 SET NAMES utf8 */", SessionSet),
    ("/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */", SessionSet),
    ("SELECT a FROM t /*!50000 FOR UPDATE */", PrimaryRead),
    ("SELECT a FROM t /*M!100300 FOR UPDATE */", PrimaryRead),
    ("/*!*/ INSERT INTO t VALUES (1)", Write),
    // MariaDB ANALYZE executes its statement
    ("ANALYZE SELECT * FROM t", Read),
    ("ANALYZE FORMAT=JSON UPDATE t SET a = 1", Write),
    // unterminated text
    ("SELECT 'abc", Other),
    ("SELECT 1 /* open", Other),
    // multi-statement
    ("SELECT 1; SELECT 2", Read),
    ("INSERT INTO t VALUES (1); SELECT 1", Other),
];

#[test]
fn kinds() {
    let mut failed = Vec::new();
    for &(sql, kind) in KINDS {
        let got = c(sql).kind;
        if got != kind {
            failed.push(format!("{sql:?}: expected {kind:?}, got {got:?}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Tables each write or DDL touches.
const TABLES: &[(&str, &[&str])] = &[
    ("INSERT INTO sbtest1 (id, k) VALUES (1, 2)", &["sbtest1"]),
    ("INSERT INTO db.t VALUES (1)", &["db.t"]),
    ("INSERT INTO `db`.`t` VALUES (1)", &["db.t"]),
    ("INSERT INTO `we``ird` VALUES (1)", &["we`ird"]),
    ("INSERT IGNORE t SELECT * FROM u", &["t"]),
    ("INSERT INTO T VALUES (1)", &["T"]),
    ("REPLACE LOW_PRIORITY INTO t VALUES (1)", &["t"]),
    (
        "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = a + 1",
        &["t"],
    ),
    ("UPDATE sbtest1 SET k=k+1 WHERE id=5", &["sbtest1"]),
    (
        "UPDATE LOW_PRIORITY IGNORE db.t AS x SET x.a = 1",
        &["db.t"],
    ),
    (
        "UPDATE t1, t2 SET t1.a = t2.a WHERE t1.id = t2.id",
        &["t1", "t2"],
    ),
    (
        "UPDATE t1 a JOIN db.t2 b ON a.id = b.id LEFT JOIN t3 USING (id) SET a.x = b.y",
        &["t1", "db.t2", "t3"],
    ),
    (
        "UPDATE t1 JOIN (SELECT id FROM t9) d ON d.id = t1.id SET t1.a = 1",
        &["t1"],
    ),
    (
        "UPDATE (t1 JOIN t2 ON t1.id = t2.id) SET t1.a = 1",
        &["t1", "t2"],
    ),
    ("DELETE FROM sbtest1 WHERE id=5", &["sbtest1"]),
    ("DELETE FROM db.t AS x WHERE x.a = 1", &["db.t"]),
    ("DELETE QUICK IGNORE FROM t", &["t"]),
    ("DELETE a FROM t1 AS a JOIN t2 AS b ON a.id = b.id", &["t1"]),
    (
        "DELETE a, b FROM t1 a JOIN db.t2 b ON a.id = b.id WHERE a.x = 1",
        &["t1", "db.t2"],
    ),
    ("DELETE t1.* FROM t1 JOIN t2 ON t1.id = t2.id", &["t1"]),
    (
        "DELETE FROM t1, t2 USING t1 JOIN t2 JOIN t3 WHERE t1.id = t2.id",
        &["t1", "t2"],
    ),
    (
        "DELETE FROM a USING t1 AS a JOIN t2 ON a.id = t2.id",
        &["t1"],
    ),
    (
        "WITH c AS (SELECT id FROM u) UPDATE t JOIN c ON c.id = t.id SET t.a = 1",
        &["t"],
    ),
    (
        "WITH c AS (SELECT id FROM u) DELETE t FROM t JOIN c ON c.id = t.id",
        &["t"],
    ),
    ("LOAD DATA INFILE '/tmp/x' INTO TABLE t", &["t"]),
    (
        "LOAD DATA LOW_PRIORITY LOCAL INFILE 'x' IGNORE INTO TABLE `db`.`t`",
        &["db.t"],
    ),
    (
        "SET STATEMENT max_statement_time=1 FOR INSERT INTO t VALUES (1)",
        &["t"],
    ),
    ("CREATE TABLE db.t (id INT)", &["db.t"]),
    (
        "CREATE TEMPORARY TABLE IF NOT EXISTS `tmp` (id INT)",
        &["tmp"],
    ),
    ("CREATE OR REPLACE TABLE t LIKE u", &["t"]),
    ("ALTER TABLE `db`.`t` ADD COLUMN b INT", &["db.t"]),
    ("ALTER IGNORE TABLE t ADD UNIQUE (a)", &["t"]),
    (
        "DROP TABLE IF EXISTS t1, db.t2, `t3`",
        &["t1", "db.t2", "t3"],
    ),
    (
        "RENAME TABLE a TO b, db.c TO db.d",
        &["a", "b", "db.c", "db.d"],
    ),
    ("TRUNCATE TABLE db.t", &["db.t"]),
    ("CREATE INDEX i ON db.t (a)", &["db.t"]),
    ("DROP INDEX IF EXISTS i ON t", &["t"]),
    ("CREATE VIEW db.v AS SELECT * FROM t", &["db.v"]),
    ("CREATE SEQUENCE s", &["s"]),
    (
        "CREATE TRIGGER tr BEFORE INSERT ON db.t FOR EACH ROW SET NEW.a = 1",
        &["db.t"],
    ),
    ("OPTIMIZE NO_WRITE_TO_BINLOG TABLE t1, t2", &["t1", "t2"]),
    ("ANALYZE TABLE t", &["t"]),
    ("CREATE DATABASE d", &[]),
    ("INSERT INTO t VALUES (1); UPDATE u SET a = 1", &["t", "u"]),
];

#[test]
fn tables() {
    let mut failed = Vec::new();
    for &(sql, want) in TABLES {
        let got = c(sql);
        let want: Vec<TableRef> = want.iter().map(|s| table(s)).collect();
        if got.tables != want || !got.tables_known {
            failed.push(format!(
                "{sql:?}: expected {want:?}, got {:?} (known {})",
                got.tables, got.tables_known
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Session state created and ended.
const PINS: &[(&str, Option<PinReason>, Option<PinReason>)] = &[
    ("LOCK TABLES t READ", Some(PinReason::TableLock), None),
    ("LOCK TABLE t WRITE", Some(PinReason::TableLock), None),
    (
        "FLUSH TABLES WITH READ LOCK",
        Some(PinReason::TableLock),
        None,
    ),
    (
        "FLUSH TABLES t FOR EXPORT",
        Some(PinReason::TableLock),
        None,
    ),
    ("BACKUP LOCK t", Some(PinReason::TableLock), None),
    ("UNLOCK TABLES", None, Some(PinReason::TableLock)),
    ("BACKUP UNLOCK", None, Some(PinReason::TableLock)),
    ("SELECT GET_LOCK('a', 5)", Some(PinReason::NamedLock), None),
    ("DO GET_LOCK('a', 5)", Some(PinReason::NamedLock), None),
    ("SELECT RELEASE_LOCK('a')", None, Some(PinReason::NamedLock)),
    ("DO RELEASE_ALL_LOCKS()", None, Some(PinReason::NamedLock)),
    (
        "CREATE TEMPORARY TABLE tmp (id INT)",
        Some(PinReason::TemporaryTable),
        None,
    ),
    (
        "CREATE TEMPORARY TABLE tmp SELECT * FROM t",
        Some(PinReason::TemporaryTable),
        None,
    ),
    (
        "DROP TEMPORARY TABLE tmp",
        None,
        Some(PinReason::TemporaryTable),
    ),
    ("DROP TABLE t", None, None),
    ("SET @a = 1", Some(PinReason::UserVariable), None),
    ("SET @a := 1", Some(PinReason::UserVariable), None),
    ("SET @`a b` = 1", Some(PinReason::UserVariable), None),
    (
        "SET autocommit = 0, @x = 2",
        Some(PinReason::UserVariable),
        None,
    ),
    ("SELECT @a := 1", Some(PinReason::UserVariable), None),
    (
        "SELECT a INTO @x FROM t LIMIT 1",
        Some(PinReason::UserVariable),
        None,
    ),
    (
        "UPDATE t SET a = (@n := @n + 1)",
        Some(PinReason::UserVariable),
        None,
    ),
    ("CALL p(@out)", Some(PinReason::UserVariable), None),
    ("CALL p(1)", None, None),
    (
        "PREPARE s FROM 'SELECT 1'",
        Some(PinReason::TextPrepare),
        None,
    ),
    ("PREPARE s FROM @sql", Some(PinReason::TextPrepare), None),
    ("DEALLOCATE PREPARE s", None, Some(PinReason::TextPrepare)),
    ("DROP PREPARE s", None, Some(PinReason::TextPrepare)),
    (
        "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 5",
        Some(PinReason::CalcFoundRows),
        None,
    ),
    ("HANDLER t OPEN AS h", Some(PinReason::Cursor), None),
    ("HANDLER h CLOSE", None, Some(PinReason::Cursor)),
    ("XA START 'x'", Some(PinReason::Transaction), None),
    (
        "XA COMMIT 'x' ONE PHASE",
        None,
        Some(PinReason::Transaction),
    ),
    ("SELECT 'GET_LOCK(1)', '@a := 1'", None, None),
    ("SELECT @a", None, None),
    ("SELECT 1 WHERE @a = 1", None, None),
    ("BEGIN", None, None),
    ("SET NAMES utf8mb4", None, None),
    ("SELECT 'unterminated", Some(PinReason::Unparseable), None),
    (
        "FROBNICATE THE DATABASE",
        Some(PinReason::Unparseable),
        None,
    ),
    ("SELECT 1; SET @a = 1", Some(PinReason::UserVariable), None),
];

#[test]
fn pins() {
    let mut failed = Vec::new();
    for &(sql, pins, unpins) in PINS {
        let got = c(sql);
        if got.pins != pins || got.unpins != unpins {
            failed.push(format!(
                "{sql:?}: expected {pins:?}/{unpins:?}, got {:?}/{:?}",
                got.pins, got.unpins
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn sticky() {
    let sticky = [
        "SHOW WARNINGS",
        "SHOW WARNINGS LIMIT 10",
        "show errors",
        "SHOW COUNT(*) WARNINGS",
        "SHOW COUNT(*) ERRORS",
        "SELECT @@warning_count",
        "SELECT @@session.warning_count, @@error_count",
        "SELECT ROW_COUNT()",
        "SELECT FOUND_ROWS()",
        "SELECT ROW_COUNT() FROM t FOR UPDATE",
        "GET DIAGNOSTICS @n = NUMBER",
        "GET DIAGNOSTICS CONDITION 1 @msg = MESSAGE_TEXT",
    ];
    for sql in sticky {
        assert!(c(sql).sticky, "{sql:?} should be sticky");
    }
    let last_write = [
        "SELECT LAST_INSERT_ID()",
        "select last_insert_id() as id",
        "SELECT LAST_INSERT_ID(5)",
        "SELECT @@identity",
        "SELECT @@last_insert_id",
        "SELECT @@session.last_insert_id",
        "INSERT INTO child (parent_id) VALUES (LAST_INSERT_ID())",
        "SET @id = LAST_INSERT_ID()",
        "SELECT 1; SELECT LAST_INSERT_ID()",
    ];
    for sql in last_write {
        let got = c(sql);
        assert!(got.follows_last_write, "{sql:?} reads LAST_INSERT_ID");
        assert!(
            !got.sticky,
            "{sql:?} follows the last write, not the previous statement"
        );
    }
    let not_sticky = [
        "INSERT INTO child (parent_id) VALUES (ROW_COUNT())",
        "INSERT INTO t (v) SELECT FOUND_ROWS()",
        "UPDATE t SET v = @@warning_count",
        "SELECT LAST_INSERT_ID()",
        "SELECT 1",
        "SELECT 'ROW_COUNT()'",
        "SELECT row_count FROM stats",
        "SHOW VARIABLES LIKE 'warning_count'",
        "SELECT @warning_count",
    ];
    for sql in not_sticky {
        assert!(!c(sql).sticky, "{sql:?} should not be sticky");
    }
    assert_eq!(c("SELECT LAST_INSERT_ID()").kind, Read);
    assert_eq!(c("SHOW WARNINGS").kind, Read);
    assert!(!c("SELECT 'LAST_INSERT_ID()', last_insert_id FROM t").follows_last_write);
}

#[test]
fn fast_path_or_parser() {
    let fast = [
        "SELECT c FROM sbtest1 WHERE id=1",
        "UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = 1",
        "LOAD DATA LOCAL INFILE 'x' INTO TABLE t",
        "XA START 'x'",
        "PREPARE s FROM 'SELECT 1'",
        "LOCK TABLE t WRITE",
        "SELECT * FROM t LOCK IN SHARE MODE",
        "SET STATEMENT max_statement_time=1 FOR SELECT 1",
        "SET @a := 1",
        "BEGIN NOT ATOMIC SELECT 1; END",
        "CREATE TABLE t (a INT)",
    ];
    for sql in fast {
        assert!(c(sql).fast_path, "{sql:?} should stay on the fast path");
    }
    // The scanner cannot name an ANSI-quoted table; sqlparser can.
    let ansi = c("UPDATE \"t\" SET a = 1");
    assert_eq!(ansi.kind, Write);
    assert!(!ansi.fast_path);
    // Unknown leading keywords go to sqlparser; what it rejects is Unparseable.
    let unknown = c("FROBNICATE THE DATABASE");
    assert_eq!(unknown.kind, Other);
    assert_eq!(unknown.pins, Some(PinReason::Unparseable));
    assert!(!unknown.fast_path);
}

#[test]
fn calls_and_unknown_shapes_leave_tables_unknown() {
    assert!(!c("CALL p()").tables_known);
    assert!(c("INSERT INTO t VALUES (1)").tables_known);
}

#[test]
fn comment_hints() {
    let cases = [
        (
            "/* myquorum:consistency=STRONG */ SELECT 1",
            Some(Consistency::Strong),
        ),
        (
            "/*myquorum:consistency=causal*/SELECT 1",
            Some(Consistency::Causal),
        ),
        (
            "/* app=x */ /* MyQuorum:Consistency = Eventual */ SELECT 1",
            Some(Consistency::Eventual),
        ),
        (
            "/* traceparent='00-1' myquorum:consistency='STRONG' */ UPDATE t SET a = 1",
            Some(Consistency::Strong),
        ),
        (
            "-- myquorum:consistency=STRONG\nSELECT 1",
            Some(Consistency::Strong),
        ),
        (
            "# myquorum:consistency=CAUSAL\nSELECT 1",
            Some(Consistency::Causal),
        ),
        ("SELECT /* myquorum:consistency=STRONG */ 1", None),
        ("/* myquorum:consistency=BOGUS */ SELECT 1", None),
        ("SELECT 'myquorum:consistency=STRONG'", None),
        ("/*! myquorum:consistency=STRONG */ SELECT 1", None),
    ];
    for (sql, hint) in cases {
        assert_eq!(c(sql).hint, hint, "{sql:?}");
    }
    let hinted = c("/* myquorum:consistency=STRONG */ SELECT c FROM sbtest1 WHERE id = 1");
    assert_eq!(hinted.kind, Read);
    assert!(hinted.fast_path);
}

fn set_consistency(sql: &str) -> SetConsistency {
    let got = c(sql);
    assert_eq!(got.kind, SessionSet, "{sql:?}");
    got.set_consistency
        .unwrap_or_else(|| panic!("{sql:?} should set myquorum_consistency"))
}

#[test]
fn set_consistency_forms() {
    let forms = [
        ("SET myquorum_consistency = 'STRONG'", Consistency::Strong),
        (
            "SET SESSION myquorum_consistency = 'causal'",
            Consistency::Causal,
        ),
        (
            "SET LOCAL myquorum_consistency = \"Eventual\"",
            Consistency::Eventual,
        ),
        (
            "SET @@session.myquorum_consistency = STRONG",
            Consistency::Strong,
        ),
        ("SET @@myquorum_consistency=STRONG", Consistency::Strong),
        (
            "set @@local.MYQUORUM_CONSISTENCY = 'strong';",
            Consistency::Strong,
        ),
        ("SET `myquorum_consistency` = 'STRONG'", Consistency::Strong),
        (
            "/* x */ SET myquorum_consistency := 'CAUSAL'",
            Consistency::Causal,
        ),
    ];
    for (sql, level) in forms {
        let s = set_consistency(sql);
        assert_eq!(s.value, Ok(Some(level)), "{sql:?}");
        assert_eq!(s.remainder, None, "{sql:?}");
    }
    assert_eq!(
        set_consistency("SET myquorum_consistency = DEFAULT").value,
        Ok(None)
    );
}

#[test]
fn set_consistency_invalid_values() {
    let bad = [
        ("SET myquorum_consistency = 'QUORUM'", "QUORUM"),
        ("SET myquorum_consistency = 1", "1"),
        ("SET myquorum_consistency = ''", ""),
        (
            "SET myquorum_consistency = CONCAT('STR', 'ONG')",
            "CONCAT('STR', 'ONG')",
        ),
    ];
    for (sql, value) in bad {
        assert_eq!(
            set_consistency(sql).value,
            Err(SetConsistencyError::BadValue(value.to_owned())),
            "{sql:?}"
        );
    }
    let global = c("SET GLOBAL myquorum_consistency = 'STRONG'");
    assert_eq!(
        global.set_consistency.unwrap().value,
        Err(SetConsistencyError::GlobalScope)
    );
    let global = c("SET @@global.myquorum_consistency = 'STRONG'");
    assert_eq!(
        global.set_consistency.unwrap().value,
        Err(SetConsistencyError::GlobalScope)
    );
}

#[test]
fn set_consistency_among_other_assignments() {
    let cases = [
        (
            "SET autocommit=1, myquorum_consistency='STRONG'",
            "SET autocommit=1",
        ),
        (
            "SET myquorum_consistency='STRONG', autocommit=1",
            "SET autocommit=1",
        ),
        (
            "SET SESSION myquorum_consistency='STRONG', sql_mode='', @a = 1;",
            "SET sql_mode='', @a = 1;",
        ),
        (
            "/* c */ SET NAMES_X=1,@@session.myquorum_consistency=CAUSAL,  wait_timeout = 60",
            "/* c */ SET NAMES_X=1, wait_timeout = 60",
        ),
        (
            "SET sql_mode = CONCAT(@@sql_mode, ',X'), myquorum_consistency = 'EVENTUAL'",
            "SET sql_mode = CONCAT(@@sql_mode, ',X')",
        ),
    ];
    for (sql, rest) in cases {
        let s = set_consistency(sql);
        assert!(s.value.as_ref().is_ok_and(Option::is_some), "{sql:?}");
        assert_eq!(
            s.remainder.as_deref().map(String::from_utf8_lossy),
            Some(rest.into()),
            "{sql:?}"
        );
    }
    let mixed = c("SET @a = 1, myquorum_consistency = 'STRONG'");
    assert_eq!(mixed.pins, Some(PinReason::UserVariable));
    assert!(c("SET autocommit = 1").set_consistency.is_none());
}

#[test]
fn set_statement_strips_the_proxy_variable() {
    let only = c("SET STATEMENT myquorum_consistency='STRONG' FOR SELECT c FROM t WHERE id = 1");
    assert_eq!(only.kind, Read);
    assert_eq!(only.hint, Some(Consistency::Strong));
    let s = only.set_statement.unwrap();
    assert!(!s.other_vars);
    assert_eq!(s.rewritten, b"SELECT c FROM t WHERE id = 1");

    let others = c(
        "/* c */ SET STATEMENT max_statement_time=5, myquorum_consistency=causal, \
         sql_mode='' FOR UPDATE t SET a = 1",
    );
    assert_eq!(others.kind, Write);
    assert_eq!(others.tables, vec![table("t")]);
    assert_eq!(others.hint, Some(Consistency::Causal));
    let s = others.set_statement.unwrap();
    assert!(s.other_vars);
    assert_eq!(
        String::from_utf8_lossy(&s.rewritten),
        "/* c */ SET STATEMENT max_statement_time=5, sql_mode='' FOR UPDATE t SET a = 1"
    );

    let comment_and_statement =
        c("/* myquorum:consistency=EVENTUAL */ SET STATEMENT myquorum_consistency='STRONG' FOR SELECT 1");
    assert_eq!(comment_and_statement.hint, Some(Consistency::Strong));
    assert_eq!(
        comment_and_statement.set_statement.unwrap().rewritten,
        b"/* myquorum:consistency=EVENTUAL */ SELECT 1"
    );

    let bad = c("SET STATEMENT myquorum_consistency='NOPE' FOR SELECT 1");
    assert_eq!(bad.hint, None);
    assert_eq!(
        bad.set_statement.unwrap().value,
        Err(SetConsistencyError::BadValue("NOPE".into()))
    );

    let plain = c("SET STATEMENT max_statement_time=1 FOR SELECT * FROM t FOR UPDATE");
    assert_eq!(plain.kind, PrimaryRead);
    assert!(plain.set_statement.is_none());
}

/// Classifies `sql` and reports a panic as a failure naming the text.
fn no_panic(sql: &[u8]) -> Classified {
    std::panic::catch_unwind(|| classify(sql))
        .unwrap_or_else(|_| panic!("classify panicked on {:?}", String::from_utf8_lossy(sql)))
}

/// Issue 15: an empty item in a `SET STATEMENT` list (`..., FOR`) sliced the text with its
/// start past its end and panicked the session task (the client saw 2013). Malformed lists
/// and their siblings now classify; a malformed `SET STATEMENT` is not intercepted and goes
/// to the primary as is, so the server answers its own syntax error.
#[test]
fn malformed_set_forms_do_not_panic() {
    let malformed = [
        "SET STATEMENT myquorum_consistency='STRONG', FOR SELECT 1",
        "SET STATEMENT myquorum_consistency='STRONG',, max_statement_time=1 FOR SELECT 1",
        "SET STATEMENT , myquorum_consistency='STRONG' FOR SELECT 1",
        "SET STATEMENT max_statement_time=1, FOR SELECT 1",
        "SET STATEMENT FOR SELECT 1",
        "SET STATEMENT FOR",
    ];
    for sql in malformed {
        let got = no_panic(sql.as_bytes());
        assert_eq!(got.kind, Other, "{sql}");
        assert_eq!(got.pins, Some(PinReason::Unparseable), "{sql}");
        assert!(got.set_statement.is_none() && got.hint.is_none(), "{sql}");
    }
    let siblings = [
        "SET STATEMENT myquorum_consistency= FOR SELECT 1",
        "SET STATEMENT myquorum_consistency := FOR SELECT 1",
        "SET STATEMENT myquorum_consistency : FOR SELECT 1",
        "SET STATEMENT myquorum_consistency FOR SELECT 1",
        "SET STATEMENT myquorum_consistency='STRONG' FOR",
        "SET STATEMENT myquorum_consistency='STRONG' FOR ;",
        "SET STATEMENT myquorum_consistency='STRONG",
        "SET STATEMENT myquorum_consistency='STRONG\\' FOR SELECT 1",
        "SET STATEMENT myquorum_consistency=",
        "SET STATEMENT",
        "SET STATEMENT (",
        "SET STATEMENT ) FOR (",
        "SET myquorum_consistency='STRONG',",
        "SET myquorum_consistency=, x=1",
        "SET myquorum_consistency :",
        "SET , myquorum_consistency='STRONG'",
        "SET myquorum_consistency",
        "SET GLOBAL",
        "SET SESSION",
        "SET @@",
        "SET @",
        "SET",
        ",",
        ")",
        "SELECT )",
        "WITH x (",
        "WITH x (a) AS (",
        "UPDATE t1 JOIN t2 ) SET a = 1",
        "DELETE a FROM ) t",
        "SELECT `",
        "SELECT @`",
        "/*",
        "/*!",
        "/*M!",
        "--",
        "#",
    ];
    for sql in siblings {
        no_panic(sql.as_bytes());
    }
    let empty = no_panic(b"SET STATEMENT myquorum_consistency= FOR SELECT 1");
    assert_eq!(
        empty.set_statement.map(|s| s.value),
        Some(Err(SetConsistencyError::BadValue(String::new())))
    );
}

/// `SELECT a(a(...(1)...))`, `depth` calls deep, and its number of tokens.
fn nested_calls(depth: usize) -> (String, u64) {
    let sql = format!("SELECT {}1{}", "a(".repeat(depth), ")".repeat(depth));
    (sql, 3 * depth as u64 + 2)
}

/// Issue 15: `SELECT a(a(a(...)))` 20,000 deep took 0.65 s, 2,000 deep 0.01 s: every unknown
/// call matched its `(` with its `)` to rule out a CTE column list, a scan to the end of the
/// text per call. Counted, not timed: one lexer pass, no sqlparser, and look-ahead work of at
/// most two tokens per token, so ten times the depth is (at most) ten times the work.
#[test]
fn classification_is_linear_in_the_length() {
    let (small, small_tokens) = nested_calls(2_000);
    let (big, big_tokens) = nested_calls(20_000);
    work::take();
    let small_answer = c(&small);
    let small_work = work::take();
    let big_answer = c(&big);
    let big_work = work::take();
    assert_eq!(big_answer.kind, PrimaryRead, "a() is not a built-in");
    assert_eq!(small_answer, big_answer);
    assert_eq!((big_work.lex_passes, big_work.parser_calls), (1, 0));
    assert!(small_work.lookahead <= 2 * small_tokens, "{small_work:?}");
    assert!(big_work.lookahead <= 2 * big_tokens, "{big_work:?}");
    assert!(big_work.lookahead <= 10 * small_work.lookahead + 10);

    let ctes = format!(
        "WITH {} SELECT 1",
        (0..1_000)
            .map(|i| format!("c{i} (x, y) AS (SELECT 1, 2)"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    work::take();
    assert_eq!(c(&ctes).kind, Read, "CTE column lists are not calls");
    let cte_work = work::take();
    assert!(cte_work.lookahead <= 2 * 14 * 1_000, "{cte_work:?}");

    let tables = (0..20_000).map(|i| format!("t{i}")).collect::<Vec<_>>();
    let update = c(&format!("UPDATE {} SET a = 1", tables.join(", ")));
    assert_eq!(
        update.tables.len(),
        20_000,
        "many tables, deduplicated in linear time"
    );
    let delete = c(&format!(
        "DELETE {} FROM {}",
        tables.join(", "),
        tables.join(", ")
    ));
    assert_eq!(delete.tables.len(), 20_000);
}

/// Text over [`parser::MAX_PARSED_LEN`] (64 KiB) is never handed to sqlparser and runs on
/// the primary: a 1 MB INSERT is still a write of its table, a long write whose tables only
/// sqlparser could name keeps them unknown, and a long read is a PrimaryRead.
#[test]
fn statements_over_the_size_bound_skip_sqlparser() {
    let values = vec!["(1, 'abcdefghij')"; 70_000].join(",");
    let insert = format!("INSERT INTO t VALUES {values}");
    assert!(insert.len() > 1_000_000);
    work::take();
    let got = c(&insert);
    assert_eq!((got.kind, got.tables.clone()), (Write, vec![table("t")]));
    assert_eq!(work::take().parser_calls, 0);

    let small = c("UPDATE \"t\" SET a = 1 WHERE b IN (1, 2)");
    assert_eq!(work::take().parser_calls, 1, "a shape only sqlparser reads");
    assert_eq!(small.tables, vec![table("t")]);
    let ids = vec!["1"; 40_000].join(",");
    let long = format!("UPDATE \"t\" SET a = 1 WHERE b IN ({ids})");
    assert!(long.len() > parser::MAX_PARSED_LEN);
    let got = c(&long);
    assert_eq!(work::take().parser_calls, 0);
    assert_eq!(got.kind, Write);
    assert!(!got.tables_known && got.tables.is_empty());

    let read = c(&format!("SELECT c FROM t WHERE id IN ({ids})"));
    assert_eq!(read.kind, PrimaryRead);
    assert_eq!(
        c(&format!("SELECT c FROM t WHERE id IN ({})", "1")).kind,
        Read
    );
    let unknown = c(&format!("FROBNICATE {ids}"));
    assert_eq!(work::take().parser_calls, 0);
    assert_eq!(unknown.pins, Some(PinReason::Unparseable));
    let sticky = c(&format!("SELECT ROW_COUNT() FROM t WHERE id IN ({ids})"));
    assert!(!sticky.sticky && sticky.kind == PrimaryRead);
    let deep = nested_calls(20_000).0;
    assert!(
        deep.len() < parser::MAX_PARSED_LEN,
        "the nesting test stays under the bound"
    );
}

/// Statement prefixes (`ANALYZE`, `EXPLAIN ANALYZE`, `SET STATEMENT ... FOR`) are classified
/// by recursion, which client text could drive until the stack overflowed (an abort of the
/// whole proxy): beyond a few levels, which MariaDB rejects anyway, the text is unparseable.
#[test]
fn nested_statement_prefixes_are_bounded() {
    for prefix in ["ANALYZE ", "EXPLAIN ANALYZE ", "SET STATEMENT a=1 FOR "] {
        let sql = format!("{}SELECT 1", prefix.repeat(100_000));
        let got = no_panic(sql.as_bytes());
        assert_eq!(got.kind, Other, "{prefix}");
        assert_eq!(got.pins, Some(PinReason::Unparseable), "{prefix}");
    }
    let real =
        c("SET STATEMENT max_statement_time=1 FOR EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE");
    assert_eq!(real.kind, PrimaryRead);
    assert_eq!(c("ANALYZE FORMAT=JSON UPDATE t SET a = 1").kind, Write);
}

#[test]
fn reads_consistency() {
    for sql in [
        "SELECT @@myquorum_consistency",
        "select @@session.myquorum_consistency",
        "SELECT @@local.MYQUORUM_CONSISTENCY AS level",
        "SELECT @@myquorum_consistency;",
    ] {
        assert!(c(sql).reads_consistency, "{sql:?}");
    }
    for sql in [
        "SELECT @@global.myquorum_consistency",
        "SELECT @@myquorum_consistency, @@version",
        "SELECT 1",
        "SELECT '@@myquorum_consistency'",
    ] {
        assert!(!c(sql).reads_consistency, "{sql:?}");
    }
}

#[test]
fn multi_statements() {
    for sql in [
        "SELECT 1; SELECT 2",
        "SELECT 1;SELECT 2;",
        "BEGIN; UPDATE t SET a = 1; COMMIT",
        "SET NAMES utf8; SELECT 1",
    ] {
        assert!(c(sql).multi_statement, "{sql:?}");
    }
    for sql in [
        "SELECT 1;",
        "SELECT 1 ; ",
        "SELECT ';'",
        "SELECT 1; -- trailing comment",
        "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END",
        "CREATE DEFINER=`u`@`%` TRIGGER tr AFTER INSERT ON t FOR EACH ROW BEGIN UPDATE u SET n = n + 1; END",
        "BEGIN NOT ATOMIC DECLARE x INT; SET x = 1; END",
        "SELECT (SELECT 1)",
    ] {
        assert!(!c(sql).multi_statement, "{sql:?}");
    }
}

fn kill(query_only: bool, target: u32) -> Option<Kill> {
    Some(Kill { query_only, target })
}

/// A KILL of a numeric id, in every form the proxy maps (the cases of the former
/// `frontend::kill::parse` and of the leading-token scanner it used).
#[test]
fn kill_of_a_proxy_connection_id() {
    for (sql, want) in [
        ("KILL 7", kill(false, 7)),
        ("kill query 7;", kill(true, 7)),
        ("KILL HARD CONNECTION 9", kill(false, 9)),
        ("/* x */ KILL SOFT QUERY 3", kill(true, 3)),
        ("  /* c */ -- x\n kill 5", kill(false, 5)),
        ("  /* hint */ -- x\n # y\n kill query 42;", kill(true, 42)),
        ("KILL 5 ;", kill(false, 5)),
        ("KILL 5; SELECT 1", kill(false, 5)),
        ("KILL 4294967295", kill(false, u32::MAX)),
        ("KILL USER app", None),
        ("KILL QUERY ID 5", None),
        ("KILL 5 6", None),
        ("KILL 5 AND", None),
        ("KILL HARD SOFT 5", None),
        ("KILL 5.0", None),
        ("KILL 5abc", None),
        ("KILL 4294967296", None),
        ("KILL 99999999999999999999999", None),
        ("KILL `5`", None),
        ("KILL", None),
        ("KILLS 5", None),
        ("SELECT 1", None),
        ("SET STATEMENT myquorum_consistency=STRONG FOR KILL 5", None),
    ] {
        assert_eq!(c(sql).kill, want, "{sql:?}");
    }
    assert_eq!(c("KILL 5").kind, Other);
}

/// Which statements are session settings to record and replay (the cases of the former
/// `frontend::history::is_session_setting` and of the first-word check it used).
#[test]
fn session_settings() {
    for yes in [
        "SET NAMES utf8mb4",
        "set autocommit=0",
        "set x=1",
        "SET SESSION sql_mode='ANSI'",
        "SET LOCAL sql_mode='ANSI'",
        "SET @@session.time_zone='+00:00'",
        "set @@session.x=1",
        "SET @@sql_mode=''",
        "SET CHARACTER SET latin1",
        "SET NAMES 'utf8'",
        "SET ROLE r",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "/* orm */ SET time_zone = '+00:00'",
        "SET sql_mode = ''; ",
    ] {
        assert!(c(yes).session_setting, "{yes}");
    }
    for no in [
        "SET GLOBAL read_only=1",
        "SET @@global.x=1",
        "SET @@GLOBAL.x=1",
        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET STATEMENT max_statement_time=1 FOR SELECT 1",
        "SET @a = 1",
        "SET PASSWORD = PASSWORD('x')",
        "SET DEFAULT ROLE r FOR u",
        "SET `sql_mode` = ''",
        "SET",
        "SETTINGS x",
        "SELECT 1",
        "",
        "/* unterminated",
        "SET a = 1; SET b = 2",
    ] {
        assert!(!c(no).session_setting, "{no}");
    }
}

/// For `SET STATEMENT myquorum_consistency = X FOR <stmt>` the proxy sends `<stmt>` alone, so
/// `session_setting` describes `<stmt>`; with other variables left it is one statement's SET.
#[test]
fn session_setting_describes_the_text_sent() {
    let alone = c("SET STATEMENT myquorum_consistency=STRONG FOR SET NAMES utf8");
    assert!(alone.session_setting);
    for no in [
        "SET STATEMENT myquorum_consistency=STRONG, sql_mode='' FOR SET NAMES utf8",
        "SET STATEMENT myquorum_consistency=STRONG FOR SELECT 1",
        "SET STATEMENT myquorum_consistency=STRONG FOR SET GLOBAL x = 1",
    ] {
        assert!(!c(no).session_setting, "{no}");
    }
    // The remainder of a SET that also assigned myquorum_consistency is classified again.
    let set = c("SET myquorum_consistency = STRONG, time_zone = '+00:00'");
    let rest = set.set_consistency.and_then(|s| s.remainder).unwrap();
    assert!(classify(&rest).session_setting);
}

fn count(column: &str) -> Option<WarningsQuery> {
    Some(WarningsQuery::WarningCount {
        column: column.to_owned(),
    })
}

/// The warnings queries the proxy answers itself, and the column it names (the cases of the
/// former `is_show_warnings` and `warning_count_column` of the COM_QUERY handler, `frontend/query.rs`).
#[test]
fn warnings_queries() {
    for (sql, want) in [
        ("SHOW WARNINGS", Some(WarningsQuery::ShowWarnings)),
        ("show warnings limit 1", Some(WarningsQuery::ShowWarnings)),
        ("/* c */ SHOW WARNINGS;", Some(WarningsQuery::ShowWarnings)),
        ("SHOW ERRORS", None),
        ("SHOW FULL WARNINGS", None),
        ("SELECT @@warning_count", count("@@warning_count")),
        ("  select @@WARNING_COUNT ;", count("@@WARNING_COUNT")),
        (
            "SELECT @@session.warning_count",
            count("@@session.warning_count"),
        ),
        (
            "SeLeCt\n@@Session.Warning_Count;\n",
            count("@@Session.Warning_Count"),
        ),
        ("SHOW COUNT(*) WARNINGS", count("@@session.warning_count")),
        (
            "show count ( * ) warnings;",
            count("@@session.warning_count"),
        ),
        ("SELECT @@warning_count, 1", None),
        ("SELECT @@warning_count AS w", None),
        ("SELECT @@warning_countx", None),
        ("SELECT @@global.warning_count", None),
        ("SELECT @@local.warning_count", None),
        ("SELECT @@error_count", None),
        ("SELECT @warning_count", None),
        ("SELECT @@warning_count; SELECT 1", None),
        ("SELECT /* c */ @@warning_count", None),
        ("/* c */ SELECT @@warning_count", None),
        ("SELECT @@warning_count -- c", None),
        ("SHOW COUNT(*) ERRORS", None),
        ("SELECTX @@warning_count", None),
        ("SELECT 1", None),
        ("INSERT INTO t VALUES (1)", None),
    ] {
        assert_eq!(c(sql).warnings, want, "{sql:?}");
    }
}

#[test]
fn non_utf8_text_is_scanned_as_bytes() {
    let sql = b"SELECT * FROM t WHERE name = '\xff\xfe' FOR UPDATE";
    assert_eq!(classify(sql).kind, PrimaryRead);
    let set = b"SET sql_mode = '\xff', myquorum_consistency = 'STRONG'";
    let got = classify(set).set_consistency.unwrap();
    assert_eq!(got.remainder.unwrap(), b"SET sql_mode = '\xff'".to_vec());
}

#[test]
fn consistency_parses_and_prints() {
    assert_eq!("eventual".parse(), Ok(Consistency::Eventual));
    assert_eq!("STRONG".parse(), Ok(Consistency::Strong));
    assert_eq!("Causal".parse(), Ok(Consistency::Causal));
    let err = "quorum".parse::<Consistency>().unwrap_err();
    assert_eq!(err.value, "quorum");
    assert!(err.to_string().contains("'quorum'"));
    assert_eq!(Consistency::Strong.to_string(), "STRONG");
    assert_eq!(
        serde_json::to_string(&Consistency::Causal).unwrap(),
        "\"CAUSAL\""
    );
    assert_eq!(
        serde_json::from_str::<Consistency>("\"EVENTUAL\"").unwrap(),
        Consistency::Eventual
    );
}

#[test]
fn pin_reasons_have_stable_names() {
    let names: Vec<&str> = PinReason::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(
        names,
        [
            "table_lock",
            "named_lock",
            "temporary_table",
            "user_variable",
            "text_prepare",
            "calc_found_rows",
            "unparseable",
            "transaction",
            "cursor",
            "long_data",
            "auto_is_null",
            "statement_cursor"
        ]
    );
}

#[test]
fn builtins_are_sorted_lower_case() {
    assert!(BUILTINS.windows(2).all(|w| w[0] < w[1]));
    assert!(BUILTINS
        .iter()
        .all(|f| f.bytes().all(|b| !b.is_ascii_uppercase())));
}

#[test]
fn cache_returns_the_same_answer() {
    let classifier = Classifier::new(1024);
    let sql = b"UPDATE \"t1\" SET a = 1";
    let first = classifier.classify(sql);
    let second = classifier.classify(sql);
    assert!(std::sync::Arc::ptr_eq(&first, &second));
    assert_eq!(*first, classify(sql));
    // Fast-path answers are recomputed, not stored.
    let fast = b"UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = 1";
    assert_eq!(*classifier.classify(fast), classify(fast));
    assert_eq!(classifier.len(), 1);
}

#[test]
fn cache_is_bounded_by_entries_and_length() {
    let classifier = Classifier::with_limits(64, 100);
    for i in 0..10_000 {
        classifier.classify(format!("UPDATE \"t{i}\" SET a = 1").as_bytes());
        assert!(classifier.len() <= 64);
    }
    assert!(classifier.len() >= 16);
    let long = format!("UPDATE \"t\" SET a = '{}'", "x".repeat(200));
    let empty = Classifier::with_limits(64, 100);
    assert_eq!(empty.classify(long.as_bytes()).tables, vec![table("t")]);
    assert!(empty.is_empty());
    let disabled = Classifier::new(0);
    disabled.classify(b"SELECT 1");
    assert!(disabled.is_empty());
}

#[test]
fn cache_keeps_recently_used_entries() {
    let classifier = Classifier::with_limits(16 * 2 * 8, 4096);
    let hot = b"UPDATE \"sbtest1\" SET k = k + 1 WHERE id = 1";
    let first = classifier.classify(hot);
    for i in 0..5_000 {
        classifier.classify(format!("DELETE FROM \"t\" WHERE id = {i}").as_bytes());
        if i % 4 == 0 {
            classifier.classify(hot);
        }
    }
    assert!(std::sync::Arc::ptr_eq(&first, &classifier.classify(hot)));
}

#[test]
fn cache_is_shared_between_threads() {
    let classifier = std::sync::Arc::new(Classifier::new(4096));
    let handles: Vec<_> = (0..8)
        .map(|n| {
            let classifier = std::sync::Arc::clone(&classifier);
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    let sql = format!("UPDATE \"t{}\" SET a = 1 WHERE id = {}", n, i % 50);
                    assert_eq!(classifier.classify(sql.as_bytes()).kind, Write);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(classifier.len() <= 4096);
}

/// Timings, printed and never asserted: `cargo test -p myquorum-proxy --release --lib
/// classify::tests::bench -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench() {
    use std::hint::black_box;
    use std::time::Instant;
    /// Best of 20 batches: the machine is shared, and the minimum is the figure least
    /// disturbed by preemption.
    fn time(label: &str, n: u32, mut f: impl FnMut()) {
        let batch = (n / 20).max(1);
        let mut best = f64::MAX;
        for _ in 0..20 {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            best = best.min(start.elapsed().as_nanos() as f64 / f64::from(batch));
        }
        println!("{label:<48} {best:>10.1} ns");
    }
    let point = b"SELECT c FROM sbtest1 WHERE id=5012";
    let update = b"UPDATE sbtest1 SET k=k+1 WHERE id=5012";
    let insert = b"INSERT INTO sbtest1 (id, k, c, pad) VALUES (5012, 4998, '83868641912-28773972837-60736120486-75162659906-27563526494-20381887404-41576422241-93426793964-56405065102-33518432330', '67847967377-48000963322-62604785301-91415491898-96926520291')";
    let multi = b"UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = 1";
    let parsed = b"UPDATE \"t\" SET a = 1";
    let n = 200_000;
    let mut tokens = Vec::new();
    time("lexer only: point select", n, || {
        black_box(super::lexer::lex(
            black_box(point),
            &mut tokens,
            super::lexer::Escapes::DEFAULT,
        ));
    });
    time("lexer only: sysbench INSERT (200 B)", n, || {
        black_box(super::lexer::lex(
            black_box(insert),
            &mut tokens,
            super::lexer::Escapes::DEFAULT,
        ));
    });
    time("fast path: point select", n, || {
        black_box(classify(black_box(point)));
    });
    time("fast path: UPDATE sbtest1 SET k=k+1", n, || {
        black_box(classify(black_box(update)));
    });
    time("fast path: sysbench INSERT (200 B)", n, || {
        black_box(classify(black_box(insert)));
    });
    time("fast path: BEGIN", n, || {
        black_box(classify(black_box(b"BEGIN")));
    });
    time("fast path: SET autocommit=0", n, || {
        black_box(classify(black_box(b"SET autocommit=0")));
    });
    time("fast path: multi-table UPDATE", n, || {
        black_box(classify(black_box(multi)));
    });
    time("sqlparser: UPDATE \"t\" (fallback)", n / 10, || {
        black_box(classify(black_box(parsed)));
    });
    let cached = Classifier::new(10_000);
    time("cache probe + fast path: point select", n, || {
        black_box(cached.classify(black_box(point)));
    });
    time("cache hit: sqlparser fallback", n, || {
        black_box(cached.classify(black_box(parsed)));
    });
    let mut i = 0u64;
    let texts: Vec<String> = (0..n)
        .map(|k| format!("SELECT c FROM sbtest1 WHERE id={k}"))
        .collect();
    time("cache probe + fast path: distinct point selects", n, || {
        black_box(cached.classify(black_box(texts[i as usize % texts.len()].as_bytes())));
        i += 1;
    });
    let big = format!(
        "INSERT INTO t VALUES {}",
        vec!["(1, 'abcdefghij')"; 6000].join(",")
    );
    time(
        &format!("fast path: {} KB INSERT", big.len() / 1024),
        200,
        || {
            black_box(classify(black_box(big.as_bytes())));
        },
    );
    for depth in [2_000, 20_000] {
        let nested = format!("SELECT {}1{}", "a(".repeat(depth), ")".repeat(depth));
        time(&format!("nested a(a(...)) {depth} deep"), 20, || {
            black_box(classify(black_box(nested.as_bytes())));
        });
    }
}

/// `SET STATEMENT session_track_system_variables=... FOR <stmt>` is flagged (the proxy then
/// reads the write's position itself: the OK may not carry `last_gtid`), in any spelling,
/// alone or with other variables; other SET STATEMENT lists are not.
#[test]
fn set_statement_of_the_tracked_variables_is_flagged() {
    for sql in [
        "SET STATEMENT session_track_system_variables='' FOR INSERT INTO t VALUES (1)",
        "set statement max_statement_time=10, SESSION_TRACK_SYSTEM_VARIABLES = 'autocommit' for update t set a = 1",
        "SET STATEMENT `session_track_system_variables`=DEFAULT FOR DELETE FROM t",
        "SET STATEMENT session_track_system_variables='', myquorum_consistency=STRONG FOR INSERT INTO t VALUES (1)",
    ] {
        let got = c(sql);
        assert!(got.sets_tracking, "{sql}");
        assert_ne!(got.kind, Read, "{sql}");
    }
    for sql in [
        "SET STATEMENT max_statement_time=10 FOR INSERT INTO t VALUES (1)",
        "INSERT INTO t VALUES ('session_track_system_variables')",
        "SET session_track_system_variables=''",
    ] {
        assert!(!c(sql).sets_tracking, "{sql}");
    }
}

/// `SHOW [FULL] PROCESSLIST` alone (a trailing `;` allowed) is answered by the proxy; other
/// shapes go to the server.
#[test]
fn show_processlist_is_intercepted_in_its_exact_shapes() {
    for (sql, full) in [
        ("SHOW PROCESSLIST", false),
        ("show full processlist;", true),
        ("/* c */ SHOW FULL PROCESSLIST ;", true),
    ] {
        assert_eq!(c(sql).processlist, Some(full), "{sql}");
    }
    for sql in [
        "SHOW PROCESSLIST; SELECT 1",
        "SHOW FULL PROCESSLIST x",
        "SELECT * FROM information_schema.PROCESSLIST",
        "SHOW STATUS",
    ] {
        assert_eq!(c(sql).processlist, None, "{sql}");
    }
}

/// `SET sql_auto_is_null = 1` pins the session (an `IS NULL` on an auto-increment column then
/// reads the connection's LAST_INSERT_ID); switching it off (0, OFF, DEFAULT) unpins; a
/// global SET does neither.
#[test]
fn sql_auto_is_null_pins_the_session() {
    for sql in [
        "SET sql_auto_is_null = 1",
        "set @@session.sql_auto_is_null=ON",
        "SET SESSION SQL_AUTO_IS_NULL = 1, autocommit = 1",
    ] {
        assert_eq!(c(sql).pins, Some(PinReason::AutoIsNull), "{sql}");
    }
    for sql in [
        "SET sql_auto_is_null = 0",
        "set @@session.sql_auto_is_null=default",
        "SET sql_auto_is_null = OFF",
    ] {
        let got = c(sql);
        assert_eq!(
            (got.pins, got.unpins),
            (None, Some(PinReason::AutoIsNull)),
            "{sql}"
        );
    }
    let global = c("SET GLOBAL sql_auto_is_null = 1");
    assert_eq!((global.pins, global.unpins), (None, None));
}
