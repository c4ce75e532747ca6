"""A live "air stations" HTTP feed for the sample city, so a newcomer can watch a data source work.

    .venv/bin/python datasets/air_feed.py [--port 8765] [--interval 60] [--slots 24]

Serves http://127.0.0.1:PORT/air as JSON with the records under data.records — the shape many
city platforms use — one record per station and time slot: 站点, 区, 监测时间, AQI, PM2.5, PM10,
经度, 纬度 for the sample city's 12 stations (datasets/generate.py). A new slot starts every
--interval seconds and the feed lists the last --slots of them, so a source that refreshes and
appends by key (站点, 监测时间) gains 12 rows a slot and never doubles one. Values are
deterministic per (station, slot): two fetches of the same slot agree. It answers ETag /
If-None-Match with 304 while the slot has not changed, as a well-behaved feed does.

Standard library only (plus generate.py beside it, itself standard library).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import DISTRICTS, STATIONS

PATH = "/air"


def stations() -> list[tuple[str, str, float, float]]:
    """(站点, 区, 经度, 纬度): each station placed near its district's centre, the same every run."""
    out = []
    for district, names in STATIONS.items():
        lon, lat = DISTRICTS[district][4], DISTRICTS[district][5]
        for i, name in enumerate(names):
            dx, dy = (0.012, 0.007) if i else (-0.009, -0.006)
            out.append((name, district, round(lon + dx, 4), round(lat + dy, 4)))
    return out


def reading(station: str, slot: int) -> dict[str, Any]:
    rng = random.Random(f"{station}|{slot}")
    pm25 = round(rng.uniform(8, 95), 1)
    return {"AQI": int(min(300, pm25 * 1.35 + rng.uniform(0, 20))), "PM2.5": pm25,
            "PM10": round(pm25 * rng.uniform(1.2, 1.9), 1)}


def records(slot: int, interval: int, slots: int) -> list[dict[str, Any]]:
    out = []
    for s in range(slot - slots + 1, slot + 1):
        when = dt.datetime.fromtimestamp(s * interval).strftime("%Y-%m-%d %H:%M:%S")
        for name, district, lon, lat in stations():
            out.append({"站点": name, "区": district, "监测时间": when, **reading(name, s), "经度": lon, "纬度": lat})
    return out


def make_handler(interval: int, slots: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != PATH:
                self.send_error(404, f"try {PATH}")
                return
            slot = int(time.time() // interval)
            etag = f'"air-{slot}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            body = json.dumps({"code": 0, "data": {"records": records(slot, interval, slots)}},
                              ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # a quiet demo: one line at start is enough
            return

    return Handler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="示例城市空气监测站 HTTP 数据接口（JSON，记录在 data.records）")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--interval", type=int, default=60, help="每隔多少秒产生一批新读数（默认 60）")
    ap.add_argument("--slots", type=int, default=24, help="接口列出最近多少批读数（默认 24）")
    args = ap.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(max(1, args.interval), max(1, args.slots)))
    print(f"空气监测站数据接口：http://{args.host}:{server.server_address[1]}{PATH}（Ctrl+C 停止）", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
