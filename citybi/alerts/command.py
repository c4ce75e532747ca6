"""`citybi alerts list|check|history`: the 预警 page's three views from the command line.

Why its own module: the CLI's parser (citybi/cli.py) only registers these few lines; what they
do is alert business. `check` delivers like a scheduled check (so a cron job on a machine without
the app can run it); `--no-send` only evaluates and records. While the app runs it holds the
warehouse (docs/ARCHITECTURE.md § DuckDB), and its scheduler checks the rules itself: the command
then says so instead of waiting.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from citybi.errors import UserFacingError, WarehouseBusy
from citybi.jsonable import json_safe


def add_parser(sub: Any) -> None:
    al = sub.add_parser("alerts", help="预警：列出规则、立即检查、查看预警记录")
    al.add_argument("action", choices=["list", "check", "history"])
    al.add_argument("name", nargs="?", help="规则名称（check/history 不写则为全部）")
    al.add_argument("--db", help="数据仓库文件（默认 data/citybi.duckdb）")
    al.add_argument("--today", help="按这一天检查（YYYY-MM-DD），默认按数据的最新日期")
    al.add_argument("--no-send", action="store_true", help="check：只检查并记录，不推送")
    al.add_argument("--limit", type=int, default=20, help="history：最多列出多少条")
    al.add_argument("--json", action="store_true")
    al.set_defaults(func=run)


def _out(args: argparse.Namespace, obj: Any, lines: list[str]) -> None:
    if args.json:
        sys.stdout.write(json.dumps(json_safe(obj), ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))


def run(args: argparse.Namespace) -> int:
    from citybi.alerts.service import AlertService
    from citybi.catalog import open_warehouse
    from citybi.config import load_settings

    try:
        wh = open_warehouse(load_settings(args.db))
    except WarehouseBusy:
        raise UserFacingError("应用正在使用数据仓库：预警规则由应用按计划检查。",
                              hint="请在网页的「预警」页查看和检查，或先停止应用") from None
    with wh:
        service = AlertService(wh)
        if args.action == "list":
            return _list(args, service)
        if args.action == "check":
            return _check(args, service)
        return _history(args, service)


def _list(args: argparse.Namespace, service: Any) -> int:
    firing = service.history.firing_groups()
    checks = service.history.checks()
    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    for name in service.rules.names():
        try:
            rule = service.rules.load(name)
        except UserFacingError as err:
            rows.append({"name": name, "problem": str(err)})
            lines.append(f"{name}\t定义有误：{err}")
            continue
        now = [g or "全部" for g in firing.get(name, [])]
        last = checks.get(name)
        rows.append({"name": name, "describe": rule.describe(), "schedule": rule.describe_schedule(),
                     "paused": rule.paused, "channels": rule.channels, "firing": now,
                     "last_check": last.checked_at if last else None, "last_message": last.message if last else ""})
        state = "已暂停" if rule.paused else ("正在预警：" + "、".join(now) if now else "正常")
        lines.append(f"{name}\t{state}\t{rule.describe()}\t{rule.describe_schedule()}\t"
                     f"渠道：{'、'.join(rule.channels) or '（无）'}")
    if not rows:
        lines.append("还没有预警规则。可在「预警」页从看板的指标卡或图表创建。")
    _out(args, {"status": "ok", "rules": rows}, lines)
    return 0


def _check(args: argparse.Namespace, service: Any) -> int:
    today = dt.date.fromisoformat(args.today) if args.today else None
    outcomes = ([service.check(args.name, today=today, deliver=not args.no_send)] if args.name
                else service.check_all(today=today, deliver=not args.no_send))
    lines: list[str] = []
    rows = []
    failed = 0
    for o in outcomes:
        if not o.ok:
            failed += 1
            lines.append(f"{o.rule}\t检查失败：{o.message}")
        else:
            events = "、".join(f"{g or '全部'}{ {'fired': '预警', 'repeat': '持续', 'cleared': '恢复'}[e] }"
                              for g, e in o.events)
            said = ("满足条件：" + "、".join(g or "全部" for g in o.holding)) if o.holding else "正常"
            lines.append(f"{o.rule}\t{said}\t" + (f"新消息：{events}" if events else "没有新消息")
                         + f"\t{o.seconds:.2f} 秒")
            if o.evaluation is not None:
                lines += [f"  {v.reason}" for _r, v in o.evaluation.pairs() if v.holds][:20]
        rows.append({"rule": o.rule, "ok": o.ok, "message": o.message, "holding": o.holding,
                     "events": [{"group": g, "event": e} for g, e in o.events], "firing_ids": o.firing_ids,
                     "seconds": round(o.seconds, 3)})
    for fid in (i for o in outcomes for i in o.firing_ids):
        f = service.history.firing(fid)
        if f is not None and f.deliveries:
            lines.append(f"  #{f.id} {f.title}：{f.status_label}；{f.delivery_text()}")
    if not outcomes:
        lines.append("没有要检查的预警规则。")
    _out(args, {"status": "ok" if not failed else "error", "checks": rows}, lines)
    return 1 if failed else 0


def _history(args: argparse.Namespace, service: Any) -> int:
    firings = service.history.firings(args.name, limit=args.limit)
    lines = [f"#{f.id}\t{f.at:%Y-%m-%d %H:%M:%S}\t{f.event_label}\t{f.rule}\t{f.group or '全部'}\t{f.status_label}\t"
             + f.message.split("\n")[0] + (f"\t{f.delivery_text()}" if f.deliveries else "") for f in firings]
    if not firings:
        lines.append("还没有预警记录。")
    rows = [{"id": f.id, "at": f.at, "rule": f.rule, "group": f.group, "event": f.event, "value": f.value,
             "status": f.status, "message": f.message, "deliveries": f.deliveries, "rows": f.rows.height}
            for f in firings]
    _out(args, {"status": "ok", "firings": rows}, lines)
    return 0
