"""Recipe names: two different names never share a file, and no name leaves the recipe folder.

A recipe is saved under the dataset name the clerk typed. The old scheme replaced every
unsafe character by "_", so `a/../../b` and `a_b` were written to the same file and the
second save silently replaced the first clerk's recipe.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from citybi.ingest.model import ImportOptions
from citybi.ingest.recipe import find_recipe, load_recipe, save_recipe

# (id, first name, second name): each pair collided under the old scheme
COLLIDING: list[tuple[str, str, str]] = [
    ("traversal-vs-underscore", "a/../../b", "a_b"),
    ("slash-vs-underscore", "区/街道", "区_街道"),
    ("space-vs-underscore", "清运 量", "清运_量"),
    ("dot-vs-underscore", "v1.2", "v1_2"),
    ("punctuation-only", "...", "///"),
    ("stripped-edges", "_清运_", "清运"),
    ("empty-vs-default", "", "recipe"),
    ("case", "Waste", "waste"),
]

# names that try to leave the folder (or name a special file)
ESCAPES: list[tuple[str, str]] = [
    ("dotdot", ".."),
    ("relative-up", "../../../etc/cron.d/x"),
    ("absolute", "/etc/passwd"),
    ("backslash-up", "..\\..\\x"),
    ("nul-byte", "a\x00b"),
    ("newline", "a\nb"),
    ("very-long", "清" * 400),
]


def _opts(n: int) -> ImportOptions:
    return ImportOptions(header_row=n)


@pytest.mark.parametrize(("case", "first", "second"), COLLIDING, ids=[c[0] for c in COLLIDING])
def test_different_names_keep_different_recipes(tmp_path: Path, case: str, first: str, second: str) -> None:
    d = tmp_path / "recipes"
    p1 = save_recipe(d, first, "fp-first", _opts(1))
    p2 = save_recipe(d, second, "fp-second", _opts(2))
    assert p1 != p2
    assert find_recipe(d, "fp-first") == _opts(1)  # the second save did not overwrite the first
    assert find_recipe(d, "fp-second") == _opts(2)
    assert load_recipe(p1).name == first and load_recipe(p2).name == second


@pytest.mark.parametrize(("case", "name"), ESCAPES, ids=[c[0] for c in ESCAPES])
def test_name_never_leaves_the_recipe_folder(tmp_path: Path, case: str, name: str) -> None:
    d = tmp_path / "a" / "b" / "recipes"
    path = save_recipe(d, name, "fp", _opts(3))
    assert path.resolve().parent == d.resolve()
    assert len(path.name.encode("utf-8")) <= 255
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != d]
    assert outside == []
    assert load_recipe(path).name == name and find_recipe(d, "fp") == _opts(3)


def test_same_name_saved_twice_replaces_its_own_recipe(tmp_path: Path) -> None:
    save_recipe(tmp_path, "环卫清运", "fp-old", _opts(1))
    save_recipe(tmp_path, "环卫清运", "fp-new", _opts(2))
    assert len(list(tmp_path.glob("*.yaml"))) == 1
    assert find_recipe(tmp_path, "fp-old") is None and find_recipe(tmp_path, "fp-new") == _opts(2)


def test_a_symlinked_recipe_file_is_replaced_not_written_through(tmp_path: Path) -> None:
    d = tmp_path / "recipes"
    first = save_recipe(d, "环卫清运", "fp-1", _opts(1))
    victim = tmp_path / "victim.txt"
    victim.write_text("原有内容", encoding="utf-8")
    first.unlink()
    first.symlink_to(victim)
    again = save_recipe(d, "环卫清运", "fp-2", _opts(2))
    assert victim.read_text(encoding="utf-8") == "原有内容"
    assert not again.is_symlink() and find_recipe(d, "fp-2") == _opts(2)


def _old_scheme_file(d: Path, stem: str, name: str, fp: str, opts: ImportOptions) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{stem}.yaml"
    data = {"name": name, "fingerprint": fp, "options": opts.model_dump(mode="json")}
    p.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return p


def test_recipes_saved_by_the_old_scheme_still_load(tmp_path: Path) -> None:
    old = _old_scheme_file(tmp_path, "分省GDP", "分省GDP", "fp-gdp", _opts(4))
    assert find_recipe(tmp_path, "fp-gdp") == _opts(4)
    # saving the same name again moves it to the new file instead of leaving two copies
    new = save_recipe(tmp_path, "分省GDP", "fp-gdp", _opts(5))
    assert new != old and not old.exists()
    assert find_recipe(tmp_path, "fp-gdp") == _opts(5)


def test_old_scheme_file_of_another_name_is_left_alone(tmp_path: Path) -> None:
    # "a/b" was stored as a_b.yaml; saving the name "a_b" must not delete that other recipe
    old = _old_scheme_file(tmp_path, "a_b", "a/b", "fp-ab", _opts(6))
    save_recipe(tmp_path, "a_b", "fp-underscore", _opts(7))
    assert old.exists()
    assert find_recipe(tmp_path, "fp-ab") == _opts(6) and find_recipe(tmp_path, "fp-underscore") == _opts(7)
