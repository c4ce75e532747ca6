"""The CI guard in tests/conftest.py: with CITYBI_REQUIRE_ALL=1 no kind of skip can pass.

Why a subprocess: the guard changes how pytest itself reports outcomes, so it is checked the
way CI sees it — a separate pytest run over a throw-away test directory whose conftest is the
project's conftest verbatim plus a recorder of final outcomes and the exit status.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

PROJECT_CONFTEST = Path(__file__).with_name("conftest.py")

RECORDER = '''

# --- appended by test_ci_guard.py: record each test file's final outcome and the exit status
import json as _json
import pathlib as _pathlib

_RANK = {"passed": 0, "xfailed": 1, "skipped": 2, "failed": 3}
_OUT: dict = {}


def _record(nodeid, state, text):
    key = nodeid.split("::")[0]
    if key not in _OUT or _RANK[state] > _RANK[_OUT[key]["state"]]:
        _OUT[key] = {"state": state, "text": text}


def pytest_runtest_logreport(report):
    _record(report.nodeid, "xfailed" if hasattr(report, "wasxfail") else report.outcome, str(report.longrepr))


def pytest_collectreport(report):
    if not report.passed and report.nodeid.endswith(".py"):
        _record(report.nodeid, report.outcome, str(report.longrepr))


def pytest_sessionfinish(session, exitstatus):
    _pathlib.Path(session.config.rootpath, "outcomes.json").write_text(
        _json.dumps({"files": _OUT, "exit": int(exitstatus)}))
'''

# file name → (test source, outcome without the guard, outcome with CITYBI_REQUIRE_ALL=1)
CASES: dict[str, tuple[str, str, str]] = {
    "test_plain.py": ("def test_ok():\n    assert 1 + 1 == 2\n", "passed", "passed"),
    "test_skip_in_body.py": (
        "import pytest\n\ndef test_it():\n    pytest.skip('no database server on 127.0.0.1:5432')\n",
        "skipped", "failed",
    ),
    "test_skipif_marker.py": (
        "import pytest\n\n@pytest.mark.skipif(True, reason='chromium missing')\ndef test_it():\n    pass\n",
        "skipped", "failed",
    ),
    "test_skip_in_fixture.py": (
        "import pytest\n\n@pytest.fixture\ndef browser():\n    pytest.skip('no browser here')\n\n"
        "def test_it(browser):\n    pass\n",
        "skipped", "failed",
    ),
    "test_module_level_skip.py": (
        "import pytest\n\npytest.skip('whole module needs redis', allow_module_level=True)\n\n"
        "def test_it():\n    pass\n",
        "skipped", "failed",
    ),
    "test_importorskip.py": (
        "import pytest\n\npytest.importorskip('citybi_module_that_does_not_exist')\n\ndef test_it():\n    pass\n",
        "skipped", "failed",
    ),
    "test_xfail_stays.py": (
        "import pytest\n\n@pytest.mark.xfail(reason='known bug', strict=True)\ndef test_it():\n    assert False\n",
        "xfailed", "xfailed",
    ),
}

# the reason each skipping case gives: a CI failure must still say what was missing
REASONS: dict[str, str] = {
    "test_skip_in_body.py": "no database server on 127.0.0.1:5432",
    "test_skipif_marker.py": "chromium missing",
    "test_skip_in_fixture.py": "no browser here",
    "test_module_level_skip.py": "whole module needs redis",
    "test_importorskip.py": "citybi_module_that_does_not_exist",
}


@pytest.fixture(scope="module", params=[None, "0", "1"], ids=["unset", "zero", "one"])
def guarded_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One pytest run over all CASES with CITYBI_REQUIRE_ALL unset, "0" or "1"."""
    root = tmp_path_factory.mktemp(f"guard_{request.param}")
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(PROJECT_CONFTEST.read_text(encoding="utf-8") + RECORDER, encoding="utf-8")
    for name, (source, _lax, _strict) in CASES.items():
        (root / name).write_text(textwrap.dedent(source), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CITYBI_REQUIRE_ALL"}
    if request.param is not None:
        env["CITYBI_REQUIRE_ALL"] = request.param
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(root), str(root)],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )
    result = json.loads((root / "outcomes.json").read_text())
    result["env"] = request.param
    result["stdout"] = proc.stdout
    result["returncode"] = proc.returncode
    return result


@pytest.mark.parametrize("name", list(CASES))
def test_outcome_per_kind_of_skip(guarded_run: dict[str, Any], name: str) -> None:
    _source, lax, strict = CASES[name]
    expected = strict if guarded_run["env"] == "1" else lax
    assert guarded_run["files"][name]["state"] == expected, guarded_run["stdout"]


@pytest.mark.parametrize("name", list(REASONS))
def test_failure_keeps_the_reason(guarded_run: dict[str, Any], name: str) -> None:
    text = guarded_run["files"][name]["text"]
    assert REASONS[name] in text
    if guarded_run["env"] == "1":
        assert "CITYBI_REQUIRE_ALL=1 (CI)" in text


def test_exit_status(guarded_run: dict[str, Any]) -> None:
    # what CI actually looks at: make test's exit status
    expected = 1 if guarded_run["env"] == "1" else 0
    assert (guarded_run["exit"], guarded_run["returncode"]) == (expected, expected), guarded_run["stdout"]
