"""Honest I/O errors: a read-only or full disk gives a Chinese message that keeps the real cause.

Before, a read-only data folder or warehouse file gave a raw English traceback, and on a full
disk the cause ("No space left on device") was hidden behind DuckDB's "Current transaction is
aborted". Each case below makes the disk really say no — a small tmpfs filled with a ballast
file, a tmpfs remounted read-only, a file-size limit (RLIMIT_FSIZE) — because chmod does not
stop root, and CI runs as root. After the disk is healed, the next import must work: the failed
transaction was rolled back and the warehouse is as it was.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from citybi.catalog import Catalog, open_warehouse
from citybi.errors import UserFacingError
from citybi.importer import ingest_file

FULL = ("磁盘空间已满", "No space left on device")
READ_ONLY = ("只读", "Read-only file system")
TOO_LARGE = ("文件大小超过", "File too large")


def _csv(path: Path, rows: int) -> Path:
    lines = ["编号,区,说明"] + [f"{i},南湖区,第{i}条记录的说明文字-{i * 7919 % 100003}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@pytest.fixture()
def disk(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs of our own: filling it or making it read-only affects nobody else."""
    where = tmp_path / "disk"
    where.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(where))
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", "") or err
        pytest.skip(f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {detail}")
    try:
        yield where
    finally:
        # lazy: a Warehouse still open in this process (e.g. the app's cached one) must not block it
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def fill(disk: Path) -> Path:
    """Write a ballast file until the disk is full; deleting it frees the space again."""
    ballast = disk / "ballast"
    with open(ballast, "wb", buffering=0) as fh:
        for chunk in (1024 * 1024, 4096, 64):
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * chunk)
    return ballast


def read_only(disk: Path) -> None:
    _mount("-o", "remount,ro", str(disk))


def writable(disk: Path) -> None:
    _mount("-o", "remount,rw", str(disk))


def _assert_honest(err: BaseException, words: tuple[str, ...]) -> None:
    assert isinstance(err, UserFacingError), f"{type(err).__name__}: {err}"
    text = str(err)
    for w in words:
        assert w in text, text
    assert "Current transaction is aborted" not in text


# ---------------------------------------------------------------- opening the warehouse
Heal = Callable[[], None]


def _new_in_read_only_folder(disk: Path) -> tuple[Path, Heal]:
    read_only(disk)
    return disk / "w.duckdb", lambda: writable(disk)


def _new_in_missing_read_only_subfolder(disk: Path) -> tuple[Path, Heal]:
    read_only(disk)
    return disk / "data" / "w.duckdb", lambda: writable(disk)


def _existing_on_read_only_disk(disk: Path) -> tuple[Path, Heal]:
    open_warehouse(path=disk / "w.duckdb").close()
    read_only(disk)
    return disk / "w.duckdb", lambda: writable(disk)


def _new_on_full_disk(disk: Path) -> tuple[Path, Heal]:
    ballast = fill(disk)
    return disk / "w.duckdb", lambda: os.unlink(ballast)


OPEN_CASES: list[tuple[str, Callable[[Path], tuple[Path, Heal]], tuple[str, ...]]] = [
    ("read-only-data-folder", _new_in_read_only_folder, READ_ONLY),
    ("read-only-missing-subfolder", _new_in_missing_read_only_subfolder, READ_ONLY),
    ("read-only-warehouse-file", _existing_on_read_only_disk, READ_ONLY),
    ("full-disk-new-warehouse", _new_on_full_disk, FULL),
]


@pytest.mark.parametrize(("case", "spoil", "words"), OPEN_CASES, ids=[c[0] for c in OPEN_CASES])
def test_opening_the_warehouse_says_why_in_chinese(disk: Path, case: str,
                                                   spoil: Callable[[Path], tuple[Path, Heal]],
                                                   words: tuple[str, ...]) -> None:
    db, heal = spoil(disk)
    with pytest.raises(Exception) as ei:
        open_warehouse(path=db).close()
    _assert_honest(ei.value, words)
    heal()
    wh = open_warehouse(path=db)  # nothing half-made stands in the way once the disk is fixed
    Catalog(wh).write("表", pl.DataFrame({"区": ["南湖区"]}))
    assert Catalog(wh).names() == ["表"]
    wh.close()


# (id, rows of the import): a small one fails when DuckDB commits its log, a big one while it
# writes row groups straight into the file — that one used to surface as "transaction is aborted"
FULL_CASES: list[tuple[str, int]] = [("fails-at-commit", 60_000), ("fails-mid-write", 300_000)]


@pytest.mark.parametrize(("case", "rows"), FULL_CASES, ids=[c[0] for c in FULL_CASES])
def test_full_disk_import_keeps_the_cause_and_the_next_import_works(disk: Path, tmp_path: Path, case: str,
                                                                     rows: int) -> None:
    # (a disk cannot be remounted read-only under an open warehouse: "mount point is busy";
    # the read-only cases are the opening cases above and the CLI cases below)
    wh = open_warehouse(path=disk / "w.duckdb")  # one Warehouse all along, as the running app has
    Catalog(wh).write("原有", pl.DataFrame({"区": ["南湖区"], "量": [1]}))
    big = _csv(tmp_path / "大文件.csv", rows)
    ballast = fill(disk)
    with pytest.raises(Exception) as ei:
        ingest_file(wh, big, table="大文件")
    _assert_honest(ei.value, FULL)
    assert "没有写入" in str(ei.value)  # and says the warehouse is unchanged
    os.unlink(ballast)
    assert Catalog(wh).names() == ["原有"]  # the failed transaction left nothing behind
    small = _csv(tmp_path / "小文件.csv", 3)
    assert ingest_file(wh, small, table="小文件").write.rows_written == 3
    assert Catalog(wh).names() == ["原有", "小文件"]
    wh.close()
    again = open_warehouse(path=disk / "w.duckdb")
    assert Catalog(again).get("小文件").row_count == 3 and Catalog(again).get("原有").row_count == 1
    again.close()


def test_full_temp_folder_is_not_called_a_broken_file(disk: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    wh = open_warehouse(path=tmp_path / "w.duckdb")
    monkeypatch.setenv("TMPDIR", str(disk))  # the reader child and this process both put temp files there
    monkeypatch.setattr(tempfile, "tempdir", str(disk))
    big = _csv(tmp_path / "大文件.csv", 60_000)
    ballast = fill(disk)
    with pytest.raises(Exception) as ei:
        ingest_file(wh, big, table="大文件")
    _assert_honest(ei.value, FULL)
    assert "损坏" not in str(ei.value)
    os.unlink(ballast)
    assert ingest_file(wh, _csv(tmp_path / "小.csv", 2), table="小").write.rows_written == 2


# ---------------------------------------------------------------- a file-size limit (no mount needed)
FSIZE_CHILD = r"""
import json, resource, signal, sys
from pathlib import Path
import polars as pl
from citybi.catalog import Catalog
from citybi.catalog import open_warehouse
from citybi.warehouse import Warehouse
from citybi.importer import commit, ingest_file, prepare_file

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit, write() fails with EFBIG instead
db, big, small = (Path(a) for a in sys.argv[1:4])
wh = open_warehouse(path=db)
Catalog(wh).write("原有", pl.DataFrame({"区": ["南湖区"]}))
prepared = prepare_file(wh, big)  # read before the limit: the warehouse write is what must fail
resource.setrlimit(resource.RLIMIT_FSIZE, (db.stat().st_size + 64 * 1024, resource.RLIM_INFINITY))
out = {}
try:
    commit(wh, prepared, table="大文件")
    out["first"] = "written"
except Exception as err:
    out["first"] = f"{type(err).__name__}|{err}"
prepared.discard()
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
out["names_after_failure"] = Catalog(wh).names()
out["next"] = ingest_file(wh, small, table="小文件").write.rows_written
out["names"] = Catalog(wh).names()
print(json.dumps(out, ensure_ascii=False))
"""


def test_file_size_limit_is_reported_and_recovered(tmp_path: Path) -> None:
    import json

    big, small = _csv(tmp_path / "大.csv", 60_000), _csv(tmp_path / "小.csv", 3)
    proc = subprocess.run([sys.executable, "-c", FSIZE_CHILD, str(tmp_path / "w.duckdb"), str(big), str(small)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    kind, _, message = out["first"].partition("|")
    assert kind == "StorageError", out["first"]
    assert all(w in message for w in TOO_LARGE), message
    assert out["names_after_failure"] == ["原有"]
    assert out["next"] == 3 and out["names"] == ["原有", "小文件"]


# ---------------------------------------------------------------- the CLI and the app page
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("citybi")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)


def _cli_spoil_full(disk: Path) -> Callable[[], None]:
    ballast = fill(disk)
    return lambda: os.unlink(ballast)


def _cli_spoil_ro(disk: Path) -> Callable[[], None]:
    read_only(disk)
    return lambda: writable(disk)


CLI_CASES: list[tuple[str, Callable[[Path], Callable[[], None]], tuple[str, ...]]] = [
    ("disk-full", _cli_spoil_full, FULL),
    ("read-only", _cli_spoil_ro, READ_ONLY),
]


@pytest.mark.parametrize(("case", "spoil", "words"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_ingest_prints_the_chinese_cause(disk: Path, tmp_path: Path, case: str,
                                             spoil: Callable[[Path], Callable[[], None]],
                                             words: tuple[str, ...]) -> None:
    db = disk / "w.duckdb"
    assert _cli("ingest", str(_csv(tmp_path / "一.csv", 2)), "--db", str(db), "--table", "一").returncode == 0
    heal = spoil(disk)
    out = _cli("ingest", str(_csv(tmp_path / "大.csv", 60_000)), "--db", str(db), "--table", "大")
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and out.stderr.startswith("错误："), out.stderr[-2000:]
    assert all(w in out.stderr for w in words), out.stderr[-2000:]
    heal()
    ok = _cli("ingest", str(_csv(tmp_path / "二.csv", 2)), "--db", str(db), "--table", "二")
    assert ok.returncode == 0, ok.stderr[-2000:]
    listed = _cli("datasets", "--db", str(db))
    assert listed.returncode == 0, listed.stderr
    assert "一：" in listed.stdout and "二：" in listed.stdout and "大：" not in listed.stdout


def test_import_page_shows_the_chinese_cause(disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    db = disk / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(db))
    open_warehouse(path=db).close()
    lines = ["编号,区,说明"] + [f"{i},南湖区,说明文字-{i * 7919 % 100003}" for i in range(60_000)]
    page = Path(__file__).resolve().parents[2] / "pages" / "import_data.py"
    at = AppTest.from_file(str(page), default_timeout=120).run()
    at.file_uploader[0].upload("台账.csv", ("\n".join(lines) + "\n").encode(), "text/csv").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    ballast = fill(disk)
    at.text_input[0].input("台账").run()
    next(b for b in at.button if b.label == "导入").click().run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert all(w in shown for w in FULL), shown
    os.unlink(ballast)
    next(b for b in at.button if b.label == "导入").click().run()
    assert not at.exception
    assert any("已写入数据集「台账」" in s.value for s in at.success), [s.value for s in at.success]



HOLDER = """
import sys, time
from citybi.catalog import open_warehouse
from citybi.warehouse import Warehouse
wh = open_warehouse(path=sys.argv[1])
print("ready", flush=True)
time.sleep(120)
"""


def test_cli_handing_a_job_to_the_app_on_a_full_disk(disk: Path, tmp_path: Path) -> None:
    """The app holds the warehouse, so the CLI copies the file into the inbox — on a full disk."""
    db = disk / "w.duckdb"
    app = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        ballast = fill(disk)
        out = _cli("ingest", str(_csv(tmp_path / "大.csv", 60_000)), "--db", str(db), "--table", "大")
        assert out.returncode == 2, out.stderr[-2000:]
        assert "Traceback" not in out.stderr, out.stderr[-2000:]
        assert all(w in out.stderr for w in FULL), out.stderr[-2000:]
        assert list(Path(f"{db}.inbox").iterdir()) == []  # no half-copied job left behind
        os.unlink(ballast)
    finally:
        app.kill()
        app.wait()
