"""Benchmark: latency per action with 20 users at once while 200k-row uploads run (issue 10, item 7).

Why: the web app serves every session from one warehouse file and one result cache, and an
upload holds a write transaction while sessions keep reading. This measures what a user waits
for under that load — a whole 环卫运行 board (KPI cards and charts drawn, as the page does), a
问数 question, and the uploads themselves (a 200k-row CSV through the importer, replacing
环卫清运) — and prints p50/p95/p99 per action. Each user is a thread under its own context
(领导/分析员/科员 of 城管局 in four districts), the same core calls the pages make.
It asserts nothing (the correctness under this load is tests/security/test_sec_concurrency.py):
the machines are shared and noisy; compare figures from the same run.

    .venv/bin/python bench/load.py [--users 20] [--rounds 5] [--uploads 3] [--rows 200000]

A throw-away warehouse with the sample city is made in a temp folder (~15 s).
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl
from sqlglot import exp

from citybi import context, nlq
from citybi.boards import board_store, default_chart_store, run_board
from citybi.catalog import Catalog, CatalogDirectory, open_warehouse
from citybi.charts.cache import ResultCache
from citybi.context import SYSTEM, Context, Scope
from citybi.importer import ingest_file
from citybi.samples import load_samples
from citybi.warehouse import Warehouse

BOARD = "环卫运行"
DATASET = "环卫清运"
QUESTIONS = ("各区清运量", "北港区的清运量是多少", "本月每天的清运量", "各垃圾类型的清运量")
DISTRICTS = ("临江区", "云湖区", "松岭区", "北港区")
ROLES = ("leader", "analyst", "clerk", "leader", "analyst")
UPLOADER = Context("城管科员", "clerk", Scope("城管局", None))


def users(n: int) -> list[Context]:
    return [Context(f"用户{i}", ROLES[i % len(ROLES)], Scope("城管局", frozenset({DISTRICTS[i % len(DISTRICTS)]})))
            for i in range(n)]


def upload_csv(wh: Warehouse, rows: int, out: Path) -> Path:
    """A `rows`-row CSV shaped like 环卫清运 (its rows repeated), as a department would upload it."""
    with context.use(SYSTEM):
        old = wh.run(exp.select("*").from_(exp.to_table(f'"{DATASET}"')), max_rows=1_000_000).frame
    big = pl.concat([old] * -(-rows // old.height)).head(rows)
    big.write_csv(out)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5, help="board + question rounds per user, at least")
    ap.add_argument("--uploads", type=int, default=3, help="200k-row replaces, one after another")
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="citybi_load_"))
    setup = open_warehouse(path=tmp / "citybi.duckdb")
    t0 = time.perf_counter()
    load_samples(setup)
    csv = upload_csv(setup, args.rows, tmp / "环卫清运_上传.csv")
    setup.close()
    print(f"sample city loaded and {args.rows:,}-row CSV written in {time.perf_counter() - t0:.1f} s ({tmp})")

    app = Warehouse(path=tmp / "citybi.duckdb", directory=CatalogDirectory(), require_context=True)
    cache = ResultCache()  # one per process, as in the app
    board = board_store(app.settings).load(BOARD)
    charts = default_chart_store(app.settings)
    times: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    uploading = threading.Event()
    uploading.set()
    go = threading.Barrier(args.users + 1)

    def timed(action: str, fn: object) -> None:
        start = time.perf_counter()
        try:
            fn()  # type: ignore[operator]
        except Exception as err:  # counted and printed: the load must not hide a failure
            with lock:
                errors.append(f"{action}: {type(err).__name__}: {err}")
        with lock:
            times[action].append(time.perf_counter() - start)

    def board_once() -> None:
        run = run_board(app, board, charts=charts, cache=cache)
        bad = [t.error for t in run.tiles if t.error]
        if bad:
            raise RuntimeError("；".join(str(b) for b in bad))

    def ask_once(question: str) -> None:
        ans = nlq.answer(question, Catalog(app).datasets(), lambda t: app.run(t), table=DATASET,
                         today=dt.date.today())
        if ans.status != "ok":
            raise RuntimeError(ans.message)

    def user(ctx: Context, offset: int) -> None:
        go.wait()
        with context.use(ctx):
            done = 0
            while done < args.rounds or uploading.is_set():
                timed("board", board_once)
                question = QUESTIONS[(offset + done) % len(QUESTIONS)]
                timed("question", lambda q=question: ask_once(q))
                done += 1

    def upload() -> None:
        go.wait()
        try:
            with context.use(UPLOADER):
                for _ in range(args.uploads):
                    timed("upload", lambda: ingest_file(app, csv, table=DATASET, mode="replace"))
        finally:
            uploading.clear()

    threads = [threading.Thread(target=user, args=(u, i)) for i, u in enumerate(users(args.users))]
    threads.append(threading.Thread(target=upload))
    wall = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall

    print(f"{args.users} users, {args.uploads} uploads of {args.rows:,} rows, {wall:.1f} s wall, "
          f"{len(errors)} errors")
    print(f"{'action':<10}{'n':>6}{'p50 s':>9}{'p95 s':>9}{'p99 s':>9}{'max s':>9}{'mean s':>9}")
    for action in ("board", "question", "upload"):
        v = times[action]
        if v:
            print(f"{action:<10}{len(v):>6}{percentile(v, 50):>9.3f}{percentile(v, 95):>9.3f}"
                  f"{percentile(v, 99):>9.3f}{max(v):>9.3f}{statistics.fmean(v):>9.3f}")
    for err in errors[:10]:
        print("error:", err)
    app.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
