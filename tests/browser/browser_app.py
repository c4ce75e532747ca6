"""Shared between the browser fixtures and tests: what the running app is, where screenshots go.

A plain module rather than conftest.py, because two conftest.py files share one module name
and importing "conftest" from a test would pick whichever pytest loaded last.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# git-ignored; failure screenshots and the home page shot land here
SCREENSHOTS = Path(__file__).with_name("screenshots")
# the default board the board flow opens (queries/boards/环卫运行.yaml)
BOARD = "环卫运行"


@dataclass
class SampleFacts:
    """What the sample warehouse holds, read with the CLI before the server locks the file."""

    datasets: list[str]
    # 问数 「各区的清运量合计」 on 环卫清运, answered by the core: district → total
    tonnage_by_district: dict[str, float] = field(default_factory=dict)
    # the district the board flow filters on, and the board's KPI cards: {"" or district: {title: "3,190 吨"}}
    district: str = ""
    board_kpis: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class RunningApp:
    url: str
    db: Path
    log: Path
    facts: SampleFacts

# how long one step of a browser test may take: generous, CI machines are shared and noisy; every wait
# is on a selector, so passing runs stay fast
TIMEOUT_MS = 60_000

# the first page a fresh server draws (imports, first queries) on a shared, loaded CI machine
FIRST_LOAD_MS = 180_000

# An element the current run has drawn, not one left from the previous run: during a rerun Streamlit
# keeps the previous run's elements (data-stale="true") until the new run writes over their slots,
# so when a breadcrumb appears or goes and every tile moves one slot, a KPI card briefly exists twice.
LIVE = '[data-testid="stElementContainer"]:not([data-stale="true"])'


def kpi_card(page: Any, title: str) -> Any:
    """The KPI card (st.metric) titled `title`, as the current run drew it."""
    label = page.locator('[data-testid="stMetricLabel"]', has_text=title)
    return page.locator(LIVE).locator('[data-testid="stMetric"]', has=label)


def kpi_value(page: Any, title: str) -> Any:
    """The value line of that card ("3,190 吨")."""
    return kpi_card(page, title).locator('[data-testid="stMetricValue"]')


def new_tab(browser: Any, **options: Any) -> Iterator[Any]:
    """A fresh browser context (its own Streamlit session) and its page, closed afterwards: a 1400×1000
    desktop in zh-CN unless `options` (Playwright's new_context arguments) say otherwise."""
    context = browser.new_context(**{"viewport": {"width": 1400, "height": 1000}, "locale": "zh-CN", **options})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
