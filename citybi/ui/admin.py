"""What the admin pages (用户管理, 审计日志, 系统状态) show, as frames: the pages stay thin.

Also keeps the latest errors the app logged (a small in-memory buffer on the root logger), so
系统状态 can list them with the error id the user was shown (citybi.ui.state.show_error).
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from pathlib import Path
from typing import Any

import polars as pl

from citybi import audit
from citybi.accounts import Accounts, User
from citybi.catalog import Catalog
from citybi.warehouse import Warehouse

ROLE_CHOICES = {"admin": "管理员", "analyst": "分析员", "clerk": "科员", "leader": "领导"}
SAMPLE_DISTRICTS = ["临江区", "云湖区", "松岭区", "北港区"]


class RecentErrors(logging.Handler):
    """The last `size` ERROR records of this process: time, where, the first line of the message."""

    def __init__(self, size: int = 50) -> None:
        super().__init__(level=logging.ERROR)
        self.items: collections.deque[tuple[dt.datetime, str, str]] = collections.deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            first = record.getMessage().splitlines()[0] if record.getMessage() else ""
        except Exception:  # a bad format string must not break logging
            first = str(record.msg)
        self.items.append((dt.datetime.fromtimestamp(record.created), record.name, first[:300]))


_errors: RecentErrors | None = None
_errors_lock = threading.Lock()


def error_buffer() -> RecentErrors:
    """The process's buffer, attached to the root logger the first time it is asked for."""
    global _errors
    with _errors_lock:
        if _errors is None:
            _errors = RecentErrors()
            logging.getLogger().addHandler(_errors)
        return _errors


def users_frame(users: list[User]) -> pl.DataFrame:
    def when(t: dt.datetime | None) -> str:
        return t.strftime("%Y-%m-%d %H:%M") if t else "从未"

    return pl.DataFrame({
        "用户": [u.name for u in users],
        "角色": [u.role_label for u in users],
        "部门": [u.department or "" for u in users],
        "区": ["、".join(u.districts) if u.districts else "全部" for u in users],
        "街道": ["、".join(u.streets) if u.streets else "全部" for u in users],
        "状态": ["已停用" if u.disabled else ("已锁定" if u.locked_until and u.locked_until > dt.datetime.now()
                                            else "正常") for u in users],
        "上次登录": [when(u.last_login) for u in users],
    }, schema={k: pl.String for k in ("用户", "角色", "部门", "区", "街道", "状态", "上次登录")})


def audit_frame(entries: list[audit.Entry]) -> pl.DataFrame:
    return pl.DataFrame({
        "序号": [e.seq for e in entries],
        "时间": [e.at.strftime("%Y-%m-%d %H:%M:%S") for e in entries],
        "用户": [e.user for e in entries],
        "角色": [e.role for e in entries],
        "来源地址": [e.address for e in entries],
        "操作": [e.action_label for e in entries],
        "对象": [e.target for e in entries],
        "详情": [e.detail for e in entries],
    }, schema={"序号": pl.Int64, **{k: pl.String for k in ("时间", "用户", "角色", "来源地址", "操作", "对象",
                                                            "详情")}})


def audit_rows(wh: Warehouse, *, user: str, action_label: str, start: dt.date | None, end: dt.date | None,
               limit: int = 5000) -> pl.DataFrame:
    """The 审计日志 page's table for its filters (action by its Chinese label, dates inclusive)."""
    action = next((k for k, v in audit.ACTION_LABELS.items() if v == action_label), None)
    since = dt.datetime.combine(start, dt.time()) if start else None
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time()) if end else None
    return audit_frame(audit.entries(wh, user=user.strip() or None, action=action, since=since, until=until,
                                     limit=limit))


def status(wh: Warehouse) -> dict[str, Any]:
    """系统状态: file size, datasets, accounts, who was active in the last 30 minutes, latest errors."""
    path = Path(wh.path)
    size = path.stat().st_size if path.exists() else 0
    wal = path.with_name(path.name + ".wal")
    size += wal.stat().st_size if wal.exists() else 0
    acc = Accounts(wh)
    online = acc.recent_sessions()
    return {
        "size_mb": size / 1024 / 1024,
        "datasets": len(Catalog(wh).names()),
        "users": len(acc.list()),
        "online": pl.DataFrame({"用户": [o[0] for o in online],
                                "最近活动": [o[1].strftime("%Y-%m-%d %H:%M") for o in online],
                                "来源地址": [o[2] for o in online]},
                               schema={"用户": pl.String, "最近活动": pl.String, "来源地址": pl.String}),
        "errors": pl.DataFrame({"时间": [e[0].strftime("%Y-%m-%d %H:%M:%S") for e in reversed(error_buffer().items)],
                                "位置": [e[1] for e in reversed(error_buffer().items)],
                                "内容": [e[2] for e in reversed(error_buffer().items)]},
                               schema={"时间": pl.String, "位置": pl.String, "内容": pl.String}),
        "audit": audit.verify(wh),
    }
