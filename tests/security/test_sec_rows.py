"""Row-level security (issue 10, items 3 and 8): every read path × every attack → only the
caller's rows, or a refusal with a Chinese message.

The caller is a 临江区 user of 城管局 (分析员, so the SQL box is open to them). "Only their rows"
is checked against a direct SYSTEM query of the same rows (the same spec, board, question or
SQL with 区 = 临江区 added), never only by looking for other names. The sample city has six
districts; 北港区 is the one the attacks ask for.

Paths: chart spec (run_chart) · board tiles (run_board, in a thread pool) · KPI card · 问数 ·
SQL box · the map page's queries (choropleth spec, points_query) · Excel export of a board ·
distinct values / profile (top_values, date_span, board filter options, 问数's learned values).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from sqlglot import exp

from citybi import context, nlq, sqlbox
from citybi.access import AccessDenied
from citybi.boards import BoardStore, default_values, dimension_options, run_board
from citybi.catalog import Catalog, CatalogDirectory, open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.geo import points_query
from citybi.charts.profile import date_span, top_values
from citybi.charts.runner import run_chart
from citybi.charts.spec import ChartSpec, Dimension, Measure, ValueFilter
from citybi.charts.store import ChartStore
from citybi.config import QUERIES_DIR
from citybi.context import SYSTEM, Context, Scope
from citybi.errors import QueryRejected, UserFacingError
from citybi.export import export_board
from citybi.nlq.vocab import build_vocabulary
from citybi.rowrules import Governance
from citybi.warehouse import Warehouse

TODAY = dt.date(2025, 6, 30)
MINE = "临江区"
LJ = Context("临江分析员", "analyst", Scope("城管局", frozenset({MINE})))
LJ_CLERK = Context("临江科员", "clerk", Scope("城管局", frozenset({MINE})))
STREET = Context("滨江街道员", "analyst", Scope("城管局", None, frozenset({"滨江街道"})))
NOBODY = Context("无区", "analyst", Scope("城管局", frozenset()))


@pytest.fixture(scope="module")
def city(sample_copy: Callable[[str], Path]) -> Iterator[Warehouse]:
    """The sample city plus two copies of 环卫清运: one whose district column has a name the
    importer does not recognise (so it is not governed), one imported as-is (governed at import)."""
    wh = open_warehouse(path=sample_copy("rows"))
    cat = Catalog(wh)
    rows = wh.run(exp.select("*").from_(exp.to_table('"环卫清运"')), max_rows=100_000).frame
    cat.write("清运副本", rows.rename({"区": "片区"}))  # ungoverned: 片区 is no district name we know
    cat.write("清运拷贝", rows)  # auto-governed: 区 and 街道 found by name
    cat.write("全市指标", pl.DataFrame({"指标": ["常住人口"], "值": [300.0]}))
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def app_wh(city: Warehouse) -> Warehouse:
    """The same file opened the way the web app opens it: no context → refused."""
    return Warehouse(city.settings, directory=CatalogDirectory(), require_context=True)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[ChartStore, BoardStore]:
    tmp = tmp_path_factory.mktemp("rows_stores")
    return (ChartStore(tmp / "charts", [QUERIES_DIR / "charts"]), BoardStore(tmp / "boards", [QUERIES_DIR / "boards"]))


def _as(ctx: Context, fn: Callable[[], Any]) -> Any:
    with context.use(ctx):
        return fn()


def _sys_sql(wh: Warehouse, sql: str) -> pl.DataFrame:
    return _as(SYSTEM, lambda: sqlbox.run_sql(wh, sql).frame)


def _same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns
    assert sorted(map(repr, a.rows())) == sorted(map(repr, b.rows()))


def _districts(frame: pl.DataFrame, column: str = "区") -> set[Any]:
    return set(frame.get_column(column).to_list())


def _refused(err: BaseException, words: str = "") -> None:
    assert isinstance(err, (QueryRejected, AccessDenied)), type(err)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err.message), err.message
    assert words in err.message, err.message


BAR = ChartSpec(title="各区清运量", dataset="环卫清运", type="bar", dimensions=[Dimension(column="区")],
                measures=[Measure(column="清运量（吨）", agg="sum")])
KPI = ChartSpec(title="清运量", dataset="环卫清运", type="kpi", measures=[Measure(column="清运量（吨）", agg="sum")],
                options={"date_column": "日期", "grain": "月", "sparkline": 6})


def _mine(spec: ChartSpec) -> ChartSpec:
    return spec.model_copy(update={"filters": [*spec.filters, ValueFilter(op="in", column="区", values=[MINE])]})


# ---------------------------------------------------------------------------- chart spec, KPI card
@pytest.mark.parametrize(("attack", "filters", "expect_rows"), [
    ("no attack", [], True),
    ("filter on another district", [ValueFilter(op="in", column="区", values=["北港区"])], False),
    ("OR 1=1 in a filter value", [ValueFilter(op="in", column="区", values=["北港区' OR 1=1 --"])], False),
    ("every district listed", [ValueFilter(op="in", column="区", values=[
        "临江区", "云湖区", "北港区", "望山区", "松岭区", "青禾新区"])], True),
])
def test_chart_spec(city: Warehouse, attack: str, filters: list[ValueFilter], expect_rows: bool) -> None:
    spec = BAR.model_copy(update={"filters": filters})
    got = _as(LJ, lambda: run_chart(city, spec, render=False, cache=ResultCache()).frame)
    want = run_chart(city, _mine(spec), render=False, cache=ResultCache()).frame
    _same(got, want)
    assert _districts(got) == ({MINE} if expect_rows else set())


@pytest.mark.parametrize("filters", [[], [ValueFilter(op="in", column="区", values=["北港区"])]],
                         ids=["no attack", "filter on another district"])
def test_kpi_card(city: Warehouse, filters: list[ValueFilter]) -> None:
    spec = KPI.model_copy(update={"filters": filters})
    got = _as(LJ, lambda: run_chart(city, spec, today=TODAY, cache=ResultCache()))
    want = run_chart(city, _mine(spec), today=TODAY, cache=ResultCache())
    for name, frame in got.frames.items():
        _same(frame, want.frames[name])
    assert got.output.value == want.output.value
    total = run_chart(city, spec, today=TODAY, cache=ResultCache()).output.value
    assert got.output.value is None if filters else got.output.value < total


def test_one_cache_never_answers_another_scope(city: Warehouse) -> None:
    cache = ResultCache()
    everyone = run_chart(city, BAR, render=False, cache=cache).frame
    mine = _as(LJ, lambda: run_chart(city, BAR, render=False, cache=cache).frame)
    again = run_chart(city, BAR, render=False, cache=cache).frame
    assert _districts(mine) == {MINE} and len(_districts(everyone)) == 6
    _same(again, everyone)
    assert _districts(_as(NOBODY, lambda: run_chart(city, BAR, render=False, cache=cache).frame)) == set()


# ---------------------------------------------------------------------------- board tiles, Excel export
def test_board_tiles_run_as_the_caller_in_the_pool(city: Warehouse, stores: tuple[ChartStore, BoardStore]) -> None:
    charts, boards = stores
    board = boards.load("环卫运行")
    values = default_values(board)
    got = _as(LJ, lambda: run_board(city, board, charts=charts, values=values, today=TODAY, cache=ResultCache(),
                                    workers=4, render=False))
    mine = dataclasses.replace(values, dimensions={**values.dimensions, "区": (MINE,)})
    want = run_board(city, board, charts=charts, values=mine, today=TODAY, cache=ResultCache(), render=False)
    assert [t.error for t in got.tiles] == [None] * len(board.tiles)
    for g, w in zip(got.tiles, want.tiles, strict=True):
        assert g.result is not None and w.result is not None
        for name, frame in g.result.frames.items():
            _same(frame, w.result.frames[name])
            if "区" in frame.columns:
                assert _districts(frame) <= {MINE}


def test_board_kpi_targets_are_the_scope_s_own(city: Warehouse, stores: tuple[ChartStore, BoardStore]) -> None:
    # a 临江区 caller's card is measured against 临江区's target — what SYSTEM sees with 区 = 临江区 —
    # never the city's sum; a filter on a district outside the scope gets no target at all
    charts, boards = stores
    board = boards.load("环卫运行")
    values = default_values(board)
    got = _as(LJ, lambda: run_board(city, board, charts=charts, values=values, today=TODAY, cache=ResultCache(),
                                    render=False))
    mine = dataclasses.replace(values, dimensions={**values.dimensions, "区": (MINE,)})
    want = run_board(city, board, charts=charts, values=mine, today=TODAY, cache=ResultCache(), render=False)
    cards = [(g, w) for g, w in zip(got.tiles, want.tiles, strict=True) if g.tile.targets is not None]
    assert cards
    for g, w in cards:
        assert g.result is not None and w.result is not None
        assert g.result.spec.options.get("target") == w.result.spec.options.get("target") is not None
        assert g.target_note == w.target_note and MINE in g.target_note, (g.target_note, w.target_note)
        assert not any("不一定是按这个范围设定的" in x for x in g.result.warnings), g.result.warnings
    elsewhere = dataclasses.replace(values, dimensions={**values.dimensions, "区": ("北港区",)})
    out = _as(LJ, lambda: run_board(city, board, charts=charts, values=elsewhere, today=TODAY, cache=ResultCache(),
                                    render=False))
    for t in out.tiles:
        if t.tile.targets is not None:
            assert t.result is not None and t.result.spec.options.get("target") is None
            assert t.target_note == "无适用目标：所选的区不在您的数据权限内", t.target_note


def test_excel_export_holds_only_the_scope(city: Warehouse, stores: tuple[ChartStore, BoardStore]) -> None:
    charts, boards = stores
    board = boards.load("环卫运行")
    run = _as(LJ, lambda: run_board(city, board, charts=charts, today=TODAY, cache=ResultCache()))
    book = openpyxl.load_workbook(io.BytesIO(export_board(run)), read_only=True)
    cells = {str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row if v}
    others = {"云湖区", "北港区", "望山区", "松岭区", "青禾新区"}
    streets = set(_sys_sql(city, "SELECT DISTINCT 街道 FROM 环卫清运 WHERE 区 <> '临江区'").get_column("街道"))
    assert MINE in cells
    assert not cells & (others | streets), sorted(cells & (others | streets))


# ---------------------------------------------------------------------------- 问数
@pytest.mark.parametrize(("question", "sql_for_mine"), [
    ("北港区的清运量是多少", "SELECT sum(\"清运量（吨）\") FROM 环卫清运 WHERE 区 = '临江区'"),
    ("各区清运量", "SELECT 区, sum(\"清运量（吨）\") FROM 环卫清运 WHERE 区 = '临江区' GROUP BY 区"),
    ("北港区和临江区的工单数", "SELECT count(*) FROM 热线工单 WHERE 区 = '临江区'"),
    ("列出北港区的网格事件", None),
])
def test_question(city: Warehouse, question: str, sql_for_mine: str | None) -> None:
    datasets = Catalog(city).datasets()
    ans = _as(LJ, lambda: nlq.answer(question, datasets, lambda t: city.run(t), today=TODAY))
    assert ans.status == "ok", ans.message
    assert "按您的数据权限，只包含：临江区" in ans.reading
    if "北港" in question:
        assert "「北港」不在您可见的数据中" in ans.message, ans.message
    if sql_for_mine is not None:
        want = _sys_sql(city, sql_for_mine)
        assert sorted(map(repr, ans.rows)) == sorted(map(repr, want.rows()))
    if "区" in ans.columns:
        assert {r[ans.columns.index("区")] for r in ans.rows} <= {MINE}


def test_learned_values_are_the_scope_s(city: Warehouse) -> None:
    info = Catalog(city).get("环卫清运")
    everyone = build_vocabulary(info, lambda t: city.run(t)).values["区"]
    mine = _as(LJ, lambda: build_vocabulary(info, lambda t: city.run(t)).values["区"])
    assert mine == [MINE] and len(everyone) == 6
    examples = " ".join(_as(LJ, lambda: nlq.examples(info, lambda t: city.run(t))))
    assert not any(d in examples for d in ("云湖区", "北港区", "望山区", "松岭区", "青禾新区"))


# ---------------------------------------------------------------------------- distinct values, profile, map
def test_distinct_values_and_profile(city: Warehouse, stores: tuple[ChartStore, BoardStore]) -> None:
    charts, boards = stores
    cache = ResultCache()
    assert len(top_values(city, "环卫清运", "区", 20, cache)) == 6  # warm the cache as SYSTEM first
    assert _as(LJ, lambda: top_values(city, "环卫清运", "区", 20, cache)) == [MINE]
    assert _as(LJ, lambda: dimension_options(city, boards.load("环卫运行"), "区", charts=charts, cache=cache)) == [MINE]
    streets = _as(LJ, lambda: dimension_options(city, boards.load("环卫运行"), "街道", charts=charts, cache=cache))
    want = _sys_sql(city, "SELECT DISTINCT 街道 FROM 环卫清运 WHERE 区 = '临江区'").get_column("街道").to_list()
    assert sorted(streets) == sorted(want)
    span = _as(NOBODY, lambda: date_span(city, "环卫清运", "日期", cache))
    assert span is None  # no rows in scope: no dates either


def test_map_queries(city: Warehouse) -> None:
    spec = ChartSpec(title="全市一张图", dataset="网格事件", type="map", dimensions=[Dimension(column="区")],
                     measures=[Measure(column="*", agg="count")])
    got = _as(LJ, lambda: run_chart(city, spec, render=False, cache=ResultCache()).frame)
    _same(got, run_chart(city, _mine(spec), render=False, cache=ResultCache()).frame)
    info = Catalog(city).get("网格事件")
    tree = points_query(info, "经度", "纬度", category="区")
    points = _as(LJ, lambda: city.run(tree, max_rows=50_000).frame)
    want = _sys_sql(city, "SELECT count(*) FROM 网格事件 WHERE 区 = '临江区' AND 经度 IS NOT NULL AND 纬度 IS NOT NULL")
    assert _districts(points, "category") == {MINE} and points.height == want.item()


# ---------------------------------------------------------------------------- SQL box
ONLY_MINE = "only mine"
NOTHING = "no rows"
SQL_ATTACKS: list[tuple[str, str, str]] = [
    ("filter on another district", "SELECT 区, 清运量（吨） FROM 环卫清运 WHERE 区 = '北港区'", NOTHING),
    ("OR 1=1", "SELECT 区 FROM 环卫清运 WHERE 区 = '北港区' OR 1=1", ONLY_MINE),
    ("UNION", "SELECT 区 FROM 环卫清运 UNION ALL SELECT 区 FROM 热线工单 UNION SELECT 区 FROM 网格事件", ONLY_MINE),
    ("subquery in FROM", "SELECT 区 FROM (SELECT * FROM (SELECT * FROM 环卫清运)) AS x", ONLY_MINE),
    ("IN subquery", "SELECT 区 FROM 区县概况 WHERE 区 IN (SELECT 区 FROM 环卫清运 WHERE 区 = '北港区') OR 1=1",
     ONLY_MINE),
    ("EXISTS subquery", "SELECT 区 FROM 热线工单 h WHERE EXISTS (SELECT 1 FROM 网格事件 g WHERE g.区 = h.区)",
     ONLY_MINE),
    ("scalar subquery", "SELECT (SELECT max(区) FROM 环卫清运) AS 区", ONLY_MINE),
    ("CTE", "WITH a AS (SELECT * FROM 环卫清运), b AS (SELECT * FROM a) SELECT 区 FROM b", ONLY_MINE),
    ("CTE shadowing a dataset name",
     "WITH 环卫清运 AS (SELECT * FROM 清运拷贝) SELECT 区 FROM 环卫清运", ONLY_MINE),
    ("join", "SELECT h.区 FROM 环卫清运 h JOIN 区县概况 k ON true", ONLY_MINE),
    ("LATERAL", "SELECT k.区 FROM 区县概况 k, LATERAL (SELECT count(*) AS n FROM 环卫清运 h WHERE h.区 = k.区) c",
     ONLY_MINE),
    ("qualified main.name", "SELECT 区 FROM main.环卫清运", ONLY_MINE),
    ("a governed copy", "SELECT 区 FROM 清运拷贝", ONLY_MINE),
    ("join to an ungoverned copy", "SELECT h.区, c.片区 FROM 环卫清运 h JOIN 清运副本 c ON h.日期 = c.日期", "refused"),
    ("read the ungoverned copy", "SELECT 片区 FROM 清运副本", "refused"),
    ("a dataset without district column", "SELECT * FROM 全市指标", "refused"),
    ("the physical version table", "SELECT * FROM _citybi.ds_1_v1", "refused"),
    ("read_csv('/etc/passwd')", "SELECT * FROM read_csv('/etc/passwd')", "refused"),
    ("ATTACH", "ATTACH '/tmp/x.duckdb' AS x", "refused"),
    ("COPY TO", "COPY (SELECT * FROM 环卫清运) TO '/tmp/out.csv'", "refused"),
    ("SET", "SET enable_external_access = true", "refused"),
    ("two statements", "SELECT 1; SELECT * FROM 环卫清运", "refused"),
]


@pytest.mark.parametrize(("attack", "sql", "expect"), SQL_ATTACKS, ids=[a[0] for a in SQL_ATTACKS])
def test_sql_box(city: Warehouse, attack: str, sql: str, expect: str) -> None:
    if expect == "refused":
        with pytest.raises(UserFacingError) as err:
            _as(LJ, lambda: sqlbox.run_sql(city, sql))
        _refused(err.value)
        return
    got = _as(LJ, lambda: sqlbox.run_sql(city, sql))
    assert got.scope_note == "按您的数据权限，只包含：临江区"
    if expect == NOTHING:
        assert got.frame.height == 0
    else:
        assert _districts(got.frame) == {MINE}


def test_sql_box_matches_system_rows(city: Warehouse) -> None:
    sql = "SELECT 街道, count(*) AS n, sum(\"清运量（吨）\") AS t FROM 环卫清运 GROUP BY 街道"
    got = _as(LJ, lambda: sqlbox.run_sql(city, sql).frame)
    _same(got, _sys_sql(city, sql.replace("GROUP BY", "WHERE 区 = '临江区' GROUP BY")))


# ---------------------------------------------------------------------------- who may read which dataset
@pytest.mark.parametrize(("ctx", "dataset", "outcome"), [
    (LJ_CLERK, "环卫清运", "临江区"),  # their department's
    (LJ_CLERK, "热线工单", "refused"),  # 政务服务中心's
    (LJ, "热线工单", "临江区"),  # an analyst reads every department's, within the scope
    (STREET, "环卫清运", "滨江街道"),
    (STREET, "空气质量", "refused"),  # kept by district only: a street user cannot be narrowed on it
    (NOBODY, "环卫清运", "none"),
])
def test_dataset_level_rules(city: Warehouse, ctx: Context, dataset: str, outcome: str) -> None:
    spec = ChartSpec(title="t", dataset=dataset, type="table", dimensions=[Dimension(column="区"),
                     Dimension(column="街道" if dataset != "空气质量" else "监测站")],
                     measures=[Measure(column="*", agg="count")])
    if outcome == "refused":
        with pytest.raises(UserFacingError) as err:
            _as(ctx, lambda: run_chart(city, spec, render=False, cache=ResultCache()))
        _refused(err.value)
        return
    frame = _as(ctx, lambda: run_chart(city, spec, render=False, cache=ResultCache()).frame)
    if outcome == "none":
        assert frame.height == 0
    elif outcome == "滨江街道":
        assert _districts(frame, "街道") == {"滨江街道"}
    else:
        assert _districts(frame) == {outcome}


def test_public_dataset_is_read_whole_and_governance_is_admin_only(city: Warehouse) -> None:
    from citybi.govern import govern

    cat = Catalog(city)
    with pytest.raises(UserFacingError):
        _as(LJ, lambda: sqlbox.run_sql(city, "SELECT * FROM 全市指标"))
    with pytest.raises(AccessDenied):
        _as(LJ, lambda: govern(cat, "全市指标", public=True))
    _as(Context("admin", "admin"), lambda: govern(cat, "全市指标", public=True))
    assert cat.governance("全市指标") == Governance(public=True)
    got = _as(LJ, lambda: sqlbox.run_sql(city, "SELECT * FROM 全市指标"))
    assert got.frame.height == 1 and got.scope_note == ""
    govern(cat, "全市指标", public=False)


# ---------------------------------------------------------------------------- no context in the app's warehouse
@pytest.mark.parametrize("path", ["chart", "kpi", "board", "question", "sql", "map points", "distinct values"])
def test_no_context_in_the_app_is_refused(app_wh: Warehouse, stores: tuple[ChartStore, BoardStore], path: str) -> None:
    charts, boards = stores
    assert context.current() is None
    calls: dict[str, Callable[[], Any]] = {
        "chart": lambda: run_chart(app_wh, BAR, render=False, cache=ResultCache()),
        "kpi": lambda: run_chart(app_wh, KPI, render=False, cache=ResultCache()),
        "board": lambda: [t.error for t in run_board(app_wh, boards.load("环卫运行"), charts=charts, today=TODAY,
                                                     cache=ResultCache(), render=False).tiles],
        "question": lambda: nlq.answer("各区清运量", Catalog(app_wh).datasets(), lambda t: app_wh.run(t),
                                       today=TODAY).message,
        "sql": lambda: sqlbox.run_sql(app_wh, "SELECT 1 AS x"),
        "map points": lambda: app_wh.run(points_query(Catalog(app_wh).get("网格事件"), "经度", "纬度")),
        "distinct values": lambda: top_values(app_wh, "环卫清运", "区", 10, ResultCache()),
    }
    try:
        outcome = calls[path]()
    except QueryRejected as err:
        _refused(err, "请先登录")
        return
    # board tiles and 问数 turn a refusal into their own message instead of raising
    text = str(outcome)
    assert "请先登录" in text, text
    # ... and as the user, the same warehouse answers
    with context.use(LJ):
        assert run_chart(app_wh, BAR, render=False, cache=ResultCache()).frame.height == 1


def test_kpi_target_set_for_everyone_is_flagged_for_a_narrowed_card(city: Warehouse) -> None:
    spec = KPI.model_copy(update={"options": {**KPI.options, "target": 14000}})
    mine = _as(LJ, lambda: run_chart(city, spec, today=TODAY, cache=ResultCache()))
    assert any("目标值 14000 不一定是按这个范围设定的" in w for w in mine.warnings), mine.warnings
    assert run_chart(city, spec, today=TODAY, cache=ResultCache()).warnings == []


# ---------------------------------------------------------------------------- counts shown (数据集 page)
@pytest.mark.parametrize(("ctx", "dataset", "system_sql"), [
    (LJ, "环卫清运", "SELECT count(*) FROM 环卫清运 WHERE 区 = '临江区'"),
    (LJ, "热线工单", "SELECT count(*) FROM 热线工单 WHERE 区 = '临江区'"),
    (LJ_CLERK, "热线工单", None),  # another department's: not even how many rows it has
    (LJ, "清运副本", None),  # ungoverned copy
    (STREET, "环卫清运", "SELECT count(*) FROM 环卫清运 WHERE 街道 = '滨江街道'"),
    (NOBODY, "环卫清运", "SELECT 0"),
    (SYSTEM, "环卫清运", "SELECT count(*) FROM 环卫清运"),
])
def test_dataset_row_counts_are_the_scope_s(city: Warehouse, ctx: Context, dataset: str,
                                            system_sql: str | None) -> None:
    # the 数据集 page's 行数 column, preview total and current version's count all come from visible_rows
    cat = Catalog(city)
    info = cat.get(dataset)
    got = _as(ctx, lambda: cat.visible_rows(info))
    want = None if system_sql is None else int(_sys_sql(city, system_sql).item())
    assert got == want
    if ctx is not SYSTEM and want is not None:
        assert want < info.row_count  # the whole-table count would have told more
