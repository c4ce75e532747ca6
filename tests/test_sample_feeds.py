"""The sample city's live feeds (datasets/air_feed.py, datasets/air_mqtt.py) work as the README says.

A newcomer starts the feed script and points `citybi sources import` at it: these tests do exactly
that, as child processes, and count what lands.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citybi.catalog import Catalog, open_warehouse

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).with_name("citybi"))
STATIONS = 12  # datasets/generate.py: 6 districts × 2 stations


def cli(*args: str) -> dict[str, Any]:
    out = subprocess.run([CLI, *args, "--json"], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def feed() -> Iterator[str]:
    """datasets/air_feed.py on a free port (--port 0), new readings every 2 s, the last 3 slots listed."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "datasets" / "air_feed.py"), "--port", "0", "--interval", "2",
                             "--slots", "3"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    found = re.search(r"http://\S+?/air", proc.stdout.readline())
    assert found, "the feed did not say where it listens"
    yield found.group(0)
    proc.terminate()
    proc.wait(10)


def landed(db: Path, table: str) -> tuple[int, int, int]:
    wh = open_warehouse(path=db)
    try:
        cur = wh.cursor()
        try:
            row = cur.execute(f'SELECT count(*), count(DISTINCT ("站点", "监测时间")), count(DISTINCT "站点") '
                              f'FROM "{table}"').fetchone()
        finally:
            cur.close()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        wh.close()


def test_air_feed_imports_and_a_refetch_appends_only_new_readings(feed: str, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    args = (feed, "--db", str(db), "--table", "空气站", "--record-path", "data.records", "--mode", "append",
            "--key", "站点", "监测时间")
    first = cli("sources", "import", *args)
    assert (first["result"], first["rows"], first["received"]) == ("ok", 3 * STATIONS, 3 * STATIONS)
    wh = open_warehouse(path=db)
    try:
        types = {c.name: c.type for c in Catalog(wh).get("空气站").columns}
    finally:
        wh.close()
    assert types == {"站点": "text", "区": "text", "监测时间": "timestamp", "AQI": "integer", "PM2.5": "number",
                     "PM10": "number", "经度": "number", "纬度": "number"}
    time.sleep(2.2)  # at least one new slot
    second = cli("sources", "import", *args)
    rows, distinct, stations = landed(db, "空气站")
    # every slot seen adds its 12 readings once; the slots listed again are not doubled
    assert second["rows_added"] >= STATIONS and second["rows_added"] % STATIONS == 0
    assert (rows, distinct, stations) == (3 * STATIONS + second["rows_added"], rows, STATIONS)


def test_air_feed_stations_are_the_sample_citys() -> None:
    sys.path.insert(0, str(ROOT / "datasets"))
    try:
        import air_feed
        import generate
    finally:
        sys.path.remove(str(ROOT / "datasets"))
    assert sorted(name for name, *_ in air_feed.stations()) == sorted(s for v in generate.STATIONS.values() for s in v)
    assert {d for _, d, *_ in air_feed.stations()} == set(generate.DISTRICTS)


@pytest.mark.service
def test_air_sensors_publish_readings_an_mqtt_source_lands_with_quarantine(tmp_path: Path) -> None:
    """datasets/air_mqtt.py against the machine's Mosquitto, on a topic unique to this test."""
    import socket

    from connectors.mqtt import client_id_for
    from connectors.source import SourceRequest, source_for

    with socket.socket() as s:
        s.settimeout(2)
        if s.connect_ex(("127.0.0.1", 1883)) != 0:
            pytest.skip("Mosquitto 127.0.0.1:1883 does not answer")
    prefix = f"citybi/sample/{uuid.uuid4().hex[:8]}"
    url = f"mqtt://127.0.0.1:1883/{prefix}/+"
    source_for(url).test(SourceRequest(url=url, table="空气传感器"))  # the source's session exists first
    try:
        pub = subprocess.run([sys.executable, str(ROOT / "datasets" / "air_mqtt.py"), "--topic", prefix,
                              "--interval", "1.1", "--rounds", "2", "--bad-every", "6"],
                             capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ})
        assert pub.returncode == 0, pub.stderr
        res = cli("sources", "import", url, "--db", str(tmp_path / "w.duckdb"), "--table", "空气传感器",
                  "--mode", "append", "--max-messages", str(2 * STATIONS), "--seconds", "20")
        # 24 readings: every 6th is garbage (4 quarantined), 20 land, keyed by 站点 + 监测时间
        assert (res["received"], res["rows"], res["quarantined"]) == (2 * STATIONS, 20, 4)
    finally:
        _end_session(client_id_for(url, "空气传感器"))


def _end_session(client_id: str) -> None:
    """Leave the shared broker as found: the test source's persistent session is ended."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", 1883, clean_start=True)
    c.loop_start()
    time.sleep(0.2)
    c.disconnect()
    c.loop_stop()
