#!/usr/bin/env python3
"""A STRONG write through the proxy with PyMySQL, then SHOW WARNINGS (driven by consistency.rs).

Usage: py_warnings.py <port> <table> <id>

Connects as app/app to database `app` on 127.0.0.1:<port>, switches the session to STRONG,
inserts row <id> into <table> and prints what the driver saw, one fact per line:

    warning_count<TAB><count from the INSERT's OK packet>
    warning<TAB><Level><TAB><Code><TAB><Message>      (one line per SHOW WARNINGS row)

Any driver error is left to propagate: a traceback and a non-zero exit status.
"""

import sys

import pymysql


def main() -> int:
    port, table, row_id = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    conn = pymysql.connect(
        host="127.0.0.1",
        port=port,
        user="app",
        password="app",
        database="app",
        autocommit=True,
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SET myquorum_consistency = 'STRONG'")
            cur.execute(f"INSERT INTO {table} (id, v) VALUES (%s, 'py')", (row_id,))
            print(f"warning_count\t{cur._result.warning_count}")
            cur.execute("SHOW WARNINGS")
            for level, code, message in cur.fetchall():
                print(f"warning\t{level}\t{code}\t{message}")
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
