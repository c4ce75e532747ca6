"""E-mail over SMTP: an HTML body, the rows behind the alert as Excel, and a PNG when there is one.

Why plain SMTP (stdlib smtplib + email.message): every 政务 intranet has a mail relay, often
the only way out to a leader's phone; no vendor API is involved. Format: a MIME multipart
message (RFC 5322 / RFC 2045, built by email.message.EmailMessage — https://docs.python.org/3/
library/email.examples.html): a plain-text part and an HTML alternative, then attachments
(`<名称>.xlsx` from citybi.export's safe writer: text that looks like a formula stays text;
`<名称>.png`). Connection: plain, STARTTLS or SSL (`security`), login when `user` is set with the
password from a secret. Temporary failures (no answer, dropped connection, SMTP 4xx) are retried
with back-off; a permanent refusal (5xx: bad address, relay denied) is shown with the server's
code and text at once.
"""
from __future__ import annotations

import html
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from citybi.alerts.channels.base import DeliveryError, Message, SecretLookup
from citybi.alerts.rules import ChannelDef
from citybi.secrets import redact
from citybi.usertext import file_stem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def html_body(message: Message) -> str:
    esc = html.escape
    items = "".join(f"<li>{esc(x)}</li>" for x in message.lines)
    link = f'<p><a href="{esc(message.link, quote=True)}">打开看板查看详情</a></p>' if message.link else ""
    colour = {"fired": "#c62828", "repeat": "#e65100", "cleared": "#2e7d32"}.get(message.level, "#1f4e79")
    table = ""
    if message.rows is not None and message.rows.height:
        head = "".join(f"<th>{esc(str(c))}</th>" for c in message.rows.columns)
        body = "".join("<tr>" + "".join(f"<td>{esc('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                       for row in message.rows.head(50).iter_rows())
        table = f'<table border="1" cellspacing="0" cellpadding="4"><tr>{head}</tr>{body}</table>'
    return (f'<html><body><h3 style="color:{colour}">{esc(message.title)}</h3><ul>{items}</ul>{table}{link}'
            f"<p style=\"color:#757575\">城市自助分析（CityBI）自动发送</p></body></html>")


def build(message: Message, channel: ChannelDef) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = message.title
    msg["From"] = str(channel.sender)
    msg["To"] = ", ".join(channel.to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="citybi.local")
    msg.set_content(message.plain())
    msg.add_alternative(html_body(message), subtype="html")
    stem = file_stem(message.attachment_name, "预警数据")
    if message.excel is not None:
        main, sub = XLSX.split("/")
        msg.add_attachment(message.excel, maintype=main, subtype=sub, filename=f"{stem}.xlsx")
    if message.png is not None:
        msg.add_attachment(message.png, maintype="image", subtype="png", filename=f"{stem}.png")
    return msg


class _Transient(Exception):
    pass


class Email:
    kind = "email"
    label = "电子邮件"

    def send(self, message: Message, channel: ChannelDef, secret: SecretLookup) -> str:
        from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        password = secret(channel.password_secret) if channel.password_secret else None
        mail = build(message, channel)
        attempts = 0

        def once() -> None:
            nonlocal attempts
            attempts += 1
            host, port, timeout = str(channel.smtp_host), channel.smtp_port, channel.timeout_s
            try:
                smtp_cls = smtplib.SMTP_SSL if channel.security == "ssl" else smtplib.SMTP
                with smtp_cls(host, port, timeout=timeout) as smtp:
                    if channel.security == "starttls":
                        smtp.starttls()
                    if channel.user:
                        smtp.login(channel.user, password.reveal() if password else "")
                    refused = smtp.send_message(mail)
                if refused:
                    raise DeliveryError(f"邮件服务器拒收了部分收件人：{'、'.join(refused)}。",
                                        hint="请检查收件人地址", code="refused")
            except smtplib.SMTPResponseException as err:
                text = redact(err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes)
                              else str(err.smtp_error), password)
                if 400 <= err.smtp_code < 500:
                    raise _Transient(f"{err.smtp_code} {text}") from err
                raise DeliveryError(f"邮件服务器 {host} 拒绝了邮件（{err.smtp_code}：{text}）。",
                                    hint="请检查发件人、收件人、用户名和密码", code=err.smtp_code,
                                    vendor_message=text, attempts=attempts) from None
            except smtplib.SMTPRecipientsRefused as err:
                raise DeliveryError(f"邮件服务器拒收了全部收件人：{'、'.join(err.recipients)}。",
                                    hint="请检查收件人地址", code="refused", attempts=attempts) from None
            except OSError as err:  # smtplib's errors are OSErrors too: no answer, dropped, refused connection
                raise _Transient(type(err).__name__) from err

        try:
            for attempt in Retrying(stop=stop_after_attempt(channel.retries + 1), reraise=False,
                                    wait=wait_exponential(multiplier=0.5, max=8),
                                    retry=retry_if_exception_type(_Transient)):
                with attempt:
                    once()
        except RetryError as err:
            last = err.last_attempt.exception()
            raise DeliveryError(f"无法通过邮件服务器 {channel.smtp_host}:{channel.smtp_port} 发送（{last}），"
                                f"共尝试 {attempts} 次。", hint="请检查邮件服务器地址和网络；稍后会再次发送",
                                code="connect", attempts=attempts) from None
        return f"已发送给 {len(channel.to)} 位收件人（{attempts} 次尝试）"

