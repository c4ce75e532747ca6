"""Accounts: password rules, lockout, disabling, reset, own password change, scope, session tokens."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from citybi import audit
from citybi.accounts import (
    GENERIC_FAILURE,
    LOCKED_MESSAGE,
    AccountError,
    Accounts,
    LoginFailed,
    parse_role,
    password_problems,
)
from citybi.catalog import open_warehouse
from citybi.context import Scope
from citybi.warehouse import Warehouse

T0 = dt.datetime(2026, 12, 7, 9, 0, 0)
PW = "Linjiang#2026"


@pytest.fixture()
def wh(tmp_path: Path) -> Warehouse:
    with open_warehouse(path=tmp_path / "acc.duckdb") as w:
        yield w


@pytest.fixture()
def acc(wh: Warehouse) -> Accounts:
    a = Accounts(wh)
    a.add("zhang", "科员", PW, department="环卫处", districts="临江区,云湖区", now=T0)
    return a


@pytest.mark.parametrize(("password", "name", "problems"), [
    ("Short1!", "", ["至少 10 个字符"]),
    ("alllowercase", "", ["至少三类"]),
    ("lowercase123", "", ["至少三类"]),
    ("Lowercase123", "", []),                      # upper, lower, digit
    ("lowercase12#", "", []),                      # lower, digit, symbol
    ("密码很长很长很长很长1a!", "", []),             # Chinese counts toward length; lower, digit, symbol
    ("Zhang#20261", "zhang", ["不能包含用户名"]),
    ("ab", "ab", ["至少 10 个字符", "至少三类", "不能包含用户名"]),
])
def test_password_rules(password: str, name: str, problems: list[str]) -> None:
    found = password_problems(password, name)
    assert len(found) == len(problems), found
    for want, got in zip(problems, found, strict=True):
        assert want in got


@pytest.mark.parametrize(("text", "role"), [
    ("admin", "admin"), ("管理员", "admin"), ("分析员", "analyst"), ("科员", "clerk"), ("领导", "leader"),
    ("LEADER", "leader"),
])
def test_roles_accepted_in_english_and_chinese(text: str, role: str) -> None:
    assert parse_role(text) == role


def test_unknown_role_refused_in_chinese() -> None:
    with pytest.raises(AccountError, match="角色「root」不存在"):
        parse_role("root")


def test_no_default_account(wh: Warehouse) -> None:
    assert Accounts(wh).list() == []
    assert not Accounts(wh).any_account()


def test_user_becomes_a_context(acc: Accounts) -> None:
    ctx = acc.context_for("zhang")
    assert (ctx.user, ctx.role) == ("zhang", "clerk")
    assert ctx.scope == Scope(department="环卫处", districts=frozenset({"临江区", "云湖区"}), streets=None)


def test_password_is_stored_as_argon2_only(acc: Accounts, wh: Warehouse) -> None:
    cur = wh.cursor()
    stored = cur.execute("SELECT password_hash FROM _citybi.users").fetchall()[0][0]
    assert stored.startswith("$argon2id$") and PW not in stored


@pytest.mark.parametrize(("name", "password", "message"), [
    ("zhang", "wrong-Password1", GENERIC_FAILURE),
    ("nobody", PW, GENERIC_FAILURE),              # the same words: no hint whether the name exists
    ("", PW, GENERIC_FAILURE),
])
def test_login_failures_say_the_same(acc: Accounts, name: str, password: str, message: str) -> None:
    with pytest.raises(LoginFailed) as err:
        acc.login(name, password, now=T0)
    assert err.value.message == message


def test_lockout_after_five_failures_for_fifteen_minutes(acc: Accounts) -> None:
    answers = []
    for i in range(5):
        with pytest.raises(LoginFailed) as err:
            acc.login("zhang", "wrong-Password1", now=T0 + dt.timedelta(seconds=i))
        answers.append(err.value.message)
    assert answers == [GENERIC_FAILURE] * 4 + [LOCKED_MESSAGE]
    with pytest.raises(LoginFailed, match="锁定"):  # the right password does not open a locked account
        acc.login("zhang", PW, now=T0 + dt.timedelta(minutes=14))
    assert acc.login("zhang", PW, now=T0 + dt.timedelta(minutes=16)).user.name == "zhang"


def test_unknown_names_lock_the_same_way(acc: Accounts) -> None:
    answers = []
    for i in range(6):
        with pytest.raises(LoginFailed) as err:
            acc.login("ghost", "wrong-Password1", now=T0 + dt.timedelta(seconds=i))
        answers.append(err.value.message)
    assert answers == [GENERIC_FAILURE] * 4 + [LOCKED_MESSAGE] * 2


def test_disabled_user_cannot_log_in_and_tokens_stop(acc: Accounts) -> None:
    s = acc.login("zhang", PW, now=T0)
    assert acc.resume(s.token, now=T0 + dt.timedelta(minutes=1)) is not None
    acc.set_disabled("zhang", now=T0 + dt.timedelta(minutes=2))
    assert acc.resume(s.token, now=T0 + dt.timedelta(minutes=3)) is None
    with pytest.raises(LoginFailed, match="停用"):
        acc.login("zhang", PW, now=T0 + dt.timedelta(minutes=4))
    with pytest.raises(AccountError, match="停用"):
        acc.context_for("zhang")


def test_change_own_password(acc: Accounts) -> None:
    s = acc.login("zhang", PW, now=T0)
    with pytest.raises(AccountError, match="原密码不正确"):
        acc.change_password("zhang", "Nope#123456", "Newpass#2027", now=T0)
    with pytest.raises(AccountError, match="至少三类"):
        acc.change_password("zhang", PW, "newpassword", now=T0)
    acc.change_password("zhang", PW, "Newpass#2027", now=T0 + dt.timedelta(minutes=1))
    assert acc.resume(s.token, now=T0 + dt.timedelta(minutes=2)) is None  # earlier logins end
    with pytest.raises(LoginFailed):
        acc.login("zhang", PW, now=T0 + dt.timedelta(minutes=3))
    assert acc.login("zhang", "Newpass#2027", now=T0 + dt.timedelta(minutes=3)).user.name == "zhang"


def test_reset_requires_a_change_and_ends_sessions(acc: Accounts) -> None:
    s = acc.login("zhang", PW, now=T0)
    acc.reset("zhang", "Temporary#99", now=T0 + dt.timedelta(minutes=1))
    assert acc.resume(s.token, now=T0 + dt.timedelta(minutes=2)) is None
    again = acc.login("zhang", "Temporary#99", now=T0 + dt.timedelta(minutes=2))
    assert again.user.must_change


def test_set_role_changes_rights_and_ends_sessions(acc: Accounts) -> None:
    s = acc.login("zhang", PW, now=T0)
    user = acc.set_role("zhang", "领导", districts="北港区", now=T0 + dt.timedelta(minutes=1))
    assert (user.role, user.districts, user.department) == ("leader", ("北港区",), "环卫处")
    assert acc.resume(s.token, now=T0 + dt.timedelta(minutes=2)) is None


@pytest.mark.parametrize(("minutes_later", "alive"), [
    (1, True), (29, True), (31, False),             # idle expiry: 30 minutes without activity
])
def test_idle_expiry(acc: Accounts, minutes_later: int, alive: bool) -> None:
    s = acc.login("zhang", PW, now=T0)
    assert (acc.resume(s.token, now=T0 + dt.timedelta(minutes=minutes_later)) is not None) is alive


def test_activity_keeps_a_session_until_the_absolute_limit(acc: Accounts) -> None:
    s = acc.login("zhang", PW, now=T0)
    t = T0
    while t < T0 + dt.timedelta(hours=11, minutes=50):
        t += dt.timedelta(minutes=20)
        assert acc.resume(s.token, now=t) is not None, t
    assert acc.resume(s.token, now=T0 + dt.timedelta(hours=12, minutes=1)) is None


def test_logout_ends_the_token(acc: Accounts) -> None:
    s = acc.login("zhang", PW, now=T0)
    acc.logout(s.token, now=T0 + dt.timedelta(minutes=1))
    assert acc.resume(s.token, now=T0 + dt.timedelta(minutes=2)) is None


def _forge(token: str) -> list[str]:
    import base64
    import json

    body, mac = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    admin = base64.urlsafe_b64encode(json.dumps({**payload, "u": "admin1"}).encode()).rstrip(b"=").decode()
    return [
        admin + "." + mac,                 # another user's name with the old signature
        body + "." + mac[:-2] + "AA",      # a changed signature
        body,                               # no signature
        "zhang",                            # a user name instead of a token
        "",
        "a.b.c",
        "%%%.%%%",
    ]


def test_forged_tokens_are_refused(acc: Accounts) -> None:
    acc.add("admin1", "admin", "Admin#pass2026", now=T0)
    s = acc.login("zhang", PW, now=T0)
    for forged in _forge(s.token):
        assert acc.resume(forged, now=T0 + dt.timedelta(minutes=1)) is None, forged


def test_token_signed_with_another_warehouse_key_is_refused(acc: Accounts, tmp_path: Path) -> None:
    s = acc.login("zhang", PW, now=T0)
    with open_warehouse(path=tmp_path / "other.duckdb") as other:
        b = Accounts(other)
        b.add("zhang", "clerk", PW, now=T0)
        assert b.resume(s.token, now=T0 + dt.timedelta(minutes=1)) is None


def test_token_carries_no_password_and_key_is_kept_owner_only(acc: Accounts, wh: Warehouse) -> None:
    s = acc.login("zhang", PW, now=T0)
    assert PW not in s.token
    secrets_file = Path(str(wh.path) + ".secrets")
    assert secrets_file.stat().st_mode & 0o077 == 0
    assert "citybi-session-key" in secrets_file.read_text(encoding="utf-8")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "x", "role": "admin", "password": "Admin#pass2026"}, "用户名「x」不合规"),
    ({"name": "li", "role": "boss", "password": "Admin#pass2026"}, "角色「boss」不存在"),
    ({"name": "li", "role": "admin", "password": "short"}, "密码不符合要求"),
    ({"name": "zhang", "role": "admin", "password": "Admin#pass2026"}, "已存在"),
])
def test_add_refusals(acc: Accounts, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(AccountError, match=message):
        acc.add(**kwargs)


def test_account_events_are_audited(acc: Accounts, wh: Warehouse) -> None:
    s = acc.login("zhang", PW, now=T0)
    with pytest.raises(LoginFailed):
        acc.login("zhang", "bad-Password1", address="10.0.0.8", now=T0)
    acc.logout(s.token)
    acc.set_role("zhang", "analyst")
    got = [(e.action, e.target) for e in reversed(audit.entries(wh))]
    assert got == [("users.add", "zhang"), ("login.ok", "zhang"), ("login.failed", "zhang"), ("logout", "zhang"),
                   ("users.role", "zhang")]
    failed = next(e for e in audit.entries(wh) if e.action == "login.failed")
    assert failed.address == "10.0.0.8" and "bad-Password1" not in failed.detail
    assert audit.verify(wh).ok


def test_session_limits_come_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from citybi.config import load_settings

    monkeypatch.setenv("CITYBI_SESSION_IDLE_MINUTES", "5")
    with open_warehouse(load_settings(tmp_path / "short.duckdb")) as w:
        a = Accounts(w)
        a.add("zhang", "leader", PW, now=T0)
        s = a.login("zhang", PW, now=T0)
        assert a.resume(s.token, now=T0 + dt.timedelta(minutes=4)) is not None
        assert a.resume(s.token, now=T0 + dt.timedelta(minutes=10)) is None
