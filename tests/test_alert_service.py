"""The alert service over the sample city: quiet hours hold messages (sent when they end, never
dropped), an unreachable robot is retried round after round and then shown as failed with its
error, per-group rules fire per group, and `citybi alerts list|check|history` say the same."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from alert_servers import VendorServer, vendor_server

from citybi.alerts.rules import alerts_dir
from citybi.alerts.service import MAX_ROUNDS, AlertService
from citybi.catalog import open_warehouse
from citybi.cli import main
from citybi.secrets import SecretStore
from citybi.warehouse import Warehouse


class Clock:
    def __init__(self, when: str) -> None:
        self.now = dt.datetime.fromisoformat(when)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture()
def db(sample_copy: Callable[[str], Path]) -> Path:
    return sample_copy("alert_service")


@pytest.fixture()
def server() -> Iterator[VendorServer]:
    with vendor_server() as s:
        yield s


def _setup(db: Path, server: VendorServer, rule: dict[str, Any], *, retries: int = 1) -> None:
    SecretStore(db).set("值班-地址", server.add("webhook", "duty"))
    folder = alerts_dir(db)
    (folder / "channels").mkdir(parents=True, exist_ok=True)
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    channel = {"name": "值班系统", "kind": "webhook", "url_secret": "值班-地址", "retries": retries, "timeout_s": 2}
    (folder / "channels" / "值班系统.yaml").write_text(yaml.safe_dump(channel, allow_unicode=True), encoding="utf-8")
    (folder / "rules" / f"{rule['name']}.yaml").write_text(yaml.safe_dump(rule, allow_unicode=True), encoding="utf-8")


DAILY = {"name": "每日工单过多", "watch": {"chart": "热线_每日工单"}, "condition": {"kind": "above", "value": 1},
         "channels": ["值班系统"]}


def _service(db: Path, clock: Clock) -> tuple[Warehouse, AlertService]:
    wh = open_warehouse(path=db)
    return wh, AlertService(wh, clock=clock)


def test_quiet_hours_hold_the_message_until_they_end(db: Path, server: VendorServer) -> None:
    _setup(db, server, {**DAILY, "quiet_hours": "22:00-07:00"})
    clock = Clock("2026-12-07 23:00")
    wh, service = _service(db, clock)
    with wh:
        out = service.check("每日工单过多")
        assert out.events == [("", "fired")]
        assert [f.status for f in service.history.firings()] == ["held"] and server.posts("duty") == []
        clock.now = dt.datetime.fromisoformat("2026-12-08 03:00")
        assert service.flush() == 0 and server.posts("duty") == []
        clock.now = dt.datetime.fromisoformat("2026-12-08 07:01")
        assert service.flush() == 1
        (firing,) = service.history.firings()
        assert firing.status == "sent" and firing.sent_at == clock.now
        (posted,) = server.posts("duty")
        assert posted.body["title"] == "【预警】每日工单过多" and posted.body["facts"]["firing_id"] == firing.id
        assert service.flush() == 0  # sent once, not again


def test_an_unreachable_robot_is_retried_then_shown_as_failed(db: Path, server: VendorServer) -> None:
    _setup(db, server, DAILY, retries=0)
    server.robots["duty"].script = [(500, {"message": "维护中"}, 0.0)] * MAX_ROUNDS
    wh, service = _service(db, Clock("2026-12-07 10:00"))
    with wh:
        service.check("每日工单过多")
        statuses = [service.history.firings()[0].status]
        for _ in range(MAX_ROUNDS - 1):
            service.flush()
            statuses.append(service.history.firings()[0].status)
        assert statuses == ["pending"] * (MAX_ROUNDS - 1) + ["failed"]
        firing = service.history.firings()[0]
        assert [d["round"] for d in firing.deliveries] == list(range(1, MAX_ROUNDS + 1))
        assert all("HTTP 500" in d["error"] or "维护中" in d["error"] for d in firing.deliveries)
        assert "值班系统：失败" in firing.delivery_text()
        assert len(server.posts("duty")) == MAX_ROUNDS
        assert service.flush() == 0  # failed is final: shown, not retried for ever


def test_a_rule_per_district_fires_for_each_district_breaking_it(db: Path, server: VendorServer) -> None:
    _setup(db, server, {"name": "办结率下降", "watch": {"board": "12345热线", "tile": "热线_办结率"},
                        "condition": {"kind": "change", "pct": 0.15, "direction": "down"}, "group_by": "区",
                        "channels": ["值班系统"]})
    wh, service = _service(db, Clock("2026-12-07 10:00"))
    with wh:
        out = service.check("办结率下降")
        # June 2025 vs May 2025 in the samples: only 青禾新区 dropped by more than 15 个百分点
        # (the others by 8.9–12.7)
        assert out.holding == ["青禾新区"] and out.events == [("青禾新区", "fired")]
        (posted,) = server.posts("duty")
        assert posted.body["title"] == "【预警】办结率下降·青禾新区"
        assert "环比-22.4 个百分点" in posted.body["lines"][0]


def test_the_command_line(db: Path, server: VendorServer, capsys: pytest.CaptureFixture[str]) -> None:
    _setup(db, server, DAILY)
    assert main(["alerts", "list", "--db", str(db)]) == 0
    assert "每日工单过多\t正常\t图表「热线_每日工单」 高于 1" in capsys.readouterr().out
    assert main(["alerts", "check", "--db", str(db), "--no-send"]) == 0
    out = capsys.readouterr().out
    assert "每日工单过多\t满足条件：全部\t新消息：全部预警" in out and server.posts("duty") == []
    assert main(["alerts", "check", "每日工单过多", "--db", str(db), "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["checks"][0]["events"] == []  # still holding: no second message
    assert main(["alerts", "history", "--db", str(db), "--json"]) == 0
    (firing,) = json.loads(capsys.readouterr().out)["firings"]
    # --no-send: recorded, and never sent later either (the app's flush leaves it alone)
    assert (firing["rule"], firing["event"], firing["status"]) == ("每日工单过多", "fired", "unsent")
    assert main(["alerts", "check", "不存在", "--db", str(db)]) == 2
    assert "不存在" in capsys.readouterr().err
