"""Benchmark (first slice of issue 11): what the door + postgres engine add over PostgreSQL's own client.

Why: a live dataset's query goes door check → row rules → re-parse → sqlglot transpile → a new
psycopg connection with statement_timeout → fetch. This prints, for a few chart-like aggregates
over --rows rows of a sanitation table in a PostgreSQL schema made for the run (dropped after),
the median time through Warehouse.run and through a raw psycopg cursor on an open connection
(the engine's own client), and their ratio. It asserts nothing (shared, noisy machines).
Not yet the issue's full bench (the 环卫运行 board over 10M rows on DuckDB/PostgreSQL/Spark).

    .venv/bin/python bench/engines.py [--rows 1000000] [--repeat 5] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import sqlglot
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from citybi.catalog import Catalog, open_warehouse
from citybi.datasets_link import link
from citybi.engines import to_dialect
from citybi.engines.postgres import fit

QUERIES = {
    "各区清运量": 'SELECT "区", SUM("清运量") AS t FROM "环卫清运" GROUP BY 1 ORDER BY t DESC',
    "按月": 'SELECT DATE_TRUNC(\'month\', "日期") AS m, SUM("清运量") FROM "环卫清运" GROUP BY 1 ORDER BY 1',
    "计数": 'SELECT COUNT(*), COUNT(DISTINCT "垃圾类型") FROM "环卫清运" WHERE "日期" >= DATE \'2024-01-01\'',
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    schema = f"citybi_bench_{uuid.uuid4().hex[:8]}"
    conn = psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user="postgres", autocommit=True)
    ident = sql.Identifier(schema)
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
    try:
        t0 = time.perf_counter()
        conn.execute(sql.SQL(
            'CREATE TABLE {}.sanitation AS SELECT DATE \'2023-01-01\' + (g %% 700) AS "日期", '
            "(ARRAY['临江区','青山区','云湖区','北港区'])[1 + g %% 4] AS \"区\", "
            "(ARRAY['厨余垃圾','其他垃圾','可回收物'])[1 + g %% 3] AS \"垃圾类型\", "
            '(g %% 97) * 0.5::double precision AS "清运量" FROM generate_series(1, %s) AS g').format(ident),
            [args.rows])
        conn.execute(sql.SQL("ANALYZE {}.sanitation").format(ident))
        print(f"loaded {args.rows:,} rows into PostgreSQL in {time.perf_counter() - t0:.1f} s")
        with tempfile.TemporaryDirectory() as tmp:
            wh = open_warehouse(path=Path(tmp) / "b.duckdb")
            link(Catalog(wh), "环卫清运", args.pg, f"{schema}.sanitation")
            target = Catalog(wh).live_target("环卫清运")
            assert target is not None
            print(f"{'query':<10} {'door+engine s':>14} {'raw psycopg s':>14} {'ratio':>6}")
            for label, text in QUERIES.items():
                tree = sqlglot.parse_one(text, dialect="duckdb")
                raw_sql = to_dialect(tree, "postgres", {"环卫清运": target.table()}, fit=fit)
                ours, raw = [], []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    wh.run(tree)
                    ours.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    conn.execute(raw_sql.encode()).fetchall()
                    raw.append(time.perf_counter() - t)
                a, b = statistics.median(ours), statistics.median(raw)
                print(f"{label:<10} {a:>14.4f} {b:>14.4f} {a / b:>6.2f}")
            wh.close()
    finally:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(ident))
        conn.close()


if __name__ == "__main__":
    main()
