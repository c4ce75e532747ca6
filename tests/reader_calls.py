"""The reader's own request handling, called in the test process (the early-read tests of .xlsx and CSV).

Why a helper: those tests check what the sandboxed reader does with a request — the plan and frame
it returns, which body reads it starts — without a child process in between; both build the same
request, read its answer and clean up after it the way the reader does between requests.
"""
from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from citybi.config import Limits
from citybi.errors import ImportRejected
from citybi.ingest import worker
from citybi.ingest.model import ImportOptions


def request(path: Path, out: Path, options: ImportOptions | None = None) -> dict[str, Any]:
    """A `prepare` request for `path`, its frame written to `out`, as the pool sends it."""
    return {"op": "prepare", "path": str(path), "options": (options or ImportOptions()).model_dump(mode="json"),
            "sha256": "", "frame_path": str(out), "limits": asdict(Limits()), "recipes": [],
            "original_name": path.name}


def read(path: Path, tmp: Path, tag: str, options: ImportOptions | None = None) -> tuple[dict[str, Any], pl.DataFrame]:
    """(plan, frame) of one request; afterwards the reader's per-request state is dropped (worker._forget)."""
    try:
        res = worker._prepare(request(path, tmp / f"{tag}.arrow", options))
        return res["plan"], pl.read_ipc(res["frame_path"])
    finally:
        worker._forget()


def hint(path: Path, options: ImportOptions | None = None) -> dict[str, Any]:
    """What `citybi ingest` tells a reader it starts for `path` (worker.early_hint)."""
    got = worker.early_hint(path, options or ImportOptions(), Limits())
    assert got is not None
    return got


def refuse_sheet(path: Path, tmp: Path, sheet: str) -> None:
    """A request for a sheet the file lacks: refused in Chinese; then what the reader does after answering."""
    with pytest.raises(ImportRejected, match=f"没有名为「{sheet}」的工作表"):
        worker._prepare(request(path, tmp / "f.arrow", ImportOptions(sheet=sheet)))
    worker._forget()


def threads_named(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]
