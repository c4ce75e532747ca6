"""MQTT sensor streams: JSON readings from a topic, in micro-batches acknowledged after the commit.

URL: mqtt://[user@]host:1883/topic/with/levels (+ and # wildcards allowed; the password is a
named secret). One fetch is one micro-batch: it stops after `max_messages` readings or
`seconds` seconds, whichever comes first.

Why it is built like this — a crash or a broker restart must lose nothing and double nothing:
- MQTT 5 with a persistent session (clean_start off, a session expiry of SESSION_EXPIRY_S) and a
  client id that stays the same for the same source: the broker keeps every QoS 1 reading that
  was not acknowledged, across our restarts and its own (Mosquitto persists sessions);
- readings are acknowledged by hand (paho-mqtt `manual_ack`), only by `Fetched.acknowledge`,
  which the importer calls after the batch is committed; a failed write calls `abandon`, which
  disconnects without acknowledging, so the broker delivers the batch again;
- Receive Maximum is raised to 65,535 so the broker does not stop at 20 unacknowledged
  readings (Mosquitto's default in-flight window for MQTT 3.1.1 clients);
- a redelivered reading is not doubled: the importer appends by key, (device, time) by default;
- a payload that is not a JSON object (or list of objects), or lacks the device or time field,
  goes to quarantine with the reason.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import polars as pl

from citybi.secrets import redact
from connectors.source import Fetched, Quarantined, SourceRejected, SourceRequest, check_url, redacted_url

LABEL = "MQTT"
SESSION_EXPIRY_S = 7 * 24 * 3600
RECEIVE_MAXIMUM = 65_535
DEFAULT_SECONDS = 10.0
DEFAULT_MAX = 10_000
DEVICE_FIELDS = ("device", "device_id", "deviceId", "station", "station_id", "sensor", "设备", "设备编号", "站点",
                 "监测点")
TIME_FIELDS = ("time", "ts", "timestamp", "datetime", "时间", "监测时间", "采集时间")
_CONNACK_REASONS = {
    "Bad user name or password": "用户名或密码错误",
    "Not authorized": "没有权限",
    "Client identifier not valid": "客户端标识不被接受",
}


def _parse_url(url: str) -> tuple[str, int, str, str]:
    check_url(url)
    parts = urlsplit(url)
    topic = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if parts.fragment:  # '#' ends a URL: mqtt://host/a/# arrives as path a/ and an empty fragment
        topic += "#" + unquote(parts.fragment)
    elif url.endswith("#"):
        topic += "#"
    try:
        port = parts.port or 1883
    except ValueError as err:
        raise SourceRejected("MQTT 地址中的端口不是有效数字。", hint="例如 mqtt://127.0.0.1:1883/city/air") from err
    if not parts.hostname or not topic:
        raise SourceRejected(f"MQTT 地址不完整：「{redacted_url(url)[:120]}」。",
                             hint="格式为 mqtt://主机:1883/主题，例如 mqtt://127.0.0.1:1883/city/air/+")
    return parts.hostname, port, topic, unquote(parts.username or "")


def client_id_for(url: str, table: str | None) -> str:
    """The same source always reconnects as the same client, so the broker keeps its readings."""
    digest = hashlib.sha256(f"{redacted_url(url)}|{table or ''}".encode()).hexdigest()[:16]
    return f"citybi-{digest}"


def pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


class MqttConnector:
    name = "mqtt"
    label = LABEL
    schemes = ("mqtt",)

    def check(self, request: SourceRequest) -> None:
        _parse_url(request.url)

    def _connect(self, request: SourceRequest, on_message: Any) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        host, port, topic, user = _parse_url(request.url)
        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                             client_id=request.client_id or client_id_for(request.url, request.table),
                             manual_ack=True)
        if user or request.secret is not None:
            client.username_pw_set(user or None, request.secret.reveal() if request.secret is not None else None)
        connected = threading.Event()
        subscribed = threading.Event()
        outcome: dict[str, str] = {}

        def on_connect(c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
            if reason.is_failure:
                outcome["error"] = str(reason)
            else:
                c.subscribe(topic, qos=1)
            connected.set()

        def on_subscribe(_c: Any, _u: Any, _mid: Any, reasons: Any, _props: Any) -> None:
            bad = [str(r) for r in reasons if r.is_failure]
            if bad:
                outcome["error"] = "subscribe: " + ", ".join(bad)
            subscribed.set()

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        try:
            client.connect(host, port, keepalive=30, clean_start=False, properties=props)
        except OSError as err:
            raise SourceRejected(f"无法连接 MQTT 服务器 {host}:{port}。", hint="请检查主机和端口、消息服务是否已启动",
                                 detail=redact(str(err), request.secret)) from None
        client.loop_start()
        if not connected.wait(min(10.0, request.timeout_s)) or "error" in outcome:
            _close(client)
            reason = outcome.get("error", "timeout")
            said = next((v for k, v in _CONNACK_REASONS.items() if k in reason), reason)
            raise SourceRejected(f"MQTT 服务器 {host}:{port} 拒绝了连接：{said}。",
                                 hint="请检查地址中的用户名和 --secret 指定的密码", detail=reason)
        if not subscribed.wait(10.0) or "error" in outcome:
            _close(client)
            raise SourceRejected(f"无法订阅 MQTT 主题「{topic}」。", hint="请检查主题名和账户的订阅权限",
                                 detail=outcome.get("error", "timeout"))
        return client

    def test(self, request: SourceRequest) -> str:
        _host, _port, topic, _user = _parse_url(request.url)
        client = self._connect(request, lambda *_a: None)
        _close(client)
        return f"已连接 MQTT 服务器并订阅主题「{topic}」。"

    def fetch(self, request: SourceRequest) -> Fetched:
        _host, _port, topic, _user = _parse_url(request.url)
        limit = max(1, min(request.max_messages or DEFAULT_MAX, RECEIVE_MAXIMUM))
        seconds = request.seconds if request.seconds is not None else DEFAULT_SECONDS
        lock = threading.Lock()
        got: list[Any] = []
        enough = threading.Event()

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            with lock:
                if len(got) < limit:
                    got.append(msg)  # more than the limit is left unacknowledged: delivered next time
                if len(got) >= limit:
                    enough.set()

        client = self._connect(request, on_message)
        enough.wait(seconds)
        with lock:
            batch = list(got)
        rows, bad = _readings(batch, wildcard=any(ch in topic for ch in "+#"))
        frame = pl.DataFrame({n: pl.Series(n, [r.get(n) for r in rows], dtype=pl.String)
                              for n in dict.fromkeys(k for r in rows for k in r)}) if rows else None
        keys: list[str] = []
        if frame is not None:
            device, when = pick(frame.columns, DEVICE_FIELDS), pick(frame.columns, TIME_FIELDS)
            keys = [k for k in (device, when) if k]
            if "主题" in frame.columns and device is None:
                keys.insert(0, "主题")
            frame, missing = _split_missing(frame, keys, batch)
            bad.extend(missing)

        def acknowledge() -> None:
            for msg in batch:
                client.ack(msg.mid, msg.qos)
            _close(client)

        return Fetched(described=redacted_url(request.url), frame=frame, key_columns=keys, quarantine=bad,
                       infer_types=True, received=len(batch), acknowledge=acknowledge,
                       abandon=lambda: _close(client, flush=False))


def _readings(batch: list[Any], *, wildcard: bool) -> tuple[list[dict[str, str | None]], list[Quarantined]]:
    rows: list[dict[str, str | None]] = []
    bad: list[Quarantined] = []
    for msg in batch:
        try:
            doc = json.loads(msg.payload.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            bad.append(Quarantined(payload=bytes(msg.payload), reason=f"不是有效的 JSON（{type(err).__name__}）",
                                   where=msg.topic))
            continue
        items = doc if isinstance(doc, list) else [doc]
        if not items or not all(isinstance(i, dict) and i for i in items):
            bad.append(Quarantined(payload=bytes(msg.payload), reason="JSON 不是对象（键值对）", where=msg.topic))
            continue
        for item in items:
            row = {str(k): _text(v) for k, v in item.items()}
            if wildcard:
                row["主题"] = msg.topic
            rows.append(row)
    return rows, bad


def _split_missing(frame: pl.DataFrame, keys: list[str], batch: list[Any]) -> tuple[pl.DataFrame, list[Quarantined]]:
    """Readings without a device or a time cannot be deduplicated: quarantined, not guessed."""
    if not keys:
        return frame, []
    missing = pl.any_horizontal([pl.col(k).is_null() | (pl.col(k).str.strip_chars() == "") for k in keys])
    bad_rows = frame.filter(missing)
    out = [Quarantined(payload=json.dumps(r, ensure_ascii=False).encode(), reason="缺少" + "或".join(keys),
                       where=str(r.get("主题") or "")) for r in bad_rows.to_dicts()]
    return frame.filter(~missing), out


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _close(client: Any, *, flush: bool = True) -> None:
    """Disconnect; with `flush`, first let the loop send the queued acknowledgements."""
    if flush:
        deadline = time.monotonic() + 5.0
        while client.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)
    try:
        client.disconnect()
    finally:
        client.loop_stop()
