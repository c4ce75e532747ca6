"""SQL 查询 page (AppTest): rows come back through the door, errors read as Chinese messages,
a simple query becomes a saved chart, a role without "sql.run" is refused, and a restricted
user's rows are narrowed to their scope."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from signed_in import signed_in
from streamlit.testing.v1 import AppTest

from citybi.catalog import Catalog, open_warehouse
from citybi.charts.store import chart_store
from citybi.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "sql.py")


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    wh = open_warehouse(path=path)
    Catalog(wh).write("环卫清运", pl.DataFrame({
        "日期": [dt.date(2024, 6, 1), dt.date(2024, 6, 2), dt.date(2024, 6, 2)],
        "区": ["临江区", "北港区", "临江区"],
        "清运量（吨）": [12.5, 8.0, 2.5],
    }))
    wh.close()
    return path




def _page(role: str = "analyst", districts: tuple[str, ...] | None = None) -> AppTest:
    return signed_in(PAGE, role, "城管局", districts)


def _run(at: AppTest, sql: str) -> AppTest:
    at.text_area(key="sql_text").input(sql)
    return at.button(key="sql_run").click().run()


def test_runs_a_select_and_offers_csv(db: Path) -> None:
    at = _page().run()
    assert not at.exception
    at = _run(at, 'SELECT 区, SUM("清运量（吨）") AS 吨 FROM 环卫清运 GROUP BY 区 ORDER BY 吨 DESC')
    assert not at.exception and not at.error
    assert at.dataframe[0].value["区"].to_list() == ["临江区", "北港区"]
    assert any("2 行" in c.value for c in at.caption)


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELEC 区 FROM 环卫清运", "第 1 行"),
    ("SELECT 1; SELECT 2", "一次只能执行一条查询"),
    ("DELETE FROM 环卫清运", "只能执行 SELECT"),
    ("SELECT * FROM read_csv('/etc/passwd')", "不能调用表函数"),
])
def test_bad_sql_is_a_chinese_message(db: Path, sql: str, expected: str) -> None:
    at = _run(_page().run(), sql)
    assert not at.exception
    assert any(expected in e.value for e in at.error), [e.value for e in at.error]


def test_simple_query_becomes_a_saved_table_chart(db: Path) -> None:
    at = _run(_page().run(),
              'SELECT 区, SUM("清运量（吨）") AS 吨 FROM 环卫清运 GROUP BY 区')
    at.text_input(key="sql_chart_title").input("各区清运量SQL")
    at = at.button(key="sql_chart_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = chart_store(load_settings(str(db))).load("各区清运量SQL")
    assert (spec.type, spec.dataset, [d.column for d in spec.dimensions]) == ("table", "环卫清运", ["区"])


def test_no_signed_in_caller_reads_nothing(db: Path) -> None:
    _page("analyst")  # an account exists: every page needs a login
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception and not at.dataframe and not at.text_area
    assert [t.value for t in at.title] == ["登录"]


def test_clerk_is_refused(db: Path) -> None:
    at = _page("clerk").run()
    assert not at.exception
    assert any("您没有权限使用 SQL 查询" in e.value for e in at.error)
    assert not at.text_area


def test_restricted_analyst_sees_only_their_district(db: Path) -> None:
    at = _page("analyst", ("临江区",)).run()
    at = _run(at, "SELECT 区, \"清运量（吨）\" FROM 环卫清运 WHERE 区 = '北港区' OR 1=1")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert set(at.dataframe[0].value["区"].to_list()) == {"临江区"}
    assert any("按您的数据权限，只包含：临江区" in c.value for c in at.caption)
