"""Role checks in the core: each write action × each role → done or refused with a Chinese message.

The pages hide what a role may not use, but what counts is the core refusing it (a page run alone,
a forged request or a script calls the core directly)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from citybi import audit
from citybi.access import AccessDenied
from citybi.boards import BoardStore, load_board
from citybi.catalog import Catalog, open_warehouse
from citybi.charts.store import ChartStore
from citybi.config import QUERIES_DIR
from citybi.context import SYSTEM, Context, Scope, use
from citybi.dictionaries import Entry, ValueDictionary
from citybi.metrics import Metric
from citybi.sourcedefs import SourceFolder, load_source
from citybi.validation import Rules
from citybi.warehouse import Warehouse

FRAME = pl.DataFrame({"日期": [dt.date(2026, 11, 1)], "区": ["临江区"], "清运量": [3.5]})
USERS = {
    "admin": Context("wang", "admin"),
    "analyst": Context("zhao", "analyst"),
    "clerk": Context("li", "clerk", Scope(department="环卫处", districts=frozenset({"临江区"}))),
    "leader": Context("sun", "leader"),
}


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[tuple[Warehouse, Path]]:
    with open_warehouse(path=tmp_path / "roles.duckdb") as wh:
        Catalog(wh).write("环卫清运", FRAME)  # as SYSTEM (no context set)
        Catalog(wh).write("环卫清运", FRAME, mode="replace")
        yield wh, tmp_path


def _board() -> object:
    return load_board((QUERIES_DIR / "boards" / "环卫运行.yaml").read_text(encoding="utf-8"))


def _chart_store(tmp: Path) -> ChartStore:
    return ChartStore(tmp / "charts", [QUERIES_DIR / "charts"])


ACTIONS: dict[str, Callable[[Warehouse, Path], object]] = {
    "upload": lambda wh, _t: Catalog(wh).write("新数据", FRAME),
    "replace": lambda wh, _t: Catalog(wh).write("环卫清运", FRAME, mode="replace"),
    "append": lambda wh, _t: Catalog(wh).write("环卫清运", FRAME, mode="append"),
    "restore": lambda wh, _t: Catalog(wh).restore("环卫清运", 1),
    "delete": lambda wh, _t: Catalog(wh).delete("环卫清运"),
    "dictionary": lambda wh, _t: Catalog(wh).save_dictionary(
        ValueDictionary(name="测试字典", entries=[Entry(standard="临江区")])),
    "rules": lambda wh, _t: Catalog(wh).set_rules("环卫清运", Rules(not_null=["区"])),
    "chart save": lambda _w, t: _chart_store(t).save(
        "我的图表", _chart_store(t).load(_chart_store(t).names()[0])),
    "board save": lambda _w, t: BoardStore(t / "boards").save("我的看板", _board()),
    "metric save": lambda wh, _t: Catalog(wh).save_metrics([Metric.model_validate(
        {"name": "清运总量", "dataset": "环卫清运", "formula": {"kind": "sum", "column": "清运量"}, "unit": "吨"})]),
    "source save": lambda _w, t: SourceFolder(t / "src").save(load_source(
        "name: 空气站\nurl: http://127.0.0.1:8000/air.json\ntable: 空气质量\nmode: replace\nevery: 60\n")),
}

# action → the roles that may take it (科员 only on their own department's datasets: unknown here)
ALLOWED: dict[str, set[str]] = {
    "upload": {"admin", "clerk"},
    "replace": {"admin", "clerk"},
    "append": {"admin", "clerk"},
    "restore": {"admin", "clerk"},
    "delete": {"admin"},
    "dictionary": {"admin"},
    "rules": {"admin"},
    "chart save": {"admin", "analyst"},
    "board save": {"admin", "analyst"},
    "metric save": {"admin", "analyst"},
    "source save": {"admin"},
}
CASES = [(a, r) for a in ACTIONS for r in USERS]


@pytest.mark.parametrize(("action", "role"), CASES, ids=[f"{a}-{r}" for a, r in CASES])
def test_role_table(env: tuple[Warehouse, Path], action: str, role: str) -> None:
    wh, tmp = env
    with use(USERS[role]):
        if role in ALLOWED[action]:
            ACTIONS[action](wh, tmp)
        else:
            with pytest.raises(AccessDenied, match="您没有权限"):
                ACTIONS[action](wh, tmp)
    if action in ("replace", "restore", "delete", "append") and role not in ALLOWED[action]:
        assert Catalog(wh).get("环卫清运").version == 2  # refused before anything was written


@pytest.mark.parametrize("action", list(ACTIONS))
def test_system_may_do_everything(env: tuple[Warehouse, Path], action: str) -> None:
    wh, tmp = env
    with use(SYSTEM):
        ACTIONS[action](wh, tmp)


def test_dataset_writes_are_audited_with_the_user(env: tuple[Warehouse, Path]) -> None:
    wh, _tmp = env
    with use(Context("li", "clerk", Scope(department="环卫处"), address="10.0.0.5")):
        Catalog(wh).write("环卫清运", FRAME, mode="append")
        Catalog(wh).restore("环卫清运", 1)
    with use(USERS["admin"]):
        Catalog(wh).delete("环卫清运")
    got = [(e.user, e.action, e.target) for e in reversed(audit.entries(wh))]
    assert got == [("system", "datasets.create", "环卫清运"), ("system", "datasets.replace", "环卫清运"),
                   ("li", "datasets.append", "环卫清运"), ("li", "datasets.restore", "环卫清运"),
                   ("wang", "datasets.delete", "环卫清运")]
    assert audit.entries(wh, user="li")[0].address == "10.0.0.5"
    assert audit.verify(wh).ok


def test_department_is_passed_to_the_check(env: tuple[Warehouse, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # once datasets carry an owner, Catalog.department_of answers it: a 科员 of another department is refused
    wh, _tmp = env
    monkeypatch.setattr(Catalog, "department_of", lambda self, name: "园林处")
    with use(USERS["clerk"]), pytest.raises(AccessDenied, match="该数据集属于“园林处”"):
        Catalog(wh).write("环卫清运", FRAME, mode="replace")
