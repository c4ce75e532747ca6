"""MQTT readings survive broker restarts and a killed importer: nothing lost, nothing doubled.

Issue 9's fault bar, on a broker this test owns (never the machine's shared Mosquitto): readings
are published at QoS 1 while the test restarts its broker twice and kill -9s the importing
process once (`citybi sources import mqtt://…` as a child process, started again after the kill).
At the end, rows in the warehouse + quarantined readings = readings published, and no
(station, time) appears twice. Scaled from the issue's 100,000 readings to READINGS (the
machine is shared by four agents; bench/sources.py gives the throughput); the environment
variable CITYBI_MQTT_FAULT_READINGS runs the full count.

What makes it hold: the importer's persistent MQTT 5 session (clean_start off, a session
expiry, a client id fixed per source), acknowledgements only after the commit, append by
(station, time); the broker persisting sessions across its restart (`persistence true`,
saved on SIGTERM) and not capping a disconnected subscriber's queue (`max_queued_messages 0`:
Mosquitto's default of 1000 drops QoS 1 readings for a subscriber that is away, which no
client setting can recover).
"""
from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citybi.catalog import open_warehouse
from citybi.sources import quarantine_count
from connectors.source import SourceRequest, source_for

pytestmark = pytest.mark.service

# the full 100,000: CITYBI_MQTT_FAULT_READINGS=100000 (passed in 89 s here, 2026-12-07)
READINGS = int(os.environ.get("CITYBI_MQTT_FAULT_READINGS", "20000"))
GARBAGE_EVERY = 500  # every 500th payload is not JSON: it must land in quarantine, not vanish
TABLE = "空气"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A private Mosquitto on a free port that the test stops and starts again."""

    def __init__(self, folder: Path) -> None:
        exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if exe is None:
            pytest.skip("mosquitto is not installed")
        self.exe, self.port = exe, free_port()
        self.conf = folder / "mosquitto.conf"
        store = folder / "store"
        store.mkdir()
        # `user`: started as root, Mosquitto otherwise switches to the `mosquitto` user, cannot write
        # its store in this test's private folder and silently forgets every session on restart
        self.conf.write_text(f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n"
                             "persistence true\n"
                             f"persistence_location {store}/\nmax_queued_messages 0\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("the test's mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Mosquitto writes its sessions to the store, then exits
            self.proc.wait(20)

    def restart(self) -> None:
        self.stop()
        self.start()
        self.restarts += 1


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


def payload(i: int) -> bytes:
    if i % GARBAGE_EVERY == GARBAGE_EVERY - 1:
        return f"garbage {i}".encode()  # unique, so quarantine keeps each once
    return json.dumps({"station": f"站{i % 40:02d}", "time": f"2024-03-01T{i // 40 // 3600:02d}:"
                       f"{i // 40 // 60 % 60:02d}:{i // 40 % 60:02d}", "PM2.5": round(10 + i % 70 * 0.5, 1),
                       "AQI": 30 + i % 90}, ensure_ascii=False).encode()


class Publisher:
    """QoS 1 publisher with its own persistent session; paho resends what the broker did not ack."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"citybi-test-pub-{uuid.uuid4().hex[:8]}",
                                  clean_session=False)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.2, 1)
        self.acked = 0

        def on_publish(_c: Any, _u: Any, _mid: int, _rc: Any, _p: Any) -> None:
            self.acked += 1  # counted, not collected by mid: mids wrap at 65,535

        self.client.on_publish = on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.topic = topic
        self.infos: list[Any] = []
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        for i in range(READINGS):
            while not self.client.is_connected():  # the broker is restarting: wait, as a device would
                time.sleep(0.05)
            self.infos.append(self.client.publish(self.topic, payload(i), qos=1))
            if i % 200 == 199:
                time.sleep(0.08)  # ~2,500 readings/s: the flow spans the restarts and the kill

    def published(self) -> int:
        """Readings the broker acknowledged (PUBACK): what it now owes the subscriber.

        Counted by PUBACK (on_publish), not `MQTTMessageInfo.is_published`, which raises for a
        reading sent just as the connection dropped although paho resends it after reconnecting."""
        return self.acked

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def importer(port: int, topic: str, db: Path, seconds: float) -> subprocess.Popen[bytes]:
    """`citybi sources import mqtt://…` as its own process: the one that is killed."""
    return subprocess.Popen(
        [sys.executable, "-m", "citybi", "sources", "import", f"mqtt://127.0.0.1:{port}/{topic}", "--db", str(db),
         "--table", TABLE, "--mode", "append", "--seconds", str(seconds), "--max-messages", str(READINGS * 2)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})


def landed(db: Path) -> tuple[int, int, int]:
    wh = open_warehouse(path=db)
    try:
        cur = wh.cursor()
        try:
            exists = cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                                 [TABLE]).fetchone()
            rows, distinct = (cur.execute(f'SELECT count(*), count(DISTINCT (station, "time")) FROM "{TABLE}"')
                              .fetchone() if exists and exists[0] else (0, 0)) or (0, 0)
        finally:
            cur.close()
        return int(rows), int(distinct), quarantine_count(wh, TABLE)
    finally:
        wh.close()


def test_broker_restarted_twice_and_importer_killed_lose_and_double_nothing(broker: Broker, tmp_path: Path) -> None:
    topic = f"citybi/fault/{uuid.uuid4().hex[:8]}"
    url = f"mqtt://127.0.0.1:{broker.port}/{topic}"
    db = tmp_path / "w.duckdb"
    source_for(url).test(SourceRequest(url=url, table=TABLE))  # the source's session exists before the flow
    pub = Publisher(broker.port, topic)
    runs: list[tuple[int | None, str]] = []
    try:
        pub.thread.start()
        sub = importer(broker.port, topic, db, seconds=30)
        time.sleep(2.5)
        broker.restart()  # restart 1: importer and publisher both reconnect by themselves
        time.sleep(2.0)
        sub.send_signal(signal.SIGKILL)  # the importer dies with readings in flight, uncommitted or unacked
        sub.wait(10)
        runs.append((sub.returncode, "killed"))
        sub = importer(broker.port, topic, db, seconds=30)
        time.sleep(2.0)
        broker.restart()  # restart 2
        pub.thread.join(120)
        deadline = time.monotonic() + 60
        while pub.published() < READINGS and time.monotonic() < deadline:
            time.sleep(0.2)
        out, err = sub.communicate(timeout=120)
        runs.append((sub.returncode, (out + err).decode(errors="replace")[-500:]))
        # drain: importer runs until everything the broker acknowledged is in the warehouse or quarantine
        drain_until = time.monotonic() + 60 + READINGS / 200  # far below the ~1,000 readings/s drained here
        while time.monotonic() < drain_until:
            rows, _distinct, quarantined = landed(db)
            if rows + quarantined >= READINGS:
                break
            sub = importer(broker.port, topic, db, seconds=10)
            out, err = sub.communicate(timeout=120)
            runs.append((sub.returncode, (out + err).decode(errors="replace")[-500:]))
    finally:
        published = pub.published()
        pub.close()
    rows, distinct, quarantined = landed(db)
    garbage = READINGS // GARBAGE_EVERY
    assert broker.restarts == 2 and runs[0] == (-signal.SIGKILL, "killed")
    assert published == READINGS, runs
    assert (rows + quarantined, rows - distinct, quarantined) == (published, 0, garbage), runs
