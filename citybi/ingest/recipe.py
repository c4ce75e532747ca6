"""Import recipes: the options a clerk accepted once, reused for next month's file.

Why a fingerprint of headers, not data: next month's 清运量报表 has new numbers and maybe
one more year column, but the same sheet name and the same header words. Digits are
normalised and runs of period columns collapse to one token, so the fingerprint is stable
across periods while a different report gets a different one. Recipes are YAML (reviewable
in git) and validated strictly on load (unknown keys are refused).

Why file names carry a hash of the exact name: a recipe is saved under the dataset name the
clerk typed, and a readable slug alone is lossy (`a/../../b` and `a_b` both became a_b.yaml,
so one clerk's save replaced another's). The slug keeps the folder readable; the hash makes
different names different files, also on case-insensitive disks. The name never becomes a path.

Why the fingerprint is taken from the sheet's detected header, not from the shaped plan: the
plan changes with the options (a skipped column disappears, unpivoted period columns become two
columns), so a recipe keyed on its own edited plan would never match next month's plain file.
The reader child computes it from the raw header block and applies a matching recipe before
shaping, so a matching file is read once. Overrides are keyed by column position; a recipe also
keeps each overridden column's header and applies an override only to the column with that
header (period columns make positions shift between years). What no longer fits is left out
and listed on the plan, never applied to some other column.
"""
from __future__ import annotations

import contextlib
import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, ValidationError

from citybi.errors import ImportRejected
from citybi.ingest.cells import parse_period
from citybi.ingest.model import TYPE_LABELS, ColumnOverride, ImportOptions, RecipeUse, _Strict
from citybi.tempfiles import replace_text

if TYPE_CHECKING:
    from connectors.base import RawSheet

_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_SAFE_NAME = re.compile(r"[^\w\u3400-\u9fff-]+")
# characters of the readable part of a file name (its length in bytes stays far below 255)
_SLUG_CHARS = 40


class Recipe(_Strict):
    """One saved recipe file."""

    name: str
    fingerprint: str
    options: ImportOptions
    # raw header cells of each overridden source column when saved (empty in the first recipes)
    headers: dict[int, list[str]] = Field(default_factory=dict)


def _norm_header(parts: list[str]) -> str:
    text = "/".join(p for p in parts if p)
    text = re.sub(r"\s+", "", text)
    if parse_period(text.split("/")[-1] if text else ""):
        return "<期间>"
    return _DIGITS.sub("#", text)


def layout_fingerprint(sheet: str, headers: list[list[str]]) -> str:
    """Stable id of a report layout: sheet name + normalised header texts of every column."""
    tokens: list[str] = []
    for parts in headers:
        tok = _norm_header(parts)
        if tok == "<期间>" and tokens and tokens[-1] == "<期间>":
            continue
        tokens.append(tok)
    while tokens and not tokens[-1]:  # a stray far-right cell must not make this month's file another report
        tokens.pop()
    name = _DIGITS.sub("#", sheet.strip())
    payload = name + "\x1f" + "\x1e".join(tokens)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def sheet_fingerprint(raw: RawSheet) -> str:
    """The layout id of a raw sheet, from its automatically detected header (never from options)."""
    from citybi.ingest.header import detect_header

    return layout_fingerprint(raw.name, detect_header(raw).raw_levels)


def _slug(name: str) -> str:
    return _SAFE_NAME.sub("_", name).strip("_") or "recipe"


def _path(directory: Path, name: str) -> Path:
    """The recipe file of `name`: readable slug + hash of the exact name (see the module docstring)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return directory / f"{_slug(name)[:_SLUG_CHARS]}-{digest}.yaml"


def _old_path(directory: Path, name: str) -> Path:
    """Where the first scheme (slug only) saved `name`; read for migration only."""
    return directory / f"{_slug(name)}.yaml"


def save_recipe(
    directory: str | Path, name: str, fp: str, options: ImportOptions,
    headers: dict[int, list[str]] | None = None,
) -> Path:
    """Write the recipe as YAML; returns the file path.

    `headers` are the raw header cells of the overridden columns (ImportPlan.column_headers).
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    recipe = Recipe(name=name, fingerprint=fp, options=options,
                    headers={i: h for i, h in (headers or {}).items() if i in options.columns})
    path = _path(d, name)
    import yaml  # here, not at the top: the sandboxed reader matches recipes but never reads or writes YAML

    text = yaml.safe_dump(recipe.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
    # written beside and renamed over: a symlink planted at `path` is replaced, never written through,
    # and a reader never sees half a recipe
    replace_text(path, text, prefix=".recipe-")
    _drop_old_copy(d, name, path)
    return path


def _drop_old_copy(directory: Path, name: str, new_path: Path) -> None:
    """Remove this name's file of the first scheme, so an older copy cannot win in find_recipe."""
    old = _old_path(directory, name)
    try:
        if old == new_path or old.is_symlink() or not old.is_file():
            return
        same = load_recipe(old).name == name  # a_b.yaml may hold the recipe of "a/b": leave that one
    except (ImportRejected, OSError):  # e.g. a name too long for the old scheme: there is no old file
        return
    if same:
        with contextlib.suppress(OSError):
            old.unlink()


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate one recipe file (strict: unknown keys and bad types are refused)."""
    from citybi.safe_yaml import YamlRejected, load_user_yaml

    p = Path(path)
    try:
        data = load_user_yaml(p.read_bytes(), what=f"导入方案「{p.name}」")
        return Recipe.model_validate(data)
    except YamlRejected as e:  # hostile or broken YAML, refused before it was built
        raise ImportRejected(e.message, hint="请删除该文件后重新导入并保存方案") from None
    except (ValidationError, TypeError) as e:
        raise ImportRejected(
            f"导入方案文件「{p.name}」格式不正确，无法使用。",
            hint="请删除该文件后重新导入并保存方案",
            detail=str(e),
        ) from e


def load_recipes(directory: str | Path) -> list[Recipe]:
    """Every valid recipe in the folder, the most recently saved first. Broken files are skipped.

    Newest first because the same report saved under two dataset names gives two recipes with
    one fingerprint, and the clerk's latest choices are the ones to repeat.
    """
    d = Path(directory)
    if not d.is_dir():
        return []
    found: list[tuple[float, str, Recipe]] = []
    for path in d.glob("*.yaml"):
        try:
            found.append((path.stat().st_mtime, path.name, load_recipe(path)))
        except (ImportRejected, OSError):
            continue
    found.sort(key=lambda t: (-t[0], t[1]))
    return [r for _, _, r in found]


def match(recipes: list[Recipe], fp: str) -> Recipe | None:
    """The first recipe (in the given order) saved for this layout; never one for another layout."""
    if not fp:
        return None
    return next((r for r in recipes if r.fingerprint == fp), None)


def find_recipe(directory: str | Path, fp: str) -> ImportOptions | None:
    """The saved options whose fingerprint matches, or None. Broken files are skipped."""
    found = match(load_recipes(directory), fp)
    return found.options if found is not None else None


def _cells(parts: list[str]) -> list[str]:
    return [t for t in (_SPACE.sub("", p) for p in parts) if t]


def _describe(ov: ColumnOverride) -> str:
    what = []
    if ov.skip:
        what.append("跳过")
    if ov.name:
        what.append(f"改名为「{ov.name}」")
    if ov.type:
        what.append(f"类型改为「{TYPE_LABELS.get(ov.type, ov.type)}」")
    if ov.unit is not None:
        what.append(f"单位改为「{ov.unit}」" if ov.unit else "去掉单位")
    return "、".join(what) or "设置"


def _place(
    overrides: dict[int, ColumnOverride], saved: dict[int, list[str]], current: list[list[str]]
) -> tuple[dict[int, ColumnOverride], list[str]]:
    """Put each override on the column with the header it was made for; list those with none."""
    now = [_cells(h) for h in current]
    placed: dict[int, ColumnOverride] = {}
    moving: list[tuple[int, ColumnOverride, list[str]]] = []
    left_out: list[str] = []
    for i, ov in sorted(overrides.items()):
        if i not in saved:  # a recipe of the first kind kept no headers: its positions are all it has
            if i < len(now):
                placed[i] = ov
            else:
                left_out.append(f"第 {i + 1} 列在本文件中不存在，导入方案中对它的设置（{_describe(ov)}）未套用。")
            continue
        want = _cells(saved[i])
        if i < len(now) and now[i] == want:
            placed[i] = ov
        else:
            moving.append((i, ov, want))
    for _i, ov, want in moving:
        label = "/".join(want) or "（无表头）"
        hits = [j for j, h in enumerate(now) if want and h == want and j not in placed]
        if len(hits) == 1:
            placed[hits[0]] = ov
        else:
            left_out.append(f"本文件中找不到列「{label}」，导入方案中对它的设置（{_describe(ov)}）未套用。")
    return placed, left_out


def fit(recipe: Recipe, options: ImportOptions, raw: RawSheet) -> tuple[ImportOptions, RecipeUse]:
    """The options to read `raw` with: the recipe's, with the caller's explicit choices on top.

    What the caller set (anything not at its default, e.g. `citybi ingest --header-row 3`) wins;
    the sheet is always the caller's (the fingerprint was taken on it). Column overrides are
    placed by header (see `_place`), and those that fit no column are listed, not applied.
    """
    from citybi.ingest.header import detect_header

    default = ImportOptions()
    explicit = {
        k: getattr(options, k) for k in ImportOptions.model_fields
        if k not in ("columns", "sheet") and getattr(options, k) != getattr(default, k)
    }
    merged = recipe.options.model_copy(update={**explicit, "sheet": options.sheet})
    header_row = merged.header_row - 1 if merged.header_row else None
    current = detect_header(raw, header_row, merged.header_depth).raw_levels
    columns, left_out = _place(recipe.options.columns, recipe.headers, current)
    columns.update(options.columns)
    merged = merged.model_copy(update={"columns": columns})
    return merged, RecipeUse(name=recipe.name, not_applied=left_out)


def column_headers(raw: RawSheet, options: ImportOptions) -> dict[int, list[str]]:
    """The raw header cells of the columns `options` overrides, as read with those options."""
    from citybi.ingest.header import detect_header

    if not options.columns:
        return {}
    header_row = options.header_row - 1 if options.header_row else None
    levels = detect_header(raw, header_row, options.header_depth).raw_levels
    return {i: list(levels[i]) for i in sorted(options.columns) if i < len(levels)}
