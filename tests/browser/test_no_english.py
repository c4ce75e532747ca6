"""No English and no raw values anywhere a reader looks: every page of the app (and a deep link
to each, as a shared URL opens it) is walked in the browser, every select list on it opened, and
the page text, plotly's axis texts and toolbar hover titles, and input placeholders are checked
against a list of English UI words — Streamlit's built-in strings, plotly's defaults, raw missing
values. Names that are Chinese usage (SQL, Excel, CSV, AQI, PM2.5, PostgreSQL…) are not on it.
"""
from __future__ import annotations

import re
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

from browser_app import FIRST_LOAD_MS, RunningApp  # noqa: E402

ENGLISH = re.compile(
    r"Select all|Select \d+ matches|Choose an? options?|No options|No results|Page not found|"
    r"\bNone\b|\bnull\b|\bNaN\b|\bundefined\b|\bempty\b|"
    r"Drag and drop|Browse files|Limit \d+ ?MB|Press Enter|Running\.\.\.|"
    r"Download plot|Zoom in|Zoom out|\bZoom\b|\bPan\b|Autoscale|Reset axes|Box Select|Lasso Select|"
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b|\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b")
# path → the page's title (h1); "" is the app's front door (it sends the reader on to 数据集)
PAGES = {"datasets": "数据集", "import": "数据导入", "standards": "数据标准", "sources": "数据源",
         "boards?board=环卫运行": "环卫运行", "charts": "图表", "ask": "问数", "map": "全市一张图",
         "sql": "SQL 查询", "alerts": "预警", "": "数据集"}

SEEN_JS = """() => {
  const texts = [document.body.innerText];
  for (const el of document.querySelectorAll('.js-plotly-plot text')) texts.push(el.textContent);
  for (const el of document.querySelectorAll('[data-title]')) texts.push(el.getAttribute('data-title'));
  for (const el of document.querySelectorAll('input[placeholder], textarea[placeholder]'))
    texts.push(el.getAttribute('placeholder'));
  return texts.join('\\n');
}"""


def _settled(page: Any) -> None:
    """The page's script has finished (Streamlit marks the app "notRunning")."""
    page.locator('[data-test-script-state="notRunning"]').first.wait_for(state="attached")


def _english_on(page: Any) -> set[str]:
    found = set(ENGLISH.findall(page.evaluate(SEEN_JS)))
    # every select list as a reader opens it: Streamlit adds its own rows ("Select all") there
    boxes = page.locator('[data-testid="stMultiSelect"], [data-testid="stSelectbox"]')
    for i in range(boxes.count()):
        box = boxes.nth(i)
        if not box.is_visible():
            continue
        box.locator("input").first.click()
        page.wait_for_timeout(300)
        found |= set(ENGLISH.findall(page.evaluate("() => document.body.innerText")))
        page.keyboard.press("Escape")
    return found


@pytest.mark.parametrize("path", list(PAGES))
def test_no_english_ui_words_on_any_page(page: Any, app_server: RunningApp, path: str) -> None:
    page.goto(f"{app_server.url}/{path}", wait_until="domcontentloaded")
    expect(page.locator("h1", has_text=PAGES[path])).to_be_visible(timeout=FIRST_LOAD_MS)  # a cold server
    _settled(page)
    if path.startswith("boards"):
        expect(page.locator('[data-testid="stMetric"]').first).to_be_visible()
        page.locator(".js-plotly-plot g.xtick text").first.wait_for(state="attached")
    assert not _english_on(page), sorted(_english_on(page))
