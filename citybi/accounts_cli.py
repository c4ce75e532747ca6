"""`citybi users …` and `citybi audit …`: accounts and the audit log from the command line.

Why its own module: cli.py only registers these commands (a few lines in build_parser), so the
accounts work and the rest of the CLI do not collide. Run by the operator who owns the
warehouse file: these commands act as SYSTEM (the operator already holds every right the file
gives) and are audited as such. Passwords are read from standard input only (`--password-stdin`),
never from an argument: arguments show up in `ps` and in shell history.

While the app holds the warehouse (DuckDB: one process per file, not even a reader beside it),
every command here becomes an account job in the app's inbox (citybi.inbox.AccountJob) and prints
the app's answer; when the file is free it runs the same job here (inbox.run_account_job), so both
ways answer alike. A password is hashed HERE (argon2id) before either: the job holds only the hash.

    citybi users add NAME --role admin|analyst|clerk|leader (or 管理员|分析员|科员|领导)
                [--department D] [--districts 临江区,云湖区] [--streets …] --password-stdin --db PATH
    citybi users list [--json] --db PATH
    citybi users disable|enable NAME --db PATH
    citybi users reset NAME --password-stdin --db PATH
    citybi users set-role NAME --role ROLE [--department D] [--districts …] [--streets …] --db PATH
    citybi audit verify --db PATH
    citybi audit list [--user U] [--action A] [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--limit N] [--json]
    citybi audit prune [--days 180] --db PATH
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

from citybi.errors import UserFacingError

if TYPE_CHECKING:
    from citybi.context import Context
    from citybi.warehouse import Warehouse

# the commands import what they use when they run: building the parser (every `citybi …` run)
# must not load argon2, DuckDB or the catalog


def _open(db: str | None) -> Warehouse:
    from citybi.catalog import open_warehouse
    from citybi.config import load_settings

    return open_warehouse(load_settings(db))


def _password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise UserFacingError("请用 --password-stdin 从标准输入提供密码（密码不能写在命令参数里）。",
                              hint="例如：echo '…' | citybi users add 张三 --role 科员 --password-stdin --db …")
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise UserFacingError("没有从标准输入读到密码。")
    return password


def _scope_text(values: tuple[str, ...] | None) -> str:
    return "、".join(values) if values else "全部"


def _run(db: str | None, job: Any) -> dict[str, Any]:
    """Do an account/audit command here, or — while the app holds the warehouse — through its inbox."""
    from citybi import inbox
    from citybi.config import load_settings
    from citybi.errors import WarehouseBusy

    try:
        wh = _open(db)
    except WarehouseBusy:
        sys.stderr.write("应用正在使用数据仓库，已把任务交给应用处理，请稍候…\n")
        outcome = inbox.wait(inbox.submit_account(load_settings(db).db_path, job))
        if outcome.get("status") != "ok":
            raise UserFacingError(str(outcome.get("message") or "操作失败。")) from None
        return outcome
    with wh:
        return inbox.run_account_job(wh, job)


def _job(**fields: Any) -> Any:
    """The command as an inbox AccountJob; a value out of bounds is a Chinese message, not a traceback."""
    from pydantic import ValidationError

    from citybi.inbox import AccountJob

    try:
        return AccountJob(**fields)
    except ValidationError as err:
        where = "、".join(sorted({".".join(str(x) for x in e["loc"]) for e in err.errors()}))
        raise UserFacingError(f"参数不正确（{where}：太长或格式不对）。", detail=str(err)[:2000]) from None


def cmd_users(args: argparse.Namespace) -> int:
    from citybi.accounts import check_user_name, hash_password

    action = args.users_command
    fields: dict[str, Any] = {"action": f"users.{action}"}
    if action != "list":
        fields["name"] = check_user_name(args.name)
    if action in ("add", "set-role"):
        fields.update(role=args.role, department=args.department, districts=args.districts, streets=args.streets)
    if action in ("add", "reset"):
        # hashed here: the password never leaves this process, not even into the app's inbox
        fields["password_hash"] = hash_password(_password(args), fields["name"])
    out = _run(args.db, _job(**fields))
    if action == "list":
        users = out["users"]
        if args.json:
            for u in users:
                sys.stdout.write(json.dumps(u, ensure_ascii=False) + "\n")
            return 0
        if not users:
            print("还没有任何账户（应用以本机操作员身份运行，不需要登录）。"
                  "创建第一个管理员：citybi users add 名称 --role admin --password-stdin")
            return 0
        for u in users:
            state = "已停用" if u["disabled"] else "正常"
            seen = u["last_login"][:16].replace("T", " ") if u["last_login"] else "从未"
            print(f"{u['name']}\t{u['role_label']}\t{u['department'] or '-'}\t区 {_scope_text(u['districts'])}\t"
                  f"街道 {_scope_text(u['streets'])}\t{state}\t上次登录 {seen}")
        return 0
    user = out["user"]
    scope = (f"部门 {user['department'] or '未设置'}，区 {_scope_text(user['districts'])}，"
             f"街道 {_scope_text(user['streets'])}")
    if action == "add":
        print(f"已添加用户「{user['name']}」（{user['role_label']}，{scope}）。")
    elif action in ("disable", "enable"):
        print(f"已{'停用' if action == 'disable' else '启用'}用户「{user['name']}」。")
    elif action == "reset":
        print(f"已重置用户「{user['name']}」的密码；该用户下次登录后需要修改密码。")
    else:
        print(f"已把用户「{user['name']}」调整为 {user['role_label']}（{scope}）；该用户需要重新登录。")
    return 0


def _day(text: str | None, what: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
    except ValueError as err:
        raise UserFacingError(f"{what}「{text}」不是有效的日期。", hint="格式为 年-月-日，例如 2026-12-01") from err


def cmd_audit(args: argparse.Namespace) -> int:
    if args.audit_command == "verify":
        v = _run(args.db, _job(action="audit.verify"))["verdict"]
        for note in v["notes"]:
            print(f"注意：{note}")
        if v["ok"]:
            print(f"审计日志完整：检查了 {v['checked']} 条记录，没有发现修改或删除。")
            print(f"最新记录：第 {v['head_seq']} 条，哈希 {v['head_hash']}（可把它另存到别处，作为外部凭证）")
            return 0
        print(f"审计日志被改动过（检查了 {v['checked']} 条记录）：")
        for p in v["problems"]:
            print(f"  {p}")
        return 1
    if args.audit_command == "prune":
        if args.days is not None and args.days < 1:
            raise UserFacingError("--days 至少为 1 天。", hint="等保要求审计记录至少保留 6 个月，默认 180 天")
        out = _run(args.db, _job(action="audit.prune", days=args.days))
        print(f"已清理 {out['removed']} 条超过 {out['days']} 天的审计记录；其余记录仍可校验。")
        return 0
    if args.limit < 1:
        raise UserFacingError("--limit 至少为 1。")
    until = _day(args.until, "--until")
    out = _run(args.db, _job(action="audit.list", user=args.user or None, audit_action=args.action or None,
                                   since=_day(args.since, "--since"),
                                   until=until + dt.timedelta(days=1) if until else None, limit=args.limit))
    for e in out["entries"]:
        if args.json:
            sys.stdout.write(json.dumps({k: e[k] for k in ("seq", "time", "user", "role", "address", "action",
                                                           "target", "detail")}, ensure_ascii=False) + "\n")
        else:
            print(f"{e['seq']}\t{e['time'][:19].replace('T', ' ')}\t{e['user']}\t{e['address'] or '-'}\t"
                  f"{e['action_label']}\t{e['target']}\t{e['detail']}")
    return 0


def context_for(wh: Warehouse, name: str | None) -> Context | None:
    """The context `--as NAME` asks with (None without --as); unknown or disabled users are refused."""
    if not name:
        return None
    from citybi.accounts import Accounts

    acc = Accounts(wh)
    if acc.find(name) is None:
        raise UserFacingError(f"用户「{name}」不存在，无法以其身份提问。", hint="可用 citybi users list 查看已有的用户")
    return acc.context_for(name)


def register(sub: Any) -> None:
    """Add `users` and `audit` to the CLI's subcommands."""
    us = sub.add_parser("users", help="账户：添加、列出、停用、重置密码、调整角色")
    us_sub = us.add_subparsers(dest="users_command", required=True)

    def scope(p: argparse.ArgumentParser) -> None:
        p.add_argument("--department", help="部门，例如 环卫处")
        p.add_argument("--districts", help="可见的区，用逗号分隔，例如 临江区,云湖区（不写则不限）")
        p.add_argument("--streets", help="可见的街道，用逗号分隔（不写则不限）")

    add = us_sub.add_parser("add", help="添加用户（密码从标准输入读取）")
    add.add_argument("name")
    add.add_argument("--role", required=True, help="admin|analyst|clerk|leader 或 管理员|分析员|科员|领导")
    scope(add)
    add.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码（必需）")
    ls = us_sub.add_parser("list", help="列出用户")
    ls.add_argument("--json", action="store_true")
    for verb, text in (("disable", "停用用户（其登录立即失效）"), ("enable", "重新启用用户")):
        p = us_sub.add_parser(verb, help=text)
        p.add_argument("name")
    reset = us_sub.add_parser("reset", help="重置用户密码（从标准输入读取新密码）")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true")
    sr = us_sub.add_parser("set-role", help="调整用户的角色和范围")
    sr.add_argument("name")
    sr.add_argument("--role", required=True)
    scope(sr)
    for p in (add, ls, reset, sr, *[us_sub.choices[v] for v in ("disable", "enable")]):
        p.add_argument("--db", help="数据仓库文件（默认 data/citybi.duckdb）")
    us.set_defaults(func=cmd_users)

    au = sub.add_parser("audit", help="审计日志：校验是否被改动、查看、清理过期记录")
    au_sub = au.add_subparsers(dest="audit_command", required=True)
    ve = au_sub.add_parser("verify", help="校验审计日志是否有记录被修改或删除")
    al = au_sub.add_parser("list", help="查看审计记录（最新的在前）")
    al.add_argument("--user")
    al.add_argument("--action", help="例如 login.failed、datasets.replace、export")
    al.add_argument("--since", help="起始日期 YYYY-MM-DD")
    al.add_argument("--until", help="截止日期 YYYY-MM-DD（含当天）")
    al.add_argument("--limit", type=int, default=200)
    al.add_argument("--json", action="store_true")
    pr = au_sub.add_parser("prune", help="删除超过保留期的审计记录（默认 180 天）")
    pr.add_argument("--days", type=int, help="保留天数（默认取 CITYBI_AUDIT_RETENTION_DAYS，未设置为 180）")
    for p in (ve, al, pr):
        p.add_argument("--db", help="数据仓库文件（默认 data/citybi.duckdb）")
    au.set_defaults(func=cmd_audit)
