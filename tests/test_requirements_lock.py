"""requirements.lock (what `make` installs) must satisfy every bound in pyproject.toml.

Why: the Makefile installs the lock, not pyproject.toml, so a dependency added or a bound
raised in pyproject.toml without `make lock` would otherwise go unnoticed until some other
machine lacks it. The bounds themselves carry their reasons as comments in pyproject.toml.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*(.+))?$")


def _lock() -> dict[str, list[tuple[Version, str]]]:
    """name → [(pinned version, marker text)] (a universal lock may pin per Python version)."""
    out: dict[str, list[tuple[Version, str]]] = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        m = _PIN.match(line.strip())
        if m:
            out.setdefault(canonicalize_name(m.group(1)), []).append((Version(m.group(2)), m.group(3) or ""))
    return out


def _declared() -> list[tuple[str, str]]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [("dependencies", r) for r in meta["dependencies"]]
    reqs += [(f"extra {k}", r) for k, rs in meta.get("optional-dependencies", {}).items() for r in rs]
    return reqs


DECLARED = _declared()


@pytest.mark.parametrize(("where", "requirement"), DECLARED, ids=[r for _, r in DECLARED])
def test_lock_pins_a_version_inside_each_bound(where: str, requirement: str) -> None:
    req = Requirement(requirement)
    pins = _lock().get(canonicalize_name(req.name), [])
    assert pins, f"{req.name} ({where}) is not in requirements.lock: run `make lock`"
    outside = [str(v) for v, _ in pins if not req.specifier.contains(v, prereleases=True)]
    assert not outside, f"requirements.lock pins {req.name}=={outside}, outside {req.specifier}: run `make lock`"


def test_lock_file_parses_into_pins() -> None:
    """The parser above must see the lock, or the table above would pass on an empty file."""
    lock = _lock()
    assert len(lock) > len(DECLARED)  # the lock also pins everything the dependencies pull in
    assert {"streamlit", "sqlglot", "polars", "duckdb"} <= set(lock)
