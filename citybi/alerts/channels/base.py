"""What every delivery channel shares: the message, the Protocol, the registry, and one HTTP post
with retries and the vendor's own error shown.

Why a Protocol + registry like connectors and chart types: each vendor's robot has its own body,
signature, size limit and error codes, and a city may need one more (政务微信, 浙政钉…). A channel
is one module, registered in citybi/alerts/channels/__init__.py (an outside one calls `register` the same
way); the service only asks `channel_for(kind).send(...)`.

Why tenacity (already in the lock for the HTTP feeds) and not a loop: retries with exponential
back-off on what may pass — a time-out, a refused connection, HTTP 5xx/429, a vendor's "too many
messages" code — and never on what will not (a wrong signature, a missing keyword): those are
raised at once with the vendor's errcode and errmsg, so a clerk reads "钉钉返回 310000：sign not
match" instead of a silent gap. The webhook URL carries the robot's key: it never appears in an
error, a log line or the history (messages name the channel, and any echo is redacted).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from citybi.errors import UserFacingError
from citybi.secrets import Secret, redact

if TYPE_CHECKING:
    import polars as pl

    from citybi.alerts.rules import ChannelDef

SecretLookup = Callable[[str], Secret]
TRUNCATED = "……（内容过长，已截断）"


@dataclass(frozen=True)
class Message:
    """One alert, clearance, test or briefing, before a channel shapes it."""

    title: str  # 【预警】热线工单激增
    lines: tuple[str, ...]  # the body, one sentence each (plain text)
    link: str = ""  # back to the board (leader view)
    level: str = "fired"  # fired | repeat | cleared | test | briefing
    rows: pl.DataFrame | None = None
    excel: bytes | None = None
    png: bytes | None = None
    attachment_name: str = "预警数据"
    extra: dict[str, Any] = field(default_factory=dict)  # machine-readable facts (the JSON webhook)

    def markdown(self, *, limit_bytes: int | None = None, heading: str = "###") -> str:
        """Markdown most robots read: a heading, one line each, the link last; cut to `limit_bytes`."""
        body = [f"{heading} {md_escape(self.title)}", *[f"- {md_escape(x)}" for x in self.lines]]
        tail = f"[打开看板查看详情]({self.link})" if self.link else ""
        return cut(body, tail, limit_bytes)

    def plain(self, *, limit_bytes: int | None = None) -> str:
        return cut([self.title, *self.lines], f"详情：{self.link}" if self.link else "", limit_bytes)


def md_escape(text: str) -> str:
    """Data values (a 街道 name, a title) must not turn into links or emphasis in a robot's markdown."""
    out = str(text)
    for ch in "\\`*_[]<>#|":
        out = out.replace(ch, "\\" + ch)
    return out


def cut(lines: list[str], tail: str, limit_bytes: int | None) -> str:
    """Lines joined, cut at a line so that the whole (tail included) fits `limit_bytes` of UTF-8.

    The link back to the board always survives the cut: a long list of 街道 ends with
    "……（内容过长，已截断）" and the link, never in the middle of a character or a markdown link.
    """
    full = "\n".join([*lines, tail] if tail else lines)
    if limit_bytes is None or len(full.encode("utf-8")) <= limit_bytes:
        return full
    reserve = len(("\n" + TRUNCATED + ("\n" + tail if tail else "")).encode("utf-8"))
    kept: list[str] = []
    used = 0
    for line in lines:
        size = len(line.encode("utf-8")) + (1 if kept else 0)
        if used + size + reserve > limit_bytes:
            break
        kept.append(line)
        used += size
    if not kept and lines:  # one very long first line: cut inside it, at a character boundary
        room = max(0, limit_bytes - reserve)
        kept = [lines[0].encode("utf-8")[:room].decode("utf-8", errors="ignore")]
    return "\n".join([*kept, TRUNCATED, *([tail] if tail else [])])


class DeliveryError(UserFacingError):
    """A channel could not deliver; `code`/`vendor_message` keep what the vendor answered."""

    def __init__(self, message: str, *, hint: str = "", code: Any = None, vendor_message: str = "",
                 attempts: int = 1) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.vendor_message = vendor_message
        self.attempts = attempts


class Channel(Protocol):
    """A delivery channel: `send` returns a short Chinese note or raises DeliveryError."""

    kind: str
    label: str

    def send(self, message: Message, channel: ChannelDef, secret: SecretLookup) -> str: ...


_REGISTRY: dict[str, Channel] = {}


def register(channel: Channel) -> Channel:
    _REGISTRY[channel.kind] = channel
    return channel


def channel_for(kind: str) -> Channel:
    """The registered channel (the built-ins register when citybi.alerts.channels is imported)."""
    found = _REGISTRY.get(kind)
    if found is None:
        raise UserFacingError(f"不支持的推送渠道类型「{kind}」，可选：" + "、".join(sorted(_REGISTRY)))
    return found


def kinds() -> list[str]:
    return sorted(_REGISTRY)


# ---------------------------------------------------------------------------- HTTP
@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    attempts: int


class _Transient(Exception):
    def __init__(self, text: str, code: Any = None, vendor_message: str = "") -> None:
        super().__init__(text)
        self.code = code
        self.vendor_message = vendor_message


Judge = Callable[[int, dict[str, Any]], tuple[str, Any, str]]  # → ("ok"|"retry"|"fail", code, message)


def post_json(url: str, payload: dict[str, Any], *, label: str, name: str, judge: Judge, timeout_s: float,
              retries: int, secrets: tuple[Secret | str | None, ...] = (), hints: dict[Any, str] | None = None,
              backoff_s: float = 0.5) -> Reply:
    """POST `payload` as UTF-8 JSON; retry what may pass, raise DeliveryError with the vendor's words."""
    import httpx
    from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    attempts = 0

    def once() -> Reply:
        nonlocal attempts
        attempts += 1
        try:
            resp = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
        except httpx.TimeoutException as err:
            raise _Transient("timeout") from err
        except httpx.TransportError as err:
            raise _Transient(type(err).__name__) from err
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {"value": data}
        verdict, code, text = judge(resp.status_code, data)
        if verdict == "retry":
            raise _Transient(f"HTTP {resp.status_code}", code, text)
        if verdict == "fail":
            shown = redact(text, *secrets)
            raise DeliveryError(f"{label}「{name}」拒绝了消息（错误码 {code}：{shown}）。",
                                hint=(hints or {}).get(code, "请检查渠道设置"), code=code, vendor_message=shown,
                                attempts=attempts)
        return Reply(resp.status_code, data, attempts)

    try:
        for attempt in Retrying(stop=stop_after_attempt(retries + 1), reraise=False,
                                wait=wait_exponential(multiplier=backoff_s, max=8),
                                retry=retry_if_exception_type(_Transient)):
            with attempt:
                return once()
    except RetryError as err:
        last = err.last_attempt.exception()
        tries = f"共尝试 {attempts} 次"
        if isinstance(last, _Transient) and last.code is not None:
            shown = redact(last.vendor_message, *secrets)
            raise DeliveryError(f"{label}「{name}」暂时无法接收消息（错误码 {last.code}：{shown}），{tries}。",
                                hint="稍后会再次发送", code=last.code, vendor_message=shown,
                                attempts=attempts) from None
        if str(last) == "timeout":
            raise DeliveryError(f"{label}「{name}」在 {timeout_s:g} 秒内没有响应，{tries}。",
                                hint="请检查网络或机器人地址；稍后会再次发送", code="timeout",
                                attempts=attempts) from None
        raise DeliveryError(f"无法连接{label}「{name}」（{redact(str(last), *secrets)}），{tries}。",
                            hint="请检查机器人地址和网络；稍后会再次发送", code="connect", attempts=attempts) from None
    raise AssertionError("unreachable")  # Retrying either returns or raises


def http_judge(status: int) -> tuple[str, Any, str] | None:
    """What the HTTP status alone decides: retry 429/5xx, fail other 4xx; None = look at the body."""
    if status == 429 or status >= 500:
        return "retry", status, f"HTTP {status}"
    if status >= 400:
        return "fail", status, f"HTTP {status}"
    return None
