"""问数 page: ask in Chinese, see how the question was read, the SQL, the rows and a fitting chart.

Questions form a conversation: a follow-up ("那这个月呢", "只看厨余垃圾", "换成车次") continues
the last answered question of the conversation, and the answer says what it kept from it.
「新对话」 starts over.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from citybi import audit
from citybi.charts.profile import dataset_today
from citybi.charts.spec import spec_from_dict
from citybi.charts.store import chart_store
from citybi.nlq import MAX_QUESTION_CHARS, answer, examples
from citybi.nlq.present import figure, scalar
from citybi.nlq.to_chart import answer_to_chart
from citybi.ui.auth import gate
from citybi.ui.state import action, catalog, get_warehouse, guarded, show_frame
from citybi.usertext import file_stem, md

gate("ask")  # who is asking, for this run (and the login form when nobody is)
st.title("问数")
st.caption("用中文提问，例如「上个月各区的清运量」「这周哪个区的工单最多」。"
           "每个回答都会显示系统如何理解问题以及执行的 SQL。")

wh = get_warehouse()
datasets = guarded(catalog().datasets) or []
if not datasets:
    st.info("还没有数据集。请先到「数据导入」页导入表格。")
    st.stop()

c1, c2 = st.columns([2, 1])
names = ["（自动选择）"] + [d.name for d in datasets]
picked = c1.selectbox("数据表", names, key="ask_table")
table = None if picked == names[0] else picked
target = next((d for d in datasets if d.name == table), datasets[0])
# old data (e.g. the bundled samples): "上个月" should mean the last month that has data
default_today = guarded(lambda: dataset_today(wh, target)) or dt.date.today()
today = c2.date_input("以哪天为「今天」", value=default_today, key="ask_today",
                      help="「本周」「上个月」「最近7天」等按这一天计算；数据较旧时默认取数据的最后日期")
samples = guarded(lambda: examples(target, wh.run)) or []
clicked = None
if samples:
    st.caption(f"可以这样问（来自「{md(target.name)}」的列和取值）：")
    cols = st.columns(min(3, len(samples)))
    for i, s in enumerate(samples):
        if cols[i % len(cols)].button(md(s), key=f"ex_{i}"):
            st.session_state["ask_q"] = clicked = s

# the running conversation: follow-ups continue its last answered turn
conversation: list[dict[str, object]] = st.session_state.setdefault("ask_conversation", [])
if conversation:
    t1, t2 = st.columns([5, 1])
    t1.caption("对话中：" + " → ".join(f"「{md(e['question'])}」" for e in conversation[-4:])
               + "。接着问即可，例如「那上个月呢」「只看…」「换成…」「按…分」「去掉…」。")
    t2.button("新对话", key="ask_new", icon=":material/restart_alt:", on_click=conversation.clear,
              help="清空对话：下一个问题不再沿用前面问题的表、指标、分组、筛选和时间")

with st.form("ask_form"):
    question = st.text_input("问题", key="ask_q", placeholder="例如：上个月各区的清运量", max_chars=MAX_QUESTION_CHARS)
    asked = st.form_submit_button("提问", type="primary")

history: list[dict[str, object]] = st.session_state.setdefault("ask_history", [])
if clicked:
    question, asked = clicked, True
if asked and question.strip():
    prior = next((e["answer"].spec for e in reversed(conversation) if e["answer"].status == "ok"), None)
    audit.record_done(wh, "ask", question[:500], {"table": table or ""})
    ans = guarded(lambda: answer(question, datasets, wh.run, today=today, table=table, after=prior))
    if ans is not None:
        entry = {"question": question, "answer": ans}
        history.insert(0, entry)
        if ans.status == "ok":
            if ans.inherited:
                conversation.append(entry)
            else:  # a complete question of its own starts a new conversation
                conversation[:] = [entry]


def render(entry: dict[str, object], *, expanded: bool) -> None:
    ans = entry["answer"]
    st.markdown("#### " + md(entry["question"]))
    if ans.status != "ok":
        st.warning(md(ans.message) if ans.message else "无法回答这个问题。")
        if ans.suggestions:
            st.caption("可以试试：" + "；".join(md(s) for s in ans.suggestions))
        return
    if ans.reading:
        st.info("理解为：" + md(ans.reading))
    if ans.inherited:
        st.caption(":material/link: 接着上一问，沿用了：" + "；".join(md(x) for x in ans.inherited))
    notes = [n for n in ans.notes if not n.startswith("接着上一问")]
    if notes:
        st.caption(md("；".join(notes)))
    if ans.alternatives:
        st.caption("也可以换用：" + "、".join(md(a) for a in ans.alternatives))
    value = scalar(ans)
    if value is not None:
        st.metric(md(ans.columns[0]), shown(value, ans.columns[0] in ans.percent_columns))
    else:
        fig = figure(ans)
        if fig is not None:
            st.plotly_chart(fig, key=f"fig_{id(entry)}")
        pct = [i for i, c in enumerate(ans.columns) if c in ans.percent_columns]
        rows = [[shown(v, True) if i in pct else v for i, v in enumerate(r)] for r in ans.rows]
        show_frame(pl.DataFrame(rows, schema=ans.columns, orient="row", strict=False),
                   download=str(entry["question"])[:40], download_key=f"csv_{id(entry)}")
    with st.expander("查看 SQL", expanded=expanded):
        st.code(ans.sql, language="sql")
    save_as_chart(entry)


def shown(value: object, percent: bool) -> str:
    """A number as the page shows it: ratios as percentages (0.256 → 25.6%)."""
    if percent and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def save_as_chart(entry: dict[str, object]) -> None:
    """Keep a good answer as a saved chart (opened next time the 图表 page is visited)."""
    ans = entry["answer"]
    question = str(entry["question"])
    info = next((d for d in datasets if d.name == ans.table), None)
    spec, reason = answer_to_chart(ans, title=question, info=info)
    if spec is None:
        st.caption("不能保存为图表：" + md(reason))
        return
    k = id(entry)
    with st.popover("保存为图表", icon=":material/bookmark_add:"):
        title = st.text_input("图表标题", value=question[:80], key=f"chart_title_{k}", max_chars=80)
        desc = st.text_input("说明（可选）", key=f"chart_desc_{k}")
        overwrite = st.checkbox("覆盖同名图表", key=f"chart_over_{k}")
        if st.button("保存", key=f"chart_save_{k}", type="primary"):
            name = file_stem(title.strip() or question, "问数图表")
            data = {**spec.model_dump(mode="json", exclude_defaults=True),
                    "title": title.strip() or question, "description": desc.strip()}
            store = chart_store(wh.settings)
            if action(lambda: store.save(name, spec_from_dict(data), overwrite=overwrite)):
                st.session_state["cb_open"] = name  # the 图表 page opens it for editing
                st.success(f"已保存为图表「{md(name)}」。打开「图表」页可继续编辑，也可以把它加到看板上。")


if history:
    render(history[0], expanded=False)
    if len(history) > 1:
        st.divider()
        st.subheader("本次会话的提问")
        for entry in history[1:10]:
            with st.expander(md(entry["question"])):
                render(entry, expanded=False)
