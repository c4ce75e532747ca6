"""Boards: YAML round trip, strict schema errors in Chinese, the shipped default boards and
charts running on the sample city, board filters, and the Excel export.

The sample data ends on 2025-06-30 (a Monday), which is the boards' "today" here.
Expected figures are computed independently with plain DuckDB SQL on the same file.
"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from citybi.boards import (
    Board,
    BoardStore,
    FilterValues,
    Tile,
    board_today,
    dimension_options,
    dump_board,
    filter_columns,
    load_board,
    run_board,
)
from citybi.catalog import Catalog, open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.kpi import KpiValue
from citybi.charts.runner import run_chart
from citybi.charts.spec import ChartSpecError, load_spec
from citybi.charts.store import ChartStore, StoreError, check_name
from citybi.config import QUERIES_DIR
from citybi.errors import NotFound
from citybi.export import excel_format, export_board, sheet_names
from citybi.warehouse import Warehouse

D = dt.date
TODAY = D(2025, 6, 30)
CHART_FILES = sorted((QUERIES_DIR / "charts").glob("*.yaml"))
BOARD_FILES = sorted((QUERIES_DIR / "boards").glob("*.yaml"))
INJECT = ["=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(A1)", "\tTAB", "\rCR", "普通文字"]


@pytest.fixture(scope="module")
def wh(sample_copy: Callable[[str], Path]) -> Iterator[Warehouse]:
    w = open_warehouse(path=sample_copy("boards"))
    # a tiny table for the export's formula-injection check (text that looks like formulas)
    Catalog(w).write("注入测试", pl.DataFrame({
        "日期": [D(2025, 6, 1)] * len(INJECT), "内容": INJECT, "数量": list(range(1, len(INJECT) + 1)),
    }), units={"数量": "件"})
    yield w
    w.close()


@pytest.fixture()
def stores(tmp_path: Path) -> tuple[ChartStore, BoardStore]:
    return (ChartStore(tmp_path / "charts", [QUERIES_DIR / "charts"]),
            BoardStore(tmp_path / "boards", [QUERIES_DIR / "boards"]))


def _sql(wh: Warehouse, query: str) -> Any:
    cur = wh.cursor()  # plain SQL for the expected values (not through the chart compiler)
    try:
        return cur.execute(query).fetchall()
    finally:
        cur.close()


# ---------------------------------------------------------------------------- YAML and schema
BOARD_YAML = """
title: 测试看板
description: 往返测试
tiles:
  - {chart: 环卫_各区清运量, width: 8, title: 各区（改名）}
  - width: 4
    date_column: 日期
    spec:
      title: 内联指标
      dataset: 环卫清运
      type: kpi
      measures: [{column: 清运量（吨）, agg: sum}]
      options: {date_column: 日期, grain: 周, target: 100}
  - {chart: 环卫_每日清运量, width: 12, new_row: true, height: 300}
filters:
  date: {label: 作业日期, default: 最近30天}
  dimensions:
    - {column: 区, default: [临江区]}
    - {column: 街道, label: 街道办}
refresh_seconds: 60
"""


def test_board_yaml_round_trip(stores: tuple[ChartStore, BoardStore]) -> None:
    board = load_board(BOARD_YAML)
    assert [t.width for t in board.tiles] == [8, 4, 12]
    assert board.tiles[1].spec is not None and board.tiles[1].spec.options["target"] == 100
    assert board.filters.date is not None and board.filters.date.default == "最近30天"
    assert [d.name for d in board.filters.dimensions] == ["区", "街道办"]
    text = dump_board(board)
    assert "测试看板" in text and "\\u" not in text  # Chinese kept readable
    assert load_board(text) == board
    _charts, boards = stores
    boards.save("测试看板", board)
    assert boards.load("测试看板") == board
    assert "测试看板" in boards.names()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("title: x\ntittle: y\n", "看板定义中有不认识的设置项「tittle」，请删除或检查拼写"),
        ("description: 无标题\n", "缺少必填项：标题"),
        ("title: x\ntiles:\n  - {chart: a, width: 13}\n", "第1个图块的宽度（1–12）超出允许范围（现在是 13）"),
        ("title: x\ntiles:\n  - {width: 6}\n",
         "每个图块需要且只能写一项：chart（已保存图表的名称）或 spec（图表定义）"),
        ("title: x\ntiles:\n  - {chart: a, spec: {title: t, dataset: d, type: bar}}\n", "需要且只能写一项"),
        ("title: x\ntiles:\n  - {chart: a, colour: red}\n", "第1个图块中有不认识的设置项「colour」"),
        ("title: x\nrefresh_seconds: 5\n", "自动刷新间隔至少 10 秒（0 表示不自动刷新），现在是 5 秒"),
        ("title: x\nrefresh_seconds: 很快\n", "自动刷新间隔（秒）应为整数"),
        ("title: x\nfilters: {date: {default: 下个月}}\n", "相对时间「下个月」无法识别"),
        ("title: x\nfilters: {dimensions: [{column: 区}, {column: 区}]}\n", "看板筛选中「区」重复出现，请只保留一个"),
        ("title: x\ntiles:\n  - spec: {title: t, dataset: 环卫清运, type: bar, dimensions: [{column: 区}],"
         " measures: [{column: 车次, agg: total}]}\n", "第1个图块的图表定义：第1个指标的聚合方式「total」无效"),
        ("title: x\ntiles:\n  - spec: {title: t, dataset: 环卫清运, type: donut}\n",
         "第1个图块的图表定义：图表类型「donut」不存在"),
        ("- a\n- b\n", "看板定义应为「键: 值」形式的设置"),
        ("title: [x\n", "看板定义不是有效的 YAML"),
    ],
)
def test_board_schema_errors_in_chinese(text: str, expected: str) -> None:
    with pytest.raises(ChartSpecError) as info:
        load_board(text)
    assert expected in info.value.message, info.value.problems


@pytest.mark.parametrize(
    ("widths", "new_row", "rows"),
    [
        ([4, 4, 4, 6, 6, 12], [], [[0, 1, 2], [3, 4], [5]]),
        ([6, 8, 4], [], [[0], [1, 2]]),
        ([3, 3, 3], [2], [[0, 1], [2]]),
        ([12, 1], [], [[0], [1]]),
    ],
)
def test_tiles_flow_into_rows_of_twelve(widths: list[int], new_row: list[int], rows: list[list[int]]) -> None:
    board = Board(title="x", tiles=[Tile(chart="c", width=w, new_row=i in new_row) for i, w in enumerate(widths)])
    assert [[i for i, _t in row] for row in board.rows()] == rows


@pytest.mark.parametrize(
    ("name", "ok"),
    [("各区清运量", True), ("  周报 2025 ", True), ("", False), ("../etc/passwd", False), ("a/b", False),
     (".hidden", False), ("x" * 81, False), ('问"号', False)],
)
def test_store_names(name: str, ok: bool) -> None:
    if ok:
        assert check_name(name) == name.strip()
    else:
        with pytest.raises(StoreError):
            check_name(name)


def test_user_copy_shadows_default_and_delete_restores_it(stores: tuple[ChartStore, BoardStore]) -> None:
    charts, boards = stores
    original = boards.load("环卫运行")
    boards.save("环卫运行", original.model_copy(update={"title": "我的环卫"}))
    assert boards.load("环卫运行").title == "我的环卫"
    assert (QUERIES_DIR / "boards" / "环卫运行.yaml").read_text(encoding="utf-8").count("我的环卫") == 0
    assert boards.delete("环卫运行") is True  # the default is back
    assert boards.load("环卫运行").title == "环卫运行"
    with pytest.raises(StoreError, match="系统自带"):
        boards.delete("环卫运行")
    with pytest.raises(NotFound, match="不存在"):
        charts.load("没有这个图表")
    with pytest.raises(StoreError, match="已有名为"):
        charts.save("环卫_各区清运量", charts.load("环卫_各区清运量"), overwrite=False)


def test_a_broken_saved_chart_names_its_file(stores: tuple[ChartStore, BoardStore]) -> None:
    charts, _boards = stores
    charts.folder.mkdir(parents=True)
    bad = "title: x\ndataset: 环卫清运\ntype: bar\nmeasurs: []\n"
    (charts.folder / "坏图表.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(ChartSpecError) as info:
        charts.load("坏图表")
    assert info.value.problems[0].startswith("图表「坏图表」：")
    assert "measurs" in info.value.message


# ---------------------------------------------------------------------------- defaults on the sample data
def test_defaults_are_shipped() -> None:
    assert {p.stem for p in BOARD_FILES} == {"环卫运行", "12345热线", "空气质量", "数据质量"}
    assert len(CHART_FILES) >= 19


@pytest.mark.parametrize("path", CHART_FILES, ids=[p.stem for p in CHART_FILES])
def test_every_default_chart_runs_on_the_samples(wh: Warehouse, path: Path) -> None:
    spec = load_spec(path.read_bytes())
    res = run_chart(wh, spec, today=TODAY, cache=ResultCache())
    assert res.frame.height > 0
    assert res.output is not None
    if spec.type == "kpi":
        assert isinstance(res.output, KpiValue) and res.output.value is not None
        assert len(res.output.sparkline) == spec.options["sparkline"]
    else:
        assert len(res.output.data) > 0


@pytest.mark.parametrize(("path", "tiles", "kpis"), [
    (QUERIES_DIR / "boards" / "环卫运行.yaml", 8, 3),
    (QUERIES_DIR / "boards" / "12345热线.yaml", 6, 3),
    (QUERIES_DIR / "boards" / "空气质量.yaml", 5, 2),
], ids=["环卫运行", "12345热线", "空气质量"])  # 数据质量 (today's imports): tests/test_quality.py
def test_every_default_board_runs_and_every_tile_has_rows(
        wh: Warehouse, stores: tuple[ChartStore, BoardStore], path: Path, tiles: int, kpis: int) -> None:
    charts, _boards = stores
    board = load_board(path.read_bytes())
    assert board_today(wh, board, charts=charts, cache=ResultCache()) == TODAY  # old data: its last day
    cache = ResultCache()
    cold = run_board(wh, board, charts=charts, today=TODAY, cache=cache)
    assert [t.error for t in cold.tiles] == [None] * tiles
    assert all(t.result is not None and t.result.frame.height > 0 for t in cold.tiles)
    assert sum(t.spec is not None and t.spec.type == "kpi" for t in cold.tiles) == kpis
    assert not cold.cached
    warm = run_board(wh, board, charts=charts, today=TODAY, cache=cache)
    assert warm.cached and warm.query_s == 0.0
    same = [t.result.frame.equals(c.result.frame) for t, c in zip(warm.tiles, cold.tiles, strict=True)]
    assert same == [True] * tiles


def test_huanwei_kpi_matches_plain_sql(wh: Warehouse, stores: tuple[ChartStore, BoardStore]) -> None:
    charts, boards = stores
    run = run_board(wh, boards.load("环卫运行"), charts=charts, today=TODAY, cache=ResultCache())
    k = run.tiles[0].result.output
    [(week, prev, target_week)] = _sql(wh, """
        SELECT sum("清运量（吨）") FILTER (WHERE 日期 BETWEEN DATE '2025-06-24' AND DATE '2025-06-30'),
               sum("清运量（吨）") FILTER (WHERE 日期 BETWEEN DATE '2025-06-17' AND DATE '2025-06-23'), 3300
        FROM 环卫清运""")
    assert k.period == (D(2025, 6, 24), D(2025, 6, 30)) and k.unit == "吨"
    assert k.value == pytest.approx(week)
    assert k.comparison("环比").base == pytest.approx(prev)
    assert k.pct_of_target == pytest.approx(week / target_week)
    assert run.tiles[0].period_text == "2025-06-24 至 2025-06-30"


# ---------------------------------------------------------------------------- board filters
def test_district_filter_changes_every_tile_that_has_the_column(
        wh: Warehouse, stores: tuple[ChartStore, BoardStore]) -> None:
    charts, boards = stores
    board = boards.load("环卫运行")
    cache = ResultCache()
    base = run_board(wh, board, charts=charts, today=TODAY, cache=cache)
    one = run_board(wh, board, charts=charts, today=TODAY, cache=cache,
                    values=FilterValues(dimensions={"区": ("临江区",)}))
    [(expected,)] = _sql(wh, """SELECT sum("清运量（吨）") FROM 环卫清运
        WHERE 区 = '临江区' AND 日期 BETWEEN DATE '2025-06-24' AND DATE '2025-06-30'""")
    assert one.tiles[0].result.output.value == pytest.approx(expected)
    assert one.tiles[0].result.output.value < base.tiles[0].result.output.value
    bar = one.tiles[3].result.frame
    assert bar["区"].to_list() == ["临江区"]
    assert bar["清运量"].item() == pytest.approx(expected)
    streets = set(one.tiles[6].result.frame["街道"].to_list())
    assert streets == {"滨江街道", "望江街道", "码头街道", "柳堤街道"}
    assert set(one.tiles[7].result.frame["区"].to_list()) == {"临江区"}
    assert all(t.skipped_filters == [] for t in one.tiles)


@pytest.mark.parametrize(
    ("date", "line_days", "kpi_period", "prev_period"),
    [
        ((D(2025, 1, 1), D(2025, 1, 31)), (D(2025, 1, 1), D(2025, 1, 31)), (D(2025, 1, 1), D(2025, 1, 31)),
         (D(2024, 12, 1), D(2024, 12, 31))),
        ("上月", (D(2025, 5, 1), D(2025, 5, 31)), (D(2025, 5, 1), D(2025, 5, 31)), (D(2025, 4, 1), D(2025, 4, 30))),
        ("最近7天", (D(2025, 6, 24), D(2025, 6, 30)), (D(2025, 6, 24), D(2025, 6, 30)),
         (D(2025, 6, 17), D(2025, 6, 23))),
    ],
)
def test_board_date_range_replaces_each_tiles_own_period(
        wh: Warehouse, stores: tuple[ChartStore, BoardStore], date: Any, line_days: tuple[dt.date, dt.date],
        kpi_period: tuple[dt.date, dt.date], prev_period: tuple[dt.date, dt.date]) -> None:
    charts, boards = stores
    run = run_board(wh, boards.load("环卫运行"), charts=charts, today=TODAY, cache=ResultCache(),
                    values=FilterValues(date=date))
    days = run.tiles[4].result.frame["日期"].to_list()  # the daily line: its own 最近30天 is replaced
    assert (days[0], days[-1], len(days)) == (*line_days, (line_days[1] - line_days[0]).days + 1)
    k = run.tiles[0].result.output
    assert k.period == kpi_period and k.comparison("环比").period == prev_period
    assert run.tiles[4].period == line_days


def test_filters_on_missing_columns_are_reported_not_applied(
        wh: Warehouse, stores: tuple[ChartStore, BoardStore]) -> None:
    charts, boards = stores
    board = boards.load("环卫运行")
    cache = ResultCache()
    base = run_board(wh, board, charts=charts, today=TODAY, cache=cache)
    odd = run_board(wh, board, charts=charts, today=TODAY, cache=cache,
                    values=FilterValues(dimensions={"监测站": ("江滨公园站",)}))
    assert all(t.skipped_filters == ["监测站"] for t in odd.tiles)
    assert odd.tiles[3].result.frame.equals(base.tiles[3].result.frame)


def test_a_broken_tile_does_not_blank_the_board(wh: Warehouse, stores: tuple[ChartStore, BoardStore]) -> None:
    charts, _boards = stores
    board = load_board("""
title: 有坏图块
tiles:
  - {chart: 不存在的图表}
  - {chart: 环卫_各区清运量}
  - spec: {title: 错列, dataset: 环卫清运, type: bar, dimensions: [{column: 乡镇}], measures: [{column: 车次}]}
""")
    run = run_board(wh, board, charts=charts, today=TODAY, cache=ResultCache())
    assert "图表「不存在的图表」不存在" in run.tiles[0].error
    assert run.tiles[1].error is None and run.tiles[1].result.frame.height == 6
    assert "列「乡镇」在数据集「环卫清运」中不存在" in run.tiles[2].error
    assert len(run.errors) == 2


def test_board_today_uses_real_today_for_fresh_data(wh: Warehouse, stores: tuple[ChartStore, BoardStore]) -> None:
    charts, boards = stores
    board = boards.load("空气质量")
    assert board_today(wh, board, charts=charts, real_today=D(2025, 7, 3)) == D(2025, 7, 3)
    assert board_today(wh, board, charts=charts, real_today=D(2026, 1, 1)) == TODAY


def test_dimension_options_cascade(wh: Warehouse, stores: tuple[ChartStore, BoardStore]) -> None:
    charts, boards = stores
    board = boards.load("环卫运行")
    assert len(dimension_options(wh, board, "区", charts=charts)) == 6
    assert dimension_options(wh, board, "街道", charts=charts, within={"区": ["临江区"]}) == sorted(
        ["滨江街道", "望江街道", "码头街道", "柳堤街道"])
    # 诉求内容 is free text: never offered as a filter; 来源渠道 is
    hotline = filter_columns(boards.load("12345热线"), charts, wh)
    assert "来源渠道" in hotline and "诉求内容" not in hotline and "工单编号" not in hotline


# ---------------------------------------------------------------------------- export
@pytest.fixture(scope="module")
def huanwei_export(wh: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, bytes]:
    folder = tmp_path_factory.mktemp("export")
    charts = ChartStore(folder / "charts", [QUERIES_DIR / "charts"])
    boards = BoardStore(folder / "boards", [QUERIES_DIR / "boards"])
    run = run_board(wh, boards.load("环卫运行"), charts=charts, today=TODAY, cache=ResultCache())
    return run, export_board(run, now=dt.datetime(2025, 7, 1, 9, 0))


def test_export_one_sheet_per_tile_and_a_cover(huanwei_export: tuple[Any, bytes]) -> None:
    _run, data = huanwei_export
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["看板信息", "近7天清运量", "本月清运量", "近7天出车车次", "各区清运量", "每日清运量",
                             "垃圾类型构成", "街道清运量前十", "各区每周清运量"]
    cover = wb["看板信息"]
    assert cover["A1"].value == "环卫运行" and cover["B3"].is_date
    assert [cover.cell(r, 3).value for r in range(8, 16)] == wb.sheetnames[1:]
    assert [cover.cell(r, 3).hyperlink.location for r in range(8, 16)] == [f"'{n}'!A1" for n in wb.sheetnames[1:]]
    assert cover["D8"].value == "2025-06-24 至 2025-06-30" and cover["E8"].value == "正常"


def test_export_numbers_dates_units_and_styles(huanwei_export: tuple[Any, bytes]) -> None:
    run, data = huanwei_export
    wb = openpyxl.load_workbook(io.BytesIO(data))
    kpi = wb["近7天清运量"]
    assert [c.value for c in kpi[1]] == ["项目", "清运量（吨）", "说明"]
    assert kpi["B2"].data_type == "n" and kpi["B2"].value == pytest.approx(run.tiles[0].result.output.value)
    assert kpi["B2"].number_format == "#,##0"
    assert kpi["A4"].value == "完成率" and kpi["B4"].number_format == "0.0%"
    bar = wb["各区清运量"]
    assert [c.value for c in bar[1]] == ["区", "清运量（吨）"]
    assert all(c.font.bold and c.fill.fgColor.rgb.endswith("1F4E79") for c in bar[1])
    values = [bar.cell(r, 2) for r in range(2, bar.max_row + 1)]
    assert len(values) == 6 and all(c.data_type == "n" and c.number_format == "#,##0.0" for c in values)
    assert [c.value for c in values] == pytest.approx(run.tiles[3].result.frame["清运量"].to_list())
    line = wb["每日清运量"]
    assert line["A2"].is_date and line["A2"].value.date() == D(2025, 6, 1)
    assert line["A2"].number_format == "yyyy-mm-dd"
    assert bar.column_dimensions["A"].width >= 8 and bar.freeze_panes == "A2"
    table = wb["街道清运量前十"]
    assert [c.value for c in table[1]] == ["区", "街道", "清运量（吨）", "车次（次）", "平均作业人数（人）"]
    assert table.max_row == 11 and table["D2"].data_type == "n"


def test_export_keeps_formula_like_text_as_text(wh: Warehouse, stores: tuple[ChartStore, BoardStore]) -> None:
    charts, _boards = stores
    board = load_board("""
title: 注入
tiles:
  - spec: {title: "=危险:标题/", dataset: 注入测试, type: table, dimensions: [{column: 内容}],
           measures: [{column: 数量, agg: sum}], sort: {by: 数量, order: asc}}
""")
    run = run_board(wh, board, charts=charts, today=TODAY, cache=ResultCache())
    data = export_board(run, cover=False)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["=危险_标题_"]
    ws = wb.worksheets[0]
    cells = [ws.cell(r, 1) for r in range(2, 2 + len(INJECT))]
    # XML parsers read a bare CR back as LF; the text is otherwise exactly the data
    assert [c.value for c in cells] == [s.replace("\r", "\n") for s in INJECT]
    assert all(c.data_type == "s" for c in cells)
    assert [c.quotePrefix for c in cells] == [True] * 6 + [False]
    assert [ws.cell(r, 2).value for r in range(2, 2 + len(INJECT))] == list(range(1, len(INJECT) + 1))
    assert all(ws.cell(r, 2).data_type == "n" for r in range(2, 2 + len(INJECT)))
    sheet_xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml  # no formula anywhere


@pytest.mark.parametrize(
    ("titles", "reserved", "expected"),
    [
        (["各区清运量", "各区清运量", "各区清运量"], [], ["各区清运量", "各区清运量（2）", "各区清运量（3）"]),
        (["a" * 40, "a" * 40], [], ["a" * 31, "a" * 28 + "（2）"]),
        (["[月报]: 1/2?", "", "History", "'引号'"], [], ["_月报__ 1_2_", "图块2", "图块3", "引号"]),
        (["看板信息", "Sheet"], ["看板信息"], ["看板信息（2）", "Sheet"]),
        (["ABC", "abc"], [], ["ABC", "abc（2）"]),
    ],
)
def test_sheet_names(titles: list[str], reserved: list[str], expected: list[str]) -> None:
    names = sheet_names(titles, reserved)
    assert names == expected
    assert all(len(n) <= 31 for n in names)


@pytest.mark.parametrize(
    ("d3", "ratio", "integer", "expected"),
    [(",.0f", False, False, "#,##0"), (".1f", False, False, "0.0"), (",.2f", False, False, "#,##0.00"),
     (".1%", True, False, "0.0%"), (None, True, False, "0.0%"), (None, False, True, "#,##0"),
     (None, False, False, "#,##0.00"), (",d", False, True, "#,##0"), (".2e", False, False, "0.00E+00")],
)
def test_excel_number_formats(d3: str | None, ratio: bool, integer: bool, expected: str) -> None:
    assert excel_format(d3, ratio=ratio, integer=integer) == expected
