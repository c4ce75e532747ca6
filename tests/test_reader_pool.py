"""The reused reader process (citybi.ingest.pool): faster, and exactly as strict as a fresh one.

Each case drives a real reader process. What is checked is what the sandbox promises: a crash,
a memory overrun or a time-out in a REUSED reader is refused in Chinese and the next request
gets a fresh reader; every request runs under its own memory cap; a reader is replaced after
N requests; threads importing at once each get their own, correct result; one file never
changes another's result; and a reader outlives the thread that started it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

from citybi.config import Limits
from citybi.errors import ImportRejected
from citybi.ingest import pipeline
from citybi.ingest.model import ImportOptions
from citybi.ingest.pool import CRASH_MSG, TIMEOUT_MSG, ReaderPool
from citybi.ingest.worker import CRASH_ENV

MB = 1024 * 1024
L = Limits()


@pytest.fixture()
def readers() -> Iterator[ReaderPool]:
    p = ReaderPool()
    yield p
    p.close()


def _status(p: ReaderPool, tmp: Path, limits: Limits = L) -> dict[str, int]:
    res = p.run({"op": "status"}, limits, tmp)
    return {"pid": res["pid"], "memory_cap": res["memory_cap"]}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_one_reader_answers_request_after_request(readers: ReaderPool, tmp_path: Path) -> None:
    pids = [_status(readers, tmp_path)["pid"] for _ in range(3)]
    assert (len(set(pids)), readers.started) == (1, 1)


@pytest.mark.parametrize("caps_mb", [[2048, 3072, 2048]])
def test_each_request_runs_under_its_own_memory_cap(readers: ReaderPool, tmp_path: Path, caps_mb: list[int]) -> None:
    seen = [_status(readers, tmp_path, Limits(reader_memory_bytes=mb * MB)) for mb in caps_mb]
    assert [s["memory_cap"] // MB for s in seen] == caps_mb
    assert len({s["pid"] for s in seen}) == 1  # the same, reused reader


@pytest.mark.parametrize(
    ("hook", "limits", "words"),
    [
        ("abort", L, CRASH_MSG),  # the reader dies by SIGABRT, as calamine does on a 512 GiB allocation
        ("memory", Limits(reader_memory_bytes=2 * 1024 * MB), CRASH_MSG),  # over its cap: MemoryError
        ("sleep", Limits(reader_timeout_s=2.0), TIMEOUT_MSG.format(s=2.0)),  # out of time: killed
    ],
    ids=["crash", "memory", "time"],
)
def test_a_fault_in_a_reused_reader_is_refused_and_the_next_request_gets_a_fresh_one(
        readers: ReaderPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: str, limits: Limits,
        words: str) -> None:
    book = ff.xlsx_titled_merged(tmp_path / "ok.xlsx")
    first = _status(readers, tmp_path)["pid"]
    monkeypatch.setenv(CRASH_ENV, hook)
    with pytest.raises(ImportRejected) as ei:
        readers.run({"op": "list_sheets", "path": str(book)}, limits, tmp_path)
    assert ei.value.message == words
    assert readers.started == 1  # the fault happened in the reused reader, under this request's limits
    assert not _alive(first)  # ... which is gone
    monkeypatch.delenv(CRASH_ENV)
    res = readers.run({"op": "list_sheets", "path": str(book)}, L, tmp_path)
    assert [s["name"] for s in res["sheets"]] == ["汇总", "空表"]
    assert readers.started == 2 and readers.idle_pid() != first


def test_a_one_shot_reader_is_killed_once_it_has_answered_and_reaped_at_close(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`citybi ingest` reads one file: its reader's memory is freed beside the write, and no zombie is left."""
    from citybi.ingest import pool as pool_module

    p = ReaderPool()
    p.one_shot = True
    monkeypatch.setattr(pool_module, "_POOL", p)  # the pool pipeline.prepare uses
    try:
        book = ff.xlsx_titled_merged(tmp_path / "t.xlsx")
        first = pipeline.prepare(book, ImportOptions(), L, work_dir=tmp_path / "a")
        gone = p._retired[0].pid
        assert first.frame().height > 0 and p.idle_pid() is None
        # a second request (an append read again with the dataset's columns) gets a reader of its own
        again = pipeline.prepare(book, ImportOptions(), L, work_dir=tmp_path / "b")
        assert again.frame().equals(first.frame()) and p.started == 2
        assert not _alive(gone)
    finally:
        p.close()
    assert not p._retired and not Path(f"/proc/{gone}").exists()  # reaped, not a zombie


def test_a_refusal_in_chinese_keeps_the_reader(readers: ReaderPool, tmp_path: Path) -> None:
    first = _status(readers, tmp_path)["pid"]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ImportRejected, match="文件是空的"):
        readers.run({"op": "list_sheets", "path": str(empty)}, L, tmp_path)
    assert _status(readers, tmp_path)["pid"] == first


@pytest.mark.parametrize(("max_jobs", "requests", "readers_used"), [(2, 5, 3)])
def test_a_reader_is_replaced_after_max_jobs_requests(tmp_path: Path, max_jobs: int, requests: int,
                                                     readers_used: int) -> None:
    p = ReaderPool(max_jobs=max_jobs)
    try:
        pids = [_status(p, tmp_path)["pid"] for _ in range(requests)]
    finally:
        p.close()
    assert len(set(pids)) == readers_used
    assert pids[:max_jobs] == [pids[0]] * max_jobs


def test_a_reader_grown_too_big_is_replaced(tmp_path: Path) -> None:
    p = ReaderPool(max_idle_rss=1)  # any reader is "too big" after a request
    try:
        pids = [_status(p, tmp_path)["pid"] for _ in range(2)]
    finally:
        p.close()
    assert pids[0] != pids[1]


def test_a_changed_environment_gets_a_new_reader(readers: ReaderPool, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    first = _status(readers, tmp_path)["pid"]
    monkeypatch.setenv("CITYBI_TEST_POOL_MARK", "1")
    assert _status(readers, tmp_path)["pid"] != first


def test_a_reader_started_before_polars_loads_is_the_one_used(tmp_path: Path) -> None:
    """`citybi ingest` starts its reader first, then imports polars (which sets a variable of its
    own in the environment): that reader must still take the request, not be replaced."""
    f = ff.csv_text(tmp_path / "f.csv", "区,数量\n临江区,1\n北港区,2\n")
    code = f"""
import sys
from pathlib import Path
from citybi.config import Limits
from citybi.ingest.pool import pool
assert "polars" not in sys.modules
p = pool()
p.prestart()
from citybi.ingest import pipeline
from citybi.ingest.model import ImportOptions
assert "polars" in sys.modules
prepared = pipeline.prepare(Path({str(f)!r}), ImportOptions(), Limits())
print(p.started, prepared.frame().height)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "2"]


def test_threads_importing_at_once_each_get_their_own_result(readers: ReaderPool, tmp_path: Path) -> None:
    files = {f"表{i}": ff.csv_text(tmp_path / f"f{i}.csv",
                                  f"区,人数{i}\n" + "".join(f"南湖区,{k}\n" for k in range(i + 1)))
             for i in range(4)}
    got: dict[str, object] = {}

    def one(name: str, path: Path) -> None:
        try:
            res = readers.run({"op": "list_sheets", "path": str(path)}, L, tmp_path)
            got[name] = [(s["n_rows"], s["n_cols"]) for s in res["sheets"]]
        except Exception as exc:  # recorded, so the assertion shows it
            got[name] = exc

    threads = [threading.Thread(target=one, args=item) for item in files.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert got == {f"表{i}": [(i + 2, 2)] for i in range(4)}
    assert readers.idle_pid() is not None  # one reader stays for the next request, the rest stopped


def test_a_reader_outlives_the_thread_that_started_it(readers: ReaderPool, tmp_path: Path) -> None:
    # PR_SET_PDEATHSIG fires when the forking THREAD ends; a session thread ends after its request
    t = threading.Thread(target=lambda: _status(readers, tmp_path))
    t.start()
    t.join(120)
    pid = readers.idle_pid()
    assert pid is not None and _alive(pid)
    assert _status(readers, tmp_path)["pid"] == pid


def test_one_file_never_changes_the_next_ones_result(tmp_path: Path) -> None:
    """Same path, same size, same modification time, other content: the reader reads it anew."""
    path = tmp_path / "upload.csv"
    stamp = 1_700_000_000_000_000_000
    names = []
    for text in ("区,人数\n南湖区,3\n", "街,户数\n北港区,4\n"):
        path.write_text(text, encoding="utf-8")
        os.utime(path, ns=(stamp, stamp))
        prepared = pipeline.prepare(path, ImportOptions(), L)
        names.append([c.name for c in prepared.plan.columns])
        prepared.discard()
    assert names == [["区", "人数"], ["街", "户数"]]


@pytest.mark.parametrize(
    ("later", "taken"),
    [
        (ImportOptions(), True),  # the same arguments: the early result is taken
        (ImportOptions(drop_totals=False), False),  # other options: read again
    ],
    ids=["same-arguments", "other-options"],
)
def test_prepare_early_is_taken_only_by_the_same_request(tmp_path: Path, later: ImportOptions, taken: bool) -> None:
    path = ff.csv_text(tmp_path / "早.csv", "区,人数\n南湖区,3\n北港区,4\n")
    pipeline.prepare_early(path, ImportOptions(), L)
    prepared = pipeline.prepare(path, later, L)
    try:
        assert prepared.plan.row_count == 2
        assert (not pipeline._EARLY) is taken
    finally:
        prepared.discard()
        pipeline._discard_unclaimed()


def test_prepare_early_on_a_file_changed_since_is_not_taken(tmp_path: Path) -> None:
    path = ff.csv_text(tmp_path / "早.csv", "区,人数\n南湖区,3\n")
    pipeline.prepare_early(path, ImportOptions(), L)
    ff.csv_text(path, "区,人数\n南湖区,3\n北港区,4\n临江区,5\n")
    prepared = pipeline.prepare(path, ImportOptions(), L)
    try:
        assert prepared.plan.row_count == 3
    finally:
        prepared.discard()
        pipeline._discard_unclaimed()


def test_the_command_loads_its_modules_at_low_priority_beside_the_reader() -> None:
    """cli._at_low_priority: the work's thread runs at nice 10 (the reader's work comes first), the command's
    own thread keeps its priority, and the work is done when the call returns."""
    code = ("import os, sys, threading, time\nfrom citybi import cli\nseen = {}\nreal = os.setpriority\n"
            "def spy(which, who, prio):\n    seen[who] = prio\n    return real(which, who, prio)\n"
            "os.setpriority = spy\ncli._at_low_priority(lambda: __import__('citybi.quality'))\n"
            "assert 'citybi.quality' in sys.modules\n"
            "assert threading.get_native_id() not in seen and list(seen.values()) == [10], seen\n"
            "print(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                         cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0 and res.stdout.strip() == "0", res.stderr
