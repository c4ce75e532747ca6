"""`citybi users …` and `citybi audit …` while the app holds the warehouse: through the app's inbox.

DuckDB lets one process open the file; while `citybi serve` runs, the CLI cannot even read it.
These commands then queue an account job (citybi.inbox.AccountJob) and print the app's answer.
A password never reaches the inbox: the CLI hashes it first, and the app accepts only an
argon2id hash at least as strong as its own.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from citybi import inbox
from citybi.accounts import Accounts, hash_password
from citybi.catalog import open_warehouse

CLI = str(Path(sys.executable).with_name("citybi"))
PW = "Harbor#2026x"
NEW_PW = "Lantern#2027y"

APP = """
import sys, time
from citybi.inbox import start_worker
from citybi.catalog import open_warehouse
wh = open_warehouse(path=sys.argv[1])
start_worker(wh, interval_s=0.2)
print("ready", flush=True)
time.sleep(300)
"""


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=180, input=stdin, check=False)


def test_users_and_audit_commands_while_the_app_holds_the_file(tmp_path: Path) -> None:
    db = str(tmp_path / "held.duckdb")
    app = subprocess.Popen([sys.executable, "-c", APP, db], stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        # (command, stdin) → (exit code, text in the output)
        steps: list[tuple[list[str], str | None, int, str]] = [
            (["users", "add", "li", "--role", "科员", "--department", "环卫处", "--districts", "临江区",
              "--password-stdin"], PW + "\n", 0, "已添加用户「li」（科员，部门 环卫处，区 临江区"),
            (["users", "add", "li", "--role", "clerk", "--password-stdin"], PW + "\n", 2, "已存在"),
            (["users", "add", "wu", "--role", "clerk", "--password-stdin"], "short\n", 2, "密码不符合要求"),
            (["users", "disable", "li"], None, 0, "已停用用户「li」"),
            (["users", "disable", "ghost"], None, 2, "用户「ghost」不存在"),
            (["users", "enable", "li"], None, 0, "已启用用户「li」"),
            (["users", "reset", "li", "--password-stdin"], NEW_PW + "\n", 0, "已重置用户「li」的密码"),
            (["users", "set-role", "li", "--role", "领导"], None, 0, "调整为 领导"),
            (["users", "list"], None, 0, "li\t领导\t环卫处\t区 临江区"),
            (["audit", "verify"], None, 0, "审计日志完整"),
        ]
        for args, stdin, code, says in steps:
            r = cli(*args, "--db", db, stdin=stdin)
            assert (r.returncode, says in r.stdout + r.stderr) == (code, True), (args, r.stdout, r.stderr)
            assert "Traceback" not in r.stderr
            if code == 0:
                assert "交给应用处理" in r.stderr  # it really went through the app
        listed = cli("audit", "list", "--json", "--db", db)
        actions = [json.loads(x)["action"] for x in listed.stdout.splitlines()]
        assert actions == ["users.role", "users.reset", "users.enable", "users.disable", "users.add"]
        assert PW not in listed.stdout and NEW_PW not in listed.stdout
    finally:
        app.kill()
        app.wait()
    # the app stored the CLI's hash: the new password signs in, the old one does not
    with open_warehouse(path=db) as wh:
        acc = Accounts(wh)
        assert acc.login("li", NEW_PW).user.role == "leader"
        assert not list(inbox.inbox_dir(wh.path).iterdir())  # every job folder answered and removed


def test_a_queued_account_job_holds_a_hash_never_the_password(tmp_path: Path) -> None:
    wh = open_warehouse(path=tmp_path / "w.duckdb")
    job = inbox.submit_account(wh.path, inbox.AccountJob(action="users.add", name="li", role="clerk",
                                                         password_hash=hash_password(PW, "li")))
    text = (job / "job.json").read_text(encoding="utf-8")
    assert PW not in text and "$argon2id$" in text
    assert inbox.process_pending(wh) == 1
    assert inbox.wait(job, timeout_s=5)["status"] == "ok"
    assert Accounts(wh).login("li", PW).user.name == "li"


WEAK = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$" + "A" * 43  # valid form, far too cheap to guess against


@pytest.mark.parametrize(("password_hash", "says"), [
    (PW, "job.json 格式不正确"),                       # a clear password is not even a valid job
    ("$argon2id$garbage", "密码哈希格式不正确"),
    (WEAK, "参数不符合要求"),
    ("$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + "A" * 43, "job.json 格式不正确"),  # not argon2id
])
def test_an_account_job_with_anything_but_a_strong_hash_is_refused(tmp_path: Path, password_hash: str,
                                                                    says: str) -> None:
    wh = open_warehouse(path=tmp_path / "w.duckdb")
    box = inbox.inbox_dir(wh.path)
    box.mkdir(mode=0o700)
    job = box / "20260101-000000-attack00"
    job.mkdir(mode=0o700)
    (job / "job.json").write_text(json.dumps({
        "account": {"action": "users.add", "name": "mallory", "role": "admin", "password_hash": password_hash},
        "table": "", "mode": "append", "options": {}}), encoding="utf-8")
    assert inbox.process_pending(wh) == 1
    outcome = inbox.wait(job, timeout_s=5)
    assert outcome["status"] == "error" and says in outcome["message"], outcome
    assert Accounts(wh).find("mallory") is None
