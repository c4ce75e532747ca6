"""数据集 page under row rules (AppTest): the governance line is shown, the preview holds only
the caller's rows, and a dataset of another department is a Chinese message, not a traceback."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from signed_in import signed_in

from citybi.catalog import Catalog, open_warehouse
from citybi.rowrules import Governance

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "datasets.py")


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    with open_warehouse(path=path) as wh:
        cat = Catalog(wh)
        cat.write("环卫清运", pl.DataFrame({"区": ["临江区", "北港区"], "清运量（吨）": [12.5, 8.0]}))
        cat.set_governance("环卫清运", Governance("城管局", "区"))
    return path




@pytest.mark.parametrize(("department", "rows", "error"), [
    ("城管局", ["临江区"], None),
    ("环保局", None, "属于“城管局”"),
])
def test_preview_under_row_rules(db: Path, department: str, rows: list[str] | None, error: str | None) -> None:
    at = signed_in(PAGE, "clerk", department, ("临江区",)).run()
    assert not at.exception
    assert any("数据权限：归属部门：城管局；区列：区" in c.value for c in at.caption), [c.value for c in at.caption]
    previews = [d.value for d in at.dataframe if "清运量（吨）" in d.value.columns]
    if error is None:
        assert [p["区"].to_list() for p in previews] == [rows]
    else:
        assert not previews
        assert any(error in e.value for e in at.error), [e.value for e in at.error]


@pytest.mark.parametrize(("department", "districts", "overview_rows", "version_rows"), [
    ("城管局", ("临江区",), [1], ["1 行", None]),  # their rows only; an earlier version's count is not shown
    ("环保局", ("临江区",), [None], [None, None]),  # another department's dataset: no count at all
    ("城管局", None, [2], ["2 行", "2 行"]),  # a 科员 of the owning department with no district limit
])
def test_row_counts_are_the_caller_s(db: Path, department: str, districts: tuple[str, ...] | None,
                                     overview_rows: list[int | None], version_rows: list[str | None]) -> None:
    with open_warehouse(path=db) as wh:  # a second version, so the version list has an earlier one
        Catalog(wh).write("环卫清运", pl.DataFrame({"区": ["临江区", "北港区"], "清运量（吨）": [13.0, 9.0]}),
                          mode="replace")
    at = signed_in(PAGE, "clerk", department, districts).run()
    assert not at.exception
    overview = next(d.value for d in at.dataframe if "行数" in d.value.columns)
    assert overview["行数"].to_list() == overview_rows
    labels = [m.value for m in at.markdown if "第 " in m.value and " 版 · " in m.value]
    assert len(labels) == 2, labels
    for label, rows in zip(labels, version_rows, strict=True):
        if rows is None:
            assert " 行 · " not in label, label
        else:
            assert rows in label, label
