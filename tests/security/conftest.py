"""Attack tests: one file per attack family, each a table of attacks → expected refusal.

These reproduce what was found when CityBI was probed as an outsider would probe it
(inbox path traversal, query-door scope bypass, YAML and render bombs, link injection,
formula cells in downloads, raw I/O tracebacks, leftovers after faults, unbounded questions,
recipe name collisions). Each test failed before its fix. The shared fixture helpers in
tests/ (filefactory, charts_fixture) are importable from here.
"""
from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
