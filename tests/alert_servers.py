"""Stand-ins for the vendors' robots and a mail server, on 127.0.0.1, for the alert tests.

Each fake answers the way its vendor documents (citybi/alerts/channels/*.py cite the pages):
it checks the body's shape, the size limit and — when given a signing secret — the signature
and its timestamp exactly as the vendor computes it, and answers with the vendor's own success
body or error code. A test can script answers in advance (an error code, an HTTP status, a
delay longer than the client's time-out) and reads back everything that was posted.

Shared by tests/test_alert_channels.py and tests/test_alerts_e2e.py.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Posted:
    kind: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    answer: dict[str, Any]
    status: int


@dataclass
class Robot:
    """One robot: its vendor kind, its signing secret (None: unsigned) and scripted answers."""

    kind: str  # wecom | dingtalk | feishu | webhook
    secret: str | None = None
    script: list[tuple[int, dict[str, Any] | None, float]] = field(default_factory=list)  # (status, body, delay)


class VendorServer:
    """POST /wecom/<id>, /dingtalk/<id>, /feishu/<id>, /webhook/<id>: one robot per id."""

    def __init__(self) -> None:
        self.robots: dict[str, Robot] = {}
        self.posted: list[Posted] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer, delay = server.answer(self.path, raw, self.headers.get("Content-Type", ""))
                if delay:
                    time.sleep(delay)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (its time-out)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, kind: str, rid: str) -> str:
        base = f"http://127.0.0.1:{self.port}"
        return {"wecom": f"{base}/wecom/cgi-bin/webhook/send?key={rid}",
                "dingtalk": f"{base}/dingtalk/robot/send?access_token={rid}",
                "feishu": f"{base}/feishu/open-apis/bot/v2/hook/{rid}",
                "webhook": f"{base}/webhook/{rid}"}[kind]

    def add(self, kind: str, rid: str, *, secret: str | None = None) -> str:
        self.robots[rid] = Robot(kind, secret)
        return self.url(kind, rid)

    def posts(self, rid: str) -> list[Posted]:
        with self._lock:
            return [p for p in self.posted if _rid(p.kind, p.path, p.query) == rid]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------------ the vendors' rules
    def answer(self, path: str, raw: bytes, ctype: str) -> tuple[int, dict[str, Any], float]:
        parts = urlsplit(path)
        kind = parts.path.split("/")[1]
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        rid = _rid(kind, parts.path, query)
        robot = self.robots.get(rid)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            body = {}
        if robot is None:
            status, answer, delay = 404, {"errcode": 93000, "errmsg": "invalid webhook url"}, 0.0
        elif robot.script:
            status, scripted, delay = robot.script.pop(0)
            answer = scripted if scripted is not None else self._judge(robot, query, body, raw, ctype)[1]
        else:
            status, answer = self._judge(robot, query, body, raw, ctype)
            delay = 0.0
        with self._lock:
            self.posted.append(Posted(kind, parts.path, query, body, raw, answer, status))
        return status, answer, delay

    def _judge(self, robot: Robot, query: dict[str, str], body: dict[str, Any], raw: bytes,
               ctype: str) -> tuple[int, dict[str, Any]]:
        if "utf-8" not in ctype.lower() and robot.kind in ("wecom", "dingtalk"):
            return 200, {"errcode": 40035, "errmsg": "invalid charset"}
        if robot.kind == "wecom":
            content = body.get("markdown", {}).get("content", "")
            if body.get("msgtype") != "markdown" or not content:
                return 200, {"errcode": 40008, "errmsg": "invalid message type"}
            if len(content.encode("utf-8")) > 4096:
                return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        if robot.kind == "dingtalk":
            if robot.secret is not None:
                ts, sign = query.get("timestamp", ""), query.get("sign", "")
                if not ts.isdigit() or abs(time.time() * 1000 - int(ts)) > 3600_000:
                    return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
                want = base64.b64encode(hmac.new(robot.secret.encode(), f"{ts}\n{robot.secret}".encode(),
                                                 hashlib.sha256).digest()).decode()
                if sign != want:  # parse_qs has url-decoded it once, as the vendor does
                    return 200, {"errcode": 310000, "errmsg": "sign not match"}
            md = body.get("markdown", {})
            if body.get("msgtype") != "markdown" or not md.get("title") or not md.get("text"):
                return 200, {"errcode": 40035, "errmsg": "缺少参数 markdown"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        if robot.kind == "feishu":
            if len(raw) > 20 * 1024:
                return 400, {"code": 9499, "msg": "Bad Request", "data": {}}
            if robot.secret is not None:
                ts = str(body.get("timestamp", ""))
                want = base64.b64encode(hmac.new(f"{ts}\n{robot.secret}".encode(), b"",
                                                 hashlib.sha256).digest()).decode()
                if not ts.isdigit() or abs(time.time() - int(ts)) > 3600 or body.get("sign") != want:
                    return 200, {"code": 19021, "data": {},
                                 "msg": "sign match fail or timestamp is not within one hour from current time"}
            post = body.get("content", {}).get("post", {}).get("zh_cn", {})
            if body.get("msg_type") != "post" or not post.get("title") or not isinstance(post.get("content"), list):
                return 400, {"code": 9499, "msg": "Bad Request", "data": {}}
            return 200, {"code": 0, "msg": "success", "data": {}}
        return 200, {"ok": True}


def _rid(kind: str, path: str, query: dict[str, str]) -> str:
    if kind == "wecom":
        return query.get("key", "")
    if kind == "dingtalk":
        return query.get("access_token", "")
    return unquote(path.rstrip("/").split("/")[-1])


@contextmanager
def vendor_server() -> Iterator[VendorServer]:
    server = VendorServer()
    try:
        yield server
    finally:
        server.close()


# ---------------------------------------------------------------------------- e-mail
class MailBox:
    """What an aiosmtpd server on 127.0.0.1 received, as parsed messages."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[MailBox, int]]:
    import socket

    from aiosmtpd.controller import Controller

    box = MailBox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()
