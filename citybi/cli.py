"""The `citybi` command line: everything a page does, scriptable.

    citybi ingest FILE [--sheet NAME] --db PATH --table NAME [--mode create|replace|append] [--json]
                  [--no-recipe] [--save-recipe NAME] [--standardize auto|off] [--force]
    citybi dictionaries import FILE --name NAME [--prefix 嘉兴市] --db PATH
    citybi dictionaries list|remove [--name NAME] --db PATH
    citybi rules show|set TABLE --db PATH [--not-null COL] [--range AQI=0:500] [--allowed 区=行政区划/区]
                  [--unique COL] [--not-future COL] [--required COL]
    citybi sheets FILE
    citybi datasets --db PATH [--json]
    citybi datasets lineage NAME --db PATH [--json] [--as NAME] | citybi datasets delete NAME --db PATH [--force]
    citybi datasets quality NAME --db PATH [--json]   (--board: the 数据质量 system dataset for the board)
    citybi versions TABLE --db PATH | citybi restore TABLE VERSION --db PATH
    citybi ask QUESTION --db PATH [--table NAME] [--today YYYY-MM-DD] [--json] [--as NAME]
    citybi ask --db PATH [--today YYYY-MM-DD] --batch FILE.jsonl
                  (lines {"id", "question", "table"?, "after"?}: "after": ID continues that line's conversation)
    citybi samples --db PATH        (load the bundled sample city data into an empty warehouse)
    citybi sources import URL --db PATH --table NAME [--query SQL] [--record-path a.b]
                  [--max-messages N --seconds S] [--mode create|replace|append] [--key COL ...]
                  [--secret NAME] [--json]
    citybi sources test URL [--query SQL] [--record-path a.b] [--secret NAME] [--db PATH]
    citybi sources add NAME URL --table NAME [--source-table T | --query SQL] [--record-path a.b]
                  [--max-messages N] [--seconds S] [--mode append|replace] [--key COL ...] [--watermark COL]
                  [--every SECONDS | --cron "0 6 * * *"] [--secret NAME] [--paused] [--replace] [--db PATH]
    citybi sources list|refresh NAME|history [NAME] [--limit N] [--db PATH] [--json]
                  (definitions: <db>.sources/NAME.yaml; refresh and history go through the app while it runs)
    citybi secrets set NAME [--db PATH]   (the value is read from standard input, never an argument)
    citybi secrets list|remove [NAME] [--db PATH]
    citybi serve [--port N] [--db PATH]
    citybi users add|list|disable|enable|reset|set-role …, citybi audit verify|list|prune …
                  (citybi/accounts_cli.py)

The ingest and ask --batch formats are a contract: outside scorers and import checkers drive
the product through them (one JSON object per line, statuses ok | unsupported | ambiguous |
refused). User errors print a Chinese message and exit 2.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from citybi.config import PROJECT_ROOT, load_settings
from citybi.errors import UserFacingError, storage_error
from citybi.jsonable import json_safe


def _warehouse(db: str | None) -> Any:
    from citybi.catalog import open_warehouse

    return open_warehouse(load_settings(db))


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(json_safe(obj), ensure_ascii=False, default=str) + "\n")


def _ingest_option_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The import options `citybi ingest` sets from its arguments."""
    return {"sheet": args.sheet, "header_row": args.header_row, "unpivot": args.unpivot,
            "union_sheets": args.union_sheets, "sheet_table": args.sheet_table}


def _ingest_options(args: argparse.Namespace) -> Any:
    from citybi.ingest.model import ImportOptions

    return ImportOptions(**_ingest_option_fields(args))


def cmd_ingest(args: argparse.Namespace) -> int:
    from citybi.errors import WarehouseBusy
    from citybi.importer import ingest_file, warm_up

    warm_up()  # while the reader (started first, _prestart_reader) shapes the file
    options = _ingest_options(args)
    try:
        wh = _warehouse(args.db)
    except WarehouseBusy:
        return _ingest_via_app(args, options)
    with wh:
        result = ingest_file(
            wh, args.file, table=args.table, mode=args.mode, options=options, key_columns=args.key or None,
            display_name=args.display_name, description=args.description,
            recipes=not args.no_recipe, save_recipe=args.save_recipe or False,
            standardize=args.standardize or "accepted", allow_repeat=args.allow_duplicates,
            before_replace=None if args.force else _lineage_guard(wh, args.table),
        )
    _report_ingest(args, result.outcome())
    return 0


def _lineage_guard(wh: Any, table: str) -> Any:
    """A replace that would break saved boards, charts or alerts is refused (citybi/lineage.py) before writing.

    citybi.lineage (boards, charts, alerts: ~0.1 s of imports) loads only when a replace asks: a new
    dataset's import would load it on the core the reader is shaping the file on."""
    def guard(plan: Any) -> None:
        from citybi.lineage import refuse_breaking_replace

        refuse_breaking_replace(wh, table, {c.name: c.type for c in plan.columns})

    return guard


def _ingest_via_app(args: argparse.Namespace, options: Any) -> int:
    """The app holds the warehouse: hand the job to it through the inbox and wait for the result."""
    from citybi import inbox

    if args.mode == "replace" and not args.force:
        # the lineage check needs the warehouse, which the app holds: refuse rather than replace unchecked
        raise UserFacingError("应用正在使用数据仓库，命令行无法先检查这次替换会使哪些看板、图表和预警失效，没有替换。",
                              hint="请在网页「数据导入」页替换（会先列出影响），或确认无影响后加 --force")

    db = load_settings(args.db).db_path
    sys.stderr.write("应用正在使用数据仓库，已把导入任务交给应用处理，请稍候…\n")
    job = inbox.submit(db, Path(args.file), table=args.table, mode=args.mode, options=options,
                       key_columns=args.key, display_name=args.display_name, description=args.description,
                       use_recipes=not args.no_recipe, save_recipe=args.save_recipe,
                       standardize=args.standardize or "accepted", allow_repeat=args.allow_duplicates)
    outcome = inbox.wait(job)
    if outcome.get("status") != "ok":
        raise UserFacingError(str(outcome.get("message") or "导入失败。"))
    _report_ingest(args, outcome)
    return 0


def _report_ingest(args: argparse.Namespace, outcome: dict[str, Any]) -> None:
    if args.json:
        _print_json(outcome)
        return
    used = outcome.get("recipe")
    if used:
        print(f"已自动套用上次保存的导入方案「{used['name']}」（不使用方案请加 --no-recipe）。")
        for left in used.get("not_applied", []):
            print(f"  注意：{left}")
    print(outcome["summary"])
    for w in outcome.get("warnings", []):
        print(f"  注意：{w}")
    _report_standardized(outcome)
    for f in outcome.get("rule_failures") or []:
        print(f"  不符合校验规则：{f['rule']}（{f['rows']} 行，例如 {'；'.join(f['samples'][:3]) or '—'}）")
    dups = outcome.get("duplicates") or {}
    if dups.get("in_file"):
        print(f"  注意：文件中有 {dups['in_file']} 行与前面的某一行完全相同。")
    if dups.get("in_dataset"):
        print(f"  注意：有 {dups['in_dataset']} 行在追加前已在数据集「{dups['dataset']}」中（现在重复了）。")
    from citybi.catalog import MODE_LABELS

    mode = MODE_LABELS.get(outcome["mode"], outcome["mode"])
    print(f"已写入数据集「{outcome['table']}」第 {outcome['version']} 版（{mode}），共 {outcome['rows']} 行。")
    if outcome.get("quality"):
        from citybi.quality import QualityReport

        print(QualityReport.model_validate(outcome["quality"]).summary_zh()
              + f"（详情：citybi datasets quality {outcome['table']}）")
    if outcome.get("recipe_saved"):
        print(f"已保存导入方案「{outcome['recipe_saved']}」，下次同一报表会自动套用。")
    if outcome.get("recipe_error"):
        sys.stderr.write(f"注意：{outcome['recipe_error']}\n")


def _report_standardized(outcome: dict[str, Any]) -> None:
    """Every mapping (applied or only proposed) and every unknown value: nothing changes silently."""
    rows = outcome.get("standardized") or []
    for m in rows:
        mark = "已统一" if m["applied"] else "建议"
        print(f"  {mark}：「{m['column']}」{m['original']} → {m['standard']}（{m['rows']} 行，"
              f"把握 {m['confidence']:.0%}，字典「{m['dictionary'] or '人工'}」）")
    for u in outcome.get("unknown_values") or []:
        maybe = f"，可能是 {'、'.join(u['candidates'])}" if u["candidates"] else ""
        print(f"  不在字典「{u['dictionary']}」中：「{u['column']}」{u['value']}（{u['rows']} 行{maybe}），保持原样")
    if any(not m["applied"] for m in rows):
        print("  建议未采用的写法保持原样；加 --standardize auto 可自动采用把握高的建议，或在「数据导入」页逐条确认。")


def cmd_dictionaries(args: argparse.Namespace) -> int:
    """数据标准: import a dictionary from a spreadsheet/CSV, or list the warehouse's dictionaries."""
    from citybi.catalog import Catalog
    from citybi.importer import import_dictionary

    with _warehouse(args.db) as wh:
        if args.action == "remove":
            if not args.name:
                raise UserFacingError("请用 --name 给出要删除的字典名称。")
            gone = Catalog(wh).delete_dictionary(args.name)
            print(f"已删除字典「{args.name}」（已导入的数据不变）。" if gone else f"没有名为「{args.name}」的字典。")
            return 0
        if args.action == "import":
            if not args.file or not args.name:
                raise UserFacingError("请给出字典文件和名称。", hint="例如 citybi dictionaries import "
                                      "行政区划.xlsx --name 行政区划 --prefix 嘉兴市")
            d = import_dictionary(wh, args.file, name=args.name, sheet=args.sheet, prefixes=args.prefix or [],
                                  description=args.description or "")
            found = [d]
        else:
            found = Catalog(wh).dictionaries()
    if args.json:
        _print_json([d.model_dump(mode="json") for d in found])
        return 0
    if not found:
        print("还没有数据标准字典。可用 citybi dictionaries import 文件 --name 名称 导入。")
    for d in found:
        levels = "，".join(f"{lv or '取值'} {len(d.values(lv))} 个" for lv in d.levels())
        aliases = sum(len(e.aliases) for e in d.entries)
        done = "已导入" if args.action == "import" else ""
        print(f"{done}字典「{d.name}」：{levels}，别名 {aliases} 个" + (f"；{d.description}" if d.description else ""))
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    """Validation rules of a dataset: show them, or set them (replacing the previous ones)."""
    from citybi.catalog import Catalog
    from citybi.validation import Allowed, Range, Rules

    with _warehouse(args.db) as wh:
        cat = Catalog(wh)
        if args.action == "set":
            ranges = {}
            for spec in args.range or []:
                column, _, bounds = spec.partition("=")
                low, sep, high = bounds.partition(":")
                try:
                    if not column or not sep:
                        raise ValueError(spec)
                    ranges[column] = Range(min=float(low) if low else None, max=float(high) if high else None)
                except ValueError as err:
                    raise UserFacingError(f"范围「{spec}」的写法不对。", hint="写成 列=最小值:最大值，例如 AQI=0:500"
                                          "（一边留空表示不限）") from err
            allowed = {}
            for spec in args.allowed or []:
                column, _, dictionary = spec.partition("=")
                name, _, level = dictionary.partition("/")
                if not column or not name:
                    raise UserFacingError(f"取值范围「{spec}」的写法不对。",
                                          hint="写成 列=字典名 或 列=字典名/层级，例如 区=行政区划/区")
                cat.dictionary(name)  # an unknown dictionary is refused now, not at the next import
                allowed[column] = Allowed(dictionary=name, level=level or None)
            cat.set_rules(args.table, Rules(required=args.required or [], not_null=args.not_null or [],
                                            ranges=ranges, allowed=allowed, unique=args.unique or [],
                                            not_future=args.not_future or []))
        rules = cat.rules(args.table)
    if args.json:
        _print_json(rules.model_dump(mode="json"))
        return 0
    if rules.empty():
        print(f"数据集「{args.table}」没有校验规则。")
        return 0
    print(f"数据集「{args.table}」的校验规则：")
    if rules.required:
        print("  必需的列：" + "、".join(rules.required))
    if rules.not_null:
        print("  不能为空：" + "、".join(rules.not_null))
    for c, r in rules.ranges.items():
        print(f"  {c}：{'' if r.min is None else f'{r.min:g} ≤ '}值{'' if r.max is None else f' ≤ {r.max:g}'}")
    for c, a in rules.allowed.items():
        print(f"  {c}：取值在数据标准「{a.dictionary}」{'（' + a.level + '）' if a.level else ''}中")
    if rules.unique:
        print("  主键（不能重复）：" + "、".join(rules.unique))
    if rules.not_future:
        print("  不能晚于今天：" + "、".join(rules.not_future))
    return 0


def cmd_sheets(args: argparse.Namespace) -> int:
    from citybi.ingest.pipeline import list_sheets

    sheets = list_sheets(Path(args.file), load_settings().limits)
    for s in sheets:
        state = "空" if s.empty else f"{s.n_rows} 行 × {s.n_cols} 列"
        print(f"{s.index + 1}. {s.name}（{state}）")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from citybi.catalog import Catalog

    with _warehouse(args.db) as wh:
        infos = Catalog(wh).datasets()
    if args.json:
        _print_json([
            {"name": d.name, "rows": d.row_count, "version": d.version, "source": d.source_file,
             "columns": [{"name": c.name, "type": c.type, "unit": c.unit} for c in d.columns]}
            for d in infos
        ])
        return 0
    if not infos:
        print("仓库中还没有数据集。")
    for d in infos:
        cols = "、".join(c.name + (f"（{c.unit}）" if c.unit and c.unit not in c.name else "") for c in d.columns)
        print(f"{d.name}：{d.row_count} 行，第 {d.version} 版，来源 {d.source_file or '—'}；列：{cols}")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from citybi.catalog import MODE_LABELS, Catalog

    with _warehouse(args.db) as wh:
        for v in Catalog(wh).versions(args.table):
            mark = "（当前）" if v.current else ""
            print(f"第 {v.version} 版{mark}：{MODE_LABELS.get(v.mode, v.mode)}，{v.row_count} 行，"
                  f"{v.created_at:%Y-%m-%d %H:%M}，{v.source_file or '—'}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from citybi.catalog import Catalog

    with _warehouse(args.db) as wh:
        if not args.force:  # an older version may lack a column a board was built on since (citybi/lineage.py)
            from citybi.lineage import refuse_breaking_restore

            refuse_breaking_restore(wh, args.table, args.version)
        Catalog(wh).restore(args.table, args.version)
    print(f"数据集「{args.table}」已恢复到第 {args.version} 版。")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from citybi.samples import load_samples

    with _warehouse(args.db) as wh:
        loaded = load_samples(wh, progress=lambda msg, _f: print(msg))
    print(f"已载入 {len(loaded)} 个示例数据集。" if loaded else "仓库中已有数据，未载入示例数据。")
    return 0


def _source_request(args: argparse.Namespace, db: Path) -> Any:
    from citybi.sources import resolve_secret
    from connectors.source import SourceRequest

    return SourceRequest(url=args.url, query=args.query, record_path=args.record_path,
                         table=getattr(args, "table", None), max_messages=getattr(args, "max_messages", None),
                         seconds=getattr(args, "seconds", None), secret=resolve_secret(db, args.secret))


def cmd_sources_import(args: argparse.Namespace) -> int:
    """One-off import of a database table/query, a feed or an MQTT batch (through the app when it runs)."""
    from citybi.errors import WarehouseBusy
    from citybi.sources import import_source
    from connectors.source import source_for

    settings = load_settings(args.db)
    source_for(args.url).check(_source_request(args, settings.db_path))  # refused before anything is queued
    try:
        wh = _warehouse(args.db)
    except WarehouseBusy:
        return _sources_via_app(args, settings.db_path)
    with wh:
        outcome = import_source(wh, _source_request(args, settings.db_path), table=args.table, mode=args.mode,
                                key_columns=args.key or None,
                                before_replace=None if args.force else _source_lineage_guard(wh, args.table)
                                ).outcome()
    _report_source(args, outcome)
    return 0


def _source_lineage_guard(wh: Any, table: str) -> Any:
    """A source replace that would break saved boards, charts or alerts is refused before writing."""
    from citybi.lineage import refuse_breaking_source_replace

    return lambda types: refuse_breaking_source_replace(wh, table, types)


def _sources_via_app(args: argparse.Namespace, db: Path) -> int:
    from citybi import inbox

    if args.mode == "replace" and not args.force:
        # as for files (_ingest_via_app): the app holds the warehouse, so the lineage check cannot run here
        raise UserFacingError("应用正在使用数据仓库，命令行无法先检查这次替换会使哪些看板、图表和预警失效，没有替换。",
                              hint="确认无影响后加 --force")
    sys.stderr.write("应用正在使用数据仓库，已把导入任务交给应用处理，请稍候…\n")
    job = inbox.submit_source(db, inbox.SourceJob(url=args.url, query=args.query, record_path=args.record_path,
                                                  max_messages=args.max_messages, seconds=args.seconds,
                                                  secret=args.secret),
                              table=args.table, mode=args.mode, key_columns=args.key)
    outcome = inbox.wait(job)
    if outcome.get("status") != "ok":
        raise UserFacingError(str(outcome.get("message") or "导入失败。"))
    _report_source(args, outcome)
    return 0


def _report_source(args: argparse.Namespace, outcome: dict[str, Any]) -> None:
    if args.json:
        _print_json(outcome)
        return
    from citybi.catalog import MODE_LABELS

    for note in outcome.get("notes", []):
        print(f"  注意：{note}")
    if outcome.get("quarantined"):
        print(f"  有 {outcome['quarantined']} 条数据无法解析，已放入隔离区（不会丢失）。")
    if outcome.get("result") == "unchanged":
        print(f"数据源没有新数据，数据集「{outcome['table']}」未改变。")
        return
    mode = MODE_LABELS.get(outcome["mode"], outcome["mode"])
    print(f"已写入数据集「{outcome['table']}」第 {outcome['version']} 版（{mode}），共 {outcome['rows']} 行"
          f"（新增 {outcome['rows_added']} 行，更新 {outcome['rows_updated']} 行）。")


def cmd_sources_test(args: argparse.Namespace) -> int:
    from connectors.source import source_for

    request = _source_request(args, load_settings(args.db).db_path)
    connector = source_for(args.url)
    connector.check(request)
    print(connector.test(request))
    return 0


def _source_run(args: argparse.Namespace, action: str, name: str | None = None, limit: int = 20) -> dict[str, Any]:
    """A defined source's refresh or history: here when the warehouse is free, else through the running app."""
    from citybi import inbox
    from citybi.errors import WarehouseBusy
    from citybi.lineage import refuse_breaking_source_replace
    from citybi.refresh import guard_replaces

    guard_replaces(refuse_breaking_source_replace)  # a defined source's replace is checked here as in the app
    run = inbox.SourceRunJob(action=action, name=name, limit=limit)  # type: ignore[arg-type]
    try:
        wh = _warehouse(args.db)
    except WarehouseBusy:
        if action == "refresh":
            sys.stderr.write("应用正在使用数据仓库，已把刷新任务交给应用处理，请稍候…\n")
        outcome = inbox.wait(inbox.submit_run(load_settings(args.db).db_path, run))
    else:
        with wh:
            outcome = inbox.run_source_job(wh, run)
    if outcome.get("status") != "ok":
        raise UserFacingError(str(outcome.get("message") or "操作失败。"))
    return outcome


def cmd_sources_add(args: argparse.Namespace) -> int:
    """Write a source definition (YAML) the running app picks up on its next look at the folder."""
    from citybi.sourcedefs import SourceFolder, source_from_dict

    given = {"name": args.name, "url": args.url, "table": args.table, "source_table": args.source_table,
             "query": args.query, "record_path": args.record_path, "max_messages": args.max_messages,
             "seconds": args.seconds, "mode": args.mode, "key": args.key, "watermark": args.watermark,
             "every": args.every, "cron": args.cron, "secret": args.secret, "paused": args.paused or None,
             "description": args.description}
    source = source_from_dict({k: v for k, v in given.items() if v is not None})
    path = SourceFolder(load_settings(args.db).sources_dir).save(source, overwrite=args.replace)
    print(f"已保存数据源「{source.name}」（{source.kind_label} → 数据集「{source.table}」，"
          f"{source.describe_schedule()}{'，已暂停' if source.paused else ''}）：{path}")
    if source.schedule() is not None and not source.paused:
        print("应用运行时会按计划自动刷新；现在就刷新一次：citybi sources refresh " + source.name)
    return 0


def cmd_sources_list(args: argparse.Namespace) -> int:
    from citybi.sourcedefs import SourceDef, SourceFolder

    defs = SourceFolder(load_settings(args.db).sources_dir).load_all()
    last = {r["source"]: r for r in _source_run(args, "last")["runs"]} if defs else {}
    rows = []
    for name, s in defs:
        run = last.get(name) or {}
        if isinstance(s, SourceDef):
            rows.append({"name": name, "kind": s.kind_label, "table": s.table, "schedule": s.describe_schedule(),
                         "paused": s.paused, "last_status": run.get("status_label", "尚未运行"),
                         "last_started": run.get("started_at"), "last_rows_added": run.get("rows_added"),
                         "problem": ""})
        else:
            rows.append({"name": name, "kind": "", "table": "", "schedule": "", "paused": False,
                         "last_status": "定义有误", "last_started": None, "last_rows_added": None, "problem": str(s)})
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("还没有数据源。添加一个：citybi sources add 名称 地址 --table 数据集名称 …")
        return 0
    _print_table(["名称", "类型", "数据集", "刷新计划", "状态", "上次运行", "新增行"],
                 [[r["name"], r["kind"], r["table"], r["schedule"] + ("（已暂停）" if r["paused"] else ""),
                   r["last_status"], (r["last_started"] or "—")[:19], r["last_rows_added"]] for r in rows])
    for r in rows:
        if r["problem"]:
            print(f"  注意：{r['problem']}")
    return 0


def cmd_sources_refresh(args: argparse.Namespace) -> int:
    from citybi.sourcedefs import check_source_name

    out = _source_run(args, "refresh", check_source_name(args.name))["run"]
    if args.json:
        _print_json(out)
    elif out["status"] == "ok":
        print(f"数据源「{out['source']}」已刷新：数据集「{out['table']}」新增 {out['rows_added']} 行，"
              f"更新 {out['rows_updated']} 行" + (f"，现为第 {out['version']} 版" if out["version"] else "")
              + f"，用时 {out['duration_s']:.1f} 秒。" + (f"{out['message']}" if out["message"] else ""))
    if out["status"] != "ok":
        if not args.json:
            sys.stderr.write(f"错误：数据源「{out['source']}」刷新失败，数据集没有改变。{out['message']}\n")
        return 2
    return 0


def cmd_sources_history(args: argparse.Namespace) -> int:
    from citybi.sourcedefs import check_source_name

    name = check_source_name(args.name) if args.name else None
    runs = _source_run(args, "history", name, max(1, min(1000, args.limit)))["runs"]
    if args.json:
        _print_json(runs)
        return 0
    if not runs:
        print("还没有运行记录。" if name is None else f"数据源「{name}」还没有运行记录。")
        return 0
    headers = ["开始时间", "触发", "状态", "新增行", "更新行", "版本", "用时（秒）", "说明"]
    if name is None:
        headers.insert(0, "数据源")
    table = []
    for r in runs:
        row = [str(r["started_at"])[:19], r["trigger"], r["status_label"], r["rows_added"], r["rows_updated"],
               r["version"] if r["version"] is not None else "—",
               f"{r['duration_s']:.1f}" if r["duration_s"] is not None else "—", r["message"]]
        table.append([r["source"], *row] if name is None else row)
    _print_table(headers, table)
    return 0


def _print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """Columns aligned by display width (a Chinese character takes two columns in a terminal)."""
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    cells = [[str(h) for h in headers]] + [["—" if v is None else str(v) for v in row] for row in rows]
    widths = [max(width(r[i]) for r in cells) for i in range(len(headers) - 1)]
    for r in cells:
        print("  ".join([c + " " * (widths[i] - width(c)) for i, c in enumerate(r[:-1])] + [r[-1]]).rstrip())


def cmd_secrets(args: argparse.Namespace) -> int:
    """Secrets by name; a value is typed at a hidden prompt or piped in, never put on the command line."""
    import getpass

    from citybi.secrets import SecretStore

    store = SecretStore(load_settings(args.db).db_path)
    if args.action == "list":
        names = store.names()
        print("\n".join(names) if names else "还没有保存任何密钥。")
        return 0
    if not args.name:
        raise UserFacingError("请给出密钥名称。", hint=f"例如 citybi secrets {args.action} pg-环卫")
    if args.action == "remove":
        print(f"已删除密钥「{args.name}」。" if store.remove(args.name) else f"没有名为「{args.name}」的密钥。")
        return 0
    value = getpass.getpass(f"请输入密钥「{args.name}」的值（不会显示）：") if sys.stdin.isatty() \
        else sys.stdin.readline().rstrip("\r\n")
    store.set(args.name, value)
    print(f"已保存密钥「{args.name}」到 {store.path}（只有当前账户可读）。")
    return 0


CLI_ROWS = 50  # rows `ask` prints; more is unreadable in a terminal (--json has them all)


def cmd_ask(args: argparse.Namespace) -> int:
    from citybi.catalog import Catalog
    from citybi.nlq import answer, ask_batch

    try:
        today = dt.date.fromisoformat(args.today) if args.today else dt.date.today()
    except ValueError as err:
        raise UserFacingError(f"--today 的日期「{args.today}」不是有效的日期。",
                              hint="格式为 年-月-日，例如 2024-06-15", detail=str(err)) from err
    from citybi import audit
    from citybi.accounts_cli import context_for
    from citybi.context import SYSTEM, use

    with _warehouse(args.db) as wh, use(context_for(wh, getattr(args, "as_user", None)) or SYSTEM):
        datasets = Catalog(wh).datasets()
        if args.batch:
            lines = [json.loads(x) for x in Path(args.batch).read_text(encoding="utf-8").splitlines() if x.strip()]
            audit.record(wh, "ask", Path(args.batch).name, {"questions": len(lines)})
            for out in ask_batch(lines, datasets, wh.run, today):
                _print_json(out)
                sys.stdout.flush()
            return 0
        if not args.question:
            raise UserFacingError("请输入要问的问题。", hint='例如：citybi ask "上个月各区的清运量"')
        audit.record(wh, "ask", args.question[:500], {"table": args.table or ""})
        try:
            ans = answer(args.question, datasets, wh.run, today=today, table=args.table)
        except UserFacingError:
            raise
        except Exception as err:  # a Chinese message, never a traceback (the batch mode does the same per line)
            raise UserFacingError("回答这个问题时出错了。", hint=f"请换个问法再试；如果一直出现，请把问题发给管理员"
                                  f"（{type(err).__name__}）", detail=repr(err)) from err
    if args.json:
        _print_json(ans.to_json())
        return 0
    if ans.reading:
        print(f"理解：{ans.reading}")
    if ans.status != "ok":
        print(ans.message)
        for s in ans.suggestions:
            print(f"  可以这样问：{s}")
        return 1
    if ans.message:  # notes: which table was picked, rows cut at the cap, …
        print(ans.message)
    print(f"SQL：\n{ans.sql}")
    print("\t".join(ans.columns))
    for row in ans.rows[:CLI_ROWS]:
        print("\t".join("" if v is None else str(v) for v in row))
    if len(ans.rows) > CLI_ROWS:
        print(f"……共 {len(ans.rows):,} 行，这里只显示前 {CLI_ROWS} 行；加 --json 可查看全部。")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.db:
        env["CITYBI_DB"] = str(Path(args.db).resolve())
    print(f"城市自助分析（CityBI）正在启动：本机请打开 http://localhost:{args.port}"
          + (f" ，局域网内请打开 http://{_lan_ip()}:{args.port}" if _lan_ip() else ""), flush=True)
    cmd = [
        sys.executable, "-m", "citybi.ui.serve", str(PROJECT_ROOT / "app.py"),
        "--server.headless", "true", "--server.port", str(args.port),
        "--browser.gatherUsageStats", "false",
    ]
    return subprocess.call(cmd, cwd=PROJECT_ROOT, env=env)


def _lan_ip() -> str:
    """This machine's address on the local network, without asking anything outside it."""
    import socket

    try:
        ip = socket.gethostbyname(socket.gethostname())  # the hosts file / local resolver only
    except OSError:
        return ""
    return "" if ip.startswith("127.") else ip


def _add_ingest(sub: Any) -> None:
    ing = sub.add_parser("ingest", help="导入 Excel/CSV 文件为数据集")
    ing.add_argument("file")
    ing.add_argument("--db", help="数据仓库文件（默认 data/citybi.duckdb）")
    ing.add_argument("--table", required=True, help="数据集名称")
    ing.add_argument("--sheet", help="工作表名称（默认第一个非空工作表）")
    ing.add_argument("--mode", choices=["create", "replace", "append"], default="create")
    ing.add_argument("--key", action="append", help="追加时的主键列（可重复），相同主键的行被更新而不是重复")
    ing.add_argument("--header-row", type=int, help="表头所在行（从 1 开始；默认自动识别）")
    ing.add_argument("--sheet-table", type=int, metavar="N",
                     help="工作表中有几张表时，导入第 N 张（从 1 开始；默认第 1 张，导入计划会列出各张表）")
    ing.add_argument("--unpivot", action="store_true", help="把年份/月份列转换为行")
    ing.add_argument("--union-sheets", action="store_true", help="合并结构相同的多个工作表")
    ing.add_argument("--no-recipe", action="store_true",
                     help="不套用已保存的导入方案（默认会自动套用同一报表上次保存的方案）")
    ing.add_argument("--save-recipe", metavar="NAME",
                     help="导入后把本次的导入选项保存为方案 NAME，下次同一报表自动套用")
    ing.add_argument("--standardize", choices=["auto", "off"],
                     help="按数据标准字典统一取值（如 南湖→南湖区）：auto 自动采用把握高的建议，off 不做标准化；"
                          "默认只采用导入方案中已确认的映射，其余列为建议")
    ing.add_argument("--allow-duplicates", action="store_true",
                     help="追加的文件全部行都已在数据集中时（同一文件导入两次）也照样追加（默认拒绝）")
    ing.add_argument("--force", action="store_true",
                     help="替换时即使会使已保存的看板、图表、预警失效（用到的列缺失或类型改变）也照样替换（默认拒绝）")
    ing.add_argument("--display-name")
    ing.add_argument("--description")
    ing.add_argument("--json", action="store_true")
    ing.set_defaults(func=cmd_ingest)


def _add_sources(sub: Any) -> None:
    """`citybi sources …`: import, test, add, list, refresh, history."""
    src = sub.add_parser("sources", help="数据源：数据库、数据接口、物联网消息")
    src_sub = src.add_subparsers(dest="sources_command", required=True)
    si = src_sub.add_parser("import", help="把数据库表/查询、数据接口或 MQTT 消息导入为数据集")
    si.add_argument("url", help="postgresql://用户@主机:5432/库、mysql://用户@主机:3306/库、http(s)://… 或 mqtt://主机:1883/主题")
    si.add_argument("--db", help="数据仓库文件（默认 data/citybi.duckdb）")
    si.add_argument("--table", required=True, help="数据集名称（数据库来源未给 --query 时，也是要读取的表名）")
    si.add_argument("--query", help="数据库：只读的 SELECT 查询")
    si.add_argument("--record-path", help="JSON 接口：记录所在位置，例如 data.records")
    si.add_argument("--max-messages", type=int, help="MQTT：收到这么多条消息后停止")
    si.add_argument("--seconds", type=float, help="MQTT：最多等待这么多秒")
    si.add_argument("--mode", choices=["create", "replace", "append"], default="create")
    si.add_argument("--key", action="extend", nargs="+", help="追加时的主键列，相同主键的行被更新而不是重复")
    si.add_argument("--secret", help="密码或令牌的密钥名称（citybi secrets set 名称 保存）")
    si.add_argument("--force", action="store_true",
                    help="替换时即使会使已保存的看板、图表、预警失效（上游的列缺失或类型改变）也照样替换（默认拒绝）")
    si.add_argument("--json", action="store_true")
    si.set_defaults(func=cmd_sources_import)
    st = src_sub.add_parser("test", help="测试连接：连上数据源并说明找到了什么")
    st.add_argument("url")
    st.add_argument("--db")
    st.add_argument("--query")
    st.add_argument("--record-path")
    st.add_argument("--secret")
    st.set_defaults(func=cmd_sources_test)
    sa_ = src_sub.add_parser("add", help="添加（或用 --replace 修改）一个按计划刷新的数据源定义")
    sa_.add_argument("name", help="数据源名称，例如 环卫清运库")
    sa_.add_argument("url", help="postgresql://用户@主机:5432/库、mysql://…、http(s)://… 或 mqtt://主机:1883/主题")
    sa_.add_argument("--table", required=True, help="写入的数据集名称")
    sa_.add_argument("--source-table", help="数据库：要读取的表（默认与数据集同名）")
    sa_.add_argument("--query", help="数据库：只读的 SELECT 查询")
    sa_.add_argument("--record-path", help="JSON 接口：记录所在位置，例如 data.records")
    sa_.add_argument("--max-messages", type=int, help="MQTT：每次刷新最多收这么多条消息")
    sa_.add_argument("--seconds", type=float, help="MQTT：每次刷新最多等待这么多秒")
    sa_.add_argument("--mode", choices=["append", "replace"], default="append",
                     help="append：按主键/更新时间列追加（默认）；replace：每次整表替换")
    sa_.add_argument("--key", action="extend", nargs="+", help="主键列：相同主键的行被更新而不是重复")
    sa_.add_argument("--watermark", help="数据库：更新时间列，每次只读取比上次更新的行")
    when = sa_.add_mutually_exclusive_group()
    when.add_argument("--every", type=_interval_seconds, help="刷新间隔：秒数，或带单位，例如 300、5m、2h、1d、10分钟")
    when.add_argument("--cron", help='cron 表达式（分 时 日 月 星期），例如 "0 6 * * *"')
    sa_.add_argument("--secret", help="密码或令牌的密钥名称（citybi secrets set 名称 保存）")
    sa_.add_argument("--paused", action="store_true", help="先暂停，不按计划刷新")
    sa_.add_argument("--description")
    sa_.add_argument("--replace", action="store_true", help="已有同名数据源时覆盖它")
    sa_.add_argument("--db")
    sa_.set_defaults(func=cmd_sources_add)
    sl = src_sub.add_parser("list", help="列出数据源定义和上次运行情况")
    sl.add_argument("--db")
    sl.add_argument("--json", action="store_true")
    sl.set_defaults(func=cmd_sources_list)
    sr = src_sub.add_parser("refresh", help="立即刷新一个数据源（应用运行时交给应用执行）")
    sr.add_argument("name")
    sr.add_argument("--db")
    sr.add_argument("--json", action="store_true")
    sr.set_defaults(func=cmd_sources_refresh)
    sh_ = src_sub.add_parser("history", help="数据源的运行记录")
    sh_.add_argument("name", nargs="?", help="数据源名称（不写则列出全部）")
    sh_.add_argument("--limit", type=int, default=20)
    sh_.add_argument("--db")
    sh_.add_argument("--json", action="store_true")
    sh_.set_defaults(func=cmd_sources_history)


_UNIT_SECONDS = {"": 1, "s": 1, "秒": 1, "m": 60, "min": 60, "分": 60, "分钟": 60, "h": 3600, "小时": 3600,
                 "时": 3600, "d": 86400, "天": 86400}


def _interval_seconds(text: str) -> int:
    """--every: 300, 300s, 5m, 2h, 1d, 10分钟, 2小时 → seconds (a whole, positive number)."""
    found = re.fullmatch(r"\s*(\d+)\s*([a-z]*|[\u4e00-\u9fff]*)\s*", text.lower())
    if found is None or found.group(2) not in _UNIT_SECONDS or int(found.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"「{text}」不是有效的刷新间隔，请写秒数或带单位，"
                                         "例如 300、5m、2h、1d、10分钟")
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2)]


class _Parser(argparse.ArgumentParser):
    """argparse with its mistakes said in Chinese (its own messages are English), then usage, exit 2."""

    _SAID: tuple[tuple[str, str], ...] = (
        (r"the following arguments are required: (.*)", r"缺少必需的参数：\1"),
        (r"unrecognized arguments: (.*)", r"无法识别的参数：\1"),
        (r"one of the arguments (.*) is required", r"必须给出以下参数之一：\1"),
        (r"argument (\S+): invalid int value: '(.*)'", r"参数 \1 的值「\2」不是整数"),
        (r"argument (\S+): invalid float value: '(.*)'", r"参数 \1 的值「\2」不是数字"),
        (r"argument \w*command: invalid choice: '(.*)' \(choose from (.*)\)", r"没有「\1」这个命令，可选：\2"),
        (r"argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)", r"参数 \1 的值「\2」无效，可选：\3"),
        (r"argument (\S+): expected one argument", r"参数 \1 后面需要一个值"),
        (r"argument (\S+): expected at least one argument", r"参数 \1 后面至少需要一个值"),
        (r"argument (\S+): not allowed with argument (\S+)", r"参数 \1 不能与 \2 同时使用"),
        (r"ambiguous option: (\S+) could match (.*)", r"选项 \1 有歧义，可能是：\2"),
        (r"argument (\S+): (.*)", r"参数 \1：\2"),  # a type's own message (already Chinese)
    )

    _WORDS = (("usage: ", "用法："), ("positional arguments:", "位置参数："), ("options:", "选项："),
              ("show this help message and exit", "显示帮助并退出"))

    def format_usage(self) -> str:
        return self._chinese(super().format_usage())

    def format_help(self) -> str:
        return self._chinese(super().format_help())

    def _chinese(self, text: str) -> str:
        for english, chinese in self._WORDS:
            text = text.replace(english, chinese)
        return text

    def error(self, message: str) -> NoReturn:
        for english, chinese in self._SAID:
            if re.fullmatch(english, message, flags=re.S):
                message = re.sub(english, chinese, message, flags=re.S)
                break
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}：错误：{message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; `only="ingest"` or `only="sources"` builds just that command (see main)."""
    p = _Parser(prog="citybi", description="城市自助分析（CityBI）命令行")
    sub = p.add_subparsers(dest="command", required=True)

    if only == "sources":
        _add_sources(sub)
        return p
    _add_ingest(sub)
    if only == "ingest":
        return p

    dic = sub.add_parser("dictionaries", help="数据标准字典：导入（Excel/CSV）、列出或删除")
    dic.add_argument("action", choices=["import", "list", "remove"])
    dic.add_argument("file", nargs="?", help="字典表格：标准名称、编码、层级、上级、别名（多个别名用顿号分隔）")
    dic.add_argument("--name", help="字典名称，例如 行政区划；同名字典会被整体替换")
    dic.add_argument("--prefix", action="append", help="取值前可能出现的前缀（可重复），例如市名 嘉兴市")
    dic.add_argument("--sheet", help="工作表名称（默认第一个非空工作表）")
    dic.add_argument("--description")
    dic.add_argument("--db")
    dic.add_argument("--json", action="store_true")
    dic.set_defaults(func=cmd_dictionaries)

    ru = sub.add_parser("rules", help="数据集的校验规则：查看或设置（导入时检查并报告）")
    ru.add_argument("action", choices=["show", "set"])
    ru.add_argument("table")
    ru.add_argument("--db")
    ru.add_argument("--required", action="append", help="文件必须有的列（可重复）")
    ru.add_argument("--not-null", action="append", help="不能为空的列（可重复）")
    ru.add_argument("--range", action="append", help="取值范围：列=最小值:最大值，例如 AQI=0:500")
    ru.add_argument("--allowed", action="append", help="取值须在数据标准字典中：列=字典名[/层级]，例如 区=行政区划/区")
    ru.add_argument("--unique", action="append", help="主键列（可重复）：这些列的组合不能重复")
    ru.add_argument("--not-future", action="append", help="日期不能晚于今天的列（可重复）")
    ru.add_argument("--json", action="store_true")
    ru.set_defaults(func=cmd_rules)

    sh = sub.add_parser("sheets", help="列出文件中的工作表")
    sh.add_argument("file")
    sh.set_defaults(func=cmd_sheets)

    ds = sub.add_parser("datasets", help="列出数据集")
    ds.add_argument("--db")
    ds.add_argument("--json", action="store_true")
    ds.set_defaults(func=cmd_datasets)
    from citybi import govern  # `datasets govern`: ownership and row-rule columns (citybi/govern.py)

    ds_sub = ds.add_subparsers(dest="datasets_command")
    govern.add_parser(ds_sub)
    from citybi import datasets_link  # `datasets link`: a live dataset in PostgreSQL (citybi/datasets_link.py)

    datasets_link.add_parser(ds_sub)
    from citybi import lineage  # `datasets lineage|delete`: who reads a dataset (citybi/lineage.py)

    lineage.add_parsers(ds_sub)
    from citybi import quality  # `datasets quality NAME`: the dataset's quality report (citybi/quality.py)

    quality.add_parser(ds_sub)

    ve = sub.add_parser("versions", help="数据集的版本历史")
    ve.add_argument("table")
    ve.add_argument("--db")
    ve.set_defaults(func=cmd_versions)

    re_ = sub.add_parser("restore", help="把数据集恢复到某个版本")
    re_.add_argument("table")
    re_.add_argument("version", type=int)
    re_.add_argument("--db")
    re_.add_argument("--force", action="store_true",
                     help="即使会使已保存的看板、图表、预警失效（用到的列缺失或类型改变）也照样恢复（默认拒绝）")
    re_.set_defaults(func=cmd_restore)

    sa = sub.add_parser("samples", help="向空仓库载入示例城市数据")
    sa.add_argument("--db")
    sa.set_defaults(func=cmd_samples)

    from citybi import metrics_cli

    metrics_cli.register(sub)  # citybi metrics list|add|remove|export|import

    ask = sub.add_parser("ask", help="用中文提问")
    ask.add_argument("question", nargs="?")
    ask.add_argument("--db")
    ask.add_argument("--table")
    ask.add_argument("--today", help="“今天”是哪一天（YYYY-MM-DD），默认系统日期")
    ask.add_argument("--batch", help="JSONL 文件：每行 {id, question, table?, after?}；after 为前面某行的 id，"
                                     "表示接着那一问追问（如「那这个月呢」）")
    ask.add_argument("--json", action="store_true")
    ask.add_argument("--as", dest="as_user", metavar="NAME",
                     help="以该用户的身份和数据范围回答（管理员核对用户能看到什么）")
    ask.set_defaults(func=cmd_ask)

    from citybi.accounts_cli import register as register_accounts

    register_accounts(sub)  # citybi users …, citybi audit …

    _add_sources(sub)

    sc = sub.add_parser("secrets", help="保存、列出、删除密码和令牌（按名称引用）")
    sc.add_argument("action", choices=["set", "list", "remove"])
    sc.add_argument("name", nargs="?")
    sc.add_argument("--db")
    sc.set_defaults(func=cmd_secrets)

    from citybi.alerts.command import add_parser as add_alerts  # 预警: list | check | history

    add_alerts(sub)

    se = sub.add_parser("serve", help="启动网页应用")
    se.add_argument("--port", type=int, default=int(os.environ.get("CITYBI_PORT", "8501")))
    se.add_argument("--db")
    se.set_defaults(func=cmd_serve)
    return p


def _exit_on_sigterm() -> None:
    # SIGTERM (a service stop, `timeout`) ends the command like Ctrl-C: cleanup and exit handlers
    # run, so no reader child or temporary frame outlives it
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    with contextlib.suppress(ValueError):  # not the main thread (embedded use): leave signals alone
        signal.signal(signal.SIGTERM, stop)


class _QuietParser(argparse.ArgumentParser):
    """Parses without printing: a mistake is reported once, by the real parser, afterwards."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def _prestart_reader(argv: Sequence[str] | None) -> None:
    """Start the sandboxed file reader before anything else, for commands that read a file.

    A one-shot command cannot reuse a reader, but it can start it first: the reader's Python and
    polars then load while this process loads its own modules (~1 s), on the other core. For
    `ingest` the reader is told the file at once (worker.early_hint: a big .xlsx starts its body
    read before the reader loads the rest), and the file is even read and shaped then
    (pipeline.prepare_early): the import later asks for exactly these arguments and takes that
    result; if anything differs it reads again.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    if not (words[:1] in (["ingest"], ["sheets"]) or words[:2] == ["dictionaries", "import"]):
        return
    if "-h" in words or "--help" in words:
        return
    # from here on a reader child and temporary frames exist: a SIGTERM must end the command through its exit
    # handlers (_exit_on_sigterm), also while it still waits below for its own modules to load
    _exit_on_sigterm()
    from citybi.ingest.pool import pool

    if words[:1] != ["ingest"]:
        pool().prestart()
        return
    try:
        parser = _QuietParser(prog="citybi", add_help=False)
        _add_ingest(parser.add_subparsers(dest="command"))
        args = parser.parse_args(words)
        settings = load_settings(args.db)
    except (ValueError, OSError, UserFacingError, SystemExit):  # the command itself reports what is wrong
        pool().prestart()
        return
    from types import SimpleNamespace

    from citybi.ingest.worker import early_hint

    # the options as _ingest_options gives them, without loading the pydantic models first
    given = SimpleNamespace(header_depth=None, **_ingest_option_fields(args))
    readers = pool()
    readers.one_shot = True  # one file: the reader is not asked again (ReaderPool._give_back)
    readers.prestart(settings.limits, hint=early_hint(Path(args.file), given, settings.limits))

    def ask_early() -> None:
        # only a head start: whatever goes wrong here, the command meets it again in its own steps and says
        # so there (no thread traceback on the way)
        try:
            from citybi.ingest import pipeline, recipe

            saved = [] if args.no_recipe else recipe.load_recipes(settings.recipes_dir)
            pipeline.prepare_early(Path(args.file), _ingest_options(args), settings.limits, recipes=saved)
        except (Exception, SystemExit):
            return
        with contextlib.suppress(Exception):
            import citybi.importer  # noqa: F401

    _at_low_priority(ask_early)


def _at_low_priority(work: Any) -> None:
    """Run `work` on a thread of low CPU priority (nice 10) and wait for it.

    Why: on two cores the reader's body read, its guard scan and this process's ~0.75 CPU-seconds of
    imports (polars and pydantic to send the request; then duckdb, sqlglot, the catalog…) competed for
    the CPU, and the reader's work is what the import waits for. At nice 10 this process takes what the
    reader leaves: a 200,000-row .xlsx's fastexcel read, which has a core to itself only then, made the
    import ~5% faster (8 alternating runs each, plain and shared-strings workbooks; CSV unchanged). A
    thread, because a thread's priority cannot be raised again without privileges: the command's own
    work after this (waiting for the answer, the write) runs at normal priority on its main thread.
    """
    import threading

    def run() -> None:
        with contextlib.suppress(OSError, AttributeError):  # per-thread priority: Linux
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        work()

    loader = threading.Thread(target=run, name="citybi-load", daemon=True)
    loader.start()
    loader.join()


def main(argv: Sequence[str] | None = None) -> int:
    _prestart_reader(argv)
    # `citybi ingest` and `citybi sources` build only their own command: the other commands' modules
    # (boards, alerts, lineage, metrics…) would load for nothing, on an import's clock
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(only=words[0] if words[:1] in (["ingest"], ["sources"]) else None).parse_args(argv)
    from citybi import tempfiles

    tempfiles.startup()  # remove what killed CityBI processes left in the temp folder
    if args.command != "serve":  # serve only waits for the server process, which handles its own signals
        _exit_on_sigterm()
    try:
        try:
            return int(args.func(args) or 0)
        except OSError as err:  # the disk said no outside the warehouse (temp folder, inbox, a batch file)
            raise storage_error(err, "读写文件") or UserFacingError(
                f"读写文件失败：{err.strerror or err}（{err.filename or ''}）。", hint="请检查文件路径和权限",
            ) from err
    except UserFacingError as err:
        sys.stderr.write(f"错误：{err}\n")
        if args.command in ("ingest", "sources") and getattr(args, "json", False):
            _print_json({"status": "error", "message": str(err)})
        return 2
    except KeyboardInterrupt:
        return 130


def run() -> NoReturn:
    """The `citybi` command (pyproject's script): main(), and for `ingest` a quick way out.

    Why: once `citybi ingest` has written and printed its result, Python's own teardown (clearing
    every loaded module — polars, duckdb, sqlglot, pydantic — one object at a time) still took
    0.28 s of a 200,000-row CSV import's ~2.5 s. Nothing of ours needs it: the warehouse is closed
    by then and every exit handler (reader stopped, temporary files removed) runs here first.
    Other commands, and main() called from tests, end as usual.
    """
    code = main()
    if sys.argv[1:2] != ["ingest"]:
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    with contextlib.suppress(OSError, ValueError):  # a closed or broken stdout: nothing more to say
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
