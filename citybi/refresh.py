"""Refreshing data sources: one run of a definition, with history, and the app's source schedule.

Why a module between the definitions and the pages: a run is the same whoever starts it —
the scheduler, 立即刷新 on the 数据源 page, `citybi sources refresh` (directly, or through the
app's inbox when the app holds the warehouse). Each run is recorded in the catalog (started,
ended, status, rows added/updated, the Chinese error, duration), reads where the previous run
stopped (a watermark, an ETag) and keeps where it stopped in the same transaction as its rows.
A run that fails writes nothing: the fetch happens before the one write transaction, and a
failed transaction rolls back (citybi.catalog), so the dataset stays exactly as it was.

`SourceSchedule` ties the definitions folder to the one in-process scheduler (citybi.scheduler):
one job per definition, re-read from the folder every SYNC_S seconds and after every change made
through it, so a definition added by the CLI or edited in git is picked up by the running app.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from citybi.catalog import Catalog, SourceRun
from citybi.errors import UserFacingError
from citybi.events import dataset_changed
from citybi.secrets import Secret, redact
from citybi.sourcedefs import SourceDef, SourceDefError, SourceFolder
from citybi.sources import SourcePreview, import_source, preview_source, resolve_secret
from citybi.warehouse import Warehouse
from connectors.source import SourceRequest

log = logging.getLogger(__name__)

TRIGGER_SCHEDULE = "定时"
TRIGGER_MANUAL = "手动"
TRIGGER_CLI = "命令行"
INTERRUPTED = "应用在刷新过程中停止了，这次刷新没有写入任何数据。"
BUSY = "上一次刷新还没有结束，这次跳过（同一数据源同一时间只运行一次）。"


@dataclass(frozen=True)
class RunOutcome:
    """What one run did (also kept as a row of the history)."""

    source: str
    dataset: str
    status: str  # ok | failed | skipped
    rows_added: int = 0
    rows_updated: int = 0
    version: int | None = None
    message: str = ""
    duration_s: float = 0.0
    run_id: int | None = None

    def as_json(self) -> dict[str, object]:
        return {"status": self.status, "source": self.source, "table": self.dataset, "rows_added": self.rows_added,
                "rows_updated": self.rows_updated, "version": self.version, "message": self.message,
                "duration_s": round(self.duration_s, 3), "run_id": self.run_id}


def source_request(wh_path: str | Path, source: SourceDef, state: dict[str, object] | None = None) -> SourceRequest:
    """What the connector is asked, from a definition: the secret resolved by name, the last state."""
    return SourceRequest(url=source.url, query=source.query, table=source.source_table or source.table,
                         record_path=source.record_path, max_messages=source.max_messages, seconds=source.seconds,
                         secret=resolve_secret(wh_path, source.secret), state=dict(state or {}),
                         watermark=source.watermark)


def check_connection(wh_path: str | Path, source: SourceDef) -> str:
    """测试连接: connect and say in one Chinese sentence what is there (raises a Chinese error)."""
    from connectors.source import source_for

    request = source_request(wh_path, source)
    connector = source_for(source.url)
    connector.check(request)
    return connector.test(request)


def preview(wh: Warehouse, source: SourceDef) -> SourcePreview:
    """预览: the source's first rows as the import would type them; nothing is written."""
    return preview_source(wh, source_request(wh.path, source))


# The check a refresh runs before REPLACING a dataset (saved boards, charts and alerts it would break).
# It lives in citybi.lineage, which sits above this module; the entry points that run refreshes (the
# app, the CLI) install it with guard_replaces. Without one, a replace is not checked.
ReplaceGuard = Callable[[Warehouse, str, dict[str, str]], None]
_REPLACE_GUARD: list[ReplaceGuard] = []


def guard_replaces(check: ReplaceGuard) -> None:
    """Install the check every source refresh in this process runs before a replace (raise to refuse)."""
    _REPLACE_GUARD[:] = [check]


def _replace_check(wh: Warehouse, table: str) -> Callable[[dict[str, str]], None] | None:
    """The installed guard for this dataset: a replace never breaks saved boards unseen (the run
    fails and the dataset stays as it was)."""
    if not _REPLACE_GUARD:
        return None
    check = _REPLACE_GUARD[0]
    return lambda types: check(wh, table, types)


def refresh_source(wh: Warehouse, source: SourceDef, *, trigger: str = TRIGGER_MANUAL) -> RunOutcome:
    """Run a source once and record it; a failure is recorded (status failed), never raised.

    The caller makes sure the same source does not run twice at once (SourceSchedule does).
    """
    catalog = Catalog(wh)
    run_id = catalog.start_source_run(source.name, source.table, trigger)
    started = time.monotonic()
    secret: Secret | None = None
    status, added, updated, version, message = "failed", 0, 0, None, ""
    try:
        # a dataset deleted since the last run starts afresh: the old watermark would skip its rows
        state = catalog.source_state(source.name) if catalog.exists(source.table) else {}
        request = source_request(wh.path, source, state)
        secret = request.secret
        result = import_source(
            wh, request, table=source.table, mode=source.mode, key_columns=source.key or None,
            who=f"数据源「{source.name}」",
            keep_state=lambda cur, st: Catalog.save_source_state(cur, source.name, st),
            before_replace=_replace_check(wh, source.table),
        )
        if result.write is None and result.state:  # nothing written (HTTP 304, no new rows): state alone
            catalog.set_source_state(source.name, result.state)
        status = "ok"
        if result.write is not None:
            added, updated, version = result.write.rows_added, result.write.rows_updated, result.write.version
        notes = list(result.notes)
        if result.quarantined:
            notes.append(f"有 {result.quarantined} 条数据无法解析，已放入隔离区。")
        said = [n.rstrip("。") for n in ["没有新数据，数据集未改变。"] * (result.write is None) + notes]
        message = "；".join(said) + "。" if said else ""  # one full stop at the end, none doubled before a ；
    except UserFacingError as err:
        message = str(err)
    except Exception as err:  # a surprise must not stop the scheduler; its text may quote a secret
        log.exception("refresh of source %s failed", source.name)
        message = f"刷新失败：程序遇到了意外的问题（{type(err).__name__}）。请重试；如果一直出现，请联系管理员。"
    message = redact(message, secret)
    if version is not None:  # rows were written: e.g. alert rules on this dataset check again (citybi.events)
        dataset_changed(wh.path, source.table)
    duration = time.monotonic() - started
    try:
        catalog.finish_source_run(run_id, status=status, rows_added=added, rows_updated=updated, version=version,
                                  message=message)
    except Exception:  # the history could not be written (disk full): the run's own outcome still stands
        log.exception("history of source %s not written", source.name)
    return RunOutcome(source=source.name, dataset=source.table, status=status, rows_added=added, rows_updated=updated,
                      version=version, message=message, duration_s=duration, run_id=run_id)


# ---------------------------------------------------------------------------- the app's schedule
SYNC_S = 10.0
_SYNC_JOB = "_citybi.sources.sync"


@dataclass(frozen=True)
class SourceStatus:
    """One line of the 数据源 page / `citybi sources list`."""

    name: str
    source: SourceDef | None  # None when its file cannot be used (see problem)
    problem: str
    last_run: SourceRun | None
    next_run: dt.datetime | None
    running: bool

    @property
    def state_label(self) -> str:
        if self.source is None:
            return "定义有误"
        if self.running:
            return "刷新中"
        if self.source.paused:
            return "已暂停"
        return self.last_run.status_label if self.last_run else "尚未运行"


class SourceSchedule:
    """The sources of one warehouse on one Scheduler: one job per definition, kept in step with the folder."""

    def __init__(self, wh: Warehouse, folder: Path, scheduler: object | None = None, *,
                 sync_s: float | None = SYNC_S) -> None:
        from citybi.config import warehouse_timezone
        from citybi.scheduler import Scheduler

        self.wh = wh
        self.folder = SourceFolder(folder)
        self.scheduler: Scheduler = scheduler if isinstance(scheduler, Scheduler) \
            else Scheduler(timezone=warehouse_timezone())
        self._sync_s = sync_s
        self._known: dict[str, SourceDef] = {}
        self._lock = threading.Lock()  # sync() from the page and from the scheduler thread

    def start(self) -> SourceSchedule:
        from citybi.scheduler import Schedule

        Catalog(self.wh).close_interrupted_runs(INTERRUPTED)
        self.sync()
        if self._sync_s:
            self.scheduler.set_job(_SYNC_JOB, self.sync, Schedule(every_s=self._sync_s))
        self.scheduler.start()
        return self

    def shutdown(self, wait: bool = False) -> None:
        self.scheduler.shutdown(wait=wait)

    def sync(self) -> None:
        """Register, change, pause or drop jobs so that they match the definitions on disk."""
        with self._lock:
            found = {name: s for name, s in self.folder.load_all() if isinstance(s, SourceDef)}
            for name in set(self._known) - set(found):
                self.scheduler.remove_job(name)
                del self._known[name]
            for name, source in found.items():
                if self._known.get(name) == source:
                    continue
                self._register(source)
                self._known[name] = source

    def _register(self, source: SourceDef) -> None:
        schedule = source.schedule()
        if schedule is None:
            # no schedule: still a job, so that 立即刷新 shares its one-run-at-a-time lock; a
            # year-long interval that stays paused never fires on its own
            from citybi.scheduler import MAX_EVERY_S, Schedule

            schedule, paused = Schedule(every_s=MAX_EVERY_S), True
        else:
            paused = source.paused
        name = source.name
        self.scheduler.set_job(name, lambda: self._run(name, TRIGGER_SCHEDULE), schedule, paused=paused,
                               on_skipped=lambda: self._skipped(name))

    def _current(self, name: str) -> SourceDef:
        return self.folder.load(name)  # the file as it is now: an edit applies to the next run at once

    def _run(self, name: str, trigger: str) -> RunOutcome:
        try:
            source = self._current(name)
        except UserFacingError as err:  # the file was broken (or removed) since the job was registered
            known = self._known.get(name)
            dataset = known.table if known else ""
            catalog = Catalog(self.wh)
            run_id = catalog.start_source_run(name, dataset, trigger)
            catalog.finish_source_run(run_id, status="failed", message=str(err))
            return RunOutcome(source=name, dataset=dataset, status="failed", message=str(err), run_id=run_id)
        return refresh_source(self.wh, source, trigger=trigger)

    def _skipped(self, name: str) -> None:
        known = self._known.get(name)
        Catalog(self.wh).skipped_source_run(name, known.table if known else "", TRIGGER_SCHEDULE, BUSY)

    # ------------------------------------------------------------------ what pages and the CLI call
    def refresh_now(self, name: str, *, wait: bool = False, trigger: str = TRIGGER_MANUAL) -> RunOutcome | None:
        """Run a source now, never beside a run of the same source.

        wait=False hands it to the scheduler's threads (the page stays responsive) and returns None;
        wait=True runs it here after any run in progress has ended, and returns what it did.
        """
        self._current(name)  # a Chinese error now for an unknown or broken definition
        self.sync()
        box: list[RunOutcome] = []
        if not self.scheduler.run_now(name, lambda: box.append(self._run(name, trigger)), wait=wait):
            raise UserFacingError(f"数据源「{name}」一直在刷新中，请稍后再试。")
        return box[0] if wait else None

    def set_paused(self, name: str, paused: bool) -> SourceDef:
        source = self.folder.set_paused(name, paused)
        self.sync()
        return source

    def save(self, source: SourceDef, *, overwrite: bool = True) -> None:
        self.folder.save(source, overwrite=overwrite)
        self.sync()

    def delete(self, name: str) -> bool:
        gone = self.folder.delete(name)
        self.sync()
        return gone

    def statuses(self) -> list[SourceStatus]:
        last = Catalog(self.wh).last_source_runs()
        out = []
        for name, found in self.folder.load_all():
            source = found if isinstance(found, SourceDef) else None
            scheduled = source is not None and source.schedule() is not None
            out.append(SourceStatus(name=name, source=source, problem="" if source else str(found),
                                    last_run=last.get(name),
                                    next_run=self.scheduler.next_run(name) if scheduled else None,
                                    running=self.scheduler.is_running(name)))
        return out


def source_statuses(wh: Warehouse, folder: Path) -> list[SourceStatus]:
    """The list without a running schedule (the CLI while the app is stopped): no next run, nothing running."""
    last = Catalog(wh).last_source_runs()
    return [SourceStatus(name=name, source=s if isinstance(s, SourceDef) else None,
                         problem="" if isinstance(s, SourceDef) else str(s), last_run=last.get(name), next_run=None,
                         running=False)
            for name, s in SourceFolder(folder).load_all()]


_APP: dict[str, SourceSchedule] = {}
_APP_LOCK = threading.Lock()


def start_app_schedule(wh: Warehouse, folder: Path) -> SourceSchedule:
    """The app process's source schedule for this warehouse, started once per process."""
    key = str(Path(wh.path).resolve())
    with _APP_LOCK:
        found = _APP.get(key)
        if found is not None and found.wh is not wh:  # the app reopened the file (its resource cache was cleared)
            found.shutdown()
            found = None
        if found is None:
            found = _APP[key] = SourceSchedule(wh, folder).start()
        return found


def app_schedule(wh_path: str | Path) -> SourceSchedule | None:
    """The running schedule of this warehouse in this process, if the app started one."""
    with _APP_LOCK:
        return _APP.get(str(Path(wh_path).resolve()))


__all__ = [
    "RunOutcome",
    "SourceDefError",
    "SourceSchedule",
    "SourceStatus",
    "check_connection",
    "guard_replaces",
    "refresh_source",
    "source_request",
    "source_statuses",
    "start_app_schedule",
]
