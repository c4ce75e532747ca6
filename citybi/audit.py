"""The audit log: who did what, when, from where — append-only and tamper-evident (等保 2.0 安全审计).

Why a hash chain: the log lives in the warehouse file, which an administrator (or anyone who can
copy the file) can open with other tools. Each entry's `hash` is
sha256(previous entry's hash + canonical JSON of the entry's fields: seq, time, user, role,
address, action, target, detail), so changing any field of an entry, or removing an entry from the
middle, breaks the chain at that point and `verify()` names the sequence number.

What is and is not detectable:
- an edited entry (any field) — detected: its hash no longer matches;
- a deleted entry in the middle — detected: a gap in seq and a broken link;
- deleted LAST entries — detected through the anchor: the latest seq and hash are also written to
  a file beside the warehouse (`<db>.audit-anchor`) after every entry; a table whose last entry is
  older than the anchor says so. (If the process stops between an entry's commit and the anchor
  write, the anchor lags one entry behind; a table AHEAD of its anchor is reported as a note, not
  as tampering.)
- NOT detectable: someone able to write both the warehouse file and the anchor file who rewrites
  the whole chain from the first kept entry and the anchor consistently. Against that, copy the
  head hash (`citybi audit verify` prints it) to somewhere they cannot write (a ticket, a syslog
  server, paper).

Retention (等保: keep ≥ 6 months; default 180 days): `prune()` removes entries older than the
setting and keeps the hash and seq of the last removed entry as the chain's base (in the
`audit_meta` table and the anchor), so what remains still verifies; the prune itself is an entry.

A write's entry is written WITH the write (uploads, replaces, appends, restores, deletes, live
links): in the same DuckDB transaction as the data, through `durable(wh)` — `log.append(cur, …)`
just before the transaction commits. So the data and its audit entry are committed together or not at all: a
kill -9 (or a power cut) right after the data commit can no longer leave a change nobody logged,
and a failure to log fails the write (等保: no unaudited change). Chosen over an intent entry
before and a completion entry after (with recovery at start) because the log already lives in the
warehouse: one transaction needs no recovery step and leaves no "maybe" entries to explain.
Other entries (logins, questions, exports) are their own small transaction (`record`).

Appends are serialised by a lock per warehouse file, always taken INSIDE the transaction (after
the warehouse's own lock, never before it: no lock-order deadlock) and held until that
transaction committed. The head (last seq and hash) is read through a fresh cursor, not the
writing transaction's snapshot: an import's transaction began long before its entry is added,
and entries committed meanwhile (by another Warehouse object over the same file) must be seen.
The anchor file is written after the commit (it never points at an entry that was rolled back).
SQL is constant with `?` parameters: no user text is ever formatted into it.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citybi.context import Context, effective
from citybi.warehouse import Warehouse

S = "_citybi"
GENESIS = "0" * 64
DEFAULT_RETENTION_DAYS = 180

# action → the Chinese label the 审计日志 page and `citybi audit list` show
ACTION_LABELS: dict[str, str] = {
    "login.ok": "登录成功",
    "login.failed": "登录失败",
    "logout": "退出登录",
    "password.change": "修改密码",
    "users.add": "添加用户",
    "users.disable": "停用用户",
    "users.enable": "启用用户",
    "users.reset": "重置密码",
    "users.role": "调整角色",
    "datasets.create": "导入新数据集",
    "datasets.replace": "替换数据集",
    "datasets.append": "追加数据",
    "datasets.restore": "恢复版本",
    "datasets.link": "连接实时数据集",
    "datasets.delete": "删除数据集",
    "export": "导出数据",
    "ask": "提问",
    "sql.run": "运行 SQL",
    "audit.prune": "清理过期审计记录",
}

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock(wh: Warehouse) -> threading.Lock:
    key = str(Path(wh.path).resolve())
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


@dataclass(frozen=True)
class Entry:
    seq: int
    at: dt.datetime
    user: str
    role: str
    address: str
    action: str
    target: str
    detail: str  # canonical JSON text
    prev_hash: str
    hash: str

    @property
    def action_label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)


@dataclass(frozen=True)
class Verdict:
    """What verify() found: ok, the number of entries checked, and each problem in Chinese."""

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def canonical(seq: int, at: dt.datetime, user: str, role: str, address: str, action: str, target: str,
              detail: str) -> str:
    """The exact text an entry's hash covers (sorted keys, no spaces, UTF-8 kept)."""
    return json.dumps({"seq": seq, "time": at.isoformat(timespec="microseconds"), "user": user, "role": role,
                       "address": address, "action": action, "target": target, "detail": detail},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def entry_hash(prev_hash: str, text: str) -> str:
    return hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest()


def anchor_file(wh: Warehouse) -> Path:
    p = Path(wh.path)
    return p.with_name(p.name + ".audit-anchor")


def _read_anchor(wh: Warehouse) -> dict[str, Any] | None:
    try:
        return dict(json.loads(anchor_file(wh).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, OSError):
        return {"broken": True}


def _write_anchor(wh: Warehouse, data: dict[str, Any]) -> None:
    path = anchor_file(wh)
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(part, path)


def _meta(cur: Any, key: str) -> str | None:
    rows = cur.execute(f"SELECT value FROM {S}.audit_meta WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else None


def _detail_text(detail: dict[str, Any] | str | None) -> str:
    if detail is None:
        return ""
    if isinstance(detail, str):
        return detail
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


class DurableLog:
    """Entries appended inside one open transaction (see `durable`); the anchor follows its commit."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        self._held = False
        self._head: tuple[int, str] | None = None  # the last entry appended in this transaction
        self._base: tuple[int, str] = (0, GENESIS)

    def hold(self) -> None:
        """Take the file's audit lock (inside the transaction); durable() releases it after the commit."""
        if not self._held:
            _lock(self.wh).acquire()
            self._held = True

    def append(self, cur: Any, action: str, target: str = "", detail: dict[str, Any] | str | None = None, *,
               ctx: Context | None = None, user: str | None = None, now: dt.datetime | None = None) -> Entry:
        """Append one entry with `cur`, the caller's open transaction: it commits with the caller's data.

        `user` overrides the context's user name for events before there is a context (a failed
        login names the account that was tried)."""
        self.hold()
        who = ctx or effective()
        at = now or dt.datetime.now()
        name = who.user if user is None else user
        role = who.role if user is None or ctx is not None else ""
        address = who.address or ""
        text_detail = _detail_text(detail)
        if self._head is None:
            fresh = self.wh.cursor()  # the latest committed head, not the transaction's old snapshot
            try:
                last = fresh.execute(f"SELECT seq, hash FROM {S}.audit ORDER BY seq DESC LIMIT 1").fetchall()
                base_seq, base_hash = _meta(fresh, "base_seq"), _meta(fresh, "base_hash")
            finally:
                fresh.close()
            self._base = (int(base_seq) if base_seq else 0, base_hash or GENESIS)
            self._head = (int(last[0][0]), last[0][1]) if last else self._base
            if not last and _read_anchor(self.wh) is None:
                # the log's first entry: anchor the empty chain before it, so a stop between the
                # commit and the anchor write leaves an anchor one entry behind (a note), not none
                with contextlib.suppress(OSError):
                    _write_anchor(self.wh, {"seq": self._base[0], "hash": self._base[1],
                                            "base_seq": self._base[0], "base_hash": self._base[1]})
        seq, prev = self._head[0] + 1, self._head[1]
        h = entry_hash(prev, canonical(seq, at, name, role, address, action, target, text_detail))
        cur.execute(f"INSERT INTO {S}.audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [seq, at, name, role, address, action, target[:1000], text_detail[:8000], prev, h])
        self._head = (seq, h)
        return Entry(seq, at, name, role, address, action, target[:1000], text_detail[:8000], prev, h)

    def _finish(self, committed: bool) -> None:
        try:
            if committed and self._head is not None and self._head != self._base:
                with contextlib.suppress(OSError):
                    _write_anchor(self.wh, {"seq": self._head[0], "hash": self._head[1],
                                            "base_seq": self._base[0], "base_hash": self._base[1]})
        finally:
            if self._held:
                self._held = False
                _lock(self.wh).release()


@contextlib.contextmanager
def durable(wh: Warehouse) -> Iterator[DurableLog]:
    """Open BEFORE the write's transaction, in the same `with`, so it closes after the commit:

        with audit.durable(wh) as log, wh.transaction() as cur:
            …the write…
            log.append(cur, "datasets.replace", name, {...})

    The entry commits with the data; the lock taken by append is held until the commit is done."""
    log = DurableLog(wh)
    committed = False
    try:
        yield log
        committed = True
    finally:
        log._finish(committed)


def record(wh: Warehouse, action: str, target: str = "", detail: dict[str, Any] | str | None = None, *,
           ctx: Context | None = None, user: str | None = None, now: dt.datetime | None = None) -> Entry:
    """Append one entry as the current caller (context.effective(), or `ctx`), in its own transaction."""
    with durable(wh) as log, wh.transaction() as cur:
        return log.append(cur, action, target, detail, ctx=ctx, user=user, now=now)


def record_done(wh: Warehouse, action: str, target: str = "", detail: dict[str, Any] | str | None = None) -> None:
    """`record` for an action that already committed: a failure to log is logged, not raised.

    Raising here would tell the user their import failed when its rows are in fact written."""
    try:
        record(wh, action, target, detail)
    except Exception:
        logging.getLogger(__name__).exception("audit entry not written: %s %s", action, target)


def entries(wh: Warehouse, *, user: str | None = None, action: str | None = None,
            since: dt.datetime | None = None, until: dt.datetime | None = None, limit: int = 1000) -> list[Entry]:
    """Entries newest first, filtered by user, action and time ([since, until))."""
    where, params = [], []
    filters = (("user_name = ?", user), ("action = ?", action), ("logged_at >= ?", since), ("logged_at < ?", until))
    for clause, value in filters:
        if value:
            where.append(clause)
            params.append(value)
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    cur = wh.cursor()
    try:
        rows = cur.execute(
            f"SELECT seq, logged_at, user_name, role, address, action, target, detail, prev_hash, hash FROM {S}.audit"
            + cond + " ORDER BY seq DESC LIMIT ?", [*params, max(1, int(limit))]).fetchall()
    finally:
        cur.close()
    return [Entry(int(r[0]), r[1], r[2] or "", r[3] or "", r[4] or "", r[5], r[6] or "", r[7] or "", r[8] or "",
                  r[9]) for r in rows]


def verify(wh: Warehouse) -> Verdict:
    """Re-compute the chain from its base and compare with the anchor; every problem in Chinese."""
    problems: list[str] = []
    notes: list[str] = []
    cur = wh.cursor()
    try:
        rows = cur.execute(
            f"SELECT seq, logged_at, user_name, role, address, action, target, detail, prev_hash, hash FROM {S}.audit "
            f"ORDER BY seq").fetchall()
        base_seq_text, base_hash = _meta(cur, "base_seq"), _meta(cur, "base_hash")
    finally:
        cur.close()
    expected_seq = (int(base_seq_text) if base_seq_text else 0) + 1
    prev = base_hash or GENESIS
    for r in rows:
        seq = int(r[0])
        if seq != expected_seq:
            if seq > expected_seq:
                gone = f"第 {expected_seq} 条" if seq == expected_seq + 1 else f"第 {expected_seq}–{seq - 1} 条"
                problems.append(f"{gone}记录被删除。")
            else:
                problems.append(f"第 {seq} 条记录的序号重复或顺序错乱。")
        h = entry_hash(prev, canonical(seq, r[1], r[2] or "", r[3] or "", r[4] or "", r[5], r[6] or "", r[7] or ""))
        if h != r[9]:
            problems.append(f"第 {seq} 条记录的内容被修改过（哈希不符）。")
        elif (r[8] or "") != prev and seq == expected_seq:
            problems.append(f"第 {seq} 条记录与上一条的链接被改动。")
        prev = r[9]
        expected_seq = seq + 1
    head_seq = int(rows[-1][0]) if rows else (int(base_seq_text) if base_seq_text else 0)
    head_hash = rows[-1][9] if rows else (base_hash or GENESIS)
    anchor = _read_anchor(wh)
    if anchor is None:
        if rows:
            problems.append("找不到审计锚点文件，无法确认最后的记录没有被删除。")
    elif anchor.get("broken"):
        problems.append("审计锚点文件已损坏。")
    else:
        a_seq, a_hash = int(anchor.get("seq", 0)), str(anchor.get("hash", ""))
        if a_seq > head_seq:
            gone = f"第 {a_seq} 条" if a_seq == head_seq + 1 else f"第 {head_seq + 1}–{a_seq} 条"
            problems.append(f"最后的记录被删除：锚点记到第 {a_seq} 条，日志只到第 {head_seq} 条（{gone}不见了）。")
        elif a_seq > 0:
            match = next((r for r in rows if int(r[0]) == a_seq), None)
            if match is None and a_seq > (int(base_seq_text) if base_seq_text else 0):
                problems.append(f"锚点指向的第 {a_seq} 条记录不存在。")
            elif match is not None and match[9] != a_hash:
                problems.append(f"第 {a_seq} 条记录与锚点保存的哈希不符。")
        if a_seq < head_seq:
            notes.append(f"锚点落后 {head_seq - a_seq} 条（进程可能在写入锚点前停止）。")
    return Verdict(ok=not problems, checked=len(rows), head_seq=head_seq, head_hash=head_hash,
                   problems=tuple(problems), notes=tuple(notes))


def prune(wh: Warehouse, *, retention_days: int | None = None, now: dt.datetime | None = None) -> int:
    """Remove entries older than `retention_days` (default: the setting, CITYBI_AUDIT_RETENTION_DAYS,
    180 days); the last removed one becomes the chain's base.

    Returns how many were removed (also recorded as an entry, so a prune is itself audited)."""
    if retention_days is None:
        retention_days = wh.settings.audit_retention_days
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    cutoff = (now or dt.datetime.now()) - dt.timedelta(days=retention_days)
    with durable(wh) as log, wh.transaction() as cur:
        log.hold()  # no entry may be appended while the base moves
        old = cur.execute(f"SELECT seq, hash FROM {S}.audit WHERE logged_at < ? ORDER BY seq DESC LIMIT 1",
                          [cutoff]).fetchall()
        if not old:
            return 0
        last_seq, last_hash = int(old[0][0]), old[0][1]
        n = int(cur.execute(f"SELECT count(*) FROM {S}.audit WHERE seq <= ?", [last_seq]).fetchall()[0][0])
        cur.execute(f"DELETE FROM {S}.audit WHERE seq <= ?", [last_seq])
        cur.execute(f"INSERT OR REPLACE INTO {S}.audit_meta VALUES ('base_seq', ?)", [str(last_seq)])
        cur.execute(f"INSERT OR REPLACE INTO {S}.audit_meta VALUES ('base_hash', ?)", [last_hash])
    record(wh, "audit.prune", detail={"removed": n, "through_seq": last_seq, "retention_days": retention_days},
           now=now)
    return n
