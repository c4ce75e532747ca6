"""The sample city across departments: three files spelling districts and streets their own way.

城管 writes 临江 and 滨江, the 12345 hotline 清源市临江区 and 临江区滨江街道 (in a GBK CSV), the grid
centre 臨江區 and 濱江街道. Imported with `standardize="auto"` against the sample city's own
dictionaries, every 区 and 街道 value belongs to the dictionary, and a board across the three
datasets filtered on 临江区 adds up to the sum of the original rows; imported without
standardisation, the same board finds only the rows spelled exactly 临江区.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

from citybi.boards import Board, FilterValues, run_board
from citybi.catalog import Catalog, open_warehouse
from citybi.charts.spec import ChartSpec
from citybi.charts.store import ChartStore
from citybi.importer import Standardize, ingest_file
from citybi.samples import sample_dictionaries
from citybi.warehouse import Warehouse

# department → (file name, (区, 街道, value) rows as written); the third column is each file's measure
FILES: dict[str, tuple[str, str, list[tuple[str, str, int]]]] = {
    "环卫清运": ("城管局清运.xlsx", "清运量", [
        ("临江", "滨江", 12), ("临江区", "望江街道", 7), ("云湖", "湖心", 5), ("云湖区", "荷塘街道", 9),
        ("临江", "码头", 3),
    ]),
    "热线工单": ("12345工单.csv", "工单数", [
        ("清源市临江区", "临江区滨江街道", 20), ("清源市临江区", "临江区柳堤街道", 4),
        ("清源市云湖区", "云湖区云台街道", 6), ("清源市青禾新区", "青禾新区禾丰街道", 2),
    ]),
    "网格事件": ("网格中心.xlsx", "事件数", [
        ("臨江區", "濱江街道", 8), ("雲湖區", "湖心街道", 1), ("松嶺區", "石橋街道", 11), ("臨江區", "碼頭街道", 2),
    ]),
}
# every 临江区 row of the three files, however spelled; and those spelled exactly 临江区
LINJIANG = 12 + 7 + 3 + 20 + 4 + 8 + 2
LINJIANG_AS_WRITTEN = 7


def _write(folder: Path, name: str, measure: str, rows: list[tuple[str, str, int]]) -> Path:
    table = [["区", "街道", measure], *[list(r) for r in rows]]
    if name.endswith(".csv"):
        text = "\n".join(",".join(str(c) for c in r) for r in table) + "\n"
        return ff.csv_text(folder / name, text, encoding="gb18030")
    return ff.xlsx_sheets(folder / name, {"Sheet1": table})


def _import(folder: Path, standardize: Standardize) -> Warehouse:
    w = open_warehouse(path=folder / "city.duckdb")
    for d in sample_dictionaries():
        Catalog(w).save_dictionary(d)
    for table, (name, measure, rows) in FILES.items():
        ingest_file(w, _write(folder, name, measure, rows), table=table, standardize=standardize)
    return w


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return _import(tmp_path_factory.mktemp("departments"), "auto")


def test_every_district_and_street_belongs_to_the_dictionary(wh: Warehouse) -> None:
    places = Catalog(wh).dictionary("行政区划")
    for table in FILES:
        frame = Catalog(wh).preview(table)
        assert set(frame["区"]) <= set(places.values("区")), table
        assert set(frame["街道"]) <= set(places.values("街道")), table


def test_a_board_across_the_departments_adds_up_to_the_original_rows(wh: Warehouse, tmp_path: Path) -> None:
    assert _totals(wh, tmp_path, FilterValues()) == sum(v for _n, _m, rows in FILES.values() for *_k, v in rows)
    assert _totals(wh, tmp_path, FilterValues(dimensions={"区": ("临江区",)})) == LINJIANG


def test_without_standardisation_the_board_misses_rows(tmp_path: Path) -> None:
    plain = _import(tmp_path, "off")
    assert _totals(plain, tmp_path, FilterValues(dimensions={"区": ("临江区",)})) == LINJIANG_AS_WRITTEN


def _totals(wh: Warehouse, tmp_path: Path, values: FilterValues) -> int:
    """The sum over every tile of a board with one bar chart per department dataset."""
    board = Board(title="各部门按区", filters={"date": None, "dimensions": [{"column": "区"}]}, tiles=[
        {"spec": ChartSpec(title=table, dataset=table, type="bar", dimensions=[{"column": "区"}],
                           measures=[{"column": measure, "agg": "sum"}])}
        for table, (_n, measure, _r) in FILES.items()
    ])
    run = run_board(wh, board, charts=ChartStore(tmp_path / "charts"), values=values, render=False, workers=1)
    assert not run.errors, [t.error for t in run.errors]
    return int(sum(t.result.frame[t.result.frame.columns[-1]].sum() for t in run.tiles if t.result))
