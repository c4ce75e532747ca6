"""MQTT readings against the machine's Mosquitto (127.0.0.1:1883), on a topic unique to each test."""
from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citybi.catalog import Catalog, open_warehouse
from citybi.errors import UserFacingError
from citybi.sources import import_source, quarantine_count
from citybi.warehouse import Warehouse
from connectors.mqtt import client_id_for
from connectors.source import SourceRejected, SourceRequest, source_for

pytestmark = pytest.mark.service


@pytest.fixture
def topic() -> Iterator[str]:
    with socket.socket() as s:
        s.settimeout(2)
        if s.connect_ex(("127.0.0.1", 1883)) != 0:
            pytest.skip("Mosquitto 127.0.0.1:1883 does not answer")
    name = f"citybi/test/{uuid.uuid4().hex[:10]}"
    yield name
    _end_session(client_id_for(f"mqtt://127.0.0.1:1883/{name}", "空气"))


def _end_session(client_id: str) -> None:
    """Leave the shared broker as found: the test source's persistent session is ended."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", 1883, clean_start=True)  # no session expiry: the session ends with this connection
    c.loop_start()
    time.sleep(0.2)
    c.disconnect()
    c.loop_stop()


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = open_warehouse(path=tmp_path / "w.duckdb")
    yield w
    w.close()


def publish(topic: str, payloads: list[bytes]) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"citybi-test-pub-{uuid.uuid4().hex[:8]}")
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    infos = [pub.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(10)
    pub.loop_stop()
    pub.disconnect()


def reading(station: str, minute: int, aqi: Any) -> bytes:
    return json.dumps({"station": station, "time": f"2024-03-01 08:{minute:02d}:00", "PM2.5": 20.5, "AQI": aqi},
                      ensure_ascii=False).encode()


def _count(wh: Warehouse, table: str) -> tuple[int, int]:
    cur = wh.cursor()
    try:
        return cur.execute(f'SELECT count(*), count(DISTINCT (station, "time")) FROM "{table}"').fetchall()[0]
    finally:
        cur.close()


def test_readings_land_deduplicated_and_bad_ones_are_quarantined(topic: str, wh: Warehouse) -> None:
    url = f"mqtt://127.0.0.1:1883/{topic}"
    source_for(url).test(SourceRequest(url=url, table="空气"))  # the broker now keeps a session for this source
    good = [reading(s, m, 30 + m) for s in ("南湖", "秀洲") for m in range(50)]  # 100 distinct readings
    dupes = good[:10]  # delivered twice (a publisher retrying)
    bad = [b"not json", b"[1, 2]", "{\"station\": \"南湖\"}".encode(), b"\xff\xfe"]
    publish(topic, good + dupes + bad)
    res = import_source(wh, SourceRequest(url=url, table="空气", max_messages=len(good + dupes + bad), seconds=20),
                        table="空气", mode="append")
    assert res.received == 114
    assert res.write is not None and res.write.rows_written == 100
    assert res.quarantined == 4 and quarantine_count(wh, "空气") == 4
    assert _count(wh, "空气") == (100, 100)
    assert {c.name: c.type for c in Catalog(wh).get("空气").columns} == {
        "station": "text", "time": "timestamp", "PM2.5": "number", "AQI": "integer"}
    # everything was acknowledged: the next batch is empty and writes nothing
    again = import_source(wh, SourceRequest(url=url, table="空气", seconds=1), table="空气", mode="append")
    assert again.status == "unchanged" and again.received == 0 and _count(wh, "空气") == (100, 100)


def test_a_failed_write_loses_nothing(topic: str, wh: Warehouse) -> None:
    url = f"mqtt://127.0.0.1:1883/{topic}"
    source_for(url).test(SourceRequest(url=url, table="空气"))
    publish(topic, [reading("南湖", m, m) for m in range(30)])
    with pytest.raises(UserFacingError, match="主键列不存在"):
        import_source(wh, SourceRequest(url=url, table="空气", max_messages=30, seconds=20), table="空气",
                      mode="append", key_columns=["no_such_column"])
    assert Catalog(wh).names() == []
    time.sleep(0.2)
    res = import_source(wh, SourceRequest(url=url, table="空气", max_messages=30, seconds=20), table="空气",
                        mode="append")
    assert res.write is not None and _count(wh, "空气") == (30, 30)


def test_stops_after_n_messages_and_leaves_the_rest_for_next_time(topic: str, wh: Warehouse) -> None:
    url = f"mqtt://127.0.0.1:1883/{topic}"
    source_for(url).test(SourceRequest(url=url, table="空气"))
    publish(topic, [reading("南湖", m, m) for m in range(40)])
    first = import_source(wh, SourceRequest(url=url, table="空气", max_messages=25, seconds=20), table="空气",
                          mode="append")
    assert first.received == 25 and _count(wh, "空气") == (25, 25)
    second = import_source(wh, SourceRequest(url=url, table="空气", max_messages=100, seconds=3), table="空气",
                           mode="append")
    assert second.received >= 15 and _count(wh, "空气") == (40, 40)


@pytest.mark.parametrize(("url", "expected"), [
    ("mqtt://127.0.0.1:1/city/air", "无法连接 MQTT 服务器 127.0.0.1:1"),
    ("mqtt://127.0.0.1:1883", "MQTT 地址不完整"),
    ("mqtt://u:pw@127.0.0.1:1883/x", "不能写密码"),
], ids=["port", "no-topic", "password-in-url"])
def test_mqtt_refusals(url: str, expected: str, wh: Warehouse) -> None:
    with pytest.raises(SourceRejected, match=expected):
        import_source(wh, SourceRequest(url=url, seconds=1), table="空气")


def test_micro_batches_each_committed_then_acknowledged(topic: str, wh: Warehouse,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import connectors.mqtt as mqtt_conn

    monkeypatch.setattr(mqtt_conn, "BATCH", 10)
    url = f"mqtt://127.0.0.1:1883/{topic}"
    source_for(url).test(SourceRequest(url=url, table="空气"))
    publish(topic, [reading("南湖", m, m) for m in range(35)])
    res = import_source(wh, SourceRequest(url=url, table="空气", max_messages=35, seconds=20), table="空气",
                        mode="append")
    assert res.received == 35 and res.write is not None and res.write.rows_added == 35
    assert Catalog(wh).get("空气").version == 4 and _count(wh, "空气") == (35, 35)
    again = import_source(wh, SourceRequest(url=url, table="空气", seconds=1), table="空气", mode="append")
    assert again.received == 0


def test_a_preview_takes_nothing_from_the_sources_session(topic: str, wh: Warehouse) -> None:
    import threading

    from citybi.sources import preview_source

    url = f"mqtt://127.0.0.1:1883/{topic}"
    source_for(url).test(SourceRequest(url=url, table="空气"))
    looked: list[Any] = []
    looker = threading.Thread(target=lambda: looked.append(
        preview_source(wh, SourceRequest(url=url, table="空气", seconds=4))))
    looker.start()
    time.sleep(1.5)  # the preview's own session subscribes first
    publish(topic, [reading("南湖", m, m) for m in range(30)])
    looker.join()
    seen = looked[0]
    assert seen.frame.height == 30 and [c[:2] for c in seen.columns] == [
        ("station", "text"), ("time", "timestamp"), ("PM2.5", "number"), ("AQI", "integer")]
    assert Catalog(wh).names() == []  # a look writes nothing
    res = import_source(wh, SourceRequest(url=url, table="空气", max_messages=30, seconds=20), table="空气",
                        mode="append")
    assert res.received == 30 and _count(wh, "空气") == (30, 30)  # every reading still came to the source


def test_zoned_times_land_as_the_warehouses_clock_and_an_old_text_column_stays_text(topic: str,
                                                                                     wh: Warehouse) -> None:
    """A sensor's ISO time with its zone is a timestamp (08:00+08:00 and 00:00Z are one instant, one
    reading); appended to a dataset that holds the column as text (made by an older CityBI), it
    stays text instead of refusing the append as a changed type."""
    import datetime as dt

    url = f"mqtt://127.0.0.1:1883/{topic}"
    source_for(url).test(SourceRequest(url=url, table="空气"))

    def zoned(station: str, when: str) -> bytes:
        return json.dumps({"station": station, "time": when, "AQI": 50}, ensure_ascii=False).encode()

    batch = [zoned("南湖", "2024-03-01T08:00:00+08:00"), zoned("南湖", "2024-03-01T00:00:00Z"),
             zoned("秀洲", "2024-03-01T09:30:00+0800")]
    publish(topic, batch)
    res = import_source(wh, SourceRequest(url=url, table="空气", max_messages=3, seconds=20), table="空气",
                        mode="append")
    assert "列「time」：时间带有时区（如 +08:00、Z），已换算为 Asia/Shanghai 的时间。" in res.notes
    cur = wh.cursor()
    assert cur.execute('SELECT station, "time" FROM "空气" ORDER BY station').fetchall() == [
        ("南湖", dt.datetime(2024, 3, 1, 8)), ("秀洲", dt.datetime(2024, 3, 1, 9, 30))]
    cur.close()

    import polars as pl

    Catalog(wh).write("旧空气", pl.DataFrame({"station": ["南湖"], "time": ["2024-02-01T08:00:00+08:00"], "AQI": [40]}),
                      column_types={"time": "text"})
    source_for(url).test(SourceRequest(url=url, table="旧空气"))  # that source's own session
    try:
        publish(topic, [zoned("嘉善", "2024-03-02T08:00:00+08:00")])
        more = import_source(wh, SourceRequest(url=url, table="旧空气", max_messages=1, seconds=20), table="旧空气",
                             mode="append")
    finally:
        _end_session(client_id_for(url, "旧空气"))
    assert more.write is not None and more.write.rows_written == 2
    assert {c.name: c.type for c in Catalog(wh).get("旧空气").columns}["time"] == "text"
    cur = wh.cursor()
    assert cur.execute('SELECT "time" FROM "旧空气" ORDER BY "time"').fetchall() == [
        ("2024-02-01T08:00:00+08:00",), ("2024-03-02T08:00:00+08:00",)]
    cur.close()
