"""Air-station sensors for the sample city: JSON readings published over MQTT, for a live MQTT source.

    .venv/bin/python datasets/air_mqtt.py [--host 127.0.0.1] [--port 1883] [--topic city/air]
                                          [--interval 5] [--rounds 0]

Every --interval seconds each of the sample city's 12 stations (the same as datasets/air_feed.py)
publishes one reading at QoS 1 to TOPIC/<站点>: {"站点", "区", "监测时间", "AQI", "PM2.5", "PM10",
"经度", "纬度"}. --rounds N stops after N rounds (0: until Ctrl+C). --bad-every N makes every
Nth reading unparseable, to watch the 数据源 page count it in quarantine instead of dropping it.

Standard library and paho-mqtt only (paho is a CityBI dependency, so the project's .venv has it).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent))

from air_feed import reading, stations


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="示例城市空气监测站：通过 MQTT 发布 JSON 读数")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--topic", default="city/air", help="主题前缀，读数发到 前缀/站点名")
    ap.add_argument("--interval", type=float, default=5.0, help="每轮间隔秒数（默认 5）")
    ap.add_argument("--rounds", type=int, default=0, help="发布多少轮后停止（0 表示一直发布）")
    ap.add_argument("--bad-every", type=int, default=0, help="每隔多少条发一条无法解析的读数（演示隔离区）")
    args = ap.parse_args(argv)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"citybi-air-sensors-{args.port}")
    client.connect(args.host, args.port)
    client.loop_start()
    sent = 0
    try:
        n = 0
        while args.rounds <= 0 or n < args.rounds:
            now = dt.datetime.now().replace(microsecond=0)
            slot = int(now.timestamp() // max(args.interval, 1))
            infos = []
            for name, district, lon, lat in stations():
                sent += 1
                if args.bad_every and sent % args.bad_every == 0:
                    body = f"传感器故障 {name} {now:%H:%M:%S}".encode()
                else:
                    body = json.dumps({"站点": name, "区": district, "监测时间": now.isoformat(sep=" "),
                                       **reading(name, slot), "经度": lon, "纬度": lat}, ensure_ascii=False).encode()
                infos.append(client.publish(f"{args.topic}/{name}", body, qos=1))
            for info in infos:
                info.wait_for_publish(30)
            n += 1
            print(f"{now:%H:%M:%S} 已发布 {len(infos)} 条读数到 {args.topic}/…（累计 {sent} 条）", flush=True)
            if args.rounds <= 0 or n < args.rounds:
                time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    finally:
        client.loop_stop()
        client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
