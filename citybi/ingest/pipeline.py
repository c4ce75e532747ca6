"""Reading an uploaded file safely: every parse runs in a child process.

Why: a hostile or broken spreadsheet can make a native reader abort the process or eat
all memory. The app server and the CLI therefore never parse a file themselves; they call
`list_sheets` / `prepare`, which run `python -m citybi.ingest.worker` with a memory cap
(set in the child) and a wall-clock time-out (enforced here), and get back either a plan
plus an Arrow IPC file, or an ImportRejected with a Chinese message.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from citybi import tempfiles
from citybi.config import Limits
from citybi.errors import ImportRejected, storage_error
from citybi.ingest.model import ImportOptions, ImportPlan
from citybi.ingest.recipe import Recipe
from citybi.ingest.worker import PARENT_ENV
from connectors.base import SheetInfo

CRASH_MSG = (
    "读取文件时解析器崩溃/内存超限，文件可能已损坏或过大。"
    "请在 Excel 中打开该文件并“另存为”新的 .xlsx（或拆分成较小的文件）后再上传。"
)
TEMP_ACTION = "保存导入用的临时文件"
TIMEOUT_MSG = (
    "读取文件超时（超过 {s:.0f} 秒），文件可能过大或结构异常。请拆分成较小的文件，或另存为 CSV 后再上传。"
)


@dataclass
class Prepared:
    """A plan and the clean frame it describes, written by the reader child as Arrow IPC."""

    plan: ImportPlan
    frame_path: Path
    # the temporary folder prepare() made for this frame (None when the caller passed work_dir)
    own_dir: Path | None = None

    def frame(self) -> pl.DataFrame:
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


def _run_child(request: dict[str, Any], limits: Limits, work_dir: Path) -> dict[str, Any]:
    result_path = work_dir / f"result-{uuid.uuid4().hex}.json"
    request = {**request, "result_path": str(result_path), "limits": asdict(limits)}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "citybi.ingest.worker"],
            input=json.dumps(request, ensure_ascii=False).encode("utf-8"),
            capture_output=True,
            timeout=limits.reader_timeout_s,
            env={**os.environ, "PYTHONIOENCODING": "utf-8", PARENT_ENV: str(os.getpid())},
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        # subprocess.run has killed the child already
        raise ImportRejected(TIMEOUT_MSG.format(s=limits.reader_timeout_s), detail=str(exc)) from exc
    stderr_tail = proc.stderr[-2000:].decode("utf-8", "replace")
    try:
        if proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name if -proc.returncode in signal.valid_signals() else "?"
            raise ImportRejected(CRASH_MSG, detail=f"reader died by signal {sig}; {stderr_tail}")
        if not result_path.exists():
            # a full or read-only temp disk stops the reader before it can even write its result
            disk = storage_error(OSError(stderr_tail), TEMP_ACTION)
            if disk is not None:
                raise disk
            raise ImportRejected(CRASH_MSG, detail=f"reader exit {proc.returncode}, no result; {stderr_tail}")
        result = json.loads(result_path.read_text(encoding="utf-8"))
    finally:
        result_path.unlink(missing_ok=True)
    if result.get("ok"):
        return result
    if "error" in result:
        e = result["error"]
        raise ImportRejected(e.get("message", CRASH_MSG), hint=e.get("hint", ""), detail=e.get("detail", ""))
    if result.get("oom"):
        raise ImportRejected(CRASH_MSG, detail="MemoryError in reader")
    disk = storage_error(OSError(result.get("crash", "")), TEMP_ACTION)
    if disk is not None:  # the file is fine: the disk refused the frame
        raise disk
    raise ImportRejected(
        "读取文件时出现意外错误，文件可能已损坏。请在 Excel 中打开并另存为新文件后再上传。",
        detail=f"{result.get('crash', '')}\n{result.get('trace', '')}",
    )


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
