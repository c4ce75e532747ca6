"""kill -9 in the middle of writing a dataset: after reopening it is the old version or the new one, never half.

An import of a new dataset and a replace both end in one Catalog.write transaction (the
version table, the view, the catalog rows). A child process writes a large frame and is
killed with SIGKILL while it writes — as a hard stop of the server or the OOM killer would —
at several moments. The warehouse is then reopened the way the next start opens it, and must
hold exactly one whole version (row count and values of the old frame or of the new one),
with no version table, view or catalog row that the catalog does not account for.
(Temp files and reader children after a killed import are tests/security/test_sec_leftovers.py;
a read-only or full data folder is tests/security/test_sec_io_errors.py.)
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from citybi.catalog import _SCHEMA_SQL, Catalog, open_warehouse
from citybi.config import load_settings

NAME = "清运明细"
OLD_ROWS = 1_000
NEW_ROWS = 8_000_000  # large enough that the write takes seconds even on a quiet machine, so the kill lands inside it

# the child: writes NEW_ROWS rows (value 2.0 each) as `mode`, says when it starts, says when done
WRITER = r"""
import sys
import polars as pl
from citybi.catalog import Catalog, open_warehouse
from citybi.config import load_settings
db, name, mode, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ids = pl.int_range(0, rows, eager=True)
frame = pl.DataFrame({"编号": ids, "区": ["临江区", "北港区"] * (rows // 2), "清运量": [2.0] * rows,
                      "说明": ("第" + ids.cast(pl.String) + "条清运记录").alias("说明")})
wh = open_warehouse(load_settings(db))
print("writing", flush=True)
Catalog(wh).write(name, frame, mode=mode)
print("done", flush=True)
"""

# tables the catalog itself keeps (read from its schema, so a new catalog table needs no edit here);
# anything else must be a dataset's view or a live version's table
CATALOG_TABLES = {m for sql in _SCHEMA_SQL for m in re.findall(r"CREATE TABLE IF NOT EXISTS _citybi\.(\w+)", sql)}


def _old_frame() -> pl.DataFrame:
    return pl.DataFrame({"编号": list(range(OLD_ROWS)), "区": ["临江区"] * OLD_ROWS, "清运量": [1.0] * OLD_ROWS})


def _kill_while_writing(db: Path, mode: str, delay: float) -> None:
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(db), NAME, mode, str(NEW_ROWS)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        assert line == "writing", (line, child.stderr.read() if child.stderr else "")
        time.sleep(delay)
        # the write must still be going on, or the case tests nothing
        assert child.poll() is None, f"the write finished before the kill at {delay} s; make NEW_ROWS larger"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL


def _state(db: Path) -> tuple[list[str], int | None, set[float], list[int], set[str], set[str], set[str]]:
    """What the next start sees: datasets, rows and values, versions, and tables of each kind."""
    wh = open_warehouse(load_settings(db))
    try:
        cat = Catalog(wh)
        names = cat.names()
        cur = wh.cursor()
        rows: int | None = None
        values: set[float] = set()
        versions: list[int] = []
        if NAME in names:
            rows = int(cur.execute(f'SELECT count(*) FROM "{NAME}"').fetchall()[0][0])
            values = {float(r[0]) for r in cur.execute(f'SELECT DISTINCT "清运量" FROM "{NAME}"').fetchall()}
            versions = sorted(v.version for v in cat.versions(NAME))
        live = {str(r[0]) for r in cur.execute(
            "SELECT physical FROM _citybi.versions WHERE NOT dropped").fetchall()}
        physical = {str(r[0]) for r in cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '_citybi' "
            "AND table_name LIKE 'ds_%'").fetchall()}
        others = {f"{r[0]}.{r[1]}" for r in cur.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('main', '_citybi') "
            "AND table_name NOT LIKE 'ds_%'").fetchall()} - {f"_citybi.{t}" for t in CATALOG_TABLES} \
            - {f"main.{n}" for n in names}
        return names, rows, values, versions, live, physical, others
    finally:
        wh.close()


# (case, mode, seconds after the write began): a new dataset (an import) and a replace,
# killed at once, early and late in the write
KILLS = [
    ("import-at-once", "create", 0.0), ("import-early", "create", 0.3), ("import-late", "create", 0.8),
    ("replace-at-once", "replace", 0.0), ("replace-early", "replace", 0.3), ("replace-late", "replace", 0.8),
]


@pytest.mark.parametrize(("case", "mode", "delay"), KILLS, ids=[k[0] for k in KILLS])
def test_kill_9_mid_write_leaves_old_or_new_never_half(tmp_path: Path, case: str, mode: str, delay: float) -> None:
    db = tmp_path / "citybi.duckdb"
    wh = open_warehouse(load_settings(db))
    if mode == "replace":
        Catalog(wh).write(NAME, _old_frame())
    wh.close()

    _kill_while_writing(db, mode, delay)
    names, rows, values, versions, live, physical, others = _state(db)

    old = ([], None, set(), []) if mode == "create" else ([NAME], OLD_ROWS, {1.0}, [1])
    new = ([NAME], NEW_ROWS, {2.0}, [1] if mode == "create" else [1, 2])
    assert (names, rows, values, versions) in (old, new), (case, names, rows, values, versions)
    assert physical == live, f"version tables the catalog does not know: {physical - live}"
    assert others == set(), f"leftover tables or views: {others}"

    # and the warehouse takes the next write as usual
    wh = open_warehouse(load_settings(db))
    try:
        done = Catalog(wh).write(NAME, _old_frame(), mode="replace")
        assert done.rows_written == OLD_ROWS
    finally:
        wh.close()
