"""Upstream sources made for one test: a PostgreSQL table, a MariaDB table, a JSON feed, an MQTT topic.

Shared by tests/test_sources_schedule_all.py (the schedule in the test process) and
tests/browser/test_sources_page.py (the schedule of a running app): both add rows upstream while
the schedule runs and count what lands. Each upstream is unique to the test and removed after it;
a server that does not answer skips (and fails CI, tests/conftest.py).
"""
from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

PG = "postgresql://postgres@127.0.0.1:5432/test"
MY = "mysql://root@127.0.0.1:3306/test"
MQTT_TABLE = "传感器"


def definitions(up: dict[str, Any], every: int) -> list[dict[str, Any]]:
    """The four source definitions over `up`, refreshing every `every` seconds."""
    t = up["table"]
    return [{**d, "every": every} for d in (
        {"name": "环卫PG", "url": PG, "table": "清运PG", "source_table": t, "key": ["id"], "watermark": "updated_at"},
        {"name": "环卫MY", "url": MY, "table": "清运MY", "source_table": t, "key": ["id"]},
        {"name": "空气接口", "url": up["feed"], "table": "空气站", "record_path": "data.records", "key": ["编号"]},
        {"name": "传感器", "url": f"mqtt://127.0.0.1:1883/{up['topic']}", "table": MQTT_TABLE, "seconds": 1},
    )]


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


class QuietHandler(BaseHTTPRequestHandler):
    """A test server's request handler: answers with `answer`, logs nothing to the test's output."""

    def answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@contextlib.contextmanager
def json_feed(document: Callable[[], Any], path: str, content_type: str = "application/json") -> Iterator[str]:
    """A local HTTP feed for one test: every GET is answered with `document()` as JSON (read at each
    request, so a test may change what the feed says); yields its URL, the server stops after."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.answer(200, {"Content-Type": content_type}, json.dumps(document(), ensure_ascii=False).encode())

    with serve_local(Handler) as base:
        yield base + path


@contextlib.contextmanager
def serve_local(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on a free 127.0.0.1 port for one test; yields its base URL, stops after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def make_upstream() -> Iterator[dict[str, Any]]:
    """A PostgreSQL table, a MariaDB table, a JSON feed and an MQTT topic, each made for this test."""
    psycopg = pytest.importorskip("psycopg")
    import pymysql

    try:
        pg = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True, connect_timeout=3)
        my = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test",
                             charset="utf8mb4", autocommit=True, connect_timeout=3)
    except (psycopg.OperationalError, pymysql.err.OperationalError) as err:
        pytest.skip(f"a database server does not answer: {err}")
    with socket.socket() as s:
        s.settimeout(2)
        if s.connect_ex(("127.0.0.1", 1883)) != 0:
            pytest.skip("Mosquitto 127.0.0.1:1883 does not answer")
    name = f"citybi_a_{uuid.uuid4().hex[:10]}"
    pg.execute(f'CREATE TABLE {name} (id int PRIMARY KEY, "区" text, "清运量（吨）" numeric(10,2), '
               "updated_at timestamp)")
    with my.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, `区` VARCHAR(10), `清运量（吨）` DECIMAL(10,2)) "
                    "DEFAULT CHARSET=utf8mb4")
    records: list[dict[str, Any]] = []
    topic = f"citybi/test/{uuid.uuid4().hex[:10]}"
    with json_feed(lambda: {"data": {"records": list(records)}}, "/air.json") as feed:
        yield {"pg": pg, "my": my, "table": name, "records": records, "topic": topic, "feed": feed}
    pg.execute(f"DROP TABLE IF EXISTS {name}")
    pg.close()
    with my.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    my.close()
    from connectors.mqtt import client_id_for

    end_session(client_id_for(f"mqtt://127.0.0.1:1883/{topic}", MQTT_TABLE))


def end_session(client_id: str) -> None:
    """Leave the shared broker as found: the source's persistent session is ended."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", 1883, clean_start=True)
    c.loop_start()
    time.sleep(0.2)
    c.disconnect()
    c.loop_stop()


def publish(topic: str, readings: list[tuple[str, int]]) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"citybi-test-pub-{uuid.uuid4().hex[:8]}")
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    infos = [pub.publish(topic, json.dumps({"station": s, "time": f"2024-03-01 {m // 60:02d}:{m % 60:02d}:00",
                                            "AQI": 40 + m % 30}, ensure_ascii=False).encode(), qos=1)
             for s, m in readings]
    for info in infos:
        info.wait_for_publish(10)
    pub.loop_stop()
    pub.disconnect()


def add_rows(up: dict[str, Any], first: int, last: int) -> None:
    t = up["table"]
    up["pg"].execute(f"INSERT INTO {t} SELECT i, '南湖区', i * 0.5, timestamp '2024-01-01' + i * interval '1 minute' "
                     f"FROM generate_series({first}, {last}) i")
    with up["my"].cursor() as cur:
        cur.executemany(f"INSERT INTO {t} VALUES (%s, %s, %s)",
                        [(i, "秀洲区", i * 0.5) for i in range(first, last + 1)])
    up["records"].extend({"编号": i, "站点": "嘉兴站", "AQI": 30 + i % 50} for i in range(first, last + 1))


