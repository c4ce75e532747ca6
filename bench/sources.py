"""Benchmark: 数据源 imports beside the plain driver fetch of the same rows, and MQTT throughput.

Why: issue 9's speed bar is `citybi sources import` of 1,000,000 rows from PostgreSQL and from
MariaDB at most 1.5× the fastest plain fetch of the same rows (the import adds typing, the
warehouse write, a version and provenance on top of the driver), and MQTT readings/s with the
commit latency a sensor reading sees. This prints those figures and asserts nothing (the
machine is shared and noisy: read ratios, not single numbers).

    .venv/bin/python bench/sources.py [--rows 1000000] [--repeat 2] [--copy]
                                      [--mqtt-readings 20000] [--mqtt-rate 0] [--broker HOST:PORT]
                                      [--skip-db]

It makes a sanitation-like table (日期, 区, 垃圾类型, 清运量（吨） decimal(10,2), NULLs in 区 and
清运量, Chinese text) with a unique name in PostgreSQL (127.0.0.1:5432, test) and MariaDB
(127.0.0.1:3306, root, test), times connectorx → Arrow (the driver the connectors use;
`--copy` also times psycopg 3 COPY → polars) and `citybi sources import` into a fresh
warehouse (in this process, through the CLI's own entry point), then drops the tables.
MQTT: starts its own `mosquitto` on a free port (or uses --broker), publishes QoS 1 readings
(in one burst, or at --mqtt-rate readings/s like a steady sensor fleet) while one
`import_source` run commits micro-batches; the latency of a reading is commit time − publish
time, so a burst's latency is mostly the queue waiting to be drained.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

# run from a checkout without installing: the project root goes first on the path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from citybi.catalog import open_warehouse
from citybi.cli import main as citybi_main

PG = "postgresql://postgres@127.0.0.1:5432/test"
MY = "mysql://root@127.0.0.1:3306/test"


class Timing(NamedTuple):
    """One timed run: its seconds, and how many of the machine's cores were busy meanwhile (None: no /proc)."""

    seconds: float
    cores: float | None


def _busy_ticks() -> int | None:
    """Clock ticks every core of the machine has spent busy so far (/proc/stat), this process or not."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait


def timed(fn: Callable[[], Any]) -> Timing:
    """Why the busy cores: on a 2-core machine that also runs the database, the plain fetch already
    keeps most of both busy (the driver AND the server), so whatever an import adds after it is
    not hidden on a spare core; this shows it for each figure."""
    before, t = _busy_ticks(), time.perf_counter()
    fn()
    seconds, after = time.perf_counter() - t, _busy_ticks()
    if before is None or after is None:
        return Timing(seconds, None)
    return Timing(seconds, (after - before) / os.sysconf("SC_CLK_TCK") / seconds)


def best_of(repeat: int, fn: Callable[[], Any]) -> Timing:
    return min((timed(fn) for _ in range(repeat)), key=lambda r: r.seconds)


def line(label: str, rows: int, run: Timing) -> None:
    busy = "" if run.cores is None else f"   machine busy {run.cores:.1f} of {os.cpu_count()} cores"
    print(f"  {label:40s} {run.seconds:8.2f} s {rows / run.seconds:>12,.0f} rows/s{busy}", flush=True)


def _import_once(url: str, db: Path, table: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # the command's own JSON report
        code = citybi_main(["sources", "import", url, "--db", str(db), "--table", table, "--json"])
    assert code == 0


def import_seconds(url: str, table: str, rows: int, repeat: int) -> Timing:
    """`citybi sources import URL --table T` into a fresh warehouse each time; checks the row count."""
    best: Timing | None = None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="citybi-bench-") as d:
            db = Path(d) / "w.duckdb"
            this = timed(functools.partial(_import_once, url, db, table))
            best = this if best is None or this.seconds < best.seconds else best
            wh = open_warehouse(path=db)
            try:
                got = wh.cursor().execute(f'SELECT count(*) FROM "{table}"').fetchone()
            finally:
                wh.close()
            assert got is not None and got[0] == rows, (got, rows)
    assert best is not None
    return best


def report(name: str, rows: int, fetches: dict[str, Timing], imported: Timing) -> None:
    fastest = min(f.seconds for f in fetches.values())
    for label, run in fetches.items():
        line(label, rows, run)
    line("citybi sources import (fresh warehouse)", rows, imported)
    print(f"  {name}: import ÷ fastest plain fetch = {imported.seconds / fastest:.2f}×", flush=True)


def postgres(rows: int, repeat: int, copy: bool) -> None:
    import connectorx as cx
    import psycopg

    t = f"bench_src_{os.getpid()}"
    pg = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True)
    # the outer cast declares numeric(10,2) on the column, as a department's table would (a bare CASE loses it)
    started = time.perf_counter()
    pg.execute(f'''CREATE TABLE {t} AS SELECT (date '2024-01-01' + (i % 365)) AS "日期",
      CASE WHEN i % 53 = 0 THEN NULL ELSE (array['南湖区','秀洲区','嘉善县','平湖市'])[1 + i % 4] END AS "区",
      (array['厨余垃圾','其他垃圾','可回收物','有害垃圾'])[1 + i % 4] AS "垃圾类型",
      (CASE WHEN i % 97 = 0 THEN NULL ELSE round((random()*20)::numeric, 2) END)::numeric(10,2) AS "清运量（吨）"
      FROM generate_series(1, {rows}) i''')
    print(f"PostgreSQL, {rows:,} rows (made in {time.perf_counter() - started:.1f} s)", flush=True)
    q = f"SELECT * FROM {t}"
    try:
        fetches = {"connectorx → Arrow": best_of(repeat, lambda: cx.read_sql(PG, q, return_type="arrow"))}
        if copy:
            import polars as pl

            def copy_csv() -> Any:
                buf = io.BytesIO()
                with pg.cursor() as cur, cur.copy(f"COPY ({q}) TO STDOUT (FORMAT csv, HEADER)") as cp:
                    for chunk in cp:
                        buf.write(chunk)
                buf.seek(0)
                return pl.read_csv(buf, try_parse_dates=True).to_arrow()

            fetches["psycopg 3 COPY csv → polars"] = best_of(repeat, copy_csv)
        report("PostgreSQL", rows, fetches, import_seconds(PG, t, rows, repeat))
    finally:
        pg.execute(f"DROP TABLE IF EXISTS {t}")
        pg.close()


def mariadb(rows: int, repeat: int) -> None:
    import connectorx as cx
    import pymysql

    t = f"bench_src_{os.getpid()}"
    my = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test",
                         charset="utf8mb4", autocommit=True)
    started = time.perf_counter()
    with my.cursor() as c:
        c.execute(f"""CREATE TABLE {t} (`日期` DATE, `区` VARCHAR(20), `垃圾类型` VARCHAR(20),
          `清运量（吨）` DECIMAL(10,2)) DEFAULT CHARSET=utf8mb4""")
        # MariaDB's sequence engine gives seq_1_to_N without a helper table
        c.execute(f"""INSERT INTO {t} SELECT DATE('2024-01-01') + INTERVAL (seq % 365) DAY,
          IF(seq % 53 = 0, NULL, ELT(1 + seq % 4,'南湖区','秀洲区','嘉善县','平湖市')),
          ELT(1 + seq % 4,'厨余垃圾','其他垃圾','可回收物','有害垃圾'),
          IF(seq % 97 = 0, NULL, ROUND(RAND()*20, 2)) FROM seq_1_to_{rows}""")
    print(f"MariaDB, {rows:,} rows (made in {time.perf_counter() - started:.1f} s)", flush=True)
    q = f"SELECT * FROM {t}"
    try:
        fetches = {"connectorx → Arrow": best_of(repeat, lambda: cx.read_sql(MY, q, return_type="arrow"))}
        report("MariaDB", rows, fetches, import_seconds(MY, t, rows, repeat))
    finally:
        with my.cursor() as c:
            c.execute(f"DROP TABLE IF EXISTS {t}")
        my.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def own_broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A private Mosquitto; its queue limit lifted so a burst is not dropped before the subscriber acks."""
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n", encoding="utf-8")
    proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("mosquitto did not start")


def mqtt(readings: int, broker: str | None, rate: float) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    import citybi.sources as sources
    from connectors.source import SourceRequest, source_for

    with tempfile.TemporaryDirectory(prefix="citybi-bench-mqtt-") as d:
        proc = None
        if broker:
            host, port = broker.rsplit(":", 1)[0], int(broker.rsplit(":", 1)[1])
        else:
            proc, port = own_broker(Path(d))
            host = "127.0.0.1"
        topic = f"citybi/bench/{uuid.uuid4().hex[:8]}"
        url = f"mqtt://{host}:{port}/{topic}"
        source_for(url).test(SourceRequest(url=url, table="空气"))  # the session exists before publishing
        latencies: list[float] = []
        commits: list[float] = []

        class Timed:
            """The real MQTT connector, each batch's acknowledge (right after its commit) timed."""

            def __init__(self, inner: Any) -> None:
                self.inner, self.name, self.label, self.schemes = inner, inner.name, inner.label, inner.schemes

            def check(self, request: Any) -> None:
                self.inner.check(request)

            def fetch(self, request: Any) -> Any:
                return wrap(self.inner.fetch(request))

        def wrap(f: Any) -> Any:
            sent = f.frame.get_column("sent").cast(float).to_list() if f.frame is not None else []

            def acknowledge() -> None:
                now = time.time()
                commits.append(now)
                latencies.extend(now - s for s in sent)
                f.acknowledge()

            nxt = f.next_batch
            return dataclasses.replace(f, acknowledge=acknowledge,
                                       next_batch=(lambda: (lambda n: wrap(n) if n is not None else None)(nxt()))
                                       if nxt is not None else None)

        real = sources.source_for
        sources.source_for = lambda u: Timed(real(u))  # type: ignore[assignment]
        pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"citybi-bench-pub-{uuid.uuid4().hex[:8]}")
        pub.max_inflight_messages_set(1000)
        pub.max_queued_messages_set(0)
        pub.connect(host, port)
        pub.loop_start()
        first_sent: list[float] = []

        def publish_all() -> None:
            infos = []
            first_sent.append(time.time())
            start = time.monotonic()
            for i in range(readings):
                if rate > 0 and i % 50 == 0:  # a steady fleet: at most `rate` readings a second
                    time.sleep(max(0.0, start + i / rate - time.monotonic()))
                body = {"station": f"站{i % 50:02d}", "time": f"2024-03-01T{(i // 50) // 3600 % 24:02d}:"
                        f"{(i // 50) // 60 % 60:02d}:{(i // 50) % 60:02d}", "PM2.5": 20 + i % 30, "AQI": 40 + i % 60,
                        "sent": f"{time.time():.6f}"}
                infos.append(pub.publish(topic, json.dumps(body, ensure_ascii=False), qos=1))
            for info in infos:
                info.wait_for_publish(60)

        publisher = threading.Thread(target=publish_all)
        wh_dir = Path(d) / "wh"
        wh_dir.mkdir()
        wh = open_warehouse(path=wh_dir / "w.duckdb")
        try:
            publisher.start()
            res = sources.import_source(wh, SourceRequest(url=url, table="空气", max_messages=readings, seconds=600),
                                        table="空气", mode="append")
            publisher.join()
        finally:
            sources.source_for = real  # type: ignore[assignment]
            pub.loop_stop()
            pub.disconnect()
            wh.close()
            if proc is not None:
                proc.terminate()
                proc.wait(10)
        span = commits[-1] - first_sent[0]
        lat = sorted(latencies)
        p = statistics.quantiles(lat, n=100) if len(lat) > 1 else lat * 99
        where = broker or f"own mosquitto :{port}"
        paced = f"published at {rate:,.0f}/s" if rate > 0 else "published in one burst"
        print(f"MQTT, {readings:,} QoS 1 readings {paced} ({where}), {len(commits)} micro-batches", flush=True)
        print(f"  received {res.received:,}, written {res.write.rows_written if res.write else 0:,}, "
              f"quarantined {res.quarantined}", flush=True)
        print(f"  sustained {res.received / span:>10,.0f} readings/s (first publish → last commit {span:.1f} s)")
        print(f"  commit latency p50 {p[49] * 1000:,.0f} ms, p95 {p[94] * 1000:,.0f} ms", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs of each timing")
    ap.add_argument("--copy", action="store_true", help="also time psycopg 3 COPY → polars for PostgreSQL")
    ap.add_argument("--mqtt-readings", type=int, default=20_000)
    ap.add_argument("--mqtt-rate", type=float, default=0,
                    help="publish at most this many readings/s (default 0: one burst, which measures the drain)")
    ap.add_argument("--broker", help="HOST:PORT of a running Mosquitto (default: start one on a free port)")
    ap.add_argument("--skip-db", action="store_true", help="only the MQTT figures")
    args = ap.parse_args()
    if not args.skip_db:
        postgres(args.rows, args.repeat, args.copy)
        mariadb(args.rows, args.repeat)
    if args.mqtt_readings:
        mqtt(args.mqtt_readings, args.broker, args.mqtt_rate)


if __name__ == "__main__":
    main()
