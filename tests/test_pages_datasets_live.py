"""数据集 page with a live dataset (AppTest): the caption says where it lives, and its preview comes
from PostgreSQL through the door (Warehouse.run → the postgres engine)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from citybi.accounts import Accounts
from citybi.catalog import Catalog, open_warehouse
from citybi.datasets_link import link

psycopg = pytest.importorskip("psycopg")
from pg_server import pg_connect  # noqa: E402  (after the importorskip on purpose)

pytestmark = pytest.mark.service

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "datasets.py")
PG = "postgresql://postgres@127.0.0.1:5432/test"
PW = "Harbor#2026x"


@pytest.fixture()
def schema() -> Iterator[str]:
    from psycopg import sql

    conn = pg_connect()
    name = f"citybi_pg_{uuid.uuid4().hex[:10]}"
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    conn.execute(sql.SQL('CREATE TABLE {}.t ("区" text, "清运量" double precision)').format(sql.Identifier(name)))
    conn.execute(sql.SQL("INSERT INTO {}.t VALUES ('临江区', 12.5), ('青山区', 8)").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
        conn.close()


def test_live_dataset_caption_and_preview(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schema: str) -> None:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    with open_warehouse(path=path) as wh:
        cat = Catalog(wh)
        link(cat, "实时清运", PG, f"{schema}.t")
        cat.write("本地表", pl.DataFrame({"区": ["临江区"], "人口": [1]}))
    acc = Accounts(open_warehouse(path=path))
    acc.add("boss", "admin", PW)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["_citybi_token"] = acc.login("boss", PW).token
    at.run()
    assert not at.exception
    captions = [c.value.replace("\\", "") for c in at.caption]  # md() escapes markdown characters
    assert any(f"PostgreSQL 127.0.0.1:5432/test 的表 {schema}.t" in c for c in captions), captions
    previews = [d.value for d in at.dataframe if "清运量" in d.value.columns]
    assert [sorted(p["区"].to_list()) for p in previews] == [["临江区", "青山区"]]
    at.selectbox(key="ds_pick").select("本地表").run()
    assert not at.exception
    assert any("存放位置：本地数据仓库（DuckDB）" in c.value for c in at.caption)
