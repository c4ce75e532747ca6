"""Checking rules and delivering what they say: on the one scheduler, and right after new data.

Why on the app's scheduler (citybi.scheduler, started once per app process in citybi.ui.state):
the app is the one process that may write the warehouse, and the history is written there. So
each rule with a schedule is a named job (`_citybi.alert.<名称>`), a rule without one still has a
(paused) job so that every check of it shares the job's one-at-a-time lock, and a sync job
re-reads the rules folder every SYNC_S seconds so a rule added from git or the page is picked
up. Right after an import or a refresh commits (citybi.events), the rules reading that dataset
are handed to the scheduler's threads at once: the alert fires within one scheduler tick of the
import that breaks it, and the import itself never waits for a check or a webhook.

A check: evaluate (evaluate.py) → per group, the state machine (state.py) → firings and new
states in one transaction (history.py) → delivery to each channel. Delivery happens after the
write: a firing is never lost because a robot was down; it stays "pending" and the flush job
tries again (MAX_ROUNDS times), then it is "failed" with each channel's error shown on the 预警
page. Inside quiet hours firings are "held" and the flush job sends them when the hours end.
"""
from __future__ import annotations

import datetime as dt
import io
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl

from citybi.alerts.briefing import BriefingStore
from citybi.alerts.channels import DeliveryError, Message, channel_for
from citybi.alerts.evaluate import Evaluation, evaluate, records, watch_today
from citybi.alerts.history import Firing, History, Recorded
from citybi.alerts.rules import (
    AlertRule,
    ChannelDef,
    ChannelStore,
    RuleStore,
    alerts_dir,
    channel_store,
    in_quiet,
    load_rule,
    rule_store,
)
from citybi.alerts.state import BRIEFING, CLEARED, EVENT_LABELS, FIRED, REPEAT, GroupState, step
from citybi.boards import BoardStore, board_store, default_chart_store, tile_spec
from citybi.charts.cache import ResultCache, default_cache
from citybi.charts.store import ChartStore
from citybi.errors import NotFound, UserFacingError
from citybi.events import on_dataset_changed
from citybi.secrets import Secret, SecretStore
from citybi.warehouse import Warehouse

log = logging.getLogger(__name__)

SYNC_S = 10.0
FLUSH_S = 60.0
WORKERS = 4  # rules evaluated side by side in one check run (what a board's tiles use)
MAX_ROUNDS = 3  # delivery rounds (each with the channel's own retries) before a firing is "failed"
JOB_PREFIX = "_citybi.alert."
BRIEFING_PREFIX = "_citybi.briefing."
_SYNC_JOB = "_citybi.alerts.sync"
_FLUSH_JOB = "_citybi.alerts.flush"
APP_URL_ENV = "CITYBI_APP_URL"
DEFAULT_APP_URL = "http://localhost:8501"


def app_url() -> str:
    """The app's address as people open it (links back in messages): CITYBI_APP_URL, else localhost."""
    return os.environ.get(APP_URL_ENV, DEFAULT_APP_URL).rstrip("/")


def board_link(board: str | None) -> str:
    if not board:
        return f"{app_url()}/boards"
    return f"{app_url()}/boards?board={quote(board)}&view=leader"


@dataclass
class CheckOutcome:
    """What one check of one rule did (the CLI prints it; the page shows it)."""

    rule: str
    ok: bool
    message: str = ""
    groups: int = 0
    holding: list[str] = field(default_factory=list)  # groups where the condition holds ("" = whole)
    events: list[tuple[str, str]] = field(default_factory=list)  # (group, event)
    firing_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    evaluation: Evaluation | None = None


def rows_excel(frame: pl.DataFrame, title: str) -> bytes:
    """The rows behind a firing as a small workbook, written by the export's safe cell writer."""
    from openpyxl import Workbook

    from citybi.export import sheet_names, write_table

    wb = Workbook()
    ws = wb.active
    ws.title = sheet_names([title])[0]
    write_table(ws, frame, list(frame.columns), [None] * frame.width)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


class AlertService:
    """The alert rules of one warehouse on one Scheduler (see the module docstring)."""

    def __init__(self, wh: Warehouse, scheduler: Any | None = None, *, charts: ChartStore | None = None,
                 boards: BoardStore | None = None, cache: ResultCache | None = None,
                 clock: Callable[[], dt.datetime] | None = None, sync_s: float | None = SYNC_S,
                 flush_s: float | None = FLUSH_S) -> None:
        self.wh = wh
        self.path = str(Path(wh.path).resolve())
        self.rules: RuleStore = rule_store(wh.path)
        self.channels: ChannelStore = channel_store(wh.path)
        self.history = History(wh)
        self.charts = charts or default_chart_store(wh.settings)
        self.boards = boards or board_store(wh.settings)
        self.cache = cache or default_cache()
        self.clock = clock or dt.datetime.now
        self.scheduler = scheduler
        self._sync_s, self._flush_s = sync_s, flush_s
        self._known: dict[str, AlertRule] = {}
        self._briefings: dict[str, Any] = {}
        self.briefings = BriefingStore(alerts_dir(wh.path) / "briefings")
        self._datasets: dict[str, str] = {}  # rule → the dataset it reads
        self._lock = threading.Lock()
        self._deliver_lock = threading.Lock()  # the flush job and a check never send one firing twice
        self._unlisten: Callable[[], None] | None = None

    # ------------------------------------------------------------------ life on the scheduler
    def start(self) -> AlertService:
        from citybi.scheduler import Schedule

        if self.scheduler is None:
            raise RuntimeError("AlertService.start needs the app's scheduler")
        self.sync()
        if self._sync_s:
            self.scheduler.set_job(_SYNC_JOB, self.sync, Schedule(every_s=self._sync_s))
        if self._flush_s:
            self.scheduler.set_job(_FLUSH_JOB, self.flush, Schedule(every_s=self._flush_s))
        self._unlisten = on_dataset_changed(self._on_dataset_changed)
        self.scheduler.start()
        return self

    def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self.scheduler is not None:
            for name in list(self._known):
                self.scheduler.remove_job(JOB_PREFIX + name)
            for name in list(self._briefings):
                self.scheduler.remove_job(BRIEFING_PREFIX + name)
            for job in (_SYNC_JOB, _FLUSH_JOB):
                self.scheduler.remove_job(job)

    def sync(self) -> None:
        """Register, change, pause or drop jobs so that they match the rule files."""
        if self.scheduler is None:
            return
        from citybi.scheduler import MAX_EVERY_S, Schedule

        with self._lock:
            found: dict[str, AlertRule] = {}
            for name in self.rules.names():
                try:
                    found[name] = self.rules.load(name)
                except UserFacingError:
                    continue  # a broken file: the page lists it with its problem
            for name in set(self._known) - set(found):
                self.scheduler.remove_job(JOB_PREFIX + name)
                del self._known[name]
                self._datasets.pop(name, None)
            self._sync_briefings()
            for name, rule in found.items():
                if self._known.get(name) == rule:
                    continue
                schedule = rule.schedule()
                paused = rule.paused or schedule is None
                self.scheduler.set_job(JOB_PREFIX + name, lambda n=name: self._scheduled(n),
                                       schedule or Schedule(every_s=MAX_EVERY_S), paused=paused)
                self._known[name] = rule
                self._datasets.pop(name, None)

    def _sync_briefings(self) -> None:
        from citybi.scheduler import Schedule

        assert self.scheduler is not None
        found = {}
        for name in self.briefings.names():
            try:
                found[name] = self.briefings.load(name)
            except UserFacingError:
                continue
        for name in set(self._briefings) - set(found):
            self.scheduler.remove_job(BRIEFING_PREFIX + name)
            del self._briefings[name]
        for name, b in found.items():
            if self._briefings.get(name) == b:
                continue
            schedule = b.schedule()
            self.scheduler.set_job(BRIEFING_PREFIX + name, lambda n=name: self._briefing_job(n),
                                   schedule or Schedule(every_s=366 * 86400), paused=b.paused or schedule is None)
            self._briefings[name] = b

    def _scheduled(self, name: str) -> None:
        try:
            self.check(name)
        except UserFacingError as err:  # the file was removed or broken since the job was registered
            log.warning("alert rule %s not checked: %s", name, err)

    def dataset_of(self, rule: AlertRule) -> str | None:
        try:
            if rule.watch.chart is not None:
                return self.charts.load(rule.watch.chart).dataset
            board = self.boards.load(str(rule.watch.board))
            for t in board.tiles:
                spec = tile_spec(t, self.charts)
                if rule.watch.tile in (t.chart, t.title, spec.title):
                    return spec.dataset
        except UserFacingError:
            return None
        return None

    def _on_dataset_changed(self, path: str, dataset: str) -> None:
        """New data in `dataset`: its rules are checked now, on the scheduler's threads."""
        if path != self.path or self.scheduler is None:
            return
        for name, rule in list(self._known.items()):
            if rule.paused:
                continue
            if name not in self._datasets:
                self._datasets[name] = self.dataset_of(rule) or ""
            if self._datasets[name].lower() == dataset.lower():
                self.scheduler.run_now(JOB_PREFIX + name, lambda n=name: self._scheduled(n))

    # ------------------------------------------------------------------ checking
    def check(self, name: str, *, now: dt.datetime | None = None, today: dt.date | None = None,
              deliver: bool = True) -> CheckOutcome:
        """Check one rule now: evaluate, step each group's state, record, deliver."""
        rule = self.rules.load(name)
        return self._run([rule], now=now or self.clock(), today=today, deliver=deliver)[0]

    def check_all(self, *, now: dt.datetime | None = None, today: dt.date | None = None,
                  deliver: bool = True, include_paused: bool = False) -> list[CheckOutcome]:
        """Check every (unpaused) rule; one read of the states and one write for all of them."""
        rules: list[AlertRule] = []
        broken: list[CheckOutcome] = []
        for name in self.rules.names():
            try:
                rule = self.rules.load(name)
            except UserFacingError as err:
                broken.append(CheckOutcome(rule=name, ok=False, message=str(err)))
                continue
            if not rule.paused or include_paused:
                rules.append(rule)
        return broken + self._run(rules, now=now or self.clock(), today=today, deliver=deliver)

    def _run(self, rules: list[AlertRule], *, now: dt.datetime, today: dt.date | None,
             deliver: bool) -> list[CheckOutcome]:
        states = self.history.all_states(rules[0].name if len(rules) == 1 else None) if rules else {}
        # one "today" per board/chart per run, then the rules' queries on WORKERS threads (cursors of
        # the one connection: DuckDB runs them side by side), like a board's tiles
        todays: dict[tuple[str | None, str | None], dt.date | None] = {}
        for rule in rules:
            key = (rule.watch.board, rule.watch.chart)
            if today is None and key not in todays:
                try:
                    todays[key] = watch_today(self.wh, rule, charts=self.charts, boards=self.boards, cache=self.cache)
                except UserFacingError:
                    todays[key] = None  # the rule's own check says why

        def one(rule: AlertRule) -> tuple[CheckOutcome, Recorded]:
            return self._check(rule, states.get(rule.name, {}), now,
                               today or todays.get((rule.watch.board, rule.watch.chart)), deliver)

        if len(rules) > 1 and WORKERS > 1:
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                done = list(pool.map(one, rules))
        else:
            done = [one(r) for r in rules]
        outcomes = [o for o, _r in done]
        records = [r for _o, r in done]
        for outcome, ids in zip(outcomes, self.history.record(records, now) if records else [], strict=True):
            outcome.firing_ids = ids
        if deliver:
            for rule, outcome in zip(rules, outcomes, strict=True):
                if not in_quiet(rule.quiet_hours, now):
                    for fid in outcome.firing_ids:
                        self.deliver(fid)
        return outcomes

    def _check(self, rule: AlertRule, states: dict[str, GroupState], now: dt.datetime,
               today: dt.date | None, deliver: bool = True) -> tuple[CheckOutcome, Recorded]:
        t0 = time.perf_counter()
        try:
            ev = evaluate(self.wh, rule, charts=self.charts, boards=self.boards, cache=self.cache, today=today)
        except UserFacingError as err:
            seconds = time.perf_counter() - t0
            return (CheckOutcome(rule=rule.name, ok=False, message=str(err), seconds=seconds),
                    Recorded(rule.name, False, str(err), seconds=seconds))
        quiet = in_quiet(rule.quiet_hours, now)
        record = Recorded(rule.name, True, "", groups=len(ev.readings))
        outcome = CheckOutcome(rule=rule.name, ok=True, groups=len(ev.readings), evaluation=ev)
        seen: set[str] = set()
        rule_yaml: str | None = None
        for reading, verdict in ev.pairs():
            grp = reading.group or ""
            seen.add(grp)
            if verdict.holds:
                outcome.holding.append(grp)
            old = states.get(grp)
            new, event = step(old, verdict.holds, now, repeat_every_s=rule.repeat_every, quiet=quiet)
            if new != (old or GroupState()):
                record.changes.append((grp, new, verdict.value))
            if event is not None:
                rule_yaml = rule_yaml or self.rules.text(rule.name)
                rows = reading.rows
                if event != CLEARED:  # the records behind the value ("which 工单"), when the card has them
                    try:
                        found = records(self.wh, rule, ev.watched, reading)
                    except UserFacingError as err:
                        log.warning("records behind %s not read: %s", rule.name, err)
                        found = None
                    rows = found if found is not None and found.height else rows
                record.firings.append(self._firing(rule, ev, grp, event, verdict.reason, verdict.value,
                                                   rows, old, quiet, rule_yaml, deliver))
        for grp, old in states.items():  # a group that was firing and has no data now: it is over
            if old.firing and grp not in seen:
                new, event = step(old, False, now)
                record.changes.append((grp, new, None))
                if event is not None:
                    rule_yaml = rule_yaml or self.rules.text(rule.name)
                    record.firings.append(self._firing(rule, ev, grp, event, f"「{grp}」当前没有数据", None,
                                                       pl.DataFrame(), old, quiet, rule_yaml, deliver))
        outcome.events = [(f["group"], f["event"]) for f in record.firings]
        outcome.seconds = record.seconds = time.perf_counter() - t0
        record.holding = len(outcome.holding)
        record.message = (f"{len(outcome.holding)} 组满足条件" if rule.group_by
                          else ("满足条件" if outcome.holding else "正常"))
        return outcome, record

    def _firing(self, rule: AlertRule, ev: Evaluation, grp: str, event: str, reason: str, value: float | None,
                rows: pl.DataFrame, old: GroupState | None, quiet: bool, rule_yaml: str,
                deliver: bool = True) -> dict[str, Any]:
        title = f"【{EVENT_LABELS[event]}】{rule.name}" + (f"·{grp}" if grp else "")
        lines = [reason]
        if event == CLEARED:
            lines[0] = "已恢复正常：" + reason
        if event == REPEAT and old is not None and old.since is not None:
            lines.append(f"自 {old.since:%Y-%m-%d %H:%M} 起持续")
        lines += [f"监控：{ev.watched.title}（{rule.watch.describe()}）",
                  f"条件：{rule.condition.describe()}" + (f"，按「{rule.group_by}」检查" if rule.group_by else ""),
                  f"数据日期：{ev.watched.today.isoformat()}"]
        status = ("unsent" if not deliver else "held" if quiet else "pending") if rule.channels else "none"
        return {"group": grp, "event": event, "value": value, "title": title, "message": "\n".join(lines),
                "rule_yaml": rule_yaml, "rows": rows, "status": status, "link": board_link(ev.watched.board)}

    # ------------------------------------------------------------------ delivering
    def _secret(self, name: str) -> Secret:
        return SecretStore(self.wh.path).get(name)

    def message_for(self, firing: Firing) -> Message:
        rows = firing.rows if firing.rows.width else None
        return Message(title=firing.title, lines=tuple(firing.message.split("\n")), link=firing.link,
                       level=firing.event, rows=rows,
                       excel=rows_excel(rows, firing.rule) if rows is not None else None,
                       attachment_name=f"{firing.rule}-{firing.at:%Y%m%d-%H%M}",
                       extra={"rule": firing.rule, "group": firing.group, "event": firing.event,
                              "value": firing.value, "at": firing.at.isoformat(sep=" ", timespec="seconds"),
                              "firing_id": firing.id})

    def send(self, message: Message, channel_name: str) -> dict[str, Any]:
        """Send to one channel; never raises: the result says ok or the vendor's error."""
        at = self.clock().isoformat(sep=" ", timespec="seconds")
        try:
            channel: ChannelDef = self.channels.load(channel_name)
            note = channel_for(channel.kind).send(message, channel, self._secret)
            return {"channel": channel_name, "ok": True, "note": note, "at": at}
        except DeliveryError as err:
            log.warning("alert delivery to %s failed: %s", channel_name, err)
            return {"channel": channel_name, "ok": False, "error": str(err), "code": err.code, "at": at}
        except UserFacingError as err:  # no such channel, a missing secret, a broken channel file
            log.warning("alert delivery to %s failed: %s", channel_name, err)
            return {"channel": channel_name, "ok": False, "error": str(err), "code": None, "at": at}
        except Exception as err:  # a surprise must not stop the other channels; its text may hold a URL
            log.exception("alert delivery to %s failed unexpectedly", channel_name)
            return {"channel": channel_name, "ok": False, "code": None, "at": at,
                    "error": f"发送时程序遇到了意外的问题（{type(err).__name__}）"}

    def deliver(self, firing_id: int) -> Firing | None:
        """Send a firing to its rule's channels not yet reached; record each channel's answer."""
        with self._deliver_lock:
            firing = self.history.firing(firing_id)
            if firing is None or firing.status in ("sent", "failed", "none", "unsent"):
                return firing
            try:
                channels = load_rule(firing.rule_yaml).channels
            except UserFacingError:
                channels = []
            done = {d["channel"] for d in firing.deliveries if d.get("ok")}
            rounds = 1 + max((int(d.get("round", 0)) for d in firing.deliveries), default=0)
            message = self.message_for(firing)
            results = list(firing.deliveries)
            for name in channels:
                if name in done:
                    continue
                results.append({**self.send(message, name), "round": rounds})
            ok = {d["channel"] for d in results if d.get("ok")}
            if not channels:
                status = "none"
            elif all(c in ok for c in channels):
                status = "sent"
            elif rounds < MAX_ROUNDS:
                status = "pending"
            else:
                status = "partial" if ok else "failed"
            self.history.set_delivered(firing.id, status, results, self.clock() if ok else None)
            return self.history.firing(firing.id)

    def flush(self) -> int:
        """Send firings held by quiet hours that have ended, and try pending ones again."""
        now = self.clock()
        sent = 0
        for firing in self.history.held():
            try:
                quiet = self.rules.load(firing.rule).quiet_hours
            except UserFacingError:
                try:
                    quiet = load_rule(firing.rule_yaml).quiet_hours
                except UserFacingError:
                    quiet = None
            if firing.status == "held":
                if in_quiet(quiet, now):
                    continue
                self.history.set_delivered(firing.id, "pending", firing.deliveries, None)
            self.deliver(firing.id)
            sent += 1
        return sent

    # ------------------------------------------------------------------ 简报 (a board on a schedule)
    def send_briefing(self, name: str, *, today: dt.date | None = None) -> Firing | None:
        """Run the briefing's board, render its PNG, send to its channels; kept in the history."""
        from citybi.alerts.briefing import board_png, compose, kpi_rows, run_for

        b = self.briefings.load(name)
        run = run_for(self.wh, b, charts=self.charts, boards=self.boards, cache=self.cache, today=today)
        png, note = board_png(run) if b.png else (None, "")
        message = compose(run, b, link=board_link(b.board), png=png, png_note=note)
        rows = kpi_rows(run)
        message = Message(**{**message.__dict__, "rows": rows, "excel": rows_excel(rows, b.board)})
        results = [{**self.send(message, c), "round": 1} for c in b.channels]
        now = self.clock()
        (ids,) = self.history.record([Recorded(b.name, True, "", check_line=False, firings=[{
            "group": "", "event": BRIEFING, "value": None, "title": message.title, "message": "\n".join(message.lines),
            "rule_yaml": self.briefings.text(b.name), "rows": rows, "status": "pending",
            "link": message.link}])], now)
        ok = [d for d in results if d.get("ok")]
        status = "none" if not b.channels else ("sent" if len(ok) == len(results) else ("partial" if ok else "failed"))
        self.history.set_delivered(ids[0], status, results, now if ok else None)
        return self.history.firing(ids[0])

    def _briefing_job(self, name: str) -> None:
        try:
            self.send_briefing(name)
        except UserFacingError as err:
            log.warning("briefing %s not sent: %s", name, err)

    # ------------------------------------------------------------------ 测试发送
    def test_channel(self, channel_name: str) -> dict[str, Any]:
        message = Message(title="【测试】城市自助分析预警渠道", level="test", link=board_link(None),
                          lines=(f"这是一条测试消息：渠道「{channel_name}」设置正确。",
                                 f"发送时间：{self.clock():%Y-%m-%d %H:%M:%S}"))
        return self.send(message, channel_name)

    def test_rule(self, name: str, *, today: dt.date | None = None) -> list[dict[str, Any]]:
        """Evaluate now and send what it sees to the rule's channels, marked 测试; no state changes."""
        rule = self.rules.load(name)
        ev = evaluate(self.wh, rule, charts=self.charts, boards=self.boards, cache=self.cache, today=today)
        holding = [(r, v) for r, v in ev.pairs() if v.holds]
        shown = holding or ev.pairs()[:5]
        lines = [v.reason for _r, v in shown[:20]]
        lines += [f"监控：{ev.watched.title}（{rule.watch.describe()}）", f"条件：{rule.condition.describe()}",
                  "现在" + (f"有 {len(holding)} 组满足条件" if holding else "没有满足条件的情况")]
        rows = shown[0][0].rows if shown else None
        message = Message(title=f"【测试】{rule.name}", lines=tuple(lines), link=board_link(ev.watched.board),
                          level="test", rows=rows, excel=rows_excel(rows, rule.name) if rows is not None else None,
                          attachment_name=f"{rule.name}-测试")
        if not rule.channels:
            raise UserFacingError(f"预警规则「{rule.name}」还没有设置推送渠道。", hint="请先在规则中选择渠道")
        return [self.send(message, c) for c in rule.channels]

    # ------------------------------------------------------------------ what the page and the CLI change
    def new_rule(self, board: str | None, tile: str) -> AlertRule:
        """Create and save a first rule for a board tile or a saved chart (the page's two clicks)."""
        from citybi.alerts.authoring import first_rule, watchables

        found = next((w for w in watchables(self.boards, self.charts, board) if w.tile == tile), None)
        if found is None:
            raise NotFound(f"找不到要监控的「{tile}」。")
        spec = (tile_spec(next(t for t in self.boards.load(board).tiles if (t.chart or "") == tile
                               or tile_spec(t, self.charts).title == tile), self.charts)
                if board else self.charts.load(tile))
        taken = set(self.rules.names())
        rule = first_rule(found, spec, taken)
        if rule.condition.kind == "above":  # read the chart once: the threshold starts above today's top
            ev = evaluate(self.wh, rule, charts=self.charts, boards=self.boards, cache=self.cache)
            values = [r.value for r in ev.readings if r.value is not None]
            rule = first_rule(found, spec, taken, top=max(values) if values else None)
        self.save_rule(rule, overwrite=False)
        return rule

    def save_rule(self, rule: AlertRule, *, overwrite: bool = True) -> None:
        self.rules.save(rule.name, rule, overwrite=overwrite)
        self.sync()

    def delete_rule(self, name: str) -> None:
        if not self.rules.has_user_copy(name):
            raise NotFound(f"预警规则「{name}」不存在。")
        self.rules.delete(name)
        self.history.forget(name)
        self.sync()

    def set_paused(self, name: str, paused: bool) -> AlertRule:
        rule = self.rules.load(name).model_copy(update={"paused": paused})
        self.save_rule(rule)
        return rule

    def save_channel(self, channel: ChannelDef, *, overwrite: bool = True) -> None:
        self.channels.save(channel.name, channel, overwrite=overwrite)

    def next_run(self, name: str) -> dt.datetime | None:
        return self.scheduler.next_run(JOB_PREFIX + name) if self.scheduler is not None else None


_APP: dict[str, AlertService] = {}
_APP_LOCK = threading.Lock()


def start_app_alerts(wh: Warehouse, scheduler: Any) -> AlertService:
    """The app process's alert checks for this warehouse, on the app's one scheduler; started once."""
    key = str(Path(wh.path).resolve())
    with _APP_LOCK:
        found = _APP.get(key)
        if found is not None and (found.wh is not wh or found.scheduler is not scheduler):
            found.stop()
            found = None
        if found is None:
            found = _APP[key] = AlertService(wh, scheduler).start()
        return found


def app_alerts(wh_path: str | Path) -> AlertService | None:
    with _APP_LOCK:
        return _APP.get(str(Path(wh_path).resolve()))


__all__ = ["FIRED", "AlertService", "CheckOutcome", "app_alerts", "board_link", "rows_excel", "start_app_alerts"]
