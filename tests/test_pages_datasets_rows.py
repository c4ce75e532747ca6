"""数据集 page under row rules (AppTest): the governance line is shown, the preview holds only
the caller's rows, and a dataset of another department is a Chinese message, not a traceback."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

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


def _as(role: str, department: str, page: str) -> None:
    import runpy

    from citybi import context
    from citybi.context import Context, Scope

    context.set_for_run(Context("测试用户", role, Scope(department, frozenset({"临江区"}))))
    runpy.run_path(page, run_name="__main__")


@pytest.mark.parametrize(("department", "rows", "error"), [
    ("城管局", ["临江区"], None),
    ("环保局", None, "属于“城管局”"),
])
def test_preview_under_row_rules(db: Path, department: str, rows: list[str] | None, error: str | None) -> None:
    at = AppTest.from_function(_as, args=("clerk", department, PAGE), default_timeout=60).run()
    assert not at.exception
    assert any("数据权限：归属部门：城管局；区列：区" in c.value for c in at.caption), [c.value for c in at.caption]
    previews = [d.value for d in at.dataframe if "清运量（吨）" in d.value.columns]
    if error is None:
        assert [p["区"].to_list() for p in previews] == [rows]
    else:
        assert not previews
        assert any(error in e.value for e in at.error), [e.value for e in at.error]
