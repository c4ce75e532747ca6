"""A generic JSON webhook: for a department's own duty system, a 政务 message bus or a ticket queue.

Format (ours, documented here because the receiver is written against it): POST
`{"source": "citybi", "level": "fired|repeat|cleared|test|briefing", "title": …, "text": …,
"lines": […], "link": …, "facts": {rule, group, value, …}, "rows": [{column: value}, …]}` as UTF-8
JSON. Any 2xx is success; 429 and 5xx are retried with back-off; other answers are shown with
their HTTP status and, when the body is JSON with `message`/`msg`/`errmsg`, that text.
"""
from __future__ import annotations

from typing import Any

from citybi.alerts.channels.base import Message, SecretLookup, post_json
from citybi.alerts.rules import ChannelDef
from citybi.jsonable import json_safe

MAX_ROWS = 200


def judge(status: int, body: dict[str, Any]) -> tuple[str, Any, str]:
    if 200 <= status < 300:
        return "ok", status, "ok"
    text = str(body.get("message") or body.get("msg") or body.get("errmsg") or f"HTTP {status}")
    return ("retry" if status == 429 or status >= 500 else "fail"), status, text


def payload(message: Message) -> dict[str, Any]:
    rows = message.rows.head(MAX_ROWS).to_dicts() if message.rows is not None else []
    return json_safe({"source": "citybi", "level": message.level, "title": message.title,
                      "text": message.plain(), "lines": list(message.lines), "link": message.link,
                      "facts": message.extra, "rows": rows})


class Webhook:
    kind = "webhook"
    label = "Webhook"

    def send(self, message: Message, channel: ChannelDef, secret: SecretLookup) -> str:
        url = secret(str(channel.url_secret))
        reply = post_json(url.reveal(), payload(message), label=self.label, name=channel.name, judge=judge,
                          timeout_s=channel.timeout_s, retries=channel.retries, secrets=(url,))
        return f"已发送（{reply.attempts} 次尝试）"

