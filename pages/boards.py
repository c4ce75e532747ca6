"""看板 page: open a board, filter it, read KPI cards and charts; export to Excel; edit (analysts).

Thin on purpose: boards.py runs the board (cached per tile) and edits it, export.py writes the
workbook, citybi.ui.board_view draws the filter bar, the grid and the editor. 领导视图 hides the
sidebar and every editing and SQL control: a user whose role is 领导 always gets it and cannot
switch it off; in open mode the toggle or ?view=leader in the URL opens it, so a link can be sent.
On a phone the filters fold into one control and the KPI values come first.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import streamlit as st

from citybi import context
from citybi.access import allowed
from citybi.boards import Board, TileRun, board_store, board_today, run_board, visible_boards
from citybi.charts.store import chart_store
from citybi.export import export_board, export_file_name
from citybi.ui import board_view
from citybi.ui.auth import gate
from citybi.ui.state import audited, get_warehouse, guarded, show_flash
from citybi.usertext import md

ctx = gate("boards.view")  # who is asking, for this run (and the login form when nobody is)
ss = st.session_state
wh = get_warehouse()
boards = board_store(wh.settings)
charts = chart_store(wh.settings)
names, hidden = guarded(lambda: visible_boards(wh, boards, charts)) or ([], 0)
if not names:
    st.title("看板")
    if hidden:
        st.info(f"有 {hidden} 个看板，但它们读取的数据您都无权查看。如需查看，请联系管理员调整您的数据权限。")
    else:
        st.info("还没有看板。请把看板 YAML 放到 queries/boards，或在非领导视图中新建看板。")
    st.stop()

# ---------------------------------------------------------------------------- view mode and board choice
params = st.query_params
caller = context.current()
by_role = caller is not None and caller.role == "leader"  # a leader's view is not a choice the viewer has
if by_role:
    ss["board_leader"] = True
elif "board_leader" not in ss:
    ss["board_leader"] = params.get("view") == "leader"
phone = board_view.on_phone()
if ss.get("_board_next") in names:  # a board just created: open it (before the widget exists)
    ss["board_pick"] = ss.pop("_board_next")
if ss.get("board_pick") not in names:
    ss["board_pick"] = params.get("board") if params.get("board") in names else names[0]


def _sync_url() -> None:
    """Keep the URL shareable: ?board=…&view=leader opens exactly this view."""
    st.query_params["board"] = ss["board_pick"]
    if ss["board_leader"]:
        st.query_params["view"] = "leader"
    elif "view" in st.query_params:
        del st.query_params["view"]


titles: dict[str, str] = {}
for n in names:
    loaded = guarded(lambda n=n: boards.load(n))
    titles[n] = loaded.title if loaded is not None else f"{n}（定义有误）"

board_view.page_chrome(leader=ss["board_leader"], phone=phone)
fold = None
if phone:  # title, then one 筛选 control holding the board choice and every filter, then the numbers
    title_slot = st.container()
    fold = st.popover(board_view.fold_label(f"bf_{ss['board_pick']}"), icon=":material/tune:", width="stretch")
    pick_slot = toggle_slot = fold
else:
    title_slot, pick_slot, toggle_slot = st.columns([3, 2, 1], vertical_alignment="bottom")
pick_slot.selectbox("看板", names, key="board_pick", format_func=lambda n: titles.get(n, n), on_change=_sync_url)
if not by_role:
    toggle_slot.toggle("领导视图", key="board_leader", on_change=_sync_url,
                       help="隐藏编辑和 SQL，只看指标；也可以在网址后加 ?view=leader")
leader: bool = ss["board_leader"]
name: str = ss["board_pick"]
board: Board | None = guarded(lambda: boards.load(name))
title_slot.title(md(board.title) if board is not None else "看板")
show_flash()
if board is None:
    st.stop()
if board.description and not phone:
    st.caption(md(board.description))
if hidden and not phone:
    st.caption(f"另有 {hidden} 个看板读取的数据您无权查看，未列出。")

key = f"bf_{name}"
data_today = guarded(lambda: board_today(wh, board, charts=charts)) or dt.date.today()
values, today = board_view.filter_bar(wh, board, key, charts, leader=leader, data_today=data_today, into=fold)


def _run_and_show() -> None:
    gate("boards.view")  # a fragment rerun runs only this function: set who is asking again
    # clicks on the charts (drill steps) are part of the board's filters; read here, inside the
    # fragment, so an auto-refreshing board's clicks take effect on its own reruns too
    shown = dataclasses.replace(values, drill=tuple(ss.get(board_view.drill_key(key), [])))
    board_view.breadcrumb(shown, key)
    holder = st.empty()
    with holder.status("正在计算看板…", expanded=False) as status:
        bar = st.progress(0.0)

        def progress(done: int, total: int, tile: TileRun) -> None:
            bar.progress(done / total, text=f"已完成 {done}/{total}：{md(tile.title)}")

        run = guarded(lambda: run_board(wh, board, charts=charts, values=shown, today=today, progress=progress))
        status.update(state="complete")
    holder.empty()
    if run is None:
        return
    if phone:  # the numbers first; timing and export below them
        board_view.grid(run, leader=leader, key=key, detail=board_view.detail_opener(wh, run), compact=True)
    tools = st.columns([3, 1], vertical_alignment="center")
    state = "全部来自缓存" if run.cached else f"查询 {run.query_s:.2f} 秒"
    tools[0].caption(f"{len(run.tiles)} 个图块 · 用时 {run.total_s:.2f} 秒（{state}）"
                     + (f" · 每 {board.refresh_seconds} 秒自动刷新" if board.refresh_seconds else "")
                     + (f" · {len(run.errors)} 个图块出错" if run.errors else ""))
    tools[1].download_button("导出 Excel", data=audited(lambda: export_board(run), board.title, "xlsx"),
                             file_name=export_file_name(run),
                             mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                             icon=":material/download:", key="board_export", on_click="ignore")
    if not run.tiles:
        st.info("这个看板还没有图块。请在下方「编辑看板」中添加已保存的图表。")
    if not phone:
        board_view.grid(run, leader=leader, key=key, detail=board_view.detail_opener(wh, run))


if board.refresh_seconds:
    st.fragment(_run_and_show, run_every=board.refresh_seconds)()
else:
    _run_and_show()

if not leader and allowed(ctx, "boards.edit"):
    board_view.editor(board, name, key, boards, charts, wh)
