"""`citybi ingest` while the app holds the warehouse: the job goes through the app's inbox."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from citybi import inbox
from citybi.catalog import Catalog, open_warehouse
from citybi.ingest.model import ImportOptions

CSV = "区,工单数\n南湖区,12\n秀洲区,7\n合计,19\n".encode()


def test_process_pending_imports_a_queued_job(tmp_path: Path) -> None:
    src = tmp_path / "工单.csv"
    src.write_bytes(CSV)
    wh = open_warehouse(path=tmp_path / "w.duckdb")
    job = inbox.submit(wh.path, src, table="工单", mode="create", options=ImportOptions())
    assert inbox.process_pending(wh) == 1
    outcome = inbox.wait(job, timeout_s=5)
    assert outcome["status"] == "ok" and outcome["rows"] == 2
    assert Catalog(wh).get("工单").row_count == 2
    assert not job.exists()


def test_bad_job_gets_a_chinese_error_and_worker_continues(tmp_path: Path) -> None:
    bad = tmp_path / "坏.xlsx"
    bad.write_bytes(b"\x7fELF" + b"\x00" * 100)
    good = tmp_path / "好.csv"
    good.write_bytes(CSV)
    wh = open_warehouse(path=tmp_path / "w.duckdb")
    j1 = inbox.submit(wh.path, bad, table="坏", mode="create", options=ImportOptions())
    j2 = inbox.submit(wh.path, good, table="好", mode="create", options=ImportOptions())
    assert inbox.process_pending(wh) == 2
    first, second = inbox.wait(j1, timeout_s=5), inbox.wait(j2, timeout_s=5)
    assert first["status"] == "error" and "Excel" in first["message"]
    assert second["status"] == "ok"
    assert Catalog(wh).names() == ["好"]


APP = """
import sys, time
from citybi.inbox import start_worker
from citybi.catalog import open_warehouse
from citybi.warehouse import Warehouse
wh = open_warehouse(path=sys.argv[1])
start_worker(wh, interval_s=0.2)
print("ready", flush=True)
time.sleep(120)
"""


def test_cli_ingest_while_another_process_holds_the_file(tmp_path: Path) -> None:
    db = tmp_path / "held.duckdb"
    src = tmp_path / "工单.csv"
    src.write_bytes(CSV)
    app = subprocess.Popen([sys.executable, "-c", APP, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        cli = Path(sys.executable).with_name("citybi")
        out = subprocess.run([str(cli), "ingest", str(src), "--db", str(db), "--table", "工单", "--json"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "交给应用处理" in out.stderr
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["status"] == "ok" and result["rows"] == 2
        assert time.monotonic() - t0 < 60
    finally:
        app.kill()
        app.wait()
    wh = open_warehouse(path=db)
    assert Catalog(wh).get("工单").row_count == 2
