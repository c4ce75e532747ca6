"""The audit log: a hash chain that names an edited entry, a deleted one, a deleted last one; retention."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from citybi import audit
from citybi.catalog import open_warehouse
from citybi.context import Context, Scope, use
from citybi.warehouse import Warehouse

T0 = dt.datetime(2026, 1, 1, 8, 0, 0)


@pytest.fixture()
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    with open_warehouse(path=tmp_path / "audit.duckdb") as w:
        for i in range(5):
            audit.record(w, "export", f"环卫清运{i + 1}", {"rows": i}, now=T0 + dt.timedelta(days=i))
        yield w


def _sql(wh: Warehouse, sql: str) -> None:
    # what someone with the file and another DuckDB client could do
    cur = wh.cursor()
    cur.execute(sql)
    cur.close()


def test_entries_carry_who_and_where(tmp_path: Path) -> None:
    with open_warehouse(path=tmp_path / "who.duckdb") as w:
        ctx = Context(user="li", role="clerk", scope=Scope(department="环卫处"), address="10.1.2.3")
        with use(ctx):
            e = audit.record(w, "datasets.replace", "环卫清运", {"version": 2})
        assert (e.seq, e.user, e.role, e.address, e.action_label) == (1, "li", "clerk", "10.1.2.3", "替换数据集")
        assert audit.record(w, "ask", "各区清运量").user == "system"  # no context: the operator
        assert audit.entries(w, user="li")[0].detail == '{"version":2}'


TAMPER: list[tuple[str, Callable[[Warehouse], None], list[str]]] = [
    ("nothing", lambda w: None, []),
    ("edited target", lambda w: _sql(w, "UPDATE _citybi.audit SET target = '别的' WHERE seq = 3"),
     ["第 3 条记录的内容被修改过"]),
    ("edited user", lambda w: _sql(w, "UPDATE _citybi.audit SET user_name = 'admin' WHERE seq = 2"),
     ["第 2 条记录的内容被修改过"]),
    ("edited time", lambda w: _sql(w, "UPDATE _citybi.audit SET logged_at = logged_at + INTERVAL 1 HOUR "
                                      "WHERE seq = 4"), ["第 4 条记录的内容被修改过"]),
    ("deleted middle", lambda w: _sql(w, "DELETE FROM _citybi.audit WHERE seq = 2"), ["第 2 条记录被删除"]),
    ("deleted two", lambda w: _sql(w, "DELETE FROM _citybi.audit WHERE seq IN (2, 3)"), ["第 2–3 条记录被删除"]),
    ("deleted last", lambda w: _sql(w, "DELETE FROM _citybi.audit WHERE seq = 5"), ["最后的记录被删除"]),
    ("deleted all", lambda w: _sql(w, "DELETE FROM _citybi.audit"), ["最后的记录被删除"]),
    ("anchor removed", lambda w: audit.anchor_file(w).unlink(), ["找不到审计锚点文件"]),
    ("rehashed last", lambda w: _sql(w, "UPDATE _citybi.audit SET hash = repeat('a', 64) WHERE seq = 5"),
     ["第 5 条记录的内容被修改过"]),
]


@pytest.mark.parametrize(("what", "tamper", "problems"), TAMPER, ids=[t[0] for t in TAMPER])
def test_verify_names_what_was_changed(wh: Warehouse, what: str, tamper: Callable[[Warehouse], None],
                                       problems: list[str]) -> None:
    tamper(wh)
    verdict = audit.verify(wh)
    assert verdict.ok is (not problems), verdict.problems
    for want in problems:
        assert any(want in p for p in verdict.problems), verdict.problems


def test_retention_prunes_old_entries_and_the_rest_still_verifies(wh: Warehouse) -> None:
    removed = audit.prune(wh, retention_days=180, now=T0 + dt.timedelta(days=182, hours=12))
    assert removed == 3  # days 0, 1, 2 are older than 180 days
    kept = [e.seq for e in reversed(audit.entries(wh))]
    assert kept == [4, 5, 6] and audit.entries(wh)[0].action == "audit.prune"
    assert audit.verify(wh).ok, audit.verify(wh).problems
    audit.record(wh, "ask", "再问一次")
    assert audit.verify(wh).ok
    _sql(wh, "DELETE FROM _citybi.audit WHERE seq = 4")  # the first kept entry, after the base
    assert any("第 4 条记录被删除" in p for p in audit.verify(wh).problems)


def test_prune_with_nothing_old_removes_nothing(wh: Warehouse) -> None:
    assert audit.prune(wh, retention_days=180, now=T0 + dt.timedelta(days=30)) == 0
    assert len(audit.entries(wh)) == 5


def test_filters(wh: Warehouse) -> None:
    audit.record(wh, "ask", "问题", now=T0 + dt.timedelta(days=10))
    assert [e.seq for e in audit.entries(wh, action="export", since=T0 + dt.timedelta(days=3))] == [5, 4]
    assert [e.seq for e in audit.entries(wh, until=T0 + dt.timedelta(days=1))] == [1]
    assert audit.entries(wh, user="nobody") == []


def test_retention_comes_from_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from citybi.config import load_settings

    monkeypatch.setenv("CITYBI_AUDIT_RETENTION_DAYS", "3")
    with open_warehouse(load_settings(tmp_path / "set.duckdb")) as w:
        for i in range(5):
            audit.record(w, "export", f"表{i}", now=T0 + dt.timedelta(days=i))
        assert audit.prune(w, now=T0 + dt.timedelta(days=5, hours=1)) == 3  # days 0–2 are > 3 days old
        assert audit.verify(w).ok
