"""The 看板 page's widget groups: the filter bar, the tile grid and the board editor.

Why a module: the page itself only picks a board and a view and calls these. Everything a
button does to a board (add, move, widen, remove a tile; change settings) is a method of
citybi.boards.Board, validated there like a saved file; tiles are drawn by chart_view, the
same way the 图表 preview draws them.
"""
from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from citybi import tempfiles
from citybi.boards import (
    Board,
    BoardRun,
    BoardStore,
    FilterValues,
    Tile,
    TileRun,
    board_from_dict,
    dimension_options,
    dump_board,
    filter_columns,
    load_board,
    tile_detail,
    tile_spec,
)
from citybi.charts.store import ChartStore
from citybi.charts.targets import ANY_PERIOD, PERIOD_WORDS, rows_from_sheet, rows_from_table, target_table
from citybi.errors import UserFacingError
from citybi.export import export_rows, frame_csv
from citybi.importer import read_targets
from citybi.ui.chart_view import drop_step, show_tile
from citybi.ui.state import action, flash, guarded
from citybi.usertext import file_stem, md
from citybi.vocabulary import BOARD_DATE_PRESETS
from citybi.warehouse import Warehouse

CHART_DEFAULT, CUSTOM = "各图表默认", "自定义"
DATE_PRESETS = [CHART_DEFAULT, *BOARD_DATE_PRESETS, CUSTOM]
_PHONE = ("Mobi", "iPhone", "Android", "HarmonyOS")  # user-agent words of phones (iPad/desktop keep the grid)

# the leader view: no page list, no way into the editing pages (a constant, no user text in it)
HIDE_SIDEBAR_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"]
  { display: none !important; }
</style>"""
# a phone: just below the fixed header (3.75rem) a smaller title, KPI values that fit the first screen
PHONE_CSS = """<style>
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-top: 3.75rem; padding-left: 0.75rem; padding-right: 0.75rem; }
  h1 { font-size: 1.5rem !important; padding-top: 0.25rem !important; }
  [data-testid="stMetricValue"] { font-size: 1.75rem; }
}
</style>"""


def on_phone() -> bool:
    """Whether the browser is a phone (the server sees no screen width; the user agent says it)."""
    agent = st.context.headers.get("User-Agent") or ""
    return any(word in agent for word in _PHONE)


def page_chrome(*, leader: bool, phone: bool) -> None:
    """The leader view hides the sidebar; a phone gets tighter spacing."""
    if leader:
        st.html(HIDE_SIDEBAR_CSS)
    if phone:
        st.html(PHONE_CSS)


def filter_bar(wh: Warehouse, board: Board, key: str, charts: ChartStore, *, leader: bool,
               data_today: dt.date, into: Any | None = None) -> tuple[FilterValues, dt.date]:
    """Date preset, "today" (analysts) and one multiselect per filter dimension, cascading.

    into: a container (the phone's one folded 筛选 control) where the filters stack instead of
    standing in a row.
    """
    if into is not None:
        with into:
            return _filter_controls(wh, board, key, charts, leader=leader, data_today=data_today, stacked=True)
    return _filter_controls(wh, board, key, charts, leader=leader, data_today=data_today, stacked=False)


def fold_label(key: str) -> str:
    """The folded filter control's label, naming what it already holds (筛选（上月 · 临江区）)."""
    ss = st.session_state
    parts: list[str] = []
    date = ss.get(f"{key}__date")
    if date and date != CHART_DEFAULT:
        parts.append(str(date))
    for k in sorted(str(k) for k in ss.keys() if str(k).startswith(f"{key}__dim__")):
        parts += [str(v) for v in ss.get(k) or []]
    text = " · ".join(parts)
    return "筛选" + (f"（{text if len(text) <= 24 else text[:23] + '…'}）" if text else "")


def _filter_controls(wh: Warehouse, board: Board, key: str, charts: ChartStore, *, leader: bool,
                     data_today: dt.date, stacked: bool) -> tuple[FilterValues, dt.date]:
    values_date: str | tuple[dt.date, dt.date] | None = None
    dims = list(board.filters.dimensions)
    extra: list[str] = st.session_state.get(f"{key}__extra", [])
    controls = [(d.column, d.name, list(d.default)) for d in dims] + [
        (c, c, []) for c in extra if c not in {d.column for d in dims}]
    n_date = 1 if board.filters.date is not None else 0
    n_today = 0 if leader else 1
    n_cols = max(1, n_date + n_today + len(controls))
    cols: list[Any] = [st.container() for _ in range(n_cols)] if stacked else list(st.columns(n_cols))
    if board.filters.date is not None:
        default = board.filters.date.default or CHART_DEFAULT
        presets = DATE_PRESETS if default in DATE_PRESETS else [default, *DATE_PRESETS]
        choice = cols[0].selectbox(md(board.filters.date.label), presets, index=presets.index(default),
                                   key=f"{key}__date")
        if choice == CUSTOM:
            picked = cols[0].date_input("日期范围", value=(data_today - dt.timedelta(days=6), data_today),
                                        key=f"{key}__range", label_visibility="collapsed")
            if isinstance(picked, (tuple, list)) and len(picked) == 2:
                values_date = (picked[0], picked[1])
        elif choice != CHART_DEFAULT:
            values_date = choice
    today = data_today
    if not leader:
        today = cols[n_date].date_input("以哪天为「今天」", value=data_today, key=f"{key}__today",
                                        help="「最近7天」「本月」等按这一天计算；数据较旧时默认取数据的最后日期")
    chosen: dict[str, tuple[Any, ...]] = {}
    for j, (column, label, default_vals) in enumerate(controls):
        options = guarded(lambda c=column: dimension_options(wh, board, c, charts=charts, within=chosen)) or []
        wkey = f"{key}__dim__{column}"
        current = st.session_state.get(wkey, default_vals)
        options = list(dict.fromkeys([*options, *[v for v in current if v not in options]]))  # keep picked values
        picked_vals = cols[n_date + n_today + j].multiselect(
            md(label), options, default=[v for v in default_vals if v in options], key=wkey, placeholder="全部",
            select_all=False)  # Streamlit's bulk option reads "Select all"; nothing picked already means 全部
        if picked_vals:
            chosen[column] = tuple(picked_vals)
    values = FilterValues(date=values_date, dimensions=chosen)

    if not leader:
        with st.container() if stacked else st.popover("＋ 添加筛选维度"):  # no popover inside the fold
            available = guarded(lambda: filter_columns(board, charts, wh)) or []
            st.multiselect("再按这些列筛选（仅本次查看；要长期保留请在「编辑看板」里加入看板筛选）",
                           [c for c in available if c not in {d.column for d in dims}], key=f"{key}__extra",
                           placeholder="选择列", select_all=False)
        if data_today < dt.date.today() - dt.timedelta(days=7):
            st.caption(f"数据最后日期为 {data_today.isoformat()}，「最近7天」「本月」等按这一天计算。")
    else:
        described = values.describe()
        st.caption(f"数据截至 {data_today.isoformat()}" + (f" · 筛选：{md('；'.join(described))}" if described else ""))
    return values, today


def drill_key(key: str) -> str:
    """Where the page keeps a board's drill steps (citybi.boards.FilterValues.drill)."""
    return f"{key}__drill"


def breadcrumb(values: FilterValues, key: str) -> None:
    """The clicks now filtering the board, each removed by one click (and all at once)."""
    if not values.drill:
        return
    row = st.container(horizontal=True, vertical_alignment="center", gap="small", key=f"{key}__crumbs")
    row.markdown(":material/filter_alt: 已按点击筛选：")
    for i, step in enumerate(values.drill):
        row.button(md(step.text), key=f"{key}__crumb_{i}", icon=":material/close:", help="点击取消这一项",
                   on_click=drop_step, args=(drill_key(key), i))
    if len(values.drill) > 1:
        row.button("全部取消", key=f"{key}__crumb_all", type="tertiary", on_click=drop_step,
                   args=(drill_key(key), None))


def detail_opener(wh: Warehouse, run: BoardRun) -> Callable[[TileRun], None]:
    """查看明细 for a tile of this run: the rows behind its number in a dialog, downloadable."""

    @st.dialog("查看明细", width="large")
    def show(tile: TileRun) -> None:
        rows = guarded(lambda: tile_detail(wh, tile, run.today))
        if rows is None:
            return
        notes = [f"图块：{tile.title}", *(["时间：" + tile.period_text] if tile.period_text else []),
                 *run.values.describe(), rows.caption]
        st.markdown(f"**{md(tile.title)}**")
        st.caption(md(" · ".join(notes[1:])))
        st.dataframe(rows.frame, hide_index=True, height=360)
        c1, c2 = st.columns(2)
        stem = file_stem(f"{tile.title}_明细", "明细", sep="_")
        c1.download_button("导出 Excel", data=lambda: export_rows(f"{tile.title} 明细", rows.frame, notes),
                           file_name=f"{stem}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           icon=":material/download:", on_click="ignore", key=f"detail_xlsx_{tile.index}")
        c2.download_button("下载 CSV", data=lambda: frame_csv(rows.frame), file_name=f"{stem}.csv",
                           mime="text/csv", icon=":material/download:", on_click="ignore",
                           key=f"detail_csv_{tile.index}")

    return show


def grid(run: BoardRun, *, leader: bool, key: str | None = None,
         detail: Callable[[TileRun], None] | None = None, compact: bool = False) -> None:
    """Tiles in rows of the 12-column grid, each in its own bordered cell.

    Above the grid, one line per tile that did not take a chosen filter: a leader reading
    "北港区" on the filter bar must see at once which numbers are still the whole city's.
    With `key`, a click on a chart drills the whole board (steps kept under drill_key(key)).
    """
    not_taken = run.not_taken()
    if not_taken:
        with st.expander(f"{len(not_taken)} 个图块未应用全部筛选", icon=":material/filter_alt_off:"):
            st.markdown("\n".join(f"- {md(line)}" for line in not_taken))
    for row in run.board.rows():
        widths = [t.width for _i, t in row]
        spare = 12 - sum(widths)
        cells = st.columns([*widths, spare] if spare > 0 else widths)
        for (i, tile), cell in zip(row, cells, strict=False):
            with cell.container(border=True):
                show_tile(run.tiles[i], leader=leader, height=tile.height,
                          drill_key=drill_key(key) if key is not None else None, detail=detail, compact=compact)


def editor(board: Board, name: str, key: str, boards: BoardStore, charts: ChartStore,
           wh: Warehouse | None = None) -> None:
    """The 编辑看板 expander: add/arrange tiles, settings, the YAML itself, a new board."""

    def save(updated: Board | None, message: str) -> None:
        if updated is not None and action(lambda: boards.save(name, updated)):
            flash(message)
            st.rerun()

    with st.expander("编辑看板", icon=":material/edit:"):
        tabs = st.tabs(["添加图表", "调整图块", "目标", "设置", "YAML", "新建看板"])
        add_tab, tiles_tab, targets_tab, settings_tab, yaml_tab, new_tab = tabs
        with add_tab:
            chart_names = guarded(charts.names) or []
            if not chart_names:
                st.info("还没有已保存的图表。请先在「图表」页保存图表。")
            else:
                c1, c2 = st.columns([3, 1])
                pick = c1.selectbox("已保存的图表", chart_names, key=f"{key}__add_chart")
                width = c2.number_input("宽度（1–12）", 1, 12, 6, key=f"{key}__add_width")
                if st.button("添加到看板", key=f"{key}__add"):
                    save(guarded(lambda: board.with_tile(pick, int(width))), f"已把「{pick}」添加到看板。")
        with tiles_tab:
            if not board.tiles:
                st.caption("看板还没有图块。")
            for i, t in enumerate(board.tiles):
                c = st.columns([4, 1, 1, 1, 1], vertical_alignment="center")
                c[0].markdown(f"{i + 1}. {md(t.title or t.chart or (t.spec.title if t.spec else ''))}（宽 {t.width}）")
                if c[1].button("上移", key=f"{key}__up_{i}", disabled=i == 0):
                    save(guarded(lambda i=i: board.with_tile_moved(i, -1)), "已调整图块顺序。")
                if c[2].button("下移", key=f"{key}__down_{i}", disabled=i == len(board.tiles) - 1):
                    save(guarded(lambda i=i: board.with_tile_moved(i, 1)), "已调整图块顺序。")
                if c[3].button("加宽" if t.width < 12 else "变窄", key=f"{key}__w_{i}"):
                    save(guarded(lambda i=i: board.with_tile_widened(i)), "已调整图块宽度。")
                if c[4].button("移除", key=f"{key}__rm_{i}"):
                    save(guarded(lambda i=i: board.without_tile(i)), "已移除图块。")
        with targets_tab:
            targets_editor(board, key, charts, save, wh)
        with settings_tab, st.form(f"{key}__settings"):
            title = st.text_input("标题", board.title)
            desc = st.text_area("说明", board.description)
            refresh = st.number_input("自动刷新间隔（秒，0 表示不刷新，最少 10 秒）", 0, 86_400, board.refresh_seconds)
            if st.form_submit_button("保存设置"):
                save(guarded(lambda: board.edited(title=title, description=desc, refresh_seconds=int(refresh))),
                     "已保存看板设置。")
        with yaml_tab:
            st.caption("直接编辑看板定义（保存前会检查，错误会用中文指出）。")
            text = st.text_area("看板 YAML", guarded(lambda: boards.text(name)) or dump_board(board), height=320,
                                key=f"{key}__yaml")
            b1, b2 = st.columns(2)
            if b1.button("检查并保存", key=f"{key}__yaml_save"):
                save(guarded(lambda: load_board(text)), "已保存看板。")
            if boards.has_user_copy(name):
                default = boards.is_default(name)
                if b2.button("恢复系统默认" if default else "删除看板", key=f"{key}__delete") and action(
                        lambda: boards.delete(name)):
                    flash("已恢复系统默认看板。" if default else f"已删除看板「{name}」。")
                    st.rerun()
        with new_tab, st.form(f"{key}__new"):
            new_name = st.text_input("新看板名称", placeholder="例如：城管周报").strip()
            copy = st.checkbox("复制当前看板的图块和筛选")
            if st.form_submit_button("创建"):
                def create() -> None:
                    fresh = board.edited(title=new_name) if copy else board_from_dict({"title": new_name or "新看板"})
                    boards.save(new_name, fresh, overwrite=False)

                if action(create):
                    st.session_state["_board_next"] = new_name
                    flash(f"已创建看板「{new_name}」。")
                    st.rerun()


RULES = {"sum": "相加（如清运量、工单数）", "average": "取平均（如办结率、AQI）",
         "none": "不合并（只在选一个值时显示）"}


def _kpi_title(tile: Tile, charts: ChartStore) -> str | None:
    """The card's title when the tile is a KPI card, else None."""
    try:
        spec = tile_spec(tile, charts)
    except UserFacingError:  # a broken tile says so on the board itself
        return None
    return spec.title if spec.type == "kpi" else None


def _targets_from_upload(wh: Warehouse, upload: Any) -> list[dict[str, Any]]:
    """An uploaded target sheet, read in a folder of its own that is removed afterwards."""
    folder = tempfiles.make_dir("targets-")
    try:
        path = folder / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        return read_targets(wh, path, original_name=upload.name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def targets_editor(board: Board, key: str, charts: ChartStore, save: Callable[[Board | None, str], None],
                   wh: Warehouse | None = None) -> None:
    """The 目标 tab: a KPI card's targets per value of a board filter column, edited or pasted."""
    names = {i: title for i, t in enumerate(board.tiles) if (title := _kpi_title(t, charts)) is not None}
    kpis = list(names)
    if not kpis:
        st.caption("看板上还没有指标卡。")
        return
    st.caption("按「区」等筛选列给每个值设定目标，可分别写日、周、月…目标；看板选了哪些值，指标卡就用它们的目标"
               "合计（或平均），没有适用目标时会写明原因，而不是拿全市目标比较。")
    i = st.selectbox("指标卡", kpis, format_func=lambda j: md(names[j]), key=f"{key}__tg_tile")
    current = board.tiles[i].targets
    dims = [d.column for d in board.filters.dimensions]
    columns = list(dict.fromkeys([*([current.column] if current else []), *dims]))
    if not columns:
        st.info("这个看板还没有维度筛选（如 区）。请先在「YAML」里加入看板筛选，再按它设定目标。")
        return
    c1, c2 = st.columns(2)
    column = c1.selectbox("按哪一列设定目标", columns, key=f"{key}__tg_col_{i}")
    rule_now = (current.rule if current else None) or "sum"
    rule = c2.selectbox("选了多个值时，目标", list(RULES), index=list(RULES).index(rule_now), format_func=RULES.get,
                        key=f"{key}__tg_rule_{i}")
    table = pl.DataFrame(target_table(current), schema={"值": pl.String, "时长": pl.String, "目标": pl.Float64})
    edited = st.data_editor(
        table, num_rows="dynamic", key=f"{key}__tg_rows_{i}", width="stretch",
        column_config={"时长": st.column_config.SelectboxColumn(options=[ANY_PERIOD, *PERIOD_WORDS]),
                       "目标": st.column_config.NumberColumn(format="%.4g")})
    b1, b2 = st.columns(2)
    if b1.button("保存目标", key=f"{key}__tg_save_{i}"):
        rows = guarded(lambda: rows_from_table(edited.to_dicts()))
        if rows is not None:
            save(guarded(lambda: board.with_targets(i, column, rule, rows)), "已保存目标。")
    if current is not None and b2.button("删除目标表", key=f"{key}__tg_drop_{i}"):
        save(guarded(lambda: board.with_targets(i, None, None, [])), "已删除这张指标卡的目标表。")
    with st.popover("从表格粘贴或上传"):
        text = st.text_area("从 Excel/WPS 复制两列（值、目标）或三列（值、时长、目标），粘贴到这里；会替换现有目标",
                            key=f"{key}__tg_paste_{i}", height=160)
        if st.button("读取并保存", key=f"{key}__tg_paste_save_{i}"):
            rows = guarded(lambda: rows_from_sheet(text))
            if rows is not None:
                save(guarded(lambda: board.with_targets(i, column, rule, rows)), f"已读取 {len(rows)} 行目标并保存。")
        if wh is not None:
            upload = st.file_uploader(f"或上传 Excel/CSV 目标表（表头：{column}、时长、目标；会替换现有目标）",
                                      type=["xlsx", "xls", "csv"], key=f"{key}__tg_file_{i}")
            if upload is not None and st.button("导入文件并保存", key=f"{key}__tg_file_save_{i}"):
                loaded = guarded(lambda: _targets_from_upload(wh, upload))
                if loaded is not None:
                    save(guarded(lambda: board.with_targets(i, column, rule, loaded)),
                         f"已从「{upload.name}」读取 {len(loaded)} 行目标并保存。")
