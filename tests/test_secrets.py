"""Secrets by name: the value round-trips through the owner-only file and never shows itself."""
from __future__ import annotations

import logging
import os
import pickle
import stat
from pathlib import Path

import pytest

from citybi.secrets import MASK, Secret, SecretError, SecretStore, env_name, redact, secrets_file

VALUE = "pa:ss@w/rd\"中文\\n 🙂"


@pytest.mark.parametrize("value", [
    "simple", VALUE, "line1\nline2", 'quote " and \\ backslash', "#not a comment", "  spaces kept  ",
], ids=["plain", "url-chars-and-chinese", "newline", "quote-backslash", "hash", "spaces"])
def test_value_round_trips_through_the_file(tmp_path: Path, value: str) -> None:
    store = SecretStore(tmp_path / "w.duckdb", environ={})
    store.set("pg-环卫", value)
    again = SecretStore(tmp_path / "w.duckdb", environ={})
    assert again.get("pg-环卫").reveal() == value
    assert again.names() == ["pg-环卫"]


def test_file_is_owner_only_and_beside_the_warehouse(tmp_path: Path) -> None:
    SecretStore(tmp_path / "w.duckdb", environ={}).set("a1", "x" * 10)
    path = secrets_file(tmp_path / "w.duckdb")
    assert path == tmp_path / "w.duckdb.secrets"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("show", [repr, str, lambda s: f"{s}", lambda s: f"{s!r}", lambda s: "%s" % s,  # noqa: UP031
                                  lambda s: str([s]), lambda s: str({"pw": s})],
                         ids=["repr", "str", "fstring", "fstring-r", "percent", "in-list", "in-dict"])
def test_a_secret_never_prints_its_value(show: object) -> None:
    s = Secret("db", VALUE)
    text = show(s)  # type: ignore[operator]
    assert VALUE not in text and "db" in text and MASK in text


def test_a_secret_is_not_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret("db", VALUE))


def test_logging_a_secret_logs_its_name_only(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("citybi.test").info("connecting with %s", Secret("db", VALUE))
        logging.getLogger("citybi.test").info("connecting with %r", Secret("db", VALUE))
    assert VALUE not in caplog.text and "db" in caplog.text


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=["world-read", "group-read", "other-read",
                                                                     "group-write"])
def test_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    store = SecretStore(tmp_path / "w.duckdb", environ={})
    store.set("db", VALUE)
    os.chmod(store.path, mode)
    with pytest.raises(SecretError) as err:
        store.get("db")
    assert "chmod 600" in str(err.value) and VALUE not in str(err.value) + err.value.detail


def test_file_that_is_a_link_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere"
    real.write_text('db = "x"\n')
    os.chmod(real, 0o600)
    os.symlink(real, secrets_file(tmp_path / "w.duckdb"))
    with pytest.raises(SecretError, match="链接"):
        SecretStore(tmp_path / "w.duckdb", environ={}).get("db")


def test_malformed_file_error_does_not_quote_the_line(tmp_path: Path) -> None:
    path = secrets_file(tmp_path / "w.duckdb")
    path.write_text(f"db = {VALUE}\n", encoding="utf-8")  # unquoted: not TOML
    os.chmod(path, 0o600)
    with pytest.raises(SecretError) as err:
        SecretStore(tmp_path / "w.duckdb", environ={}).get("db")
    shown = str(err.value) + err.value.detail + repr(err.value.__cause__) + repr(err.value.__context__)
    assert "格式不正确" in str(err.value) and "pa:ss" not in shown


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "w.duckdb", environ={env_name("pg-main.ro"): "from-env"})
    store.set("pg-main.ro", "from-file")
    assert env_name("pg-main.ro") == "CITYBI_SECRET_PG_MAIN_RO"
    assert store.get("pg-main.ro").reveal() == "from-env"


def test_missing_secret_says_how_to_add_it(tmp_path: Path) -> None:
    with pytest.raises(SecretError) as err:
        SecretStore(tmp_path / "w.duckdb", environ={}).get("环卫库")
    assert "环卫库" in str(err.value) and "citybi secrets set" in str(err.value)


@pytest.mark.parametrize("name", ["", "1abc", "a b", "a/b", "../x", "x" * 65, "a\nb", "a=b"],
                         ids=["empty", "digit-first", "space", "slash", "dotdot", "too-long", "newline", "equals"])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(SecretError, match="名称"):
        SecretStore(tmp_path / "w.duckdb", environ={}).set(name, "value")


@pytest.mark.parametrize(("text", "expected"), [
    (f"FATAL: password authentication failed for {VALUE}", "FATAL: password authentication failed for ******"),
    ("connect postgresql://u:pa%3Ass%40w%2Frd%22%E4%B8%AD%E6%96%87%5Cn%20%F0%9F%99%82@h:5432/db failed",
     "connect postgresql://u:******@h:5432/db failed"),
    ("mysql://root:other@127.0.0.1:3306/test refused", "mysql://root:******@127.0.0.1:3306/test refused"),
    ("no secret here", "no secret here"),
], ids=["plain-value", "url-encoded-value", "any-url-password", "untouched"])
def test_redact(text: str, expected: str) -> None:
    assert redact(text, Secret("db", VALUE)) == expected
