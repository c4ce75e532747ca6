"""数据导入 page: upload, see the import plan, fix it, write it — nothing is written before 导入."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import polars as pl
import streamlit as st

from citybi import tempfiles
from citybi.catalog import MODE_LABELS
from citybi.importer import (
    append_options,
    append_target,
    choices_from_rows,
    choose_values,
    chosen_from_rows,
    column_map_rows,
    commit,
    find_duplicates,
    import_quality,
    options_with_edits,
    prepare_file,
    standardized_frame,
    value_choice_rows,
)
from citybi.ingest.model import DROP_LABELS, TYPE_LABELS, ImportOptions
from citybi.ingest.pipeline import list_sheets
from citybi.lineage import replace_check
from citybi.ui.auth import gate
from citybi.ui.lineage_view import replace_impact
from citybi.ui.plan_view import plan_preview, plan_summary, quality_panel
from citybi.ui.state import catalog, dataset_link, get_warehouse, guarded, show_error
from citybi.usertext import md

gate("datasets.upload")  # who is asking, for this run (and the login form when nobody is)
st.title("数据导入")
st.caption("支持 .xlsx / .xls / .csv / .tsv。自动识别标题行、多级表头、单位、小计/合计行和表尾，导入前可以检查和修改。")

wh = get_warehouse()
upload = st.file_uploader("选择文件", type=["xlsx", "xlsm", "xls", "csv", "tsv", "txt"])
if upload is None:
    st.stop()

data = upload.getvalue()
digest = hashlib.sha256(data).hexdigest()[:16]
state = st.session_state
if state.get("imp_digest") != digest:
    # a new file: forget the previous file's plan and choices (and its temporary copy)
    if state.get("imp_path"):
        shutil.rmtree(Path(state["imp_path"]).parent, ignore_errors=True)
    if state.get("imp_prepared") is not None:
        state["imp_prepared"].discard()
    folder = tempfiles.make_dir("upload-")  # under this server's temp folder: swept if it is killed
    path = folder / Path(upload.name).name
    path.write_bytes(data)
    state.update(imp_digest=digest, imp_path=str(path), imp_options=ImportOptions(), imp_prepared=None,
                 imp_recipe=None, imp_recipe_tried=False, imp_done=None)
path = Path(state["imp_path"])

sheets = guarded(lambda: list_sheets(path, wh.settings.limits))
if sheets is None:
    st.stop()
non_empty = [s for s in sheets if not s.empty]
if not non_empty:
    st.error("文件中所有工作表都是空的，没有可导入的数据。请检查是否选错了文件。")
    st.stop()
options: ImportOptions = state["imp_options"]
if len(non_empty) > 1:
    c1, c2 = st.columns([3, 2])
    names = [s.name for s in non_empty]
    sheet = c1.selectbox("工作表", names, index=names.index(options.sheet) if options.sheet in names else 0)
    union = c2.checkbox("合并结构相同的所有工作表（增加「工作表」列）", value=options.union_sheets)
    if sheet != options.sheet or union != options.union_sheets:
        options = options.model_copy(update={"sheet": sheet, "union_sheets": union, "columns": {}})
        if state.get("imp_prepared") is not None:
            state["imp_prepared"].discard()
        # another sheet may be another report: look for its recipe
        state.update(imp_options=options, imp_prepared=None, imp_recipe=None, imp_recipe_tried=False)
skipped = [s.name for s in sheets if s.empty]
if skipped:
    st.caption("已跳过空工作表：" + md("、".join(skipped)))

prepared = state.get("imp_prepared")
if prepared is None:
    with st.status("正在读取并分析文件…", expanded=False) as status:
        # next month's file of the same report: the reader applies the clerk's saved choices (once;
        # after the clerk's own edits it is not applied again)
        use_recipes = not state.get("imp_recipe_tried")
        prepared = guarded(lambda: prepare_file(wh, path, options, original_name=upload.name, recipes=use_recipes))
        if prepared is None:
            status.update(label="文件无法导入", state="error")
            st.stop()
        if use_recipes:
            state.update(imp_recipe=prepared.plan.recipe, imp_recipe_tried=True)
        status.update(label="分析完成", state="complete")
    state.update(imp_prepared=prepared, imp_options=prepared.plan.options)
plan = prepared.plan

if plan.tables:
    # several tables on one sheet: each is its own dataset, one at a time
    labels = {t.index: f"第 {t.index} 张：{t.title}（第 {t.first_row}–{t.last_row} 行）" for t in plan.tables}
    current = plan.options.sheet_table or 1
    picked = st.selectbox("这个工作表里有几张表，选择要导入的一张", list(labels), index=list(labels).index(current),
                          format_func=lambda k: labels[k])
    if picked != current:
        prepared.discard()
        state.update(imp_options=plan.options.model_copy(update={"sheet_table": picked, "columns": {}}),
                     imp_prepared=None)
        st.rerun()

if state.get("imp_recipe") is not None:
    st.info(f"这个文件和以前导入过的报表结构相同，已自动套用上次保存的导入方案「{md(state['imp_recipe'].name)}」。")
    for left_out in state["imp_recipe"].not_applied:
        st.warning(md(left_out))
plan_summary(plan.summary_zh(), plan.warnings)
if plan.preamble:
    with st.expander(f"表头上方的说明（{len(plan.preamble)} 行，已保留为元数据）"):
        st.text("\n".join(plan.preamble))
if plan.notes:
    with st.expander(f"表尾注释（{len(plan.notes)} 行，已保留为元数据）"):
        st.text("\n".join(plan.notes))
if plan.dropped_rows:
    with st.expander(f"已去除的行（{len(plan.dropped_rows)} 行）"):
        st.dataframe(pl.DataFrame({
            "Excel 行号": [d.row for d in plan.dropped_rows],
            "原因": [DROP_LABELS.get(d.reason, d.reason) for d in plan.dropped_rows],
            "内容": [d.text for d in plan.dropped_rows],
        }), hide_index=True, width="stretch")

st.subheader("列")
c1, c2, c3 = st.columns(3)
header_row = c1.number_input("表头所在行（Excel 行号）", min_value=1, value=(plan.header_rows or [1])[0], step=1)
drop_totals = c2.checkbox("去除小计/合计行", value=plan.options.drop_totals)
unpivot = c3.checkbox("把期间列（年份/月份）转换为行", value=plan.options.unpivot, disabled=plan.wide is None,
                      help="例如 2019年、2020年… 各为一列的宽表，转换后为「期间、数值」两列，便于作图和问数")
table = pl.DataFrame({
    "列名": [c.name for c in plan.columns],
    "类型": [TYPE_LABELS.get(c.type, c.type) for c in plan.columns],
    "单位": [c.unit or "" for c in plan.columns],
    "跳过": [False for _ in plan.columns],
    "无法转换": [c.failed_count for c in plan.columns],
    "示例": ["、".join(c.sample[:3]) for c in plan.columns],
})
edited = st.data_editor(
    table, hide_index=True, width="stretch", disabled=["无法转换", "示例"], key=f"cols_{digest}",
    column_config={"类型": st.column_config.SelectboxColumn("类型", options=list(TYPE_LABELS.values()), required=True)},
)
if st.button("按修改重新分析"):
    # a typed column name the core refuses (e.g. with invisible characters) is a message, the plan stays
    folded = guarded(lambda: options_with_edits(plan, edited.to_dicts()))
    if folded is not None:
        new_options = folded.model_copy(update={
            "header_row": int(header_row) if int(header_row) != (plan.header_rows or [1])[0]
            else plan.options.header_row,
            "drop_totals": drop_totals, "unpivot": unpivot,
        })
        prepared.discard()
        state.update(imp_options=new_options, imp_prepared=None)
        st.rerun()

if plan.standardize:
    st.subheader("数据标准")
    choices = value_choice_rows(plan)
    unknown = sum(1 for r in choices if not r["把握"])
    st.caption(f"这些列的取值大多在数据标准字典中：{len(choices) - unknown} 种写法可以统一为标准值，"
               f"{unknown} 种写法不在字典中。勾选「采用」的才会改写，原值记录在版本来源中；选择随导入方案保存。")
    std_edited = st.data_editor(
        pl.DataFrame(choices), hide_index=True, width="stretch", key=f"std_{digest}",
        disabled=["列", "原值", "行数", "把握", "依据"],
        column_config={"采用": st.column_config.CheckboxColumn("采用"), "行数": st.column_config.NumberColumn("行数")},
    )
    c1, c2 = st.columns(2)
    picked: dict[str, dict[str, str]] | None = None
    auto = c1.button("采用全部把握高的建议")
    if c2.button("按勾选统一取值"):
        picked = guarded(lambda: choices_from_rows(std_edited.to_dicts()))
    if auto or picked is not None:
        # the auto button keeps the clerk's earlier choices and adds what is sure
        chosen = guarded(lambda: choose_values(wh, prepared, picked if picked is not None
                                               else plan.options.value_maps, auto=auto))
        if chosen is not None:
            state.update(imp_prepared=chosen, imp_options=chosen.plan.options)
            st.rerun()

plan_preview(standardized_frame(prepared))

st.subheader("写入")
existing = guarded(catalog().names) or []
offered = plan.append_targets
default_name = Path(upload.name).stem if not plan.sheet or plan.sheet.lower().startswith("sheet") else plan.sheet
if offered:
    best = offered[0]
    why = "上次这份报表追加到了这个数据集" if best.by_recipe else "文件的列与它的列对得上"
    st.info(f"建议「追加到数据集 {md(best.dataset)}」：{why}。" + (
        "" if not best.problems else "但还有列对不上，请在下面的列对应表中检查。"))
    default_name = best.dataset
c1, c2 = st.columns(2)
name = c1.text_input("数据集名称", value=state.get("imp_table") or default_name)
modes = ["create", "replace", "append"] if name in existing else ["create"]
suggest = "append" if any(t.dataset == name for t in offered) else modes[0]
mode = c2.radio("方式", modes, index=modes.index(suggest), format_func=lambda m: MODE_LABELS[m], horizontal=True,
                help="替换会保留旧版本，可在「数据集」页恢复；追加时文件的列按下面的对应表写入数据集的列")
keys: list[str] = []
target = None
if mode == "append":
    # which file column goes into which dataset column: proposed, editable, checked before writing
    target = guarded(lambda: append_target(wh, plan, name))
    if target is not None:
        st.markdown(f"**列对应**：文件中的列 → 数据集「{md(name)}」的列")
        file_cols = [""] + [c.name for c in plan.columns if c.index >= 0]
        # keyed by the file's current columns too: after a re-read the old edits do not apply
        map_key = "map_" + hashlib.sha256("\x1f".join([digest, name, *file_cols]).encode()).hexdigest()[:16]
        map_edited = st.data_editor(
            pl.DataFrame(column_map_rows(target)), hide_index=True, width="stretch", key=map_key,
            disabled=["数据集的列", "类型", "单位", "依据"],
            column_config={"文件中的列": st.column_config.SelectboxColumn("文件中的列", options=file_cols)},
        )
        for problem in target.problems:
            st.warning(md(problem))
        if target.extra:
            st.caption("文件中这些列在数据集中没有对应的列，追加时不导入：" + md("、".join(target.extra)))
        if st.button("按列对应调整", disabled=target.applied and not target.problems,
                     help="按上表把文件的列改名、改类型为数据集的列后重新读取文件；对应关系随导入方案保存"):
            mapped = guarded(lambda: append_options(wh, plan, name, chosen_from_rows(plan, map_edited.to_dicts())))
            if mapped is not None:
                prepared.discard()
                state.update(imp_options=mapped, imp_prepared=None, imp_table=name)
                st.rerun()
    keys = st.multiselect("主键列（可选）：主键相同的行会被更新，而不是重复", [c.name for c in plan.columns])
# repeated rows, before writing: within the file, and (追加) rows the dataset has already
duplicates = guarded(lambda: find_duplicates(wh, prepared, table=name if mode == "append" else None,
                                             key_columns=keys))
for dup_warning in duplicates.warnings_zh() if duplicates is not None else []:
    st.warning(md(dup_warning))
# the quality report commit will keep with the version (citybi.quality), shown before anything is written;
# it holds the dataset's validation rules checked before a replace or an append (a new dataset has none)
report = guarded(lambda: import_quality(wh, prepared, table=name, mode=mode, key_columns=keys, duplicates=duplicates))
for issue in report.rule_failures if report is not None else []:
    examples = "；".join((f"第 {s.excel_row} 行：" if s.excel_row else "") + s.value for s in issue.samples[:3])
    st.warning(md(f"不符合数据集「{name}」的校验规则：{issue.rule}（{issue.rows} 行，例如 {examples or '—'}）"))
if report is not None:
    quality_panel(report, title="导入质量")
# who reads the dataset (citybi/lineage.py): a replace that drops or retypes a used column breaks them
impact_ok = True
# an append is read with the dataset's columns once its column map is applied; before that its names are the file's
mapped_append = mode == "append" and target is not None and target.applied and not target.problems
if mode == "replace" or mapped_append:
    checked = guarded(lambda: replace_check(wh, name, {c.name: c.type for c in plan.columns}))
    if checked is None:
        impact_ok = False
    elif mode == "replace" or checked[1]:  # an append matters here only when it changes columns
        impact_ok = replace_impact(*checked, key=f"imp_impact_{digest}_{name}", what=MODE_LABELS[mode])
save_recipe = st.checkbox("保存导入方案，下次同一报表一键导入", value=True)
if st.button("导入", type="primary", disabled=not impact_ok):
    with st.spinner("正在写入数据仓库…"):
        try:
            result = commit(wh, prepared, table=name, mode=mode, key_columns=keys, save_recipe=save_recipe,
                            duplicates=duplicates)
            state.update(imp_done={"dataset": result.write.dataset, "result": result}, imp_table=name)
        except Exception as err:  # shown below, and kept there: the warehouse is as it was
            state.update(imp_done={"dataset": name, "error": err})

# the outcome of 导入 stays on the page (until another file is chosen), with the way to the dataset
done = state.get("imp_done")
if done:
    if "error" in done:
        st.error("写入失败，数据仓库保持原样。")
        show_error(done["error"])
    else:
        result = done["result"]
        w = result.write
        st.success(f"已写入数据集「{md(w.dataset)}」第 {w.version} 版：{w.rows_written} 行"
                   f"（{MODE_LABELS.get(w.mode, w.mode)}，新增 {w.rows_added}，更新 {w.rows_updated}）。")
        if result.recipe_saved:
            st.caption(f"已保存导入方案「{md(result.recipe_saved)}」，下次同一报表会自动套用。")
        if result.recipe_error:
            st.warning(md(result.recipe_error))
    if done["dataset"] in (guarded(catalog().names) or []):
        dataset_link(done["dataset"])
