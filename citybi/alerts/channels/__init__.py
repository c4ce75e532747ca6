"""The delivery channels, one module each. Importing this package registers the built-ins through
`base.register`, exactly as an outside channel would register itself."""
from __future__ import annotations

from citybi.alerts.channels.base import Channel, DeliveryError, Message, channel_for, kinds, register
from citybi.alerts.channels.dingtalk import DingTalk
from citybi.alerts.channels.email import Email
from citybi.alerts.channels.feishu import Feishu
from citybi.alerts.channels.webhook import Webhook
from citybi.alerts.channels.wecom import WeCom

for _channel in (WeCom(), DingTalk(), Feishu(), Email(), Webhook()):
    register(_channel)

__all__ = ["Channel", "DeliveryError", "Message", "channel_for", "kinds", "register"]
