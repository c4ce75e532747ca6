"""问数: Chinese questions over any loaded table — rule-based, offline, explained, honest.

question → rules (citybi.nlq.rules, one module each) fill a typed QuerySpec → plan.build
makes one sqlglot SELECT → `execute` runs it on the locked-down warehouse. Every answer
carries the reading (what we understood, in Chinese), the pretty SQL and the chart kind;
a question we cannot answer honestly comes back "unsupported" with example questions.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlglot import exp

from citybi.schema import DatasetInfo

from .context import ParseContext, Stop
from .model import Answer, QuerySpec
from .plan import LIST_CAP, RATIO_LABELS, build, days_with_data, percent_metric
from .reading import chart_kind, reading, suggestions
from .route import pick
from .rules import all_rules
from .text import OutOfRange
from .vocab import build_vocabulary

__all__ = ["MAX_QUESTION_CHARS", "Answer", "QuerySpec", "answer", "ask_batch", "examples", "parse", "plan"]

# Every rule scans the question character by character against every table's vocabulary: a
# 100 KB paste took seconds and hundreds of MB. Real questions are under 70 characters.
MAX_QUESTION_CHARS = 200

Execute = Callable[[exp.Expression], Any]


def parse(question: str, ds: DatasetInfo, execute: Execute, today: dt.date,
          prior: QuerySpec | None = None, others: Sequence[DatasetInfo] = ()) -> ParseContext:
    """Run every registered rule over the question for one table (no query is run here
    except the cached value learning). `prior` is the previous turn of a conversation;
    `others` are the warehouse's other tables (a divisor such as 常住人口 may live there)."""
    ctx = ParseContext(question, ds, build_vocabulary(ds, execute), today, prior=prior,
                       other_tables=lambda: [(d, build_vocabulary(d, execute)) for d in others if d.name != ds.name])
    try:
        for rule in all_rules():
            rule.apply(ctx)
    except Stop:
        pass
    except OutOfRange as err:  # 1e309, 2月30日, 最近99999999999999天: say so rather than guess
        ctx.refusal, ctx.refusal_status = err.message, "unsupported"
    return ctx


def plan(question: str, ds: DatasetInfo, execute: Execute, today: dt.date,
         prior: QuerySpec | None = None, others: Sequence[DatasetInfo] = ()) -> tuple[ParseContext, exp.Select | None]:
    ctx = parse(question, ds, execute, today, prior, others)
    if ctx.refusal or ctx.spec is None:
        return ctx, None
    return ctx, build(ctx.spec, ds)


def _refusal(ctx: ParseContext | None, message: str, datasets: Sequence[DatasetInfo], execute: Execute,
             status: str = "unsupported") -> Answer:
    ds = ctx.dataset if ctx else (datasets[0] if datasets else None)
    sugg: list[str] = []
    if ds is not None:
        sugg = suggestions(ds, ctx.vocab if ctx else build_vocabulary(ds, execute))
    return Answer(status=status, message=message, table=ds.name if ctx and ds else None, suggestions=sugg,
                  notes=list(ctx.notes) if ctx else [])


def answer(question: str, datasets: Sequence[DatasetInfo], execute: Execute, *,
           today: dt.date, table: str | None = None, after: QuerySpec | dict[str, Any] | None = None) -> Answer:
    """Answer one question. `table` pins the table; otherwise the best-matching one is used.
    `after` is the spec of the previous turn: a follow-up ("那这个月呢") continues it."""
    question = (question or "").strip()
    # example questions come from the table the user picked, not always the first one
    picked = [d for d in datasets if table is not None and table in (d.name, d.display_name)] or list(datasets)
    if not question:
        return _refusal(None, "请输入一个问题，例如下面这些。", picked, execute)
    if len(question) > MAX_QUESTION_CHARS:
        return _refusal(None, f"问题太长（{len(question):,} 个字）。请把问题缩短到 {MAX_QUESTION_CHARS} 个字以内，"
                        "一次只问一件事，例如下面这些。", picked, execute)
    if not datasets:
        return Answer(status="unsupported", message="还没有导入任何数据表。请先在「数据」页导入一个表格。")
    prior = QuerySpec.from_dict(after) if isinstance(after, dict) else after
    if prior is not None:
        base = next((d for d in datasets if d.name == prior.table), None)
        if base is not None and (table is None or table in (base.name, base.display_name)):
            ctx, tree = plan(question, base, execute, today, prior, datasets)
            if ctx.followup:
                return _finish(ctx, tree, datasets, execute, today, [], [])
    routed_note = ""
    if table is not None:
        chosen = [d for d in datasets if d.name == table or d.display_name == table]
        if not chosen:
            names = "、".join(d.name for d in datasets)
            return Answer(status="unsupported", message=f"没有名为「{table}」的数据表。可用的表：{names}。")
        ctx, tree = plan(question, chosen[0], execute, today, None, datasets)
        close: list[ParseContext] = []
    else:
        parsed = [plan(question, d, execute, today, None, datasets) for d in datasets]
        winner, close = pick(parsed, lambda p: (p[0].coverage, p[1] is not None, _unused_chars(p[0])))
        if winner is None:
            # nothing in any table matched: the refusal of the first table explains why
            first = parsed[0][0]
            msg = first.refusal or "问题里没有找到任何数据表里的列或取值，无法回答。"
            return _refusal(first if first.refusal else None, msg, datasets, execute)
        ctx, tree = winner
        close = [c for c, _t in close]
        if len(datasets) > 1:
            routed_note = f"自动选择了数据表「{ctx.dataset.name}」（问题里的列和取值与它最匹配）。"
    return _finish(ctx, tree, datasets, execute, today, [routed_note] if routed_note else [], close)


def _unused_chars(ctx: ParseContext) -> int:
    return sum(len(w) for w in ctx.spec.unused) if ctx.spec is not None else 0


def _finish(ctx: ParseContext, tree: exp.Select | None, datasets: Sequence[DatasetInfo], execute: Execute,
            today: dt.date, notes: list[str], close: list[ParseContext]) -> Answer:
    """Run the planned query and dress the rows as an Answer (or the parse's refusal)."""
    if ctx.refusal or tree is None:
        return _refusal(ctx, ctx.refusal or "无法理解这个问题。", datasets, execute, ctx.refusal_status)
    spec = ctx.spec
    assert spec is not None
    sql = tree.sql(dialect="duckdb", pretty=True)
    notes = notes + ctx.notes
    inherited = list(ctx.inherited)
    if inherited:
        notes.insert(0, "接着上一问：沿用了" + "；".join(inherited) + "。")
    alternatives = list(ctx.alternatives)
    if close:
        alternatives += [c.dataset.name for c in close]
        notes.append("另有表同样匹配：" + "、".join(c.dataset.name for c in close) + "，可以指定表再问。")
    try:
        result = execute(tree)
    except Exception as e:  # QueryRejected / UserFacingError carry a Chinese message
        msg = getattr(e, "message", None) or "查询没有成功执行。"
        return Answer(status="unsupported", message=msg, reading=reading(spec), table=spec.table, sql=sql,
                      spec=spec.to_dict(), notes=notes, suggestions=suggestions(ctx.dataset, ctx.vocab),
                      inherited=inherited)
    rows = [tuple(r) for r in result.rows]
    columns = list(result.columns)
    truncated = bool(getattr(result, "truncated", False))
    if truncated:  # the warehouse's row cap
        notes.append(f"结果超过 {len(rows):,} 行，只列出了前 {len(rows):,} 行；请增加筛选条件，或用「前N名」缩小范围。")
    elif spec.kind in ("lookup", "list") and not spec.limit and len(rows) >= LIST_CAP:
        truncated = True
        notes.append(f"明细最多列出 {LIST_CAP:,} 行，这里只列出了前 {len(rows):,} 行，可能还有更多；"
                     "请增加筛选条件缩小范围。")
    scope = getattr(result, "scope_note", "")  # the door narrowed the rows to the asker's scope: say so
    if scope and spec.unused:
        # values outside the scope were never learned, so 北港区 asked by a 临江区 user ends up unused
        words = "、".join(f"「{w}」" for w in spec.unused)
        notes.append(f"问题里的{words}不在您可见的数据中，没有用作条件；{scope}。")
    partial = _partial_period(spec, ctx.dataset, execute, today)
    if partial:
        notes.append(partial)
    message = "；".join(notes) if notes else ""
    if not rows:
        message = ("没有符合条件的数据。" + message).rstrip("；")
    return Answer(status="ok", message=message, reading=reading(spec) + (f"；{scope}" if scope else ""),
                  table=spec.table, sql=sql, columns=columns, rows=rows, chart=chart_kind(spec, rows, columns),
                  alternatives=alternatives,
                  spec=spec.to_dict(), notes=notes, truncated=truncated,
                  percent_columns=[c for c in columns if c.endswith(RATIO_LABELS) or any(
                      c.endswith(n) and percent_metric(spec, n) for n in _metric_names(spec))],
                  inherited=inherited)


def _metric_names(spec: QuerySpec) -> list[str]:
    if not spec.metric:
        return []
    return list(spec.metric.get("names") or [spec.metric["name"]])


def _partial_period(spec: QuerySpec, ds: DatasetInfo, execute: Execute, today: dt.date) -> str:
    """这周 on a Saturday, 本月 on the 3rd: say how many days of the period have data so far."""
    if not spec.time_range or not spec.time_column or spec.time_range[1] < today.isoformat() or spec.compare:
        return ""
    info = ds.column(spec.time_column)
    lo, hi = spec.time_range
    if info is None or not info.is_temporal or (dt.date.fromisoformat(hi) - dt.date.fromisoformat(lo)).days > 31:
        return ""  # a year that is half over is not news; a week with one day of data is
    try:
        got = execute(days_with_data(spec, ds))
        n, first, last = got.rows[0]
    except Exception:  # only a courtesy note: never fail the answer for it
        return ""
    what = f"「{spec.time_text}」" if spec.time_text else "所选时期"
    if not n:
        return f"{what}（{lo} 至 {hi}）还没有数据。"
    return (f"{what}（{lo} 至 {hi}）还没有结束，目前只有 {n} 天的数据"
            f"（{_iso(first)}" + (f" 至 {_iso(last)}）。" if n > 1 else "）。"))


def _iso(v: Any) -> str:
    return v.isoformat()[:10] if hasattr(v, "isoformat") else str(v)[:10]


def ask_batch(lines: Iterable[dict], datasets: Sequence[DatasetInfo], execute: Execute,
              today: dt.date) -> Iterator[dict]:
    """One JSON-safe dict per input {"id", "question", "table"?, "after"?}, same order, id echoed.

    "after": ID makes the line a follow-up turn of the conversation of that earlier line.
    A turn that could not be answered passes its own previous turn on, so one refusal in
    the middle of a conversation does not end it."""
    state: dict[Any, QuerySpec | None] = {}
    for line in lines:
        qid = line.get("id")
        prior = state.get(line["after"]) if line.get("after") is not None else None
        try:
            a = answer(str(line.get("question", "")), datasets, execute, today=today, table=line.get("table"),
                       after=prior)
        except Exception as e:  # one bad question must not end the batch
            a = Answer(status="unsupported", message=getattr(e, "message", None) or f"内部错误：{type(e).__name__}")
        state[qid] = QuerySpec.from_dict(a.spec) if a.status == "ok" and a.spec else prior
        yield a.to_json(id=qid)


def examples(ds: DatasetInfo, execute: Execute, n: int = 6) -> list[str]:
    """Example questions for the 问数 page, built from this table's own columns and values."""
    return suggestions(ds, build_vocabulary(ds, execute), n=n)

