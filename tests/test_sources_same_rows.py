"""`citybi sources import` lands the same 20,000 sanitation rows exactly from all four kinds of source.

Issue 9's first "Done when": one set of rows (编号, 日期, 区, 垃圾类型, 清运量（吨）: dates, two-decimal
amounts, NULLs in 区 and in 清运量) is put in a PostgreSQL table, a MariaDB table, a JSON feed whose
records sit under data.records and an MQTT topic; each is imported with the command a user types,
into a warehouse of its own. What lands is compared with the rows as made here in Python (not with
what a server says): the count, the sums, the NULLs, the per-区 counts and every row itself.

The MQTT topic is on the test's own Mosquitto (queue limit lifted): the shared broker keeps at most
1,000 messages for a subscriber that is not connected, and this test publishes before importing.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sources_upstream import json_feed
from test_sources_mqtt_faults import Broker

from citybi.catalog import open_warehouse

pytestmark = pytest.mark.service

CLI = str(Path(sys.executable).with_name("citybi"))
ROWS = 20_000
DISTRICTS = ("南湖区", "秀洲区", "嘉善县", "平湖市", "海宁市")
KINDS = ("厨余垃圾", "其他垃圾", "可回收物", "有害垃圾")
Row = tuple[int, dt.date, str | None, str, Decimal | None]


def sanitation_rows() -> list[Row]:
    """编号, 日期, 区 (NULL every 53rd), 垃圾类型, 清运量（吨） (NULL every 97th, two decimals)."""
    return [(i, dt.date(2024, 1, 1) + dt.timedelta(days=i % 366), None if i % 53 == 0 else DISTRICTS[i % 5],
             KINDS[i % 4], None if i % 97 == 0 else Decimal(i * 37 % 2500) / 100 + 1)
            for i in range(1, ROWS + 1)]


def totals(rows: list[Row]) -> dict[str, Any]:
    amounts = [r[4] for r in rows if r[4] is not None]
    by_district: dict[str | None, int] = {}
    by_kind: dict[str, Decimal] = {}
    for r in rows:
        by_district[r[2]] = by_district.get(r[2], 0) + 1
        if r[4] is not None:
            by_kind[r[3]] = by_kind.get(r[3], Decimal(0)) + r[4]
    return {"count": len(rows), "sum": sum(amounts, Decimal(0)), "null 区": sum(r[2] is None for r in rows),
            "null 清运量": sum(r[4] is None for r in rows), "days": (min(r[1] for r in rows), max(r[1] for r in rows)),
            "by 区": by_district, "by 垃圾类型": by_kind}


def landed(db: Path, table: str) -> tuple[dict[str, Any], list[Row]]:
    """The same figures from the warehouse, amounts summed exactly (as DECIMAL whatever their type)."""
    wh = open_warehouse(path=db)
    cur = wh.cursor()
    try:
        t, amount = f'"{table}"', 'CAST("清运量（吨）" AS DECIMAL(12,2))'
        count, total, null_d, null_a, first, last = cur.execute(
            f'SELECT count(*), sum({amount}), count(*) - count("区"), count(*) - count("清运量（吨）"), '
            f'min("日期"), max("日期") FROM {t}').fetchall()[0]
        by_district = dict(cur.execute(f'SELECT "区"::VARCHAR, count(*) FROM {t} GROUP BY 1').fetchall())
        by_kind = dict(cur.execute(f'SELECT "垃圾类型"::VARCHAR, sum({amount}) FROM {t} GROUP BY 1').fetchall())
        rows = cur.execute(f'SELECT CAST("编号" AS INTEGER), "日期", "区"::VARCHAR, "垃圾类型"::VARCHAR, {amount} '
                           f'FROM {t} ORDER BY 1').fetchall()
    finally:
        cur.close()
        wh.close()
    return ({"count": count, "sum": total, "null 区": null_d, "null 清运量": null_a, "days": (first, last),
             "by 区": by_district, "by 垃圾类型": by_kind}, [tuple(r) for r in rows])  # type: ignore[misc]


def citybi_import(url: str, db: Path, table: str, *extra: str) -> dict[str, Any]:
    out = subprocess.run([CLI, "sources", "import", url, "--db", str(db), "--table", table, "--json", *extra],
                         capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return sanitation_rows()


def _records(rows: list[Row]) -> list[dict[str, Any]]:
    # what a feed or a sensor sends: dates as text, amounts as JSON numbers, NULL as null
    return [{"编号": i, "日期": d.isoformat(), "区": q, "垃圾类型": k, "清运量（吨）": None if a is None else float(a)}
            for i, d, q, k, a in rows]


def _postgres(rows: list[Row], name: str) -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        pg = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL 127.0.0.1:5432 does not answer: {err}")
    pg.execute(f'CREATE TABLE {name} ("编号" int PRIMARY KEY, "日期" date, "区" text, "垃圾类型" varchar(10), '
               '"清运量（吨）" numeric(10,2))')
    try:
        with pg.cursor() as cur, cur.copy(f"COPY {name} FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        yield "postgresql://postgres@127.0.0.1:5432/test"
    finally:
        pg.execute(f"DROP TABLE IF EXISTS {name}")
        pg.close()


def _mariadb(rows: list[Row], name: str) -> Iterator[str]:
    import pymysql

    try:
        my = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test",
                             charset="utf8mb4", autocommit=True, connect_timeout=3)
    except pymysql.err.OperationalError as err:
        pytest.skip(f"MariaDB 127.0.0.1:3306 does not answer: {err}")
    with my.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (`编号` INT PRIMARY KEY, `日期` DATE, `区` VARCHAR(10), "
                    "`垃圾类型` VARCHAR(10), `清运量（吨）` DECIMAL(10,2)) DEFAULT CHARSET=utf8mb4")
        cur.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s, %s, %s)", rows)
    try:
        yield "mysql://root@127.0.0.1:3306/test"
    finally:
        with my.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {name}")
        my.close()


def _feed(rows: list[Row]) -> Iterator[str]:
    document = {"code": 0, "data": {"total": len(rows), "records": _records(rows)}}
    with json_feed(lambda: document, "/sanitation.json", "application/json; charset=utf-8") as url:
        yield url


def _mqtt(rows: list[Row], folder: Path, table: str) -> Iterator[str]:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from connectors.source import SourceRequest, source_for

    broker = Broker(folder)
    broker.start()
    url = f"mqtt://127.0.0.1:{broker.port}/citybi/sanitation/{uuid.uuid4().hex[:8]}"
    try:
        # the import's session exists before anything is published: the broker keeps the readings for it
        source_for(url).test(SourceRequest(url=url, table=table))
        pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"citybi-test-pub-{uuid.uuid4().hex[:8]}")
        pub.max_inflight_messages_set(1000)
        pub.max_queued_messages_set(0)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        topic = url.split("/", 3)[3]
        infos = [pub.publish(topic, json.dumps(r, ensure_ascii=False).encode(), qos=1) for r in _records(rows)]
        for info in infos:
            info.wait_for_publish(60)
        pub.loop_stop()
        pub.disconnect()
        yield url
    finally:
        broker.stop()


@pytest.mark.parametrize("kind", ["postgresql", "mariadb", "json-feed", "mqtt"])
def test_the_same_rows_land_exactly(kind: str, rows: list[Row], tmp_path: Path) -> None:
    table, name = "环卫清运", f"citybi_t_{uuid.uuid4().hex[:10]}"
    upstream = {"postgresql": lambda: _postgres(rows, name), "mariadb": lambda: _mariadb(rows, name),
                "json-feed": lambda: _feed(rows), "mqtt": lambda: _mqtt(rows, tmp_path, table)}[kind]()
    url = next(upstream)
    try:
        extra = {"postgresql": ["--query", f"SELECT * FROM {name}"], "mariadb": ["--query", f"SELECT * FROM {name}"],
                 "json-feed": ["--record-path", "data.records"],
                 "mqtt": ["--max-messages", str(ROWS), "--seconds", "120"]}[kind]
        said = citybi_import(url, tmp_path / "w.duckdb", table, *extra)
    finally:
        upstream.close()
    assert (said["status"], said["received"], said["quarantined"]) == ("ok", ROWS, 0)
    figures, got = landed(tmp_path / "w.duckdb", table)
    expected = totals(rows)
    assert figures == expected
    assert expected["null 区"] == ROWS // 53 and expected["null 清运量"] == ROWS // 97  # the NULLs are really there
    assert got == rows
