"""Leftovers after faults: a killed import leaves no reader process running and no frame file for long.

Before, 18 of 22 imports killed half-way left a 33 MB frame.arrow in the temp folder for ever,
and 3 left the reader child running after its parent had died. Each case below starts a real
importing process, kills it with SIGKILL at a chosen step (as the OOM killer or a hard stop
would), and checks that the reader child exits too and that the next start of CityBI (the
command line or the app) removes the dead process's temp files — and only those: a live
process's folder and folders CityBI did not make are left alone.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from citybi.ingest.worker import CRASH_ENV

ROOT = Path(__file__).resolve().parents[2]

# The importing process: prepares a CSV (the reader child writes the frame), then waits to be killed.
IMPORTER = r"""
import sys, time
from pathlib import Path
from citybi.config import Limits
from citybi.ingest.model import ImportOptions
from citybi.ingest.pipeline import prepare
print("start", flush=True)
prepared = prepare(Path(sys.argv[1]), ImportOptions(), Limits())
print("prepared", prepared.frame_path, flush=True)
time.sleep(600)
"""

# A live CityBI process that keeps a prepared frame while another one starts.
LIVE = r"""
import sys, time
from pathlib import Path
from citybi.config import Limits
from citybi.ingest.model import ImportOptions
from citybi.ingest.pipeline import prepare
prepared = prepare(Path(sys.argv[1]), ImportOptions(), Limits())
print("prepared", prepared.frame_path, flush=True)
time.sleep(600)
"""


def _csv(path: Path) -> Path:
    rows = ["编号,区,说明"] + [f"{i},南湖区,第{i}条" for i in range(2000)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _env(tmp: Path, crash: str = "") -> dict[str, str]:
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONIOENCODING": "utf-8"}
    env.pop(CRASH_ENV, None)
    if crash:
        env[CRASH_ENV] = crash
    return env


def _state(pid: int) -> str | None:
    """The process state letter (Z = zombie: dead, waiting to be reaped), or None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[0]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _wait_for(cond: Callable[[], object], timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    return None


def _frames(tmp: Path) -> list[Path]:
    return sorted(tmp.rglob("frame-*.arrow"))


@pytest.fixture()
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.fixture()
def readers() -> Iterator[list[int]]:
    """Reader pids seen in a test; any still running at the end (the bug) are killed by their pid."""
    seen: list[int] = []
    yield seen
    for pid in seen:
        if _state(pid) not in (None, "Z"):
            os.kill(pid, signal.SIGKILL)


def _start_importer(src: Path, tmp: Path, crash: str, procs: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", IMPORTER, str(src)], stdout=subprocess.PIPE, text=True,
                         env=_env(tmp, crash), cwd=ROOT)
    procs.append(p)
    assert p.stdout is not None and p.stdout.readline().strip() == "start"
    return p


def _next_start_cli(tmp: Path, db: Path) -> None:
    exe = Path(sys.executable).with_name("citybi")
    out = subprocess.run([str(exe), "datasets", "--db", str(db)], capture_output=True, text=True,
                         env=_env(tmp), timeout=120)
    assert out.returncode == 0, out.stderr


def _next_start_app(tmp: Path, db: Path) -> None:
    # the app's start-up runs in the server process: run the import page the way Streamlit does
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file(sys.argv[1], default_timeout=120).run()\n"
        "assert not at.exception, at.exception\n"
    )
    env = {**_env(tmp), "CITYBI_DB": str(db)}
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "pages" / "import_data.py")],
                         capture_output=True, text=True, env=env, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]


# (id, crash hook in the reader, what the importer is doing when it is killed)
KILLS: list[tuple[str, str]] = [
    ("killed-while-the-reader-reads", "sleep"),
    ("killed-after-the-reader-wrote-the-frame", "sleep-after-frame"),
    ("killed-between-prepare-and-commit", ""),
]
STARTS: list[tuple[str, Callable[[Path, Path], None]]] = [("cli", _next_start_cli), ("app", _next_start_app)]


@pytest.mark.parametrize(("case", "crash"), KILLS, ids=[k[0] for k in KILLS])
@pytest.mark.parametrize(("start", "next_start"), STARTS, ids=[s[0] for s in STARTS])
def test_kill_9_mid_import_leaves_nothing_after_the_next_start(
        tmp_path: Path, procs: list[subprocess.Popen[str]], readers: list[int], case: str, crash: str,
        start: str, next_start: Callable[[Path, Path], None]) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    src = _csv(tmp_path / "工单.csv")
    importer = _start_importer(src, tmp, crash, procs)
    if crash:
        children = _wait_for(lambda: _children(importer.pid))
        assert isinstance(children, list), "the reader child did not start"
        readers.extend(children)
        if crash == "sleep-after-frame":
            assert _wait_for(lambda: _frames(tmp)), "the reader did not write its frame"
    else:
        assert importer.stdout is not None and importer.stdout.readline().startswith("prepared")
        assert _frames(tmp)
    importer.send_signal(signal.SIGKILL)
    importer.wait()
    for pid in readers:
        gone = _wait_for(lambda pid=pid: _state(pid) in (None, "Z"), timeout=10)
        assert gone, f"reader {pid} still running after its parent was killed"
    next_start(tmp, tmp_path / "w.duckdb")
    assert _frames(tmp) == []
    leftovers = [p for p in tmp.rglob("*") if p.is_file()]
    assert leftovers == [], leftovers


def test_the_next_start_leaves_live_and_foreign_folders_alone(tmp_path: Path,
                                                               procs: list[subprocess.Popen[str]]) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    src = _csv(tmp_path / "工单.csv")
    live = subprocess.Popen([sys.executable, "-c", LIVE, str(src)], stdout=subprocess.PIPE, text=True,
                            env=_env(tmp), cwd=ROOT)
    procs.append(live)
    assert live.stdout is not None
    line = live.stdout.readline().strip()
    assert line.startswith("prepared"), line
    live_frame = Path(line.split(" ", 1)[1])
    # beside the live process's folder in CityBI's temp root: folders not named <pid>-<start>,
    # and one that names the live pid with another start time (a reused pid: its owner is gone)
    ours = live_frame
    while ours.parent != tmp and ours.parent.parent != tmp:
        ours = ours.parent
    temp_root = ours.parent
    assert temp_root.parent == tmp and temp_root.name.startswith("citybi-"), live_frame
    foreign = [tmp / "someone-elses-folder", temp_root / "notes", temp_root / "123-abc"]
    for f in foreign:
        f.mkdir()
        (f / "notes.txt").write_text("不是 CityBI 的文件", encoding="utf-8")
    reused = temp_root / f"{live.pid}-1"
    reused.mkdir()
    (reused / "frame-old.arrow").write_bytes(b"\0" * 1024)
    _next_start_cli(tmp, tmp_path / "w.duckdb")
    assert live_frame.exists()  # the live process still needs it
    assert all((f / "notes.txt").exists() for f in foreign)
    assert not reused.exists()


def test_a_clean_exit_removes_its_own_temp_files(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    src = _csv(tmp_path / "工单.csv")
    code = IMPORTER.replace("time.sleep(600)", "")  # prepared, never discarded, then a normal exit
    out = subprocess.run([sys.executable, "-c", code, str(src)], capture_output=True, text=True,
                         env=_env(tmp), cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "prepared" in out.stdout
    assert [p for p in tmp.rglob("*") if p.is_file()] == []


def test_sigterm_to_the_cli_mid_import_cleans_up_on_exit(tmp_path: Path, readers: list[int]) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    src = _csv(tmp_path / "工单.csv")
    exe = Path(sys.executable).with_name("citybi")
    cli = subprocess.Popen([str(exe), "ingest", str(src), "--db", str(tmp_path / "w.duckdb"), "--table", "工单"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=_env(tmp, "sleep-after-frame"))
    try:
        assert _wait_for(lambda: _frames(tmp)), "the reader did not write its frame"
        readers.extend(_children(cli.pid))
        cli.send_signal(signal.SIGTERM)
        cli.wait(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    for pid in readers:
        assert _wait_for(lambda pid=pid: _state(pid) in (None, "Z"), timeout=10), f"reader {pid} still running"
    assert [p for p in tmp.rglob("*") if p.is_file()] == []
