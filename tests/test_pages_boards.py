"""看板 page smoke tests (Streamlit AppTest) on the sample city: renders, filters, leader view, export."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def db(sample_copy: Callable[[str], Path]) -> Iterator[Path]:
    path = sample_copy("boards_page")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CITYBI_DB", str(path))
        yield path


def _page(**params: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "boards.py"), default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _sql_expanders(at: AppTest) -> int:
    return sum(e.label == "查看 SQL" for e in at.expander)


def test_board_renders_kpis_charts_and_export(db: Path) -> None:
    at = _page(board="环卫运行")
    assert not at.exception
    assert [t.value for t in at.title] == ["环卫运行"]
    assert [(m.label, m.value) for m in at.metric] == [
        ("近7天清运量", "3,190 吨"), ("本月清运量", "13,494 吨"), ("近7天出车车次", "1,775 次")]
    assert at.metric[0].delta == "环比 +1.1%"
    assert len(at.get("plotly_chart")) == 4  # the 街道 table is a data grid (rows can be clicked)
    assert [d.key for d in at.dataframe if str(d.key).startswith("tile_")] == ["tile_6"]
    assert _sql_expanders(at) == 8
    assert len(at.get("download_button")) == 1
    assert not at.error and not at.warning


def test_changing_the_district_changes_the_kpi(db: Path) -> None:
    at = _page(board="环卫运行")
    before = at.metric[0].value
    at.multiselect(key="bf_环卫运行__dim__区").set_value(["临江区"]).run()
    assert not at.exception
    assert before == "3,190 吨" and at.metric[0].value == "697 吨"
    # 街道 now offers only 临江区's streets
    assert at.multiselect(key="bf_环卫运行__dim__街道").options == ["望江街道", "柳堤街道", "滨江街道", "码头街道"]


def test_a_drill_step_filters_the_board_and_the_breadcrumb_removes_it(db: Path) -> None:
    from citybi.charts.drill import DrillStep

    at = AppTest.from_file(str(ROOT / "pages" / "boards.py"), default_timeout=60)
    at.query_params["board"] = "环卫运行"
    at.session_state["bf_环卫运行__drill"] = [DrillStep("区", "临江区", None, "区")]
    at.run()
    assert not at.exception
    assert at.metric[0].value == "697 吨"  # the same as picking 临江区 in the filter
    crumb = at.button(key="bf_环卫运行__crumb_0")
    assert crumb.label == "区：临江区"
    up = at.button(key="tile_3__up")  # 各区清运量 went down its path to 临江区's streets
    assert up.label == "上一级"
    crumb.click().run()
    assert not at.exception and at.metric[0].value == "3,190 吨"
    assert at.session_state["bf_环卫运行__drill"] == []
    assert not [b for b in at.button if b.key == "tile_3__up"]


@pytest.mark.parametrize("via", ["url", "toggle"])
def test_leader_view_hides_sql_and_editing(db: Path, via: str) -> None:
    at = _page(board="12345热线", view="leader") if via == "url" else _page(board="12345热线")
    if via == "toggle":
        assert _sql_expanders(at) == 6 and any(e.label == "编辑看板" for e in at.expander)
        at.toggle(key="board_leader").set_value(True).run()
    assert not at.exception
    assert _sql_expanders(at) == 0
    assert not any(e.label == "编辑看板" for e in at.expander)
    assert not any(d.label == "以哪天为「今天」" for d in at.date_input)
    assert [m.label for m in at.metric] == ["近7天工单数", "办结率", "平均满意度"]
    assert len(at.get("download_button")) == 1  # leaders may still export
    assert at.query_params["view"] == "leader"  # the URL stays shareable as the leader's link


def test_a_leader_by_role_always_gets_the_leader_view(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from citybi import context

    monkeypatch.setattr(context, "current", lambda: context.Context(user="王局长", role="leader"))
    at = _page(board="12345热线")  # no ?view=leader: the role decides
    assert not at.exception
    assert not at.toggle  # nothing to switch it off with
    assert _sql_expanders(at) == 0 and not any(e.label == "编辑看板" for e in at.expander)
    assert any("stSidebar" in h.proto.body for h in at.get("html"))  # the page list is hidden
    at.session_state["board_leader"] = False  # even a forged session value does not turn it off
    at.run()
    assert _sql_expanders(at) == 0 and not any(e.label == "编辑看板" for e in at.expander)


def test_date_preset_applies_to_every_tile(db: Path) -> None:
    at = _page(board="空气质量")
    assert at.metric[0].value == "69"
    at.selectbox(key="bf_空气质量__date").set_value("上月").run()
    assert not at.exception
    assert at.metric[0].value != "69"
    assert any("2025-05-01 至 2025-05-31" in m.value for m in at.markdown)


def test_adding_a_chart_saves_a_user_copy(db: Path) -> None:
    at = _page(board="空气质量")
    at.selectbox(key="bf_空气质量__add_chart").set_value("环卫_各区清运量").run()
    at.button(key="bf_空气质量__add").click().run()
    assert not at.exception
    assert any("已把「环卫_各区清运量」添加到看板" in s.value for s in at.success)
    saved = db.parent / "boards" / "空气质量.yaml"
    assert saved.is_file() and "环卫_各区清运量" in saved.read_text(encoding="utf-8")
    assert _sql_expanders(at) == 6


def test_targets_tab_saves_the_table_and_a_pasted_sheet(db: Path) -> None:
    at = _page(board="环卫运行")
    assert at.selectbox(key="bf_环卫运行__tg_tile").options == ["近7天清运量", "本月清运量", "近7天出车车次"]
    assert at.selectbox(key="bf_环卫运行__tg_col_0").value == "区"
    at.text_area(key="bf_环卫运行__tg_paste_0").input("区\t时长\t目标\n北港区\t周\t900\n临江区\t周\t700\n")
    at.button(key="bf_环卫运行__tg_paste_save_0").click().run()
    assert not at.exception and not at.error
    assert any("已读取 2 行目标并保存" in s.value for s in at.success)
    saved = (db.parent / "boards" / "环卫运行.yaml").read_text(encoding="utf-8")
    assert "value: 北港区" in saved and "target: 900" in saved
    at.text_area(key="bf_环卫运行__tg_paste_0").input("北港区\t很多\n")
    at.button(key="bf_环卫运行__tg_paste_save_0").click().run()
    assert [e.value for e in at.error] == [  # Markdown-escaped user text, then the hint
        "目标表有误：第1行：目标「很多」不是数字（可写 3640、3\\,640 或 95\\%）\n\n建议：改好这些行后再保存"]


_LINJIANG = frozenset({"临江区"})


@pytest.fixture
def pristine(sample_copy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample city as shipped (the module's `db` has boards edited by the tests above)."""
    path = sample_copy("boards_visible")
    monkeypatch.setenv("CITYBI_DB", str(path))
    return path


@pytest.mark.parametrize(("role", "department", "districts", "shown"), [
    # who is asking → the boards offered (those with something they may read); the rest are counted
    (None, None, None, ["12345热线", "数据质量", "环卫运行", "空气质量"]),
    ("admin", None, None, ["12345热线", "数据质量", "环卫运行", "空气质量"]),
    ("leader", None, None, ["12345热线", "数据质量", "环卫运行", "空气质量"]),
    ("analyst", None, _LINJIANG, ["12345热线", "环卫运行", "空气质量"]),  # 数据质量 has no 区 column
    ("clerk", "城管局", _LINJIANG, ["环卫运行"]),                              # other departments' data
    ("clerk", "统计局", None, []),                                           # 区县概况 is on no board
])
def test_boards_offered_are_those_the_caller_can_read(pristine: Path, role: str | None, department: str | None,
                                                      districts: frozenset[str] | None, shown: list[str]) -> None:
    import contextlib

    from citybi import context
    from citybi.boards import board_store, visible_boards
    from citybi.catalog import open_warehouse
    from citybi.charts.store import chart_store

    wh = open_warehouse(path=pristine)
    try:
        ctx = None if role is None else context.Context(
            user="u", role=role, scope=context.Scope(department=department, districts=districts))
        with context.use(ctx) if ctx is not None else contextlib.nullcontext():
            names, hidden = visible_boards(wh, board_store(wh.settings), chart_store(wh.settings))
    finally:
        wh.close()
    assert (sorted(names), hidden) == (sorted(shown), 4 - len(shown))


def test_a_clerk_is_offered_only_their_department_s_board_and_told_of_the_rest(
        pristine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from citybi import context

    clerk = context.Context(user="李科员", role="clerk", scope=context.Scope(department="城管局", districts=_LINJIANG))
    monkeypatch.setattr(context, "current", lambda: clerk)
    at = _page()
    assert not at.exception
    assert at.selectbox(key="board_pick").options == ["环卫运行"]
    assert any("另有 3 个看板读取的数据您无权查看" in c.value for c in at.caption)
