"""What a clerk does in the browser, end to end, against a running CityBI on sample data.

Each test drives one flow through Chromium and checks real values on the page against what
the core computes for the same data (read through the CLI/core before the server starts):
the datasets in the sample warehouse, the import plan of a deliberately messy workbook
(generated here with openpyxl) and the rows it writes, the 问数 answer, the 环卫运行 board's
KPI cards with and without a district filter, a bar chart built and saved in 图表, and the
district map. Waits are on selectors (Streamlit's websocket never lets `networkidle`
settle); st.dataframe draws on a canvas, so cells are read from the accessible table the
data grid keeps inside it.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect
expect.set_options(timeout=60_000)

from browser_app import BOARD, SCREENSHOTS, RunningApp, kpi_value  # noqa: E402  (after the importorskip on purpose)

CJK = re.compile(r"[\u4e00-\u9fff]")
NAV_TITLES = ["数据导入", "数据集", "看板", "图表", "问数", "全市一张图"]
NAV_SECTIONS = ["数据", "分析"]

# reads a data grid's accessible table as a list of {column header: cell text}
GRID_ROWS_JS = """t => {
  const heads = [...t.querySelectorAll('thead th')].map(h => h.textContent);
  return [...t.querySelectorAll('tbody tr')].map(r =>
    Object.fromEntries([...r.querySelectorAll('td')].map((c, i) => [heads[i], c.textContent])));
}"""

# draws two different Chinese characters and a code point no font has, in the page's own font:
# with CJK fonts the two characters differ from each other and from the missing-glyph box;
# without them all three are the same .notdef box. Independent of which CJK font is installed.
GLYPHS_JS = """font => {
  const draw = ch => {
    const c = document.createElement('canvas'); c.width = 96; c.height = 96;
    const x = c.getContext('2d'); x.font = font; x.textBaseline = 'top'; x.fillStyle = '#000';
    x.fillText(ch, 4, 4);
    const alpha = Array.from(x.getImageData(0, 0, 96, 96).data).filter((_, i) => i % 4 === 3);
    return {key: alpha.join(','), ink: alpha.filter(v => v > 0).length};
  };
  const a = draw('数'), b = draw('据'), none = draw(String.fromCodePoint(0x10FFFD));
  return {distinct: a.key !== b.key, not_missing: a.key !== none.key, ink: a.ink};
}"""


# ---------------------------------------------------------------------------------------
# helpers


def open_page(page: Any, app: RunningApp, path: str, title: str) -> None:
    page.goto(app.url + path, wait_until="domcontentloaded")
    expect(page.locator("h1", has_text=title)).to_be_visible()


def open_tab(page: Any, name: str, ready: Any) -> None:
    """Click tab `name` until `ready` (something only that tab shows) is there.

    A page that reruns by itself (a refresh that just ended redraws the page) can swallow the
    click or redraw the tabs on their first tab, so the click is repeated a few times.
    """
    for _attempt in range(4):
        page.get_by_role("tab", name=name).click()
        try:
            ready.first.wait_for(state="attached", timeout=15_000)
            return
        except sync_api.TimeoutError:
            continue
    raise AssertionError(f"tab {name!r} never showed {ready}")


def grid_rows(page: Any, header: str, cell: str) -> list[dict[str, str]]:
    """Rows of the data grid that has a column `header`, once a cell with text `cell` is there."""
    table = page.locator(f'table[role="grid"]:has(th:text-is("{header}"))').last
    table.locator(f'td:text-is("{cell}")').first.wait_for(state="attached")
    return list(table.evaluate(GRID_ROWS_JS))


def _open_options(page: Any, widget: Any, option: str) -> Any:
    """Open a select's option list and return `option` in it.

    A click that lands while Streamlit re-renders the widget (a rerun from the previous step)
    can leave the list closed, so the click is repeated a few times before giving up.
    """
    wanted = page.get_by_role("option", name=option, exact=True)
    for _attempt in range(4):
        widget.locator("input").first.click()
        try:
            wanted.wait_for(state="visible", timeout=5_000)
            return wanted
        except sync_api.TimeoutError:
            page.keyboard.press("Escape")
    raise AssertionError(f"option {option!r} never appeared in {widget}")


def _choose(page: Any, widget: Any, option: str, took: Callable[[], bool]) -> None:
    """Open the list, click `option`, and repeat until `took()` says the choice arrived.

    A rerun still running from the previous step can re-render the list between "visible" and
    the click: the option element is detached and Playwright would wait out its whole default
    time-out on a node that no longer exists (seen in CI). A short click time-out and a fresh
    open make that race cost seconds instead of failing the test.
    """
    for _attempt in range(5):
        try:
            _open_options(page, widget, option).click(timeout=5_000)
        except sync_api.TimeoutError:
            page.keyboard.press("Escape")
            continue
        # the choice reaches the widget after a rerun; give it a few seconds before retrying
        for _poll in range(15):
            if took():
                return
            page.wait_for_timeout(200)
    raise AssertionError(f"choosing {option!r} in {widget} never took effect")


def pick(page: Any, label: str, option: str) -> None:
    """Choose `option` in the selectbox labelled `label`."""
    box = page.locator('[data-testid="stSelectbox"]', has=page.get_by_text(label, exact=True))
    current = page.get_by_role("combobox", name=label)
    if current.input_value() != option:
        _choose(page, box, option, lambda: current.input_value() == option)
    expect(current).to_have_value(option)


def pick_many(page: Any, label: str, option: str) -> None:
    """Add `option` to the multiselect labelled `label` and close its list."""
    box = page.locator('[data-testid="stMultiSelect"]', has=page.get_by_text(label, exact=True))

    def took() -> bool:
        page.keyboard.press("Escape")
        return option in box.inner_text()

    _choose(page, box, option, took)
    expect(box).to_contain_text(option)


def upload(page: Any, path: Path) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))


def chinese_fonts_installed() -> bool:
    """Whether fontconfig knows a font covering Chinese (fonts-noto-cjk in CI)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    out = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    return bool(out.strip())


# the messy monthly report: title row, merged two-level header, text numbers with thousands
# separators, "—" for missing, Chinese dates, 小计 per district, 合计, a blank row, 填报人 footer
MESSY_ROWS: list[tuple[Any, ...]] = [
    ("东城区", "2024年3月1日", "1,234.5", 80.25, 12),
    ("东城区", "2024年3月2日", "1,100", "—", 11),
    ("东城区小计", None, "2,334.5", 80.25, 23),
    ("西湖区", "2024年3月1日", 512.0, "2,048.75", 9),
    ("西湖区", "2024年3月2日", "—", 300.5, 7),
    ("西湖区", "2024年3月3日", "640.25", 310, 8),
    ("西湖区小计", None, "1,152.25", "2,659.25", 24),
    ("合计", None, "3,486.75", "2,739.5", 47),
]
FOOTER = "填报人：张三    审核人：李四"
KITCHEN, OTHER = "清运量（吨）/厨余垃圾", "清运量（吨）/其他垃圾"


def messy_workbook(path: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "三月清运"
    ws["A1"] = "清源市各区垃圾清运统计表（2024年3月）"
    ws.merge_cells("A1:E1")
    header = {"A2": "区", "B2": "日期", "C2": "清运量（吨）", "E2": "车次", "C3": "厨余垃圾", "D3": "其他垃圾"}
    for cell, text in header.items():
        ws[cell] = text
    for rng in ("A2:A3", "B2:B3", "C2:D2", "E2:E3"):
        ws.merge_cells(rng)
    for row in MESSY_ROWS:
        ws.append(list(row))
    ws.append([])
    ws.append([FOOTER])
    wb.save(path)
    return path


# ---------------------------------------------------------------------------------------
# flows


def test_home_lists_sample_datasets_and_chinese_navigation(page: Any, app_server: RunningApp) -> None:
    open_page(page, app_server, "/", "数据集")
    nav = page.locator('[data-testid="stSidebarNav"]')
    for text in NAV_TITLES + NAV_SECTIONS:
        expect(nav.get_by_text(text, exact=True)).to_be_visible()

    assert "环卫清运" in app_server.facts.datasets
    rows = grid_rows(page, "数据集", "环卫清运")
    listed = [r["数据集"] for r in rows]
    # the sample datasets in catalog order (the import test may have added one, if it ran first)
    assert [n for n in listed if n in app_server.facts.datasets] == app_server.facts.datasets
    assert all(int(r["行数"]) > 0 for r in rows)

    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / "home.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a blank or error page compresses to a few kB


def test_chinese_glyphs_render_not_boxes(page: Any, app_server: RunningApp) -> None:
    open_page(page, app_server, "/", "数据集")
    assert page.locator("h1").first.inner_text().strip() == "数据集"
    assert CJK.search(page.locator('[data-testid="stSidebarNav"]').inner_text())
    if not chinese_fonts_installed():
        pytest.skip("no font covers Chinese (fc-list :lang=zh is empty): apt-get install fonts-noto-cjk")
    font = page.evaluate("() => getComputedStyle(document.querySelector('h1')).font")
    glyphs = page.evaluate(GLYPHS_JS, font)
    assert glyphs == {"distinct": True, "not_missing": True, "ink": glyphs["ink"]}, (
        f"Chinese renders as boxes in {font!r}: install fonts-noto-cjk"
    )
    assert glyphs["ink"] > 100


def test_import_messy_workbook(page: Any, app_server: RunningApp, tmp_path: Path) -> None:
    name = "三月清运_浏览器测试"
    source = messy_workbook(tmp_path / "三月清运台账.xlsx")
    open_page(page, app_server, "/import", "数据导入")
    upload(page, source)

    summary = page.locator('[data-testid="stAlert"]', has_text="表头在第")
    expect(summary).to_contain_text("工作表「三月清运」：表头在第 2、3 行，5 列，5 行数据")
    expect(summary).to_contain_text("小计/合计行 3 行")

    # the column plan: names from the merged header, types and units found
    plan = {r["列名"]: (r["类型"], r["单位"]) for r in grid_rows(page, "列名", "车次")}
    assert plan == {
        "区": ("文本", ""), "日期": ("日期", ""), KITCHEN: ("数值", "吨"), OTHER: ("数值", "吨"), "车次": ("整数", ""),
    }

    # the dropped rows, each with its Excel row number and reason
    page.locator('[data-testid="stExpander"] summary', has_text="已去除的行（5 行）").click()
    dropped = [(r["Excel 行号"], r["原因"], r["内容"]) for r in grid_rows(page, "Excel 行号", "6")]
    expected_dropped = [
        ("6", "小计/合计行", "东城区小计"),
        ("10", "小计/合计行", "西湖区小计"),
        ("11", "小计/合计行", "合计"),
        ("12", "空行", ""),
        ("13", "表尾（注/数据来源/填报人等）", "填报人：张三"),
    ]
    assert [(row, reason) for row, reason, _ in dropped] == [(row, reason) for row, reason, _ in expected_dropped]
    for (_, _, content), (_, _, start) in zip(dropped, expected_dropped, strict=True):
        assert content.startswith(start)

    # the preview: text numbers parsed, "—" is empty, Chinese dates are dates
    preview = [(r["区"], r["日期"][:10], r[KITCHEN], r[OTHER], r["车次"]) for r in grid_rows(page, "车次", "1234.5")]
    assert preview == [
        ("东城区", "2024-03-01", "1234.5", "80.25", "12"),
        ("东城区", "2024-03-02", "1100", "", "11"),
        ("西湖区", "2024-03-01", "512", "2048.75", "9"),
        ("西湖区", "2024-03-02", "", "300.5", "7"),
        ("西湖区", "2024-03-03", "640.25", "310", "8"),
    ]

    name_box = page.get_by_label("数据集名称")
    name_box.fill(name)
    name_box.press("Enter")
    expect(name_box).to_have_value(name)
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator('[data-testid="stAlert"]', has_text="已写入数据集")).to_contain_text(
        f"已写入数据集「{name}」第 1 版：5 行"
    )

    open_page(page, app_server, "/datasets", "数据集")
    listed = {r["数据集"]: r for r in grid_rows(page, "数据集", name)}
    assert (listed[name]["行数"], listed[name]["列数"], listed[name]["版本"], listed[name]["来源文件"]) == (
        "5", "5", "1", source.name,
    )
    assert set(app_server.facts.datasets) < set(listed)


def test_renamed_binary_gives_chinese_error_and_app_keeps_serving(
    page: Any, app_server: RunningApp, tmp_path: Path
) -> None:
    fake = tmp_path / "月报.xlsx"
    fake.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 64)
    open_page(page, app_server, "/import", "数据导入")
    upload(page, fake)

    error = page.locator('[data-testid="stAlertContentError"]').first
    expect(error).to_contain_text("扩展名")
    text = error.inner_text()
    assert CJK.search(text)
    assert not re.search(r"Traceback|Exception|Error", text)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)

    page.reload(wait_until="domcontentloaded")
    expect(page.locator("h1", has_text="数据导入")).to_be_visible()
    expect(page.locator('[data-testid="stFileUploader"]')).to_be_visible()
    with urllib.request.urlopen(f"{app_server.url}/_stcore/health", timeout=10) as resp:
        assert resp.read().strip() == b"ok"
    open_page(page, app_server, "/datasets", "数据集")
    assert grid_rows(page, "数据集", "环卫清运")


def test_ask_question_shows_reading_table_chart_and_sql(page: Any, app_server: RunningApp) -> None:
    expected = app_server.facts.tonnage_by_district
    assert len(expected) >= 2
    open_page(page, app_server, "/ask", "问数")
    pick(page, "数据表", "环卫清运")
    page.get_by_label("问题").fill("各区的清运量合计")
    page.get_by_role("button", name="提问").click()

    reading = page.locator('[data-testid="stAlert"]', has_text="理解为：")
    expect(reading).to_contain_text("表：环卫清运")
    expect(reading).to_contain_text("分组：区")
    expect(reading).to_contain_text("清运量（吨）合计")
    chart = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')
    expect(chart.locator(".main-svg").first).to_be_attached()
    for district in expected:
        # bar labels are drawn as SVG text, so the districts on the axis are checkable
        expect(chart.locator("text", has_text=district).first).to_be_attached()

    first_district = next(iter(expected))
    rows = grid_rows(page, "区", first_district)
    value_col = next(k for k in rows[0] if k != "区")
    shown = {r["区"]: float(r[value_col]) for r in rows}
    assert shown == pytest.approx(expected)

    page.locator('[data-testid="stExpander"] summary', has_text="查看 SQL").click()
    sql = page.locator('[data-testid="stCode"]').first
    expect(sql).to_be_visible()
    assert re.search(r'SUM\("清运量（吨）"\)', sql.inner_text())
    assert re.search(r'FROM "环卫清运"\s+GROUP BY\s+"区"', sql.inner_text())


def test_board_kpi_cards_and_district_filter(page: Any, app_server: RunningApp) -> None:
    kpis, district = app_server.facts.board_kpis, app_server.facts.district
    assert len(kpis[""]) >= 1 and kpis[""] != kpis[district], kpis
    # the shareable link form (?board=…) is part of the feature, so the flow starts from it
    page.goto(f"{app_server.url}/boards?board={BOARD}", wait_until="domcontentloaded")
    expect(page.locator("h1", has_text=BOARD)).to_be_visible()

    def card_value(title: str) -> Any:
        return kpi_value(page, title)

    for title, value in kpis[""].items():
        expect(card_value(title)).to_have_text(value)

    pick_many(page, "区", district)
    for title, value in kpis[district].items():
        expect(card_value(title)).to_have_text(value)


def test_shared_leader_link_on_fresh_server_goes_through_app_navigation(
    page: Any, fresh_app_server: RunningApp
) -> None:
    # regression: right after a restart a deep link used to run pages/boards.py without app.py
    # (file-name sidebar, no page config); the first visitor of a fresh server opens a leader link
    page.goto(f"{fresh_app_server.url}/boards?board={BOARD}&view=leader", wait_until="domcontentloaded")
    expect(page.locator("h1", has_text=BOARD)).to_be_visible()
    nav = page.locator('[data-testid="stSidebarNav"]')
    # st.navigation runs before the page script, so by now the app's own navigation is there —
    # in the page, but hidden: the leader view shows no sidebar
    for title in NAV_TITLES:
        expect(nav.get_by_text(title, exact=True)).to_have_count(1, timeout=10_000)
    expect(page.locator('[data-testid="stSidebar"]')).to_be_hidden()
    expect(nav.get_by_text("import data", exact=True)).to_have_count(0)
    expect(page.locator('[data-testid="stMetric"]').first).to_be_visible()
    expect(page.get_by_text("编辑看板")).to_have_count(0)  # leader view hides editing


def test_chart_builder_bar_chart_save_and_find_it_on_a_board(page: Any, app_server: RunningApp) -> None:
    expected = app_server.facts.tonnage_by_district
    title = "各区清运量_浏览器测试"
    open_page(page, app_server, "/charts", "图表")
    pick(page, "数据集", "环卫清运")
    page.locator('[data-testid="stExpander"] summary', has_text="用下拉框放置字段").click()
    pick_many(page, "维度（分组）", "区（文字）")
    pick_many(page, "指标（汇总的数）", "清运量（吨）（数值）")
    pick(page, "图表类型", "柱状图")

    chart = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
    expect(chart.locator("g.point")).to_have_count(len(expected))
    # the figure's own data (plotly keeps it on the element): one bar per district, summed
    bars = chart.evaluate("el => el.data.map(t => [t.type, t.x, t.y])")
    assert [b[0] for b in bars] == ["bar"]
    assert dict(zip(bars[0][1], bars[0][2], strict=True)) == pytest.approx(expected)

    title_box = page.get_by_label("标题")
    title_box.fill(title)
    title_box.press("Enter")
    expect(title_box).to_have_value(title)
    page.get_by_role("button", name="保存图表").click()
    expect(page.locator('[data-testid="stAlert"]', has_text="已保存图表")).to_contain_text(f"已保存图表「{title}」")

    # a new session sees it among the saved charts
    open_page(page, app_server, "/charts", "图表")
    saved = page.locator('[data-testid="stSelectbox"]', has_text="已保存的图表")
    expect(_open_options(page, saved, title)).to_be_visible()
    page.keyboard.press("Escape")

    # …and it can be put on a board, where it is drawn as a tile with its title
    page.goto(app_server.url + "/boards?board=环卫运行", wait_until="domcontentloaded")
    expect(page.locator('[data-testid="stMetric"]').first).to_be_visible(timeout=60_000)
    page.locator('[data-testid="stExpander"] summary', has_text="编辑看板").click()
    pick(page, "已保存的图表", title)
    page.get_by_role("button", name="添加到看板").click()
    expect(page.locator('[data-testid="stAlert"]', has_text="添加到看板")).to_contain_text(title)
    tile_title = page.locator('[data-testid="stPlotlyChart"] .gtitle', has_text=title)
    expect(tile_title).to_be_visible(timeout=60_000)


def test_map_renders_district_layer_offline(page: Any, app_server: RunningApp) -> None:
    from PIL import Image  # Pillow comes with streamlit

    tonnage = app_server.facts.tonnage_by_district
    open_page(page, app_server, "/map", "全市一张图")
    canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first
    expect(canvas).to_be_visible()
    # the legend's range is the district totals the polygons are coloured by
    legend = page.get_by_text("区域颜色：", exact=False).first
    expect(legend).to_be_visible()
    scale = page.locator('[data-testid="stMarkdownContainer"]', has_text="区域颜色：")
    expect(scale.first).to_contain_text(f"{min(tonnage.values()):,.2f}")
    expect(scale.first).to_contain_text(f"{max(tonnage.values()):,.2f}")

    box = canvas.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 200
    # WebGL draws after the element exists: wait until the canvas shows many colours (filled
    # polygons in a colour scale, outlines, points), not one blank background
    colours = 0
    for _ in range(40):
        shot = Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")
        colours = len(shot.getcolors(maxcolors=1 << 20) or [])
        if colours > 50:
            break
        page.wait_for_timeout(500)
    assert colours > 50, f"the map canvas looks blank ({colours} colours)"
