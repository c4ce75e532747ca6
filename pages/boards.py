"""看板 page: open a board, filter it, read KPI cards and charts; export to Excel; edit (analysts).

Thin on purpose: boards.py runs the board (cached per tile), export.py writes the workbook;
this page only lays out widgets and results. 领导视图 (toggle or ?view=leader in the URL)
hides every editing and SQL control, so a link can be sent to a leader.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st

from citybi.boards import (
    Board,
    BoardRun,
    FilterValues,
    Tile,
    TileRun,
    board_store,
    board_today,
    dimension_options,
    dump_board,
    filter_columns,
    load_board,
    run_board,
)
from citybi.charts.kpi import KpiValue, period_text
from citybi.charts.store import chart_store
from citybi.export import export_board, export_file_name
from citybi.ui.state import action, flash, get_warehouse, guarded, show_flash
from citybi.usertext import md

DATE_PRESETS = ["各图表默认", "最近7天", "最近30天", "最近90天", "本周", "上周", "本月", "上月", "本季", "今年", "去年",
                "自定义"]
COLOR = {True: "green", False: "red", None: "gray"}

wh = get_warehouse()
boards = board_store(wh.settings)
charts = chart_store(wh.settings)
names = guarded(boards.names) or []
if not names:
    st.title("看板")
    st.info("还没有看板。请把看板 YAML 放到 queries/boards，或在非领导视图中新建看板。")
    st.stop()

# ---------------------------------------------------------------------------- view mode and board choice
params = st.query_params
if "board_leader" not in st.session_state:
    st.session_state["board_leader"] = params.get("view") == "leader"
if st.session_state.get("_board_next") in names:  # a board just created: open it (before the widget exists)
    st.session_state["board_pick"] = st.session_state.pop("_board_next")
if "board_pick" not in st.session_state or st.session_state["board_pick"] not in names:
    wanted = params.get("board")
    st.session_state["board_pick"] = wanted if wanted in names else names[0]


def _sync_url() -> None:
    """Keep the URL shareable: ?board=…&view=leader opens exactly this view."""
    st.query_params["board"] = st.session_state["board_pick"]
    if st.session_state["board_leader"]:
        st.query_params["view"] = "leader"
    elif "view" in st.query_params:
        del st.query_params["view"]


titles: dict[str, str] = {}
for n in names:
    loaded = guarded(lambda n=n: boards.load(n))
    titles[n] = loaded.title if loaded is not None else f"{n}（定义有误）"

head = st.columns([3, 2, 1], vertical_alignment="bottom")
head[1].selectbox("看板", names, key="board_pick", format_func=lambda n: titles.get(n, n), on_change=_sync_url)
head[2].toggle("领导视图", key="board_leader", on_change=_sync_url,
               help="隐藏编辑和 SQL，只看指标；也可以在网址后加 ?view=leader")
leader: bool = st.session_state["board_leader"]
name: str = st.session_state["board_pick"]
board: Board | None = guarded(lambda: boards.load(name))
head[0].title(md(board.title) if board is not None else "看板")
show_flash()
if board is None:
    st.stop()
if board.description:
    st.caption(md(board.description))

# ---------------------------------------------------------------------------- filters row
data_today = guarded(lambda: board_today(wh, board, charts=charts)) or dt.date.today()
key = f"bf_{name}"
date_choice: str = "各图表默认"
values_date: str | tuple[dt.date, dt.date] | None = None
dims = list(board.filters.dimensions)
extra_cols: list[str] = st.session_state.get(f"{key}__extra", [])
controls = [(d.column, d.name, list(d.default)) for d in dims] + [(c, c, []) for c in extra_cols
                                                                  if c not in {d.column for d in dims}]
n_date = 1 if board.filters.date is not None else 0
n_today = 0 if leader else 1
cols = st.columns(max(1, n_date + n_today + len(controls)))
if board.filters.date is not None:
    default = board.filters.date.default or "各图表默认"
    presets = DATE_PRESETS if default in DATE_PRESETS else [default, *DATE_PRESETS]
    date_choice = cols[0].selectbox(md(board.filters.date.label), presets, index=presets.index(default),
                                    key=f"{key}__date")
    if date_choice == "自定义":
        picked = cols[0].date_input("日期范围", value=(data_today - dt.timedelta(days=6), data_today),
                                    key=f"{key}__range", label_visibility="collapsed")
        if isinstance(picked, (tuple, list)) and len(picked) == 2:
            values_date = (picked[0], picked[1])
    elif date_choice != "各图表默认":
        values_date = date_choice
today = data_today
if not leader:
    today = cols[n_date].date_input("以哪天为「今天」", value=data_today, key=f"{key}__today",
                                    help="「最近7天」「本月」等按这一天计算；数据较旧时默认取数据的最后日期")
chosen: dict[str, tuple[Any, ...]] = {}
for j, (column, label, default_vals) in enumerate(controls):
    options = guarded(lambda column=column: dimension_options(wh, board, column, charts=charts, within=chosen)) or []
    wkey = f"{key}__dim__{column}"
    current = st.session_state.get(wkey, default_vals)
    options = list(dict.fromkeys([*options, *[v for v in current if v not in options]]))  # keep picked values
    picked_vals = cols[n_date + n_today + j].multiselect(md(label), options, default=[v for v in default_vals
                                                                                  if v in options],
                                                         key=wkey, placeholder="全部")
    if picked_vals:
        chosen[column] = tuple(picked_vals)
values = FilterValues(date=values_date, dimensions=chosen)

if not leader:
    with st.popover("＋ 添加筛选维度"):
        available = guarded(lambda: filter_columns(board, charts, wh)) or []
        st.multiselect("再按这些列筛选（仅本次查看；要长期保留请在「编辑看板」里加入看板筛选）",
                       [c for c in available if c not in {d.column for d in dims}], key=f"{key}__extra")
if leader:
    st.caption(f"数据截至 {data_today.isoformat()}" + (f" · 筛选：{md('；'.join(values.describe()))}"
                                                   if values.describe() else ""))
elif data_today < dt.date.today() - dt.timedelta(days=7):
    st.caption(f"数据最后日期为 {data_today.isoformat()}，「最近7天」「本月」等按这一天计算。")


# ---------------------------------------------------------------------------- tiles
def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:+.1%}"


def _kpi(tile: TileRun, k: KpiValue) -> None:
    unit = f" {k.unit}" if k.unit else ""
    # the metric value is plain text; the lines below are Markdown (colour directives), the unit user text
    unit_md = f" {md(k.unit)}" if k.unit else ""
    mom = k.comparison("环比")
    delta, color, arrow = None, "gray", "off"
    if mom is not None and mom.pct is not None:
        delta = f"环比 {mom.pct:+.1%}"
        color = COLOR[mom.good]
        arrow = "up" if mom.arrow == "↑" else ("down" if mom.arrow == "↓" else "off")
    spark = [v for _p, v in k.sparkline if v is not None]
    st.metric(md(tile.title), f"{k.value_text}{unit}", delta=delta, delta_color=color, delta_arrow=arrow,
              chart_data=spark or None, chart_type="area",
              help=md(tile.spec.description) if tile.spec is not None and tile.spec.description else None)
    lines: list[str] = []
    if k.target is not None:
        from citybi.charts.render import format_value

        m = tile.spec.measures[0] if tile.spec is not None else None
        target = format_value(k.target, m.format if m else None, ratio=bool(m and m.agg == "ratio"))
        pct = "—" if k.pct_of_target is None else f"{k.pct_of_target:.1%}"
        lines.append(f"目标 {target}{unit_md} · 完成 :{COLOR[k.target_met]}[{pct}]")
    for c in k.comparisons:
        if c.name == "环比" and delta is not None:
            continue
        base = "—" if c.base is None else f"{c.base:,.2f}".rstrip("0").rstrip(".")
        base_name = "去年同期" if c.name == "同比" else "上期"
        lines.append(f"{c.name} :{COLOR[c.good]}[{c.arrow} {_pct(c.pct)}]（{base_name} {base}）")
    lines.append(f"{period_text(k.period)}")
    st.markdown("  \n".join(lines))


def _tile(tile: TileRun, *, leader: bool, height: int | None) -> None:
    if tile.result is None:
        st.warning(f"**{md(tile.title)}**：{md(tile.error)}")
        return
    out = tile.result.output
    if isinstance(out, KpiValue):
        _kpi(tile, out)
    elif tile.spec is not None and tile.spec.type == "map":
        st.pydeck_chart(out, height=height or 420)
    else:
        sizing: dict[str, Any] = {"height": height} if height else {}
        st.plotly_chart(out, key=f"tile_{tile.index}", **sizing,
                        config={"displaylogo": False,
                                "toImageButtonOptions": {"format": "png", "filename": tile.title, "scale": 2}})
        if tile.period is not None:
            st.caption(tile.period_text)  # dates the code formats, no user text
    for w in tile.result.warnings:
        st.caption(md(w))
    if tile.skipped_filters:
        st.caption("未按「" + md("、".join(tile.skipped_filters)) + "」筛选：此图表的数据没有这一列")
    if not leader:
        source = "缓存" if tile.result.cached else f"查询 {tile.result.query_s * 1000:.0f} ms"
        st.caption(f"{source} · 共 {tile.seconds * 1000:.0f} ms")
        with st.expander("查看 SQL"):
            for qname, sql in tile.result.sql.items():
                if len(tile.result.sql) > 1:
                    st.caption("主查询" if qname == "main" else "趋势小图" if qname == "spark" else qname)
                st.code(sql, language="sql")


def _grid(run: BoardRun, *, leader: bool) -> None:
    for row in run.board.rows():
        widths = [t.width for _i, t in row]
        spare = 12 - sum(widths)
        cells = st.columns([*widths, spare] if spare > 0 else widths)
        for (i, tile), cell in zip(row, cells, strict=False):
            with cell.container(border=True):
                _tile(run.tiles[i], leader=leader, height=tile.height)


def _run_and_show() -> None:
    holder = st.empty()
    with holder.status("正在计算看板…", expanded=False) as status:
        bar = st.progress(0.0)

        def progress(done: int, total: int, tile: TileRun) -> None:
            bar.progress(done / total, text=f"已完成 {done}/{total}：{md(tile.title)}")

        run = guarded(lambda: run_board(wh, board, charts=charts, values=values, today=today, progress=progress))
        status.update(state="complete")
    holder.empty()
    if run is None:
        return
    tools = st.columns([3, 1], vertical_alignment="center")
    state = "全部来自缓存" if run.cached else f"查询 {run.query_s:.2f} 秒"
    tools[0].caption(f"{len(run.tiles)} 个图块 · 用时 {run.total_s:.2f} 秒（{state}）"
                     + (f" · 每 {board.refresh_seconds} 秒自动刷新" if board.refresh_seconds else "")
                     + (f" · {len(run.errors)} 个图块出错" if run.errors else ""))
    tools[1].download_button("导出 Excel", data=lambda: export_board(run), file_name=export_file_name(run),
                             mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                             icon=":material/download:", key="board_export", on_click="ignore")
    if not run.tiles:
        st.info("这个看板还没有图块。请在下方「编辑看板」中添加已保存的图表。")
    _grid(run, leader=leader)


if board.refresh_seconds:
    st.fragment(_run_and_show, run_every=board.refresh_seconds)()
else:
    _run_and_show()

# ---------------------------------------------------------------------------- editing (not in leader view)
if leader:
    st.stop()


def _save(updated: Board, message: str) -> None:
    if action(lambda: boards.save(name, updated)):
        flash(message)
        st.rerun()


with st.expander("编辑看板", icon=":material/edit:"):
    add_tab, tiles_tab, settings_tab, yaml_tab, new_tab = st.tabs(["添加图表", "调整图块", "设置", "YAML", "新建看板"])
    with add_tab:
        chart_names = guarded(charts.names) or []
        if not chart_names:
            st.info("还没有已保存的图表。请先在「图表」页保存图表。")
        else:
            c1, c2 = st.columns([3, 1])
            pick = c1.selectbox("已保存的图表", chart_names, key=f"{key}__add_chart")
            width = c2.number_input("宽度（1–12）", 1, 12, 6, key=f"{key}__add_width")
            if st.button("添加到看板", key=f"{key}__add"):
                _save(board.model_copy(update={"tiles": [*board.tiles, Tile(chart=pick, width=int(width))]}),
                      f"已把「{pick}」添加到看板。")
    with tiles_tab:
        if not board.tiles:
            st.caption("看板还没有图块。")
        for i, t in enumerate(board.tiles):
            c = st.columns([4, 1, 1, 1, 1], vertical_alignment="center")
            c[0].markdown(f"{i + 1}. {md(t.title or t.chart or (t.spec.title if t.spec else ''))}（宽 {t.width}）")
            tiles = list(board.tiles)
            if c[1].button("上移", key=f"{key}__up_{i}", disabled=i == 0):
                tiles[i - 1], tiles[i] = tiles[i], tiles[i - 1]
                _save(board.model_copy(update={"tiles": tiles}), "已调整图块顺序。")
            if c[2].button("下移", key=f"{key}__down_{i}", disabled=i == len(tiles) - 1):
                tiles[i + 1], tiles[i] = tiles[i], tiles[i + 1]
                _save(board.model_copy(update={"tiles": tiles}), "已调整图块顺序。")
            if c[3].button("加宽" if t.width < 12 else "变窄", key=f"{key}__w_{i}"):
                tiles[i] = t.model_copy(update={"width": t.width + 2 if t.width < 12 else 6})
                _save(board.model_copy(update={"tiles": tiles}), "已调整图块宽度。")
            if c[4].button("移除", key=f"{key}__rm_{i}"):
                del tiles[i]
                _save(board.model_copy(update={"tiles": tiles}), "已移除图块。")
    with settings_tab:
        with st.form(f"{key}__settings"):
            new_title = st.text_input("标题", board.title)
            new_desc = st.text_area("说明", board.description)
            refresh = st.number_input("自动刷新间隔（秒，0 表示不刷新，最少 10 秒）", 0, 86_400, board.refresh_seconds)
            if st.form_submit_button("保存设置"):
                updated = guarded(lambda: load_board(dump_board(board.model_copy(update={
                    "title": new_title, "description": new_desc, "refresh_seconds": int(refresh)}))))
                if updated is not None:
                    _save(updated, "已保存看板设置。")
    with yaml_tab:
        st.caption("直接编辑看板定义（保存前会检查，错误会用中文指出）。")
        text = st.text_area("看板 YAML", guarded(lambda: boards.text(name)) or dump_board(board), height=320,
                            key=f"{key}__yaml")
        b1, b2 = st.columns(2)
        if b1.button("检查并保存", key=f"{key}__yaml_save"):
            updated = guarded(lambda: load_board(text))
            if updated is not None:
                _save(updated, "已保存看板。")
        if boards.has_user_copy(name):
            label = "恢复系统默认" if boards.is_default(name) else "删除看板"
            if b2.button(label, key=f"{key}__delete"):
                if action(lambda: boards.delete(name)):
                    flash("已恢复系统默认看板。" if boards.is_default(name) else f"已删除看板「{name}」。")
                    st.rerun()
    with new_tab:
        with st.form(f"{key}__new"):
            new_name = st.text_input("新看板名称", placeholder="例如：城管周报")
            copy = st.checkbox("复制当前看板的图块和筛选")
            if st.form_submit_button("创建"):
                def _create() -> None:
                    fresh = (board.model_copy(update={"title": new_name.strip()}) if copy
                             else Board(title=new_name.strip() or "新看板"))
                    boards.save(new_name, fresh, overwrite=False)
                if action(_create):
                    st.session_state["_board_next"] = new_name.strip()
                    flash(f"已创建看板「{new_name.strip()}」。")
                    st.rerun()
