"""`citybi metrics list|add|remove|export|import`: the metrics layer from the command line.

Its own module so cli.py only registers it; the logic (checking, storing, YAML) is the
catalog's and citybi.metrics'. Export/import are the reviewable text form of every metric.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from citybi.catalog import Catalog, open_warehouse
from citybi.config import load_settings
from citybi.errors import UserFacingError
from citybi.metrics import dump_yaml, formula_text, from_fields, load_yaml, unit_text

KINDS = ["count", "count_distinct", "sum", "avg", "min", "max", "ratio", "per"]


def register(sub: Any) -> None:
    """Add the `metrics` command to the CLI's subparsers."""
    p = sub.add_parser("metrics", help="指标：列出、添加、删除、导出或导入（工单数、办结率、人口密度…）")
    p.add_argument("action", choices=["list", "add", "remove", "export", "import"])
    p.add_argument("file", nargs="?", help="export / import 的 YAML 文件（export 不给时输出到屏幕）")
    p.add_argument("--db")
    p.add_argument("--name", help="指标名称")
    p.add_argument("--dataset", help="指标所属的数据集（list 时只列出这个数据集的）")
    p.add_argument("--kind", choices=KINDS, help="公式类型")
    p.add_argument("--column", help="sum/avg/min/max/count_distinct 的列；per 的除数列")
    p.add_argument("--where", action="append", default=[], help="条件（可重复），例如 办结状态=已办结")
    p.add_argument("--numerator", help="ratio / per 的分子指标")
    p.add_argument("--denominator", help="ratio 的分母指标")
    p.add_argument("--by-dataset", help="per：除数所在的另一个数据集")
    p.add_argument("--key", help="per 跨表：本数据集的键列，例如 区")
    p.add_argument("--by-key", help="per 跨表：另一数据集的键列（默认与 --key 相同）")
    p.add_argument("--multiplier", type=float, default=1.0, help="结果乘以的倍数，例如 10000")
    p.add_argument("--unit", default="")
    p.add_argument("--percent", action="store_true", help="以百分比显示（比率类指标）")
    p.add_argument("--decimals", type=int, default=2)
    p.add_argument("--synonym", action="append", default=[], help="同义词（可重复）")
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_metrics)


def cmd_metrics(args: argparse.Namespace) -> int:
    with open_warehouse(load_settings(args.db)) as wh:
        cat = Catalog(wh)
        if args.action == "list":
            found = cat.metrics(args.dataset) if args.dataset else cat.metrics()
            if not found:
                print("还没有指标。可用 citybi metrics add 或 citybi metrics import 文件.yaml 添加。")
            for m in found:
                unit = unit_text(m)
                print(f"{m.dataset}\t{m.name}\t= {formula_text(m)}" + (f"\t（{unit}）" if unit else ""))
            return 0
        if args.action == "export":
            text = dump_yaml(cat.metrics(args.dataset) if args.dataset else cat.metrics())
            if args.file:
                Path(args.file).write_text(text, encoding="utf-8")
                print(f"已导出到 {args.file}。")
            else:
                sys.stdout.write(text)
            return 0
        if args.action == "import":
            if not args.file:
                raise UserFacingError("请给出要导入的指标 YAML 文件。", hint="例如 citybi metrics import 指标.yaml")
            metrics = load_yaml(Path(args.file).read_bytes())
            cat.save_metrics(metrics)
            print(f"已导入 {len(metrics)} 个指标：{'、'.join(m.name for m in metrics)}。")
            return 0
        if not args.name:
            raise UserFacingError("请用 --name 给出指标名称。")
        if args.action == "remove":
            gone = cat.delete_metric(args.name)
            print(f"已删除指标「{args.name}」。" if gone else f"没有名为「{args.name}」的指标。")
            return 0
        if not args.dataset or not args.kind:
            raise UserFacingError("添加指标需要 --dataset 和 --kind。",
                                  hint="例如 citybi metrics add --name 工单数 --dataset 热线工单 --kind count")
        info = cat.get(args.dataset)
        m = from_fields(name=args.name, dataset=info.name, kind=args.kind, column=args.column or "",
                        where=args.where, numerator=args.numerator or "", denominator=args.denominator or "",
                        by_dataset=args.by_dataset or "", key=args.key or "", by_key=args.by_key or "",
                        multiplier=args.multiplier, unit=args.unit, percent=args.percent, decimals=args.decimals,
                        synonyms=args.synonym, description=args.description, info=info)
        cat.save_metrics([m])
        print(f"已保存指标「{m.name}」= {formula_text(m)}。")
    return 0
