"""The chart-type registry under threads: the first lookups of a fresh process, made at once.

A fresh server's first board is opened by many sessions together, and each tile asks the
registry for its type. The registry loads its built-ins lazily; it used to mark itself loaded
before the imports ended, so a second thread read a half-filled registry and a board said
「图表类型「kpi」不存在」 (seen with bench/load.py). Plotly, drawing, imports pandas lazily too:
a half-imported pandas failed with "no attribute 'Series'", so the registry's load imports it
first. Each case is a fresh interpreter, so the registry really starts empty; 16 threads ask
for every built-in type at the same moment.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from citybi.charts.types import BUILTINS

FIRST_LOOKUPS = r"""
import sys, threading
from citybi.charts import types
wanted = sys.argv[1:]
go = threading.Barrier(16)
missing = []
def look():
    go.wait()
    for name in wanted:
        try:
            types.get_type(name)
        except Exception as err:
            missing.append(f"{name}: {err}")
threads = [threading.Thread(target=look) for _ in range(16)]
[t.start() for t in threads]
[t.join() for t in threads]
# plotly's first figure imports pandas lazily: it must be whole before any thread draws
if not hasattr(sys.modules.get("pandas"), "Series"):
    missing.append("pandas is not imported whole")
print(len(missing))
print("\n".join(missing[:3]))
"""


@pytest.mark.parametrize("attempt", range(3))
def test_first_lookups_from_many_threads_find_every_builtin(attempt: int) -> None:
    proc = subprocess.run([sys.executable, "-c", FIRST_LOOKUPS, *reversed(BUILTINS)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[0] == "0", proc.stdout
