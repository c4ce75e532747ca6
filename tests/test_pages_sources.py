"""The 数据源 page (Streamlit AppTest): list, add through the form, 测试连接, 立即刷新, 暂停/恢复, history."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sources_upstream import json_feed
from streamlit.testing.v1 import AppTest

from citybi.catalog import open_warehouse
from citybi.config import load_settings
from citybi.sourcedefs import SourceFolder

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    open_warehouse(path=path).close()
    return path


@pytest.fixture
def pg_table() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL does not answer: {err}")
    t = f"citybi_p_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE TABLE {t} (id int PRIMARY KEY, "区" text, "清运量（吨）" numeric(10,2))')
    conn.execute(f"INSERT INTO {t} SELECT i, '南湖区', i * 0.5 FROM generate_series(1, 120) i")
    yield t
    conn.execute(f"DROP TABLE IF EXISTS {t}")
    conn.close()


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "sources.py"), default_timeout=60)


def _texts(at: AppTest, kind: str) -> list[str]:
    """Messages as a clerk reads them (the page escapes Markdown in what it quotes)."""
    return [e.value.replace("\\", "") for e in getattr(at, kind)]


def test_the_page_without_sources_invites_adding_one(db: Path) -> None:
    at = _page().run()
    assert not at.exception
    assert at.title[0].value == "数据源"
    assert any("还没有数据源" in t for t in _texts(at, "info"))


def test_add_test_refresh_pause_and_history(db: Path, pg_table: str) -> None:
    at = _page().run()
    at.text_input(key="f_name_new").input("环卫库")
    at.text_input(key="f_url_new").input("postgresql://postgres@127.0.0.1:1/test")
    at.text_input(key="f_table_new").input("清运")
    at.text_input(key="f_stable_new").input(pg_table)
    at.radio(key="f_mode_new").set_value("replace")
    at.radio(key="f_plan_new").set_value("按间隔")
    at.number_input(key="f_every_new").set_value(3600)
    at.button(key="f_test_new").click().run()
    assert not at.exception
    assert any("无法连接 PostgreSQL 服务器 127.0.0.1:1" in e for e in _texts(at, "error"))

    at.text_input(key="f_url_new").input(PG)
    at.button(key="f_test_new").click().run()
    assert any("共 3 列：id、区、清运量（吨）" in s for s in _texts(at, "success"))
    at.button(key="f_save_new").click().run()
    assert not at.exception
    saved = SourceFolder(load_settings(db).sources_dir).load("环卫库")
    assert (saved.table, saved.source_table, saved.mode, saved.every) == ("清运", pg_table, "replace", 3600)
    overview = at.dataframe[0].value
    assert overview["名称"].to_list() == ["环卫库"] and overview["状态"].to_list() == ["尚未运行"]
    assert overview["刷新计划"].to_list() == ["每 1 小时"]

    at.button(key="src_refresh").click().run()
    assert not at.exception
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        at.run()
        if at.dataframe[0].value["状态"].to_list() == ["成功"]:
            break
        time.sleep(0.3)
    overview = at.dataframe[0].value
    assert (overview["状态"].to_list(), overview["上次新增行"].to_list()) == (["成功"], [120])
    history = at.dataframe[1].value
    assert (history["状态"].to_list(), history["新增行"].to_list(), history["触发"].to_list()) == (
        ["成功"], [120], ["手动"])
    assert history["用时（秒）"].to_list()[0] > 0

    at.button(key="src_pause").click().run()
    assert not at.exception and at.dataframe[0].value["状态"].to_list() == ["已暂停"]
    assert SourceFolder(load_settings(db).sources_dir).load("环卫库").paused
    at.button(key="src_resume").click().run()
    assert at.dataframe[0].value["状态"].to_list() == ["成功"]


@pytest.mark.parametrize(("field", "value", "words"), [
    ("f_url_new", "postgresql://u:hunter2@127.0.0.1/test", "地址里不能写密码"),
    ("f_table_new", "", "缺少必填项：数据集名称"),
], ids=["password-in-url", "no-dataset"])
def test_a_bad_definition_is_explained_not_saved(db: Path, field: str, value: str, words: str) -> None:
    at = _page().run()
    entries: dict[str, Any] = {"f_name_new": "坏的", "f_url_new": PG, "f_table_new": "清运"}
    entries[field] = value
    for key, text in entries.items():
        at.text_input(key=key).input(text)
    at.radio(key="f_mode_new").set_value("replace")
    at.button(key="f_save_new").click().run()
    assert not at.exception
    errors = _texts(at, "error")
    assert any(words in e for e in errors) and not any("hunter2" in e for e in errors)
    assert SourceFolder(load_settings(db).sources_dir).names() == []



@pytest.fixture
def air_feed() -> Iterator[str]:
    """A JSON feed whose records sit under data.records, texts to be typed like a file's cells."""
    records = [{"站点": f"站{i % 7}", "日期": f"2024-03-{1 + i % 28:02d}", "AQI": 40 + i} for i in range(80)]
    with json_feed(lambda: {"data": {"records": records}}, "/air.json") as url:
        yield url


@pytest.mark.parametrize(("kind", "summary", "columns", "first"), [
    ("postgresql", "PostgreSQL：3 列，预览前 50 行", [("id", "整数"), ("区", "文本"), ("清运量（吨）", "数值")],
     {"id": 1, "区": "南湖区"}),
    ("json-feed", "HTTP 数据接口：3 列，预览前 50 行", [("站点", "文本"), ("日期", "日期"), ("AQI", "整数")],
     {"站点": "站0", "AQI": 40}),
], ids=["postgresql", "json-feed"])
def test_preview_shows_the_first_rows_through_the_import_plan_view(
        db: Path, request: pytest.FixtureRequest, kind: str, summary: str, columns: list[tuple[str, str]],
        first: dict[str, Any]) -> None:
    at = _page().run()
    at.text_input(key="f_name_new").input("看看")
    at.text_input(key="f_table_new").input("预览表")
    at.radio(key="f_mode_new").set_value("replace")
    if kind == "postgresql":
        at.text_input(key="f_url_new").input(PG)
        at.text_input(key="f_stable_new").input(request.getfixturevalue("pg_table"))
    else:
        at.text_input(key="f_url_new").input(request.getfixturevalue("air_feed"))
        at.text_input(key="f_rpath_new").input("data.records")
    at.button(key="f_preview_new").click().run()
    assert not at.exception and not _texts(at, "error")
    assert any(summary in s for s in _texts(at, "success")), _texts(at, "success")
    plan = next(d.value for d in at.dataframe if "列名" in d.value.columns)
    assert list(zip(plan["列名"], plan["类型"], strict=True)) == columns
    rows = next(d.value for d in at.dataframe if columns[0][0] in d.value.columns)
    assert len(rows) == 50 and {k: rows[k].iloc[0] for k in first} == first
    assert any(h.value == "预览" for h in at.subheader)
    # a look, not an import: nothing is written and nothing is saved
    wh = open_warehouse(path=db)
    try:
        assert wh.cursor().execute("SELECT count(*) FROM _citybi.datasets").fetchall() == [(0,)]
    finally:
        wh.close()
    assert SourceFolder(load_settings(db).sources_dir).names() == []
