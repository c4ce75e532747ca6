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
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

import yaml
from pydantic import ValidationError

from citybi.errors import ImportRejected
from citybi.ingest.cells import parse_period
from citybi.ingest.model import ImportOptions, ImportPlan, _Strict
from citybi.safe_yaml import YamlRejected, load_user_yaml

_DIGITS = re.compile(r"\d+")
_SAFE_NAME = re.compile(r"[^\w\u3400-\u9fff-]+")
# characters of the readable part of a file name (its length in bytes stays far below 255)
_SLUG_CHARS = 40


class Recipe(_Strict):
    """One saved recipe file."""

    name: str
    fingerprint: str
    options: ImportOptions


def _norm_header(parts: list[str]) -> str:
    text = "/".join(p for p in parts if p)
    text = re.sub(r"\s+", "", text)
    if parse_period(text.split("/")[-1] if text else ""):
        return "<期间>"
    return _DIGITS.sub("#", text)


def fingerprint(plan: ImportPlan) -> str:
    """Stable id of a report layout: sheet name + normalised header texts (not data)."""
    tokens: list[str] = []
    for col in plan.columns:
        if col.index < 0:  # synthesized by unpivot
            continue
        tok = _norm_header(col.header)
        if tok == "<期间>" and tokens and tokens[-1] == "<期间>":
            continue
        tokens.append(tok)
    sheet = _DIGITS.sub("#", plan.sheet.strip())
    payload = sheet + "\x1f" + "\x1e".join(tokens)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _slug(name: str) -> str:
    return _SAFE_NAME.sub("_", name).strip("_") or "recipe"


def _path(directory: Path, name: str) -> Path:
    """The recipe file of `name`: readable slug + hash of the exact name (see the module docstring)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return directory / f"{_slug(name)[:_SLUG_CHARS]}-{digest}.yaml"


def _old_path(directory: Path, name: str) -> Path:
    """Where the first scheme (slug only) saved `name`; read for migration only."""
    return directory / f"{_slug(name)}.yaml"


def save_recipe(directory: str | Path, name: str, fp: str, options: ImportOptions) -> Path:
    """Write the recipe as YAML; returns the file path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    recipe = Recipe(name=name, fingerprint=fp, options=options)
    path = _path(d, name)
    text = yaml.safe_dump(recipe.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
    # written beside and renamed over: a symlink planted at `path` is replaced, never written through,
    # and a reader never sees half a recipe
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".recipe-", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
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


def find_recipe(directory: str | Path, fp: str) -> ImportOptions | None:
    """The saved options whose fingerprint matches, or None. Broken files are skipped."""
    d = Path(directory)
    if not d.is_dir():
        return None
    for path in sorted(d.glob("*.yaml")):
        try:
            recipe = load_recipe(path)
        except ImportRejected:
            continue
        if recipe.fingerprint == fp:
            return recipe.options
    return None
