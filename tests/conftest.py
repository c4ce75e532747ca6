"""Make CI unable to pass by skipping.

Tests that need something this machine lacks (a browser, CJK fonts, a database server) skip
locally with a reason. In CI (`.ci/run` exports CITYBI_REQUIRE_ALL=1) a skip would silently
hide exactly the tests CI exists to run, so there every skip — in setup, in the test body or
while collecting a module — is reported as a failure carrying the original reason.
Expected failures (xfail) are left alone: they are a decision, not a missing dependency.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

REQUIRE_ALL_ENV = "CITYBI_REQUIRE_ALL"


def _required() -> bool:
    return os.environ.get(REQUIRE_ALL_ENV, "").strip() not in ("", "0")


def _skip_reason(longrepr: Any) -> str:
    # a skip's longrepr is the tuple (path, lineno, "Skipped: reason")
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return f"{longrepr[2]} ({longrepr[0]}:{longrepr[1]})"
    return str(longrepr)


def _as_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    report.outcome = "failed"
    # the reason first: the short summary line cuts the end off
    report.longrepr = (
        f"{_skip_reason(report.longrepr)} — skipped, and with {REQUIRE_ALL_ENV}=1 (CI) a skip is a failure. "
        "Install what the test needs (bash .ci/run does it for CI) instead of skipping."
    )


def pytest_configure(config: pytest.Config) -> None:
    # a skipped module becomes a failed collection below; without this pytest would stop the
    # whole run at the first one and CI would report nothing about the other tests
    if _required():
        config.option.continue_on_collection_errors = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if _required() and report.skipped and not hasattr(report, "wasxfail"):
        _as_failure(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    # module-level pytest.skip(allow_module_level=True) and importorskip skip at collection
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if _required() and report.skipped:
        _as_failure(report)


# ---------------------------------------------------------------------------- the sample city, built once
@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample city imported once per test session (it takes ~10-20 s).

    Modules never use this file directly: they take a copy (`sample_copy`), so one module's
    writes (an extra dataset, a replaced version) cannot leak into another's results.
    """
    from citybi.catalog import open_warehouse
    from citybi.samples import load_samples

    folder = tmp_path_factory.mktemp("sample_template")
    wh = open_warehouse(path=folder / "city.duckdb")
    try:
        load_samples(wh)
    finally:
        wh.close()
    return folder / "city.duckdb"


@pytest.fixture(scope="session")
def sample_copy(sample_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`sample_copy("boards")` → the path of a fresh copy of the sample warehouse (same file name)."""

    def copy(label: str) -> Path:
        dest = tmp_path_factory.mktemp(label) / sample_template.name
        shutil.copyfile(sample_template, dest)
        return dest

    return copy
