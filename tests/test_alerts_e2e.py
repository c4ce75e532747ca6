"""End to end over the sample city: a spike appended to 12345 工单 fires the 12345 board's rule to all
five channels once, within one scheduler tick of the import, and clears when a normal day follows.

The rule watches the board's 近7天工单数 card for an unusual day (median ± 3·MAD over 14 days). The
appends go through the importer exactly like `citybi ingest --mode append`, and the check is
started by the dataset-changed hook on the app's kind of scheduler (citybi.scheduler) — no test
calls `check` for the firing itself. The robots and the mail server are the stand-ins of
tests/alert_servers.py, which check formats and signatures like the vendors.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from alert_servers import smtp_server, vendor_server

from citybi.alerts.history import History
from citybi.alerts.rules import alerts_dir
from citybi.alerts.service import AlertService
from citybi.catalog import open_warehouse
from citybi.importer import ingest_file
from citybi.scheduler import Scheduler
from citybi.secrets import SecretStore
from citybi.warehouse import Warehouse

ROBOTS = [("wecom", "企微值班群", None), ("dingtalk", "钉钉值班群", "SECding"), ("feishu", "飞书值班群", "fs-sign"),
          ("webhook", "值班系统", None)]
COLUMNS = ["工单编号", "受理时间", "区", "街道", "诉求类型", "来源渠道", "办结状态", "处理时长（小时）", "满意度",
           "诉求内容"]


@pytest.fixture()
def wh(sample_copy: Callable[[str], Path]) -> Iterator[Warehouse]:
    w = open_warehouse(path=sample_copy("alerts_e2e"))
    yield w
    w.close()


def _day_file(folder: Path, day: dt.date, n: int, tag: str) -> Path:
    path = folder / f"工单_{day.isoformat()}.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for i in range(n):
            out.writerow([f"QY{tag}{i:05d}", f"{day.isoformat()} {8 + i % 12:02d}:{i % 60:02d}:00", "临江区",
                          "滨江街道", "噪音扰民", "电话", "处理中", 4.5, 4, "反映夜间施工噪音扰民，请求处理。"])
    return path


def _write(folder: Path, name: str, data: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _wait(check: Callable[[], bool], seconds: float = 20.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if check():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def test_a_spike_fires_once_to_all_five_channels_and_clears(wh: Warehouse, tmp_path: Path) -> None:
    secrets = SecretStore(wh.path)
    folder = alerts_dir(wh.path)
    with vendor_server() as server, smtp_server() as (box, port):
        for kind, name, sign in ROBOTS:
            secrets.set(f"{name}-地址", server.add(kind, name, secret=sign))
            channel: dict[str, Any] = {"name": name, "kind": kind, "url_secret": f"{name}-地址", "timeout_s": 5}
            if sign:
                secrets.set(f"{name}-签名", sign)
                channel["sign_secret"] = f"{name}-签名"
            _write(folder / "channels", name, channel)
        _write(folder / "channels", "领导邮箱", {"name": "领导邮箱", "kind": "email", "smtp_host": "127.0.0.1",
                                               "smtp_port": port, "sender": "citybi@city.gov.cn",
                                               "to": ["leader@city.gov.cn"]})
        _write(folder / "rules", "热线工单激增", {
            "name": "热线工单激增", "watch": {"board": "12345热线", "tile": "热线_近7天工单数"},
            "condition": {"kind": "unusual", "periods": 14, "direction": "up"}, "every": 3600,
            "channels": [name for _k, name, _s in ROBOTS] + ["领导邮箱"]})

        scheduler = Scheduler()
        service = AlertService(wh, scheduler, sync_s=None, flush_s=None).start()
        history = History(wh)
        try:
            # before: 2025-06-30 is an ordinary day, nothing fires
            assert service.check("热线工单激增").events == []

            # a spike: 240 noise complaints on 2025-07-01 (a normal day has 16–42 in all)
            t0 = time.monotonic()
            ingest_file(wh, _day_file(tmp_path, dt.date(2025, 7, 1), 240, "S"), table="热线工单", mode="append")
            took = _wait(lambda: [f.status for f in history.firings("热线工单激增")] == ["sent"])
            print(f"\nimport → delivered to all five channels: {time.monotonic() - t0:.2f} s "
                  f"(after the import returned: {took:.2f} s)")
            (fired,) = history.firings("热线工单激增")
            assert len(box.messages) == 1
            assert (fired.event, fired.status) == ("fired", "sent")
            assert "2025-07-01 为 240件，高于近 14 期正常范围" in fired.message
            assert {d["channel"] for d in fired.deliveries if d["ok"]} == {n for _k, n, _s in ROBOTS} | {"领导邮箱"}
            # the rows behind it: the day's records (capped), every one of them one of the spike's
            assert fired.rows.height == 200 and fired.rows["工单编号"].str.starts_with("QYS").all()
            assert {str(v)[:10] for v in fired.rows["受理时间"].to_list()} == {"2025-07-01"}
            for _kind, name, _sign in ROBOTS:
                (posted,) = server.posts(name)
                assert posted.status == 200 and posted.answer.get("errcode", posted.answer.get("code", 0)) == 0
            assert box.messages[0]["Subject"] == "【预警】热线工单激增"
            (xlsx,) = [p.get_content() for p in box.messages[0].iter_attachments()
                       if p.get_filename().endswith(".xlsx")]
            sheet = openpyxl.load_workbook(io.BytesIO(xlsx)).active
            assert sheet.max_row == 201 and sheet.cell(1, 1).value == "工单编号"

            # checked again (the hourly job, a page's button): still unusual, but no second message
            again = service.check("热线工单激增")
            assert again.holding == [""] and again.events == []
            assert len(history.firings("热线工单激增")) == 1 and len(box.messages) == 1

            # the data returns to normal: 25 on 2025-07-02 → one "cleared" message to each channel
            ingest_file(wh, _day_file(tmp_path, dt.date(2025, 7, 2), 25, "N"), table="热线工单", mode="append")
            _wait(lambda: [f.status for f in history.firings("热线工单激增")] == ["sent", "sent"])
            cleared, first = history.firings("热线工单激增")
            assert len(box.messages) == 2 and all(len(server.posts(n)) == 2 for _k, n, _s in ROBOTS)
            assert (cleared.event, cleared.status, first.id) == ("cleared", "sent", fired.id)
            assert "已恢复正常" in cleared.message and "25件" in cleared.message
            assert box.messages[1]["Subject"] == "【恢复】热线工单激增"
            assert service.check("热线工单激增").events == []
            assert len(history.firings("热线工单激增")) == 2
        finally:
            service.stop()
            scheduler.shutdown()
