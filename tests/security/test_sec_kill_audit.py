"""kill -9 around a data write: the write and its audit entry survive together, or neither does.

The audit entry of an upload, replace, append, restore or delete used to be written after the
data's commit, in a transaction of its own: a process killed between the two kept the change
and lost the only record of who made it. Now the entry is written in the data's own transaction
(citybi.audit.durable). A child process does one write and is killed with SIGKILL at the exact
moment that matters — right after the commit (before anything else can run), or after the entry
was added but before the commit — and the warehouse, reopened as the next start opens it, must
hold the new data AND its entry, or the old data and no entry; the chain still verifies.
(kill -9 in the middle of a large write: tests/security/test_sec_kill_write.py.)
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from citybi import audit
from citybi.catalog import Catalog, open_warehouse
from citybi.config import load_settings

NAME = "清运明细"

# the child: arms a SIGKILL at `moment`, then does `op`
CHILD = r"""
import contextlib, os, signal, sys
import polars as pl
from citybi import audit
from citybi.catalog import Catalog, open_warehouse
from citybi.config import load_settings
from citybi.warehouse import Warehouse

db, name, op, moment = sys.argv[1:5]
armed = False
plain_tx = Warehouse.transaction

@contextlib.contextmanager
def tx(self):
    with plain_tx(self) as cur:
        yield cur
    if armed and moment == "after-commit":  # the first commit after arming: the write's own
        os.kill(os.getpid(), signal.SIGKILL)

plain_append = audit.DurableLog.append

def append(self, cur, *a, **k):
    entry = plain_append(self, cur, *a, **k)
    if armed and moment == "before-commit":  # the entry is in, the transaction not yet committed
        os.kill(os.getpid(), signal.SIGKILL)
    return entry

Warehouse.transaction = tx
audit.DurableLog.append = append
cat = Catalog(open_warehouse(load_settings(db)))
frame = pl.DataFrame({"区": ["临江区"] * 10, "清运量": [2.0] * 10})
armed = True
if op in ("create", "replace", "append"):
    cat.write(name, frame, mode=op)
elif op == "restore":
    cat.restore(name, 1)
else:
    cat.delete(name)
print("not killed", flush=True)
"""


def _setup(db: Path, op: str) -> None:
    wh = open_warehouse(load_settings(db))
    cat = Catalog(wh)
    if op != "create":
        cat.write(NAME, pl.DataFrame({"区": ["临江区"] * 3, "清运量": [1.0] * 3}))
    if op == "restore":
        cat.write(NAME, pl.DataFrame({"区": ["临江区"] * 5, "清运量": [3.0] * 5}), mode="replace")
    wh.close()


def _state(db: Path) -> tuple[tuple[int, int] | None, list[str], audit.Verdict]:
    """(current version, rows) of the dataset or None, the write actions in the log, the verdict."""
    wh = open_warehouse(load_settings(db))
    try:
        cat = Catalog(wh)
        data = (cat.get(NAME).version, cat.get(NAME).row_count) if NAME in cat.names() else None
        actions = [e.action for e in reversed(audit.entries(wh, limit=1000)) if e.target == NAME]
        return data, actions, audit.verify(wh)
    finally:
        wh.close()


# op → (data before, log before), (data after, log after)
OPS = {
    "create": ((None, []), ((1, 10), ["datasets.create"])),
    "replace": (((1, 3), ["datasets.create"]), ((2, 10), ["datasets.create", "datasets.replace"])),
    "append": (((1, 3), ["datasets.create"]), ((2, 13), ["datasets.create", "datasets.append"])),
    "restore": (((2, 5), ["datasets.create", "datasets.replace"]),
                ((1, 3), ["datasets.create", "datasets.replace", "datasets.restore"])),
    "delete": (((1, 3), ["datasets.create"]), (None, ["datasets.create", "datasets.delete"])),
}
CASES = [(op, moment) for op in OPS for moment in ("after-commit", "before-commit")]


@pytest.mark.parametrize(("op", "moment"), CASES, ids=[f"{o}-{m}" for o, m in CASES])
def test_kill_9_keeps_a_write_and_its_audit_entry_together(tmp_path: Path, op: str, moment: str) -> None:
    db = tmp_path / "citybi.duckdb"
    _setup(db, op)
    child = subprocess.run([sys.executable, "-c", CHILD, str(db), NAME, op, moment], capture_output=True,
                           text=True, timeout=120, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert child.returncode == -signal.SIGKILL, (child.stdout, child.stderr)
    data, actions, verdict = _state(db)
    before, after = OPS[op]
    assert (data, actions) == (after if moment == "after-commit" else before)
    assert verdict.ok, verdict.problems  # an anchor one entry behind is a note, not tampering
