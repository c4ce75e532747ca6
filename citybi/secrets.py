"""Credentials referred to by name: one owner-only file next to the warehouse, or the environment.

Why one module: data sources, later query engines and push channels all need passwords and
tokens, and each of them must keep those out of YAML (reviewed in git), out of the warehouse
(copied, shared, opened by other tools), out of logs and off the screen. So a definition names
its secret (`secret: 环卫库`) and only this module turns the name into the value, as a `Secret`
whose repr and str never show it; `redact` scrubs a value out of any text a driver hands back
(an error message that echoes its connection URL, say) before that text is raised or logged.

Where a secret lives, first match wins:
1. the environment variable CITYBI_SECRET_<NAME> (upper case, "-" and "." as "_"): for service
   managers and containers that inject credentials;
2. the secrets file `<warehouse>.secrets` beside the warehouse file: TOML, `名称 = "值"` lines,
   owned by the user running CityBI and readable by nobody else (mode 0600). A file that others
   can read or write, or that is a link, is refused (the way ssh refuses a private key).

Names are short ASCII or Chinese words ("pg-sanitation", "环卫库"): they appear in YAML and on
screen, so they must never be a value themselves.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tomllib
from pathlib import Path

from citybi.errors import UserFacingError

ENV_PREFIX = "CITYBI_SECRET_"
FILE_MODE = 0o600
MAX_FILE_BYTES = 256 * 1024
# letters (Chinese too), digits, "_", "-", "."; starts with a letter or a Chinese character
_NAME = re.compile(r"^[A-Za-z\u4e00-\u9fff][A-Za-z0-9_\-.\u4e00-\u9fff]{0,63}$")
# values shorter than this are not scrubbed out of text: "1" or "ab" would mangle every message
_MIN_REDACT = 3
MASK = "******"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class SecretError(UserFacingError):
    """A secret that is missing, badly named, or kept in a file others could read."""


class Secret:
    """A credential that does not show itself: repr/str/format give only its name.

    `reveal()` is the one way to the value, called where it is handed to a driver.
    """

    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(name={self.name!r}, value={MASK})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.name == self.name and other._value == self._value

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self) -> tuple[object, ...]:
        # never written into a pickle (Streamlit caches, multiprocessing) by accident
        raise TypeError("a Secret cannot be pickled")


def check_name(name: str) -> str:
    clean = (name or "").strip()
    if not _NAME.match(clean):
        raise SecretError(
            f"密钥名称「{clean[:40]}」不合规。",
            hint="名称以字母或汉字开头，只含字母、数字、汉字、下划线、减号和点，最多 64 个字符，例如 pg-环卫",
        )
    return clean


def env_name(name: str) -> str:
    """The environment variable that may hold secret `name` (CITYBI_SECRET_PG_SANITATION)."""
    return ENV_PREFIX + re.sub(r"[-.]", "_", name).upper()


def secrets_file(db_path: str | Path) -> Path:
    """The secrets file that belongs to a warehouse: beside it, named after it."""
    db = Path(db_path)
    return db.with_name(db.name + ".secrets")


def _check_file(path: Path) -> os.stat_result:
    st = os.lstat(path)
    uid = os.geteuid() if hasattr(os, "geteuid") else st.st_uid
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise SecretError(f"密钥文件 {path} 不是普通文件（可能是链接），已拒绝读取。",
                          hint="请删除它，再用 citybi secrets set 重新保存密钥")
    if st.st_uid != uid or st.st_mode & 0o077:
        raise SecretError(
            f"密钥文件 {path} 其他用户可以读取或写入（权限 {stat.filemode(st.st_mode)}），已拒绝读取。",
            hint=f"请运行 chmod 600 {path}，并确认文件属于运行 CityBI 的账户",
        )
    if st.st_size > MAX_FILE_BYTES:
        raise SecretError(f"密钥文件 {path} 太大（超过 {MAX_FILE_BYTES // 1024} KB），已拒绝读取。")
    return st


def _read_file(path: Path) -> dict[str, str]:
    try:
        _check_file(path)
    except FileNotFoundError:
        return {}
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(MAX_FILE_BYTES + 1)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        # the parser's message quotes the offending line, which may hold a value: not kept
        raise SecretError(f"密钥文件 {path} 格式不正确，无法读取。",
                          hint='每行一个密钥，格式为 名称 = "值"；可以删除该文件后用 citybi secrets set 重新保存',
                          detail=type(err).__name__) from None
    return {str(k): v for k, v in data.items() if isinstance(v, str)}


class SecretStore:
    """The secrets of one warehouse: its file, then the environment on top."""

    def __init__(self, db_path: str | Path, environ: dict[str, str] | None = None) -> None:
        self.path = secrets_file(db_path)
        self._environ = os.environ if environ is None else environ

    def names(self) -> list[str]:
        """Every secret name known from the file or the environment (never a value)."""
        from_env = {k[len(ENV_PREFIX):] for k in self._environ if k.startswith(ENV_PREFIX)}
        return sorted(set(_read_file(self.path)) | from_env)

    def get(self, name: str) -> Secret:
        name = check_name(name)
        value = self._environ.get(env_name(name))
        if value is None:
            value = _read_file(self.path).get(name)
        if value is None:
            raise SecretError(
                f"找不到名为「{name}」的密钥。",
                hint=f"请运行 citybi secrets set {name} --db {self.path.with_suffix('')} 保存它，"
                     f"或设置环境变量 {env_name(name)}",
            )
        return Secret(name, value)

    def set(self, name: str, value: str) -> None:
        """Save (or replace) a secret in the file; the file is written whole and owner-only."""
        name = check_name(name)
        if not value:
            raise SecretError("密钥的值不能为空。")
        current = _read_file(self.path)
        current[name] = value
        self._write(current)

    def remove(self, name: str) -> bool:
        name = check_name(name)
        current = _read_file(self.path)
        if name not in current:
            return False
        del current[name]
        self._write(current)
        return True

    def _write(self, values: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        part = self.path.with_name(self.path.name + ".part")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
        # created 0600 from the first byte: never readable by others, not even for an instant
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, FILE_MODE)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("# CityBI 密钥文件：只有运行 CityBI 的账户可以读写（chmod 600）。不要提交到 git。\n")
                for key in sorted(values):
                    # a JSON string is a valid TOML basic string; keys are quoted (Chinese names)
                    fh.write(f"{json.dumps(key, ensure_ascii=False)} = {json.dumps(values[key], ensure_ascii=False)}\n")
            os.replace(part, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(part)
            raise


def redact(text: str, *secrets: Secret | str | None) -> str:
    """`text` with every given secret's value (and its URL-encoded form) replaced by ******."""
    from urllib.parse import quote

    out = text
    for s in secrets:
        if s is None:
            continue
        value = s.reveal() if isinstance(s, Secret) else s
        if len(value) < _MIN_REDACT:
            continue
        for form in {value, quote(value, safe=""), quote(value)}:
            out = out.replace(form, MASK)
    return _redact_url_passwords(out)


_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")


def _redact_url_passwords(text: str) -> str:
    """user:password@ in any URL inside `text` becomes user:******@ (a driver echoing its DSN)."""
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
