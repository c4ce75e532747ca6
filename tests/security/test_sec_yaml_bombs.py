"""YAML bombs: hostile board, chart and recipe files are refused fast, small and in Chinese.

The attack that opened this family: a board pasted in the board editor with
`filters: [&f {op: in, values: [10,000 values]}, *f × 1000]` (about 70 KB) was accepted as
ten million filter values, and saving it cost 80 s of CPU and 2.5 GB. Every row below is a
file someone could paste or drop into the charts/boards/recipes folders. Each is loaded in
a child process (address space capped at 2 GB, killed after 20 s) so a bomb that still goes
off fails the test instead of taking the machine with it; the child reports the outcome,
the seconds spent and how far its peak memory grew.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHILD_TIMEOUT_S = 20.0
MAX_SECONDS = 1.0  # composing 256 KB of plain values costs ~0.4 s on a busy 2-core box; bombs took 2.5–80 s
MAX_GROWTH_MB = 25
CJK = re.compile(r"[\u4e00-\u9fff]")

# the child: import first (not measured), then time one load and report as JSON
CHILD = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from pathlib import Path
from citybi.boards import BoardStore, load_board
from citybi.charts.spec import load_spec
from citybi.errors import UserFacingError
from citybi.ingest.recipe import load_recipe

kind, path = sys.argv[1], Path(sys.argv[2])

def run():
    if kind == "chart":
        return load_spec(path.read_bytes())
    if kind == "board":
        return load_board(path.read_bytes())
    if kind == "board-editor":  # the editor hands the pasted text over as str
        return load_board(path.read_text(encoding="utf-8"))
    if kind == "recipe":
        return load_recipe(path)
    if kind == "folder":  # list the boards folder, then open every board in it
        store = BoardStore(path)
        out = {}
        for name in store.names():
            try:
                out[name] = store.load(name).title
            except UserFacingError as err:
                out[name] = "REFUSED:" + str(err)
        return out
    raise SystemExit("unknown kind " + kind)

base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    value = run()
    out = {"outcome": "accepted", "value": value if kind == "folder" else None}
except UserFacingError as err:
    out = {"outcome": "refused", "error": type(err).__name__, "message": str(err)}
except BaseException as err:
    out = {"outcome": "crashed", "error": type(err).__name__, "message": str(err)[:300]}
out["seconds"] = time.perf_counter() - t
out["grew_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
out["message"] = out.get("message", "")[:2000]
out["message_len"] = len(out.get("message", ""))
print(json.dumps(out, ensure_ascii=False))
"""

HEAD = "title: 清运量\ndataset: 环卫清运\ntype: bar\ndimensions: [{column: 区}]\nmeasures: [{column: 清运量}]\n"


def _alias_bomb(values: int = 10_000, copies: int = 1_000) -> str:
    listed = ", ".join(f"街道{i}" for i in range(values))
    return "[&f {op: in, column: 区, values: [" + listed + "]}" + ", *f" * copies + "]"


def _as_board(chart_yaml: str) -> str:
    return "title: 看板\ntiles:\n  - spec:\n" + "".join(f"      {line}\n" for line in chart_yaml.splitlines())


def _laughs(top: str) -> str:
    """The classic billion laughs: nine levels of ten references, 10^9 leaves, under 1 KB."""
    lines = ["a: &a [哈, 哈, 哈, 哈, 哈, 哈, 哈, 哈, 哈, 哈]"]
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        key = top if cur == "i" else cur
        lines.append(f"{key}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


RECIPE_HEAD = "name: 月报\nfingerprint: abc\n"

# id, how it is loaded, the file's text, a phrase the Chinese refusal must contain
CASES: list[tuple[str, str, str, str]] = [
    ("alias-bomb-board-editor", "board-editor", _as_board(HEAD + "filters: " + _alias_bomb()), "引用"),
    ("alias-bomb-board-file", "board", _as_board(HEAD + "filters: " + _alias_bomb()), "引用"),
    ("alias-bomb-chart-file", "chart", HEAD + "filters: " + _alias_bomb(), "引用"),
    ("merge-key-alias-chart", "chart", HEAD + "filters: [&b {op: in, column: 区, values: ["
     + ", ".join(f"街道{i}" for i in range(10_000)) + "]}, " + ", ".join(["{<<: *b}"] * 500) + "]\n", "引用"),
    ("billion-laughs-recipe", "recipe", RECIPE_HEAD + _laughs("options"), "引用"),
    ("deep-nesting-chart", "chart", "[" * 5_000 + "]" * 5_000, "层"),
    ("deep-nesting-board", "board", "title: 看板\ntiles: " + "{a: " * 3_000 + "1" + "}" * 3_000 + "\n", "层"),
    ("deep-nesting-recipe", "recipe", RECIPE_HEAD + "options: " + "[" * 5_000 + "]" * 5_000 + "\n", "层"),
    ("huge-value-list-chart", "chart", HEAD + "filters: [{op: in, column: 区, values: ["
     + ", ".join(str(i) for i in range(30_000)) + "]}]\n", "最多"),
    ("many-filters-chart", "chart", HEAD + "filters: ["
     + ", ".join("{op: in, column: 区, values: [东城]}" for _ in range(3_000)) + "]\n", "最多"),
    ("many-tile-filters-board", "board", _as_board(HEAD + "filters: ["
     + ", ".join("{op: between, column: 车次, min: 1}" for _ in range(2_000)) + "]"), "最多"),
    ("huge-board-dimension-defaults", "board", "title: 看板\nfilters:\n  dimensions:\n    - column: 街道\n"
     "      default: [" + ", ".join(f"街道{i}" for i in range(20_000)) + "]\n", "最多"),
    ("huge-text-recipe", "recipe", RECIPE_HEAD + "options: {}\n" + "# 注释\n" * 500_000, "过大"),
    ("python-tag-chart", "chart", "!!python/object/apply:os.system [echo 你好]\n", "标签"),
    ("python-tag-in-board", "board", "title: !!python/name:os.system 看板\n", "标签"),
    ("python-tag-recipe", "recipe", "!!python/object/apply:os.system [echo 你好]\n", "标签"),
]


def _child(kind: str, path: Path) -> dict[str, Any]:
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], capture_output=True, text=True,
                              timeout=CHILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"outcome": f"still running after {CHILD_TIMEOUT_S:g} s (killed)"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"outcome": f"child died (exit {done.returncode}): {done.stderr[-500:]}"}
    return json.loads(lines[-1])


@pytest.mark.parametrize(("kind", "text", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_yaml_is_refused_fast_and_small(tmp_path: Path, kind: str, text: str, phrase: str) -> None:
    path = tmp_path / "看板.yaml"
    path.write_text(text, encoding="utf-8")
    got = _child(kind, path)
    assert got["outcome"] == "refused", got
    assert CJK.search(got["message"]) and phrase in got["message"], got["message"][:300]
    assert got["message_len"] < 400, got["message"][:300]  # a refusal names the problem, it does not echo the file
    assert got["seconds"] < MAX_SECONDS, got
    assert got["grew_mb"] < MAX_GROWTH_MB, got


def test_a_bomb_in_the_boards_folder_is_one_broken_entry(tmp_path: Path) -> None:
    folder = tmp_path / "boards"
    folder.mkdir()
    (folder / "好看板.yaml").write_text("title: 正常看板\ntiles:\n  - {chart: 各区清运量}\n", encoding="utf-8")
    (folder / "炸弹.yaml").write_text(_as_board(HEAD + "filters: " + _alias_bomb()), encoding="utf-8")
    (folder / "深嵌套.yaml").write_text("[" * 5_000 + "]" * 5_000, encoding="utf-8")
    got = _child("folder", folder)
    assert got["outcome"] == "accepted", got
    listing = got["value"]
    assert listing["好看板"] == "正常看板"
    for broken in ("炸弹", "深嵌套"):
        assert listing[broken].startswith("REFUSED:看板设置有误：看板「" + broken + "」"), listing[broken][:300]
    assert got["seconds"] < 2 * MAX_SECONDS and got["grew_mb"] < MAX_GROWTH_MB, got


# files a person really writes stay accepted (and quick) under the new caps
LEGIT: list[tuple[str, str, str]] = [
    ("ten-thousand-values", "chart", HEAD + "filters: [{op: in, column: 区, values: ["
     + ", ".join(f"街道{i}" for i in range(10_000)) + "]}]\n"),
    ("deep-but-normal-board", "board", _as_board(HEAD.replace("[{column: 清运量}]", "[{column: '*', agg: ratio, "
                                                              "where: [{op: in, column: 超时, values: [true]}]}]"))),
    ("anchor-free-recipe", "recipe", RECIPE_HEAD + "options: {sheet: 清运, header_row: 2}\n"),
]


@pytest.mark.parametrize(("kind", "text"), [c[1:] for c in LEGIT], ids=[c[0] for c in LEGIT])
def test_ordinary_files_still_load(tmp_path: Path, kind: str, text: str) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(text, encoding="utf-8")
    got = _child(kind, path)
    assert got["outcome"] == "accepted", got
    assert got["seconds"] < 2.0, got


ROOT = Path(__file__).resolve().parents[2]
_DIRECT = re.compile(r"yaml\.(safe_load|load|full_load|unsafe_load|load_all|safe_load_all|compose|parse)\(")


def test_every_yaml_read_goes_through_the_one_safe_loader() -> None:
    """Boards, charts, recipes and anything added later: a direct yaml.load elsewhere skips the guards."""
    direct = [f"{p.relative_to(ROOT)}:{n}" for folder in ("citybi", "connectors", "pages", "bench")
              for p in sorted((ROOT / folder).rglob("*.py")) if p.name != "safe_yaml.py"
              for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1) if _DIRECT.search(line)]
    assert direct == []


def test_the_boards_page_lists_refused_boards_as_broken_entries(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """On the 看板 page a bomb in the user boards folder is one entry marked 定义有误, with its
    Chinese reason, and the shipped boards are still listed and open."""
    from streamlit.testing.v1 import AppTest

    from citybi.catalog import open_warehouse

    db = tmp_path / "app.duckdb"
    open_warehouse(path=db).close()
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "炸弹.yaml").write_text(_as_board(HEAD + "filters: " + _alias_bomb()), encoding="utf-8")
    (tmp_path / "boards" / "深嵌套.yaml").write_text("[" * 5_000 + "]" * 5_000, encoding="utf-8")
    monkeypatch.setenv("CITYBI_DB", str(db))
    at = AppTest.from_file(str(ROOT / "pages" / "boards.py"), default_timeout=60).run()
    assert not at.exception
    options = at.selectbox(key="board_pick").options
    assert "炸弹（定义有误）" in options and "深嵌套（定义有误）" in options, options
    assert "环卫运行" in options  # a shipped board, listed by its title
    errors = [e.value for e in at.error]
    assert any("看板「炸弹」" in e and "引用" in e for e in errors), errors
    assert any("看板「深嵌套」" in e and "嵌套层数" in e for e in errors), errors
