"""Standardisation at import: a department's spellings → the dictionary's standard values, never silently.

A 行政区划 dictionary is imported with `citybi dictionaries import`, then a report spelling 南湖区
five ways is imported with `citybi ingest`: --standardize auto writes standard names and --json
lists every mapping with its rows; without the flag nothing is applied and every proposal is
listed; off proposes nothing. The version's provenance keeps the original values. The clerk's
choices (the page's accept boxes, through `choose_values`) are saved in the recipe and repeated
on next month's file. Fixtures are built in code (tests/filefactory.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

from citybi.catalog import Catalog, open_warehouse
from citybi.importer import choose_values, commit, prepare_file

CLI = Path(sys.executable).with_name("citybi")
DICTIONARY_CSV = (
    "层级,标准名称,编码,上级,别名\n"
    "区,南湖区,330402,,Nanhu\n"
    "区,秀洲区,330411,,Xiuzhou\n"
    "街道,建设街道,330402001,南湖区,\n"
    "街道,新城街道,330411001,秀洲区,\n"
)
# (区 as the department wrote it, 街道, 清运量) — one row per line
ROWS: list[tuple[str, str, float]] = [
    ("南湖区", "建设街道", 10.0),
    ("南湖区", "建设街道", 11.0),
    ("南湖", "建设街道", 12.0),
    ("南湖", "建设", 13.0),
    ("嘉兴市南湖区", "建设街道", 14.0),
    ("ＮＡＮＨＵ", "建设街道", 15.0),
    ("秀洲區", "新城街道", 16.0),
    ("秀洲区", "嘉兴市秀洲区新城街道", 17.0),
    ("火星区", "新城街道", 18.0),
]
# what --standardize auto does: (column, original, standard, rows)
AUTO = [
    ("区", "南湖", "南湖区", 2), ("区", "嘉兴市南湖区", "南湖区", 1), ("区", "ＮＡＮＨＵ", "南湖区", 1),
    ("区", "秀洲區", "秀洲区", 1),
    ("街道", "嘉兴市秀洲区新城街道", "新城街道", 1), ("街道", "建设", "建设街道", 1),
]


def _report(path: Path, rows: list[tuple[str, str, float]] = ROWS) -> Path:
    return ff.xlsx_sheets(path, {"清运": [["区", "街道", "清运量"], *[list(r) for r in rows]]})


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=180)


def _ingest(*args: str) -> dict[str, Any]:
    out = _run("ingest", *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    csv = tmp_path / "行政区划.csv"
    csv.write_text(DICTIONARY_CSV, encoding="utf-8")
    out = _run("dictionaries", "import", str(csv), "--name", "行政区划", "--prefix", "嘉兴市", "--db", str(path))
    assert out.returncode == 0, out.stderr
    assert "字典「行政区划」：区 2 个，街道 2 个，别名 2 个" in out.stdout
    return path


def _values(db: Path, table: str) -> pl.DataFrame:
    with open_warehouse(path=db) as wh:
        return Catalog(wh).preview(table, limit=1000)


def _sums(frame: pl.DataFrame) -> dict[str, float]:
    return dict(frame.group_by("区").agg(pl.col("清运量").sum()).iter_rows())


def _listed(outcome: dict[str, Any], applied: bool) -> list[tuple[str, str, str, int]]:
    return sorted((m["column"], m["original"], m["standard"], m["rows"]) for m in outcome["standardized"]
                  if m["applied"] == applied)


def test_dictionary_list_and_codes_keep_leading_zeros(db: Path, tmp_path: Path) -> None:
    out = _run("dictionaries", "list", "--db", str(db), "--json")
    assert out.returncode == 0, out.stderr
    [d] = json.loads(out.stdout)
    assert (d["name"], d["prefixes"]) == ("行政区划", ["嘉兴市"])
    assert [(e["standard"], e["code"], e["parent"]) for e in d["entries"]][2] == ("建设街道", "330402001", "南湖区")
    zeros = tmp_path / "垃圾.csv"
    zeros.write_text("标准名称,编码,别名\n厨余垃圾,01,湿垃圾、餐厨垃圾\n其他垃圾,04,干垃圾\n", encoding="utf-8")
    out = _run("dictionaries", "import", str(zeros), "--name", "垃圾类型", "--db", str(db), "--json")
    assert out.returncode == 0, out.stderr
    assert [(e["standard"], e["code"], e["aliases"]) for e in json.loads(out.stdout)[0]["entries"]] == [
        ("厨余垃圾", "01", ["湿垃圾", "餐厨垃圾"]), ("其他垃圾", "04", ["干垃圾"])]
    out = _run("dictionaries", "remove", "--name", "垃圾类型", "--db", str(db))
    assert out.returncode == 0 and "已删除字典「垃圾类型」" in out.stdout
    out = _run("dictionaries", "list", "--db", str(db))
    assert "行政区划" in out.stdout and "垃圾类型" not in out.stdout


def test_cli_auto_writes_standard_names_and_lists_every_mapping(db: Path, tmp_path: Path) -> None:
    outcome = _ingest(str(_report(tmp_path / "清运.xlsx")), "--db", str(db), "--table", "清运",
                      "--standardize", "auto")
    assert _listed(outcome, applied=True) == sorted(AUTO)
    assert _listed(outcome, applied=False) == []
    assert [(u["column"], u["value"], u["rows"]) for u in outcome["unknown_values"]] == [("区", "火星区", 1)]
    frame = _values(db, "清运")
    assert set(frame["区"]) == {"南湖区", "秀洲区", "火星区"}  # the unknown value is kept as written
    assert set(frame["街道"]) == {"建设街道", "新城街道"}
    assert _sums(frame) == {"南湖区": 75.0, "秀洲区": 33.0, "火星区": 18.0}  # no row lost or doubled
    # the version's provenance keeps every original value with its row count
    with open_warehouse(path=db) as wh:
        plan = json.loads(Catalog(wh).plan_json("清运"))
        note = Catalog(wh).versions("清运")[0].note
    kept = sorted((p["column"], m["original"], m["standard"], m["rows"])
                  for p in plan["standardize"] for m in p["mappings"] if m["accepted"])
    assert kept == sorted(AUTO)
    assert "已按数据标准统一：「区」4 种写法 5 行，「街道」2 种写法 2 行" in note


@pytest.mark.parametrize(("flag", "districts", "proposed"), [
    # no flag: nothing is applied, every proposal is listed for the clerk
    ([], {"南湖区", "南湖", "嘉兴市南湖区", "ＮＡＮＨＵ", "秀洲區", "秀洲区", "火星区"}, sorted(AUTO)),
    (["--standardize", "off"], {"南湖区", "南湖", "嘉兴市南湖区", "ＮＡＮＨＵ", "秀洲區", "秀洲区", "火星区"}, []),
], ids=["default-proposes", "off"])
def test_without_auto_nothing_changes(db: Path, tmp_path: Path, flag: list[str], districts: set[str],
                                      proposed: list[tuple[str, str, str, int]]) -> None:
    outcome = _ingest(str(_report(tmp_path / "清运.xlsx")), "--db", str(db), "--table", "清运", *flag)
    assert _listed(outcome, applied=True) == []
    assert _listed(outcome, applied=False) == proposed
    assert set(_values(db, "清运")["区"]) == districts


def test_text_output_names_each_mapping(db: Path, tmp_path: Path) -> None:
    out = _run("ingest", str(_report(tmp_path / "清运.xlsx")), "--db", str(db), "--table", "清运")
    assert out.returncode == 0, out.stderr
    assert "建议：「区」南湖 → 南湖区（2 行，把握 85%，字典「行政区划」）" in out.stdout
    assert "不在字典「行政区划」中：「区」火星区（1 行），保持原样" in out.stdout
    assert "--standardize auto" in out.stdout


def test_the_clerks_choices_are_saved_in_the_recipe_for_next_month(db: Path, tmp_path: Path) -> None:
    """Like the page: keep 南湖 as written, fix 火星区 to 秀洲区, accept the rest; next month repeats it."""
    with open_warehouse(path=db) as wh:
        prepared = prepare_file(wh, _report(tmp_path / "5月.xlsx"), recipes=True)
        try:
            choices = {p.column: {m.original: m.standard for m in p.mappings} for p in prepared.plan.standardize}
            choices["区"].update({"南湖": "南湖", "火星区": "秀洲区"})
            chosen = choose_values(wh, prepared, choices)
            assert [u.value for p in chosen.plan.standardize for u in p.unknown] == []
            commit(wh, chosen, table="5月", save_recipe="清运月报")
        finally:
            prepared.discard()
    assert _sums(_values(db, "5月")) == {"南湖区": 50.0, "南湖": 25.0, "秀洲区": 51.0}
    june = _report(tmp_path / "6月.xlsx", [("南湖", "建设街道", 1.0), ("火星区", "新城", 2.0),
                                           ("嘉兴市南湖区", "建设街道", 3.0)])
    outcome = _ingest(str(june), "--db", str(db), "--table", "6月")
    assert outcome["recipe"]["name"] == "清运月报"
    assert _listed(outcome, applied=True) == [("区", "嘉兴市南湖区", "南湖区", 1), ("区", "火星区", "秀洲区", 1)]
    # 南湖 is kept as the clerk chose (still listed, not applied); 新城 was not in May's file: proposed only
    assert _listed(outcome, applied=False) == [("区", "南湖", "南湖区", 1), ("街道", "新城", "新城街道", 1)]
    assert _sums(_values(db, "6月")) == {"南湖": 1.0, "秀洲区": 2.0, "南湖区": 3.0}


def test_the_frame_file_is_read_once_for_standardising_and_writing(db: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Proposals, the clerk's choices and the commit all use the reader's frame: read from its file once."""
    from citybi.ingest import pipeline

    reads: list[Path] = []
    real = pipeline.Prepared._read_frame

    def counted(self: pipeline.Prepared) -> pl.DataFrame:
        reads.append(self.frame_path)
        return real(self)

    monkeypatch.setattr(pipeline.Prepared, "_read_frame", counted)
    with open_warehouse(path=db) as wh:
        prepared = prepare_file(wh, _report(tmp_path / "r.xlsx"), standardize="auto")
        try:
            chosen = choose_values(wh, prepared, {"区": {"火星区": "秀洲区"}})
            commit(wh, chosen, table="清运")
        finally:
            prepared.discard()
        assert not prepared.frames  # let go with the file
        sums = _sums(_values(db, "清运"))
        assert sum(sums.values()) == sum(r[2] for r in ROWS) and "火星区" not in sums and sums["秀洲区"] == 17 + 18
    assert len(reads) == 1
