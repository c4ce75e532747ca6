"""数据源 page: department databases, feeds and sensor topics refreshed on schedule — list, add/edit,
测试连接, 立即刷新, 暂停/恢复 and the run history. Every action is one call into citybi.refresh."""
from __future__ import annotations

import time

import polars as pl
import streamlit as st

from citybi.catalog import MODE_LABELS
from citybi.refresh import check_connection, preview
from citybi.secrets import SecretStore
from citybi.sourcedefs import KIND_LABELS, SourceDef, source_from_dict
from citybi.ui.auth import gate
from citybi.ui.plan_view import PREVIEW_ROWS, plan_columns, plan_preview, plan_summary
from citybi.ui.state import action, catalog, flash, get_warehouse, guarded, show_flash, show_frame, source_schedule
from citybi.usertext import md

gate("sources.manage")  # who is asking, for this run (and the login form when nobody is)
st.title("数据源")
st.caption("部门数据库（PostgreSQL、MySQL/MariaDB）、HTTP 数据接口和物联网 MQTT 消息，按计划自动刷新为数据集。"
           "密码和令牌不写在这里：用下方「保存密码或令牌」按名称保存，定义中只写名称。")
show_flash()

schedule = guarded(source_schedule)
if schedule is None:
    st.stop()
wh_path = get_warehouse().path
NEW = "（新建数据源）"


def _when(value: object) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def _overview() -> None:
    gate("sources.manage")  # a fragment rerun runs only this function: set who is asking again
    statuses = guarded(schedule.statuses) or []
    if not statuses:
        st.info("还没有数据源。在下方「添加 / 编辑」中添加一个，或用命令 citybi sources add。")
        return
    cat = catalog()
    frame = pl.DataFrame({
        "名称": [s.name for s in statuses],
        "类型": [s.source.kind_label if s.source else "—" for s in statuses],
        "数据集": [s.source.table if s.source else "—" for s in statuses],
        "刷新计划": [s.source.describe_schedule() if s.source else "—" for s in statuses],
        "状态": [s.state_label for s in statuses],
        "上次运行": [_when(s.last_run.started_at) if s.last_run else "—" for s in statuses],
        "上次新增行": [s.last_run.rows_added if s.last_run else None for s in statuses],
        "下次运行": [_when(s.next_run) for s in statuses],
        "隔离数据": [cat.quarantine_count(s.source.table) if s.source else 0 for s in statuses],
        "说明": [s.problem or (s.last_run.message if s.last_run else "") for s in statuses],
    }, schema_overrides={"上次新增行": pl.Int64})
    st.dataframe(frame, hide_index=True, width="stretch", key="sources_overview")
    waited = st.session_state.get("_sources_waiting")
    if waited:
        name, last_id, since = waited
        last = next((s.last_run for s in statuses if s.name == name), None)
        if (last is not None and last.id > last_id and last.status != "running") or time.time() - since > 900:
            del st.session_state["_sources_waiting"]
            st.rerun()  # the run started here has ended: show everything afresh and stop polling
        st.caption(f"正在刷新「{name}」……本区域每 2 秒自动更新。")


waiting = bool(st.session_state.get("_sources_waiting"))
st.fragment(_overview, run_every=2 if waiting else None)()

statuses = guarded(schedule.statuses) or []
names = [s.name for s in statuses]
tab_manage, tab_edit, tab_history = st.tabs(["管理", "添加 / 编辑", "运行记录"])

with tab_manage:
    if not names:
        st.caption("添加数据源后，可以在这里立即刷新、暂停或恢复、测试连接。")
    else:
        chosen = st.selectbox("数据源", names, key="src_pick")
        status = next(s for s in statuses if s.name == chosen)
        if status.source is None:
            st.error(md(status.problem))
        else:
            src: SourceDef = status.source
            st.markdown(md(f"{src.kind_label} → 数据集「{src.table}」 · {MODE_LABELS.get(src.mode, src.mode)}"
                           + (f"（主键 {'、'.join(src.key)}）" if src.key else "")
                           + (f" · 更新时间列 {src.watermark}" if src.watermark else "")
                           + f" · {src.describe_schedule()}" + (" · 已暂停" if src.paused else "")))
            cols = st.columns(4)
            if cols[0].button("立即刷新", key="src_refresh", type="primary", disabled=status.running):
                if action(lambda: schedule.refresh_now(src.name)):
                    st.session_state["_sources_waiting"] = (src.name, status.last_run.id if status.last_run else 0,
                                                            time.time())
                    flash(f"已开始刷新「{src.name}」，完成后状态和运行记录会自动更新。")
                    st.rerun()
            if src.paused:
                if cols[1].button("恢复", key="src_resume") and action(lambda: schedule.set_paused(src.name, False)):
                    flash(f"已恢复「{src.name}」的定时刷新。")
                    st.rerun()
            elif cols[1].button("暂停", key="src_pause") and action(lambda: schedule.set_paused(src.name, True)):
                flash(f"已暂停「{src.name}」的定时刷新（仍可立即刷新）。")
                st.rerun()
            if cols[2].button("测试连接", key="src_test"):
                said = guarded(lambda: check_connection(wh_path, src))
                if said:
                    st.success(md(said))
            with cols[3].popover("删除"):
                st.caption("只删除数据源定义；已导入的数据集和运行记录保留。")
                if st.button("确认删除", key="src_delete") and action(lambda: schedule.delete(src.name)):
                    flash(f"已删除数据源「{src.name}」。")
                    st.rerun()

with tab_edit:
    editing = st.selectbox("编辑", [NEW, *[s.name for s in statuses if s.source]], key="src_edit_pick")
    base = next((s.source for s in statuses if s.name == editing and s.source), None)
    suffix = "new" if base is None else f"e_{editing}"
    kinds = "、".join(KIND_LABELS.values())
    with st.form(f"src_form_{suffix}"):
        name = st.text_input("名称", value=base.name if base else "", disabled=base is not None, key=f"f_name_{suffix}")
        url = st.text_input("地址", value=base.url if base else "", key=f"f_url_{suffix}",
                            help=f"支持 {kinds}。例如 postgresql://用户@主机:5432/库、mysql://用户@主机:3306/库、"
                                 "http://主机/接口.json、mqtt://主机:1883/主题。地址里不要写密码。")
        table = st.text_input("写入的数据集名称", value=base.table if base else "", key=f"f_table_{suffix}")
        c1, c2 = st.columns(2)
        source_table = c1.text_input("源表（数据库）", value=(base.source_table or "") if base else "",
                                     key=f"f_stable_{suffix}", help="不写时读取与数据集同名的表")
        record_path = c2.text_input("记录路径（JSON 接口）", value=(base.record_path or "") if base else "",
                                    key=f"f_rpath_{suffix}", help="例如 data.records")
        query = st.text_area("查询语句（数据库，只读 SELECT，可不写）", value=(base.query or "") if base else "",
                             key=f"f_query_{suffix}")
        c1, c2 = st.columns(2)
        max_messages = c1.number_input("MQTT：每次最多收多少条", min_value=0, step=100,
                                       value=int(base.max_messages or 0) if base else 0, key=f"f_maxm_{suffix}")
        seconds = c2.number_input("MQTT：每次最多等多少秒", min_value=0.0, step=5.0,
                                  value=float(base.seconds or 0) if base else 0.0, key=f"f_secs_{suffix}")
        mode = st.radio("写入方式", ["append", "replace"], horizontal=True, key=f"f_mode_{suffix}",
                        index=0 if base is None or base.mode == "append" else 1,
                        format_func=lambda m: "追加（按主键或更新时间列，不重复）" if m == "append" else "每次整表替换")
        c1, c2 = st.columns(2)
        key = c1.text_input("主键列（多个用顿号分隔）", value="、".join(base.key) if base else "",
                            key=f"f_key_{suffix}")
        watermark = c2.text_input("更新时间列（数据库，可不写）", value=(base.watermark or "") if base else "",
                                  key=f"f_wm_{suffix}", help="每次只读取这一列比上次更大的行")
        plans = ["仅手动刷新", "按间隔", "按 cron 表达式"]
        plan = st.radio("刷新计划", plans, horizontal=True, key=f"f_plan_{suffix}",
                        index=0 if base is None or base.schedule() is None else (1 if base.every else 2))
        c1, c2 = st.columns(2)
        every = c1.number_input("间隔（秒）", min_value=1, value=int(base.every or 300) if base else 300,
                                key=f"f_every_{suffix}")
        cron = c2.text_input("cron 表达式（分 时 日 月 星期）", key=f"f_cron_{suffix}",
                             value=(base.cron or "0 6 * * *") if base else "0 6 * * *")
        known = guarded(lambda: SecretStore(wh_path).names()) or []
        secret = st.text_input("密钥名称（没有密码可不写）", value=(base.secret or "") if base else "",
                               key=f"f_secret_{suffix}",
                               help="已保存的密钥：" + ("、".join(known) if known else "（还没有）"))
        paused = st.checkbox("暂停定时刷新", value=base.paused if base else False, key=f"f_paused_{suffix}")
        b1, b2, b3 = st.columns(3)
        test_clicked = b1.form_submit_button("测试连接", key=f"f_test_{suffix}")
        preview_clicked = b2.form_submit_button(
            "预览", key=f"f_preview_{suffix}", help=f"读取前 {PREVIEW_ROWS} 行，按导入时的方式识别类型；不写入")
        save_clicked = b3.form_submit_button("保存", type="primary", key=f"f_save_{suffix}")
    if test_clicked or save_clicked or preview_clicked:
        values = {
            "name": name, "url": url, "table": table, "source_table": source_table, "query": query,
            "record_path": record_path, "max_messages": int(max_messages) or None, "seconds": float(seconds) or None,
            "mode": mode, "key": [k for k in key.replace(",", "、").replace("，", "、").split("、") if k.strip()],
            "watermark": watermark, "every": int(every) if plan == "按间隔" else None,
            "cron": cron if plan == "按 cron 表达式" else None, "secret": secret, "paused": paused,
        }
        made = guarded(lambda: source_from_dict({k: v.strip() if isinstance(v, str) else v
                                                 for k, v in values.items() if v not in (None, "", [])}))
        if made is not None and test_clicked:
            said = guarded(lambda: check_connection(wh_path, made))
            if said:
                st.success(md(said))
        if made is not None and preview_clicked:
            with st.spinner("正在读取前几行…"):
                looked = guarded(lambda: preview(get_warehouse(), made))
            if looked is not None:
                plan_summary(looked.summary, looked.warnings)
                if looked.columns:
                    plan_columns(looked.columns)
                    plan_preview(looked.frame)
        if made is not None and save_clicked:
            if action(lambda: schedule.save(made, overwrite=base is not None)):
                flash(f"已保存数据源「{made.name}」（{made.describe_schedule()}）。")
                st.rerun()
    with st.expander("保存密码或令牌"):
        st.caption("保存在数据仓库旁只有运行账户可读的密钥文件中，不写进定义、不显示、不记日志。")
        with st.form("secret_form", clear_on_submit=True):
            s_name = st.text_input("密钥名称", key="s_name", placeholder="例如 pg-环卫")
            s_value = st.text_input("密码或令牌", type="password", key="s_value")
            if st.form_submit_button("保存密钥", key="s_save") and action(
                    lambda: SecretStore(wh_path).set(s_name, s_value)):
                st.success(md(f"已保存密钥「{s_name.strip()}」。"))

with tab_history:
    if not names:
        st.caption("还没有运行记录。")
    else:
        which = st.selectbox("查看哪个数据源的记录", ["全部", *names], key="src_hist_pick")
        runs = guarded(lambda: catalog().source_runs(None if which == "全部" else which, limit=100)) or []
        if not runs:
            st.caption("还没有运行记录。")
        else:
            show_frame(pl.DataFrame({
                "数据源": [r.source for r in runs],
                "开始时间": [_when(r.started_at) for r in runs],
                "触发": [r.trigger for r in runs],
                "状态": [r.status_label for r in runs],
                "新增行": [r.rows_added for r in runs],
                "更新行": [r.rows_updated for r in runs],
                "版本": [r.version for r in runs],
                "用时（秒）": [None if r.duration_s is None else round(r.duration_s, 2) for r in runs],
                "说明": [r.message for r in runs],
            }, schema_overrides={"版本": pl.Int64, "用时（秒）": pl.Float64}), key="sources_history")
