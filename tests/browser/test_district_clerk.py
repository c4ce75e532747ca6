"""A 临江区 科员 in a real browser sees only 临江区 rows: on the 环卫运行 board, in 问数, in the Excel export.

The row rules are tested in the core (tests/security/test_sec_rows.py); this test checks the
same promise where a clerk meets it — the tiles and tables drawn, the KPI cards, a question
that names 北港区, and the workbook downloaded from the board. The clerk is made with the CLI
(`citybi users add`) like an operator would, in 城管局, the department the sample 环卫清运 belongs to.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect
expect.set_options(timeout=60_000)

from browser_app import BOARD, RunningApp, SampleFacts, kpi_value, new_tab  # noqa: E402  (after the importorskip on purpose)
from conftest import _citybi_command, serve  # noqa: E402

MINE = "临江区"
OTHERS = ("云湖区", "北港区", "望山区", "松岭区", "青禾新区")
CLERK = ("linjiang", "Harbor#2026x")


@pytest.fixture
def clerk_app(sample_warehouse: tuple[Path, SampleFacts], tmp_path: Path) -> Iterator[RunningApp]:
    """A server on a copy of the samples with one account: a 城管局 科员 whose district is 临江区."""
    pristine, facts = sample_warehouse
    assert facts.district == MINE and MINE in facts.board_kpis, facts.board_kpis.keys()
    db = tmp_path / "citybi.duckdb"
    shutil.copyfile(pristine, db)
    proc = subprocess.run([*_citybi_command(), "users", "add", CLERK[0], "--role", "科员", "--department", "城管局",
                           "--districts", MINE, "--password-stdin", "--db", str(db)],
                          input=CLERK[1] + "\n", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with serve(db, facts) as app:
        yield app


@pytest.fixture
def page(browser: Any, clerk_app: RunningApp) -> Iterator[Any]:
    yield from new_tab(browser, accept_downloads=True)


def _sign_in(page: Any, app: RunningApp) -> str:
    """Log in through the form; returns the signed-token query (?t=…) that keeps the login."""
    page.goto(app.url + "/", wait_until="domcontentloaded")
    page.get_by_label("用户名").fill(CLERK[0])
    page.get_by_label("密码").fill(CLERK[1])
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_text(f"当前用户：{CLERK[0]}（科员）")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]t="))
    return "t=" + quote(parse_qs(urlsplit(page.url).query)["t"][0])


def _visible_text(page: Any) -> str:
    """What the page shows, the data grids' cells and the plotly SVG labels included."""
    return str(page.locator('[data-testid="stMain"]').inner_text()) + "\n" + "\n".join(
        page.locator('[data-testid="stPlotlyChart"] text').all_text_contents())


def test_district_clerk_sees_only_own_district_on_board_in_ask_and_in_export(
        page: Any, clerk_app: RunningApp, tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    token = _sign_in(page, clerk_app)

    # the board: every KPI card equals the SYSTEM numbers filtered to 临江区 (computed in the
    # core before the server started), and no tile or table names another district
    page.goto(f"{clerk_app.url}/boards?board={BOARD}&{token}", wait_until="domcontentloaded")
    expect(page.locator("h1", has_text=BOARD)).to_be_visible()
    expected_kpis = clerk_app.facts.board_kpis[MINE]
    assert expected_kpis != clerk_app.facts.board_kpis[""], "the check needs 临江区 to differ from the whole city"
    for title, value in expected_kpis.items():
        expect(kpi_value(page, title)).to_have_text(value)
    chart = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
    expect(chart.locator(".main-svg").first).to_be_attached()
    expect(page.locator('[data-testid="stPlotlyChart"] text', has_text=MINE).first).to_be_attached()
    shown = _visible_text(page)
    assert [d for d in OTHERS if d in shown] == [], shown[:2000]

    # the board's Excel export: downloaded, opened, no other district in any cell
    with page.expect_download() as info:
        page.get_by_role("button", name="导出 Excel").first.click()
    target = tmp_path / "board.xlsx"
    info.value.save_as(str(target))
    wb = openpyxl.load_workbook(target, read_only=True)
    cells = [str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    assert any(MINE in c for c in cells), "the export should hold the clerk's own rows"
    assert [c for c in cells if any(d in c for d in OTHERS)] == []

    # 问数: a question naming 北港区 gets 临江区 rows only, and the reading says why
    page.goto(f"{clerk_app.url}/ask?{token}", wait_until="domcontentloaded")
    expect(page.locator("h1", has_text="问数")).to_be_visible()
    box = page.locator('[data-testid="stSelectbox"]', has=page.get_by_text("数据表", exact=True))
    current = page.get_by_role("combobox", name="数据表")
    if current.input_value() != "环卫清运":
        box.locator("input").first.click()
        page.get_by_role("option", name="环卫清运", exact=True).click()
    expect(current).to_have_value("环卫清运")
    page.get_by_label("问题").fill("北港区和临江区各区的清运量合计")
    page.get_by_role("button", name="提问").click()
    reading = page.locator('[data-testid="stAlert"]', has_text="理解为：")
    expect(reading).to_contain_text(f"按您的数据权限，只包含：{MINE}")
    table = page.locator('table[role="grid"]:has(th:text-is("区"))').last
    table.locator(f'td:text-is("{MINE}")').first.wait_for(state="attached")
    grid = str(table.inner_text())
    assert [d for d in OTHERS if d in grid] == [], grid
