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
  readings (Mosquitto's default in-flight window for MQTT 3.1.1 clients); readings are committed
  in micro-batches of at most BATCH, each acknowledged after its commit, on one connection;
- a broker drops QoS 1 messages it cannot queue for a slow subscriber (Mosquitto:
  max_queued_messages, default 1000): for bursty sensor fleets raise it in mosquitto.conf;
- a redelivered reading is not doubled: the importer appends by key, (device, time) by default;
- a payload that is not a JSON object (or list of objects), or lacks the device or time field,
  goes to quarantine with the reason.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from citybi.secrets import redact
from connectors.source import Fetched, Quarantined, SourceRejected, SourceRequest, check_url, redacted_url

if TYPE_CHECKING:  # polars loads where a frame is made: see connectors/__init__.py
    import polars as pl

LABEL = "MQTT"
SESSION_EXPIRY_S = 7 * 24 * 3600
RECEIVE_MAXIMUM = 65_535
DEFAULT_SECONDS = 10.0
DEFAULT_MAX = 10_000
# one micro-batch: at most this many readings, gathered for at most BATCH_SETTLE_S after the first.
# Mosquitto (2.0, default settings) stopped sending a subscriber new QoS 1 messages at about
# 10,000 unacknowledged and dropped what queued behind them (max_queued_messages 1000), so a
# batch is committed and acknowledged long before that
BATCH = 2_000
BATCH_SETTLE_S = 1.0
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

        def on_connect(c: Any, _u: Any, flags: Any, reason: Any, _props: Any) -> None:
            if reason.is_failure:
                outcome["error"] = str(reason)
            else:
                c.subscribe(topic, qos=1)
                if getattr(flags, "session_present", False):
                    # the broker kept this source's session and its subscription: the backlog it queued
                    # arrives before the SUBACK (100,000 readings delayed it past 10 s), so no wait for it
                    subscribed.set()
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
        # a preview's session ends when it disconnects: the broker keeps nothing for it
        props.SessionExpiryInterval = 0 if request.preview else SESSION_EXPIRY_S
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        try:
            client.connect(host, port, keepalive=30, clean_start=request.preview, properties=props)
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
        """The first micro-batch; `Fetched.next_batch` gives the next one on the same connection."""
        import polars as pl

        _host, _port, topic, _user = _parse_url(request.url)
        limit = max(1, request.max_messages or DEFAULT_MAX)
        seconds = request.seconds if request.seconds is not None else DEFAULT_SECONDS
        deadline = time.monotonic() + seconds
        cond = threading.Condition()
        pending: list[Any] = []
        counts = {"accepted": 0}

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            with cond:
                if counts["accepted"] < limit:  # past the limit: left unacknowledged, delivered next time
                    counts["accepted"] += 1
                    pending.append(msg)
                    cond.notify_all()

        client = self._connect(request, on_message)
        wildcard = any(ch in topic for ch in "+#")
        state = {"taken": 0, "closed": False}

        def close(flush: bool = True) -> None:
            if not state["closed"]:
                state["closed"] = True
                _close(client, flush=flush)

        def take() -> list[Any]:
            """Wait for readings until the deadline; then gather a little more, up to one batch."""
            with cond:
                cond.wait_for(lambda: bool(pending) or state["taken"] >= limit, max(0.0, deadline - time.monotonic()))
                settle = min(deadline, time.monotonic() + BATCH_SETTLE_S)
                cond.wait_for(lambda: len(pending) >= BATCH or state["taken"] + len(pending) >= limit,
                              max(0.0, settle - time.monotonic()))
                batch = pending[:BATCH]
                del pending[:BATCH]
                state["taken"] += len(batch)
                return batch

        def make(batch: list[Any]) -> Fetched:
            rows, bad = _readings(batch, wildcard=wildcard)
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
            done = state["taken"] >= limit or time.monotonic() >= deadline

            def acknowledge() -> None:
                for msg in batch:
                    client.ack(msg.mid, msg.qos)
                if done:
                    close()

            def next_batch() -> Fetched | None:
                if done:
                    return None
                following = take()
                if not following:
                    close()
                    return None
                return make(following)

            return Fetched(described=redacted_url(request.url), frame=frame, key_columns=keys, quarantine=bad,
                           infer_types=True, received=len(batch), acknowledge=acknowledge,
                           abandon=lambda: close(flush=False), next_batch=next_batch)

        first = take()
        if not first:
            close()
        return make(first)


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
    import polars as pl

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
