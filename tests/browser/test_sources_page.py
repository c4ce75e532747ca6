"""数据源 in the browser: a clerk adds a PostgreSQL source on the page, refreshes it, and sees the run.

Against the real PostgreSQL of this machine (a table made and dropped here) and the app exactly
as `make run` starts it (conftest): the refresh runs on the app's own scheduler, and the page
notices its end by itself (it polls while a run it started is going).
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

from browser_app import RunningApp  # noqa: E402  (after the importorskip on purpose)
from sources_upstream import add_rows, definitions, make_upstream, publish, wait_for  # noqa: E402
from test_flows import grid_rows, open_page, open_tab, pick  # noqa: E402

from citybi.sourcedefs import SourceFolder, source_from_dict  # noqa: E402

ROWS = 80


@pytest.fixture
def pg_table() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL 127.0.0.1:5432 does not answer: {err}")
    t = f"citybi_b_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE TABLE {t} (id int PRIMARY KEY, "区" text, "清运量（吨）" numeric(10,2))')
    conn.execute(f"INSERT INTO {t} SELECT i, (array['南湖区','秀洲区'])[1 + i % 2], i * 0.5 "
                 f"FROM generate_series(1, {ROWS}) i")
    yield t
    conn.execute(f"DROP TABLE IF EXISTS {t}")
    conn.close()


def test_add_a_postgres_source_refresh_it_and_see_the_history(page: Any, app_server: RunningApp,
                                                               pg_table: str) -> None:
    name, dataset = f"环卫库{pg_table[-4:]}", f"浏览器清运{pg_table[-4:]}"
    open_page(page, app_server, "/sources", "数据源")
    page.get_by_role("tab", name="添加 / 编辑").click()
    form = page.locator('[data-testid="stForm"]').first
    form.get_by_label("名称", exact=True).fill(name)
    form.get_by_label("地址", exact=True).fill("postgresql://postgres@127.0.0.1:5432/test")
    form.get_by_label("写入的数据集名称", exact=True).fill(dataset)
    form.get_by_label("源表（数据库）", exact=True).fill(pg_table)
    form.get_by_text("每次整表替换", exact=True).click()
    form.get_by_role("button", name="测试连接").click()
    expect(page.get_by_text("共 3 列：id、区、清运量（吨）")).to_be_visible()
    form.get_by_role("button", name="保存").click()
    expect(page.get_by_text(f"已保存数据源「{name}」（仅手动刷新）。")).to_be_visible()
    assert (app_server.db.with_name(app_server.db.name + ".sources") / f"{name}.yaml").is_file()

    overview = grid_rows(page, "刷新计划", name)
    assert [(r["名称"], r["类型"], r["数据集"], r["状态"]) for r in overview if r["名称"] == name] == [
        (name, "PostgreSQL", dataset, "尚未运行")]

    page.get_by_role("tab", name="管理").click()
    page.get_by_role("button", name="立即刷新").click()
    expect(page.get_by_text(f"已开始刷新「{name}」")).to_be_visible()
    # the overview polls while the run goes and redraws the page when it has ended
    overview_grid = page.locator('table[role="grid"]:has(th:text-is("刷新计划"))').last
    overview_grid.locator('td:text-is("成功")').first.wait_for(state="attached", timeout=60_000)
    overview = grid_rows(page, "刷新计划", name)
    assert [(r["状态"], r["上次新增行"]) for r in overview if r["名称"] == name] == [("成功", str(ROWS))]
    open_tab(page, "运行记录", page.locator('table[role="grid"]:has(th:text-is("触发")) td:text-is("手动")'))
    runs = [r for r in grid_rows(page, "触发", "手动") if r["数据源"] == name]
    assert [(r["状态"], r["新增行"], r["触发"]) for r in runs] == [("成功", str(ROWS), "手动")]
    assert float(runs[0]["用时（秒）"]) > 0


@pytest.fixture
def upstream() -> Iterator[dict[str, Any]]:
    yield from make_upstream()


def _history(app: RunningApp, name: str) -> list[dict[str, Any]]:
    """The source's runs as `citybi sources history` reads them from the running app (its inbox)."""
    cli = Path(sys.executable).with_name("citybi")
    out = subprocess.run([str(cli), "sources", "history", name, "--db", str(app.db), "--json", "--limit", "1000"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def _added(app: RunningApp, name: str) -> int:
    return sum(r["rows_added"] for r in _history(app, name) if r["status"] == "ok")


def test_four_kinds_land_on_schedule_while_the_app_runs(page: Any, app_server: RunningApp,
                                                        upstream: dict[str, Any]) -> None:
    """PostgreSQL, MariaDB, a JSON feed and an MQTT topic, defined as files the running app picks up."""
    add_rows(upstream, 1, 200)
    # no page is opened first: the schedule runs from the server's start (citybi/ui/serve.py), whoever visits
    folder = SourceFolder(app_server.db.with_name(app_server.db.name + ".sources"))
    defs = [source_from_dict(d) for d in definitions(upstream, every=2)]
    try:
        for d in defs:
            folder.save(d)
        # the app reads the folder every 10 s; the first MQTT run opens the source's broker session
        assert wait_for(lambda: any(r["status"] == "ok" for r in _history(app_server, "传感器")), 90)
        publish(upstream["topic"], [("南湖站", m) for m in range(50)])
        expected = {"环卫PG": 200, "环卫MY": 200, "空气接口": 200, "传感器": 50}
        assert wait_for(lambda: {n: _added(app_server, n) for n in expected} == expected, 90)
        add_rows(upstream, 201, 230)
        publish(upstream["topic"], [("秀洲站", m) for m in range(20)] + [("南湖站", m) for m in range(10)])
        expected = {"环卫PG": 230, "环卫MY": 230, "空气接口": 230, "传感器": 70}
        assert wait_for(lambda: {n: _added(app_server, n) for n in expected} == expected, 90)
        for name in expected:
            assert not [r["message"] for r in _history(app_server, name) if r["status"] == "failed"]

        # the datasets hold exactly those rows: the 数据集 page reads them from the warehouse the schedule writes
        open_page(page, app_server, "/datasets", "数据集")
        sizes = {r["数据集"]: r["行数"] for r in grid_rows(page, "行数", "清运PG")}
        assert {d.table: sizes.get(d.table) for d in defs} == {"清运PG": "230", "清运MY": "230", "空气站": "230",
                                                               "传感器": "70"}

        open_page(page, app_server, "/sources", "数据源")
        overview = {r["名称"]: r for r in grid_rows(page, "刷新计划", "环卫PG")}
        for d in defs:
            row = overview[d.name]
            assert (row["类型"], row["数据集"], row["刷新计划"]) == (d.kind_label, d.table, "每 2 秒")
            assert row["状态"] in ("成功", "刷新中") and row["隔离数据"] == "0"
        page.get_by_role("tab", name="运行记录").click()
        pick(page, "查看哪个数据源的记录", "传感器")
        # the history redraws for the chosen source after the rerun the choice starts
        runs: list[dict[str, str]] = []
        for _poll in range(60):
            runs = grid_rows(page, "触发", "定时")
            if {r["数据源"] for r in runs} == {"传感器"}:
                break
            page.wait_for_timeout(500)
        assert runs and {r["数据源"] for r in runs} == {"传感器"}
        assert {r["状态"] for r in runs} <= {"成功", "运行中", "已跳过"} and "成功" in {r["状态"] for r in runs}
    finally:
        for d in defs:
            folder.delete(d.name)
