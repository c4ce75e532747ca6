"""Which driver moves database rows into Arrow fastest here: the figures in pyproject.toml.

    .venv/bin/python bench/source_drivers.py [ROWS]        (default 200,000)

Makes a sanitation-like table (date, two Chinese text columns, numeric(10,2), integer,
timestamp) with a unique name in the local PostgreSQL (test database) and MariaDB (test),
times each driver fetching all of it into an Arrow table (best of 3), prints rows/s and
the Arrow types each driver produced, and drops the tables. Drivers that are not installed
are skipped: ADBC (`adbc-driver-postgresql`) and `mysql-connector-python` are not project
dependencies; install them into a scratch venv to repeat the comparison.
"""
from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable

import pyarrow as pa

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
T = f"bench_src_{os.getpid()}"
PG = "postgresql://postgres@127.0.0.1:5432/test"
MY = "mysql://root@127.0.0.1:3306/test"


def timed(label: str, fn: Callable[[], pa.Table], reps: int = 3) -> None:
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    assert out is not None
    types = ", ".join(str(f.type) for f in out.schema)
    print(f"  {label:34s} {best:7.3f} s {N / best:>11,.0f} rows/s  [{types}]", flush=True)


def columns(names: list[str], rows: list[tuple[object, ...]]) -> pa.Table:
    return pa.table({n: pa.array(c) for n, c in zip(names, zip(*rows, strict=True), strict=True)})


def postgres() -> None:
    import connectorx as cx
    import polars as pl
    import psycopg

    pg = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True)
    pg.execute(f'''CREATE TABLE {T} AS SELECT (date '2024-01-01' + (i % 365)) AS "日期",
      (array['东城区','西城区','朝阳区','海淀区'])[1 + i % 4] AS "区",
      (array['厨余垃圾','其他垃圾','可回收物'])[1 + i % 3] AS "垃圾类型",
      round((random()*20)::numeric, 2)::numeric(10,2) AS "清运量（吨）", i AS id,
      timestamptz '2024-01-01 00:00+08' + i * interval '1 minute' AS ts FROM generate_series(1, {N}) i''')
    q = f"SELECT * FROM {T}"
    print(f"PostgreSQL, {N:,} rows")
    try:
        def binary_fetch() -> pa.Table:
            with pg.cursor(binary=True) as cur:
                cur.execute(q)
                return columns([d.name for d in cur.description or []], cur.fetchall())

        def copy_csv() -> pa.Table:
            buf = io.BytesIO()
            with pg.cursor() as cur, cur.copy(f"COPY ({q}) TO STDOUT (FORMAT csv, HEADER)") as cp:
                for chunk in cp:
                    buf.write(chunk)
            buf.seek(0)
            return pl.read_csv(buf, try_parse_dates=True).to_arrow()

        timed("psycopg 3 binary fetchall", binary_fetch)
        timed("psycopg 3 COPY csv -> polars", copy_csv)
        try:
            import adbc_driver_postgresql.dbapi as adbc
        except ImportError:
            print("  adbc-driver-postgresql: not installed, skipped")
        else:
            with adbc.connect(PG, autocommit=True) as ac:
                def adbc_fetch() -> pa.Table:
                    with ac.cursor() as cur:
                        cur.execute(q)
                        return cur.fetch_arrow_table()
                timed("adbc-driver-postgresql", adbc_fetch)
        timed("connectorx", lambda: cx.read_sql(PG, q, return_type="arrow"))
    finally:
        pg.execute(f"DROP TABLE IF EXISTS {T}")
        pg.close()


def mariadb() -> None:
    import connectorx as cx
    import pymysql

    my = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test",
                         charset="utf8mb4", autocommit=True)
    with my.cursor() as c:
        c.execute(f"""CREATE TABLE {T} (`日期` DATE, `区` VARCHAR(20), `垃圾类型` VARCHAR(20),
          `清运量（吨）` DECIMAL(10,2), id INT, ts DATETIME) DEFAULT CHARSET=utf8mb4""")
        c.execute(f"""INSERT INTO {T} SELECT DATE('2024-01-01') + INTERVAL (seq % 365) DAY,
          ELT(1 + seq % 4,'东城区','西城区','朝阳区','海淀区'), ELT(1 + seq % 3,'厨余垃圾','其他垃圾','可回收物'),
          ROUND(RAND()*20, 2), seq, TIMESTAMP('2024-01-01') + INTERVAL seq MINUTE FROM seq_1_to_{N}""")
    q = f"SELECT * FROM {T}"
    print(f"MariaDB, {N:,} rows")
    try:
        def pymysql_fetch() -> pa.Table:
            with my.cursor(pymysql.cursors.SSCursor) as cur:
                cur.execute(q)
                return columns([d[0] for d in cur.description], cur.fetchall())

        timed("PyMySQL SSCursor", pymysql_fetch)
        try:
            import mysql.connector
        except ImportError:
            print("  mysql-connector-python: not installed, skipped")
        else:
            mc = mysql.connector.connect(host="127.0.0.1", port=3306, user="root", password="", database="test")

            def mc_fetch() -> pa.Table:
                cur = mc.cursor()
                cur.execute(q)
                out = columns([d[0] for d in cur.description], cur.fetchall())
                cur.close()
                return out
            timed(f"mysql-connector ({type(mc).__name__})", mc_fetch)
            mc.close()
        timed("connectorx", lambda: cx.read_sql(MY, q, return_type="arrow"))
    finally:
        with my.cursor() as c:
            c.execute(f"DROP TABLE IF EXISTS {T}")
        my.close()


if __name__ == "__main__":
    postgres()
    mariadb()
