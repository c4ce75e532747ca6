"""Lineage (issue 13 item 5, item 7's impact): who reads a dataset, which columns, who a replace breaks.

The sample city ships boards and charts (queries/) and metrics (datasets/metrics.yaml); a rule, a
briefing, a two-dataset board and 问数 questions are added here, so every kind of reader is covered.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sources_upstream import json_feed

from citybi import audit
from citybi.alerts.briefing import Briefing, BriefingStore
from citybi.alerts.rules import alerts_dir, rule_from_dict, rule_store
from citybi.boards import Board, Tile, board_store
from citybi.catalog import Catalog, open_warehouse
from citybi.cli import main
from citybi.context import Context, Scope, use
from citybi.lineage import Lineage, family, find_readers
from citybi.rowrules import Governance

ADMIN = Context("root", "admin")
ALICE = Context("alice", "analyst")  # may not read the audit log: sees only her own questions
CLERK_HOTLINE = Context("li", "clerk", Scope(department="热线办"))  # may read 热线工单 only (and 公开 ones)
LEADER = Context("boss", "leader")


def _setup(db: Path) -> None:
    """A rule, a briefing and a board reading two datasets, beside the sample city's own readers."""
    with open_warehouse(path=db) as wh:
        store = rule_store(wh.path)
        store.save("清运量偏低", rule_from_dict({
            "name": "清运量偏低",
            "watch": {"board": "环卫运行", "tile": "环卫_本月清运量", "filters": {"区": ["临江区"]}},
            "condition": {"kind": "below", "value": 10}, "group_by": "街道"}))
        store.save("AQI 超标", rule_from_dict({
            "name": "AQI 超标", "watch": {"chart": "空气_平均AQI"}, "condition": {"kind": "above", "value": 150}}))
        BriefingStore(alerts_dir(wh.path) / "briefings").save("环卫晨报", Briefing(name="环卫晨报", board="环卫运行"))
        board_store(wh.settings).save("综合", Board(title="综合", tiles=[
            Tile(chart="环卫_本月清运量"), Tile(chart="热线_办结率")]))
        cat = Catalog(wh)
        cat.set_governance("环卫清运", Governance("城管局", "区", "街道"))
        cat.set_governance("热线工单", Governance("热线办", "区", "街道"))
        for who, question in ((ALICE, "上个月各区清运量"), (ALICE, "上个月各区清运量"), (ADMIN, "本周清运量")):
            audit.record(wh, "ask", question, {"table": "环卫清运"}, ctx=who)
        audit.record(wh, "ask", "本月工单数", {"table": ""}, ctx=ALICE)  # not pinned: not attributed


@pytest.fixture(scope="module")
def city(sample_copy: Callable[[str], Path]) -> Path:
    db = sample_copy("lineage")
    _setup(db)
    return db


def _lineage(db: Path, dataset: str, ctx: Context = ADMIN) -> Lineage:
    with open_warehouse(path=db) as wh, use(ctx):
        return find_readers(wh, dataset)


def _names(lin: Lineage, kind: str) -> set[str]:
    return {r.name for r in lin.readers if r.kind == kind}


# ---------------------------------------------------------------------------- dataset → readers
@pytest.mark.parametrize(("dataset", "kind", "reader", "columns"), [
    ("环卫清运", "board", "环卫运行", {"清运量（吨）", "日期", "区", "车次"}),  # 区: the KPI card's target table
    ("环卫清运", "board", "综合", {"清运量（吨）", "日期"}),
    ("环卫清运", "chart", "环卫_本月清运量", {"清运量（吨）", "日期"}),  # 日期: the KPI card's date_column option
    ("环卫清运", "chart", "环卫_近7天车次", {"车次", "日期"}),
    ("环卫清运", "alert", "清运量偏低", {"清运量（吨）", "日期", "街道", "区"}),  # group_by, filters
    ("环卫清运", "briefing", "环卫晨报", {"清运量（吨）", "日期"}),
    ("环卫清运", "metric", "清运量", {"清运量（吨）"}),
    ("环卫清运", "question", "上个月各区清运量", set()),
    ("热线工单", "board", "综合", {"办结状态", "受理时间"}),
    ("热线工单", "chart", "热线_办结率", {"办结状态", "受理时间"}),
    ("空气质量", "alert", "AQI 超标", {"AQI", "日期"}),
    ("区县概况", "metric", "每万人工单数", {"常住人口（万人）", "区"}),  # the divisor of a 热线工单 metric
])
def test_readers_of_a_dataset(city: Path, dataset: str, kind: str, reader: str, columns: set[str]) -> None:
    lin = _lineage(city, dataset)
    found = next((r for r in lin.readers if r.kind == kind and r.name == reader), None)
    assert found is not None, [r.label for r in lin.readers]
    assert columns <= set(found.columns), found.columns


@pytest.mark.parametrize(("dataset", "kind", "not_a_reader"), [
    ("空气质量", "board", "环卫运行"),
    ("空气质量", "briefing", "环卫晨报"),
    ("环卫清运", "chart", "热线_办结率"),
    ("环卫清运", "alert", "AQI 超标"),
    ("环卫清运", "question", "本月工单数"),  # asked without a pinned dataset
])
def test_not_readers(city: Path, dataset: str, kind: str, not_a_reader: str) -> None:
    assert not_a_reader not in _names(_lineage(city, dataset), kind)


def test_summary_counts_every_kind(city: Path) -> None:
    lin = _lineage(city, "环卫清运")
    counts = lin.counts()
    text = lin.summary()
    assert text.startswith("影响 ")
    for kind, words in (("board", "个看板"), ("chart", "个图表"), ("alert", "条预警"), ("briefing", "份简报")):
        assert f"{counts[kind]} {words}" in text, text
    assert counts["board"] == len(_names(lin, "board")) == 2


# ---------------------------------------------------------------------------- replace: who breaks
def _columns(db: Path, dataset: str) -> dict[str, str]:
    with open_warehouse(path=db) as wh:
        return {c.name: c.type for c in Catalog(wh).get(dataset).columns}


@pytest.mark.parametrize(("change", "breaks", "keeps"), [
    # the motivating bug: a clerk's file with another name for the measure
    ({"rename": ("清运量（吨）", "清运量")},
     {"board:环卫运行", "board:综合", "chart:环卫_本月清运量", "alert:清运量偏低", "briefing:环卫晨报",
      "metric:清运量"},
     {"chart:环卫_近7天车次"}),
    ({"drop": "车次"}, {"chart:环卫_近7天车次", "board:环卫运行"}, {"board:综合", "alert:清运量偏低"}),
    ({"retype": ("日期", "text")}, {"chart:环卫_近7天车次", "board:综合"}, {"metric:清运量"}),
    ({"retype": ("车次", "number")}, set(), {"chart:环卫_近7天车次"}),  # integer → number: still a number
    ({}, set(), {"board:环卫运行"}),
])
def test_replace_breaks_the_readers_of_a_changed_column(city: Path, change: dict[str, tuple[str, str] | str],
                                                        breaks: set[str], keeps: set[str]) -> None:
    new = _columns(city, "环卫清运")
    if "rename" in change:
        old, to = change["rename"]
        new[to] = new.pop(old)
    if "drop" in change:
        new.pop(str(change["drop"]))
    if "retype" in change:
        col, kind = change["retype"]
        new[col] = kind
    with open_warehouse(path=city) as wh:
        lin = find_readers(wh, "环卫清运")
        broken = lin.would_break(Catalog(wh).get("环卫清运").columns, new)
    got = {f"{b.reader.kind}:{b.reader.name}" for b in broken}
    assert breaks <= got, got
    assert not keeps & got, got
    assert "question:上个月各区清运量" not in got  # a question's columns are unknown: never "broken"
    if "rename" in change:
        reasons = next(b for b in broken if b.reader.name == "环卫运行").reasons
        assert any("缺少列「清运量（吨）」" in r and "图块" in r for r in reasons), reasons


@pytest.mark.parametrize(("old", "new", "same"), [
    ("integer", "number", True), ("date", "timestamp", True), ("number", "text", False), ("date", "text", False),
])
def test_type_families(old: str, new: str, same: bool) -> None:
    assert (family(old) == family(new)) is same


# ---------------------------------------------------------------------------- who sees which readers
@pytest.mark.parametrize(("ctx", "dataset", "sees", "hidden"), [
    (ADMIN, "环卫清运", {"board:综合", "alert:清运量偏低", "question:本周清运量"}, {}),
    # an analyst: no 查看审计日志, so another user's question is counted, not shown
    (ALICE, "环卫清运", {"question:上个月各区清运量", "alert:清运量偏低"}, {"question": 1}),
    # a leader: boards yes, alerts and briefings need 管理预警
    (LEADER, "环卫清运", {"board:环卫运行"}, {"alert": 1, "briefing": 1, "question": 2}),
    # a 热线办 clerk: the board 综合 also reads 环卫清运 (城管局's) and 每万人工单数 区县概况 → hidden, but counted
    (CLERK_HOTLINE, "热线工单", {"chart:热线_办结率"}, {"board": 1, "metric": 1}),
])
def test_scope(city: Path, ctx: Context, dataset: str, sees: set[str], hidden: dict[str, int]) -> None:
    lin = _lineage(city, dataset, ctx)
    shown = {f"{r.kind}:{r.name}" for r in lin.readers}
    assert sees <= shown, shown
    assert {k: v for k, v in lin.counts(visible=False).items() if k in hidden or hidden == {}} == hidden
    assert lin.counts() == _lineage(city, dataset, ADMIN).counts()  # the totals are the same for everyone
    if hidden.get("board"):
        assert lin.hidden_text() == "另有 1 个看板、1 个指标您无权查看"
        assert "综合" not in json.dumps(lin.to_json(), ensure_ascii=False)


# ---------------------------------------------------------------------------- CLI
def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_lineage_json_and_text(city: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "datasets", "lineage", "环卫清运", "--db", str(city), "--json")
    assert code == 0
    data = json.loads(out)
    assert {r["name"] for r in data["readers"] if r["kind"] == "board"} == {"环卫运行", "综合"}
    assert data["counts"]["alert"] == 1
    code, out, _ = _cli(capsys, "datasets", "lineage", "环卫清运", "--db", str(city))
    assert code == 0 and "看板「环卫运行」" in out and "影响 2 个看板" in out
    code, _, err = _cli(capsys, "datasets", "lineage", "没有这个", "--db", str(city))
    assert code == 2 and "不存在" in err


@pytest.mark.parametrize(("user", "role", "department", "shown", "hidden"), [
    ("boss", "leader", None, "看板「环卫运行」", "1 条预警、1 份简报"),  # no 管理预警: alerts counted, not named
    ("zhao", "analyst", None, "预警「清运量偏低」", ""),
])
def test_cli_lineage_as_a_user(city: Path, capsys: pytest.CaptureFixture[str], user: str, role: str,
                               department: str | None, shown: str, hidden: str) -> None:
    from citybi.accounts import Accounts

    with open_warehouse(path=city) as wh:
        acc = Accounts(wh)
        if acc.find(user) is None:
            acc.add(user, role, "Harbor#2026x", department=department)
    code, out, err = _cli(capsys, "datasets", "lineage", "环卫清运", "--db", str(city), "--as", user)
    assert code == 0, err
    assert shown in out
    if hidden:
        assert f"另有 {hidden}" in out and "清运量偏低" not in out
    code, _, err = _cli(capsys, "datasets", "lineage", "环卫清运", "--db", str(city), "--as", "nobody")
    assert code == 2 and "用户「nobody」不存在" in err


ROWS = "2025-06-01,临江区,江滨街道,其他垃圾,12.5,3,5\n2025-06-02,北港区,港口街道,厨余垃圾,8.0,2,4\n"


@pytest.mark.parametrize(("header", "force", "code", "said"), [
    ("日期,区,街道,垃圾类型,清运量,车次,作业人数", False, 2, "缺少列「清运量（吨）」"),
    ("日期,区,街道,垃圾类型,清运量,车次,作业人数", True, 0, "第 2 版"),
    ("日期,区,街道,垃圾类型,清运量（吨）,车次,作业人数", False, 0, "第 2 版"),  # same columns: no refusal
])
def test_cli_replace_refuses_breaking_files(sample_copy: Callable[[str], Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str], header: str, force: bool,
                                            code: int, said: str) -> None:
    db = sample_copy("lineage_replace")
    f = tmp_path / "清运.csv"
    f.write_text(header + "\n" + ROWS, encoding="utf-8")
    argv = ["ingest", str(f), "--db", str(db), "--table", "环卫清运", "--mode", "replace", *(["--force"] * force)]
    got, out, err = _cli(capsys, *argv)
    assert got == code, err
    assert said in (out + err)
    if code == 2:
        assert "看板「环卫运行」" in err and "--force" in err
    with open_warehouse(path=db) as wh:
        assert Catalog(wh).get("环卫清运").version == (1 if code else 2)  # refused: nothing written


def test_cli_delete(sample_copy: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    db = sample_copy("lineage_delete")
    with open_warehouse(path=db) as wh:
        Catalog(wh).write("无人使用", pl.DataFrame({"a": [1]}))
    rows: list[tuple[list[str], int, str, bool]] = [
        (["区县概况"], 2, "指标「每万人工单数」", True),  # refused: metrics read it
        (["无人使用"], 0, "已删除数据集「无人使用」", False),
        (["区县概况", "--force"], 0, "已删除数据集「区县概况」", False),
    ]
    for args, code, said, stays in rows:
        got, out, err = _cli(capsys, "datasets", "delete", *args, "--db", str(db))
        assert got == code, err
        assert said in out + err
        with open_warehouse(path=db) as wh:
            assert Catalog(wh).exists(args[0]) is stays


def test_a_broken_saved_file_is_named_not_skipped_silently(city: Path) -> None:
    folder = city.parent / "charts"
    folder.mkdir(exist_ok=True)
    broken = folder / "坏图表.yaml"
    broken.write_text("title: 坏图表\ndataset: 环卫清运\ntype: bar\nmeasurs: []\n", encoding="utf-8")
    try:
        lin = _lineage(city, "环卫清运")
    finally:
        broken.unlink()
    assert any("坏图表" in p for p in lin.problems), lin.problems
    assert "坏图表" not in _names(lin, "chart")


def _restore(capsys: pytest.CaptureFixture[str], db: Path, version: int, *extra: str) -> tuple[int, str]:
    code, out, err = _cli(capsys, "restore", "环卫清运", str(version), "--db", str(db), *extra)
    return code, out + err


def test_cli_restore_refuses_a_version_that_breaks_readers(sample_copy: Callable[[str], Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """v2 lacks 清运量（吨） (replaced with --force), v3 has it again: going back to v2 would break the
    boards built on the column, going back to v1 would not."""
    db = sample_copy("lineage_restore")
    headers = ("日期,区,街道,垃圾类型,清运量,车次,作业人数", "日期,区,街道,垃圾类型,清运量（吨）,车次,作业人数")
    for i, header in enumerate(headers):
        f = tmp_path / f"清运{i}.csv"
        f.write_text(header + "\n" + ROWS, encoding="utf-8")
        code, _out, err = _cli(capsys, "ingest", str(f), "--db", str(db), "--table", "环卫清运", "--mode", "replace",
                               "--force")
        assert code == 0, err
    rows: list[tuple[int, list[str], int, str, int]] = [  # version, flags → exit code, said, current version after
        (2, [], 2, "没有恢复：第 2 版会使", 3),
        (1, [], 0, "已恢复到第 1 版", 1),
        (2, ["--force"], 0, "已恢复到第 2 版", 2),
    ]
    for version, flags, code, said, current in rows:
        got, text = _restore(capsys, db, version, *flags)
        assert got == code, text
        assert said in text
        if code:
            assert "看板「环卫运行」" in text and "--force" in text
        with open_warehouse(path=db) as wh:
            assert Catalog(wh).get("环卫清运").version == current


@pytest.fixture
def feed() -> Iterator[dict[str, Any]]:
    """A local JSON feed whose body the test sets: {"body": [...records]} → served at {"url"}."""
    state: dict[str, Any] = {"body": []}
    with json_feed(lambda: state["body"], "/清运") as url:
        state["url"] = url
        yield state


def _records(amount: str) -> list[dict[str, Any]]:
    return [{"日期": "2025-06-01", "区": "临江区", "街道": "江滨街道", "垃圾类型": "其他垃圾", amount: 12.5, "车次": 3,
             "作业人数": 5},
            {"日期": "2025-06-02", "区": "北港区", "街道": "港口街道", "垃圾类型": "厨余垃圾", amount: 8.0, "车次": 2,
             "作业人数": 4}]


@pytest.mark.parametrize(("amount", "force", "code", "said"), [
    ("清运量", False, 2, "没有替换：数据源的新数据会使"),
    ("清运量", True, 0, "第 2 版"),
    ("清运量（吨）", False, 0, "第 2 版"),  # the columns the readers use are all there: no refusal
])
def test_cli_source_replace_refuses_breaking_data(sample_copy: Callable[[str], Path], feed: dict[str, Any],
                                                  capsys: pytest.CaptureFixture[str], amount: str, force: bool,
                                                  code: int, said: str) -> None:
    db = sample_copy("lineage_source_replace")
    feed["body"] = _records(amount)
    got, out, err = _cli(capsys, "sources", "import", feed["url"], "--db", str(db), "--table", "环卫清运",
                         "--mode", "replace", *(["--force"] * force))
    assert got == code, err
    assert said in out + err
    if code:
        assert "看板「环卫运行」" in err and "--force" in err
    with open_warehouse(path=db) as wh:
        assert Catalog(wh).get("环卫清运").version == (1 if code else 2)  # refused: nothing written


@pytest.mark.parametrize(("old", "new", "reasons"), [
    ({"车次": "integer", "日期": "date"}, {"日期": "date"}, ["缺少列「车次」"]),
    ({"日期": "date"}, {"日期": "date"}, []),  # 车次 was never there: the reader is broken today, not by this version
    ({"车次": "integer", "日期": "date"}, {"车次": "text", "日期": "date"}, ["列「车次」从数值变成了文本"]),
])
def test_only_what_the_version_changes_breaks_a_reader(city: Path, old: dict[str, str], new: dict[str, str],
                                                       reasons: list[str]) -> None:
    reader = next(r for r in _lineage(city, "环卫清运").readers if r.name == "环卫_近7天车次")
    assert reader.breaks(old, new) == reasons


def test_a_defined_source_replace_that_breaks_readers_fails_its_run(sample_copy: Callable[[str], Path],
                                                                    feed: dict[str, Any],
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A defined source (refreshed by the app's schedule, or `sources refresh`) whose upstream renamed a
    used column: the run fails with the readers named, the dataset keeps its version."""
    db = sample_copy("lineage_source_refresh")
    feed["body"] = _records("清运量")
    code, _out, err = _cli(capsys, "sources", "add", "环卫接口", feed["url"], "--table", "环卫清运",
                           "--mode", "replace", "--db", str(db))
    assert code == 0, err
    code, _out, err = _cli(capsys, "sources", "refresh", "环卫接口", "--db", str(db))
    assert code == 2
    assert "刷新失败，数据集没有改变" in err and "没有替换：数据源的新数据会使" in err and "看板「环卫运行」" in err
    with open_warehouse(path=db) as wh:
        assert Catalog(wh).get("环卫清运").version == 1
    feed["body"] = _records("清运量（吨）")  # the upstream put the name back: the run replaces
    code, _out, err = _cli(capsys, "sources", "refresh", "环卫接口", "--db", str(db))
    assert code == 0, err
    with open_warehouse(path=db) as wh:
        assert Catalog(wh).get("环卫清运").version == 2
