"""Import recipes: the options a clerk accepted once, reused for next month's file.

Why a fingerprint of headers, not data: next month's 清运量报表 has new numbers and maybe
one more year column, but the same sheet name and the same header words. Digits are
normalised and runs of period columns collapse to one token, so the fingerprint is stable
across periods while a different report gets a different one. Recipes are YAML (reviewable
in git) and validated strictly on load (unknown keys are refused).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from citybi.errors import ImportRejected
from citybi.ingest.cells import parse_period
from citybi.ingest.model import ImportOptions, ImportPlan, _Strict
from citybi.safe_yaml import YamlRejected, load_user_yaml

_DIGITS = re.compile(r"\d+")
_SAFE_NAME = re.compile(r"[^\w\u3400-\u9fff-]+")


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


def _path(directory: Path, name: str) -> Path:
    safe = _SAFE_NAME.sub("_", name).strip("_") or "recipe"
    return directory / f"{safe}.yaml"


def save_recipe(directory: str | Path, name: str, fp: str, options: ImportOptions) -> Path:
    """Write the recipe as YAML; returns the file path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    recipe = Recipe(name=name, fingerprint=fp, options=options)
    path = _path(d, name)
    data = recipe.model_dump(mode="json")
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


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
