"""First start: the bundled sample city loads once, even when two sessions open the app together."""
from __future__ import annotations

import threading
from pathlib import Path

from citybi.catalog import Catalog, open_warehouse
from citybi.samples import load_samples

# 数据质量: the system dataset over the quality history, one report per sample import
EXPECTED = {"环卫清运": 41572, "热线工单": 15360, "空气质量": 6564, "区县概况": 6, "网格事件": 3010, "数据质量": 5}


def test_two_sessions_on_an_empty_warehouse_load_the_samples_once(tmp_path: Path) -> None:
    wh = open_warehouse(path=tmp_path / "first.duckdb")
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def session() -> None:
        try:
            results.append(load_samples(wh))
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=session) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    assert sorted(len(r) for r in results) == [0, 5]
    cat = Catalog(wh)
    assert {d.name: d.row_count for d in cat.datasets()} == EXPECTED
    assert cat.get("环卫清运").column("清运量（吨）").unit == "吨"
    assert load_samples(wh) == []  # not empty any more: nothing to do
