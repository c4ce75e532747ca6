"""企业微信 group robot: a markdown message to the webhook the group's owner copied.

Vendor format (企业微信 开发者中心「群机器人配置说明」,
https://developer.work.weixin.qq.com/document/path/91770, also
https://work.weixin.qq.com/api/doc/90000/90136/91770):
POST the webhook URL (…/cgi-bin/webhook/send?key=…) with
`{"msgtype": "markdown", "markdown": {"content": "…"}}`; content at most 4096 bytes of UTF-8
(a longer one is refused with errcode 40058 "markdown.content exceed max length 4096"); the
answer is `{"errcode": 0, "errmsg": "ok"}`. At most 20 messages a minute per robot (errcode
45009 "api freq out of limit": retried with back-off). No signature: the key in the URL is the
credential, so the URL is a secret.
"""
from __future__ import annotations

from typing import Any

from citybi.alerts.channels.base import Message, SecretLookup, http_judge, post_json
from citybi.alerts.rules import ChannelDef

MAX_BYTES = 4096
RETRY_CODES = {45009}  # api freq out of limit
HINTS = {
    40058: "消息过长（企业微信 markdown 最多 4096 字节）",
    93000: "机器人地址无效或机器人已被移出群聊：请重新复制 webhook 地址并用 citybi secrets set 保存",
    45009: "发送太频繁（每个机器人每分钟最多 20 条），稍后会再次发送",
}


def judge(status: int, body: dict[str, Any]) -> tuple[str, Any, str]:
    by_status = http_judge(status)
    if by_status is not None:
        return by_status
    code = body.get("errcode")
    if code == 0:
        return "ok", 0, "ok"
    return ("retry" if code in RETRY_CODES else "fail"), code, str(body.get("errmsg", ""))


def payload(message: Message) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": message.markdown(limit_bytes=MAX_BYTES)}}


class WeCom:
    kind = "wecom"
    label = "企业微信群机器人"

    def send(self, message: Message, channel: ChannelDef, secret: SecretLookup) -> str:
        url = secret(str(channel.url_secret))
        reply = post_json(url.reveal(), payload(message), label=self.label, name=channel.name, judge=judge,
                          timeout_s=channel.timeout_s, retries=channel.retries, secrets=(url,), hints=HINTS)
        return f"已发送（{reply.attempts} 次尝试）"

