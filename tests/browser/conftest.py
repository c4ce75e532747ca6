"""Fixtures for the real-browser tests: a running CityBI on sample data, and Chromium driving it.

Why a real server and a real browser: AppTest checks page scripts, but not what a clerk sees —
the file uploader, the canvas data grids, plotly, and whether Chinese renders at all. The app
runs exactly as `make run` starts it (`citybi serve`) on a throw-away warehouse with the bundled
sample data, on a free port, so a developer's own server and data are never touched.

Chromium is Debian's (/usr/bin/chromium, installed by .ci/run): `playwright install` cannot
download here. Without it, or without Playwright, the tests skip locally — and fail in CI
(see tests/conftest.py).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_app import BOARD, SCREENSHOTS, RunningApp, SampleFacts, new_tab

CHROMIUM = Path(os.environ.get("CITYBI_CHROMIUM", "/usr/bin/chromium"))
# without the background-networking flags Chromium's connections are refused in this closed network
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
SERVER_START_S = 120.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # everything under tests/browser is a browser test (pytest -m "not browser" leaves them out)
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


def _citybi_command() -> list[str]:
    """The installed `citybi` script next to the running interpreter (.venv/bin/citybi)."""
    script = Path(sys.executable).with_name("citybi")
    return [str(script)] if script.exists() else [sys.executable, "-m", "citybi.cli"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_cli(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*_citybi_command(), *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"citybi {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the server and the streamlit child it spawned (own process group, started by us)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> bool:
    """True once Streamlit answers its health check; False if the process died (e.g. port taken)."""
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200 and resp.read().strip() == b"ok":
                    return True
        except OSError:
            pass
        time.sleep(0.25)
    _stop(proc)
    raise AssertionError(f"citybi serve did not answer within {SERVER_START_S:.0f} s:\n{log.read_text()[-3000:]}")


# the 环卫运行 board's KPI cards as the core computes them (value and unit, as the card shows
# them), for all districts and for one; run before the server takes the warehouse's lock
BOARD_KPIS_PY = """
import json, sys
from citybi.boards import FilterValues, board_store, run_board
from citybi.charts.kpi import KpiValue
from citybi.config import load_settings
from citybi.catalog import open_warehouse
from citybi.warehouse import Warehouse

db, board_name, column, value = sys.argv[1:5]
out = {}
with open_warehouse(load_settings(db)) as wh:
    board = board_store(wh.settings).load(board_name)
    for key, dims in (("", {}), (value, {column: (value,)})):
        run = run_board(wh, board, values=FilterValues(dimensions=dims), workers=1)
        out[key] = {t.title: t.result.output.value_text + (" " + t.result.output.unit if t.result.output.unit else "")
                    for t in run.tiles if t.result is not None and isinstance(t.result.output, KpiValue)}
print(json.dumps(out, ensure_ascii=False))
"""


def _board_kpis(db: Path, board: str, column: str, value: str) -> dict[str, dict[str, str]]:
    proc = subprocess.run([sys.executable, "-c", BOARD_KPIS_PY, str(db), board, column, value],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"computing the {board} board in the core failed:\n{proc.stderr}"
    return dict(json.loads(proc.stdout))


def _sample_warehouse(root: Path) -> tuple[Path, SampleFacts]:
    """A warehouse with the bundled samples, and what the core says about it."""
    db = root / "citybi.duckdb"
    _run_cli(["samples", "--db", str(db)])
    datasets = [d["name"] for d in json.loads(_run_cli(["datasets", "--db", str(db), "--json"]).stdout)]
    answer = json.loads(_run_cli(["ask", "各区的清运量合计", "--db", str(db), "--table", "环卫清运", "--json"]).stdout)
    tonnage = {str(r[0]): float(r[1]) for r in answer["rows"]}
    district = sorted(tonnage)[0]
    facts = SampleFacts(datasets=datasets, tonnage_by_district=tonnage, district=district,
                        board_kpis=_board_kpis(db, BOARD, "区", district))
    return db, facts


@contextlib.contextmanager
def serve(db: Path, facts: SampleFacts) -> Iterator[RunningApp]:
    """`citybi serve --db DB` on a free port until the block ends; the server's log is next to DB."""
    log = db.with_suffix(".serve.log")
    for _attempt in range(3):  # another process may grab the free port between probe and bind
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*_citybi_command(), "serve", "--port", str(port), "--db", str(db)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        if _wait_healthy(proc, url, log):
            break
        proc.wait(timeout=15)
    else:
        raise AssertionError(f"citybi serve exited before answering:\n{log.read_text()[-3000:]}")
    try:
        yield RunningApp(url=url, db=db, log=log, facts=facts)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleFacts]:
    """The sample warehouse, built once; servers run on copies (DuckDB allows one writer per file)."""
    return _sample_warehouse(tmp_path_factory.mktemp("citybi_samples"))


@pytest.fixture(scope="session")
def serve_warehouse() -> Any:
    """`serve` for a test that builds its own warehouse (e.g. one with live datasets)."""
    return serve


@pytest.fixture(scope="session")
def app_server(sample_warehouse: tuple[Path, SampleFacts], tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[RunningApp]:
    """The app shared by the flow tests, on its own copy of the sample warehouse."""
    pristine, facts = sample_warehouse
    db = tmp_path_factory.mktemp("citybi_app") / "citybi.duckdb"
    shutil.copyfile(pristine, db)
    with serve(db, facts) as app:
        yield app


@pytest.fixture
def fresh_app_server(sample_warehouse: tuple[Path, SampleFacts], tmp_path: Path) -> Iterator[RunningApp]:
    """A just-started server no browser has talked to yet (first-request behaviour)."""
    pristine, facts = sample_warehouse
    db = tmp_path / "citybi.duckdb"
    shutil.copyfile(pristine, db)
    with serve(db, facts) as app:
        yield app


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, shared by all browser tests."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')"
    )
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install it with `apt-get install chromium fonts-noto-cjk` "
                    "(bash .ci/run does this)")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, app_server: RunningApp) -> Iterator[Any]:
    """A fresh browser context (own Streamlit session) per test."""
    yield from new_tab(browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """On a failed browser test, save what the page looked like (the page is still open here)."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    pg = getattr(item, "funcargs", {}).get("page")
    if report.when != "call" or not report.failed or pg is None:
        return
    SCREENSHOTS.mkdir(exist_ok=True)
    target = SCREENSHOTS / (re.sub(r"[^\w.-]+", "_", item.nodeid.split("::", 1)[-1]) + ".png")
    try:
        pg.screenshot(path=str(target), full_page=True, timeout=15_000)
        report.sections.append(("screenshot", str(target)))
    except Exception as err:  # a dead page must not hide the real failure
        report.sections.append(("screenshot", f"could not take a screenshot: {err}"))


CLERK = ("li", "Harbor#2026x")  # a 临江区 科员 of 环卫处, made through the CLI like an operator would


@pytest.fixture
def accounts_app_server(sample_warehouse: tuple[Path, SampleFacts], tmp_path: Path) -> Iterator[RunningApp]:
    """A server whose warehouse has an account (so every page needs a login), on its own copy."""
    pristine, facts = sample_warehouse
    db = tmp_path / "citybi.duckdb"
    shutil.copyfile(pristine, db)
    proc = subprocess.run([*_citybi_command(), "users", "add", CLERK[0], "--role", "科员", "--department", "环卫处",
                           "--districts", "临江区", "--password-stdin", "--db", str(db)],
                          input=CLERK[1] + "\n", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with serve(db, facts) as app:
        yield app
