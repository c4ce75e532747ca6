"""Imports handed from the command line to the running app (DuckDB allows one writer process).

While the app is running it holds the warehouse file; a second process cannot open it,
not even read-only (FACTS.md). Rather than failing, `citybi ingest` then drops the job
into an inbox folder beside the warehouse file and waits; the app's background worker
(started with its Warehouse) imports it through the same importer, in one transaction, and
writes the outcome next to the job. The CLI prints that outcome as if it had done the work.

Layout: <db>.inbox/<job-id>/{job.json, <file>, result.json}. A job is claimed by renaming
job.json to job.taken, so two app processes never import the same file twice.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from citybi.errors import UserFacingError
from citybi.ingest.model import ImportOptions

POLL_S = 1.0


def inbox_dir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".inbox")


def submit(db_path: Path, file: Path, *, table: str, mode: str, options: ImportOptions,
           key_columns: list[str] | None = None, display_name: str | None = None,
           description: str | None = None) -> Path:
    """Queue an import for the running app; returns the job folder."""
    job = inbox_dir(db_path) / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    job.mkdir(parents=True)
    shutil.copy2(file, job / file.name)
    spec = {"file": file.name, "table": table, "mode": mode, "options": options.model_dump(mode="json"),
            "key_columns": key_columns or [], "display_name": display_name, "description": description}
    tmp = job / "job.json.part"
    tmp.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    tmp.rename(job / "job.json")  # atomic: the app never sees half a job
    return job


def wait(job: Path, timeout_s: float = 900.0) -> dict[str, Any]:
    """Wait for the app's result of a job (raises UserFacingError when nobody picks it up)."""
    deadline = time.monotonic() + timeout_s
    result = job / "result.json"
    while time.monotonic() < deadline:
        if result.exists():
            outcome = json.loads(result.read_text(encoding="utf-8"))
            shutil.rmtree(job, ignore_errors=True)
            return outcome
        time.sleep(POLL_S)
    raise UserFacingError(
        "正在运行的应用没有在规定时间内处理这个导入任务。",
        hint=f"任务仍保存在 {job}，应用空闲时会继续处理；也可以在应用的「数据导入」页直接上传",
    )


def process_pending(wh: Any) -> int:
    """Import every queued job (called by the app's worker thread); returns how many ran."""
    from citybi.importer import ingest_file

    folder = inbox_dir(Path(wh.path))
    if not folder.is_dir():
        return 0
    done = 0
    for job in sorted(p for p in folder.iterdir() if (p / "job.json").exists()):
        taken = job / "job.taken"
        try:
            (job / "job.json").rename(taken)
        except OSError:
            continue  # another process claimed it
        spec = json.loads(taken.read_text(encoding="utf-8"))
        try:
            res = ingest_file(
                wh, job / spec["file"], table=spec["table"], mode=spec["mode"],
                options=ImportOptions.model_validate(spec["options"]), key_columns=spec["key_columns"] or None,
                display_name=spec.get("display_name"), description=spec.get("description"),
                original_name=spec["file"],
            )
            outcome: dict[str, Any] = {
                "status": "ok", "table": res.write.dataset, "version": res.write.version, "mode": res.write.mode,
                "rows": res.write.rows_written, "rows_added": res.write.rows_added,
                "rows_updated": res.write.rows_updated, "summary": res.plan.summary_zh(),
                "warnings": res.plan.warnings, "plan": json.loads(res.plan.model_dump_json()),
            }
        except UserFacingError as err:
            outcome = {"status": "error", "message": str(err)}
        except Exception as err:  # the worker must survive any single bad job
            outcome = {"status": "error", "message": f"导入失败：{type(err).__name__}"}
        with contextlib.suppress(OSError):
            (job / spec["file"]).unlink()
        part = job / "result.json.part"
        part.write_text(json.dumps(outcome, ensure_ascii=False, default=str), encoding="utf-8")
        part.rename(job / "result.json")
        done += 1
    return done


def start_worker(wh: Any, interval_s: float = 2.0) -> threading.Thread:
    """A daemon thread that imports queued CLI jobs while the app runs."""

    def loop() -> None:
        while True:
            with contextlib.suppress(Exception):
                process_pending(wh)
            time.sleep(interval_s)

    thread = threading.Thread(target=loop, name="citybi-inbox", daemon=True)
    thread.start()
    return thread
