"""The 预警 page (Streamlit AppTest): create a rule from a board's KPI card in two clicks, a channel with
its secret by name, 测试发送, 立即检查, pause, and the history with the rows behind a firing."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alert_servers import vendor_server
from streamlit.testing.v1 import AppTest

from citybi.alerts.rules import rule_store
from citybi.catalog import open_warehouse

ROOT = Path(__file__).resolve().parent.parent


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "alerts.py"), default_timeout=90)


def _frame(at: AppTest, column: str) -> Any:
    """The table on the page that has this column (tabs render all their tables)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _texts(at: AppTest, kind: str) -> list[str]:
    return [e.value.replace("\\", "") for e in getattr(at, kind)]


def test_the_page_without_rules_invites_creating_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "empty.duckdb"
    open_warehouse(path=path).close()
    monkeypatch.setenv("CITYBI_DB", str(path))
    at = _page().run()
    assert not at.exception
    assert at.title[0].value == "预警"
    assert any("还没有预警规则" in t for t in _texts(at, "info"))


def test_create_in_two_clicks_add_a_channel_test_check_pause(sample_copy: Callable[[str], Path],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    db = sample_copy("alerts_page")
    monkeypatch.setenv("CITYBI_DB", str(db))
    at = _page().run()
    assert not at.exception
    # the board, then click 1: the KPI card, click 2: 创建预警
    at.selectbox(key="al_new_board").set_value("12345热线").run()
    options = at.selectbox(key="al_new_tile").options
    at.selectbox(key="al_new_tile").select_index(options.index("近7天工单数（指标卡）")).run()
    at.button(key="al_create").click().run()
    assert not at.exception, at.exception
    overview = _frame(at, "监控与条件")
    assert overview["名称"].to_list() == ["近7天工单数异常波动"]
    assert "看板「12345热线」的「热线_近7天工单数」" in overview["监控与条件"][0]
    assert rule_store(db).load("近7天工单数异常波动").condition.kind == "unusual"

    with vendor_server() as server:
        # the robot's address is saved as a secret by name, then the channel refers to the name
        at.text_input(key="al_s_name").input("值班群-地址")
        at.text_input(key="al_s_value").input(server.add("wecom", "k1"))
        at.button(key="FormSubmitter:al_secret_form-保存密钥").click().run()
        assert any("已保存密钥「值班群-地址」" in s for s in _texts(at, "success"))
        at.text_input(key="ch_name_new").input("值班群")
        at.selectbox(key="ch_kind_new").set_value("wecom")
        at.text_input(key="ch_url_new").input("值班群-地址")
        at.button(key="FormSubmitter:al_ch_form_new-保存渠道").click().run()
        assert not at.exception and not _texts(at, "error"), _texts(at, "error")
        channels = _frame(at, "签名")
        assert channels["名称"].to_list() == ["值班群"] and channels["地址/服务器"].to_list() == ["密钥「值班群-地址」"]
        assert "127.0.0.1" not in str(channels.to_dict())  # the address itself is never on screen
        at.button(key="al_ch_test").click().run()
        assert any("值班群：已发送" in s for s in _texts(at, "success"))
        assert "测试消息" in server.posts("k1")[0].body["markdown"]["content"]

        # the rule sends to it: edit, then 测试发送 and 立即检查
        rule = "近7天工单数异常波动"
        at.multiselect(key=f"al_channels_{rule}").set_value(["值班群"])
        at.button(key=f"FormSubmitter:al_edit_{rule}-保存修改").click().run()
        assert not at.exception and rule_store(db).load(rule).channels == ["值班群"]
        at.button(key="al_test").click().run()
        assert any("值班群：已发送" in s for s in _texts(at, "success"))
        assert server.posts("k1")[-1].body["markdown"]["content"].startswith("### 【测试】近7天工单数异常波动")
        at.button(key="al_check").click().run()
        assert not at.exception
        assert any("检查完成" in s or "满足条件" in s for s in _texts(at, "success"))

    at.button(key="al_pause").click().run()
    assert not at.exception and rule_store(db).load("近7天工单数异常波动").paused
    assert _frame(at, "监控与条件")["状态"].to_list() == ["已暂停"]
