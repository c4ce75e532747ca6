"""数据源 in the browser: a clerk adds a PostgreSQL source on the page, refreshes it, and sees the run.

Against the real PostgreSQL of this machine (a table made and dropped here) and the app exactly
as `make run` starts it (conftest): the refresh runs on the app's own scheduler, and the page
notices its end by itself (it polls while a run it started is going).
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

from browser_app import RunningApp  # noqa: E402  (after the importorskip on purpose)
from test_flows import grid_rows, open_page  # noqa: E402

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
    page.get_by_role("tab", name="运行记录").click()
    runs = [r for r in grid_rows(page, "触发", "手动") if r["数据源"] == name]
    assert [(r["状态"], r["新增行"], r["触发"]) for r in runs] == [("成功", str(ROWS), "手动")]
    assert float(runs[0]["用时（秒）"]) > 0
