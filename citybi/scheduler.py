"""The one in-process scheduler: named jobs on an interval or a cron expression, one run at a time.

Why one and why in the app process: DuckDB lets a single process write the warehouse file
(docs/ARCHITECTURE.md § DuckDB), so whatever refreshes a data source — and later checks an
alert or sends a briefing — must run inside the process `make run` starts, not in a second
command a user has to remember. Every such piece registers a job here by name instead of
growing its own loop.

Built on APScheduler 3.x (BackgroundScheduler, in-memory job store: the jobs are rebuilt
from their definitions at every start). Each job runs with max_instances=1 and coalesce, so
a slow run is never doubled and a backlog after a pause runs once; on top of that every job
has its own lock, shared with `run_now`, so a "立即刷新" from a page or the command line never
runs beside the scheduled run of the same job either. A run that finds its job busy is
reported to the job's `on_skipped` (a data source keeps it as a "skipped" history row).

Nothing here knows about data sources or the warehouse: jobs are plain callables.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from citybi.context import SYSTEM, use
from citybi.errors import UserFacingError

log = logging.getLogger(__name__)

MIN_EVERY_S = 1
MAX_EVERY_S = 366 * 24 * 3600
_ONCE = "#now-"  # one-off runs (run_now) get ids `<name>#now-<hex>`: never a registered name
# a run that starts this late after its planned time is still run (a busy machine, a laptop lid)
MISFIRE_GRACE_S = 300


class ScheduleError(UserFacingError):
    """A schedule that cannot be used: an interval out of range or a cron expression that does not parse."""


@dataclass(frozen=True)
class Schedule:
    """When a job runs: every `every_s` seconds, or on a five-field cron expression (minute hour day month weekday)."""

    every_s: float | None = None
    cron: str | None = None

    def __post_init__(self) -> None:
        if (self.every_s is None) == (self.cron is None):
            raise ScheduleError("刷新计划需要且只能设置一项：间隔秒数，或 cron 表达式。",
                                hint="例如 every: 300（每 5 分钟），或 cron: \"0 6 * * *\"（每天 6 点）")
        if self.every_s is not None and not MIN_EVERY_S <= self.every_s <= MAX_EVERY_S:
            raise ScheduleError(f"刷新间隔 {self.every_s:g} 秒超出范围：最少 {MIN_EVERY_S} 秒，最多 366 天。")
        if self.cron is not None:
            cron_trigger(self.cron, "UTC")  # refused here, with the reason, not when the job is added

    def trigger(self, timezone: str) -> Any:
        from apscheduler.triggers.interval import IntervalTrigger

        if self.cron is not None:
            return cron_trigger(self.cron, timezone)
        assert self.every_s is not None
        return IntervalTrigger(seconds=self.every_s, timezone=ZoneInfo(timezone))

    def describe(self) -> str:
        """How a clerk reads it: 每 5 分钟 / 每 30 秒 / 按 cron「0 6 * * *」."""
        if self.cron is not None:
            return f"按 cron「{self.cron}」"
        s = float(self.every_s or 0)
        for unit, size in (("天", 86400), ("小时", 3600), ("分钟", 60)):
            if s >= size and s % size == 0:
                return f"每 {int(s // size)} {unit}"
        return f"每 {s:g} 秒"


def cron_trigger(expr: str, timezone: str) -> Any:
    """APScheduler's CronTrigger for a crontab line, or a Chinese ScheduleError naming the problem."""
    from apscheduler.triggers.cron import CronTrigger

    text = " ".join((expr or "").split())
    if len(text.split(" ")) != 5:
        raise ScheduleError(f"cron 表达式「{text[:60]}」应有 5 段：分 时 日 月 星期。",
                            hint="例如 \"*/10 * * * *\" 每 10 分钟，\"0 6 * * *\" 每天 6 点，"
                                 "\"0 8 * * 1-5\" 工作日 8 点")
    minute, hour, day, month, weekday = text.split(" ")
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=crontab_weekdays(weekday),
                           timezone=ZoneInfo(timezone))
    except ValueError as err:
        raise ScheduleError(f"cron 表达式「{text[:60]}」无法识别。",
                            hint="各段依次为 分(0-59) 时(0-23) 日(1-31) 月(1-12) 星期(0-6 或 mon-sun)，"
                                 "例如 \"0 6 * * *\"", detail=str(err)) from None


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_weekdays(field: str) -> str:
    """A crontab weekday field (0 or 7 = Sunday, 1 = Monday) as APScheduler 3 day names.

    Why: APScheduler 3 numbers weekdays from Monday = 0, also in CronTrigger.from_crontab, so a
    line copied from cron, "0 8 * * 1-5" (weekdays at 8), ran Tuesday to Saturday. Names mean
    the same in both, so every number is turned into a name (ranges and steps expanded).
    """
    text = field.strip().lower()
    if text in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {part!r}")
        if span == "*":
            lo, hi = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            lo, hi = _weekday(first), _weekday(last)
        else:
            lo = _weekday(span)
            hi = 6 if step_text else lo
        if hi < lo:
            raise ValueError(f"range {part!r} runs backwards")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_WEEKDAYS[d] for d in sorted(days))


def _weekday(token: str) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token[:3] in _WEEKDAYS:
        return _WEEKDAYS.index(token[:3])
    raise ValueError(f"not a weekday: {token!r}")


@dataclass
class _Job:
    fn: Callable[[], object]
    lock: threading.Lock
    on_skipped: Callable[[], None] | None


class Scheduler:
    """Named jobs on one APScheduler BackgroundScheduler (see the module docstring)."""

    def __init__(self, timezone: str = "Asia/Shanghai", *, workers: int = 4) -> None:
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self.timezone = timezone
        self._aps = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": MISFIRE_GRACE_S},
            timezone=ZoneInfo(timezone),
        )
        self._aps.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)
        self._jobs: dict[str, _Job] = {}
        self._guard = threading.Lock()  # self._jobs

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        if not self._aps.running:
            self._aps.start()
            # stopped when the interpreter begins to exit, before the thread pools refuse work: a job
            # falling due in that moment would otherwise print "cannot schedule new futures after shutdown"
            # (the hook concurrent.futures itself uses; atexit handlers run only after it)
            at_exit = getattr(threading, "_register_atexit", None)
            if at_exit is not None:
                with contextlib.suppress(RuntimeError):  # already exiting
                    at_exit(self.shutdown)

    def shutdown(self, wait: bool = False) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=wait)

    @property
    def running(self) -> bool:
        return bool(self._aps.running)

    # ------------------------------------------------------------------ jobs
    def set_job(self, name: str, fn: Callable[[], object], schedule: Schedule, *, paused: bool = False,
                on_skipped: Callable[[], None] | None = None) -> None:
        """Add a job, or replace its function and schedule (a run in progress finishes undisturbed)."""
        if _ONCE in name:
            raise ValueError(f"job name {name!r} contains {_ONCE!r}")
        with self._guard:
            old = self._jobs.get(name)
            # the same lock across a replacement: an edit never lets a second run start beside the first
            self._jobs[name] = _Job(fn=fn, lock=old.lock if old else threading.Lock(), on_skipped=on_skipped)
        self._aps.add_job(self._run, schedule.trigger(self.timezone), args=[name], id=name, name=name,
                          replace_existing=True)
        if paused:
            self._aps.pause_job(name)

    def remove_job(self, name: str) -> None:
        with self._guard:
            self._jobs.pop(name, None)
        job = self._aps.get_job(name)
        if job is not None:
            job.remove()

    def pause(self, name: str) -> None:
        if self._aps.get_job(name) is not None:
            self._aps.pause_job(name)

    def resume(self, name: str) -> None:
        if self._aps.get_job(name) is not None:
            self._aps.resume_job(name)

    def names(self) -> list[str]:
        with self._guard:
            return sorted(self._jobs)

    def next_run(self, name: str) -> dt.datetime | None:
        """When the job runs next, or None when paused/unknown.

        On the machine's local clock without a zone, like every time the catalog keeps (a run's start),
        so that 上次运行 and 下次运行 side by side read on one clock; a cron line itself is read in
        the scheduler's zone (CITYBI_TIMEZONE).
        """
        job = self._aps.get_job(name)
        when = getattr(job, "next_run_time", None) if job is not None else None
        if when is None:
            return None
        return when.astimezone().replace(tzinfo=None)

    def is_running(self, name: str) -> bool:
        with self._guard:
            job = self._jobs.get(name)
        return bool(job and job.lock.locked())

    # ------------------------------------------------------------------ running
    def run_now(self, name: str, fn: Callable[[], object] | None = None, *, wait: bool = False,
                timeout_s: float = 900.0) -> bool:
        """Run a job (or `fn` in its place, under the same one-at-a-time lock) outside its schedule.

        wait=False: hand it to the scheduler's threads and return at once (a page must not
        block); if the job is busy then, the run is skipped and reported. wait=True: run it
        in the calling thread, first waiting (up to timeout_s) for a run in progress to end.
        Returns False when the job is unknown, or (wait=True) still busy after timeout_s.
        """
        with self._guard:
            job = self._jobs.get(name)
        if job is None:
            return False
        if not wait:
            self._aps.add_job(self._run, args=[name, fn], id=f"{name}{_ONCE}{uuid.uuid4().hex[:8]}", name=name)
            return True
        if not job.lock.acquire(timeout=timeout_s):
            return False
        try:
            (fn or job.fn)()
        finally:
            job.lock.release()
        return True

    def _run(self, name: str, fn: Callable[[], object] | None = None) -> None:
        with self._guard:
            job = self._jobs.get(name)
        if job is None:
            return
        if not job.lock.acquire(blocking=False):
            self._skipped(job, name)
            return
        try:
            with use(SYSTEM):  # scheduled work is the operator's (a thread of its own: set, not inherited)
                (fn or job.fn)()
        except Exception:  # a job reports its own failures; the scheduler thread must go on
            log.exception("scheduled job %s failed", name)
        finally:
            job.lock.release()

    def _on_max_instances(self, event: Any) -> None:
        name = str(event.job_id).split(_ONCE, 1)[0]
        with self._guard:
            job = self._jobs.get(name)
        if job is not None:
            self._skipped(job, name)

    @staticmethod
    def _skipped(job: _Job, name: str) -> None:
        log.info("job %s is still running: this run is skipped", name)
        if job.on_skipped is not None:
            try:
                job.on_skipped()
            except Exception:
                log.exception("on_skipped of job %s failed", name)
