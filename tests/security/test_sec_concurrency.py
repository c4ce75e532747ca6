"""20 users at once while a 200k-row replace runs: no errors, and every number is the caller's own.

The web app serves every session from one Warehouse (one DuckDB file, a cursor per thread) and
one result cache. Here 20 threads, each under its own context (领导, 分析员 and 科员 of 城管局 in
four districts), open the 环卫运行 board and ask 「各区清运量」 over and over, while another
thread replaces 环卫清运 with 200,000 rows. Each board tile and each answer must equal the
SYSTEM numbers for that user's district — of the version before the replace or of the one
after, never a mix inside one query and never another district's (a shared cache keyed by
scope must not hand one user's rows to another). Latencies are bench/load.py's job.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlglot import exp

from citybi import context, nlq
from citybi.boards import FilterValues, board_store, default_chart_store, run_board
from citybi.catalog import Catalog, CatalogDirectory, open_warehouse
from citybi.charts.cache import ResultCache
from citybi.context import SYSTEM, Context, Scope
from citybi.warehouse import Warehouse

TODAY = dt.date(2025, 6, 30)
DATASET = "环卫清运"
QUESTION = "各区清运量"
UPLOAD_ROWS = 200_000
DISTRICTS = ("临江区", "云湖区", "松岭区", "北港区")
ROLES = ("leader", "analyst", "clerk", "leader", "analyst")
USERS = [Context(f"{d}{i}", ROLES[i], Scope("城管局", frozenset({d}))) for d in DISTRICTS for i in range(5)]
UPLOADER = Context("城管科员", "clerk", Scope("城管局", None))
ROUNDS = 2

Fingerprint = tuple[tuple[Any, ...], ...]


def _rows(frame: pl.DataFrame) -> Fingerprint:
    """A frame's rows, sorted, floats rounded (sums in another order differ in the last bits)."""
    def cell(v: Any) -> Any:
        return round(v, 6) if isinstance(v, float) else v
    return tuple(sorted((tuple(cell(v) for v in row) for row in frame.rows()), key=repr))


def _board(wh: Warehouse, cache: ResultCache | None, district: str | None) -> dict[str, Fingerprint]:
    """Each tile's frames (one query each); `district` filters the board as SYSTEM does (None: the caller's own run)."""
    board = board_store(wh.settings).load("环卫运行")
    values = FilterValues(dimensions={"区": (district,)}) if district else None
    run = run_board(wh, board, charts=default_chart_store(wh.settings), values=values, today=TODAY,
                    cache=cache, workers=2, render=False)
    errors = [(t.title, t.error) for t in run.tiles if t.error]
    assert errors == [], errors
    return {f"{t.title}/{name}": _rows(frame) for t in run.tiles if t.result is not None
            for name, frame in t.result.frames.items()}


def _ask(wh: Warehouse) -> Fingerprint:
    ans = nlq.answer(QUESTION, Catalog(wh).datasets(), lambda t: wh.run(t), table=DATASET, today=TODAY)
    assert ans.status == "ok", ans.message
    return _rows(pl.DataFrame(ans.rows, schema=ans.columns, orient="row"))


def _system_ask(wh: Warehouse, district: str) -> Fingerprint:
    sql = (exp.select(exp.column("区"), exp.Sum(this=exp.column("清运量（吨）")))
           .from_(exp.to_table(f'"{DATASET}"')).where(exp.column("区").eq(district)).group_by(exp.column("区")))
    with context.use(SYSTEM):
        return _rows(wh.run(sql).frame)


def _expected(wh: Warehouse) -> dict[str, tuple[dict[str, Fingerprint], Fingerprint]]:
    with context.use(SYSTEM):
        return {d: (_board(wh, ResultCache(), d), _system_ask(wh, d)) for d in DISTRICTS}


@pytest.fixture(scope="module")
def city(sample_copy: Callable[[str], Path]) -> Iterator[Warehouse]:
    wh = open_warehouse(path=sample_copy("concurrency"))
    yield wh
    wh.close()


def _upload_frame(wh: Warehouse) -> pl.DataFrame:
    """200k rows shaped like 环卫清运: its rows repeated, 清运量 changed so every sum moves."""
    with context.use(SYSTEM):
        old = wh.run(exp.select("*").from_(exp.to_table(f'"{DATASET}"')), max_rows=1_000_000).frame
    times = -(-UPLOAD_ROWS // old.height)
    big = pl.concat([old] * times).head(UPLOAD_ROWS)
    return big.with_columns((pl.col("清运量（吨）") * 2 + 1).alias("清运量（吨）"))


def test_20_users_read_and_ask_while_a_200k_row_replace_runs(city: Warehouse) -> None:
    app = Warehouse(city.settings, directory=CatalogDirectory(), require_context=True)  # as the app opens it
    before = _expected(app)
    frame = _upload_frame(city)
    cache = ResultCache()  # one per process, shared by every session, as in the app
    seen: dict[str, list[tuple[dict[str, Fingerprint], Fingerprint]]] = {u.user: [] for u in USERS}
    failures: list[str] = []
    go = threading.Barrier(len(USERS) + 1)
    reads: list[float] = []  # when each user's reading ended
    upload_span: list[float] = []

    def user(ctx: Context) -> None:
        try:
            go.wait()
            with context.use(ctx):
                for _ in range(ROUNDS):
                    seen[ctx.user].append((_board(app, cache, None), _ask(app)))
            reads.append(time.monotonic())
        except BaseException as err:  # collected: an error in a thread must fail the test
            failures.append(f"{ctx.user}: {type(err).__name__}: {err}")

    def upload() -> None:
        try:
            go.wait()
            upload_span.append(time.monotonic())
            with context.use(UPLOADER):
                done = Catalog(app).write(DATASET, frame, mode="replace")
            upload_span.append(time.monotonic())
            assert done.rows_written == UPLOAD_ROWS
        except BaseException as err:
            failures.append(f"upload: {type(err).__name__}: {err}")

    threads = [threading.Thread(target=user, args=(u,)) for u in USERS] + [threading.Thread(target=upload)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    assert not any(t.is_alive() for t in threads), "a user or the upload hung"
    assert failures == []
    assert max(reads) > upload_span[1], "the users must still be reading when the upload ends"

    after = _expected(app)
    assert all(before[d] != after[d] for d in DISTRICTS), "the replace must change every district's numbers"
    for ctx in USERS:
        (district,) = ctx.scope.districts or ()
        assert len(seen[ctx.user]) == ROUNDS
        for board, answer in seen[ctx.user]:
            assert answer in (before[district][1], after[district][1]), (ctx.user, answer)
            for title, rows in board.items():
                assert rows in (before[district][0][title], after[district][0][title]), (ctx.user, title, rows)
