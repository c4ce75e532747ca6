"""Import = prepare (sandboxed read + plan) then commit (one transaction into the catalog).

The two steps are separate because the clerk looks at the plan between them: the app calls
`prepare`, shows the plan, lets the clerk fix header row, names and types (which calls
`prepare` again with new options), then calls `commit`. The CLI does both in one go.
"""
from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

from citybi.catalog import Catalog, Provenance, WriteMode, WriteResult
from citybi.ingest.model import ImportOptions, ImportPlan
from citybi.ingest.pipeline import Prepared, prepare
from citybi.usertext import check_visible
from citybi.warehouse import Warehouse


@dataclass(frozen=True)
class IngestResult:
    plan: ImportPlan
    write: WriteResult


def prepare_file(
    wh: Warehouse, path: str | Path, options: ImportOptions | None = None, *, original_name: str | None = None
) -> Prepared:
    """Read and shape a file in the sandboxed reader; nothing is written."""
    return prepare(Path(path), options or ImportOptions(), wh.settings.limits, original_name=original_name)


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
) -> IngestResult:
    """Write a prepared import as a new dataset version (all or nothing)."""
    plan = prepared.plan
    frame = prepared.frame()
    units = {c.name: c.unit for c in plan.columns}
    types = {c.name: c.type for c in plan.columns if c.name in frame.columns}
    prov = Provenance(
        source_file=plan.file_name,
        sha256=plan.sha256,
        sheet=plan.sheet,
        who=who if who is not None else _current_user(),
        plan_json=plan.model_dump_json(),
        note=plan.summary_zh(),
    )
    result = Catalog(wh).write(
        table, frame, mode=mode, units=units, column_types=types, key_columns=key_columns,
        provenance=prov, display_name=display_name, description=description,
    )
    return IngestResult(plan=plan, write=result)


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
) -> IngestResult:
    """Prepare and commit in one call (the CLI, the sample loader, tests)."""
    prepared = prepare_file(wh, path, options, original_name=original_name)
    try:
        return commit(wh, prepared, table=table, mode=mode, key_columns=key_columns, who=who,
                      display_name=display_name, description=description)
    finally:
        prepared.discard()


def _current_user() -> str:
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
