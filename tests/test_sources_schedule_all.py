"""Four kinds of source on one schedule, as the app runs them: PostgreSQL, MariaDB, a JSON feed, MQTT.

Each definition refreshes every second on the real servers of this machine (and an HTTP feed this
test serves on 127.0.0.1); new rows appear upstream while the schedule runs, and each dataset ends
with exactly the rows upstream has — counted, not doubled — and a history of successful runs.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sources_upstream import add_rows, definitions, make_upstream, publish, wait_for

from citybi.catalog import Catalog, open_warehouse
from citybi.refresh import SourceSchedule
from citybi.sourcedefs import SourceFolder, source_from_dict
from citybi.warehouse import Warehouse

pytestmark = pytest.mark.service


@pytest.fixture
def upstream() -> Iterator[dict[str, Any]]:
    yield from make_upstream()


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = open_warehouse(path=tmp_path / "w.duckdb")
    yield w
    w.close()


def _rows(wh: Warehouse, table: str) -> int:
    cat = Catalog(wh)
    return cat.get(table).row_count if cat.exists(table) else 0


def _counts(wh: Warehouse) -> tuple[int, ...]:
    return tuple(_rows(wh, t) for t in ("清运PG", "清运MY", "空气站", "传感器"))


def test_four_kinds_of_source_land_on_schedule(upstream: dict[str, Any], wh: Warehouse, tmp_path: Path) -> None:
    add_rows(upstream, 1, 200)
    folder = SourceFolder(tmp_path / "w.duckdb.sources")
    for d in definitions(upstream, every=1):
        folder.save(source_from_dict(d))
    schedule = SourceSchedule(wh, folder.folder, sync_s=None).start()
    try:
        # the first MQTT run opens the source's persistent session: from then on the broker keeps its readings
        assert wait_for(lambda: any(r.status == "ok" for r in Catalog(wh).source_runs("传感器")), 20)
        publish(upstream["topic"], [("南湖站", m) for m in range(50)])
        assert wait_for(lambda: _counts(wh) == (200, 200, 200, 50), 60), _counts(wh)
        add_rows(upstream, 201, 230)
        # 20 new readings and 10 the broker delivers a second time (a publisher retrying)
        publish(upstream["topic"], [("秀洲站", m) for m in range(20)] + [("南湖站", m) for m in range(10)])
        assert wait_for(lambda: _counts(wh) == (230, 230, 230, 70), 60), _counts(wh)
    finally:
        schedule.shutdown(wait=True)
    runs = Catalog(wh).source_runs(limit=1000)
    assert not [(r.source, r.message) for r in runs if r.status == "failed"]
    for source in ("环卫PG", "环卫MY", "空气接口", "传感器"):
        mine = [r for r in runs if r.source == source and r.status == "ok"]
        assert len(mine) >= 2 and all(r.trigger == "定时" for r in mine)
    cur = wh.cursor()
    assert cur.execute('SELECT count(*), count(DISTINCT id) FROM "清运PG"').fetchone() == (230, 230)
    assert cur.execute('SELECT count(*), count(DISTINCT (station, "time")) FROM "传感器"').fetchone() == (70, 70)
