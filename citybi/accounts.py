"""Accounts: who may sign in, with which role and data scope, and the signed session tokens.

Why here and not in the web glue: the CLI (`citybi users …`, `citybi ask --as NAME`), the login
page and the tests must all apply the same rules — password policy, lockout, disabled accounts,
token expiry — so they live in the core and the pages only call them.

Design (等保 2.0 level 2/3: identification, complexity, lockout, session time-out):
- No default account and no default password. With no account at all the app runs in open mode
  as the local operator; the first admin is made with `citybi users add … --role admin`.
- Passwords are stored as argon2id hashes (argon2-cffi) only. Rules: at least 10 characters, at
  least three of upper case / lower case / digit / symbol, not containing the user name.
- 5 failed logins lock an account for 15 minutes. Names that do not exist "lock" the same way, so
  the answers never tell whether a name exists: their counts live in `_citybi.login_failures` (in
  the warehouse, like the accounts' own counts), so an app restart does not unlock them while real
  accounts stay locked, and no flood of made-up names can push a name's count out (an in-memory
  table that was cleared when full could: lock a name, flood, try again — still locked = it
  exists). A row is forgotten only when its last failure is PRUNE_DAYS old and it is not locked
  (a real account's count would still be there then: the one difference, not one a guesser
  can bring about faster). Every path costs one argon2 verification against a hash with our
  parameters (a wrong password, an unknown name, a locked account), plus one small write for a
  counted failure, so timing does not tell either (bench/login_timing.py prints the figures).
- A session token is `base64url(payload).base64url(HMAC-SHA256(key, payload))`, the payload
  holding the user, the issue time and a per-login id (`sid`). The key is 32 random bytes kept
  through citybi.secrets (`<db>.secrets`, owner-only), made on first use. A token works only while:
  its signature is right; it is younger than the absolute limit (12 h); its login was active within
  the idle limit (30 min, kept in `_citybi.sessions`, refreshed at most once a minute); the login was
  not ended (logout); the user exists, is enabled, and the token was issued after the user's
  `valid_after` (moved forward by a password change, a reset, a role change or disabling).

SQL here is constant with `?` parameters (user text never becomes SQL text).
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import json
import re
import secrets as pysecrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from citybi import audit
from citybi.context import ROLE_LABELS, ROLES, Context, Scope
from citybi.errors import UserFacingError
from citybi.secrets import SecretError, SecretStore
from citybi.warehouse import Warehouse

S = "_citybi"
MIN_LENGTH = 10
MAX_FAILURES = 5
LOCK_MINUTES = 15
IDLE_MINUTES = 30
TOUCH_EVERY_S = 60  # last_seen is written at most this often per login (a write per page run is waste)
KEY_NAME = "citybi-session-key"

# Chinese role names accepted wherever a role is typed
ROLE_ALIASES: dict[str, str] = {**{v: k for k, v in ROLE_LABELS.items() if k in ROLES}, **{r: r for r in ROLES}}
_NAME = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,32}$")
GENERIC_FAILURE = "用户名或密码不正确。"
LOCKED_MESSAGE = f"登录失败次数过多，账户已被临时锁定，请 {LOCK_MINUTES} 分钟后再试。"

_hasher = PasswordHasher()


# A hash of a random password nobody kept (its result is never used: only its cost). Made once and
# written here rather than on first need: making it then cost the first made-up name one extra hash
# (~0.4 s), a one-off difference in time a guesser could see.
_DUMMY = "$argon2id$v=19$m=65536,t=3,p=4$sR8tgwKkRL3XSfR6vAGnGA$u0JThMlRkMbgtBjB+TtPOrj6NQ9n1b/sWMRmTmTb8xI"


@functools.cache
def _dummy_hash() -> str:
    """The hash an unknown name (or a locked account) is verified against: the same cost as a real one.

    The constant above while its parameters are the hasher's (argon2-cffi may raise its defaults);
    else one made with the hasher's parameters on first need (not at import: every CLI run imports us)."""
    from argon2 import extract_parameters

    got, ours = extract_parameters(_DUMMY), _hasher
    if (got.type, got.salt_len, got.hash_len, got.time_cost, got.memory_cost, got.parallelism) == (
            ours.type, ours.salt_len, ours.hash_len, ours.time_cost, ours.memory_cost, ours.parallelism):
        return _DUMMY
    return _hasher.hash(pysecrets.token_urlsafe(16))


PRUNE_DAYS = 30  # an unknown name's failure count is forgotten this long after its last failure


class AccountError(UserFacingError):
    """A refused account action: bad password, unknown role, locked, disabled, bad token."""


class LoginFailed(AccountError):
    """Wrong name or password, or a locked account (the message never says which name exists)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    department: str | None
    districts: tuple[str, ...] | None
    streets: tuple[str, ...] | None
    disabled: bool
    locked_until: dt.datetime | None
    must_change: bool
    created_at: dt.datetime | None
    last_login: dt.datetime | None

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    def context(self, address: str | None = None) -> Context:
        """The Context every query and action of this user runs with."""
        return Context(user=self.name, role=self.role, address=address, scope=Scope(
            department=self.department,
            districts=None if self.districts is None else frozenset(self.districts),
            streets=None if self.streets is None else frozenset(self.streets)))


@dataclass(frozen=True)
class Session:
    user: User
    sid: str
    issued_at: dt.datetime
    token: str


# ---------------------------------------------------------------------- rules (pure)
def parse_role(text: str) -> str:
    """An internal role from "admin" or "管理员"; a Chinese message otherwise."""
    role = ROLE_ALIASES.get((text or "").strip().lower()) or ROLE_ALIASES.get((text or "").strip())
    if role is None:
        raise AccountError(f"角色「{(text or '')[:20]}」不存在。",
                           hint="可选：admin/管理员、analyst/分析员、clerk/科员、leader/领导")
    return role


def check_user_name(name: str) -> str:
    clean = unicodedata.normalize("NFKC", name or "").strip()
    if not _NAME.match(clean):
        raise AccountError(f"用户名「{clean[:32]}」不合规。",
                           hint="用户名 2–32 个字符，只含字母、数字、汉字、下划线、减号和点")
    return clean


def password_problems(password: str, user_name: str = "") -> list[str]:
    """Every rule the password breaks, in Chinese (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"密码至少 {MIN_LENGTH} 个字符（现在 {len(password)} 个）")
    kinds = sum([any(c.isupper() for c in password), any(c.islower() for c in password),
                 any(c.isdigit() for c in password), any(not c.isalnum() and not c.isspace() for c in password)])
    if kinds < 3:
        problems.append("密码须包含大写字母、小写字母、数字、符号中的至少三类")
    if user_name and user_name.lower() in password.lower():
        problems.append("密码不能包含用户名")
    return problems


def check_password(password: str, user_name: str = "") -> None:
    problems = password_problems(password, user_name)
    if problems:
        raise AccountError("密码不符合要求：" + "；".join(problems) + "。")


def hash_password(password: str, user_name: str = "") -> str:
    """The rules checked, then the argon2id hash: what a CLI hands the running app instead of the password."""
    check_password(password, user_name)
    return _hasher.hash(password)


def check_password_hash(text: str) -> str:
    """A hash made by hash_password (argon2id, parameters between ours and 4× ours), else refused.

    A hash arrives through the inbox when the app holds the warehouse (`citybi users add|reset`):
    a weaker hash would make the account cheap to crack, a huge one would stall every login."""
    from argon2 import Type, extract_parameters

    try:
        params = extract_parameters(text or "")
    except (InvalidHashError, ValueError) as err:
        raise AccountError("密码哈希格式不正确。",
                           hint="请用 citybi users add/reset --password-stdin 重新提交") from err
    ours = _hasher
    if (params.type is not Type.ID or not ours.memory_cost <= params.memory_cost <= 4 * ours.memory_cost
            or not ours.time_cost <= params.time_cost <= 4 * ours.time_cost
            or not 1 <= params.parallelism <= 4 * ours.parallelism):
        raise AccountError("密码哈希的参数不符合要求（须为 argon2id，强度不低于系统设置）。",
                           hint="请用 citybi users add/reset --password-stdin 重新提交")
    return text


def _split(values: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    items = re.split(r"[,，、\s]+", values) if isinstance(values, str) else list(values)
    clean = tuple(dict.fromkeys(v.strip() for v in items if v and v.strip()))
    return clean or None


# ---------------------------------------------------------------------- the store
class Accounts:
    """The accounts of one warehouse (table `_citybi.users`) and its sessions."""

    def __init__(self, wh: Warehouse, *, store: SecretStore | None = None) -> None:
        self.wh = wh
        self._store = store or SecretStore(wh.path)

    # ------------------------------------------------------------ reading

    _COLS = ("name, role, department, districts_json, streets_json, disabled, locked_until, must_change, "
             "created_at, last_login")

    @staticmethod
    def _user(r: tuple[Any, ...]) -> User:
        def tup(text: str | None) -> tuple[str, ...] | None:
            return None if not text else tuple(json.loads(text))

        return User(name=r[0], role=r[1], department=r[2], districts=tup(r[3]), streets=tup(r[4]),
                    disabled=bool(r[5]), locked_until=r[6], must_change=bool(r[7]), created_at=r[8],
                    last_login=r[9])

    def any_account(self) -> bool:
        """True once any account exists: from then on every page needs a login."""
        return bool(self.wh.fetchall(f"SELECT 1 FROM {S}.users LIMIT 1"))

    def list(self) -> list[User]:
        return [self._user(r) for r in self.wh.fetchall(f"SELECT {self._COLS} FROM {S}.users ORDER BY name")]

    def find(self, name: str) -> User | None:
        rows = self.wh.fetchall(f"SELECT {self._COLS} FROM {S}.users WHERE name = ?", [name])
        return self._user(rows[0]) if rows else None

    def get(self, name: str) -> User:
        user = self.find(name)
        if user is None:
            raise AccountError(f"用户「{name[:32]}」不存在。", hint="可用 citybi users list 查看已有的用户")
        return user

    def context_for(self, name: str, address: str | None = None) -> Context:
        """The context of an enabled user (`citybi ask --as NAME`); unknown or disabled → refused."""
        user = self.get(name)
        if user.disabled:
            raise AccountError(f"用户「{name}」已停用，不能以其身份提问。")
        return user.context(address)

    # ------------------------------------------------------------ administration
    def add(self, name: str, role: str, password: str | None = None, *, department: str | None = None,
            districts: str | list[str] | None = None, streets: str | list[str] | None = None,
            now: dt.datetime | None = None, password_hash: str | None = None) -> User:
        """A new account; the password in clear, or (from the inbox) its hash_password() hash."""
        name = check_user_name(name)
        role = parse_role(role)
        pw_hash = _given_hash(password, password_hash, name)
        if self.find(name) is not None:
            raise AccountError(f"用户「{name}」已存在。", hint="如需改密码，请用 citybi users reset")
        at = now or dt.datetime.now()
        ds, ss = _split(districts), _split(streets)
        with self.wh.transaction() as cur:
            cur.execute(f"INSERT INTO {S}.users VALUES (?, ?, ?, ?, ?, ?, false, 0, NULL, false, ?, ?, ?, NULL)",
                        [name, role, (department or "").strip() or None,
                         None if ds is None else json.dumps(ds, ensure_ascii=False),
                         None if ss is None else json.dumps(ss, ensure_ascii=False),
                         pw_hash, at, at, at])
        audit.record(self.wh, "users.add", name, {"role": role, "department": department or "",
                                                  "districts": list(ds or []), "streets": list(ss or [])})
        return self.get(name)

    def _update(self, name: str, sets: str, params: list[Any]) -> None:
        # `sets` is one of the constant fragments below, never user text
        with self.wh.transaction() as cur:
            found = cur.execute(f"UPDATE {S}.users SET {sets}, updated_at = ? WHERE name = ? RETURNING name",
                                [*params, dt.datetime.now(), name]).fetchall()
        if not found:
            raise AccountError(f"用户「{name[:32]}」不存在。", hint="可用 citybi users list 查看已有的用户")

    def set_disabled(self, name: str, disabled: bool = True, *, now: dt.datetime | None = None) -> None:
        """Disable (every token of the user stops working) or enable again."""
        self._update(name, "disabled = ?, valid_after = ?", [disabled, now or dt.datetime.now()])
        audit.record(self.wh, "users.disable" if disabled else "users.enable", name)

    def reset(self, name: str, password: str | None = None, *, now: dt.datetime | None = None,
              password_hash: str | None = None) -> None:
        """An admin sets a new password (or its hash_password() hash); the user must change it at next
        login; old tokens stop working."""
        pw_hash = _given_hash(password, password_hash, name)
        self.get(name)
        self._update(name, "password_hash = ?, must_change = true, failed_count = 0, locked_until = NULL, "
                           "valid_after = ?", [pw_hash, now or dt.datetime.now()])
        audit.record(self.wh, "users.reset", name)

    def set_role(self, name: str, role: str, *, department: str | None = None,
                 districts: str | list[str] | None = None, streets: str | list[str] | None = None,
                 now: dt.datetime | None = None) -> User:
        """Change role (and scope when given); the user signs in again with the new rights."""
        old = self.get(name)
        role = parse_role(role)
        dept = old.department if department is None else ((department or "").strip() or None)
        ds = old.districts if districts is None else _split(districts)
        ss = old.streets if streets is None else _split(streets)
        self._update(name, "role = ?, department = ?, districts_json = ?, streets_json = ?, valid_after = ?",
                     [role, dept, None if ds is None else json.dumps(ds, ensure_ascii=False),
                      None if ss is None else json.dumps(ss, ensure_ascii=False), now or dt.datetime.now()])
        audit.record(self.wh, "users.role", name, {"from": old.role, "to": role, "department": dept or "",
                                                   "districts": list(ds or []), "streets": list(ss or [])})
        return self.get(name)

    def change_password(self, name: str, old_password: str, new_password: str, *,
                        now: dt.datetime | None = None) -> None:
        """The user changes their own password (the old one is checked); other logins end."""
        row = self.wh.fetchall(f"SELECT password_hash FROM {S}.users WHERE name = ?", [name])
        if not row or not _verify(row[0][0], old_password):
            raise AccountError("原密码不正确。")
        if old_password == new_password:
            raise AccountError("新密码不能与原密码相同。")
        check_password(new_password, name)
        self._update(name, "password_hash = ?, must_change = false, valid_after = ?",
                     [_hasher.hash(new_password), now or dt.datetime.now()])
        audit.record(self.wh, "password.change", name)

    # ------------------------------------------------------------ login and sessions
    def login(self, name: str, password: str, *, address: str | None = None,
              now: dt.datetime | None = None) -> Session:
        """Check the password (lockout included) and start a session; LoginFailed otherwise."""
        at = now or dt.datetime.now()
        clean = unicodedata.normalize("NFKC", name or "").strip()
        rows = self.wh.fetchall(f"SELECT password_hash, disabled, failed_count, locked_until FROM {S}.users "
                                f"WHERE name = ?", [clean]) if clean else []
        who = Context(user=clean[:64], role="", address=address)
        if not rows:
            message = self._unknown_failure(clean[:64], at, password)
            audit.record(self.wh, "login.failed", clean[:64],
                         {"reason": "unknown", **({"locked": True} if message == LOCKED_MESSAGE else {})},
                         ctx=who, now=at)
            raise LoginFailed(message)
        pw_hash, disabled, failed, locked_until = rows[0]
        if locked_until is not None and locked_until > at:
            _verify(_dummy_hash(), password)
            audit.record(self.wh, "login.failed", clean, {"reason": "locked"}, ctx=who, now=at)
            raise LoginFailed(LOCKED_MESSAGE)
        if not _verify(pw_hash, password):
            failed = (0 if locked_until is not None else int(failed or 0)) + 1
            lock = at + dt.timedelta(minutes=LOCK_MINUTES) if failed >= MAX_FAILURES else None
            with self.wh.transaction() as cur:
                cur.execute(f"UPDATE {S}.users SET failed_count = ?, locked_until = ? WHERE name = ?",
                            [0 if lock else failed, lock, clean])
            audit.record(self.wh, "login.failed", clean, {"reason": "password", "failures": failed}, ctx=who,
                         now=at)
            raise LoginFailed(LOCKED_MESSAGE if lock else GENERIC_FAILURE)
        if disabled:
            audit.record(self.wh, "login.failed", clean, {"reason": "disabled"}, ctx=who, now=at)
            # a right password for a disabled account: saying so leaks nothing a guesser could use
            raise LoginFailed("该账户已停用，请联系管理员。")
        sid = pysecrets.token_urlsafe(16)
        rehash = _hasher.check_needs_rehash(pw_hash)
        with self.wh.transaction() as cur:
            cur.execute(f"UPDATE {S}.users SET failed_count = 0, locked_until = NULL, last_login = ?"
                        + (", password_hash = ?" if rehash else "") + " WHERE name = ?",
                        [at, *([_hasher.hash(password)] if rehash else []), clean])
            cur.execute(f"INSERT INTO {S}.sessions VALUES (?, ?, ?, ?, NULL, ?)", [sid, clean, at, at, address])
        user = self.get(clean)
        audit.record(self.wh, "login.ok", clean, ctx=user.context(address), now=at)
        return Session(user=user, sid=sid, issued_at=at, token=self._sign(clean, at, sid))

    def _unknown_failure(self, name: str, at: dt.datetime, password: str) -> str:
        """Count a failed login of a name that is no account exactly as a real account's is counted;
        returns the message (GENERIC_FAILURE or LOCKED_MESSAGE) a real account would have got."""
        _verify(_dummy_hash(), password)  # the same cost as a real account
        with self.wh.transaction() as cur:
            rows = cur.execute(f"SELECT failed_count, locked_until FROM {S}.login_failures WHERE name = ?",
                               [name]).fetchall()
            failed, locked_until = rows[0] if rows else (0, None)
            if locked_until is not None and locked_until > at:
                return LOCKED_MESSAGE  # a locked real account is not counted further either
            failed = (0 if locked_until is not None else int(failed or 0)) + 1
            lock = at + dt.timedelta(minutes=LOCK_MINUTES) if failed >= MAX_FAILURES else None
            cur.execute(f"INSERT OR REPLACE INTO {S}.login_failures VALUES (?, ?, ?, ?)",
                        [name, 0 if lock else failed, lock, at])
            # forgotten only by age, never because others were tried (see the module docstring)
            cur.execute(f"DELETE FROM {S}.login_failures WHERE last_failed < ? AND "
                        f"(locked_until IS NULL OR locked_until < ?)", [at - dt.timedelta(days=PRUNE_DAYS), at])
        return LOCKED_MESSAGE if lock else GENERIC_FAILURE

    def logout(self, token: str, *, now: dt.datetime | None = None) -> None:
        """End the login the token belongs to (the token stops working everywhere)."""
        payload = self._payload(token)
        if payload is None:
            return
        with self.wh.transaction() as cur:
            cur.execute(f"UPDATE {S}.sessions SET ended_at = ? WHERE sid = ? AND ended_at IS NULL",
                        [now or dt.datetime.now(), payload["sid"]])
        user = self.find(payload["u"])
        audit.record(self.wh, "logout", payload["u"], ctx=user.context() if user else None)

    def resume(self, token: str, *, address: str | None = None, now: dt.datetime | None = None,
               idle_minutes: int | None = None, absolute_hours: int | None = None) -> Session | None:
        """The session a token stands for, or None when it is forged, expired, ended or its user changed.

        The limits default to the settings (CITYBI_SESSION_IDLE_MINUTES = 30, CITYBI_SESSION_MAX_HOURS = 12)."""
        at = now or dt.datetime.now()
        idle_minutes = idle_minutes or self.wh.settings.session_idle_minutes
        absolute_hours = absolute_hours or self.wh.settings.session_max_hours
        payload = self._payload(token)
        if payload is None:
            return None
        issued = dt.datetime.fromisoformat(payload["t"])
        if at - issued > dt.timedelta(hours=absolute_hours) or issued > at + dt.timedelta(minutes=5):
            return None
        rows = self.wh.fetchall(f"SELECT s.last_seen, s.ended_at, u.disabled, u.valid_after FROM {S}.sessions s "
                                f"JOIN {S}.users u ON u.name = s.user_name WHERE s.sid = ? AND s.user_name = ?",
                                [payload["sid"], payload["u"]])
        if not rows:
            return None
        last_seen, ended, disabled, valid_after = rows[0]
        if ended is not None or disabled or (valid_after is not None and issued < valid_after):
            return None
        if at - last_seen > dt.timedelta(minutes=idle_minutes):
            return None
        if (at - last_seen).total_seconds() >= TOUCH_EVERY_S:
            try:
                with self.wh.transaction() as cur:
                    cur.execute(f"UPDATE {S}.sessions SET last_seen = ? WHERE sid = ?", [at, payload["sid"]])
            except Exception:  # two tabs of one login touching at once: one write is enough
                pass
        user = self.get(payload["u"])
        return Session(user=user, sid=payload["sid"], issued_at=issued, token=token)

    def recent_sessions(self, minutes: int = IDLE_MINUTES, *, now: dt.datetime | None = None) -> list[
            tuple[str, dt.datetime, str]]:
        """(user, last seen, address) of logins active within `minutes` (系统状态's "online")."""
        since = (now or dt.datetime.now()) - dt.timedelta(minutes=minutes)
        return [(r[0], r[1], r[2] or "") for r in self.wh.fetchall(
            f"SELECT user_name, max(last_seen), any_value(address) FROM {S}.sessions "
            f"WHERE ended_at IS NULL AND last_seen >= ? GROUP BY user_name ORDER BY 2 DESC", [since])]

    # ------------------------------------------------------------ tokens
    def _key(self) -> bytes:
        try:
            return base64.b64decode(self._store.get(KEY_NAME).reveal())
        except SecretError:
            pass
        key = pysecrets.token_bytes(32)
        self._store.set(KEY_NAME, base64.b64encode(key).decode("ascii"))
        return base64.b64decode(self._store.get(KEY_NAME).reveal())

    def _sign(self, user: str, issued: dt.datetime, sid: str) -> str:
        body = json.dumps({"u": user, "t": issued.isoformat(timespec="microseconds"), "sid": sid},
                          ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        mac = hmac.new(self._key(), body, hashlib.sha256).digest()
        return _b64(body) + "." + _b64(mac)

    def _payload(self, token: str) -> dict[str, str] | None:
        try:
            body_text, mac_text = (token or "").split(".")
            body, mac = _unb64(body_text), _unb64(mac_text)
        except ValueError:
            return None
        if not hmac.compare_digest(hmac.new(self._key(), body, hashlib.sha256).digest(), mac):
            return None
        try:
            payload = json.loads(body.decode("utf-8"))
            dt.datetime.fromisoformat(payload["t"])
            return {"u": str(payload["u"]), "t": str(payload["t"]), "sid": str(payload["sid"])}
        except (ValueError, KeyError, TypeError):
            return None


def _given_hash(password: str | None, password_hash: str | None, name: str) -> str:
    """The hash to store: made here from the password, or a checked one made by the CLI."""
    if (password is None) == (password_hash is None):
        raise AccountError("请提供密码。")
    if password is not None:
        return hash_password(password, name)
    return check_password_hash(password_hash or "")


def _verify(pw_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(pw_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    import binascii

    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, UnicodeEncodeError) as err:
        raise ValueError("bad token") from err
