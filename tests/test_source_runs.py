"""Run history of data sources in the catalog, and a failed refresh that changes nothing (real PostgreSQL)."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citybi.catalog import Catalog, open_warehouse
from citybi.refresh import INTERRUPTED, refresh_source
from citybi.sourcedefs import load_source
from citybi.warehouse import Warehouse

PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = open_warehouse(path=tmp_path / "w.duckdb")
    yield w
    w.close()


def test_history_keeps_each_run_newest_first(wh: Warehouse) -> None:
    cat = Catalog(wh)
    a = cat.start_source_run("环卫库", "环卫清运", "定时")
    cat.finish_source_run(a, status="ok", rows_added=100, version=1, message="")
    b = cat.start_source_run("环卫库", "环卫清运", "手动")
    cat.finish_source_run(b, status="failed", message="无法连接 PostgreSQL 服务器")
    cat.skipped_source_run("环卫库", "环卫清运", "定时", "上一次刷新还没有结束")
    cat.start_source_run("空气站", "空气质量", "定时")  # still running
    runs = cat.source_runs("环卫库")
    assert [(r.status_label, r.trigger, r.rows_added, r.version) for r in runs] == [
        ("已跳过", "定时", 0, None), ("失败", "手动", 0, None), ("成功", "定时", 100, 1)]
    assert all(r.ended_at is not None and r.duration_s is not None and r.duration_s >= 0 for r in runs)
    assert runs[1].message == "无法连接 PostgreSQL 服务器"
    assert {k: v.status for k, v in cat.last_source_runs().items()} == {"环卫库": "skipped", "空气站": "running"}
    assert cat.source_runs(limit=2)[0].source == "空气站"
    # the app starts again: a run a killed process left "running" did not really run
    assert cat.close_interrupted_runs(INTERRUPTED) == 1
    assert cat.last_source_runs()["空气站"].status == "failed"
    with pytest.raises(ValueError):
        cat.finish_source_run(a, status="done")


def test_state_is_kept_per_source(wh: Warehouse) -> None:
    cat = Catalog(wh)
    assert cat.source_state("环卫库") == {}
    cat.set_source_state("环卫库", {"watermark": "2024-01-01 00:00:00+00:00", "watermark_kind": "text"})
    cat.set_source_state("环卫库", {"watermark": "120", "watermark_kind": "number"})
    assert cat.source_state("环卫库") == {"watermark": "120", "watermark_kind": "number"}


# ---------------------------------------------------------------------------- against PostgreSQL
@pytest.fixture
def pg() -> Iterator[Any]:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL 127.0.0.1:5432 does not answer: {err}")
    made: list[str] = []
    conn.made = made  # type: ignore[attr-defined]
    yield conn
    for t in made:
        conn.execute(f'DROP TABLE IF EXISTS "{t}"')
    conn.close()


def _table(pg: Any, n: int) -> str:
    t = f"citybi_r_{uuid.uuid4().hex[:10]}"
    pg.made.append(t)
    pg.execute(f'CREATE TABLE {t} (id int PRIMARY KEY, "区" text, "清运量（吨）" numeric(10,2), '
               "updated_at timestamptz)")
    pg.execute(f"INSERT INTO {t} SELECT i, (array['南湖区','秀洲区'])[1 + i % 2], i * 0.25, "
               f"timestamptz '2024-01-01 00:00+08' + i * interval '1 minute' FROM generate_series(1, {n}) i")
    return t


def _snapshot(wh: Warehouse, table: str) -> tuple[int, int, str]:
    info = Catalog(wh).get(table)
    total = wh.cursor().execute(f'SELECT sum("清运量（吨）") FROM "{table}"').fetchone()[0]
    return info.row_count, info.version, str(total)


def _source(t: str, **extra: str) -> Any:
    lines = {"name": "环卫库", "url": PG, "table": "清运", "source_table": t, "key": "[id]", "watermark": "updated_at",
             **extra}
    return load_source("".join(f"{k}: {v}\n" for k, v in lines.items()))


def test_a_refresh_with_a_bad_query_leaves_the_dataset_as_it_was(pg: Any, wh: Warehouse) -> None:
    t = _table(pg, 300)
    first = refresh_source(wh, _source(t))
    assert (first.status, first.rows_added, first.version) == ("ok", 300, 1)
    before = _snapshot(wh, "清运")
    pg.execute(f"INSERT INTO {t} SELECT i, '嘉善县', 1, now() FROM generate_series(301, 320) i")
    bad = refresh_source(wh, load_source(f"name: 环卫库\nurl: {PG}\ntable: 清运\nkey: [id]\n"
                                         f"query: SELECT id, \"区\", \"清运量（吨）\", nosuch FROM {t}\n"))
    assert bad.status == "failed" and "列不存在" in bad.message
    assert _snapshot(wh, "清运") == before
    runs = Catalog(wh).source_runs("环卫库")
    assert [(r.status, r.rows_added) for r in runs] == [("failed", 0), ("ok", 300)]
    assert "列不存在" in runs[0].message
    # the watermark did not move: the next good run still takes exactly the 20 new rows
    again = refresh_source(wh, _source(t))
    assert (again.status, again.rows_added, again.rows_updated) == ("ok", 20, 0)
    assert Catalog(wh).get("清运").row_count == 320


def test_a_refresh_whose_connection_is_killed_leaves_the_dataset_as_it_was(pg: Any, wh: Warehouse) -> None:
    t = _table(pg, 300)
    assert refresh_source(wh, _source(t)).status == "ok"
    before = _snapshot(wh, "清运")
    state = Catalog(wh).source_state("环卫库")
    pg.execute(f"INSERT INTO {t} SELECT i, '嘉善县', 1, now() FROM generate_series(301, 320) i")
    # a query that takes a while, so that its server process can be terminated mid-read
    slow = _source(t, query=f"SELECT t.* FROM {t} t, pg_sleep(4) s", source_table="null")
    killed: list[int] = []

    def kill() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not killed:
            rows = pg.execute("SELECT pid FROM pg_stat_activity WHERE query ILIKE '%pg_sleep(4)%' "
                              "AND pid <> pg_backend_pid() AND state = 'active'").fetchall()
            for (pid,) in rows:
                pg.execute("SELECT pg_terminate_backend(%s)", [pid])
                killed.append(pid)
            time.sleep(0.1)

    killer = threading.Thread(target=kill)
    killer.start()
    out = refresh_source(wh, slow)
    killer.join()
    assert killed, "the slow query was never seen running"
    assert out.status == "failed" and "PostgreSQL" in out.message, out.message
    assert _snapshot(wh, "清运") == before
    assert Catalog(wh).source_state("环卫库") == state
    assert Catalog(wh).source_runs("环卫库")[0].status == "failed"
