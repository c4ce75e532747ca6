"""Reading an uploaded file safely: every parse runs in a child process.

Why: a hostile or broken spreadsheet can make a native reader abort the process or eat
all memory. The app server and the CLI therefore never parse a file themselves; they call
`list_sheets` / `prepare`, which hand the request to a reader process
(`python -m citybi.ingest.worker`, pre-started and reused by citybi.ingest.pool) with a
memory cap (set in the child per request) and a wall-clock time-out (enforced by the pool),
and get back either a plan plus an Arrow IPC file, or an ImportRejected with a Chinese message.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import threading
import uuid
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citybi import tempfiles
from citybi.config import Limits
from citybi.errors import storage_error
from citybi.ingest.model import ImportOptions, ImportPlan
from citybi.ingest.pool import CRASH_MSG, TEMP_ACTION, TIMEOUT_MSG, pool
from citybi.ingest.recipe import Recipe
from connectors.base import SheetInfo

if TYPE_CHECKING:
    import polars as pl

__all__ = ["CRASH_MSG", "TIMEOUT_MSG", "Prepared", "file_sha256", "list_sheets", "prepare", "prepare_early",
           "prestart"]


# A frame file up to this size is read into memory by polars (200,000 × 12: ~50 MB in 25 ms), a bigger one
# memory-mapped through pyarrow, whose import with numpy (~0.14 CPU-s) a one-shot `citybi ingest` then
# pays beside its reader on a two-core machine
_COPY_FRAME_BYTES = 128 * 1024 * 1024


@dataclass
class Prepared:
    """A plan and the clean frame it describes, written by the reader child as Arrow IPC."""

    plan: ImportPlan
    frame_path: Path
    # the temporary folder prepare() made for this frame (None when the caller passed work_dir)
    own_dir: Path | None = None
    # the frame once read, by file: shared by the copies the importer makes with a new plan (standardising
    # reads it, then the commit), so the file is read once (200,000 × 12: ~25–45 ms a time)
    frames: dict[Path, Any] = field(default_factory=dict, repr=False, compare=False)

    def frame(self) -> pl.DataFrame:
        got = self.frames.get(self.frame_path)
        if got is None:
            got = self.frames[self.frame_path] = self._read_frame()
        return got

    def _read_frame(self) -> pl.DataFrame:
        import polars as pl

        if self.frame_path.stat().st_size <= _COPY_FRAME_BYTES:
            return pl.read_ipc(self.frame_path)
        # memory-mapped through pyarrow (polars 2 dropped read_ipc(memory_map=)): a large
        # uncompressed frame is not copied into the parent's heap
        import pyarrow as pa

        with pa.memory_map(str(self.frame_path), "r") as src:
            table = pa.ipc.open_file(src).read_all()
        out = pl.from_arrow(table)
        assert isinstance(out, pl.DataFrame)
        return out

    def discard(self) -> None:
        """Remove the frame file, and the temporary folder when prepare() made it."""
        self.frames.clear()
        try:
            self.frame_path.unlink()
        except FileNotFoundError:
            pass
        if self.own_dir is not None:
            shutil.rmtree(self.own_dir, ignore_errors=True)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            h.update(block)
    return h.hexdigest()


def prestart(limits: Limits | None = None) -> None:
    """Start the reader now (the app at start-up, `citybi ingest` before its own imports), so
    the first import does not wait for Python and polars to load in the reader."""
    pool().prestart(limits)


def _run_child(request: dict[str, Any], limits: Limits, work_dir: Path) -> dict[str, Any]:
    """One request to the sandboxed reader (citybi.ingest.pool); its result or ImportRejected."""
    return pool().run(request, limits, work_dir)


def _temp_dir(prefix: str) -> Path:
    """A folder under this process's temp folder (citybi.tempfiles: swept if we are killed)."""
    try:
        return tempfiles.make_dir(prefix)
    except OSError as err:
        disk = storage_error(err, TEMP_ACTION)
        if disk is not None:
            raise disk from err
        raise


def list_sheets(path: Path, limits: Limits) -> list[SheetInfo]:
    """Every sheet of the file (empty ones marked), listed by the sandboxed reader."""
    tmp = _temp_dir("list-")
    try:
        res = _run_child({"op": "list_sheets", "path": str(Path(path).resolve())}, limits, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [SheetInfo(**s) for s in res["sheets"]]


# prepare() calls started ahead of time (prepare_early), by their arguments and the file's state
_EARLY: dict[str, Future[Prepared]] = {}
_EARLY_LOCK = threading.Lock()


def _early_key(path: Path, options: ImportOptions, limits: Limits, original_name: str | None,
               recipes: list[Recipe] | None) -> str | None:
    try:
        resolved = Path(path).resolve()
        st = resolved.stat()
    except OSError:
        return None
    return json.dumps([str(resolved), st.st_mtime_ns, st.st_size, st.st_ino, options.model_dump(mode="json"),
                       asdict(limits), original_name, [r.model_dump(mode="json") for r in recipes or []]],
                      ensure_ascii=False, sort_keys=True, default=str)


def prepare_early(path: Path, options: ImportOptions, limits: Limits, *, original_name: str | None = None,
                  recipes: list[Recipe] | None = None) -> None:
    """Start `prepare` with these arguments now, in the background.

    For a one-shot command (`citybi ingest`): the reader reads and shapes the file while the
    command is still loading its own modules. The first later `prepare` with equal arguments, on
    the unchanged file (path, size, modification time), takes this result instead of reading
    again; any other call reads as usual, so the result is the same either way. An early result
    nobody takes is removed when the process exits.
    """
    key = _early_key(path, options, limits, original_name, recipes)
    if key is None:
        return
    future: Future[Prepared] = Future()
    with _EARLY_LOCK:
        if key in _EARLY:
            return
        _EARLY[key] = future

    def work() -> None:
        try:
            future.set_result(_prepare_now(path, options, limits, None, original_name, recipes))
        except BaseException as exc:  # handed to the caller that takes it, as prepare() would raise it
            future.set_exception(exc)

    threading.Thread(target=work, name="citybi-prepare-early", daemon=True).start()


def _discard_unclaimed() -> None:
    with _EARLY_LOCK:
        left = list(_EARLY.values())
        _EARLY.clear()
    for future in left:
        if future.done() and future.exception() is None:
            future.result().discard()


atexit.register(_discard_unclaimed)


def prepare(
    path: Path,
    options: ImportOptions,
    limits: Limits,
    *,
    work_dir: Path | None = None,
    original_name: str | None = None,
    recipes: list[Recipe] | None = None,
) -> Prepared:
    """Guard, read and shape the file in a child process; the frame lands in `work_dir`.

    Given saved `recipes`, the child applies the one made for this layout before shaping (the
    plan says which, in `plan.recipe`): a matching file is still read once.
    """
    if work_dir is None and _EARLY:
        key = _early_key(path, options, limits, original_name, recipes)
        with _EARLY_LOCK:
            early = _EARLY.pop(key, None) if key is not None else None
        if early is not None:
            return early.result()
    return _prepare_now(path, options, limits, work_dir, original_name, recipes)


def _prepare_now(path: Path, options: ImportOptions, limits: Limits, work_dir: Path | None,
                 original_name: str | None, recipes: list[Recipe] | None) -> Prepared:
    path = Path(path).resolve()
    wd = Path(work_dir) if work_dir is not None else _temp_dir("import-")
    try:
        wd.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        disk = storage_error(err, TEMP_ACTION)
        if disk is not None:
            raise disk from err
        raise
    frame_path = wd / f"frame-{uuid.uuid4().hex}.arrow"
    req = {
        "op": "prepare",
        "path": str(path),
        "options": options.model_dump(mode="json"),
        "original_name": original_name or path.name,
        "sha256": file_sha256(path) if path.is_file() else "",
        "frame_path": str(frame_path),
        "recipes": [r.model_dump(mode="json") for r in recipes or []],
    }
    try:
        res = _run_child(req, limits, wd)
        plan = ImportPlan.model_validate(res["plan"])
    except BaseException:
        if work_dir is None:  # a refused or crashed import leaves nothing behind
            shutil.rmtree(wd, ignore_errors=True)
        raise
    return Prepared(plan=plan, frame_path=Path(res["frame_path"]), own_dir=None if work_dir is not None else wd)
