#!/usr/bin/env python3
"""Driver compatibility probes for myquorum (issue 4, parts 1 and 3): mysql-connector-python.

Runs the same probes with mysql-connector-python in BOTH implementations -- pure Python
(`use_pure=True`) and the C extension (`use_pure=False`) -- against two MySQL-protocol endpoints
(the MariaDB primary directly and the myquorum proxy in front of it), records what the client
sees as one JSON document per endpoint, and compares them.

    drivers_probe.py --direct 127.0.0.1:3401 --proxy 127.0.0.1:6033 --database drv_py \
        [--user app --password app] [--out-dir DIR]

What is probed, per implementation:
- the prepared cursor (`cursor(prepared=True)`, binary protocol) binding every common type as a
  parameter (TINYINT..BIGINT signed/unsigned incl. 18446744073709551615, DECIMAL, FLOAT, DOUBLE,
  BIT, ENUM, SET, utf8mb4 with emoji, latin1, BLOB with all 256 byte values, DATE, TIME incl.
  negative and 838:59:59, DATETIME(6), TIMESTAMP(6), YEAR, JSON, NULL) and reading it back, both
  from a table of 27 columns (result NULL bitmap of 4 bytes) and echoed by `SELECT ?, ?, ...`;
  zero dates ('0000-00-00') inserted through the text protocol with a permissive sql_mode and
  read back through the binary protocol;
- INSERT of 20 parameters with NULLs in many patterns (parameter NULL bitmap of 3 bytes);
- one prepared statement re-executed many times with different values and changing parameter
  types, executemany, statements closed and re-prepared, statement errors, COM_STMT_SEND_LONG_DATA
  (pure only: the C extension has no API for it);
- the plain text-protocol cursor with the same values.
Each value is recorded as [type name, repr()], each result with `cursor.description`.

Exit status: 0 when the two documents are equal after normalisation, 1 with a unified diff on
stdout when they differ (or when a probe crashed on both sides), 2 on a usage or setup error --
including a C extension that cannot be imported: it is never skipped silently.

Normalisation: compat_probe.normalise() is reused unchanged -- the single documented place where
the endpoints may differ (connection ids, the "-myquorum" version suffix, the host in "Access
denied"). This probe records no connection or statement ids and no timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import io
import json
import os
import re
import sys
import traceback
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import mysql.connector  # noqa: E402
from compat_probe import normalise  # noqa: E402


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------
TYPES_DDL = """CREATE TABLE {name} (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  de DECIMAL(30,10), f FLOAT, d DOUBLE, b BIT(17), e ENUM('a','b','c'), s SET('x','y','z'),
  vc VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci,
  l1 VARCHAR(50) CHARACTER SET latin1 COLLATE latin1_swedish_ci,
  bl BLOB, dt DATE, tm TIME, tm6 TIME(6), dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL,
  y YEAR, j JSON
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""
TYPES_COLS = 27

ALL_BYTES = bytes(range(256))

TYPES_ROWS = [
    (
        1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
        Decimal("-99999999999999999999.9999999999"), -3.40282e38, -1.7976931348623157e308, 0,
        "a", "", "héllo wörld 😀 ✓ 中文", "àéîõü ÿ Ñ", ALL_BYTES,
        dt.date(1000, 1, 1), -dt.timedelta(hours=838, minutes=59, seconds=59),
        -dt.timedelta(hours=838, minutes=59, seconds=58, microseconds=999999),
        dt.datetime(1000, 1, 1, 0, 0, 0), dt.datetime(1970, 1, 1, 0, 0, 1), 1901, "{}",
    ),
    (
        2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
        9223372036854775807, 18446744073709551615,
        Decimal("99999999999999999999.9999999999"), 3.40282e38, 1.7976931348623157e308, 131071,
        "c", "x,y,z", "😀😀😀", "ÀÉÎÕÜ", b"",
        dt.date(9999, 12, 31), dt.timedelta(hours=838, minutes=59, seconds=59),
        dt.timedelta(hours=838, minutes=59, seconds=58, microseconds=999999),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999), dt.datetime(2038, 1, 19, 3, 14, 7, 999999),
        2155, '{"a": [1, 2.5, "x", null, true], "b": {"c": "é😀"}}',
    ),
    (
        3, 0, 1, -1, 1, 0, 1, 0, 1, -1, 9223372036854775808, Decimal("0.0000000001"), 1.5, 0.1,
        0b1010, "b", "x,z", "", "", b"\x00",
        dt.date(2024, 2, 29), -dt.timedelta(seconds=1), dt.timedelta(microseconds=1),
        dt.datetime(2024, 2, 29, 12, 34, 56, 789012), dt.datetime(2024, 2, 29, 12, 34, 56),
        0, "[]",
    ),
    (4,) + (None,) * (TYPES_COLS - 1),
]
# The C extension cannot bind integers above 2**63-1 ("RuntimeError: Failed raising error") and
# rejects large doubles (1264 out of range): rows 6 and 7 repeat rows 2 and 3
# with those values as DECIMAL / smaller doubles, so every other value is still covered there.
TYPES_ROWS += [
    (6,) + TYPES_ROWS[1][1:10] + (Decimal("18446744073709551615"),) + TYPES_ROWS[1][11:13]
    + (12345.678,) + TYPES_ROWS[1][14:],
    (7,) + TYPES_ROWS[2][1:10] + (Decimal("9223372036854775808"),) + TYPES_ROWS[2][11:],
]
TYPES_ROWS[0] = TYPES_ROWS[0][:13] + (-1.5e308,) + TYPES_ROWS[0][14:]
TYPES_ROWS.append((8,) + TYPES_ROWS[0][1:13] + (-1.7976931348623157e308,) + TYPES_ROWS[0][14:])
assert all(len(r) == TYPES_COLS for r in TYPES_ROWS)

# Inserted through the text protocol with sql_mode='' (the binary protocol cannot send them).
ZERO_DATES_SQL = (
    "INSERT INTO {name} (id, dt, tm, dtm, ts, y) VALUES "
    "(9, '0000-00-00', '00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', 0000)"
)

N20_DDL = """CREATE TABLE {name} (
  id INT PRIMARY KEY, c1 INT, c2 VARCHAR(10), c3 BIGINT UNSIGNED, c4 DOUBLE, c5 DATETIME(6),
  c6 BLOB, c7 INT, c8 VARCHAR(10), c9 DECIMAL(10,2), c10 TIME, c11 INT, c12 VARCHAR(10),
  c13 DATE, c14 TINYINT, c15 INT, c16 VARCHAR(10), c17 INT, c18 VARCHAR(10), c19 JSON
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""
N20_FULL = (
    1, "s2", 18446744073709551615, 4.25, dt.datetime(2001, 2, 3, 4, 5, 6, 7), b"\xff\x00",
    7, "s8", Decimal("9.99"), dt.timedelta(hours=-10), 11, "s12", dt.date(2013, 1, 13), -14,
    15, "s16", 17, "😀", '{"k": 19}',
)


def n20_rows():
    """20-parameter rows (id + 19 columns) with NULLs at many bitmap positions."""
    patterns = [
        lambda i: True,  # all NULL
        lambda i: False,  # none NULL
        lambda i: i % 2 == 0,
        lambda i: i % 2 == 1,
        lambda i: i >= 16,  # third bitmap byte only
        lambda i: i in (0, 7, 8, 15, 16, 18),  # bitmap byte boundaries
        lambda i: i == 18,  # the very last parameter
    ]
    rows = []
    for rid, null_at in enumerate(patterns, start=1):
        rows.append((rid,) + tuple(None if null_at(i) else v for i, v in enumerate(N20_FULL)))
    return rows


# --------------------------------------------------------------------------------------------
# Recording helpers
# --------------------------------------------------------------------------------------------
def val(v):
    return [type(v).__name__, repr(v)]


def rows_repr(rows):
    return [[val(v) for v in row] for row in rows]


def desc(cur):
    return [repr(tuple(d)) for d in cur.description] if cur.description else None


def err(exc):
    if isinstance(exc, mysql.connector.Error):
        return {"class": type(exc).__name__, "errno": exc.errno, "sqlstate": exc.sqlstate, "msg": exc.msg}
    # Driver-internal errors may name Python objects by address ("... object at 0x7f..."): the
    # address is the probe process's memory, not anything the server or the proxy sent.
    return {"class": type(exc).__name__, "repr": re.sub(r" at 0x[0-9a-f]+", " at 0x...", repr(exc))}


def run(cur, sql, params=None):
    """Executes and records: description, rows (if any), rowcount, lastrowid, warnings."""
    try:
        if params is None:
            cur.execute(sql)
        else:
            cur.execute(sql, params)
        out = {"description": desc(cur)}
        if cur.description:
            # Row by row, so that a row the driver cannot decode is recorded where it happens
            # (the rest of the result is then consumed: the connection has consume_results).
            rows = []
            while True:
                try:
                    row = cur.fetchone()
                except Exception as exc:  # noqa: BLE001
                    rows.append({"fetch_error": err(exc)})
                    break
                if row is None:
                    break
                rows.append([val(v) for v in row])
            out["rows"] = rows
        out["rowcount"] = cur.rowcount
        out["lastrowid"] = cur.lastrowid
        out["warning_count"] = getattr(cur, "warning_count", None)
        return out
    except Exception as exc:  # noqa: BLE001 - an error is a result too
        return {"error": err(exc)}


def run_many(cur, sql, seq):
    try:
        cur.executemany(sql, seq)
        return {"rowcount": cur.rowcount, "lastrowid": cur.lastrowid}
    except Exception as exc:  # noqa: BLE001
        return {"error": err(exc)}


class Endpoint:
    def __init__(self, spec: str, user: str, password: str, database: str):
        host, _, port = spec.rpartition(":")
        self.host = host or "127.0.0.1"
        self.port = int(port)
        self.user = user
        self.password = password
        self.database = database

    def connect(self, use_pure: bool):
        conn = mysql.connector.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            charset="utf8mb4",
            collation="utf8mb4_general_ci",
            connection_timeout=30,
            use_pure=use_pure,
            ssl_disabled=True,
            autocommit=True,
            consume_results=True,
        )
        want = "MySQLConnection" if use_pure else "CMySQLConnection"
        if type(conn).__name__ != want:
            raise SystemExit(f"asked for {want} (use_pure={use_pure}) but got {type(conn).__name__}")
        cur = conn.cursor()
        cur.execute("SET time_zone = '+00:00'")
        cur.close()
        return conn


# --------------------------------------------------------------------------------------------
# Probes: each takes (Endpoint, use_pure, tag) and returns something JSON-serialisable.
# Tables are named after the implementation and recreated, so both endpoints start equal.
# --------------------------------------------------------------------------------------------
PROBES = []


def probe(fn):
    PROBES.append(fn)
    return fn


def recreate(conn, name, ddl):
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {name}")
    cur.execute(ddl.format(name=name))
    cur.close()


@probe
def prepared_types(ep, use_pure, tag):
    """Every common type bound as a parameter of a prepared INSERT and read back prepared."""
    conn = ep.connect(use_pure)
    try:
        name = f"t_types_{tag}"
        recreate(conn, name, TYPES_DDL)
        out = {}
        pc = conn.cursor(prepared=True)
        marks = ", ".join(["?"] * TYPES_COLS)
        out["insert"] = [run(pc, f"INSERT INTO {name} VALUES ({marks})", row) for row in TYPES_ROWS]
        tc = conn.cursor()
        tc.execute("SET SESSION sql_mode = ''")
        out["zero_dates_insert"] = run(tc, ZERO_DATES_SQL.format(name=name))
        tc.execute("SET SESSION sql_mode = DEFAULT")
        out["select_all"] = run(pc, f"SELECT * FROM {name} ORDER BY id")
        out["select_by_id"] = [run(pc, f"SELECT * FROM {name} WHERE id = ?", (i,)) for i in range(1, 11)]
        out["text_select_all"] = run(tc, f"SELECT * FROM {name} ORDER BY id")
        # Each value echoed: the result column type follows the parameter type.
        out["echo"] = [run(pc, f"SELECT {marks}", row) for row in TYPES_ROWS]
        out["echo_zero"] = run(
            pc,
            "SELECT CAST('0000-00-00' AS DATE), CAST('0000-00-00 00:00:00' AS DATETIME), ?, ?",
            (dt.date(1, 1, 1), dt.timedelta(0)),
        )
        out["literals"] = run(
            pc,
            "SELECT 18446744073709551615, -9223372036854775808, CAST(? AS UNSIGNED), CAST(? AS SIGNED), "
            "b'11111111111111111', TIME'-838:59:59', TIME'838:59:59.999999', NULL, ?",
            ("18446744073709551615", "-9223372036854775808", None),
        )
        pc.close()
        tc.close()
        return out
    finally:
        conn.close()


@probe
def prepared_nulls20(ep, use_pure, tag):
    """INSERT ... VALUES with 20 parameters, NULLs in many patterns; read back both protocols."""
    conn = ep.connect(use_pure)
    try:
        name = f"t_n20_{tag}"
        recreate(conn, name, N20_DDL)
        pc = conn.cursor(prepared=True)
        tc = conn.cursor()
        marks = ", ".join(["?"] * 20)
        out = {"insert": [run(pc, f"INSERT INTO {name} VALUES ({marks})", row) for row in n20_rows()]}
        out["select_prepared"] = run(pc, f"SELECT * FROM {name} ORDER BY id")
        out["select_text"] = run(tc, f"SELECT * FROM {name} ORDER BY id")
        if use_pure:
            out["echo"] = [run(pc, f"SELECT {marks}", row) for row in n20_rows()]
        else:
            # mysql-connector-python 9.4.0's C extension crashes (SIGSEGV in get_rows, or
            # "SystemError: stmt_execute returned a result with an exception set") on this echo
            # of 20 mixed parameters -- reproduced directly against MariaDB, so a driver bug.
            out["echo"] = "skipped for the C extension: it crashes on this (driver bug)"
        pc.close()
        tc.close()
        return out
    finally:
        conn.close()


@probe
def prepared_reexecute(ep, use_pure, tag):
    """One prepared statement executed many times with different values and parameter types."""
    conn = ep.connect(use_pure)
    try:
        pc = conn.cursor(prepared=True)
        out = []
        values = []
        for i in range(40):
            values.append(i * 7919 - 100000)
        values += [
            "text",
            "😀",
            1.25,
            None,
            b"\x00\xff",
            Decimal("-1.50"),
            dt.date(2020, 1, 2),
            dt.datetime(2020, 1, 2, 3, 4, 5, 6),
            -dt.timedelta(hours=1, microseconds=5),
            18446744073709551615,
            -9223372036854775808,
            0,
            "",
            None,
            42,
        ]
        for v in values:
            out.append(run(pc, "SELECT ?, ? IS NULL, COALESCE(?, 'null'), 1", (v, v, v)))
        # The same statement on a table, by key, many times.
        name = f"t_re_{tag}"
        recreate(conn, name, "CREATE TABLE {name} (id INT PRIMARY KEY, v VARCHAR(20))")
        for i in range(30):
            out.append(run(pc, f"INSERT INTO {name} VALUES (?, ?)", (i, None if i % 3 == 0 else f"v{i}")))
        for i in range(0, 32, 3):
            out.append(run(pc, f"SELECT v, id * 2 FROM {name} WHERE id = ?", (i,)))
        pc.close()
        return out
    finally:
        conn.close()


@probe
def prepared_executemany(ep, use_pure, tag):
    """executemany with the prepared cursor (one execute per row) and with the text cursor."""
    conn = ep.connect(use_pure)
    try:
        name = f"t_many_{tag}"
        recreate(conn, name, "CREATE TABLE {name} (id INT PRIMARY KEY, a BIGINT UNSIGNED, s VARCHAR(20), "
                 "d DATETIME(6), b BLOB)")
        rows = [
            (i, None if i % 5 == 0 else i * 1000003, None if i % 7 == 0 else f"r{i}é",
             dt.datetime(2000, 1, 1) + dt.timedelta(seconds=i, microseconds=i),
             None if i % 4 == 0 else bytes([i % 256]) * (i % 9))
            for i in range(100)
        ]
        pc = conn.cursor(prepared=True)
        tc = conn.cursor()
        out = {"prepared_executemany": run_many(pc, f"INSERT INTO {name} VALUES (?, ?, ?, ?, ?)", rows)}
        out["select"] = run(pc, f"SELECT * FROM {name} ORDER BY id")
        out["agg"] = run(pc, f"SELECT COUNT(*), SUM(a), COUNT(s), COUNT(b) FROM {name} WHERE id >= ?", (10,))
        out["text_executemany"] = run_many(
            tc, f"INSERT INTO {name} VALUES (%s, %s, %s, %s, %s)", [(r[0] + 1000,) + r[1:] for r in rows]
        )
        out["text_select"] = run(tc, f"SELECT * FROM {name} WHERE id >= 1000 ORDER BY id")
        out["prepared_update_many"] = run_many(pc, f"UPDATE {name} SET s = ? WHERE id = ?",
                                               [(f"u{i}", i) for i in range(0, 100, 10)])
        out["after_update"] = run(tc, f"SELECT id, s FROM {name} WHERE s LIKE 'u%' ORDER BY id")
        pc.close()
        tc.close()
        return out
    finally:
        conn.close()


@probe
def prepared_close_reprepare(ep, use_pure, tag):
    """Statements closed and prepared again; switching statements on one cursor; errors."""
    conn = ep.connect(use_pure)
    try:
        out = []
        sql_a = "SELECT ? + 1, CONCAT('a', ?)"
        sql_b = "SELECT ? * 2, ?"
        for i in range(25):
            c = conn.cursor(prepared=True)
            out.append(run(c, sql_a, (i, i)))
            out.append(run(c, sql_a, (i + 100, "x")))
            c.close()  # COM_STMT_CLOSE
        c = conn.cursor(prepared=True)
        for i in range(10):  # the cursor closes the old statement when the SQL changes
            out.append(run(c, sql_a if i % 2 == 0 else sql_b, (i, str(i))))
        c.close()
        # Several statements open at once on one connection.
        cursors = [conn.cursor(prepared=True) for _ in range(5)]
        for n, c in enumerate(cursors):
            out.append(run(c, f"SELECT ?, {n}", (n,)))
        for n, c in enumerate(reversed(cursors)):
            out.append(run(c, f"SELECT ?, {4 - n}", (n * 10,)))
            c.close()
        # Errors: at prepare, and at execute; then the connection still works.
        c = conn.cursor(prepared=True)
        out.append(run(c, "SELEKT ?", (1,)))
        out.append(run(c, "SELECT ?", (1,)))
        name = f"t_cr_{tag}"
        recreate(conn, name, "CREATE TABLE {name} (id INT PRIMARY KEY)")
        out.append(run(c, f"INSERT INTO {name} VALUES (?)", (1,)))
        out.append(run(c, f"INSERT INTO {name} VALUES (?)", (1,)))  # 1062
        out.append(run(c, f"INSERT INTO {name} VALUES (?)", (2,)))
        out.append(run(c, f"SELECT * FROM {name} WHERE id > ?", (0,)))
        out.append(run(c, "SELECT * FROM no_such_table WHERE id = ?", (1,)))  # 1146 at prepare
        out.append(run(c, "SELECT ?, ?", (1,)))  # wrong parameter count (client side)
        out.append(run(c, "SELECT 'after errors'"))
        c.close()
        return out
    finally:
        conn.close()


@probe
def prepared_long_data(ep, use_pure, tag):
    """COM_STMT_SEND_LONG_DATA: the pure implementation streams file-like parameters."""
    if not use_pure:
        return "C extension: file-like parameters are not supported by the driver"
    conn = ep.connect(use_pure)
    try:
        name = f"t_long_{tag}"
        recreate(conn, name, "CREATE TABLE {name} (id INT PRIMARY KEY, b LONGBLOB, t LONGTEXT)")
        pc = conn.cursor(prepared=True)
        big = bytes(range(256)) * 4096  # 1 MiB, sent in 8 KiB chunks by the driver
        out = {
            "insert": run(pc, f"INSERT INTO {name} VALUES (?, ?, ?)",
                          (1, io.BytesIO(big), io.BytesIO("é😀".encode() * 1000))),
            "insert_mixed": run(pc, f"INSERT INTO {name} VALUES (?, ?, ?)", (2, io.BytesIO(b""), "plain")),
        }
        r = run(pc, f"SELECT id, LENGTH(b), MD5(b), CHAR_LENGTH(t), MD5(t) FROM {name} ORDER BY id")
        out["select"] = r
        out["matches"] = run(pc, f"SELECT b = ? FROM {name} WHERE id = 1", (big,))
        pc.close()
        return out
    finally:
        conn.close()


@probe
def text_values(ep, use_pure, tag):
    """The plain text-protocol cursor with the same values (client-side interpolation)."""
    conn = ep.connect(use_pure)
    try:
        name = f"t_text_{tag}"
        recreate(conn, name, TYPES_DDL)
        tc = conn.cursor()
        marks = ", ".join(["%s"] * TYPES_COLS)
        out = {"insert": [run(tc, f"INSERT INTO {name} VALUES ({marks})", row) for row in TYPES_ROWS]}
        tc.execute("SET SESSION sql_mode = ''")
        out["zero_dates_insert"] = run(tc, ZERO_DATES_SQL.format(name=name))
        tc.execute("SET SESSION sql_mode = DEFAULT")
        out["select_all"] = run(tc, f"SELECT * FROM {name} ORDER BY id")
        out["echo"] = [run(tc, f"SELECT {marks}", row) for row in TYPES_ROWS]
        n20 = f"t_n20text_{tag}"
        recreate(conn, n20, N20_DDL)
        m20 = ", ".join(["%s"] * 20)
        out["n20_insert"] = [run(tc, f"INSERT INTO {n20} VALUES ({m20})", row) for row in n20_rows()]
        out["n20_select"] = run(tc, f"SELECT * FROM {n20} ORDER BY id")
        tc.close()
        return out
    finally:
        conn.close()


MODES = (("pure", True), ("cext", False))


def run_all(ep: Endpoint, only):
    doc = {}
    for tag, use_pure in MODES:
        for fn in PROBES:
            if only and fn.__name__ not in only:
                continue
            key = f"{tag}:{fn.__name__}"
            try:
                doc[key] = fn(ep, use_pure, tag)
            except SystemExit:
                raise
            except Exception:  # noqa: BLE001 - a crashed probe is a result too
                doc[key] = {"probe_crashed": traceback.format_exc().splitlines()[-1]}
    return doc


def check_cext() -> str | None:
    """None when the C extension is usable, else why not."""
    if not getattr(mysql.connector, "HAVE_CEXT", False):
        return "mysql.connector.HAVE_CEXT is False"
    try:
        from _mysql_connector import MySQL  # noqa: F401
    except ImportError as exc:
        return f"_mysql_connector cannot be imported: {exc}"
    return None


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
    args = ap.parse_args()

    why = check_cext()
    if why:
        print(f"FAIL: the mysql-connector-python C extension is required and unusable: {why}")
        return 2
    print(f"mysql-connector-python {mysql.connector.__version__}, C extension available")

    if args.only_endpoint:
        ep = Endpoint(args.only_endpoint, args.user, args.password, args.database)
        print(json.dumps(normalise(run_all(ep, args.probe)), indent=1, sort_keys=True, ensure_ascii=False))
        return 0
    if not (args.direct and args.proxy):
        ap.error("need --direct and --proxy (or --only-endpoint)")

    docs = {}
    for name, spec in (("direct", args.direct), ("proxy", args.proxy)):
        docs[name] = normalise(run_all(Endpoint(spec, args.user, args.password, args.database), args.probe))
    texts = {k: json.dumps(v, indent=1, sort_keys=True, ensure_ascii=False) + "\n" for k, v in docs.items()}
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        for k, t in texts.items():
            with open(os.path.join(args.out_dir, f"{k}.json"), "w", encoding="utf-8") as f:
                f.write(t)
    crashed = [
        f"{ep}:{k}: {v['probe_crashed']}"
        for ep, doc in docs.items()
        for k, v in doc.items()
        if isinstance(v, dict) and "probe_crashed" in v
    ]
    if texts["direct"] != texts["proxy"]:
        differing = sorted(k for k in docs["direct"] if docs["direct"].get(k) != docs["proxy"].get(k))
        print(f"MISMATCH in probes: {', '.join(differing)}")
        sys.stdout.writelines(
            difflib.unified_diff(
                texts["direct"].splitlines(keepends=True),
                texts["proxy"].splitlines(keepends=True),
                fromfile=f"direct {args.direct}",
                tofile=f"proxy {args.proxy}",
                n=6,
            )
        )
        return 1
    if crashed:
        # Identical crashes on both sides mean the probe itself is broken: fail loudly.
        print("probes crashed on both endpoints:\n  " + "\n  ".join(crashed))
        return 1
    print(f"OK: {len(docs['direct'])} probes identical on direct and proxy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
