"""The delivery channels, one module each; importing this package registers the built-ins
exactly as an outside channel would (`base.register`)."""
from __future__ import annotations

from citybi.alerts.channels import dingtalk, email, feishu, webhook, wecom
from citybi.alerts.channels.base import Channel, DeliveryError, Message, channel_for, kinds, register

__all__ = ["Channel", "DeliveryError", "Message", "channel_for", "dingtalk", "email", "feishu", "kinds", "register",
           "webhook", "wecom"]
