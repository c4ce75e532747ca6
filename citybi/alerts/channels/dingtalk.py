"""钉钉 custom robot: a markdown message, signed when the robot uses 加签.

Vendor format (钉钉开放平台「自定义机器人发送群消息」and「自定义机器人安全设置」,
https://open.dingtalk.com/document/orgapp/custom-robot-access,
https://open.dingtalk.com/document/robots/customize-robot-security-settings): POST the webhook
(…/robot/send?access_token=…) with `{"msgtype": "markdown", "markdown": {"title": …, "text": …}}`.
With 加签 the URL also carries `timestamp` (milliseconds, within an hour of 钉钉's clock) and
`sign` = urlEncode(base64(HmacSHA256(key = secret, message = timestamp + "\\n" + secret))), UTF-8.
The answer is `{"errcode": 0, "errmsg": "ok"}`; errcode 310000 means the security check failed
("keywords not in content", "sign not match", "invalid timestamp", "ip … not in whitelist") and
is shown as such, not retried. 20 messages a minute per robot; 钉钉 documents no markdown length
for custom robots, so texts are cut at MAX_BYTES with the link back kept.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote_plus

from citybi.alerts.channels.base import Message, SecretLookup, http_judge, post_json
from citybi.alerts.rules import ChannelDef

MAX_BYTES = 18_000
HINTS = {
    310000: "钉钉安全设置没有通过：加签密钥（sign_secret）不对、服务器时间偏差超过 1 小时、消息不含自定义关键词，"
            "或本机 IP 不在白名单中",
    300001: "机器人地址（access_token）无效：请重新复制 webhook 地址并保存",
}


def sign(secret: str, timestamp_ms: int) -> str:
    """钉钉's 加签: urlEncode(base64(HmacSHA256(secret, f"{timestamp}\\n{secret}")))."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"


def judge(status: int, body: dict[str, Any]) -> tuple[str, Any, str]:
    by_status = http_judge(status)
    if by_status is not None:
        return by_status
    code = body.get("errcode")
    if code == 0:
        return "ok", 0, "ok"
    return "fail", code, str(body.get("errmsg", ""))


def payload(message: Message) -> dict[str, Any]:
    return {"msgtype": "markdown",
            "markdown": {"title": message.title[:100], "text": message.markdown(limit_bytes=MAX_BYTES)}}


class DingTalk:
    kind = "dingtalk"
    label = "钉钉机器人"

    def send(self, message: Message, channel: ChannelDef, secret: SecretLookup) -> str:
        url = secret(str(channel.url_secret))
        key = secret(channel.sign_secret) if channel.sign_secret else None
        target = url.reveal() if key is None else signed_url(url.reveal(), key.reveal(), int(time.time() * 1000))
        reply = post_json(target, payload(message), label=self.label, name=channel.name, judge=judge,
                          timeout_s=channel.timeout_s, retries=channel.retries, secrets=(url, key, target),
                          hints=HINTS)
        return f"已发送（{reply.attempts} 次尝试）"

