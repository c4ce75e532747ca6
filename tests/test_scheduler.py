"""The one in-process scheduler, and data sources refreshed by it from a real PostgreSQL table."""
from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from citybi.catalog import Catalog, SourceRun, open_warehouse
from citybi.refresh import SourceSchedule
from citybi.scheduler import Schedule, ScheduleError, Scheduler
from citybi.sourcedefs import SourceFolder, load_source
from citybi.warehouse import Warehouse

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2024, 3, 15, 10, 7, 30, tzinfo=SH)  # a Friday

# schedule → (how a clerk reads it, next run after NOW)
SCHEDULES = [
    (Schedule(every_s=300), "每 5 分钟", None),
    (Schedule(every_s=7200), "每 2 小时", None),
    (Schedule(every_s=45), "每 45 秒", None),
    (Schedule(cron="0 6 * * *"), "按 cron「0 6 * * *」", dt.datetime(2024, 3, 16, 6, 0)),
    (Schedule(cron="*/10 * * * *"), "按 cron「*/10 * * * *」", dt.datetime(2024, 3, 15, 10, 10)),
    (Schedule(cron="0 8 * * 1-5"), "按 cron「0 8 * * 1-5」", dt.datetime(2024, 3, 18, 8, 0)),
]


@pytest.mark.parametrize(("schedule", "words", "after"), SCHEDULES, ids=[s[1] for s in SCHEDULES])
def test_a_schedule_reads_and_fires_as_written(schedule: Schedule, words: str, after: dt.datetime | None) -> None:
    assert schedule.describe() == words
    if after is not None:
        nxt = schedule.trigger("Asia/Shanghai").get_next_fire_time(None, NOW)
        assert nxt.replace(tzinfo=None) == after


@pytest.mark.parametrize(("kwargs", "words"), [
    ({}, "需要且只能设置一项"), ({"every_s": 5, "cron": "* * * * *"}, "需要且只能设置一项"),
    ({"every_s": 0.5}, "超出范围"), ({"cron": "0 6 * *"}, "应有 5 段"), ({"cron": "0 6 * * 8"}, "无法识别"),
])
def test_a_bad_schedule_is_refused_in_chinese(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ScheduleError, match=words):
        Schedule(**kwargs)


def _wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_a_slow_job_never_runs_twice_at_once() -> None:
    sched = Scheduler()
    active, most, runs, skipped = [0], [0], [0], [0]
    lock = threading.Lock()

    def slow() -> None:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(2.2)  # more than two intervals
        with lock:
            active[0] -= 1
            runs[0] += 1

    def count_skip() -> None:
        with lock:
            skipped[0] += 1

    sched.set_job("慢任务", slow, Schedule(every_s=1), on_skipped=count_skip)
    sched.start()
    try:
        assert _wait_for(lambda: sched.is_running("慢任务"), 5)
        assert sched.run_now("慢任务")  # 立即刷新 while it runs: skipped, not run beside it
        assert _wait_for(lambda: runs[0] >= 2, 10)
    finally:
        sched.shutdown(wait=True)
    assert most[0] == 1
    assert skipped[0] >= 2  # the manual run and at least one interval that fell inside a run


def test_run_now_with_wait_queues_behind_the_running_job() -> None:
    sched = Scheduler()
    order: list[str] = []
    sched.set_job("任务", lambda: (order.append("start"), time.sleep(0.8), order.append("end")), Schedule(every_s=1))
    sched.start()
    try:
        assert _wait_for(lambda: sched.is_running("任务"), 5)
        assert sched.run_now("任务", lambda: order.append("now"), wait=True)
    finally:
        sched.shutdown(wait=True)
    assert order[:3] == ["start", "end", "now"]
    assert not sched.run_now("没有这个任务")


# ---------------------------------------------------------------------------- sources on a schedule, real PostgreSQL
PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg() -> Iterator[Any]:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL 127.0.0.1:5432 does not answer: {err}")
    t = f"citybi_s_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE TABLE {t} (id int PRIMARY KEY, "区" text, "清运量（吨）" numeric(10,2), '
                 "updated_at timestamp)")
    conn.execute(f"INSERT INTO {t} SELECT i, (array['南湖区','秀洲区'])[1 + i % 2], i * 0.25, "
                 f"timestamp '2024-01-01' + i * interval '1 minute' FROM generate_series(1, 300) i")
    conn.table = t  # type: ignore[attr-defined]
    yield conn
    conn.execute(f"DROP TABLE IF EXISTS {t}")
    conn.close()


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = open_warehouse(path=tmp_path / "w.duckdb")
    yield w
    w.close()


def _ok(wh: Warehouse) -> list[SourceRun]:
    return [r for r in reversed(Catalog(wh).source_runs("环卫库")) if r.status == "ok"]


# how the definition appends → rows the second refresh reports as updated (re-read and replaced by key)
INCREMENTAL = [("watermark: updated_at\n", 0), ("", 300)]


@pytest.mark.parametrize(("watermark", "updated"), INCREMENTAL, ids=["by watermark", "by key"])
def test_a_short_interval_refreshes_postgres_twice_adding_only_new_rows(pg: Any, wh: Warehouse, tmp_path: Path,
                                                                        watermark: str, updated: int) -> None:
    folder = SourceFolder(tmp_path / "w.duckdb.sources")
    folder.save(load_source(f"name: 环卫库\nurl: {PG}\ntable: 清运\nsource_table: {pg.table}\nkey: [id]\n"
                            f"{watermark}every: 1\n"))
    schedule = SourceSchedule(wh, folder.folder, sync_s=None).start()
    try:
        assert _wait_for(lambda: len(_ok(wh)) >= 1, 20)
        assert schedule.scheduler.next_run("环卫库") is not None
        pg.execute(f"INSERT INTO {pg.table} SELECT i, '嘉善县', 2.5, timestamp '2024-02-01' + i * interval '1 second' "
                   "FROM generate_series(301, 320) i")
        assert _wait_for(lambda: any(r.rows_added == 20 for r in _ok(wh)), 20)
    finally:
        schedule.shutdown(wait=True)
    runs = _ok(wh)
    assert (runs[0].rows_added, runs[0].rows_updated, runs[0].trigger) == (300, 0, "定时")
    second = next(r for r in runs if r.rows_added == 20)
    assert second.rows_updated == updated
    assert sum(r.rows_added for r in runs) == 320  # the runs in between found nothing new
    assert not [r for r in Catalog(wh).source_runs("环卫库") if r.status == "failed"]
    assert Catalog(wh).get("清运").row_count == 320
    total = wh.cursor().execute('SELECT count(DISTINCT id), sum("清运量（吨）") FROM "清运"').fetchone()
    assert (total[0], float(total[1])) == (320, sum(i * 0.25 for i in range(1, 301)) + 20 * 2.5)


def test_refresh_now_pause_and_resume_through_the_schedule(pg: Any, wh: Warehouse, tmp_path: Path) -> None:
    folder = SourceFolder(tmp_path / "w.duckdb.sources")
    folder.save(load_source(f"name: 环卫库\nurl: {PG}\ntable: 清运\nsource_table: {pg.table}\nmode: replace\n"
                            "every: 3600\n"))
    schedule = SourceSchedule(wh, folder.folder, sync_s=None).start()
    try:
        # 下次运行 reads on the same local clock as the catalog's run times
        ahead = (schedule.scheduler.next_run("环卫库") - dt.datetime.now()).total_seconds()
        assert 3500 < ahead <= 3600
        out = schedule.refresh_now("环卫库", wait=True)
        assert out is not None and (out.status, out.rows_added, out.version) == ("ok", 300, 1)
        assert Catalog(wh).source_runs("环卫库")[0].trigger == "手动"
        schedule.set_paused("环卫库", True)
        assert schedule.scheduler.next_run("环卫库") is None
        assert [s.state_label for s in schedule.statuses()] == ["已暂停"]
        schedule.set_paused("环卫库", False)
        assert schedule.scheduler.next_run("环卫库") is not None
        # a definition dropped from the folder (git, the CLI) leaves the schedule at the next sync
        folder.delete("环卫库")
        schedule.sync()
        assert "环卫库" not in schedule.scheduler.names()
    finally:
        schedule.shutdown(wait=True)


# crontab weekday field → the days it means (APScheduler 3 counts from Monday = 0; cron from Sunday = 0)
WEEKDAYS = [("1-5", "mon,tue,wed,thu,fri"), ("0", "sun"), ("7", "sun"), ("0,6", "sun,sat"), ("*/2", "sun,tue,thu,sat"),
            ("1-7", "sun,mon,tue,wed,thu,fri,sat"), ("mon-fri", "mon,tue,wed,thu,fri"), ("sat,sun", "sun,sat"),
            ("*", "*")]


@pytest.mark.parametrize(("field", "days"), WEEKDAYS, ids=[w[0] for w in WEEKDAYS])
def test_crontab_weekdays_mean_what_cron_means(field: str, days: str) -> None:
    from citybi.scheduler import crontab_weekdays

    assert crontab_weekdays(field) == days


def test_a_definition_broken_after_it_was_scheduled_is_a_failed_run(tmp_path: Path, wh: Warehouse) -> None:
    folder = SourceFolder(tmp_path / "w.duckdb.sources")
    folder.save(load_source(f"name: 环卫库\nurl: {PG}\ntable: 清运\nmode: replace\nevery: 3600\n"))
    schedule = SourceSchedule(wh, folder.folder, sync_s=None).start()
    try:
        folder.path("环卫库").write_text("name: 环卫库\nurl: postgresql://u:pw@h/db\ntable: 清运\n", encoding="utf-8")
        assert schedule.scheduler.run_now("环卫库", wait=True)  # as the scheduler fires it
    finally:
        schedule.shutdown(wait=True)
    run = Catalog(wh).source_runs("环卫库")[0]
    assert (run.status, run.dataset, run.trigger) == ("failed", "清运", "定时")
    assert "「环卫库.yaml」" in run.message and "地址里不能写密码" in run.message
    assert [s.state_label for s in schedule.statuses()] == ["定义有误"]
