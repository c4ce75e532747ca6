"""The 环卫运行 board in the browser on a live PostgreSQL dataset: the sample city's 环卫清运 is
copied into its own PostgreSQL schema, linked with `citybi datasets link` (the rows stay in
PostgreSQL), and the board's KPI cards show what plain SQL on PostgreSQL gives; the 数据集 page
says where the dataset lives.

Needs the PostgreSQL server on 127.0.0.1:5432 (database test, trust). The schema has a unique
name per run and is dropped afterwards.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
psycopg = pytest.importorskip("psycopg")
from pg_server import pg_connect  # noqa: E402  (after the importorskip on purpose)

expect = sync_api.expect

from browser_app import BOARD, FIRST_LOAD_MS, RunningApp, SampleFacts, kpi_value  # noqa: E402

pytestmark = pytest.mark.service

PG = "postgresql://postgres@127.0.0.1:5432/test"
DATASET = "环卫清运"
TABLE = "sanitation"
# the sample table's DuckDB types → PostgreSQL (its ENUM columns are text to PostgreSQL)
PG_TYPES = {"DATE": "date", "DOUBLE": "double precision", "BIGINT": "bigint", "INTEGER": "integer"}



@pytest.fixture(scope="module")
def pg_schema(sample_warehouse: tuple[Path, SampleFacts]) -> Iterator[str]:
    """A schema holding the pristine sample warehouse's 环卫清运, row for row."""
    import duckdb
    from psycopg import sql  # identifiers of our own fixture, on our own server: never user text

    pristine, _facts = sample_warehouse
    con = duckdb.connect(str(pristine), read_only=True)
    try:
        columns = [(name, PG_TYPES.get(kind, "text")) for name, kind, *_ in
                   con.execute(f'DESCRIBE "{DATASET}"').fetchall()]
        rows = con.execute(f'SELECT * FROM "{DATASET}"').fetchall()
    finally:
        con.close()
    name = f"citybi_brw_{uuid.uuid4().hex[:10]}"
    conn = pg_connect()
    target = sql.Identifier(name, TABLE)
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns)))
        with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} FROM STDIN").format(target)) as copy:
            for row in rows:
                copy.write_row(row)
        yield name
    finally:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
        conn.close()


@pytest.fixture(scope="module")
def live_app(pg_schema: str, sample_warehouse: tuple[Path, SampleFacts],
             serve_warehouse: Callable[[Path, SampleFacts], contextlib.AbstractContextManager[RunningApp]],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app on a warehouse whose only dataset is 环卫清运, linked live the way an operator does it."""
    db = tmp_path_factory.mktemp("citybi_live_pg") / "citybi.duckdb"
    script = Path(sys.executable).with_name("citybi")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "citybi.cli"]
    proc = subprocess.run([*cmd, "datasets", "link", DATASET, "--engine", PG, "--source-table",
                           f"{pg_schema}.{TABLE}", "--db", str(db)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with serve_warehouse(db, sample_warehouse[1]) as app:
        yield app


def _pg_one(query: Any, *params: Any) -> Any:
    conn = pg_connect()
    try:
        return conn.execute(query, params).fetchone()
    finally:
        conn.close()


def _pg_all(query: Any) -> list[Any]:
    conn = pg_connect()
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def test_the_board_on_a_live_postgres_dataset_shows_what_postgres_sums(page: Any, live_app: RunningApp,
                                                                         pg_schema: str) -> None:
    from psycopg import sql

    table = sql.Identifier(pg_schema, TABLE)
    # the samples end long before today, so the board's "today" is their last day (charts.profile)
    (last,) = _pg_one(sql.SQL('SELECT MAX("日期") FROM {}').format(table))
    week, month = (last - dt.timedelta(days=6), last), (last.replace(day=1), last)
    sums = sql.SQL('SELECT SUM("清运量（吨）"), SUM("车次") FROM {} WHERE "日期" BETWEEN %s AND %s').format(table)
    week_tons, week_trips = _pg_one(sums, *week)
    month_tons, _ = _pg_one(sums, *month)
    assert week_tons and week_trips and month_tons  # the window holds rows: the cards are not all zero

    page.goto(f"{live_app.url}/boards?board={BOARD}", wait_until="domcontentloaded")
    expect(page.locator("h1", has_text=BOARD)).to_be_visible(timeout=FIRST_LOAD_MS)
    page.locator('[data-testid="stMetricValue"]').first.wait_for()
    for title, want in [("近7天清运量", week_tons), ("本月清运量", month_tons), ("近7天出车车次", week_trips)]:
        expect(kpi_value(page, title)).to_have_text(re.compile(rf"^{re.escape(format(want, ',.0f'))}"))
    # the district chart drew PostgreSQL's districts, and no tile of the board failed
    districts = {d for (d,) in _pg_all(sql.SQL('SELECT DISTINCT "区" FROM {}').format(table))}
    plot = page.locator(".js-plotly-plot", has=page.locator("text.gtitle", has_text="各区清运量"))
    expect(plot.locator("g.xtick text").first).to_be_visible()
    ticks = set(plot.locator("g.xtick text").evaluate_all("els => els.map(e => e.textContent)"))
    assert ticks and ticks <= districts, (ticks, districts)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)

    page.goto(f"{live_app.url}/datasets?ds={DATASET}", wait_until="domcontentloaded")
    expect(page.get_by_text(f"存放位置：PostgreSQL 127.0.0.1:5432/test 的表 {pg_schema}.{TABLE}")).to_be_visible(
        timeout=FIRST_LOAD_MS)
