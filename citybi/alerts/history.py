"""Firings, their deliveries and the per-(rule, group) state, kept in the catalog's tables.

Why in the warehouse and not in a log file: a firing is evidence ("the alert said 北港区 was at
312 件 on 6月3日 and these were the rows") that a leader may ask for weeks later, and the state
must survive a restart or the app would fire every holding alert again after each deploy. The
tables (`_citybi.alert_firings`, `_citybi.alert_state`, `_citybi.alert_checks`) are created with
the catalog's (citybi/catalog.py); every statement here is constant SQL with `?` parameters.
A firing and the state it leads to are written in one transaction: both, or neither.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from citybi.alerts.state import EVENT_LABELS, GroupState
from citybi.warehouse import Warehouse

S = "_citybi"
STATUS_LABELS = {"sent": "已发送", "held": "免打扰暂存", "failed": "发送失败", "partial": "部分失败",
                 "none": "未配置渠道", "pending": "待发送", "unsent": "未推送（只检查）"}
MAX_ROWS_STORED = 500


@dataclass(frozen=True)
class Firing:
    id: int
    rule: str
    group: str  # "" when the rule has no groups
    event: str  # fired | repeat | cleared
    at: dt.datetime
    value: float | None
    title: str
    message: str
    rule_yaml: str
    rows: pl.DataFrame
    status: str  # sent | held | failed | partial | none | pending
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    sent_at: dt.datetime | None = None
    link: str = ""

    @property
    def event_label(self) -> str:
        return EVENT_LABELS.get(self.event, self.event)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def delivery_text(self) -> str:
        """One line per channel: 值班群 已发送 / 钉钉群 失败：310000 sign not match."""
        parts = []
        for d in self.deliveries:
            parts.append(f"{d.get('channel')}：{'已发送' if d.get('ok') else '失败'}"
                         + ("" if d.get("ok") else f"（{d.get('error', '')}）"))
        return "；".join(parts)


@dataclass
class Recorded:
    """What one check writes: new group states, firings, and the check line."""

    rule: str
    ok: bool
    message: str
    groups: int = 0
    holding: int = 0
    seconds: float = 0.0
    changes: list[tuple[str, GroupState, float | None]] = field(default_factory=list)
    firings: list[dict[str, Any]] = field(default_factory=list)
    check_line: bool = True  # False for a briefing: it is not a rule check


@dataclass(frozen=True)
class CheckRecord:
    rule: str
    checked_at: dt.datetime
    ok: bool
    groups: int
    holding: int
    message: str
    seconds: float


def _rows_json(frame: pl.DataFrame) -> str:
    head = frame.head(MAX_ROWS_STORED)
    return json.dumps({"columns": head.columns, "rows": [list(r) for r in head.iter_rows()]},
                      ensure_ascii=False, default=str)


def _rows_frame(text: str | None) -> pl.DataFrame:
    if not text:
        return pl.DataFrame()
    data = json.loads(text)
    cols = data.get("columns", [])
    rows = data.get("rows", [])
    return pl.DataFrame({c: [r[i] for r in rows] for i, c in enumerate(cols)}, strict=False)


class History:
    """The alert tables of one warehouse."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh


    # ------------------------------------------------------------------ state
    def states(self, rule: str | None = None) -> dict[str, GroupState]:
        """Each group's state of one rule (by group)."""
        return self.all_states(rule).get(str(rule), {}) if rule is not None else {}

    def all_states(self, rule: str | None = None) -> dict[str, dict[str, GroupState]]:
        """Rule → group → state, in one query (check_all reads them once for every rule)."""
        where, params = ("WHERE rule = ?", [rule]) if rule is not None else ("", [])
        out: dict[str, dict[str, GroupState]] = {}
        sql = f"SELECT rule, grp, firing, since, last_sent_at FROM {S}.alert_state {where}"
        for r in self.wh.fetchall(sql, params):
            out.setdefault(r[0], {})[r[1]] = GroupState(firing=bool(r[2]), since=r[3], last_sent_at=r[4])
        return out

    def firing_groups(self) -> dict[str, list[str]]:
        """Rule → the groups firing now (what the 预警 page shows as 正在预警)."""
        out: dict[str, list[str]] = {}
        for rule, grp in self.wh.fetchall(f"SELECT rule, grp FROM {S}.alert_state WHERE firing ORDER BY rule, grp"):
            out.setdefault(rule, []).append(grp)
        return out

    def record(self, checks: list[Recorded], now: dt.datetime) -> list[list[int]]:
        """Write the checks' new states, firings and check lines in ONE transaction (a DuckDB commit
        costs ~10-20 ms: fifty rules checked together must not pay it fifty times); returns each
        check's firing ids."""
        ids: list[list[int]] = []
        with self.wh.transaction() as cur:
            for c in checks:
                for grp, st, value in c.changes:
                    cur.execute(f"INSERT OR REPLACE INTO {S}.alert_state VALUES (?, ?, ?, ?, ?, ?, ?)",
                                [c.rule, grp, st.firing, st.since, st.last_sent_at, value, now])
                mine: list[int] = []
                for f in c.firings:
                    fid = int(cur.execute(f"SELECT nextval('{S}.alert_firing_ids')").fetchall()[0][0])
                    cur.execute(f"INSERT INTO {S}.alert_firings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                                [fid, c.rule, f["group"], f["event"], now, f["value"], f["title"], f["message"],
                                 f["rule_yaml"], _rows_json(f["rows"]), f["status"], "[]", f.get("link", "")])
                    mine.append(fid)
                ids.append(mine)
                if not c.check_line:
                    continue
                cur.execute(f"INSERT OR REPLACE INTO {S}.alert_checks VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [c.rule, now, c.ok, c.groups, c.holding, c.message[:4000], c.seconds])
        return ids

    def forget(self, rule: str) -> None:
        """Drop a rule's state and last check (a deleted rule made again starts afresh); firings stay."""
        with self.wh.transaction() as cur:
            cur.execute(f"DELETE FROM {S}.alert_state WHERE rule = ?", [rule])
            cur.execute(f"DELETE FROM {S}.alert_checks WHERE rule = ?", [rule])

    def set_delivered(self, firing_id: int, status: str, deliveries: list[dict[str, Any]],
                      sent_at: dt.datetime | None) -> None:
        with self.wh.transaction() as cur:
            cur.execute(f"UPDATE {S}.alert_firings SET status = ?, deliveries_json = ?, sent_at = ? WHERE id = ?",
                        [status, json.dumps(deliveries, ensure_ascii=False, default=str), sent_at, firing_id])

    def checks(self) -> dict[str, CheckRecord]:
        rows = self.wh.fetchall(f"SELECT rule, checked_at, ok, groups, holding, message, seconds FROM {S}.alert_checks")
        return {r[0]: CheckRecord(r[0], r[1], bool(r[2]), int(r[3] or 0), int(r[4] or 0), r[5] or "",
                                  float(r[6] or 0)) for r in rows}

    # ------------------------------------------------------------------ firings
    _COLUMNS = ("id, rule, grp, event, fired_at, value, title, message, rule_yaml, rows_json, status, deliveries_json, "
                "sent_at, link")

    def firings(self, rule: str | None = None, *, limit: int = 100, status: str | None = None) -> list[Firing]:
        """The newest first (of one rule, or all; optionally only one status)."""
        where, params = [], []
        if rule is not None:
            where.append("rule = ?")
            params.append(rule)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        clause = ("WHERE " + " AND ".join(where) + " ") if where else ""
        rows = self.wh.fetchall(f"SELECT {self._COLUMNS} FROM {S}.alert_firings {clause}ORDER BY id DESC LIMIT ?",
                                [*params, max(1, int(limit))])
        return [self._firing(r) for r in rows]

    def firing(self, firing_id: int) -> Firing | None:
        rows = self.wh.fetchall(f"SELECT {self._COLUMNS} FROM {S}.alert_firings WHERE id = ?", [firing_id])
        return self._firing(rows[0]) if rows else None

    def held(self) -> list[Firing]:
        """Firings waiting for the quiet hours to end (or for a failed channel to answer), oldest first."""
        rows = self.wh.fetchall(f"SELECT {self._COLUMNS} FROM {S}.alert_firings WHERE status IN ('held', 'pending') "
                                f"ORDER BY id")
        return [self._firing(r) for r in rows]

    @staticmethod
    def _firing(r: tuple[Any, ...]) -> Firing:
        return Firing(id=int(r[0]), rule=r[1], group=r[2] or "", event=r[3], at=r[4],
                      value=None if r[5] is None else float(r[5]), title=r[6] or "", message=r[7] or "",
                      rule_yaml=r[8] or "", rows=_rows_frame(r[9]), status=r[10] or "",
                      deliveries=json.loads(r[11] or "[]"), sent_at=r[12], link=r[13] or "")
