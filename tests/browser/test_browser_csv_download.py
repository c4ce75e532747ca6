"""The data grid's own CSV download is gone in the real app, and ours downloads a safe CSV.

Why in a browser: `client.disableDataExport` is read by the frontend from the session's
config message, and the download is served over HTTP when clicked (deferred generation) —
neither is visible to AppTest. The app runs exactly as `make run` starts it (conftest).
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

from browser_app import RunningApp  # noqa: E402  (after the importorskip on purpose)

BOM = b"\xef\xbb\xbf"


def test_dataset_preview_has_no_toolbar_download_and_offers_a_safe_csv(page: Any, app_server: RunningApp) -> None:
    name = app_server.facts.datasets[0]
    page.goto(app_server.url + "/", wait_until="domcontentloaded")
    expect(page.locator("h1", has_text="数据集")).to_be_visible()
    page.get_by_role("tab", name="预览").click()
    caption = page.get_by_text(re.compile(r"^前 \d+ 行（共 \d+ 行）$"))
    expect(caption).to_be_visible()
    shown = int(re.search(r"前 (\d+) 行", caption.inner_text()).group(1))  # type: ignore[union-attr]

    grid = page.locator('[data-testid="stDataFrame"]:visible').last
    grid.hover()
    toolbar = page.locator('[data-testid="stElementToolbar"]:visible').last
    expect(toolbar.get_by_role("button", name="Search")).to_be_visible()  # the toolbar is there …
    expect(toolbar.get_by_role("button", name="Download as CSV")).to_have_count(0)  # … without its download

    with page.expect_download() as info:
        page.get_by_role("button", name="下载 CSV").click()
    download = info.value
    assert download.suggested_filename == f"{name}_前{shown}行.csv"
    data = Path(download.path()).read_bytes()
    assert data.startswith(BOM)
    rows = list(csv.reader(io.StringIO(data[len(BOM):].decode("utf-8"), newline="")))
    assert len(rows) == shown + 1
    assert all(len(r) == len(rows[0]) for r in rows)
    assert not [c for r in rows for c in r if c.startswith(("=", "+", "@"))]
