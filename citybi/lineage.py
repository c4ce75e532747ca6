"""Lineage (数据血缘): which saved charts, boards, alerts, briefings, metrics and questions read a dataset,
and which of them a replace or a delete would break.

Why: a clerk's 「替换」 with differently named columns once silently broke all nine tiles of a board —
nothing said the board read those columns. So before a replace or a delete the pages and the CLI ask
this module first and say "影响 3 个看板、7 个图表、1 条预警", name the readers that would BREAK (a column
they use is missing, or changes kind: number → text, date → text) and ask for an explicit confirmation.

How: every reader is resolved as data, never by searching YAML text — a chart's `ChartSpec` (its
dimensions, series, drill path, measures and their conditions, filters, and options the chart type marks
as a column choice such as a KPI card's date column), a board's tiles (saved chart or inline spec, the
tile's date column and its target table's column), an alert rule's watched tile or chart plus its
`group_by` and filter columns, a briefing's board, a metric's formula (its own columns, the metrics it
is built on, a per-X metric's divisor in this dataset), and the 问数 questions the audit log recorded
with this dataset pinned. A chart measure `agg: metric` uses the metric's columns.

Who sees what: a user is shown the readers they may see (a board: 查看看板 and every dataset it reads is
readable to them; alerts and briefings: 管理预警; questions: their own, or all with 查看审计日志), and the
counts stay honest: "另有 2 个您无权查看的看板". Whether a hidden reader would break is counted too.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from citybi import access, audit, context
from citybi.alerts.briefing import BriefingStore
from citybi.alerts.rules import alerts_dir, rule_store
from citybi.boards import Board, Tile, board_store, find_tile, tile_spec
from citybi.catalog import Catalog
from citybi.charts.spec import ChartSpec, ChartSpecError, chart_type_of
from citybi.charts.store import ChartStore, chart_store
from citybi.errors import UserFacingError
from citybi.metrics import Aggregate, CountDistinct, Metric, Per, closure
from citybi.rowrules import readable
from citybi.schema import ColumnInfo
from citybi.warehouse import Warehouse

# kind → (Chinese noun, measure word), in the order a summary names them
KINDS: dict[str, tuple[str, str]] = {
    "board": ("看板", "个"),
    "chart": ("图表", "个"),
    "alert": ("预警", "条"),
    "briefing": ("简报", "份"),
    "metric": ("指标", "个"),
    "question": ("提问", "条"),
}
MAX_QUESTIONS = 5000  # audit entries read for questions: enough for months of 问数, bounded on a big log

_FAMILIES = {"integer": "数值", "number": "数值", "date": "日期", "timestamp": "日期", "month": "日期",
             "year": "年份", "boolean": "是/否", "text": "文本"}


def family(column_type: str) -> str:
    """The kind of a column a reader depends on: integer → number is no break, number → text is."""
    return _FAMILIES.get(column_type, column_type)


@dataclass(frozen=True)
class Use:
    """One place a reader reads the dataset: a tile of a board, a rule's watched chart, the chart itself."""

    where: str  # "" for the reader as a whole, else e.g. 图块「本月清运量」
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Reader:
    """Something saved that reads the dataset."""

    kind: str  # a key of KINDS
    name: str
    uses: tuple[Use, ...] = ()
    datasets: tuple[str, ...] = ()  # every dataset it reads (what the caller must be able to read to see it)
    visible: bool = True
    note: str = ""  # e.g. 提问 3 次

    @property
    def label(self) -> str:
        return f"{KINDS[self.kind][0]}「{self.name}」"

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for u in self.uses for c in u.columns))

    def breaks(self, old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
        """Why this reader would stop working on a version with columns `new` (name → type); [] if it would not.

        `old` is the current version's columns: a column it has and `new` lacks, or one changing kind,
        breaks a reader that uses it. A column missing from both is not this version's doing: the
        reader does not work today either (a board made for columns the dataset never had)."""
        reasons: list[str] = []
        for u in self.uses:
            where = f"{u.where}：" if u.where else ""
            for c in u.columns:
                if c not in new:
                    if c in old:
                        reasons.append(f"{where}缺少列「{c}」")
                elif c in old and family(old[c]) != family(new[c]):
                    reasons.append(f"{where}列「{c}」从{family(old[c])}变成了{family(new[c])}")
        return list(dict.fromkeys(reasons))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "kind_label": KINDS[self.kind][0], "name": self.name, "note": self.note,
                "columns": list(self.columns), "uses": [{"where": u.where, "columns": list(u.columns)}
                                                        for u in self.uses]}


@dataclass(frozen=True)
class Broken:
    reader: Reader
    reasons: tuple[str, ...]

    def text(self) -> str:
        return f"{self.reader.label}：" + "；".join(self.reasons)


def _count_text(counts: Mapping[str, int]) -> str:
    return "、".join(f"{n} {KINDS[k][1]}{KINDS[k][0]}" for k in KINDS if (n := counts.get(k, 0)))


@dataclass(frozen=True)
class Lineage:
    """Every reader of one dataset, those the caller may not see included (never shown by name)."""

    dataset: str
    all_readers: tuple[Reader, ...]
    problems: tuple[str, ...] = ()  # saved files that could not be read (so the list may be incomplete)

    @property
    def readers(self) -> list[Reader]:
        """The readers the caller may see."""
        return [r for r in self.all_readers if r.visible]

    def counts(self, *, visible: bool | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.all_readers:
            if visible is None or r.visible == visible:
                out[r.kind] = out.get(r.kind, 0) + 1
        return out

    def summary(self) -> str:
        """"影响 3 个看板、7 个图表、1 条预警" — every reader counted, also those the caller cannot see."""
        text = _count_text(self.counts())
        return f"影响 {text}" if text else f"没有已保存的看板、图表、预警或指标使用数据集「{self.dataset}」"

    def hidden_text(self) -> str:
        """"另有 2 个您无权查看的看板" ("" when the caller sees every reader)."""
        text = _count_text(self.counts(visible=False))
        return f"另有 {text}您无权查看" if text else ""

    def would_break(self, old: Iterable[ColumnInfo], new: Mapping[str, str]) -> list[Broken]:
        """The readers (hidden ones too) a version with columns `new` (name → logical type) would break."""
        before = {c.name: c.type for c in old}
        out = []
        for r in self.all_readers:
            reasons = r.breaks(before, new)
            if reasons:
                out.append(Broken(r, tuple(reasons)))
        return out

    def on_delete(self) -> list[Reader]:
        """Readers a delete breaks: all but questions (history, not something that runs again)."""
        return [r for r in self.all_readers if r.kind != "question"]

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "summary": self.summary(), "counts": self.counts(),
                "hidden": self.counts(visible=False), "hidden_text": self.hidden_text(),
                "readers": [r.to_json() for r in self.readers], "problems": list(self.problems)}


def broken_text(broken: list[Broken]) -> list[str]:
    """One Chinese line per visible broken reader, then one for those the caller cannot see."""
    lines = [b.text() for b in broken if b.reader.visible]
    hidden: dict[str, int] = {}
    for b in broken:
        if not b.reader.visible:
            hidden[b.reader.kind] = hidden.get(b.reader.kind, 0) + 1
    if hidden:
        lines.append(f"另有 {_count_text(hidden)}您无权查看，也会失效")
    return lines


# ---------------------------------------------------------------------------- columns a spec reads
def _option_columns(spec: ChartSpec) -> list[str]:
    """Options the chart type declares as a column choice (a KPI card's date column): read from the type's
    options model, so a plug-in type with a column option is covered the same way."""
    try:
        model = chart_type_of(spec.type).options_model
    except (ValueError, ChartSpecError):
        return []
    out = []
    for key, f in model.model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        if "columns" in str(extra.get("choices", "")) and isinstance(spec.options.get(key), str):
            out.append(spec.options[key])
    return out


def metric_columns(m: Metric, metrics: Mapping[str, Metric], dataset: str) -> list[str]:
    """The columns of `dataset` the metric reads, through the metrics it is built on."""
    out: list[str] = []
    for part in closure(m, metrics).values():
        f = part.formula
        own = part.dataset.lower() == dataset.lower()
        if own:
            out += [c.column for c in getattr(f, "where", [])]
            if isinstance(f, (CountDistinct, Aggregate)):
                out.append(f.column)
        if isinstance(f, Per):
            divisor_here = (f.dataset or part.dataset).lower() == dataset.lower()
            if divisor_here:
                out.append(f.column)
                if f.dataset and f.by_key:
                    out.append(f.by_key)
            if own and f.dataset and f.key:
                out.append(f.key)
    return list(dict.fromkeys(out))


def spec_columns(spec: ChartSpec, metrics: Mapping[str, Metric]) -> list[str]:
    """Every column of its dataset a chart spec reads (sort is by output name, so not listed)."""
    out = [d.column for d in [*spec.group_dimensions, *spec.drill]]
    for m in spec.measures:
        if m.metric is not None and m.metric in metrics:
            out += metric_columns(metrics[m.metric], metrics, spec.dataset)
        if m.column != "*":
            out.append(m.column)
        out += [f.column for f in m.where]
    out += [f.column for f in spec.filters]
    out += _option_columns(spec)
    return list(dict.fromkeys(out))


def _spec_datasets(spec: ChartSpec, metrics: Mapping[str, Metric]) -> list[str]:
    out = [spec.dataset]
    for m in spec.measures:
        found = metrics.get(m.metric or "")
        if found is not None and isinstance(found.formula, Per) and found.formula.dataset:
            out.append(found.formula.dataset)
    return out


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


# ---------------------------------------------------------------------------- finding readers
@dataclass
class _Finder:
    wh: Warehouse
    dataset: str
    charts: ChartStore
    metrics: dict[str, Metric]
    problems: list[str] = field(default_factory=list)

    def note(self, err: UserFacingError) -> None:
        self.problems.append(str(err))

    def tile_use(self, board: Board, tile: Tile) -> tuple[Use | None, list[str]]:
        """The tile's use of the dataset (None when it reads another one) and every dataset it reads."""
        try:
            spec = tile_spec(tile, self.charts)
        except (UserFacingError, ChartSpecError) as err:
            self.note(err)
            return None, []
        datasets = _spec_datasets(spec, self.metrics)
        if not _same(spec.dataset, self.dataset):
            return None, datasets
        cols = spec_columns(spec, self.metrics)
        cols += [c for c in (tile.date_column, tile.targets.column if tile.targets else None) if c]
        return Use(f"图块「{tile.title or spec.title}」", tuple(dict.fromkeys(cols))), datasets

    def board_reader(self, name: str, board: Board) -> Reader | None:
        uses: list[Use] = []
        datasets: list[str] = []
        for t in board.tiles:
            use, read = self.tile_use(board, t)
            datasets += read
            if use is not None:
                uses.append(use)
        if not uses:
            return None
        return Reader("board", name, tuple(uses), tuple(dict.fromkeys(datasets)))



def find_readers(wh: Warehouse, dataset: str, *, ctx: context.Context | None = None) -> Lineage:
    """Every saved reader of `dataset`, each marked visible or not for the caller (`ctx`, else the current)."""
    ctx = access.require("datasets.read", ctx)
    cat = Catalog(wh)
    real = cat.get(dataset).name  # NotFound (Chinese) for an unknown dataset
    metrics = {m.name: m for m in cat.metrics()}
    charts = chart_store(wh.settings)
    boards = board_store(wh.settings)
    f = _Finder(wh, real, charts, metrics)
    readers: list[Reader] = []

    for name in charts.names():
        try:
            spec = charts.load(name)
        except (UserFacingError, ChartSpecError) as err:
            f.note(err)
            continue
        if _same(spec.dataset, real):
            readers.append(Reader("chart", name, (Use("", tuple(spec_columns(spec, metrics))),),
                                  tuple(_spec_datasets(spec, metrics))))

    board_readers: dict[str, Reader] = {}
    loaded_boards: dict[str, Board] = {}
    for name in boards.names():
        try:
            board = boards.load(name)
        except (UserFacingError, ChartSpecError) as err:
            f.note(err)
            continue
        loaded_boards[name] = board
        r = f.board_reader(name, board)
        if r is not None:
            board_readers[name] = r
    readers += board_readers.values()

    rules = rule_store(wh.path)
    for name in rules.names():
        try:
            rule = rules.load(name)
        except (UserFacingError, ChartSpecError) as err:
            f.note(err)
            continue
        w = rule.watch
        extra = [c for c in (rule.group_by, *w.filters) if c]
        use: Use | None = None
        read: list[str] = []
        if w.chart is not None:
            try:
                spec = charts.load(w.chart)
            except (UserFacingError, ChartSpecError) as err:
                f.note(err)
                continue
            read = _spec_datasets(spec, metrics)
            if _same(spec.dataset, real):
                use = Use(f"监控图表「{w.chart}」", tuple(dict.fromkeys([*spec_columns(spec, metrics), *extra])))
        elif w.board in loaded_boards:
            tile = find_tile(loaded_boards[w.board], str(w.tile), charts)
            if tile is not None:
                tile_use, read = f.tile_use(loaded_boards[w.board], tile)
                if tile_use is not None:
                    use = Use(f"监控看板「{w.board}」的{tile_use.where}",
                              tuple(dict.fromkeys([*tile_use.columns, *extra])))
        if use is not None:
            readers.append(Reader("alert", name, (use,), tuple(dict.fromkeys(read))))

    briefings = BriefingStore(alerts_dir(wh.path) / "briefings")
    for name in briefings.names():
        try:
            b = briefings.load(name)
        except (UserFacingError, ChartSpecError) as err:
            f.note(err)
            continue
        via = board_readers.get(b.board)
        if via is not None:
            uses = tuple(Use(f"看板「{b.board}」的{u.where}", u.columns) for u in via.uses)
            readers.append(Reader("briefing", name, uses, via.datasets))

    for m in metrics.values():
        cols = metric_columns(m, metrics, real)
        divisor = isinstance(m.formula, Per) and m.formula.dataset and _same(m.formula.dataset, real)
        if _same(m.dataset, real) or divisor:
            read = [m.dataset, *([m.formula.dataset] if isinstance(m.formula, Per) and m.formula.dataset else [])]
            readers.append(Reader("metric", m.name, (Use("", tuple(cols)),), tuple(dict.fromkeys(read))))

    readers += _questions(wh, real, ctx)
    return Lineage(real, tuple(_with_visibility(cat, readers, ctx)), tuple(dict.fromkeys(f.problems)))


def _questions(wh: Warehouse, dataset: str, ctx: context.Context) -> list[Reader]:
    """问数 questions the audit log recorded with this dataset pinned (others cannot be attributed), grouped by
    text; another user's question is visible only to callers who may read the audit log."""
    sees_all = access.allowed(ctx, "audit.read")
    grouped: dict[str, dict[str, Any]] = {}
    for e in audit.entries(wh, action="ask", limit=MAX_QUESTIONS):
        try:
            table = json.loads(e.detail).get("table") if e.detail.startswith("{") else None
        except ValueError:
            continue
        if not isinstance(table, str) or not _same(table, dataset) or not e.target:
            continue
        g = grouped.setdefault(e.target, {"times": 0, "visible": False})
        g["times"] += 1
        g["visible"] = g["visible"] or sees_all or e.user == ctx.user
    return [Reader("question", q, (), (dataset,), g["visible"], f"提问 {g['times']} 次")
            for q, g in grouped.items()]


def _with_visibility(cat: Catalog, readers: list[Reader], ctx: context.Context) -> list[Reader]:
    """Each reader marked with whether `ctx` may see it (see the module docstring)."""
    verdicts: dict[str, bool] = {}

    def can_read(name: str) -> bool:
        key = name.lower()
        if key not in verdicts:
            try:
                verdicts[key] = readable(ctx, name, cat.governance(name)) is None
            except UserFacingError:  # a dataset that no longer exists: nothing to hide
                verdicts[key] = True
        return verdicts[key]

    need = {"board": "boards.view", "chart": "datasets.read", "metric": "datasets.read",
            "alert": "alerts.manage", "briefing": "alerts.manage"}
    out = []
    for r in readers:
        if r.kind == "question":
            out.append(r)
            continue
        ok = access.allowed(ctx, need[r.kind]) and all(can_read(d) for d in r.datasets)
        out.append(r if ok else Reader(r.kind, r.name, r.uses, r.datasets, False, r.note))
    return out


# ---------------------------------------------------------------------------- what the CLI and pages ask
class WouldBreak(UserFacingError):
    """A replace or delete refused because saved readers would stop working (the CLI without --force)."""


def replace_check(wh: Warehouse, dataset: str, new: Mapping[str, str]) -> tuple[Lineage, list[Broken]]:
    """The dataset's readers and those a version with columns `new` (name → logical type) would break."""
    lin = find_readers(wh, dataset)
    return lin, lin.would_break(Catalog(wh).get(dataset).columns, new)


def refuse_breaking_replace(wh: Warehouse, dataset: str, new: Mapping[str, str], *,
                            what: str = "新文件", hint: str = "请把文件的列名改回与数据集一致后再导入") -> None:
    """Raise WouldBreak (Chinese, every broken reader named) when the replace would break a reader.

    `what` names the new version in the message (新文件, 数据源的新数据), `hint` how to avoid it."""
    if not Catalog(wh).exists(dataset):
        return
    _refuse(*replace_check(wh, dataset, new), f"没有替换：{what}", f"{hint}；确认要替换请加 --force")


def _refuse(lin: Lineage, broken: list[Broken], head: str, hint: str) -> None:
    """WouldBreak naming every broken reader, when there is one (the message of replace and restore)."""
    if broken:
        raise WouldBreak(f"{head}会使 {len(broken)} 个已保存的对象失效（{lin.summary()}）——"
                         + "；".join(broken_text(broken)) + "。", hint=hint)


def refuse_breaking_source_replace(wh: Warehouse, dataset: str, new: Mapping[str, str]) -> None:
    """A data source's replace that would break saved readers is refused (citybi.refresh.guard_replaces):
    the run fails with every broken reader named, and the dataset stays as it was."""
    refuse_breaking_replace(wh, dataset, new, what="数据源的新数据",
                            hint="上游的列名或类型变了，请先与数据提供方核对，或先修改这些对象")


def restore_check(wh: Warehouse, dataset: str, version: int) -> tuple[Lineage, list[Broken]]:
    """The dataset's readers and those making version `version` current again would break
    (an older version may lack a column a board was built on since)."""
    return replace_check(wh, dataset, Catalog(wh).version_types(dataset, version))


def refuse_breaking_restore(wh: Warehouse, dataset: str, version: int) -> None:
    """Raise WouldBreak when restoring `version` would break a saved reader (the CLI without --force)."""
    _refuse(*restore_check(wh, dataset, version), f"没有恢复：第 {version} 版",
            "请先修改这些看板、图表、预警和指标；确认要恢复请加 --force")


def refuse_breaking_delete(wh: Warehouse, dataset: str) -> Lineage:
    lin = find_readers(wh, dataset)
    broken = lin.on_delete()
    if broken:
        shown = [r.label for r in broken if r.visible]
        hidden = len(broken) - len(shown)
        raise WouldBreak(f"没有删除：{lin.summary()}，删除后它们会失效：" + "、".join(shown)
                         + (f"（另有 {hidden} 个您无权查看）" if hidden else "") + "。",
                         hint="请先修改或删除这些看板、图表、预警和指标；确认要删除请加 --force")
    return lin


# ---------------------------------------------------------------------------- `citybi datasets lineage|delete`
def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `lineage` and `delete` under `citybi datasets` (cli.py calls this)."""
    li = sub.add_parser("lineage", help="数据血缘：哪些看板、图表、预警、简报、指标和提问使用这个数据集")
    li.add_argument("name", help="数据集名称")
    li.add_argument("--db", dest="lineage_db", help="数据仓库文件（默认 data/citybi.duckdb）")
    li.add_argument("--json", dest="lineage_json", action="store_true")
    li.add_argument("--as", dest="lineage_as", metavar="NAME",
                    help="以该用户的身份查看（只列出其有权查看的对象，其余只计数）")
    li.set_defaults(func=cmd_lineage)
    de = sub.add_parser("delete", help="删除数据集（有看板、图表等在用时拒绝，除非加 --force）")
    de.add_argument("name", help="数据集名称")
    de.add_argument("--db", dest="lineage_db", help="数据仓库文件（默认 data/citybi.duckdb）")
    de.add_argument("--force", action="store_true", help="即使有看板、图表、预警或指标在用也删除")
    de.set_defaults(func=cmd_delete)


def _open(args: argparse.Namespace) -> Warehouse:
    from citybi.catalog import open_warehouse
    from citybi.config import load_settings

    return open_warehouse(load_settings(args.lineage_db or args.db))


def _as(wh: Warehouse, name: str | None) -> context.Context:
    """Who `--as NAME` is (the operator without it); an unknown user is refused in Chinese."""
    if not name:
        return context.SYSTEM
    from citybi.accounts import Accounts

    acc = Accounts(wh)
    if acc.find(name) is None:
        raise UserFacingError(f"用户「{name}」不存在。", hint="可用 citybi users list 查看已有的用户")
    return acc.context_for(name)


def cmd_lineage(args: argparse.Namespace) -> int:
    with _open(args) as wh:
        lin = find_readers(wh, args.name, ctx=_as(wh, args.lineage_as))
    if args.lineage_json or args.json:
        from citybi.jsonable import json_safe

        print(json.dumps(json_safe(lin.to_json()), ensure_ascii=False))
        return 0
    print(f"数据集「{lin.dataset}」：{lin.summary()}" + (f"（{lin.hidden_text()}）" if lin.hidden_text() else ""))
    for r in lin.readers:
        cols = "、".join(r.columns)
        print(f"  {r.label}" + (f"（{r.note}）" if r.note else "") + (f"：用到列 {cols}" if cols else ""))
    for p in lin.problems:
        print(f"  注意：无法读取 {p}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with _open(args) as wh:
        cat = Catalog(wh)
        real = cat.get(args.name).name
        lin = find_readers(wh, real) if args.force else refuse_breaking_delete(wh, real)
        cat.delete(real)
    print(f"已删除数据集「{real}」。")
    if args.force and lin.on_delete():
        print(f"注意：{lin.summary()}，它们现在会显示数据集不存在。")
    return 0
