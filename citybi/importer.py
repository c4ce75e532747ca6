"""Import = prepare (sandboxed read + plan) then commit (one transaction into the catalog).

The two steps are separate because the clerk looks at the plan between them: the app calls
`prepare`, shows the plan, lets the clerk fix header row, names and types (which calls
`prepare` again with new options), then calls `commit`. The CLI does both in one go.

Saved import recipes are matched and applied here, for every caller alike (the 数据导入 page,
`citybi ingest`, jobs from the inbox): `prepare_file(..., recipes=True)` lets the reader apply
the recipe saved for this report layout (the plan names it), and `commit(..., save_recipe=True)`
saves the accepted options for next month's file. The folder is `Settings.recipes_dir`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from citybi import dictionaries, quality, validation
from citybi.catalog import Catalog, Provenance, WriteMode, WriteResult
from citybi.context import current
from citybi.errors import UserFacingError, storage_error
from citybi.events import dataset_changed
from citybi.ingest import mapping, recipe
from citybi.ingest.model import MATCH_LABELS, TYPE_LABELS, AppendTarget, ImportOptions, ImportPlan
from citybi.ingest.pipeline import Prepared, prepare
from citybi.usertext import check_visible
from citybi.warehouse import Warehouse

# "accepted": only the clerk's earlier choices (the recipe's value_maps) are applied, the rest is
# proposed; "auto": high-confidence proposals too (one click's worth); "off": no standardisation
Standardize = Literal["accepted", "auto", "off"]


@dataclass(frozen=True)
class Duplicates:
    """Repeated rows, found before writing: within the file, and against the dataset appended to."""

    rows: int  # rows in the file (after standardisation: 南湖 and 南湖区 rows are compared as written)
    in_file: int  # rows identical to an earlier row of the file
    in_file_keys: int  # rows whose key columns repeat an earlier row's (0 without key columns)
    in_dataset: int | None  # rows already in the dataset's current version; None: no dataset to compare
    dataset: str = ""
    samples: list[str] = field(default_factory=list)  # a few repeated rows, as text

    @property
    def whole_file_repeated(self) -> bool:
        """Every row is in the dataset already: most likely last month's file appended again."""
        return bool(self.rows) and self.in_dataset == self.rows

    def warnings_zh(self) -> list[str]:
        out = []
        if self.in_file:
            out.append(f"文件中有 {self.in_file} 行与前面的某一行完全相同（例如：{'；'.join(self.samples[:2])}）。")
        if self.in_file_keys:
            out.append(f"文件中有 {self.in_file_keys} 行的主键与前面的行重复。")
        if self.whole_file_repeated:
            out.append(f"文件的全部 {self.rows} 行都已在数据集「{self.dataset}」中，可能是同一个文件导入了两次。")
        elif self.in_dataset:
            out.append(f"文件中有 {self.in_dataset} 行与数据集「{self.dataset}」中已有的行相同，追加后会重复。")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "in_file": self.in_file, "in_file_keys": self.in_file_keys,
                "in_dataset": self.in_dataset, "dataset": self.dataset, "samples": self.samples}


def find_duplicates(wh: Warehouse, prepared: Prepared, *, table: str | None = None,
                    key_columns: list[str] | None = None) -> Duplicates:
    """Exact and key duplicates within the file, and rows already in dataset `table` (when it exists)."""
    frame = standardized_frame(prepared)
    keys = [k for k in key_columns or [] if k in frame.columns]
    cat = Catalog(wh)
    in_dataset = cat.rows_already_in(table, frame, keys or None) if table and cat.exists(table) else None
    return _in_file_duplicates(frame, keys, in_dataset, table or "")


def _in_file_duplicates(frame: pl.DataFrame, keys: list[str], in_dataset: int | None, dataset: str) -> Duplicates:
    """The duplicates within the frame (no warehouse access: runs on the report's thread too)."""
    repeated = quality.repeated_rows(frame)  # every copy after the first of a row
    in_file = int(repeated.sum()) if len(repeated) else 0
    samples = ["，".join("" if v is None else str(v) for v in row)
               for row in frame.filter(repeated).head(3).iter_rows()] if in_file else []
    in_keys = frame.height - frame.unique(subset=keys).height if keys and frame.height else 0
    return Duplicates(rows=frame.height, in_file=in_file, in_file_keys=in_keys, in_dataset=in_dataset,
                      dataset=dataset, samples=samples)


def import_quality(wh: Warehouse, prepared: Prepared, *, table: str, mode: WriteMode = "create",
                   key_columns: list[str] | None = None, duplicates: Duplicates | None = None,
                   today: dt.date | None = None) -> quality.QualityReport:
    """The quality report of this import into `table` (citybi.quality): what the plan shows before 导入
    and what commit keeps with the version. The rules are the dataset's (none for a new one); the
    duplicates are looked for within the file, and against the dataset for an append."""
    work, _failures = _quality_work(wh, prepared, standardized_frame(prepared), table=table, mode=mode,
                                    key_columns=key_columns, duplicates=duplicates, today=today)
    return work()


def _quality_work(wh: Warehouse, prepared: Prepared, frame: pl.DataFrame, *, table: str, mode: WriteMode,
                  key_columns: list[str] | None, duplicates: Duplicates | None, today: dt.date | None
                  ) -> tuple[Callable[[], quality.QualityReport], list[validation.Failure]]:
    """import_quality in two steps: what it reads from the warehouse now, the measuring later
    (a function that touches only the frame, so commit can run it beside the write). The list
    receives the rule failures the measuring finds (commit hands them on: not checked twice)."""
    cat = Catalog(wh)
    exists = cat.exists(table)
    rules = cat.rules(table) if exists and mode != "create" else validation.Rules()
    dicts = cat.dictionaries() if not rules.empty() else []
    keys = [k for k in key_columns or [] if k in frame.columns]
    in_dataset = None
    if duplicates is None and mode == "append" and exists:
        in_dataset = cat.rows_already_in(table, frame, keys or None)

    found: list[validation.Failure] = []

    def work() -> quality.QualityReport:
        failures, bad, checked = quality.check_rules(frame, rules, dicts, today)
        found.extend(failures)
        dups = duplicates if duplicates is not None else _in_file_duplicates(frame, keys, in_dataset, table)
        counts: dict[str, int | None] = {"in_file": dups.in_file, "in_file_keys": dups.in_file_keys}
        if dups.in_dataset is not None:
            counts["in_dataset"] = dups.in_dataset
        return quality.measure(frame, plan=prepared.plan, failures=failures, rows_breaking_rules=bad,
                               rules_checked=checked, duplicates=counts, mode=mode)

    return work, found


def save_rules_table(wh: Warehouse, table: str, rows: list[dict[str, Any]], unique: list[str]) -> validation.Rules:
    """Save a dataset's validation rules edited as a table on the 数据集 page (validation.rules_table)."""
    cat = Catalog(wh)
    rules = validation.rules_from_table(rows, unique, cat.dictionaries())
    cat.set_rules(table, rules)
    return rules


@dataclass(frozen=True)
class IngestResult:
    plan: ImportPlan
    write: WriteResult
    quality: quality.QualityReport | None = None  # kept with the version (citybi.quality)
    recipe_saved: str | None = None  # the name the accepted options were saved under
    recipe_error: str | None = None  # why they could not be saved (the data is written all the same)
    duplicates: Duplicates | None = None  # checked before an append
    rule_failures: list[validation.Failure] = field(default_factory=list)  # the dataset's rules this file breaks
    mapped: AppendTarget | None = None  # how the file's columns were mapped onto the dataset appended to

    def outcome(self) -> dict[str, Any]:
        """The JSON the CLI prints and the inbox hands back (one shape for both)."""
        plan, w = self.plan, self.write
        return {
            "status": "ok", "table": w.dataset, "version": w.version, "mode": w.mode,
            "rows": w.rows_written, "rows_added": w.rows_added, "rows_updated": w.rows_updated,
            "summary": plan.summary_zh(), "warnings": plan.warnings,
            "recipe": plan.recipe.model_dump(mode="json") if plan.recipe is not None else None,
            "recipe_saved": self.recipe_saved, "recipe_error": self.recipe_error,
            "standardized": mapping_rows(plan), "unknown_values": unknown_rows(plan),
            "duplicates": self.duplicates.to_json() if self.duplicates is not None else None,
            "rule_failures": [f.model_dump() for f in self.rule_failures],
            "column_map": [{"target": m.target, "source": m.source_name, "how": m.how}
                           for m in self.mapped.matches] if self.mapped is not None else [],
            "skipped_columns": self.mapped.extra if self.mapped is not None else [],
            "quality": json.loads(self.quality.model_dump_json()) if self.quality is not None else None,
            "plan": json.loads(plan.model_dump_json()),
        }


def mapping_rows(plan: ImportPlan) -> list[dict[str, Any]]:
    """Every proposed mapping, one row each: column, dictionary, original → standard, rows, applied or not."""
    return [
        {"column": p.column, "dictionary": p.dictionary, "original": m.original, "standard": m.standard,
         "rows": m.rows, "confidence": m.confidence, "reason": m.reason, "applied": m.accepted}
        for p in plan.standardize for m in p.mappings
    ]


def unknown_rows(plan: ImportPlan) -> list[dict[str, Any]]:
    """Values of standardised columns that match no standard value (kept as written)."""
    return [{"column": p.column, "dictionary": p.dictionary, "value": u.value, "rows": u.rows,
             "candidates": u.candidates} for p in plan.standardize for u in p.unknown]


def recipes_dir(wh: Warehouse) -> Path:
    """The warehouse's recipe folder (see Settings.recipes_dir)."""
    return wh.settings.recipes_dir


def prepare_file(
    wh: Warehouse,
    path: str | Path,
    options: ImportOptions | None = None,
    *,
    original_name: str | None = None,
    recipes: bool | Path = False,
    standardize: Standardize = "accepted",
) -> Prepared:
    """Read and shape a file in the sandboxed reader; nothing is written.

    `recipes`: True applies a recipe from the warehouse's recipe folder, a Path one from that
    folder, False none. A recipe applies only to the report layout it was saved for; the caller's
    explicit options win over it, and `plan.recipe` says which one was applied and what did not fit.
    `standardize`: see `Standardize`; the plan lists every proposal (`plan.standardize`).
    """
    saved: list[recipe.Recipe] = []
    if recipes is not False:
        saved = recipe.load_recipes(recipes_dir(wh) if recipes is True else Path(recipes))
    prepared = prepare(Path(path), options or ImportOptions(), wh.settings.limits, original_name=original_name,
                       recipes=saved)
    try:
        prepared = _with_append_targets(wh, prepared)
        if standardize == "off":
            return prepared
        return choose_values(wh, prepared, prepared.plan.options.value_maps, auto=standardize == "auto")
    except BaseException:
        prepared.discard()
        raise


def _with_append_targets(wh: Warehouse, prepared: Prepared) -> Prepared:
    """The prepared import with the datasets it can be appended to listed in its plan."""
    plan = prepared.plan
    recipe_ds = plan.options.append_to or (plan.recipe.name if plan.recipe is not None else None)
    offers = mapping.offers(plan, Catalog(wh).datasets(), recipe_ds)
    return dataclasses.replace(prepared, plan=plan.model_copy(update={"append_targets": offers}))


def append_target(wh: Warehouse, plan: ImportPlan, table: str,
                  chosen: dict[str, int | None] | None = None) -> AppendTarget:
    """How this plan's columns map onto dataset `table` (the clerk's `chosen` picks first)."""
    recipe_ds = plan.options.append_to or (plan.recipe.name if plan.recipe is not None else None)
    by_recipe = recipe_ds is not None and recipe_ds.lower() == table.lower()
    return mapping.match_dataset(plan, Catalog(wh).get(table), by_recipe=by_recipe, chosen=chosen)


def append_options(wh: Warehouse, plan: ImportPlan, table: str,
                   chosen: dict[str, int | None] | None = None) -> ImportOptions:
    """Options that read the file with its columns as dataset `table`'s; refused when they cannot fit."""
    target = append_target(wh, plan, table, chosen)
    if target.problems:
        raise append_refused(target)
    return mapping.mapping_options(plan, target)


def append_refused(target: AppendTarget) -> UserFacingError:
    """The Chinese refusal of an append whose columns do not fit the dataset."""
    return UserFacingError(
        f"没有追加：文件的列与数据集「{target.dataset}」对不上，写入会把数据放错列。"
        + "；".join(target.problems) + "。",
        hint="请在「数据导入」页的列对应表中为这些列选择文件中的列，或检查是否选错了文件/数据集",
    )


def column_map_rows(target: AppendTarget) -> list[dict[str, Any]]:
    """The 列对应 table of the 数据导入 page: one row per dataset column (keys 数据集的列, 类型, 单位,
    文件中的列, 依据); 文件中的列 is the file column's name or "" (none)."""
    return [{"数据集的列": m.target, "类型": TYPE_LABELS.get(m.target_type, m.target_type),
             "单位": m.target_unit or "", "文件中的列": m.source_name if m.source is not None else "",
             "依据": MATCH_LABELS[m.how] if m.how else "未找到"} for m in target.matches]


def chosen_from_rows(plan: ImportPlan, rows: list[dict[str, Any]]) -> dict[str, int | None]:
    """The clerk's picks from the edited 列对应 table: dataset column → file column index (None: none)."""
    by_name = {c.name: c.index for c in plan.columns if c.index >= 0}
    chosen: dict[str, int | None] = {}
    for r in rows:
        picked = str(r.get("文件中的列") or "")
        chosen[str(r["数据集的列"])] = by_name.get(picked) if picked else None
    return chosen


def choose_values(wh: Warehouse, prepared: Prepared, chosen: dict[str, dict[str, str]], *, auto: bool = False
                  ) -> Prepared:
    """The prepared import with its standardisation proposals settled by the clerk's `chosen` mappings.

    Proposals come afresh from the catalog's dictionaries and the frame's original values (the
    frame itself is not changed: accepted mappings are applied at commit). The plan's options
    keep the choices, so a saved recipe repeats them on next month's file.
    """
    plan = prepared.plan
    frame = prepared.frame()
    texts = [c.name for c in plan.columns if c.type == "text" and c.name in frame.columns]
    proposals = dictionaries.propose(frame, Catalog(wh).dictionaries(), texts)
    settled, remember = dictionaries.settle(frame, proposals, chosen, auto=auto)
    maps = {c: dict(m) for c, m in plan.options.value_maps.items()}
    for column, mine in remember.items():
        maps[column] = {**maps.get(column, {}), **mine}
    for column, mine in chosen.items():  # what the clerk decided is kept, also for values not in this file
        maps[column] = {**maps.get(column, {}), **mine}
    options = plan.options.model_copy(update={"value_maps": maps})
    return Prepared(plan=plan.model_copy(update={"standardize": settled, "options": options}),
                    frame_path=prepared.frame_path, own_dir=prepared.own_dir, frames=prepared.frames)


def value_choice_rows(plan: ImportPlan) -> list[dict[str, Any]]:
    """The 数据标准 table of the 数据导入 page: one row per proposed mapping, then one per unknown value.

    Keys 列, 原值, 标准值, 行数, 把握, 依据, 采用; an unknown value's 标准值 is its likeliest standard
    value (or empty), unticked: the clerk fills it in and ticks it, or leaves it as written."""
    rows = [
        {"列": p.column, "原值": m.original, "标准值": m.standard, "行数": m.rows, "把握": f"{m.confidence:.0%}",
         "依据": dictionaries.REASON_LABELS[m.reason], "采用": m.accepted}
        for p in plan.standardize for m in p.mappings
    ]
    rows += [
        {"列": p.column, "原值": u.value, "标准值": (u.candidates or [""])[0], "行数": u.rows, "把握": "",
         "依据": f"不在字典「{p.dictionary}」中" + (f"，可能是 {'、'.join(u.candidates)}" if u.candidates else ""),
         "采用": False}
        for p in plan.standardize for u in p.unknown
    ]
    return rows


def choices_from_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The clerk's choices from the edited 数据标准 table: a ticked row maps 原值 to 标准值, an unticked
    one keeps 原值 as written (remembered, so auto does not map it next month either)."""
    chosen: dict[str, dict[str, str]] = {}
    for r in rows:
        original = str(r.get("原值") or "")
        standard = check_visible(str(r.get("标准值") or ""), "标准值")
        if not original:
            continue
        chosen.setdefault(str(r["列"]), {})[original] = standard if r.get("采用") and standard else original
    return chosen


def standardized_frame(prepared: Prepared) -> pl.DataFrame:
    """The frame as it will be written: the accepted mappings applied."""
    return dictionaries.apply(prepared.frame(), prepared.plan.standardize)


def commit(
    wh: Warehouse,
    prepared: Prepared,
    *,
    table: str,
    mode: WriteMode = "create",
    key_columns: list[str] | None = None,
    who: str | None = None,
    display_name: str | None = None,
    description: str | None = None,
    save_recipe: bool | str = False,
    duplicates: Duplicates | None = None,
) -> IngestResult:
    """Write a prepared import as a new dataset version (all or nothing), its quality report with it.

    `duplicates`: the caller's check of this file, so the report does not look again.

    `save_recipe`: after the write, save the plan's options as a recipe for this report layout,
    named after the dataset (True) or the given name. A recipe that cannot be saved does not undo
    the write; `recipe_error` says why.
    """
    plan = prepared.plan
    if mode == "append" and Catalog(wh).exists(table):
        _check_append(wh, plan, table)
        # remembered with the recipe: next month's file of this report is offered the same append
        plan = plan.model_copy(update={"options": plan.options.model_copy(update={"append_to": table})})
    # accepted mappings only; the plan (kept as the version's provenance) lists each with its
    # original value and row count
    frame = standardized_frame(prepared)
    # measured beside the write (another core), kept in its transaction: a failed write leaves no report
    work, failures = _quality_work(wh, dataclasses.replace(prepared, plan=plan), frame, table=table, mode=mode,
                                   key_columns=key_columns, duplicates=duplicates, today=None)
    report_of = quality.meanwhile(work)
    units = {c.name: c.unit for c in plan.columns}
    types = {c.name: c.type for c in plan.columns if c.name in frame.columns}
    prov = Provenance(
        source_file=plan.file_name,
        sha256=plan.sha256,
        sheet=plan.sheet,
        who=who if who is not None else _current_user(),
        plan_json=plan.model_dump_json(),
        note=plan.summary_zh(),
        quality_json=lambda: report_of().model_dump_json(),
    )
    result = Catalog(wh).write(
        table, frame, mode=mode, units=units, column_types=types, key_columns=key_columns,
        provenance=prov, display_name=display_name, description=description,
    )
    report = report_of()
    if result.mode == "create":
        # a bilingual header's English codes (日期 / date) become the new dataset's column synonyms:
        # 问数 understands them, and a later file headed by the codes alone maps onto the dataset
        cat = Catalog(wh)
        for c in plan.columns:
            if c.aliases and c.name in frame.columns:
                cat.set_synonyms(result.dataset, c.aliases, column=c.name)
    dataset_changed(wh.path, result.dataset)  # e.g. alert rules on this dataset check again (citybi.events)
    if save_recipe is False:
        return IngestResult(plan=plan, write=result, quality=report, rule_failures=failures)
    name = table if save_recipe is True else save_recipe
    error = _save_recipe(wh, plan, name)
    return IngestResult(plan=plan, write=result, quality=report, recipe_saved=None if error else name,
                        recipe_error=error, rule_failures=failures)


def _check_append(wh: Warehouse, plan: ImportPlan, table: str) -> None:
    """Refuse an append whose columns are not the dataset's (never write a mismatched append)."""
    target = append_target(wh, plan, table)
    if target.problems:
        raise append_refused(target)
    if not target.applied:
        pairs = "、".join(f"{m.source_name} → {m.target}" for m in target.matches if m.source_name != m.target)
        extra = "、".join(target.extra)
        raise UserFacingError(
            f"没有追加：文件的列还没有对应到数据集「{table}」的列"
            + (f"（{pairs}）" if pairs else "") + (f"，文件多出的列：{extra}" if extra else "") + "。",
            hint="在「数据导入」页点「按列对应调整」后再导入；命令行 citybi ingest --mode append 会自动对应",
        )


def _save_recipe(wh: Warehouse, plan: ImportPlan, name: str) -> str | None:
    """Save the plan's options as recipe `name`; the Chinese reason when that fails, else None."""
    if not plan.fingerprint:
        return f"导入方案「{name}」未保存：没有识别出这个文件的表头结构。"
    try:
        recipe.save_recipe(recipes_dir(wh), name, plan.fingerprint, plan.options, plan.column_headers)
    except OSError as err:
        disk = storage_error(err, f"保存导入方案「{name}」")
        return str(disk) if disk is not None else f"导入方案「{name}」未保存：{err.strerror or err}。"
    except UserFacingError as err:
        return str(err)
    return None


def warm_up() -> None:
    """Load, on a background thread, what the first commit in a process would load on its own clock.

    Why: a one-shot `citybi ingest` waits about a second for its reader to shape the file, with
    nothing to do; right after, the write builds its first SQL, and sqlglot then imports and
    builds its DuckDB dialect (0.12 s). Doing that during the wait takes it off the import's time.
    """
    def load() -> None:
        from sqlglot import exp

        exp.select(exp.Star()).from_(exp.to_table("t", quoted=True)).sql(dialect="duckdb")

    threading.Thread(target=load, name="citybi-warm-up", daemon=True).start()


def ingest_file(
    wh: Warehouse,
    path: str | Path,
    *,
    table: str,
    mode: WriteMode = "create",
    options: ImportOptions | None = None,
    key_columns: list[str] | None = None,
    who: str | None = None,
    display_name: str | None = None,
    description: str | None = None,
    original_name: str | None = None,
    recipes: bool | Path = False,
    save_recipe: bool | str = False,
    standardize: Standardize = "accepted",
    allow_repeat: bool = True,
    before_replace: Callable[[ImportPlan], None] | None = None,
) -> IngestResult:
    """Prepare and commit in one call (the CLI, the inbox, the sample loader, tests).

    `before_replace` sees the plan of a replace before anything is written and may refuse it by raising
    (the CLI's lineage check, citybi.lineage, which sits above this module).

    An append is checked for duplicates first (`IngestResult.duplicates`); `allow_repeat=False`
    refuses an append whose every row is in the dataset already (the same file imported twice)."""
    prepared = prepare_file(wh, path, options, original_name=original_name, recipes=recipes,
                            standardize=standardize)
    mapped: AppendTarget | None = None
    try:
        if Catalog(wh).exists(table) and mode in ("append", "create"):
            target = append_target(wh, prepared.plan, table)
            if mode == "create" and not target.problems:
                raise UserFacingError(f"数据集「{table}」已存在，这个文件的列与它一致，可以追加。",
                                      hint="加 --mode append 追加到该数据集；要整体替换请用 --mode replace")
            if mode == "append" and target.problems:
                raise append_refused(target)
            if mode == "append" and not target.applied:  # read again with the file's columns as the dataset's
                used = prepared.plan.recipe
                again = mapping.mapping_options(prepared.plan, target)
                prepared.discard()
                prepared = prepare_file(wh, path, again, original_name=original_name, recipes=False,
                                        standardize=standardize)
                said = [f"已按列对应追加：文件的「{m.source_name}」→ 数据集的「{m.target}」（{MATCH_LABELS[m.how]}）"
                        for m in target.matches if m.how is not None and m.source_name != m.target]
                said += [f"文件的列「{m.source_name}」按数据集中「{m.target}」的类型"
                         f"（{TYPE_LABELS.get(m.target_type, m.target_type)}）导入。"
                         for m in target.matches if m.source is not None and not m.same_type]
                said += [f"文件的列「{x}」在数据集「{table}」中没有对应的列，未导入。" for x in target.extra]
                plan = prepared.plan
                prepared = dataclasses.replace(prepared, plan=plan.model_copy(
                    update={"recipe": used, "warnings": [*said, *plan.warnings]}))
                mapped = target
        dups = find_duplicates(wh, prepared, table=table, key_columns=key_columns) if mode == "append" else None
        if dups is not None and dups.whole_file_repeated and not key_columns and not allow_repeat:
            raise UserFacingError(
                f"没有追加：文件的全部 {dups.rows} 行都已在数据集「{table}」中，可能是同一个文件导入了两次。",
                hint="确实要重复追加请加 --allow-duplicates；要更新已有的行请用 --key 指定主键列")
        if mode == "replace" and before_replace is not None:
            before_replace(prepared.plan)
        result = commit(wh, prepared, table=table, mode=mode, key_columns=key_columns, who=who,
                        display_name=display_name, description=description, save_recipe=save_recipe,
                        duplicates=dups)
        return dataclasses.replace(result, duplicates=dups, mapped=mapped)
    finally:
        prepared.discard()


def import_dictionary(wh: Warehouse, path: str | Path, *, name: str, sheet: str | None = None,
                      prefixes: list[str] | None = None, description: str = "",
                      original_name: str | None = None) -> dictionaries.ValueDictionary:
    """Read a clerk's dictionary table (标准名称 / 编码 / 层级 / 上级 / 别名) and save it in the catalog.

    Read by the same sandboxed reader as any import, every column as text: codes keep their
    leading zeros (001 is not 1). A dictionary of that name is replaced as a whole."""
    from citybi.ingest.model import ColumnOverride

    options = ImportOptions(sheet=sheet, fill_labels=False, drop_totals=False)
    prepared = prepare_file(wh, path, options, original_name=original_name, standardize="off")
    try:
        if any(c.type != "text" for c in prepared.plan.columns):  # read again, typing nothing
            as_text = {c.index: ColumnOverride(type="text") for c in prepared.plan.columns}
            prepared.discard()
            prepared = prepare_file(wh, path, options.model_copy(update={"columns": as_text}),
                                    original_name=original_name, standardize="off")
        d = dictionaries.from_frame(check_visible(name, "字典名称"), prepared.frame(), description=description,
                                    prefixes=prefixes or [])
    finally:
        prepared.discard()
    Catalog(wh).save_dictionary(d)
    return d


def save_dictionary_table(wh: Warehouse, name: str, rows: list[dict[str, Any]], *, prefixes: list[str] | None = None,
                          description: str = "") -> dictionaries.ValueDictionary:
    """Save a dictionary edited as a table on the 数据标准 page (rows keyed 标准名称/编码/层级/上级/别名)."""
    table = pl.DataFrame(rows, schema=dict.fromkeys(dictionaries.TABLE_COLUMNS, pl.String)) if rows else \
        pl.DataFrame(schema=dict.fromkeys(dictionaries.TABLE_COLUMNS, pl.String))
    d = dictionaries.from_frame(check_visible(name, "字典名称"), table, description=description,
                                prefixes=[p.strip() for p in prefixes or [] if p.strip()])
    Catalog(wh).save_dictionary(d)
    return d


def _current_user() -> str:
    ctx = current()
    if ctx is not None and not ctx.is_system:
        return ctx.user  # the signed-in user, not the account the server runs as
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""


def options_with_edits(plan: ImportPlan, edits: list[dict[str, object]]) -> ImportOptions:
    """Fold the clerk's edits of the column table (name/type/unit/skip per source column) into options.

    `edits` has one dict per plan column, in plan order, with keys 列名, 类型 (a logical type
    or its Chinese label), 单位, 跳过. Only what differs from the plan becomes an override.
    A typed name with invisible characters is refused here, before the page keeps the edits.
    """
    from citybi.ingest.model import TYPE_LABELS, ColumnOverride

    by_label = {v: k for k, v in TYPE_LABELS.items()}
    overrides = dict(plan.options.columns)
    for col, edit in zip(plan.columns, edits, strict=False):
        name = check_visible(str(edit.get("列名") or ""), "列名") or col.name
        raw_type = str(edit.get("类型") or col.type)
        ctype = by_label.get(raw_type, raw_type)
        unit = str(edit.get("单位") or "").strip() or None
        skip = bool(edit.get("跳过"))
        current = overrides.get(col.index, ColumnOverride())
        changed = current.model_copy(update={
            "name": name if name != col.name else current.name,
            "type": ctype if ctype != col.type and ctype in TYPE_LABELS else current.type,
            "unit": unit if unit != col.unit else current.unit,
            "skip": skip,
        })
        if changed != ColumnOverride():
            overrides[col.index] = changed
        else:
            overrides.pop(col.index, None)
    return plan.options.model_copy(update={"columns": overrides})


def read_targets(wh: Warehouse, path: str | Path, *, original_name: str | None = None) -> list[dict[str, Any]]:
    """A KPI card's target rows (区 / 时长 / 目标) from an uploaded Excel or CSV sheet.

    Read by the same sandboxed reader as any import, every column as text (a target of
    "3,640" or "95%" is read by the target table's own rules, and a bad cell is named by line)."""
    from citybi.charts.targets import rows_from_columns
    from citybi.ingest.model import ColumnOverride

    options = ImportOptions(fill_labels=False, drop_totals=False)
    prepared = prepare_file(wh, path, options, original_name=original_name, standardize="off")
    try:
        as_text = {c.index: ColumnOverride(type="text") for c in prepared.plan.columns}
        prepared.discard()
        prepared = prepare_file(wh, path, options.model_copy(update={"columns": as_text}),
                                original_name=original_name, standardize="off")
        frame = prepared.frame()
    finally:
        prepared.discard()
    if not any("目标" in str(c) for c in frame.columns):
        raise UserFacingError("目标表的第一行应是表头，并有一列名为「目标」",
                              hint="例如三列：区、时长、目标（时长写 日/周/月/季/年，可留空）")
    return rows_from_columns(frame.columns, frame.rows())
