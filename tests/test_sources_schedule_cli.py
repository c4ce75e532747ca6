"""`citybi sources add|list|refresh|history` as a user runs them, against the real PostgreSQL.

Directly when the command can open the warehouse, and through the running app's inbox when
the app holds it (the refresh then runs on the app's schedule, never beside its own run).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citybi.catalog import Catalog, open_warehouse

pytestmark = pytest.mark.service

CLI = str(Path(sys.executable).with_name("citybi"))
PG = "postgresql://postgres@127.0.0.1:5432/test"
APP = """
import sys, time
from citybi.catalog import open_warehouse
from citybi.config import load_settings
from citybi.inbox import start_worker
from citybi.refresh import start_app_schedule
wh = open_warehouse(path=sys.argv[1])
start_worker(wh, interval_s=0.2)
start_app_schedule(wh, load_settings(sys.argv[1]).sources_dir)
print("ready", flush=True)
time.sleep(120)
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=180, env=dict(os.environ))


@pytest.fixture
def pg_table() -> Iterator[tuple[Any, str]]:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL does not answer: {err}")
    t = f"citybi_c_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE TABLE {t} (id int PRIMARY KEY, "区" text, "清运量（吨）" numeric(10,2))')
    conn.execute(f"INSERT INTO {t} SELECT i, (array['南湖区','秀洲区'])[1 + i % 2], i * 0.25 "
                 "FROM generate_series(1, 500) i")
    yield conn, t
    conn.execute(f"DROP TABLE IF EXISTS {t}")
    conn.close()


def _ok(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return out.stdout


def test_add_list_refresh_history(pg_table: tuple[Any, str], tmp_path: Path) -> None:
    conn, t = pg_table
    db = str(tmp_path / "w.duckdb")
    said = _ok(run("sources", "add", "环卫库", PG, "--table", "清运", "--source-table", t, "--key", "id",
                   "--every", "300", "--db", db))
    assert "已保存数据源「环卫库」（PostgreSQL → 数据集「清运」，每 5 分钟）" in said
    yaml_text = (tmp_path / "w.duckdb.sources" / "环卫库.yaml").read_text(encoding="utf-8")
    assert f"source_table: {t}" in yaml_text and "key:\n- id" in yaml_text and "every: 300" in yaml_text
    listed = _ok(run("sources", "list", "--db", db))
    assert "环卫库" in listed and "尚未运行" in listed and "每 5 分钟" in listed

    first = _ok(run("sources", "refresh", "环卫库", "--db", db))
    assert "数据集「清运」新增 500 行，更新 0 行，现为第 1 版" in first
    conn.execute(f"INSERT INTO {t} VALUES (501, '嘉善县', 3.5)")
    again = json.loads(_ok(run("sources", "refresh", "环卫库", "--db", db, "--json")))
    assert (again["status"], again["rows_added"], again["rows_updated"], again["version"]) == ("ok", 1, 500, 2)

    history = json.loads(_ok(run("sources", "history", "环卫库", "--db", db, "--json")))
    assert [(h["status"], h["trigger"], h["rows_added"]) for h in history] == [
        ("ok", "命令行", 1), ("ok", "命令行", 500)]
    assert all(h["duration_s"] is not None for h in history)
    text = _ok(run("sources", "history", "环卫库", "--db", db))
    assert text.splitlines()[0].split() == [
        "开始时间", "触发", "状态", "新增行", "更新行", "版本", "用时（秒）", "说明"]
    assert len(text.splitlines()) == 3 and "成功" in text.splitlines()[1]
    listed = json.loads(_ok(run("sources", "list", "--db", db, "--json")))
    assert [(r["name"], r["last_status"], r["last_rows_added"]) for r in listed] == [("环卫库", "成功", 1)]
    wh = open_warehouse(path=tmp_path / "w.duckdb")
    assert Catalog(wh).get("清运").row_count == 501
    wh.close()


def test_a_failed_refresh_exits_2_and_changes_nothing(pg_table: tuple[Any, str], tmp_path: Path) -> None:
    _conn, t = pg_table
    db = str(tmp_path / "w.duckdb")
    _ok(run("sources", "add", "环卫库", PG, "--table", "清运", "--source-table", t, "--mode", "replace", "--db", db))
    _ok(run("sources", "refresh", "环卫库", "--db", db))
    _ok(run("sources", "add", "环卫库", PG, "--table", "清运", "--query", f"SELECT nosuch FROM {t}",
            "--mode", "replace", "--replace", "--db", db))
    bad = run("sources", "refresh", "环卫库", "--db", db)
    assert bad.returncode == 2 and "刷新失败，数据集没有改变" in bad.stderr and "列不存在" in bad.stderr
    history = json.loads(_ok(run("sources", "history", "--db", db, "--json")))
    assert [h["status"] for h in history] == ["failed", "ok"]
    wh = open_warehouse(path=tmp_path / "w.duckdb")
    assert (Catalog(wh).get("清运").row_count, Catalog(wh).get("清运").version) == (500, 1)
    wh.close()


@pytest.mark.parametrize(("args", "expected"), [
    (["postgresql://postgres:pw123@127.0.0.1:5432/test", "--table", "x", "--mode", "replace"], "地址里不能写密码"),
    ([PG, "--table", "x"], "追加方式需要主键列（key）或更新时间列（watermark）"),
    ([PG, "--table", "x", "--mode", "replace", "--cron", "0 6 *"], "应有 5 段"),
    ([PG, "--table", "x", "--mode", "replace", "--secret", "pw 123"], "不能写密码本身"),
], ids=["password-in-url", "append-without-key", "bad-cron", "secret-value"])
def test_add_refusals_exit_2_in_chinese(args: list[str], expected: str, tmp_path: Path) -> None:
    out = run("sources", "add", "坏的", *args, "--db", str(tmp_path / "w.duckdb"))
    assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr
    assert "pw123" not in out.stderr
    assert not (tmp_path / "w.duckdb.sources" / "坏的.yaml").exists()


def test_refresh_unknown_source(tmp_path: Path) -> None:
    out = run("sources", "refresh", "没有这个", "--db", str(tmp_path / "w.duckdb"))
    assert out.returncode == 2 and "数据源「没有这个」不存在" in out.stderr


def test_refresh_and_history_through_the_running_app(pg_table: tuple[Any, str], tmp_path: Path) -> None:
    _conn, t = pg_table
    db = tmp_path / "held.duckdb"
    _ok(run("sources", "add", "环卫库", PG, "--table", "清运", "--source-table", t, "--key", "id", "--every", "3600",
            "--db", str(db)))
    app = subprocess.Popen([sys.executable, "-c", APP, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        out = run("sources", "refresh", "环卫库", "--db", str(db))
        assert "交给应用处理" in out.stderr
        assert "新增 500 行" in _ok(out)
        history = json.loads(_ok(run("sources", "history", "--db", str(db), "--json")))
        assert [(h["source"], h["status"], h["rows_added"]) for h in history] == [("环卫库", "ok", 500)]
        listed = _ok(run("sources", "list", "--db", str(db)))
        assert "成功" in listed
    finally:
        app.kill()
        app.wait()
    wh = open_warehouse(path=db)
    assert Catalog(wh).get("清运").row_count == 500
    wh.close()
