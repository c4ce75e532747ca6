"""Alert rules as tables: strict YAML, the no-storm state machine, quiet hours, and each condition's judgement."""
from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from citybi.alerts.evaluate import Reading, band, judge
from citybi.alerts.rules import AlertRuleError, Condition, dump_rule, in_quiet, load_rule, quiet_ends, rule_from_dict
from citybi.alerts.state import CLEARED, FIRED, REPEAT, GroupState, step

T0 = dt.datetime(2025, 7, 1, 9, 0)
RULE = {"name": "热线工单激增", "watch": {"board": "12345热线", "tile": "热线_近7天工单数"},
        "condition": {"kind": "unusual", "periods": 14}, "channels": ["值班群"]}


# ---------------------------------------------------------------------------- YAML
def test_a_rule_round_trips_through_yaml() -> None:
    rule = rule_from_dict({**RULE, "group_by": "区", "every": 3600, "repeat_every": 86400,
                           "quiet_hours": "22:00-07:00"})
    assert load_rule(dump_rule(rule)) == rule
    assert rule.describe() == ("看板「12345热线」的「热线_近7天工单数」 超出近 14 期的正常范围"
                               "（中位数 ± 3 倍离差，升降），按「区」逐个检查")


@pytest.mark.parametrize(("change", "words"), [
    ({"conditon": {"kind": "above"}}, "conditon"),
    ({"condition": {"kind": "above"}}, "需要写阈值 value"),
    ({"condition": {"kind": "change"}}, "变化幅度 pct"),
    ({"condition": {"kind": "target"}}, "期限 by"),
    ({"condition": {"kind": "unusual", "periods": 2}}, "历史期数"),
    ({"watch": {"board": "12345热线"}}, "哪个图块"),
    ({"watch": {"chart": "a", "board": "b", "tile": "c"}}, "只能写一项"),
    ({"watch": {"chart": "a", "date": "前年"}}, "无法识别"),
    ({"quiet_hours": "晚上"}, "22:00-07:00"),
    ({"every": 60, "cron": "0 8 * * *"}, "只能写一项"),
    ({"cron": "0 8 * *"}, "5 段"),
    ({"channels": ["值班群", "值班群"]}, "重复"),
    ({"name": "../x"}, "不能用于文件名"),
])
def test_a_bad_rule_is_refused_in_chinese(change: dict[str, Any], words: str) -> None:
    with pytest.raises(AlertRuleError) as caught:
        rule_from_dict({**RULE, **change})
    assert words in str(caught.value)


def test_rule_yaml_goes_through_the_safe_loader() -> None:
    with pytest.raises(AlertRuleError) as caught:
        load_rule("a: &x [1]\nb: *x\n")
    assert "锚点" in str(caught.value) or "引用" in str(caught.value)


# ---------------------------------------------------------------------------- the state machine
H = dt.timedelta(hours=1)


@pytest.mark.parametrize(("checks", "repeat_s", "events"), [
    # (hours after T0, holds, quiet) → the events said
    ([(0, True, False), (1, True, False), (2, True, False), (3, False, False), (4, False, False)], 0,
     [FIRED, None, None, CLEARED, None]),
    ([(0, True, False), (1, True, False), (3, True, False), (4, True, False), (5, False, False)], 2 * 3600,
     [FIRED, None, REPEAT, None, CLEARED]),
    # inside quiet hours no repeats are produced (they would all arrive at once when the hours end)
    ([(0, True, False), (5, True, True), (6, True, True), (7, True, False)], 3600, [FIRED, None, None, REPEAT]),
    # it fires again after clearing
    ([(0, True, False), (1, False, False), (2, True, False)], 0, [FIRED, CLEARED, FIRED]),
    ([(0, False, False), (1, False, False)], 3600, [None, None]),
])
def test_each_group_fires_once_repeats_at_most_every_n_and_clears(checks: list[tuple[int, bool, bool]],
                                                                 repeat_s: int, events: list[str | None]) -> None:
    state: GroupState | None = None
    said = []
    for hours, holds, quiet in checks:
        state, event = step(state, holds, T0 + hours * H, repeat_every_s=repeat_s, quiet=quiet)
        said.append(event)
    assert said == events


@pytest.mark.parametrize(("quiet", "now", "inside", "ends"), [
    ("22:00-07:00", "23:30", True, "2025-07-02 07:00"),
    ("22:00-07:00", "06:59", True, "2025-07-01 07:00"),
    ("22:00-07:00", "07:00", False, None),
    ("12:00-13:30", "12:15", True, "2025-07-01 13:30"),
    ("12:00-13:30", "14:00", False, None),
    (None, "03:00", False, None),
])
def test_quiet_hours(quiet: str | None, now: str, inside: bool, ends: str | None) -> None:
    when = dt.datetime.combine(dt.date(2025, 7, 1), dt.time.fromisoformat(now))
    assert in_quiet(quiet, when) is inside
    if ends is not None:
        assert quiet is not None and quiet_ends(quiet, when) == dt.datetime.fromisoformat(ends)


# ---------------------------------------------------------------------------- judging a reading
def _reading(value: float | None = 100.0, **kw: Any) -> Reading:
    base: dict[str, Any] = {"group": None, "value": value, "value_text": f"{value:g}件" if value is not None else "—",
                            "period": "最近7天", "changes": {}, "target": None, "higher_is_better": True,
                            "ratio": False, "history": (), "latest": value, "latest_label": "2025-07-01",
                            "rows": pl.DataFrame(), "fmt": None, "unit": "件"}
    return Reading(**{**base, **kw})


TODAY = dt.date(2025, 7, 1)


@pytest.mark.parametrize(("cond", "reading", "holds", "words"), [
    ({"kind": "above", "value": 90}, _reading(100), True, "高于阈值 90件"),
    ({"kind": "above", "value": 100}, _reading(100), False, "未高于阈值"),
    ({"kind": "below", "value": 120}, _reading(100, group="临江区"), True,
     "「临江区」最近7天 为 100件，低于阈值 120件"),
    ({"kind": "above", "value": 1}, _reading(None), False, "没有数据"),
    ({"kind": "change", "pct": 0.3}, _reading(140, changes={"环比": (100.0, 40.0, 0.4)}), True, "环比+40.0%"),
    ({"kind": "change", "pct": 0.3}, _reading(80, changes={"环比": (100.0, -20.0, -0.2)}), False, "未超过 30%"),
    ({"kind": "change", "pct": 0.1, "direction": "down"}, _reading(80, changes={"环比": (100.0, -20.0, -0.2)}),
     True, "超过 10%"),
    ({"kind": "change", "pct": 0.1, "compare": "同比"}, _reading(80, changes={"环比": (100.0, -20.0, -0.2)}),
     False, "没有可比较的同比数据"),
    # a share changes by 百分点: 0.05 means five points
    ({"kind": "change", "pct": 0.05, "direction": "down"},
     _reading(0.8, ratio=True, changes={"环比": (0.92, -0.12, -0.13)}), True, "-12.0 个百分点"),
    ({"kind": "target", "by": "2025-06-30"}, _reading(80, target=100.0), True, "仍未达到目标"),
    ({"kind": "target", "by": "2025-07-31"}, _reading(80, target=100.0), False, "期限 2025-07-31"),
    ({"kind": "target", "by": "2025-06-30"}, _reading(120, target=100.0), False, "已达到目标"),
    ({"kind": "target", "by": "2025-06-30"}, _reading(80, target=100.0, higher_is_better=False), False, "已达到目标"),
    ({"kind": "target", "by": "2025-06-30"}, _reading(80), False, "没有设定目标值"),
    ({"kind": "unusual"}, _reading(100, history=(20, 22, 19, 21, 20, 23, 18)), True, "高于近 7 期正常范围"),
    ({"kind": "unusual"}, _reading(21, history=(20, 22, 19, 21, 20, 23, 18)), False, "之内"),
    ({"kind": "unusual", "direction": "up"}, _reading(2, history=(20, 22, 19, 21, 20, 23, 18)), False, "低于"),
    ({"kind": "unusual"}, _reading(2, history=(20, 22, 19, 21, 20, 23, 18)), True, "低于"),
    ({"kind": "unusual"}, _reading(100, history=(20, 22)), False, "历史数据不足"),
    # one earlier spike in the history does not widen the band (why the median and the MAD)
    ({"kind": "unusual"}, _reading(60, history=(20, 22, 19, 200, 20, 23, 18)), True, "高于"),
])
def test_each_condition_on_a_reading(cond: dict[str, Any], reading: Reading, holds: bool, words: str) -> None:
    verdict = judge(Condition.model_validate(cond), reading, TODAY)
    assert verdict.holds is holds
    assert words in verdict.reason


@pytest.mark.parametrize(("history", "k", "expected"), [
    ((10, 10, 10, 10, 10), 3, (10, 10, 10)),  # all equal: any change counts
    ((10, 10, 10, 10, 20), 3, (10, 10 - 3 * 1.2533 * 2, 10 + 3 * 1.2533 * 2)),  # MAD 0: mean absolute deviation
    ((1, 2, 3, 4, 5), 2, (3, 3 - 2 * 1.4826, 3 + 2 * 1.4826)),
])
def test_the_band(history: tuple[float, ...], k: float, expected: tuple[float, float, float]) -> None:
    assert band(history, k) == pytest.approx(expected)
