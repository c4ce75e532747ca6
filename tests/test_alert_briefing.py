"""简报: the 环卫运行 board sent on the scheduler arrives by e-mail and webhook with a PNG rendered offline
(plotly's static export driving /usr/bin/chromium), and the KPI numbers read from the message text
equal the board's own (boards.run_board, as the 看板 page shows them)."""
from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
import yaml
from alert_servers import smtp_server, vendor_server

from citybi.alerts.briefing import CHROMIUM, briefing_from_dict
from citybi.alerts.rules import AlertRuleError, alerts_dir
from citybi.alerts.service import AlertService
from citybi.boards import board_store, run_board
from citybi.catalog import open_warehouse
from citybi.charts.kpi import KpiValue
from citybi.scheduler import Scheduler
from citybi.secrets import SecretStore


@pytest.mark.parametrize(("data", "words"), [
    ({"name": "晨报", "board": "环卫运行", "cron": "0 8 * * 1-5"}, None),
    ({"name": "晨报", "board": "环卫运行", "every": 60, "cron": "0 8 * * *"}, "只能写一项"),
    ({"name": "晨报", "board": "环卫运行", "date": "大前天"}, "无法识别"),
    ({"name": "晨报"}, "看板"),
])
def test_briefing_definitions(data: dict[str, object], words: str | None) -> None:
    if words is None:
        assert briefing_from_dict(data).schedule() is not None
    else:
        with pytest.raises(AlertRuleError) as caught:
            briefing_from_dict(data)
        assert words in str(caught.value)


def test_a_scheduled_briefing_arrives_with_a_png_and_the_boards_numbers(sample_copy: Callable[[str], Path]) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Chromium at {CHROMIUM} for the offline PNG")
    db = sample_copy("briefing")
    folder = alerts_dir(db)
    with vendor_server() as server, smtp_server() as (box, port):
        SecretStore(db).set("系统-地址", server.add("webhook", "sys"))
        channels = {"值班系统": {"name": "值班系统", "kind": "webhook", "url_secret": "系统-地址"},
                    "领导邮箱": {"name": "领导邮箱", "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": port,
                             "sender": "citybi@city.gov.cn", "to": ["leader@city.gov.cn"]}}
        for sub, name, data in [*[("channels", n, d) for n, d in channels.items()],
                                ("briefings", "环卫晨报", {"name": "环卫晨报", "board": "环卫运行", "every": 2,
                                                       "channels": ["值班系统", "领导邮箱"]})]:
            (folder / sub).mkdir(parents=True, exist_ok=True)
            (folder / sub / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        wh = open_warehouse(path=db)
        scheduler = Scheduler()
        service = AlertService(wh, scheduler, sync_s=None, flush_s=None).start()
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not (box.messages and server.posts("sys")):
                time.sleep(0.2)
        finally:
            service.stop()
            scheduler.shutdown(wait=True)
        assert box.messages and server.posts("sys"), "the briefing did not arrive within 90 s"
        mail = box.messages[0]
        assert mail["Subject"] == "【简报】环卫运行"
        files = {p.get_filename(): p.get_content() for p in mail.iter_attachments()}
        png = next(v for k, v in files.items() if k.endswith(".png"))
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
        sheet = openpyxl.load_workbook(io.BytesIO(next(v for k, v in files.items() if k.endswith(".xlsx")))).active
        assert [c.value for c in sheet[1]] == ["指标", "值", "显示", "同比", "环比"]

        # the numbers in the text are the board's numbers
        board = run_board(wh, board_store(wh.settings).load("环卫运行"), render=True)
        cards = {t.title: t.result.output for t in board.tiles
                 if t.result is not None and isinstance(t.result.output, KpiValue)}
        text = server.posts("sys")[0].body["text"]
        said = dict(re.findall(r"^(\S+)：([\d,.]+) ", text, flags=re.M))
        assert said == {title: kv.value_text for title, kv in cards.items()} and len(said) == 3
        for kv in cards.values():
            for c in kv.comparisons:
                assert f"{c.name} {c.arrow}{kv.change_text(c)}" in text
        assert f"数据日期：{board.today.isoformat()}" in text
        (kept,) = [f for f in service.history.firings("环卫晨报")][-1:]
        assert (kept.event_label, kept.status) == ("简报", "sent")
        wh.close()
