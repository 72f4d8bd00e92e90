#!/usr/bin/env python3
"""Client-visible compatibility probes for myquorum.

Runs the same list of probes against two MySQL-protocol endpoints (MariaDB's primary directly,
and the myquorum proxy in front of it) with PyMySQL and mysql-connector-python, records what the
*client* sees as one JSON document per endpoint, and compares them.

    compat_probe.py --direct 127.0.0.1:3401 --proxy 127.0.0.1:6033 --database compat_py \
        [--user app --password app] [--out-dir DIR]

`--compress` makes every mysql-connector-python connection use the compressed protocol
(`compress=True`); PyMySQL has no compression. Combine it with `--probe` to run the connector
probes only.

Exit status: 0 when the two documents are equal after normalisation, 1 with a unified diff on
stdout when they differ, 2 on a usage or setup error. `--only NAME` runs a single endpoint and
prints its JSON document (for debugging).

Both endpoints must reach the same MariaDB primary: the tables of tests/sql/compat_types.sql are
created once (through --direct), and every probe that writes recreates its own table first, so
both runs see the same auto-increment values and row counts.

Everything that legitimately differs between MariaDB and the proxy is normalised in ONE place,
`normalise()` below; nothing else is allowed to differ.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import sys
import tempfile
import traceback

import mysql.connector
import pymysql
import pymysql.err
from pymysql.constants import CLIENT

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES_SQL = os.path.join(HERE, "..", "sql", "compat_types.sql")

MB = 1024 * 1024

# Capability bits the proxy deliberately does not offer (DESIGN.md section 1, "Capabilities"):
# CLIENT_SSL (0x800) until its issue lands (CLIENT_COMPRESS is offered, as the server does).
# PyMySQL exposes only the lower 32 bits of the server's capabilities (MariaDB's extended flags
# are not visible to it).
NOT_OFFERED_BY_PROXY = CLIENT.SSL

# Set by --compress: mysql-connector-python connections ask for the compressed protocol.
COMPRESS = False


# --------------------------------------------------------------------------------------------
# Normalisation: the single documented place where the two endpoints may differ.
# --------------------------------------------------------------------------------------------
def normalise(doc: dict) -> dict:
    """Remove what legitimately differs between a direct connection and a proxied one.

    1. Connection / thread ids: each endpoint numbers its own connections. Probes never record
       them except as the placeholder "<connection-id>".
    2. The server version string: the proxy appends "-myquorum" (issue 3, front door).
    3. Capabilities: the proxy does not offer SSL (NOT_OFFERED_BY_PROXY).
    4. The host part of "Access denied for user 'app'@'HOST'": MariaDB names the client's host
       as it resolves it (e.g. 'localhost'); the proxy authenticates clients itself.
    5. COM_STATISTICS: the counters (uptime, queries, ...) change every second; only the field
       names are compared.
    """
    text = json.dumps(doc, sort_keys=True)
    text = re.sub(r"-myquorum[^\"]*", "", text)
    text = re.sub(r"(Access denied for user '[^']*'@')[^']*(')", r"\1<host>\2", text)
    return json.loads(text)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
class Endpoint:
    def __init__(self, spec: str, user: str, password: str, database: str):
        host, _, port = spec.rpartition(":")
        self.host = host or "127.0.0.1"
        self.port = int(port)
        self.user = user
        self.password = password
        self.database = database

    def pymysql(self, **kw) -> pymysql.connections.Connection:
        args = dict(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            charset="utf8mb4",
            connect_timeout=30,
            read_timeout=120,
            write_timeout=120,
            autocommit=True,
        )
        args.update(kw)
        return pymysql.connect(**args)

    def connector(self, **kw):
        args = dict(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            charset="utf8mb4",
            collation="utf8mb4_general_ci",
            connection_timeout=30,
            use_pure=True,
            ssl_disabled=True,
            autocommit=True,
        )
        if COMPRESS:
            args["compress"] = True
        args.update(kw)
        return mysql.connector.connect(**args)


# PyMySQL hides the SQLSTATE of an error packet: wrap its error decoder to keep the raw packet.
_last_error_packet: list[bytes] = []
_orig_raise = pymysql.err.raise_mysql_exception


def _capturing_raise(data):
    _last_error_packet[:] = [bytes(data)]
    return _orig_raise(data)


pymysql.err.raise_mysql_exception = _capturing_raise


def sqlstate_of_last_error() -> str | None:
    """SQLSTATE of the last ERR packet PyMySQL decoded (0xFF, code(2), '#', state(5), msg)."""
    if not _last_error_packet:
        return None
    data = _last_error_packet[0]
    if len(data) >= 9 and data[3:4] == b"#":
        return data[4:9].decode("ascii", "replace")
    return None


def pymysql_error(exc: Exception) -> dict:
    if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) >= 2:
        return {
            "class": type(exc).__name__,
            "code": exc.args[0],
            "sqlstate": sqlstate_of_last_error(),
            "message": exc.args[1],
        }
    return {"class": type(exc).__name__, "repr": repr(exc)}


def result_info(cur) -> dict:
    """What PyMySQL tells the client about the last result (OK packet or result set)."""
    r = cur._result
    return {
        "rowcount": cur.rowcount,
        "lastrowid": cur.lastrowid,
        "affected_rows": r.affected_rows if r else None,
        "insert_id": r.insert_id if r else None,
        "warning_count": r.warning_count if r else None,
        "message": (r.message.decode("utf-8", "replace") if isinstance(r.message, bytes) else r.message)
        if r
        else None,
        "server_status": r.server_status if r else None,
        "has_next": r.has_next if r else None,
        "description": [list(d) for d in cur.description] if cur.description else None,
    }


def rows_repr(rows) -> list:
    return [[repr(v) for v in row] for row in rows]


def status(conn) -> str:
    return hex(conn.server_status)


def exec_script(cur, path: str) -> None:
    with open(path, encoding="utf-8") as f:
        text = "\n".join(line for line in f.read().splitlines() if not line.lstrip().startswith("--"))
    for stmt in re.split(r";\s*\n", text):
        if stmt.strip():
            cur.execute(stmt)


# --------------------------------------------------------------------------------------------
# Probes: each takes an Endpoint and returns something JSON-serialisable.
# --------------------------------------------------------------------------------------------
PROBES = []


def probe(fn):
    PROBES.append(fn)
    return fn


@probe
def handshake(ep: Endpoint):
    """Greeting fields PyMySQL exposes, with the legitimate differences normalised."""
    conn = ep.pymysql()
    try:
        out = {
            "protocol_version": conn.protocol_version,
            "server_version": conn.get_server_info(),
            "server_capabilities": hex(conn.server_capabilities & ~NOT_OFFERED_BY_PROXY),
            "server_language": conn.server_language,
            "server_charset": conn.server_charset,
            "server_status_after_connect": status(conn),
            "thread_id": "<connection-id>" if conn.thread_id() else None,
            # conn.get_host_info() is not recorded: PyMySQL builds it from the port it dialled.
        }
        cur = conn.cursor()
        cur.execute(
            "SELECT @@character_set_client, @@character_set_connection, @@character_set_results, "
            "@@collation_connection, @@autocommit, @@sql_mode, @@max_allowed_packet, DATABASE(), "
            "CURRENT_USER()"
        )
        out["session"] = rows_repr(cur.fetchall())
        return out
    finally:
        conn.close()


@probe
def read_your_writes(ep: Endpoint):
    """With no level chosen, a write is seen by the next read: in the same connection and from
    a new connection opened right after the writer closed (issue 14), for both drivers and
    for DDL, INSERT, UPDATE and DELETE. Through the proxy the reads may run on replicas:
    a stale one would show a missing table (1146) or old rows, which differ from direct."""
    out = {}
    drivers = {"pymysql": ep.pymysql, "connector": ep.connector}
    for name, connect in drivers.items():
        seen = []
        for i in range(10):
            table = f"t_ryw_{name}_{i}"
            writer = connect()
            try:
                cur = writer.cursor()
                cur.execute(f"DROP TABLE IF EXISTS {table}")
                cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, v INT)")
                cur.execute(f"INSERT INTO {table} VALUES (1, {i}), (2, 0), (3, 0)")
                cur.execute(f"SELECT id, v FROM {table} ORDER BY id")
                same = rows_repr(cur.fetchall())
                cur.execute(f"UPDATE {table} SET v = v + 100 WHERE id = 1")
                cur.execute(f"DELETE FROM {table} WHERE id = 3")
            finally:
                writer.close()
            reader = connect()
            try:
                cur = reader.cursor()
                try:
                    cur.execute(f"SELECT id, v FROM {table} ORDER BY id")
                    other = rows_repr(cur.fetchall())
                except Exception as e:  # a stale replica: the table is not there yet
                    other = {"error": str(e)}
                cur.execute(f"DROP TABLE IF EXISTS {table}")
            finally:
                reader.close()
            seen.append({"same_connection": same, "next_connection": other})
        out[name] = seen
    return out


@probe
def typed_values(ep: Endpoint):
    """Every common column type as PyMySQL decodes it, plus the column metadata."""
    conn = ep.pymysql()
    try:
        cur = conn.cursor()
        cur.execute("SET time_zone = '+00:00'")
        out = {}
        for table in ("t_types", "t_nulls"):
            cur.execute(f"SELECT * FROM {table} ORDER BY id")
            out[table] = {"info": result_info(cur), "rows": rows_repr(cur.fetchall())}
        cur.execute(
            "SELECT 18446744073709551615, -9223372036854775808, 1.5e300, CAST(1 AS DECIMAL(65,30)), "
            "_latin1 0xE9, _binary 0xFF00, X'F09F9880', CONVERT('é' USING latin1), NULL, '', "
            "TIME'-838:59:59', DATE'2000-01-01', TIMESTAMP'2000-01-01 00:00:00.5', b'101'"
        )
        out["literals"] = {"info": result_info(cur), "rows": rows_repr(cur.fetchall())}
        return out
    finally:
        conn.close()


@probe
def server_status_flags(ep: Endpoint):
    """conn.server_status after BEGIN / COMMIT / autocommit=0 (IN_TRANS, AUTOCOMMIT bits)."""
    conn = ep.pymysql()
    try:
        cur = conn.cursor()
        steps = []
        for sql in (
            "SELECT 1",
            "BEGIN",
            "SELECT 1",
            "INSERT INTO t_status VALUES (1)",
            "COMMIT",
            "SET autocommit=0",
            "SELECT 1",
            "SELECT * FROM t_status",
            "INSERT INTO t_status VALUES (2)",
            "ROLLBACK",
            "SET autocommit=1",
            "START TRANSACTION READ ONLY",
            "SELECT 1",
            "COMMIT",
        ):
            cur.execute(sql)
            cur.fetchall()
            steps.append([sql, status(conn), cur._result.server_status])
        return steps
    finally:
        conn.close()


@probe
def warnings_and_info(ep: Endpoint):
    """Warning counts, SHOW WARNINGS, info strings, affected rows and last insert ids."""
    conn = ep.pymysql()
    try:
        cur = conn.cursor()
        out = []

        def run(sql):
            cur.execute(sql)
            rows = rows_repr(cur.fetchall()) if cur.description else None
            out.append({"sql": sql, "info": result_info(cur), "rows": rows})

        cur.execute("DROP TABLE IF EXISTS t_dml")  # not recorded: warns only on the first run
        run("CREATE TABLE t_dml (id INT AUTO_INCREMENT PRIMARY KEY, v INT, s VARCHAR(3)) ENGINE=InnoDB")
        run("INSERT INTO t_dml (v, s) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        run("INSERT INTO t_dml (v, s) VALUES (4, 'd')")
        run("SELECT LAST_INSERT_ID(), ROW_COUNT()")
        run("UPDATE t_dml SET v = v + 10 WHERE v <= 3")
        run("UPDATE t_dml SET v = v WHERE v > 10")
        run("INSERT IGNORE INTO t_dml (id, v, s) VALUES (1, 0, 'x'), (10, 0, 'y')")
        run("SHOW WARNINGS")
        run("REPLACE INTO t_dml (id, v, s) VALUES (1, 100, 'r')")
        run("INSERT INTO t_dml (id, v, s) VALUES (2, 0, 'z') ON DUPLICATE KEY UPDATE v = 200")
        run("SET SESSION sql_mode = ''")
        run("INSERT INTO t_dml (v, s) VALUES ('12abc', 'toolong'), (NULL, 'ok')")
        run("SHOW WARNINGS")
        run("SELECT @@warning_count")
        run("SELECT 1/0, CAST('x' AS INTEGER)")
        run("SHOW WARNINGS")
        run("SHOW COUNT(*) WARNINGS")
        run("DELETE FROM t_dml WHERE v >= 100")
        run("SELECT * FROM t_dml ORDER BY id")
        run("SET SESSION sql_mode = DEFAULT")
        return out
    finally:
        conn.close()


@probe
def found_rows_flag(ep: Endpoint):
    """rowcount of an UPDATE that matches rows without changing them, with/without FOUND_ROWS."""
    out = {}
    for name, flag in (("without", 0), ("with", CLIENT.FOUND_ROWS)):
        conn = ep.pymysql(client_flag=flag)
        try:
            cur = conn.cursor()
            tbl = f"t_found_{name}"
            cur.execute(f"DROP TABLE IF EXISTS {tbl}")
            cur.execute(f"CREATE TABLE {tbl} (id INT PRIMARY KEY, v INT)")
            cur.execute(f"INSERT INTO {tbl} VALUES (1, 1), (2, 1), (3, 2)")
            cur.execute(f"UPDATE {tbl} SET v = 1 WHERE v = 1")
            a = result_info(cur)
            cur.execute(f"UPDATE {tbl} SET v = 1")
            b = result_info(cur)
            cur.execute("SELECT ROW_COUNT()")
            out[name] = {"no_change": a, "one_change": b, "row_count": rows_repr(cur.fetchall())}
        finally:
            conn.close()
    return out


ERROR_STATEMENTS = [
    ("1064 syntax", "SELEKT 1"),
    ("1062 duplicate", "INSERT INTO t_err VALUES (1, 5)"),
    ("1146 no table", "SELECT * FROM no_such_table"),
    ("4025 check", "INSERT INTO t_err VALUES (2, -1)"),
    # A join of a billion rows cannot finish within 1 ms, and the executor reports the
    # interruption itself (an interrupted SLEEP(1) may instead return 1 without an error,
    # which made this case flaky under load).
    ("1969 max_statement_time",
     "SET STATEMENT max_statement_time=0.001 FOR "
     "SELECT COUNT(*) FROM seq_1_to_1000000 a JOIN seq_1_to_1000 b WHERE a.seq + b.seq > 0"),
    ("1054 unknown column", "SELECT no_such_column FROM t_err"),
    ("1365 division by zero (strict)", "INSERT INTO t_err VALUES (3, 1/0)"),
    ("1292 truncated", "INSERT INTO t_err VALUES ('abc', 1)"),
    ("1231 bad variable value", "SET autocommit = 'maybe'"),
    ("1193 unknown variable", "SET no_such_variable = 1"),
    ("1305 no function", "SELECT no_such_function()"),
    ("1049 use unknown db", "USE no_such_database"),
]


def _error_setup(cur):
    cur.execute("DROP TABLE IF EXISTS t_err")
    cur.execute("CREATE TABLE t_err (id INT PRIMARY KEY, v INT, CONSTRAINT v_nonneg CHECK (v >= 0))")
    cur.execute("INSERT INTO t_err VALUES (1, 1)")
    # The max_statement_time case reads two SEQUENCE-engine tables: opened here first, so its
    # 1 ms limit interrupts the join and not the tables' discovery (which then fails with 1939
    # instead of 1969: seen once, on the direct side).
    cur.execute("SELECT COUNT(*) FROM seq_1_to_1000000 a JOIN seq_1_to_1000 b WHERE a.seq = 0")
    cur.fetchall()
    cur.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO'")


@probe
def errors_pymysql(ep: Endpoint):
    """ERR packets as PyMySQL sees them (code, SQLSTATE from the raw packet, message), each
    followed by a SELECT proving the session still works, and the status flags after it."""
    conn = ep.pymysql()
    try:
        cur = conn.cursor()
        _error_setup(cur)
        out = []
        for name, sql in ERROR_STATEMENTS:
            _last_error_packet.clear()
            entry = {"name": name, "sql": sql}
            try:
                cur.execute(sql)
                entry["unexpected_success"] = rows_repr(cur.fetchall()) if cur.description else result_info(cur)
            except Exception as exc:  # noqa: BLE001 - we record every error shape
                entry["error"] = pymysql_error(exc)
            cur.execute("SELECT 1, DATABASE()")
            entry["after"] = rows_repr(cur.fetchall())
            entry["status_after"] = status(conn)
            out.append(entry)
        # An error inside a transaction keeps the transaction open.
        cur.execute("BEGIN")
        try:
            cur.execute("INSERT INTO t_err VALUES (1, 1)")
        except Exception as exc:  # noqa: BLE001
            out.append({"name": "1062 in transaction", "error": pymysql_error(exc), "status_after": status(conn)})
        cur.execute("ROLLBACK")
        out.append({"name": "after rollback", "status_after": status(conn)})
        return out
    finally:
        conn.close()


@probe
def errors_connector(ep: Endpoint):
    """The same errors through mysql-connector-python, which exposes err.sqlstate itself."""
    conn = ep.connector()
    try:
        cur = conn.cursor()
        _error_setup(cur)
        out = []
        for name, sql in ERROR_STATEMENTS:
            entry = {"name": name}
            try:
                cur.execute(sql)
                if cur.with_rows:
                    cur.fetchall()
                entry["unexpected_success"] = True
            except mysql.connector.Error as exc:
                entry["error"] = {"errno": exc.errno, "sqlstate": exc.sqlstate, "msg": exc.msg}
            cur.execute("SELECT 1")
            entry["after"] = [list(r) for r in cur.fetchall()]
            out.append(entry)
        return out
    finally:
        conn.close()


@probe
def connector_values(ep: Endpoint):
    """Typed values and warnings through mysql-connector-python (a second decoder)."""
    conn = ep.connector()
    try:
        cur = conn.cursor()
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("SELECT * FROM t_types ORDER BY id")
        rows = rows_repr(cur.fetchall())
        desc = [list(d) for d in cur.description]
        cur.execute("SELECT 1/0")
        cur.fetchall()
        warnings = cur.warning_count
        cur.execute("SHOW WARNINGS")
        shown = [list(r) for r in cur.fetchall()]
        return {"rows": rows, "description": desc, "warning_count": warnings, "show_warnings": shown}
    finally:
        conn.close()


@probe
def connector_compressed(ep: Endpoint):
    """mysql-connector-python with compress=True, pure Python and C extension: the flag is
    negotiated, and typed rows, a multi-statement, an error and a 20 MB value round trip
    (compressed frames carrying packets over 16 MB both ways) come back as directly."""
    from mysql.connector.constants import ClientFlag

    out = {}
    blob = (bytes(range(256)) + hashlib.sha256(b"compress").digest()) * (20 * MB // 288)
    for pure in (True, False):
        conn = ep.connector(compress=True, use_pure=pure)
        entry = {}
        try:
            flags = getattr(conn, "_client_flags", None)
            entry["client_compress_flag"] = bool(flags & ClientFlag.COMPRESS) if flags is not None else None
            cur = conn.cursor()
            cur.execute("SET time_zone = '+00:00'")
            cur.execute("SELECT * FROM t_types ORDER BY id")
            entry["types"] = rows_repr(cur.fetchall())
            cur.execute("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, REPEAT('y', 1000)")
            entry["union"] = rows_repr(cur.fetchall())
            cur.execute("DROP TABLE IF EXISTS t_comp_py")
            cur.execute("CREATE TABLE t_comp_py (id INT PRIMARY KEY, b LONGBLOB)")
            cur.execute("INSERT INTO t_comp_py VALUES (1, %s)", (blob,))
            entry["insert_rowcount"] = cur.rowcount
            cur.execute("SELECT b, LENGTH(b), SHA2(b, 256) FROM t_comp_py")
            (row,) = cur.fetchall()
            entry["big"] = {
                "client_sha256": hashlib.sha256(bytes(row[0])).hexdigest(),
                "expected_sha256": hashlib.sha256(blob).hexdigest(),
                "server": [row[1], row[2]],
            }
            try:
                cur.execute("SELECT * FROM no_such_table")
                cur.fetchall()
            except mysql.connector.Error as exc:
                entry["error"] = {"errno": exc.errno, "sqlstate": exc.sqlstate, "msg": exc.msg}
            cur.execute("SELECT 'after error'")
            entry["after"] = rows_repr(cur.fetchall())
        finally:
            conn.close()
        out["pure" if pure else "cext"] = entry
    return out


@probe
def multi_statements(ep: Endpoint):
    """Several result sets from one COM_QUERY (CLIENT_MULTI_STATEMENTS), read with nextset()."""
    conn = ep.pymysql(client_flag=CLIENT.MULTI_STATEMENTS)
    try:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS t_multi; CREATE TABLE t_multi (id INT PRIMARY KEY, v VARCHAR(5))")
        while cur.nextset():
            pass
        sets = []
        cur.execute(
            "SELECT 1 AS a; SELECT 'x' AS b, NULL AS c UNION ALL SELECT 'y', 2; "
            "INSERT INTO t_multi VALUES (1, 'a'), (2, 'b'); UPDATE t_multi SET v = 'z' WHERE id = 2; "
            "SELECT * FROM t_multi ORDER BY id; DO 1; SELECT 1/0; SHOW WARNINGS"
        )
        while True:
            sets.append(
                {
                    "info": result_info(cur),
                    "rows": rows_repr(cur.fetchall()) if cur.description else None,
                    "status": status(conn),
                }
            )
            if not cur.nextset():
                break
        # An error in the middle ends the batch; the session stays usable.
        err = None
        try:
            cur.execute("SELECT 1; SELECT * FROM no_such_table; SELECT 3")
            while cur.nextset():
                pass
        except Exception as exc:  # noqa: BLE001
            err = pymysql_error(exc)
        cur.execute("SELECT 4")
        return {"sets": sets, "error_in_batch": err, "after": rows_repr(cur.fetchall())}
    finally:
        conn.close()


@probe
def load_data_local(ep: Endpoint):
    """LOAD DATA LOCAL INFILE of a generated file (escapes, NULLs, utf8mb4), then a count."""
    conn = ep.pymysql(local_infile=True)
    path = None
    try:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS t_load")
        cur.execute("CREATE TABLE t_load (id INT PRIMARY KEY, s VARCHAR(100), n INT NULL)")
        with tempfile.NamedTemporaryFile("wb", suffix=".tsv", delete=False) as f:
            path = f.name
            for i in range(1, 5001):
                s = f"row {i} é😀 tab\\there newline\\nthere back\\\\slash"
                n = "\\N" if i % 7 == 0 else str(i * 3)
                f.write(f"{i}\t{s}\t{n}\n".encode())
            f.write(b"1\tduplicate\t1\n")  # ignored: duplicate key
            f.write(b"5001\ttoo few columns\n")  # warning
        cur.execute(
            f"LOAD DATA LOCAL INFILE '{path}' IGNORE INTO TABLE t_load CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'"
        )
        info = result_info(cur)
        cur.execute("SELECT COUNT(*), SUM(n), COUNT(n), MD5(GROUP_CONCAT(s ORDER BY id)) FROM t_load")
        return {"load": info, "check": rows_repr(cur.fetchall()), "status": status(conn)}
    finally:
        conn.close()
        if path:
            os.unlink(path)


@probe
def big_value(ep: Endpoint):
    """A 32 MB LONGBLOB round trip (query and row packets split at 16 MB), sha256 compared."""
    conn = ep.pymysql(max_allowed_packet=64 * MB)
    try:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS t_big")
        cur.execute("CREATE TABLE t_big (id INT PRIMARY KEY, b LONGBLOB)")
        # Deterministic bytes covering every value (so escaping is exercised).
        seed = hashlib.sha256(b"myquorum").digest()
        blob = (bytes(range(256)) + seed * 4) * (32 * MB // (256 + 128))
        blob += bytes(32 * MB - len(blob))
        assert len(blob) == 32 * MB
        cur.execute("INSERT INTO t_big VALUES (1, %s)", (blob,))
        ins = result_info(cur)
        cur.execute("SELECT id, b, LENGTH(b), SHA2(b, 256) FROM t_big")
        (row,) = cur.fetchall()
        return {
            "insert": ins,
            "id": row[0],
            "length_client": len(row[1]),
            "sha256_client": hashlib.sha256(row[1]).hexdigest(),
            "sha256_expected": hashlib.sha256(blob).hexdigest(),
            "length_server": row[2],
            "sha256_server": row[3],
            "repeat": _repeat_probe(cur),
        }
    finally:
        conn.close()


def _repeat_probe(cur):
    # A generated 17 MB value exactly around the 16 MB packet boundary, plus a following row.
    cur.execute(
        "SELECT LENGTH(x), SHA2(x, 256), x FROM (SELECT REPEAT('ab', 8388608 - 2) AS x "
        "UNION ALL SELECT REPEAT('c', 16777215 - 8) UNION ALL SELECT 'tail') q"
    )
    return [[r[0], r[1], hashlib.sha256(r[2].encode()).hexdigest()] for r in cur.fetchall()]


@probe
def non_utf8_queries(ep: Endpoint):
    """Query bytes that are not UTF-8: introducers, a latin1 connection, raw invalid bytes."""
    out = {}
    conn = ep.pymysql()
    try:
        cur = conn.cursor()
        cur.execute("SELECT _latin1 0xE9, HEX(_latin1 0xE9), HEX(CONVERT(_latin1 0xE9 USING utf8mb4))")
        out["introducer"] = rows_repr(cur.fetchall())
        # Raw bytes that are not valid UTF-8, sent as they are (PyMySQL passes bytes through).
        cur.execute(b"SELECT HEX(_binary'\xff\xfe\x80'), LENGTH(_binary'\xff\xfe\x80')")
        out["raw_bytes_binary"] = rows_repr(cur.fetchall())
        try:
            cur.execute(b"SELECT HEX('\xff\xfe\x80')")
            out["raw_bytes_utf8"] = rows_repr(cur.fetchall())
        except Exception as exc:  # noqa: BLE001
            out["raw_bytes_utf8"] = pymysql_error(exc)
        cur.execute("SHOW WARNINGS")
        out["raw_bytes_utf8_warnings"] = rows_repr(cur.fetchall())
    finally:
        conn.close()
    conn = ep.pymysql(charset="latin1")
    try:
        cur = conn.cursor()
        # 'é' is sent as the single byte 0xE9 on this connection.
        cur.execute("SELECT 'é' AS c, HEX('é'), @@character_set_client, @@collation_connection")
        out["latin1_connection"] = {"info": result_info(cur), "rows": rows_repr(cur.fetchall())}
        cur.execute("SELECT l1, HEX(l1) FROM t_types ORDER BY id")
        out["latin1_column"] = rows_repr(cur.fetchall())
    finally:
        conn.close()
    return out


@probe
def commands(ep: Endpoint):
    """COM_PING, COM_INIT_DB (select_db), COM_STATISTICS (connector), COM_QUIT."""
    out = {}
    conn = ep.pymysql()
    try:
        out["ping"] = repr(conn.ping(reconnect=False))
        out["ping_status"] = status(conn)
        conn.select_db(ep.database)
        cur = conn.cursor()
        cur.execute("SELECT DATABASE()")
        out["init_db"] = rows_repr(cur.fetchall())
        _last_error_packet.clear()
        try:
            conn.select_db(ep.database + "_absent")
            out["init_db_unknown"] = "unexpected success"
        except Exception as exc:  # noqa: BLE001
            out["init_db_unknown"] = pymysql_error(exc)
        cur.execute("SELECT DATABASE()")
        out["after_failed_init_db"] = rows_repr(cur.fetchall())
    finally:
        conn.close()
    conn = ep.connector()
    try:
        stats = conn.cmd_statistics()
        out["statistics_fields"] = sorted(stats.keys())
        out["connector_ping"] = repr(conn.cmd_ping())
        conn.cmd_init_db(ep.database)
        out["connector_database"] = conn.database
    finally:
        conn.close()
    return out


@probe
def connect_errors(ep: Endpoint):
    """Connecting to an unknown database (1049) and with a wrong password (1045 / 28000)."""
    out = {}
    for name, kw in (
        # The app user has no privilege on this name: MariaDB answers 1044, not 1049.
        ("database_without_privilege", {"database": "no_such_database_xyz"}),
        # The fixture grants ALL ON `<database>_absent`.* without creating it: 1049.
        ("unknown_database", {"database": ep.database + "_absent"}),
        ("wrong_password", {"password": "definitely-wrong"}),
        ("unknown_user", {"user": "no_such_user", "password": "x"}),
        ("no_password", {"password": ""}),
    ):
        _last_error_packet.clear()
        try:
            ep.pymysql(**kw).close()
            out[name] = "unexpected success"
        except Exception as exc:  # noqa: BLE001
            out[name] = pymysql_error(exc)
        try:
            kw2 = dict(kw)
            ep.connector(**kw2).close()
            out[name + "_connector"] = "unexpected success"
        except mysql.connector.Error as exc:
            out[name + "_connector"] = {"errno": exc.errno, "sqlstate": exc.sqlstate, "msg": exc.msg}
    return out


def _setup_tables(ep: Endpoint) -> None:
    conn = ep.pymysql()
    try:
        cur = conn.cursor()
        exec_script(cur, TYPES_SQL)
        cur.execute("DROP TABLE IF EXISTS t_status")
        cur.execute("CREATE TABLE t_status (id INT PRIMARY KEY)")
    finally:
        conn.close()


def run_all(ep: Endpoint, only: list[str] | None) -> dict:
    doc = {}
    for fn in PROBES:
        if only and fn.__name__ not in only:
            continue
        if fn is server_status_flags:
            # Recreate the table each run so both endpoints start from the same state.
            conn = ep.pymysql()
            conn.cursor().execute("TRUNCATE TABLE t_status")
            conn.close()
        try:
            doc[fn.__name__] = fn(ep)
        except Exception:  # noqa: BLE001 - a crashed probe is a result too
            doc[fn.__name__] = {"probe_crashed": traceback.format_exc().splitlines()[-1]}
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--direct", help="host:port of the MariaDB primary")
    ap.add_argument("--proxy", help="host:port of the proxy")
    ap.add_argument("--only-endpoint", help="run against this host:port only and print its document")
    ap.add_argument("--user", default="app")
    ap.add_argument("--password", default="app")
    ap.add_argument("--database", required=True)
    ap.add_argument("--probe", action="append", help="run only this probe (repeatable)")
    ap.add_argument("--out-dir", help="also write direct.json and proxy.json here")
    ap.add_argument("--compress", action="store_true", help="mysql-connector-python uses compress=True")
    args = ap.parse_args()
    global COMPRESS
    COMPRESS = args.compress

    if args.only_endpoint:
        ep = Endpoint(args.only_endpoint, args.user, args.password, args.database)
        _setup_tables(ep)
        print(json.dumps(normalise(run_all(ep, args.probe)), indent=1, sort_keys=True, ensure_ascii=False))
        return 0
    if not (args.direct and args.proxy):
        ap.error("need --direct and --proxy (or --only-endpoint)")

    direct = Endpoint(args.direct, args.user, args.password, args.database)
    proxy = Endpoint(args.proxy, args.user, args.password, args.database)
    _setup_tables(direct)
    docs = {}
    for name, ep in (("direct", direct), ("proxy", proxy)):
        docs[name] = normalise(run_all(ep, args.probe))
    texts = {k: json.dumps(v, indent=1, sort_keys=True, ensure_ascii=False) + "\n" for k, v in docs.items()}
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        for k, t in texts.items():
            with open(os.path.join(args.out_dir, f"{k}.json"), "w", encoding="utf-8") as f:
                f.write(t)
    crashed = [
        f"{ep}:{probe_name}"
        for ep, doc in docs.items()
        for probe_name, v in doc.items()
        if isinstance(v, dict) and "probe_crashed" in v
    ]
    if texts["direct"] != texts["proxy"]:
        diff = difflib.unified_diff(
            texts["direct"].splitlines(keepends=True),
            texts["proxy"].splitlines(keepends=True),
            fromfile=f"direct {args.direct}",
            tofile=f"proxy {args.proxy}",
            n=6,
        )
        differing = sorted(k for k in docs["direct"] if docs["direct"].get(k) != docs["proxy"].get(k))
        print(f"MISMATCH in probes: {', '.join(differing)}")
        sys.stdout.writelines(diff)
        return 1
    if crashed:
        # Identical crashes on both sides mean the probe itself is broken: fail loudly.
        print("probes crashed on both endpoints: " + ", ".join(crashed))
        for ep, doc in docs.items():
            for k, v in doc.items():
                if isinstance(v, dict) and "probe_crashed" in v:
                    print(f"  {ep}:{k}: {v['probe_crashed']}")
        return 1
    print(f"OK: {len(docs['direct'])} probes identical on direct and proxy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
