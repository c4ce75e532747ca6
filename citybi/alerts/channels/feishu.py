"""飞书 custom bot: a rich-text (post) message, signed when the bot uses 签名校验.

Vendor format (飞书开放平台「自定义机器人使用指南」,
https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot, formerly
https://open.feishu.cn/document/ukTMukTMukTM/ucTM5YjL3ETO24yNxkjN): POST the webhook
(…/open-apis/bot/v2/hook/…) with `{"msg_type": "post", "content": {"post": {"zh_cn": {"title": …,
"content": [[{"tag": "text", "text": …}], [{"tag": "a", "text": …, "href": …}]]}}}}`. With 签名校验
the body also carries `timestamp` (seconds, within an hour) and `sign` = base64(HmacSHA256(key =
timestamp + "\\n" + secret, message = empty)) — note the key/message order differs from 钉钉. The
request body may be at most 20 KB. The answer is `{"code": 0, "msg": "success"}`; 19021 (sign match
fail or timestamp is not within one hour), 19024 (Key Words Not Found), 19022 (Ip Not Allowed) and
9499 (Bad Request) are shown, not retried; 11232 (frequency limited) is retried with back-off.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from citybi.alerts.channels.base import Message, SecretLookup, cut, http_judge, post_json
from citybi.alerts.rules import ChannelDef

MAX_BODY_BYTES = 20 * 1024
RETRY_CODES = {11232}
HINTS = {
    19021: "签名校验没有通过：签名密钥（sign_secret）不对，或服务器时间偏差超过 1 小时",
    19024: "消息不含飞书机器人设置的自定义关键词",
    19022: "本机 IP 不在飞书机器人的白名单中",
    9499: "飞书认为请求格式有误（消息体不超过 20 KB）",
}


def sign(secret: str, timestamp_s: int) -> str:
    """飞书's 签名校验: base64(HmacSHA256(key=f"{timestamp}\\n{secret}", message=b""))."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def judge(status: int, body: dict[str, Any]) -> tuple[str, Any, str]:
    by_status = http_judge(status)
    if by_status is not None and not (400 <= status < 500 and "code" in body):
        return by_status
    code = body.get("code", body.get("StatusCode"))
    if code == 0:
        return "ok", 0, "success"
    return ("retry" if code in RETRY_CODES else "fail"), code, str(body.get("msg", body.get("StatusMessage", "")))


def payload(message: Message, *, secret: str | None = None, timestamp_s: int | None = None) -> dict[str, Any]:
    def build(lines: list[str]) -> dict[str, Any]:
        content: list[list[dict[str, str]]] = [[{"tag": "text", "text": line}] for line in lines]
        if message.link:
            content.append([{"tag": "a", "text": "打开看板查看详情", "href": message.link}])
        body: dict[str, Any] = {"msg_type": "post",
                                "content": {"post": {"zh_cn": {"title": message.title, "content": content}}}}
        if secret is not None and timestamp_s is not None:
            body = {"timestamp": str(timestamp_s), "sign": sign(secret, timestamp_s), **body}
        return body

    lines = list(message.lines)
    body = build(lines)
    size = len(json.dumps(body, ensure_ascii=False).encode("utf-8"))
    if size > MAX_BODY_BYTES:  # cut the lines so the whole body fits 20 KB (the link stays)
        room = MAX_BODY_BYTES - (size - len("\n".join(lines).encode("utf-8"))) - 200
        body = build(cut(lines, "", max(room, 200)).split("\n"))
    return body


class Feishu:
    kind = "feishu"
    label = "飞书机器人"

    def send(self, message: Message, channel: ChannelDef, secret: SecretLookup) -> str:
        url = secret(str(channel.url_secret))
        key = secret(channel.sign_secret) if channel.sign_secret else None
        body = payload(message, secret=key.reveal() if key else None, timestamp_s=int(time.time()))
        reply = post_json(url.reveal(), body, label=self.label, name=channel.name, judge=judge,
                          timeout_s=channel.timeout_s, retries=channel.retries, secrets=(url, key), hints=HINTS)
        return f"已发送（{reply.attempts} 次尝试）"

