"""`citybi datasets govern NAME …`: who owns a dataset, which columns carry its district/street,
whether it is 公开 — the settings the row rule (citybi.rowrules) reads.

Why its own module: the CLI file is shared by every feature; this one keeps its arguments and
logic here and registers them with two lines in cli.py's build_parser.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

from citybi import access
from citybi.catalog import Catalog, open_warehouse
from citybi.config import load_settings
from citybi.rowrules import Governance


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `govern` under `citybi datasets`."""
    gv = sub.add_parser("govern", help="设置数据集的归属部门、区/街道列和是否公开（行权限）")
    gv.add_argument("name", help="数据集名称")
    gv.add_argument("--department", help="归属部门，例如 城管局；空字符串表示清除")
    gv.add_argument("--district-column", help="记录所属区的列；空字符串表示清除")
    gv.add_argument("--street-column", help="记录所属街道的列；空字符串表示清除")
    gv.add_argument("--public", action=argparse.BooleanOptionalAction, default=None,
                    help="公开：不含分区数据，所有人可读全部行（--no-public 取消）")
    gv.add_argument("--db", dest="govern_db", help="数据仓库文件（默认 data/citybi.duckdb）")
    gv.set_defaults(func=cmd_govern)


def _text(value: str | None, old: str | None) -> str | None:
    # not given → unchanged; "" → cleared
    if value is None:
        return old
    return value.strip() or None


def changed(gov: Governance, *, department: str | None = None, district_column: str | None = None,
            street_column: str | None = None, public: bool | None = None) -> Governance:
    """`gov` with the given fields changed (None: unchanged; "": cleared)."""
    return replace(gov, department=_text(department, gov.department),
                   district_column=_text(district_column, gov.district_column),
                   street_column=_text(street_column, gov.street_column),
                   public=gov.public if public is None else public)


def govern(cat: Catalog, name: str, **changes: str | bool | None) -> Governance:
    """Change a dataset's governance as the current caller (管理员 or the operator only)."""
    access.require("datasets.govern")
    return cat.set_governance(name, changed(cat.governance(name), **changes))  # type: ignore[arg-type]


def cmd_govern(args: argparse.Namespace) -> int:
    with open_warehouse(load_settings(args.govern_db or args.db)) as wh:
        cat = Catalog(wh)
        gov = govern(cat, args.name, department=args.department, district_column=args.district_column,
                     street_column=args.street_column, public=args.public)
        print(f"{cat.get(args.name).name}：{gov.describe()}")
    return 0
