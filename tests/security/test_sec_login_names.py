"""Failed logins never tell whether a user name exists: not by the answer, not by lockout, not by time.

A guesser tries a name 6 times: a real account answers 用户名或密码不正确 four times, then
锁定. A made-up name must answer exactly the same, also after the app restarts (its count used
to be kept in memory only) and after a flood of other made-up names (the in-memory table was
cleared when it held 10 000 names: lock a name, flood, try again — still locked meant "exists").
Each attempt is in the audit log either way. Time: every path makes exactly one argon2id
verification against a hash with the app's own parameters (a dummy hash for a made-up name, never
made on the way: that cost the first made-up name of a process one extra hash);
bench/auth.py prints the measured times of both.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from argon2 import extract_parameters

from citybi import accounts, audit
from citybi.accounts import GENERIC_FAILURE, LOCKED_MESSAGE, Accounts, LoginFailed
from citybi.catalog import open_warehouse

T0 = dt.datetime(2026, 12, 7, 9, 0, 0)
PW = "Linjiang#2026"
WRONG = "Wrong#pass2026"


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "names.duckdb"
    with open_warehouse(path=path) as wh:
        Accounts(wh).add("zhang", "科员", PW, now=T0)
    return path


def _answers(db: Path, name: str, times: list[dt.datetime], password: str = WRONG) -> list[str]:
    """Each attempt's answer, the warehouse opened afresh for every one (an app restart between each)."""
    out = []
    for at in times:
        with open_warehouse(path=db) as wh:
            try:
                Accounts(wh).login(name, password, now=at)
                out.append("ok")
            except LoginFailed as err:
                out.append(err.message)
    return out


G, L = GENERIC_FAILURE, LOCKED_MESSAGE
S = [T0 + dt.timedelta(seconds=i) for i in range(7)]


# attempts (each after a restart) → the answers a real name and a made-up name both get
@pytest.mark.parametrize(("times", "expected"), [
    (S[:7], [G, G, G, G, L, L, L]),
    # the lock runs out after 15 minutes: counting starts again
    ([*S[:5], T0 + dt.timedelta(minutes=16), T0 + dt.timedelta(minutes=17)], [G, G, G, G, L, G, G]),
    ([*S[:3], T0 + dt.timedelta(days=2), T0 + dt.timedelta(days=2, seconds=1)], [G, G, G, G, L]),
], ids=["locked after five", "unlocked after fifteen minutes", "count kept across days"])
def test_a_made_up_name_answers_like_a_real_one_across_restarts(db: Path, times: list[dt.datetime],
                                                                expected: list[str]) -> None:
    assert _answers(db, "zhang", times) == expected
    assert _answers(db, "ghost", times) == expected


def test_a_flood_of_other_names_does_not_unlock_a_made_up_one(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _answers(db, "ghost", S[:5]) == [G, G, G, G, L]
    assert _answers(db, "zhang", S[:5]) == [G, G, G, G, L]
    monkeypatch.setattr(accounts, "_verify", lambda h, p: False)  # the flood's cost is not what is tested
    with open_warehouse(path=db) as wh:
        acc = Accounts(wh)
        for i in range(300):  # no number of names evicts a row: rows go only by age (PRUNE_DAYS)
            with pytest.raises(LoginFailed):
                acc.login(f"flood{i}", WRONG, now=S[5])
    assert _answers(db, "ghost", [S[6]]) == _answers(db, "zhang", [S[6]]) == [L]


def test_old_made_up_names_are_forgotten_but_a_locked_one_is_kept(db: Path) -> None:
    _answers(db, "old", S[:2])
    _answers(db, "locked", S[:5])
    later = T0 + dt.timedelta(days=accounts.PRUNE_DAYS + 1)
    with open_warehouse(path=db) as wh:
        with pytest.raises(LoginFailed):
            Accounts(wh).login("other", WRONG, now=later)  # any failure prunes
        kept = {r[0] for r in wh.fetchall("SELECT name FROM _citybi.login_failures")}
    assert kept == {"other"}  # the lock of "locked" ran out long ago too: nothing to remember


def test_every_failure_is_audited_either_way(db: Path) -> None:
    _answers(db, "zhang", S[:6])
    _answers(db, "ghost", S[:6])
    with open_warehouse(path=db) as wh:
        got = [(e.target, e.detail) for e in reversed(audit.entries(wh, action="login.failed"))]
    assert [t for t, _ in got] == ["zhang"] * 6 + ["ghost"] * 6
    assert sum('"locked"' in d for t, d in got if t == "ghost") == 2  # the 5th locks, the 6th finds it locked
    assert sum('"locked"' in d for t, d in got if t == "zhang") == 1


@pytest.mark.parametrize(("name", "password", "setup"), [
    ("zhang", WRONG, 0),   # real name, wrong password
    ("ghost", WRONG, 0),   # made-up name
    ("zhang", PW, 5),      # real name, locked (even the right password)
    ("ghost", PW, 5),      # made-up name, locked
])
def test_every_path_costs_one_argon2_verification_with_our_parameters(
        db: Path, monkeypatch: pytest.MonkeyPatch, name: str, password: str, setup: int) -> None:
    _answers(db, name, S[:setup])
    calls: list[Any] = []
    inner = accounts._hasher

    class Counting:
        """The app's hasher, noting the parameters of every hash it verifies against."""

        def verify(self, h: str, p: str) -> bool:
            calls.append(extract_parameters(h))
            return inner.verify(h, p)

        def hash(self, p: str) -> str:  # a hash made on the way would cost a second argon2 run
            calls.append("hash")
            return inner.hash(p)

        def __getattr__(self, attr: str) -> Any:
            return getattr(inner, attr)

    monkeypatch.setattr(accounts, "_hasher", Counting())
    accounts._dummy_hash.cache_clear()  # also the very first made-up name of a process costs no more
    assert _answers(db, name, [S[setup]], password) == [L if setup else G]
    ours = extract_parameters(inner.hash("x"))
    assert calls == [ours]
