"""Saved import recipes, applied by the core for every caller: the page, `citybi ingest`, the inbox.

Month 1 of a report is imported the way the 数据导入 page does it (plan, the clerk's edits,
commit with save_recipe=True); next month's file then gets the recipe's names and types through
the real CLI and through the inbox, a different report gets none, and --no-recipe gives the plain
plan. The fixtures are built in code (tests/filefactory.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff
from rawsheet_factory import make_raw

import citybi.ingest.pipeline as pipeline
from citybi import inbox
from citybi.catalog import Catalog, open_warehouse
from citybi.importer import commit, ingest_file, options_with_edits, prepare_file
from citybi.ingest.model import TYPE_LABELS, ColumnOverride, ImportOptions
from citybi.ingest.recipe import Recipe, fit, load_recipes, save_recipe, sheet_fingerprint

CLI = Path(sys.executable).with_name("citybi")
RECIPE = "清运月报"
# the clerk's edits of month 1, as the page's column table sends them
RENAME = {"区": "行政区", "清运量（吨）": "清运量"}
RETYPE = {"车次": "数值"}
SKIP = {"备注"}
WITH_RECIPE = {"行政区": ("text", None), "街道": ("text", None), "清运量": ("number", "吨"), "车次": ("number", None)}
PLAIN = {"区": ("text", None), "街道": ("text", None), "清运量（吨）": ("number", "吨"), "车次": ("integer", None),
         "备注": ("text", None)}


def _save_month_one(tmp_path: Path) -> Path:
    """Import month 1 like the page: plan, the clerk's edits, re-plan, commit with save_recipe=True."""
    db = tmp_path / "w.duckdb"
    may = ff.xlsx_monthly_report(tmp_path / "5月清运.xlsx", 5)
    with open_warehouse(path=db) as wh:
        first = prepare_file(wh, may, recipes=True)
        assert first.plan.recipe is None  # nothing saved yet
        edits = [{"列名": RENAME.get(c.name, c.name), "类型": RETYPE.get(c.name, TYPE_LABELS[c.type]),
                  "单位": c.unit or "", "跳过": c.name in SKIP} for c in first.plan.columns]
        first.discard()
        edited = prepare_file(wh, may, options_with_edits(first.plan, edits))
        try:
            result = commit(wh, edited, table="5月清运", save_recipe=RECIPE)
        finally:
            edited.discard()
    assert result.recipe_saved == RECIPE and result.recipe_error is None
    return db


def _schema(db: Path, table: str) -> dict[str, tuple[str, str | None]]:
    with open_warehouse(path=db) as wh:
        return {c.name: (c.type, c.unit) for c in Catalog(wh).get(table).columns}


def _other_report(path: Path) -> Path:
    return ff.xlsx_sheets(path, {"6月": [["区", "工单数", "受理日期"], ["南湖区", 12, "2024-06-01"],
                                        ["秀洲区", 7, "2024-06-02"]]})


def _cli(*args: str) -> dict[str, Any]:
    out = subprocess.run([str(CLI), "ingest", *args, "--json"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


# (id, next file, extra CLI arguments, recipe expected in --json, the dataset's columns: name → (type, unit))
CLI_CASES: list[tuple[str, Callable[[Path], Path], list[str], str | None, dict[str, Any]]] = [
    ("next-month-gets-the-recipe", lambda p: ff.xlsx_monthly_report(p, 6), [], RECIPE, WITH_RECIPE),
    ("no-recipe-gives-the-plain-plan", lambda p: ff.xlsx_monthly_report(p, 6), ["--no-recipe"], None, PLAIN),
    ("other-report-gets-none", _other_report, [], None,
     {"区": ("text", None), "工单数": ("integer", None), "受理日期": ("date", None)}),
]


@pytest.mark.parametrize(("case", "make", "extra", "recipe", "columns"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_ingest_uses_the_saved_recipe(
    tmp_path: Path, case: str, make: Callable[[Path], Path], extra: list[str], recipe: str | None,
    columns: dict[str, Any],
) -> None:
    db = _save_month_one(tmp_path)
    nxt = make(tmp_path / "next_month.xlsx")
    outcome = _cli(str(nxt), "--db", str(db), "--table", "6月清运", *extra)
    assert outcome["status"] == "ok"
    assert (outcome["recipe"] or {}).get("name") == recipe
    assert outcome["plan"]["recipe"] == outcome["recipe"]
    if recipe is not None:
        assert outcome["recipe"]["not_applied"] == []
    assert _schema(db, "6月清运") == columns


@pytest.mark.parametrize(("use_recipes", "recipe", "columns"), [(True, RECIPE, WITH_RECIPE), (False, None, PLAIN)],
                         ids=["job-uses-recipes", "job-without-recipes"])
def test_inbox_job_uses_the_saved_recipe(
    tmp_path: Path, use_recipes: bool, recipe: str | None, columns: dict[str, Any]
) -> None:
    db = _save_month_one(tmp_path)
    june = ff.xlsx_monthly_report(tmp_path / "6月清运.xlsx", 6)
    job = inbox.submit(db, june, table="6月清运", mode="create", options=ImportOptions(), use_recipes=use_recipes)
    with open_warehouse(path=db) as wh:
        assert inbox.process_pending(wh) == 1
    outcome = inbox.wait(job, timeout_s=5)
    assert outcome["status"] == "ok", outcome
    assert (outcome["recipe"] or {}).get("name") == recipe
    assert _schema(db, "6月清运") == columns


def test_cli_save_recipe_then_next_month(tmp_path: Path) -> None:
    """--save-recipe NAME keeps the CLI's own options (here: the header row) for the next file."""
    db = tmp_path / "w.duckdb"
    may = ff.xlsx_monthly_report(tmp_path / "5月.xlsx", 5)
    june = ff.xlsx_monthly_report(tmp_path / "6月.xlsx", 6)
    first = _cli(str(may), "--db", str(db), "--table", "5月", "--header-row", "3", "--save-recipe", "按第3行表头")
    assert first["recipe"] is None and first["recipe_saved"] == "按第3行表头"
    saved = load_recipes(db.parent / "recipes")
    assert [(r.name, r.options.header_row) for r in saved] == [("按第3行表头", 3)]
    second = _cli(str(june), "--db", str(db), "--table", "6月")
    assert second["recipe"] == {"name": "按第3行表头", "not_applied": []}
    assert second["plan"]["options"]["header_row"] == 3
    assert second["recipe_saved"] is None  # saving is asked for, never implied


def test_a_matching_file_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fingerprint and recipe are applied inside one reader run (the page used to need two)."""
    db = _save_month_one(tmp_path)
    runs: list[str] = []
    real = pipeline._run_child

    def counted(request: dict[str, Any], *a: Any, **k: Any) -> dict[str, Any]:
        runs.append(request["op"])
        return real(request, *a, **k)

    monkeypatch.setattr(pipeline, "_run_child", counted)
    with open_warehouse(path=db) as wh:
        prepared = prepare_file(wh, ff.xlsx_monthly_report(tmp_path / "6月.xlsx", 6), recipes=True)
    prepared.discard()
    assert runs == ["prepare"]
    assert prepared.plan.recipe is not None and prepared.plan.recipe.name == RECIPE
    assert [c.name for c in prepared.plan.columns] == list(WITH_RECIPE)


WIDE_2024 = [["地区", "2024年", "2023年", "2022年"], ["北京市", 1.5, 2.5, 3.5], ["天津市", 4.5, 5.5, 6.5]]
WIDE_2025 = [["地区", "2025年", "2024年", "2023年"], ["北京市", 7.5, 1.5, 2.5], ["天津市", 8.5, 4.5, 5.5]]


def test_a_column_of_the_recipe_gone_imports_and_says_so(tmp_path: Path) -> None:
    """Next year's wide table has lost 2022年: the import works, its rename is left out and listed."""
    db = tmp_path / "w.duckdb"
    with open_warehouse(path=db) as wh:
        first = prepare_file(wh, ff.xlsx_sheets(tmp_path / "a.xlsx", {"分省数据": WIDE_2024}))
        first.discard()
        renamed = options_with_edits(first.plan, [
            {"列名": {"地区": "省份", "2022年": "2022年（终核）"}.get(c.name, c.name), "类型": c.type,
             "单位": "", "跳过": False} for c in first.plan.columns])
        res = ingest_file(wh, tmp_path / "a.xlsx", table="2024", options=renamed, save_recipe=True)
        assert res.recipe_saved == "2024"
        res = ingest_file(wh, ff.xlsx_sheets(tmp_path / "b.xlsx", {"分省数据": WIDE_2025}), table="2025",
                          recipes=True)
        assert [c.name for c in Catalog(wh).get("2025").columns] == ["省份", "2025年", "2024年", "2023年"]
    assert res.plan.recipe is not None and res.plan.recipe.name == "2024"
    assert res.plan.recipe.not_applied == [
        "本文件中找不到列「2022年」，导入方案中对它的设置（改名为「2022年（终核）」）未套用。"]


# --------------------------------------------------------------------------- the fingerprint
REPORT = [["2024年5月清运情况"], ["区", "清运量（吨）", "车次"], ["南湖区", 1.5, 3], ["秀洲区", 2.5, 4]]

# (id, next file's rows, its sheet name, same report?)
FINGERPRINTS: list[tuple[str, list[list[Any]], str, bool]] = [
    ("next-month-new-numbers", [["2024年6月清运情况"], ["区", "清运量（吨）", "车次"], ["东城区", 9.5, 1]], "6月",
     True),
    ("stray-far-right-cell", [["2024年6月"], ["区", "清运量（吨）", "车次", None, None], ["东城区", 9.5, 1, None, "x"]],
     "6月", True),
    ("header-renamed", [["标题"], ["区", "垃圾量（吨）", "车次"], ["东城区", 9.5, 1]], "6月", False),
    ("one-more-column", [["标题"], ["区", "清运量（吨）", "车次", "备注"], ["东城区", 9.5, 1, "a"]], "6月", False),
    ("columns-reordered", [["标题"], ["清运量（吨）", "区", "车次"], [9.5, "东城区", 1]], "6月", False),
    ("other-sheet-name", [["2024年6月清运情况"], ["区", "清运量（吨）", "车次"], ["东城区", 9.5, 1]], "汇总", False),
]


@pytest.mark.parametrize(("case", "rows", "sheet", "same"), FINGERPRINTS, ids=[c[0] for c in FINGERPRINTS])
def test_fingerprint_is_the_report_layout(case: str, rows: list[list[Any]], sheet: str, same: bool) -> None:
    base = sheet_fingerprint(make_raw(REPORT, name="5月"))
    assert (sheet_fingerprint(make_raw(rows, name=sheet)) == base) is same


# --------------------------------------------------------------------------- fitting a recipe to a file
NBS_2024 = [["地区", "2024年", "2023年", "2022年"], ["北京市", 1, 2, 3]]
NBS_2025 = [["地区", "2025年", "2024年", "2023年", "2022年"], ["北京市", 1, 2, 3, 4]]
NBS_2026 = [["地区", "2026年", "2025年", "2024年", "2023年"], ["北京市", 1, 2, 3, 4]]
TWO = [["区", "工单数"], ["南湖区", 1]]

# (id, recipe overrides, recipe headers, recipe header_row, caller options, the file's rows,
#  → columns applied, header_row, what is reported as not applied)
FITS: list[tuple[str, dict[int, ColumnOverride], dict[int, list[str]], int | None, ImportOptions,
                 list[list[Any]], dict[int, ColumnOverride], int | None, list[str]]] = [
    ("same-place", {1: ColumnOverride(name="工单量")}, {1: ["工单数"]}, None, ImportOptions(), TWO,
     {1: ColumnOverride(name="工单量")}, None, []),
    ("period-columns-shifted", {3: ColumnOverride(skip=True)}, {3: ["2022年"]}, None, ImportOptions(), NBS_2025,
     {4: ColumnOverride(skip=True)}, None, []),
    ("column-gone", {0: ColumnOverride(name="省份"), 3: ColumnOverride(name="终核", type="number")},
     {0: ["地区"], 3: ["2022年"]}, None, ImportOptions(), NBS_2026, {0: ColumnOverride(name="省份")}, None,
     ["本文件中找不到列「2022年」，导入方案中对它的设置（改名为「终核」、类型改为「数值」）未套用。"]),
    ("first-kind-recipe-by-position", {1: ColumnOverride(name="工单量"), 5: ColumnOverride(skip=True)}, {}, None,
     ImportOptions(), TWO, {1: ColumnOverride(name="工单量")}, None,
     ["第 6 列在本文件中不存在，导入方案中对它的设置（跳过）未套用。"]),
    ("caller-wins", {0: ColumnOverride(name="区县"), 1: ColumnOverride(name="工单量")}, {0: ["区"], 1: ["工单数"]},
     1, ImportOptions(header_row=2, columns={1: ColumnOverride(name="件数")}), [["标题"], *TWO],
     {0: ColumnOverride(name="区县"), 1: ColumnOverride(name="件数")}, 2, []),
    ("recipe-header-row-kept", {1: ColumnOverride(unit="件")}, {1: ["工单数"]}, 2, ImportOptions(),
     [["标题"], *TWO], {1: ColumnOverride(unit="件")}, 2, []),
]


@pytest.mark.parametrize(
    ("case", "overrides", "headers", "header_row", "caller", "rows", "columns", "want_header_row", "left_out"),
    FITS, ids=[c[0] for c in FITS],
)
def test_fit_places_overrides_by_their_header(
    case: str, overrides: dict[int, ColumnOverride], headers: dict[int, list[str]], header_row: int | None,
    caller: ImportOptions, rows: list[list[Any]], columns: dict[int, ColumnOverride], want_header_row: int | None,
    left_out: list[str],
) -> None:
    saved = Recipe(name="方案", fingerprint="fp", headers=headers,
                   options=ImportOptions(header_row=header_row, columns=overrides))
    options, used = fit(saved, caller, make_raw(rows))
    assert options.columns == columns
    assert options.header_row == want_header_row
    assert used.name == "方案" and used.not_applied == left_out


def test_recipe_file_keeps_the_headers_of_its_overrides(tmp_path: Path) -> None:
    opts = ImportOptions(columns={2: ColumnOverride(skip=True)})
    path = save_recipe(tmp_path, "甲", "fp", opts, {1: ["区"], 2: ["备注"]})
    (loaded,) = load_recipes(tmp_path)
    assert path.exists() and loaded.headers == {2: ["备注"]} and loaded.options == opts


def test_a_recipe_that_changes_nothing_is_not_announced(tmp_path: Path) -> None:
    """The page saves a recipe on every import by default; one with the plain options claims nothing."""
    with open_warehouse(path=tmp_path / "w.duckdb") as wh:
        res = ingest_file(wh, ff.xlsx_monthly_report(tmp_path / "5月.xlsx", 5), table="5月", save_recipe=True)
        assert res.recipe_saved == "5月" and [r.name for r in load_recipes(wh.settings.recipes_dir)] == ["5月"]
        june = prepare_file(wh, ff.xlsx_monthly_report(tmp_path / "6月.xlsx", 6), recipes=True)
    june.discard()
    assert june.plan.recipe is None
    assert [c.name for c in june.plan.columns] == list(PLAIN)
