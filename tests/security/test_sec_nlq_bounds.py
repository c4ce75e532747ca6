"""问数 input bounds: oversized questions, impossible dates and numbers, cut-off answers.

What probing found: a 100 KB question was parsed character by character for seconds;
"最近99999999999999999999天" and "0000年13月45日" raised OverflowError / ValueError (a traceback
from `citybi ask`); "大于1e309" was read as "> 1", "2024年2月30日" as the whole of February,
"小于九九九" as "< 9"; and an answer cut at the row cap said nothing. Each question below now
gets a Chinese refusal saying what is wrong, or an answer that says it was cut.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from citybi.catalog import Catalog, open_warehouse
from citybi.config import QueryLimits, load_settings
from citybi.nlq import answer, ask_batch
from citybi.warehouse import Warehouse

TODAY = dt.date(2024, 6, 15)
DAYS = [TODAY - dt.timedelta(days=i) for i in range(60)]  # 60 days up to today
CJK = re.compile(r"[\u4e00-\u9fff]")
LONG = "各区的清运量" + "啊" * 30_000  # ~90 KB in UTF-8, still under the 128 KB argv limit


def _write(db: Path) -> None:
    with open_warehouse(path=db) as wh:
        Catalog(wh).write("环卫清运", pl.DataFrame({
            "日期": DAYS * 2,
            "区": ["南湖区"] * 60 + ["秀洲区"] * 60,
            "清运量（吨）": [float(i % 30) for i in range(120)],
        }))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nlq_bounds") / "w.duckdb"
    _write(path)
    return path


@pytest.fixture()
def wh(db: Path) -> Warehouse:
    w = open_warehouse(path=db)
    yield w
    w.close()


def _ask(wh: Warehouse, question: str):
    return answer(question, Catalog(wh).datasets(), wh.run, today=TODAY)


REFUSED = [
    pytest.param(LONG, "太长", id="100KB-question"),
    pytest.param("最近99999999999999999999天的清运量", "不是有效的日期", id="recent-days-overflow"),
    pytest.param("最近9999999年的清运量", "不是有效的日期", id="recent-years-before-year-1"),
    pytest.param("0000年13月45日的清运量", "不是有效的日期", id="year-0-month-13-day-45"),
    pytest.param("2024年2月30日的清运量", "不是有效的日期", id="feb-30-was-whole-february"),
    pytest.param("2024年6月31日的清运量", "不是有效的日期", id="june-31-was-whole-june"),
    pytest.param("2024-02-30的清运量", "不是有效的日期", id="iso-feb-30-was-ignored"),
    pytest.param("2024年13月的清运量", "不是有效的日期", id="month-13-was-whole-year"),
    pytest.param("10000年的清运量", "不是有效的日期", id="five-digit-year"),
    pytest.param("清运量大于1e309的记录有多少条", "太大", id="1e309-was-read-as-1"),
    pytest.param("清运量大于" + "9" * 180 + "的记录有多少条", "太大", id="180-digit-number"),
    pytest.param("清运量排名前99999999999999999999的区", "太大", id="huge-top-n"),
]


@pytest.mark.parametrize(("question", "fragment"), REFUSED)
def test_impossible_questions_get_a_chinese_refusal(wh: Warehouse, question: str, fragment: str) -> None:
    a = _ask(wh, question)
    assert a.status != "ok", (a.reading, a.rows[:3])
    assert CJK.search(a.message) and fragment in a.message, a.message
    assert a.rows == [] and a.sql == ""


@pytest.mark.parametrize(("question", "reading", "rows"), [
    pytest.param("清运量大于2e1的记录有多少条", "> 20", [(36,)], id="scientific-notation-2e1"),
    pytest.param("清运量小于九九九的记录有多少条", "< 999", [(120,)], id="chinese-digits-999-was-9"),
    pytest.param("清运量不低于一百零五的记录有多少条", "≥ 105", [(0,)], id="chinese-105"),
    pytest.param("清运量超过二十五的记录有多少条", "> 25", [(16,)], id="chinese-25"),
])
def test_numbers_are_read_as_written(wh: Warehouse, question: str, reading: str, rows: list[tuple]) -> None:
    a = _ask(wh, question)
    assert a.status == "ok", a.message
    assert reading in a.reading and a.rows == rows, (a.reading, a.rows)


def test_answer_cut_at_the_row_cap_says_so(db: Path) -> None:
    settings = dataclasses.replace(load_settings(db), query=QueryLimits(max_rows=5))
    with open_warehouse(settings) as wh:
        a = _ask(wh, "每天的清运量")
    assert a.status == "ok" and len(a.rows) == 5
    assert a.truncated
    assert "只列出了前 5 行" in a.message and any("只列出了前 5 行" in n for n in a.notes)
    assert a.to_json()["truncated"] is True


def test_answer_not_cut_says_nothing(wh: Warehouse) -> None:
    a = _ask(wh, "每天的清运量")
    assert a.status == "ok" and len(a.rows) == 60
    assert not a.truncated and "只列出" not in a.message


def test_batch_line_with_an_impossible_question_gets_its_reason(wh: Warehouse) -> None:
    lines = [{"id": 1, "question": LONG}, {"id": 2, "question": "0000年13月45日的清运量"},
             {"id": 3, "question": "各区的清运量"}]
    out = list(ask_batch(lines, Catalog(wh).datasets(), wh.run, TODAY))
    assert [o["status"] for o in out] == ["unsupported", "unsupported", "ok"]
    assert "太长" in out[0]["message"] and "不是有效的日期" in out[1]["message"]
    assert not any("内部错误" in o["message"] for o in out)


def _cli(db: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citybi.cli", "ask", *args, "--db", str(db), "--today", TODAY.isoformat()],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(("question", "fragment"), [
    pytest.param(LONG, "太长", id="100KB-question"),
    pytest.param("最近99999999999999999999天的清运量", "不是有效的日期", id="recent-days-overflow"),
    pytest.param("0000年13月45日的清运量", "不是有效的日期", id="year-0-month-13-day-45"),
    pytest.param("清运量大于1e309的记录有多少条", "太大", id="1e309"),
])
def test_cli_refuses_in_chinese_without_a_traceback(db: Path, question: str, fragment: str) -> None:
    proc = _cli(db, question)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode != 0
    assert fragment in proc.stdout + proc.stderr, (proc.stdout[-500:], proc.stderr[-500:])


def test_cli_impossible_today_is_a_chinese_error(db: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "citybi.cli", "ask", "各区的清运量", "--db", str(db), "--today", "2024-13-45"],
        capture_output=True, text=True, timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 2 and "--today" in proc.stderr and "2024-13-45" in proc.stderr


def test_cli_says_when_rows_were_cut(db: Path) -> None:
    capped = _cli(db, "每天的清运量", env={"CITYBI_QUERY_MAX_ROWS": "5"})
    assert capped.returncode == 0, capped.stderr[-2000:]
    assert "只列出了前 5 行" in capped.stdout
    full = _cli(db, "每天的清运量")
    assert full.returncode == 0, full.stderr[-2000:]
    assert "共 60 行" in full.stdout and "只显示前 50 行" in full.stdout
    # the machine-readable form carries the flag
    as_json = _cli(db, "每天的清运量", "--json", env={"CITYBI_QUERY_MAX_ROWS": "5"})
    assert json.loads(as_json.stdout)["truncated"] is True
