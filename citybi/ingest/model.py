"""The import plan and the user's choices, as strict, JSON-serialisable models.

The plan crosses a process boundary (it is built in the sandboxed reader process), is shown
in the UI, and its accepted options are saved as a recipe (YAML) — so it is data, not code.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from citybi.dictionaries import ColumnProposal
from citybi.dictionaries import summary_zh as standardized_zh

# The logical column types the importer can produce, and their DuckDB types.
ColumnType = Literal["text", "integer", "number", "date", "timestamp", "month", "year", "boolean"]
DUCKDB_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "month": "DATE",  # first day of the month; the catalog remembers the grain
    "year": "INTEGER",
    "boolean": "BOOLEAN",
}
TYPE_LABELS: dict[str, str] = {
    "text": "文本",
    "integer": "整数",
    "number": "数值",
    "date": "日期",
    "timestamp": "日期时间",
    "month": "年月",
    "year": "年份",
    "boolean": "是/否",
}

DropReason = Literal["total", "footer", "blank", "repeated_header", "note"]
DROP_LABELS: dict[str, str] = {
    "total": "小计/合计行",
    "footer": "表尾（注/数据来源/填报人等）",
    "blank": "空行",
    "repeated_header": "重复的表头行",
    "note": "说明文字行",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnOverride(_Strict):
    """What the user changed for one source column (by its position in the sheet)."""

    name: str | None = None
    type: ColumnType | None = None
    unit: str | None = None
    skip: bool = False


class ImportOptions(_Strict):
    """The user's choices; an accepted plan's options are saved as a recipe."""

    sheet: str | None = None
    # union every non-empty sheet whose columns match the first, adding a sheet-name column
    union_sheets: bool = False
    union_column: str = "工作表"
    # 1-based sheet row numbers of the header block; None = detect
    header_row: int | None = None
    header_depth: int | None = None
    columns: dict[int, ColumnOverride] = Field(default_factory=dict)
    drop_totals: bool = True
    # fill blank cells under a group label typed once per block (rows.implicit_fill); off for
    # tables where a blank means "none", e.g. a dictionary's 别名 column
    fill_labels: bool = True
    # turn period columns (2019年, 2020年, … or months) into rows (id columns kept)
    unpivot: bool = False
    unpivot_name: str = "期间"
    unpivot_value: str = "数值"
    # the clerk's standardisation choices, column → {value as written: standard value}; a value
    # mapped to itself is one the clerk keeps as it is (citybi.dictionaries.settle). Saved in the
    # recipe, so next month's file gets the same mappings
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    # several tables on one sheet (ImportPlan.tables): which one to import, 1-based; None = the first
    sheet_table: int | None = Field(default=None, ge=1)
    # the dataset this report is appended to; with the column overrides (names/types mapped onto
    # the dataset's) it is saved in the recipe, so next month's file is offered the same append
    append_to: str | None = None


class DroppedRow(_Strict):
    row: int  # 1-based sheet row number, as the clerk sees it in Excel
    reason: DropReason
    text: str  # the row's content, shortened, so the clerk can recognise it


class RowRun(_Strict):
    """Frame rows `at` … `at + n - 1` are sheet rows `row` … `row + n - 1` (of sheet `sheet`).

    Why runs, not one number per row: the quality report names the Excel row of a rule's failing
    rows, and a 200,000-row sheet is a handful of runs (a new run only after a dropped row)."""

    at: int  # 0-based frame row
    row: int  # 1-based sheet row, as the clerk sees it in Excel
    n: int
    sheet: str = ""


class ColumnPlan(_Strict):
    index: int  # 0-based source column position in the sheet
    name: str  # final column name (unique, cleaned)
    header: list[str]  # the raw header cells, top level first
    type: ColumnType
    unit: str | None = None
    flags: list[str] = Field(default_factory=list)  # e.g. footnote markers ("i", "*")
    null_count: int = 0
    failed_count: int = 0  # cells that did not convert to `type` (they are NULL, and shown)
    failed_samples: list[str] = Field(default_factory=list)
    forward_filled: int = 0
    sample: list[str] = Field(default_factory=list)
    # other names the sheet gives the column: its English code from a bilingual header ("date")
    aliases: list[str] = Field(default_factory=list)


class WideInfo(_Strict):
    """Columns that look like periods (years, months): the table can be unpivoted."""

    period_columns: list[str]
    id_columns: list[str]
    grain: Literal["year", "month", "quarter", "day", "other"]


class SheetTable(_Strict):
    """One of several tables found on the sheet; each can be imported as its own dataset."""

    index: int  # 1-based, what ImportOptions.sheet_table takes
    title: str  # its title row, or its column names
    first_row: int  # 1-based sheet rows, title/header to last data row
    last_row: int
    columns: list[str] = Field(default_factory=list)


MatchHow = Literal["name", "base", "synonym", "alias", "unit", "chosen"]
MATCH_LABELS: dict[str, str] = {
    "name": "列名相同", "base": "去掉上级表头和单位后相同", "synonym": "同义词", "alias": "英文代码",
    "unit": "唯一一个单位和类型都相同的列", "chosen": "手工指定",
}


class ColumnMatch(_Strict):
    """Where one column of an existing dataset comes from in this file."""

    target: str  # the dataset's column
    target_type: ColumnType
    target_unit: str | None = None
    source: int | None = None  # ColumnPlan.index of the file's column; None = no column found
    source_name: str = ""  # that column's name in this plan
    source_type: ColumnType | None = None  # that column's type in this plan (None: not recorded)
    how: MatchHow | None = None

    @property
    def same_type(self) -> bool:
        """The file's column lands as the dataset's type as it is (integer and number mix freely)."""
        kinds = {self.source_type, self.target_type}
        return self.source_type is None or len(kinds) == 1 or kinds <= {"integer", "number"}


class AppendTarget(_Strict):
    """An existing dataset this file can be appended to, and how its columns map onto it."""

    dataset: str
    by_recipe: bool = False  # this report's saved recipe was made for the dataset
    matches: list[ColumnMatch] = Field(default_factory=list)
    extra: list[str] = Field(default_factory=list)  # the file's columns the dataset has no place for
    problems: list[str] = Field(default_factory=list)  # Chinese: what stops a faithful append

    @property
    def applied(self) -> bool:
        """The plan's columns are already named and typed as the dataset's (nothing to re-read)."""
        return not self.extra and all(m.source is not None and m.source_name == m.target and m.same_type
                                      for m in self.matches)


class RecipeUse(_Strict):
    """Which saved recipe shaped this plan, and what of it did not fit this file."""

    name: str
    # Chinese, one line per recipe setting left out (e.g. a renamed column this file no longer has)
    not_applied: list[str] = Field(default_factory=list)


class ImportPlan(_Strict):
    file_name: str
    sha256: str
    file_kind: str  # "xlsx", "xls", "csv"
    sheet: str
    sheets: list[str]  # every sheet in the file (non-empty ones)
    skipped_sheets: list[str] = Field(default_factory=list)  # empty sheets
    encoding: str | None = None
    header_rows: list[int]  # 1-based sheet rows of the header block
    preamble: list[str] = Field(default_factory=list)  # title/数据库：/指标：/时间： lines, kept
    notes: list[str] = Field(default_factory=list)  # footer notes (注：…, 数据来源：…), kept
    columns: list[ColumnPlan]
    dropped_rows: list[DroppedRow] = Field(default_factory=list)
    dropped_columns: list[int] = Field(default_factory=list)  # blank spacer columns (0-based)
    warnings: list[str] = Field(default_factory=list)  # Chinese, shown to the clerk
    wide: WideInfo | None = None
    # every table on the sheet when there are several (empty: one); options.sheet_table picks
    tables: list[SheetTable] = Field(default_factory=list)
    row_count: int
    options: ImportOptions
    # the report layout id (citybi.ingest.recipe.sheet_fingerprint), set by the reader; "" = unknown
    fingerprint: str = ""
    # raw header cells of every source column `options.columns` overrides: a saved recipe keeps
    # them, so next month's file applies an override only to the column it was made for
    column_headers: dict[int, list[str]] = Field(default_factory=dict)
    recipe: RecipeUse | None = None  # the saved recipe applied by the reader, if any
    # value dictionary proposals per text column, set by the importer (not the reader: the
    # dictionaries live in the catalog); `accepted` mappings are applied at commit
    standardize: list[ColumnProposal] = Field(default_factory=list)
    # existing datasets whose columns this file matches, best first, set by the importer
    append_targets: list[AppendTarget] = Field(default_factory=list)
    # where each frame row stands in the sheet (empty: not known, e.g. after 转为长表)
    row_runs: list[RowRun] = Field(default_factory=list)

    def sheet_row(self, index: int) -> tuple[str, int] | None:
        """(sheet, 1-based Excel row) of 0-based frame row `index`; None when not known."""
        for r in self.row_runs:
            if r.at <= index < r.at + r.n:
                return r.sheet, r.row + index - r.at
        return None

    def summary_zh(self) -> str:
        """One line for the CLI and the status box."""
        by_reason: dict[str, int] = {}
        for d in self.dropped_rows:
            by_reason[d.reason] = by_reason.get(d.reason, 0) + 1
        dropped = "，".join(f"{DROP_LABELS[k]} {v} 行" for k, v in by_reason.items())
        hdr = "、".join(str(r) for r in self.header_rows) or "无"
        standardized = standardized_zh(self.standardize)
        return (
            f"工作表「{self.sheet}」：表头在第 {hdr} 行，{len(self.columns)} 列，{self.row_count} 行数据"
            + (f"；已去除 {dropped}" if dropped else "")
            + (f"；{standardized}" if standardized else "")
        )
