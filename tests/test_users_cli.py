"""`citybi users …`, `citybi audit …` and `citybi ask --as NAME`, run as a user runs them (subprocesses)."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from citybi.catalog import Catalog, open_warehouse
from citybi.rowrules import Governance

CLI = str(Path(sys.executable).with_name("citybi"))
PW = "Harbor#2026x"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=180, input=stdin, check=False)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "users.duckdb"
    with open_warehouse(path=path) as wh:
        Catalog(wh).write("环卫清运", pl.DataFrame({
            "日期": [dt.date(2026, 11, 1), dt.date(2026, 11, 1)], "区": ["临江区", "云湖区"], "清运量": [3.0, 4.0]}))
        Catalog(wh).set_governance("环卫清运", Governance("环卫处", "区"))
    assert run("users", "add", "li", "--role", "科员", "--department", "环卫处", "--districts", "临江区",
               "--password-stdin", "--db", str(path), stdin=PW + "\n").returncode == 0
    return str(path)


@pytest.mark.parametrize(("args", "stdin", "code", "says"), [
    (["users", "add", "wang", "--role", "管理员", "--password-stdin"], "Admin#pass2026\n", 0,
     "已添加用户「wang」（管理员"),
    (["users", "add", "zhao", "--role", "analyst", "--password-stdin"], "short\n", 2, "密码不符合要求"),
    (["users", "add", "zhao", "--role", "analyst"], None, 2, "--password-stdin"),
    (["users", "add", "zhao", "--role", "老板", "--password-stdin"], "Admin#pass2026\n", 2, "角色「老板」不存在"),
    (["users", "add", "li", "--role", "clerk", "--password-stdin"], PW + "\n", 2, "已存在"),
    (["users", "set-role", "nobody", "--role", "leader"], None, 2, "用户「nobody」不存在"),
    (["audit", "prune", "--days", "0"], None, 2, "至少为 1 天"),
])
def test_users_commands(db: str, args: list[str], stdin: str | None, code: int, says: str) -> None:
    r = run(*args, "--db", db, stdin=stdin)
    assert r.returncode == code, r.stderr
    assert says in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_list_shows_scope_and_never_a_hash(db: str) -> None:
    r = run("users", "list", "--json", "--db", db)
    users = {u["name"]: u for u in map(json.loads, r.stdout.splitlines())}
    assert users["li"]["role"] == "clerk" and users["li"]["districts"] == ["临江区"]
    assert "argon2" not in r.stdout and PW not in r.stdout


def test_ask_as_a_user_and_refusals(db: str) -> None:
    ok = run("ask", "各区清运量", "--db", db, "--as", "li", "--today", "2026-11-30", "--json")
    assert ok.returncode == 0, ok.stderr
    assert [r[0] for r in json.loads(ok.stdout)["rows"]] == ["临江区"]  # li's district only (the row rules)
    everyone = run("ask", "各区清运量", "--db", db, "--today", "2026-11-30", "--json")
    assert sorted(r[0] for r in json.loads(everyone.stdout)["rows"]) == ["临江区", "云湖区"]  # the operator
    unknown = run("ask", "各区清运量", "--db", db, "--as", "ghost")
    assert unknown.returncode == 2 and "用户「ghost」不存在" in unknown.stderr
    assert run("users", "add", "gone", "--role", "leader", "--password-stdin", "--db", db,
               stdin="Leader#pass2026\n").returncode == 0
    assert run("users", "disable", "gone", "--db", db).returncode == 0
    disabled = run("ask", "各区清运量", "--db", db, "--as", "gone")
    assert disabled.returncode == 2 and "已停用" in disabled.stderr
    listed = run("audit", "list", "--action", "ask", "--json", "--db", db)
    asked = [json.loads(x) for x in listed.stdout.splitlines()]
    assert [(a["user"], a["role"], a["target"]) for a in asked] == [("system", "system", "各区清运量"),
                                                                     ("li", "clerk", "各区清运量")]


def test_audit_verify_detects_an_edit_and_a_deleted_last_entry(db: str, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    shutil.copy(db + ".audit-anchor", str(copy) + ".audit-anchor")
    good = run("audit", "verify", "--db", str(copy))
    assert good.returncode == 0 and "审计日志完整" in good.stdout, good.stdout + good.stderr
    with open_warehouse(path=copy) as wh:
        cur = wh.cursor()
        cur.execute("UPDATE _citybi.audit SET user_name = 'someone' WHERE seq = 1")
        cur.execute("DELETE FROM _citybi.audit WHERE seq = (SELECT max(seq) FROM _citybi.audit)")
        cur.close()
    bad = run("audit", "verify", "--db", str(copy))
    assert bad.returncode == 1
    assert "第 1 条记录的内容被修改过" in bad.stdout and "最后的记录被删除" in bad.stdout
