"""Delivery channels against stand-ins of the vendors on 127.0.0.1 (tests/alert_servers.py).

Each fake checks the body the way the vendor documents it — markdown shape, size limits, the
钉钉 and 飞书 signatures and their timestamps — and answers like the vendor, errors and slow
answers included. E-mail goes to a real SMTP server (aiosmtpd) and the test opens the attachment.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from alert_servers import VendorServer, smtp_server, vendor_server

from citybi.alerts.channels import DeliveryError, Message, channel_for
from citybi.alerts.channels.base import TRUNCATED
from citybi.alerts.rules import AlertRuleError, ChannelDef, channel_from_dict
from citybi.alerts.service import rows_excel
from citybi.secrets import SecretStore

ROWS = pl.DataFrame({"区": ["临江区", "北港区", "=HYPERLINK(\"x\")"], "工单数": [312, 120, 5]})
MESSAGE = Message(title="【预警】热线工单激增·临江区", lines=("「临江区」2025-07-01 为 312件，高于近 14 期正常范围",
                                                     "监控：近7天工单数"),
                  link="http://citybi.intranet:8501/boards?board=12345%E7%83%AD%E7%BA%BF&view=leader",
                  rows=ROWS, excel=rows_excel(ROWS, "热线工单激增"), attachment_name="热线工单激增")


@pytest.fixture()
def server() -> Iterator[VendorServer]:
    with vendor_server() as s:
        yield s


@pytest.fixture()
def secrets(tmp_path: Path) -> SecretStore:
    return SecretStore(tmp_path / "w.duckdb", environ={})


def _channel(secrets: SecretStore, server: VendorServer, kind: str, *, rid: str = "r1", sign: str | None = None,
             server_secret: str | None = None, **extra: Any) -> ChannelDef:
    url = server.add(kind, rid, secret=server_secret)
    secrets.set(f"{rid}-url", url)
    data: dict[str, Any] = {"name": f"{kind}群", "kind": kind, "url_secret": f"{rid}-url", "timeout_s": 2,
                            "retries": 2, **extra}
    if sign is not None:
        secrets.set(f"{rid}-sign", sign)
        data["sign_secret"] = f"{rid}-sign"
    return channel_from_dict(data)


# ---------------------------------------------------------------------------- each vendor's format
@pytest.mark.parametrize(("kind", "sign", "look"), [
    ("wecom", None, lambda b: b["msgtype"] == "markdown" and "312件" in b["markdown"]["content"]
     and "[打开看板查看详情](http://citybi.intranet" in b["markdown"]["content"]),
    ("dingtalk", "SECabc123", lambda b: b["msgtype"] == "markdown" and b["markdown"]["title"].startswith("【预警】")
     and "312件" in b["markdown"]["text"]),
    ("dingtalk", None, lambda b: b["msgtype"] == "markdown"),
    ("feishu", "fs-secret-1", lambda b: b["msg_type"] == "post" and "sign" in b and "timestamp" in b
     and b["content"]["post"]["zh_cn"]["content"][-1][0] == {"tag": "a", "text": "打开看板查看详情",
                                                              "href": MESSAGE.link}),
    ("feishu", None, lambda b: b["msg_type"] == "post" and "sign" not in b),
    ("webhook", None, lambda b: b["source"] == "citybi" and b["level"] == "fired" and b["rows"][0]["工单数"] == 312),
])
def test_each_channel_posts_the_vendors_format_and_signature(server: VendorServer, secrets: SecretStore, kind: str,
                                                             sign: str | None, look: Any) -> None:
    channel = _channel(secrets, server, kind, sign=sign, server_secret=sign)
    note = channel_for(kind).send(MESSAGE, channel, secrets.get)
    assert "已发送" in note
    (posted,) = server.posts("r1")
    assert posted.answer in ({"errcode": 0, "errmsg": "ok"}, {"code": 0, "msg": "success", "data": {}}, {"ok": True})
    assert look(posted.body)
    if kind == "dingtalk" and sign:
        assert set(posted.query) == {"access_token", "timestamp", "sign"}


@pytest.mark.parametrize(("kind", "client_sign", "server_sign", "code", "words"), [
    ("dingtalk", "SECwrong", "SECright", 310000, "sign not match"),
    ("dingtalk", None, "SECright", 310000, "invalid timestamp"),
    ("feishu", "wrong", "right", 19021, "sign match fail"),
])
def test_a_wrong_signature_is_shown_with_the_vendors_code_and_not_retried(
        server: VendorServer, secrets: SecretStore, kind: str, client_sign: str | None, server_sign: str, code: int,
        words: str) -> None:
    channel = _channel(secrets, server, kind, sign=client_sign, server_secret=server_sign)
    with pytest.raises(DeliveryError) as caught:
        channel_for(kind).send(MESSAGE, channel, secrets.get)
    err = caught.value
    assert (err.code, err.attempts, len(server.posts("r1"))) == (code, 1, 1)
    assert words in str(err) and str(code) in str(err) and channel.name in str(err)
    assert "r1" not in str(err) and "127.0.0.1" not in str(err)  # the robot's address (its key) never shows
    assert err.hint  # says what to check


@pytest.mark.parametrize(("kind", "script", "attempts", "ok"), [
    # 企业微信 "api freq out of limit" twice, then accepted: retried with back-off
    ("wecom", [(200, {"errcode": 45009, "errmsg": "api freq out of limit"}, 0.0)] * 2, 3, True),
    # a generic webhook answering 503 once
    ("webhook", [(503, {"message": "busy"}, 0.0)], 2, True),
    # 飞书 frequency limited, then accepted
    ("feishu", [(200, {"code": 11232, "msg": "frequency limited"}, 0.0)], 2, True),
    # a server slower than the time-out every time: given up after 1 + retries attempts
    ("webhook", [(200, None, 1.5)] * 3, 3, False),
    # 企业微信 rate limit that does not end
    ("wecom", [(200, {"errcode": 45009, "errmsg": "api freq out of limit"}, 0.0)] * 3, 3, False),
])
def test_what_may_pass_is_retried_with_back_off(server: VendorServer, secrets: SecretStore, kind: str,
                                                script: list[Any], attempts: int, ok: bool) -> None:
    channel = _channel(secrets, server, kind, timeout_s=0.5, retries=2)
    server.robots["r1"].script = list(script)
    if ok:
        assert f"{attempts} 次尝试" in channel_for(kind).send(MESSAGE, channel, secrets.get)
    else:
        with pytest.raises(DeliveryError) as caught:
            channel_for(kind).send(MESSAGE, channel, secrets.get)
        assert caught.value.attempts == attempts
        assert f"共尝试 {attempts} 次" in str(caught.value)
        if script[0][2]:
            assert caught.value.code == "timeout" and "0.5 秒内没有响应" in str(caught.value)
        else:
            assert "45009" in str(caught.value) and "api freq out of limit" in str(caught.value)


def test_a_message_too_long_for_wecom_is_cut_at_a_line_and_keeps_the_link(server: VendorServer,
                                                                         secrets: SecretStore) -> None:
    lines = tuple(f"「第{i}街道」工单数 {i * 7} 件，超过阈值" for i in range(400))
    long = Message(title="【预警】各街道工单", lines=lines,
                   link="http://citybi.intranet:8501/boards?board=x&view=leader")
    channel = _channel(secrets, server, "wecom")
    channel_for("wecom").send(long, channel, secrets.get)
    content = server.posts("r1")[0].body["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert content.endswith("[打开看板查看详情](http://citybi.intranet:8501/boards?board=x&view=leader)")
    assert TRUNCATED in content and "「第0街道」" in content and "「第399街道」" not in content


def test_a_feishu_body_stays_under_20_kb(server: VendorServer, secrets: SecretStore) -> None:
    long = Message(title="【预警】各街道", lines=tuple("街道" * 40 + str(i) for i in range(400)), link="http://x/b")
    channel = _channel(secrets, server, "feishu", sign="s", server_secret="s")
    channel_for("feishu").send(long, channel, secrets.get)
    posted = server.posts("r1")[0]
    assert posted.status == 200 and len(posted.raw) <= 20 * 1024


@pytest.mark.parametrize(("data", "words"), [
    ({"name": "群", "kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"},
     "不能直接写地址"),
    ({"name": "群", "kind": "dingtalk"}, "需要 url_secret"),
    ({"name": "群", "kind": "wecom", "url_secret": "https://x/y"}, "只写密钥的名称"),
    ({"name": "群", "kind": "wecom", "url_secret": "a", "sign_secret": "b"}, "没有签名设置"),
    ({"name": "信", "kind": "email", "smtp_host": "mail"}, "发件人"),
    ({"name": "信", "kind": "email", "smtp_host": "mail", "sender": "a@b", "to": ["不是地址"]}, "收件人地址无效"),
    ({"name": "群", "kind": "slack", "url_secret": "a"}, "slack"),
])
def test_channel_definitions_refuse_addresses_and_secrets_in_yaml(data: dict[str, Any], words: str) -> None:
    with pytest.raises(AlertRuleError) as caught:
        channel_from_dict(data)
    assert words in str(caught.value)


# ---------------------------------------------------------------------------- e-mail
def test_email_arrives_with_html_and_the_rows_as_excel(secrets: SecretStore) -> None:
    with smtp_server() as (box, port):
        channel = channel_from_dict({"name": "领导邮箱", "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": port,
                                     "sender": "citybi@city.gov.cn", "to": ["leader@city.gov.cn", "duty@city.gov.cn"]})
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
        message = Message(**{**MESSAGE.__dict__, "png": png})
        note = channel_for("email").send(message, channel, secrets.get)
        assert "2 位收件人" in note
        (mail,) = box.messages
        assert box.envelopes == [("citybi@city.gov.cn", ["leader@city.gov.cn", "duty@city.gov.cn"])]
        assert mail["Subject"] == MESSAGE.title
        html = mail.get_body(preferencelist=("html",)).get_content()
        assert "312件" in html and MESSAGE.link.replace("&", "&amp;") in html and "<table" in html
        files = {p.get_filename(): p for p in mail.iter_attachments()}
        assert set(files) == {"热线工单激增.xlsx", "热线工单激增.png"}
        assert files["热线工单激增.png"].get_content() == png
        wb = openpyxl.load_workbook(io.BytesIO(files["热线工单激增.xlsx"].get_content()))
        rows = [[c.value for c in r] for r in wb.active.iter_rows()]
        assert rows == [["区", "工单数"], ["临江区", 312], ["北港区", 120], ["=HYPERLINK(\"x\")", 5]]
        # text that looks like a formula stays text (the export's rule)
        assert wb.active.cell(4, 1).data_type == "s"


def test_email_to_a_server_that_is_not_there_is_retried_then_shown(secrets: SecretStore) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    channel = channel_from_dict({"name": "邮箱", "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": port,
                                 "sender": "a@b.cn", "to": ["c@d.cn"], "retries": 1, "timeout_s": 1})
    with pytest.raises(DeliveryError) as caught:
        channel_for("email").send(MESSAGE, channel, secrets.get)
    assert caught.value.attempts == 2 and "共尝试 2 次" in str(caught.value)


def test_the_json_webhook_body_is_plain_json(server: VendorServer, secrets: SecretStore) -> None:
    channel = _channel(secrets, server, "webhook")
    channel_for("webhook").send(Message(**{**MESSAGE.__dict__, "extra": {"rule": "热线", "value": 312.0}}), channel,
                                secrets.get)
    body = json.loads(server.posts("r1")[0].raw.decode("utf-8"))
    assert body["facts"] == {"rule": "热线", "value": 312.0}
    assert body["lines"] == list(MESSAGE.lines) and body["link"] == MESSAGE.link
