"""Benchmark (issue 11): the 环卫运行 board over --rows rows on DuckDB, PostgreSQL and Spark (local mode),
cold and warm, and what our door + engine add over each engine's own client for the same queries.

Why: a live dataset's query goes door check → row rules → re-parse → sqlglot transpile → the engine
(a new psycopg connection with statement_timeout; a Spark job group and Arrow transfer) → a polars
frame. The question for a city is (a) how long the board takes on each engine and (b) whether our
layer costs more than the engine itself. The target is ≤ 1.3× the raw client.

The same rows (a formula of the row number g, so no data crosses between engines) are made in each
engine: DuckDB through Catalog.write (a polars frame), PostgreSQL with generate_series in a schema
made for the run (dropped after), Spark as a Parquet folder under a temporary Spark warehouse (what
local mode reads after a restart). The board's tiles run one after the other (workers=1) so the
per-query sums are clean:

* cold  — the first run after linking, with an empty result cache (Spark: its session is started
          before, its start-up time is printed separately);
* warm  — the same board again with an empty result cache (the engine's own caches are warm);
* raw   — every query text the engine received during the warm run, run on the engine's own
          client (duckdb cursor, an open psycopg connection, spark.sql().toArrow()).
* ratio — ours / raw, each query measured alternately (ours, raw) --repeat times, medians summed.

It asserts nothing (shared, noisy machines).

    .venv/bin/python bench/engines.py [--rows 10000000] [--engines duckdb,postgres,spark]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import sqlglot
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from citybi.boards import board_store, run_board
from citybi.catalog import Catalog, open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.store import ChartStore
from citybi.config import QUERIES_DIR
from citybi.datasets_link import link
from citybi.warehouse import Warehouse

NAME = "环卫清运"
DAYS = 730
START = dt.date(2023, 1, 1)
DISTRICTS = ["临江区", "云湖区", "北港区", "望山区", "松岭区", "青禾新区"]
STREETS = ["东街道", "西街道", "南街道", "北街道", "中街道"]
TYPES = ["厨余垃圾", "其他垃圾", "可回收物", "有害垃圾"]


def frame(rows: int) -> pl.DataFrame:
    """The rows as a formula of g = 1..rows (PostgreSQL builds the same with generate_series)."""
    g = pl.int_range(1, rows + 1, eager=True, dtype=pl.Int64)
    district = pl.Series(DISTRICTS).gather(g % len(DISTRICTS))
    return pl.DataFrame({
        "日期": pl.Series([START]).cast(pl.Date).gather(pl.zeros(rows, dtype=pl.Int64, eager=True))
        + pl.Series((g % DAYS).cast(pl.Int64) * 86_400_000).cast(pl.Duration("ms")),
        "区": district,
        "街道": district + pl.Series(STREETS).gather(g % len(STREETS)),
        "垃圾类型": pl.Series(TYPES).gather(g % len(TYPES)),
        "清运量（吨）": (g % 97) * 0.5,
        "车次": g % 5 + 1,
        "作业人数": g % 7 + 2,
    })


def load_postgres(conn: Any, schema: str, rows: int) -> None:
    """The same rows as `frame`, made by the server (copying 10M rows through Python takes minutes)."""
    ident = sql.Identifier(schema)
    arr = sql.SQL("ARRAY[{}]::text[]")
    conn.execute(sql.SQL(
        'CREATE TABLE {}.sanitation AS SELECT (DATE {} + (g %% {})::int) AS "日期", '
        '({})[1 + g %% {}] AS "区", ({})[1 + g %% {}] || ({})[1 + g %% {}] AS "街道", '
        '({})[1 + g %% {}] AS "垃圾类型", (g %% 97) * 0.5::double precision AS "清运量（吨）", '
        '(g %% 5 + 1)::bigint AS "车次", (g %% 7 + 2)::bigint AS "作业人数" '
        "FROM generate_series(1::bigint, %s) AS g").format(
            ident, sql.Literal(START.isoformat()), sql.Literal(DAYS),
            arr.format(sql.SQL(", ").join(map(sql.Literal, DISTRICTS))), sql.Literal(len(DISTRICTS)),
            arr.format(sql.SQL(", ").join(map(sql.Literal, DISTRICTS))), sql.Literal(len(DISTRICTS)),
            arr.format(sql.SQL(", ").join(map(sql.Literal, STREETS))), sql.Literal(len(STREETS)),
            arr.format(sql.SQL(", ").join(map(sql.Literal, TYPES))), sql.Literal(len(TYPES))),
        [rows])
    conn.execute(sql.SQL("ANALYZE {}.sanitation").format(ident))


class Recorder:
    """Wraps an engine's run: every text it received, and the time Warehouse.run took around it."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.texts: list[tuple[Any, Any]] = []
        self.inner = engine.run

    def __call__(self, query: Any, params: Any, max_rows: int, timeout_s: float) -> pl.DataFrame:
        self.texts.append((query, params))
        return self.inner(query, params, max_rows, timeout_s)


def timed_runs(wh: Warehouse, rec: Recorder) -> tuple[list[tuple[float, Any, Any, Any]], Callable[[], None]]:
    """Record every Warehouse.run on `wh`: (wall time, args, kwargs, the text its engine received)."""
    calls: list[tuple[float, Any, Any, Any]] = []
    inner = wh.run

    def run(*a: Any, **k: Any) -> Any:
        before = len(rec.texts)
        t = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            took = time.perf_counter() - t
            calls.append((took, a, k, rec.texts[before] if len(rec.texts) == before + 1 else None))

    wh.run = run  # type: ignore[method-assign]
    return calls, lambda: setattr(wh, "run", inner)


def board_runs(wh: Warehouse, charts: ChartStore, today: dt.date, engine_of: Callable[[], Any],
               raw: Callable[[Any, Any], None], repeat: int) -> dict[str, float]:
    board = board_store(wh.settings).load("环卫运行")
    out: dict[str, float] = {}
    engine = engine_of()
    rec = Recorder(engine)
    engine.run = rec
    try:
        for label in ("cold", "warm"):
            calls, undo = timed_runs(wh, rec)
            t = time.perf_counter()
            run = run_board(wh, board, charts=charts, today=today, cache=ResultCache(), render=False, workers=1)
            out[label] = time.perf_counter() - t
            undo()
            errors = [t.error for t in run.tiles if t.error]
            if errors:
                raise SystemExit(f"board failed: {errors}")
            out[f"{label}_queries"] = sum(c[0] for c in calls)
            out["n"] = len(calls)
    finally:
        engine.run = rec.inner
    # ours vs raw: each of the warm run's queries through Warehouse.run, then its text on the engine's own
    # client, alternately (neither side gets the warmer caches), `repeat` times; the median of each
    ours: list[list[float]] = []
    raws: list[list[float]] = []
    pairs = [(a, k, text) for _, a, k, text in calls if text is not None]
    for a, k, (query, params) in pairs:
        mine, theirs = [], []
        for _ in range(repeat):
            t = time.perf_counter()
            wh.run(*a, **k)
            mine.append(time.perf_counter() - t)
            t = time.perf_counter()
            raw(query, params)
            theirs.append(time.perf_counter() - t)
        ours.append(mine)
        raws.append(theirs)
    out["ours"] = sum(statistics.median(x) for x in ours)
    out["raw"] = sum(statistics.median(x) for x in raws)
    print(f"  cold {out['cold']:.2f} s, warm {out['warm']:.2f} s; {len(pairs)} queries, medians of {repeat}: "
          f"ours {out['ours']:.2f} s, raw {out['raw']:.2f} s, ratio {out['ours'] / out['raw']:.2f}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--engines", default="duckdb,postgres,spark")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    which = args.engines.split(",")
    today = START + dt.timedelta(days=DAYS - 1)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        charts = ChartStore(Path(tmp) / "charts", [QUERIES_DIR / "charts"])
        t0 = time.perf_counter()
        data = frame(args.rows)
        print(f"{args.rows:,} rows made in polars in {time.perf_counter() - t0:.1f} s")
        if "duckdb" in which:
            wh = open_warehouse(path=Path(tmp) / "duck.duckdb")
            t0 = time.perf_counter()
            Catalog(wh).write(NAME, data)
            print(f"loaded into DuckDB in {time.perf_counter() - t0:.1f} s")
            cur = wh.cursor()

            def duck_raw(query: Any, params: Any) -> None:
                cur.sql(query, params=params).to_arrow_table() if params else cur.sql(query).to_arrow_table()

            results["DuckDB"] = board_runs(wh, charts, today, lambda: wh._duck, duck_raw, args.repeat)
            cur.close()
            wh.close()
        if "spark" in which:
            from citybi.engines.spark import SparkEngine, local_url

            folder = Path(tmp) / "spark-warehouse"
            (folder / "bench.db" / "sanitation").mkdir(parents=True)
            t0 = time.perf_counter()
            data.write_parquet(folder / "bench.db" / "sanitation" / "part-0.parquet", row_group_size=1_000_000)
            print(f"written as Parquet for Spark in {time.perf_counter() - t0:.1f} s")
            url = local_url(2, folder)
            t0 = time.perf_counter()
            spark = SparkEngine(url).session()
            print(f"Spark local session started in {time.perf_counter() - t0:.1f} s (once per process)")
            wh = open_warehouse(path=Path(tmp) / "spark.duckdb")
            link(Catalog(wh), NAME, url, "bench.sanitation")
            wh.run(sqlglot.parse_one(f'SELECT 1 FROM "{NAME}" LIMIT 1', dialect="duckdb"))  # routes: the engine exists

            def spark_raw(query: Any, params: Any) -> None:
                spark.sql(query).toArrow()

            results["Spark local[2]"] = board_runs(wh, charts, today, lambda: next(iter(wh._engines.values())),
                                                   spark_raw, args.repeat)
            wh.close()
        del data
        if "postgres" in which:
            schema = f"citybi_bench_{uuid.uuid4().hex[:8]}"
            conn = psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user="postgres", autocommit=True)
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            try:
                t0 = time.perf_counter()
                load_postgres(conn, schema, args.rows)
                print(f"loaded into PostgreSQL in {time.perf_counter() - t0:.1f} s")
                wh = open_warehouse(path=Path(tmp) / "pg.duckdb")
                link(Catalog(wh), NAME, args.pg, f"{schema}.sanitation")

                def pg_raw(query: Any, params: Any) -> None:
                    conn.execute(query.encode("utf-8")).fetchall()

                wh.run(sqlglot.parse_one(f'SELECT 1 FROM "{NAME}" LIMIT 1', dialect="duckdb"))
                results["PostgreSQL"] = board_runs(wh, charts, today,
                                                   lambda: next(iter(wh._engines.values())), pg_raw, args.repeat)
                wh.close()
            finally:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
                conn.close()
    print(f"\n环卫运行 board, {args.rows:,} rows, tiles one after another (workers=1)")
    print(f"{'engine':<16} {'queries':>7} {'cold s':>8} {'warm s':>8} {'ours s':>8} {'raw client s':>12} {'ratio':>6}")
    for name, r in results.items():
        print(f"{name:<16} {int(r['n']):>7} {r['cold']:>8.2f} {r['warm']:>8.2f} {r['ours']:>8.2f} {r['raw']:>12.2f} "
              f"{r['ours'] / r['raw']:>6.2f}")
    print("ours / raw: each board query through Warehouse.run (door, row rules, transpile, engine, frame) and its "
          "engine text on the engine's own client, alternately, median of --repeat; target ≤ 1.3")

if __name__ == "__main__":
    main()
