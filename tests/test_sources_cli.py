"""`citybi sources import|test` and `citybi secrets` as a user runs them, against the real servers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citybi.catalog import Catalog, open_warehouse

pytestmark = pytest.mark.service

CLI = str(Path(sys.executable).with_name("citybi"))
PG = "postgresql://postgres@127.0.0.1:5432/test"
MY = "mysql://root@127.0.0.1:3306/test"
APP = """
import sys, time
from citybi.inbox import start_worker
from citybi.catalog import open_warehouse
wh = open_warehouse(path=sys.argv[1])
start_worker(wh, interval_s=0.2)
print("ready", flush=True)
time.sleep(120)
"""


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=180, input=stdin,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def pg_table() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL does not answer: {err}")
    t = f"citybi_t_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE TABLE {t} (id int PRIMARY KEY, "区" text, "清运量（吨）" numeric(10,2))')
    conn.execute(f"INSERT INTO {t} SELECT i, (array['南湖区','秀洲区'])[1 + i % 2], i * 0.25 "
                 "FROM generate_series(1, 500) i")
    yield t
    conn.execute(f"DROP TABLE IF EXISTS {t}")
    conn.close()


def _json(out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_a_table_then_append_by_key(pg_table: str, tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    first = _json(run("sources", "import", PG, "--db", db, "--table", pg_table, "--json"))
    assert (first["rows"], first["version"], first["mode"]) == (500, 1, "create")
    again = _json(run("sources", "import", PG, "--db", db, "--table", pg_table, "--mode", "append",
                      "--key", "id", "--json"))
    assert (again["rows"], again["rows_added"], again["rows_updated"]) == (500, 0, 500)
    text = run("sources", "import", PG, "--db", db, "--table", "南湖", "--query",
               f"SELECT * FROM {pg_table} WHERE \"区\" = '南湖区'")
    assert text.returncode == 0 and "共 250 行" in text.stdout


def test_import_through_the_running_app(pg_table: str, tmp_path: Path) -> None:
    db = tmp_path / "held.duckdb"
    app = subprocess.Popen([sys.executable, "-c", APP, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        out = run("sources", "import", PG, "--db", str(db), "--table", "清运", "--query", f"SELECT * FROM {pg_table}",
                  "--json")
        assert "交给应用处理" in out.stderr
        assert _json(out)["rows"] == 500
    finally:
        app.kill()
        app.wait()
    wh = open_warehouse(path=db)
    assert Catalog(wh).get("清运").row_count == 500
    wh.close()


def test_secret_from_stdin_is_used_and_never_printed(tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    value = f"Wrong-{uuid.uuid4().hex[:8]}"
    saved = run("secrets", "set", "mariadb-root", "--db", db, stdin=value + "\n")
    assert saved.returncode == 0 and value not in saved.stdout + saved.stderr
    assert oct(os.stat(db + ".secrets").st_mode & 0o777) == "0o600"
    assert run("secrets", "list", "--db", db).stdout.strip() == "mariadb-root"
    out = run("sources", "import", MY, "--db", db, "--table", "x", "--query", "SELECT 1", "--secret", "mariadb-root",
              "--json")
    assert out.returncode == 2
    assert "拒绝了用户「root」的登录" in out.stderr and value not in out.stdout + out.stderr
    assert json.loads(out.stdout)["status"] == "error"


@pytest.mark.parametrize(("args", "expected"), [
    (["postgresql://postgres:pw123@127.0.0.1:5432/test", "--table", "x"], "不能写密码"),
    ([PG, "--table", "x", "--query", "DELETE FROM t"], "只读的 SELECT"),
    ([PG, "--table", "x", "--secret", "no-such-secret"], "找不到名为「no-such-secret」的密钥"),
], ids=["password-in-url", "not-a-select", "unknown-secret"])
def test_refusals_exit_2_with_a_chinese_message(args: list[str], expected: str, tmp_path: Path) -> None:
    out = run("sources", "import", *args, "--db", str(tmp_path / "w.duckdb"))
    assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr


def test_connection_test(pg_table: str, tmp_path: Path) -> None:
    out = run("sources", "test", PG + f"?table={pg_table}", "--db", str(tmp_path / "w.duckdb"))
    assert out.returncode == 0 and "共 3 列：id、区、清运量（吨）" in out.stdout
    t0 = time.monotonic()
    bad = run("sources", "test", "postgresql://postgres@127.0.0.1:1/test", "--db", str(tmp_path / "w.duckdb"))
    assert bad.returncode == 2 and "无法连接 PostgreSQL 服务器 127.0.0.1:1" in bad.stderr
    assert time.monotonic() - t0 < 20
