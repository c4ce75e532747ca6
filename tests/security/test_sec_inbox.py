"""The inbox: a job folder can only import (and delete) its own file, and a bad job gets an error result.

`citybi ingest` hands jobs to the running app through `<db>.inbox/<job>/job.json`. Anyone who
could write there used to name any file in "file" — `../../../x.csv`, an absolute path, a
symlink, the warehouse itself — and the app imported it into a shared dataset and then
deleted it, also when the import failed. Each attack below is a job built by hand the way an
attacker would; the app's worker must refuse it with a Chinese result, touch nothing outside
the job folder, and go on with the next job.
"""
from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from citybi import inbox
from citybi.catalog import Catalog, open_warehouse
from citybi.ingest.model import ImportOptions

CSV = "区,工单数\n南湖区,12\n秀洲区,7\n".encode()
SECRET = "姓名,身份证号\n张三,330400199001010011\n".encode()


class Scene:
    """A warehouse with an inbox, and a victim file elsewhere on the disk."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.wh = open_warehouse(path=tmp_path / "data" / "w.duckdb")
        self.victim_dir = tmp_path / "elsewhere"
        self.victim_dir.mkdir()
        self.victim = self.victim_dir / "机密.csv"
        self.victim.write_bytes(SECRET)
        self.box = inbox.inbox_dir(self.wh.path)
        self.box.mkdir(mode=0o700, exist_ok=True)

    def job(self, name: str = "20240101-000000-attack00") -> Path:
        d = self.box / name
        d.mkdir(mode=0o700)
        return d


def _spec(file: str, **over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"file": file, "table": "工单", "mode": "create",
                            "options": ImportOptions().model_dump(mode="json"), "key_columns": [],
                            "display_name": None, "description": None}
    spec.update(over)
    return spec


def _write_job(job: Path, spec: dict[str, Any] | str) -> None:
    text = spec if isinstance(spec, str) else json.dumps(spec, ensure_ascii=False)
    (job / "job.json").write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- file outside the job folder
def _relative_up(s: Scene, job: Path) -> str:
    return os.path.relpath(s.victim, job)  # ../../../elsewhere/机密.csv


def _absolute(s: Scene, job: Path) -> str:
    return str(s.victim)


def _the_warehouse(s: Scene, job: Path) -> str:
    return os.path.relpath(s.wh.path, job)  # ../../w.duckdb


def _symlink(s: Scene, job: Path) -> str:
    (job / "工单.csv").symlink_to(s.victim)
    return "工单.csv"


def _symlinked_subfolder(s: Scene, job: Path) -> str:
    (job / "sub").symlink_to(s.victim_dir)
    return "sub/机密.csv"


def _hard_link(s: Scene, job: Path) -> str:
    os.link(s.victim, job / "工单.csv")
    return "工单.csv"


def _dot(s: Scene, job: Path) -> str:
    return "."


def _the_job_file(s: Scene, job: Path) -> str:
    return "job.taken"


def _inner_dotdot(s: Scene, job: Path) -> str:
    (job / "工单.csv").write_bytes(CSV)
    return "x/../../" + job.name + "/工单.csv"


ESCAPES: list[tuple[str, Callable[[Scene, Path], str]]] = [
    ("relative-dotdot", _relative_up),
    ("absolute-path", _absolute),
    ("the-warehouse-file", _the_warehouse),
    ("symlink-to-outside", _symlink),
    ("symlinked-subfolder", _symlinked_subfolder),
    ("hard-link-to-outside", _hard_link),
    ("the-job-folder", _dot),
    ("the-job-spec-itself", _the_job_file),
    ("dotdot-back-inside", _inner_dotdot),
]


@pytest.mark.parametrize(("case", "build"), ESCAPES, ids=[c[0] for c in ESCAPES])
def test_job_file_outside_its_folder_is_refused(tmp_path: Path, case: str,
                                                build: Callable[[Scene, Path], str]) -> None:
    s = Scene(tmp_path)
    job = s.job()
    _write_job(job, _spec(build(s, job)))
    db_bytes = s.wh.path.stat().st_size
    assert inbox.process_pending(s.wh) == 1
    outcome = json.loads((job / "result.json").read_text(encoding="utf-8"))
    assert outcome["status"] == "error" and "导入任务" in outcome["message"]
    assert s.victim.read_bytes() == SECRET  # neither imported nor deleted
    assert s.wh.path.exists() and s.wh.path.stat().st_size >= db_bytes
    assert Catalog(s.wh).names() == []


def test_a_planted_result_symlink_is_not_written_through(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    job = s.job()
    (job / "工单.csv").write_bytes(CSV)
    (job / "result.json.part").symlink_to(s.victim)
    _write_job(job, _spec("工单.csv"))
    assert inbox.process_pending(s.wh) == 1
    assert s.victim.read_bytes() == SECRET
    assert json.loads((job / "result.json").read_text(encoding="utf-8"))["status"] == "ok"


def test_a_symlinked_job_folder_is_refused(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    (s.victim_dir / "job.json").write_text(json.dumps(_spec("机密.csv")), encoding="utf-8")
    (s.box / "20240101-000000-linked00").symlink_to(s.victim_dir)
    assert inbox.process_pending(s.wh) == 0
    assert s.victim.read_bytes() == SECRET
    assert sorted(p.name for p in s.victim_dir.iterdir()) == ["job.json", "机密.csv"]
    assert Catalog(s.wh).names() == []


# ---------------------------------------------------------------- a malformed job.json
BAD_SPECS: list[tuple[str, dict[str, Any] | str]] = [
    ("not-json", "{这不是 JSON"),
    ("json-list", "[1, 2, 3]"),
    ("missing-table", {k: v for k, v in _spec("工单.csv").items() if k != "table"}),
    ("table-not-text", _spec("工单.csv", table=["工单"])),
    ("file-not-text", {**_spec("工单.csv"), "file": ["工单.csv"]}),
    ("unknown-mode", _spec("工单.csv", mode="drop")),
    ("options-unknown-key", _spec("工单.csv", options={"evil": 1})),
    ("options-bad-type", _spec("工单.csv", options={"header_row": "第三行"})),
    ("options-not-object", _spec("工单.csv", options="sheet=1")),
    ("key-columns-not-list", _spec("工单.csv", key_columns="区")),
    ("unexpected-key", _spec("工单.csv", run_after="rm -rf /")),
    ("display-name-not-text", _spec("工单.csv", display_name={"a": 1})),
    ("huge-spec", _spec("工单.csv", description="长" * 2_000_000)),
]


@pytest.mark.parametrize(("case", "spec"), BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_malformed_job_gets_an_error_result_and_the_next_job_runs(tmp_path: Path, case: str,
                                                                  spec: dict[str, Any] | str) -> None:
    s = Scene(tmp_path)
    bad = s.job("20240101-000000-bad00000")
    (bad / "工单.csv").write_bytes(CSV)
    _write_job(bad, spec)
    src = tmp_path / "好.csv"
    src.write_bytes(CSV)
    good = inbox.submit(s.wh.path, src, table="好", mode="create", options=ImportOptions())
    assert inbox.process_pending(s.wh) == 2
    outcome = json.loads((bad / "result.json").read_text(encoding="utf-8"))
    assert outcome["status"] == "error" and "导入任务" in outcome["message"]
    assert inbox.wait(good, timeout_s=5)["status"] == "ok"
    assert Catalog(s.wh).names() == ["好"]


def test_a_job_spec_that_is_a_symlink_is_not_read(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    job = s.job()
    (job / "job.json").symlink_to(s.victim)
    assert inbox.process_pending(s.wh) == 1
    outcome = json.loads((job / "result.json").read_text(encoding="utf-8"))
    assert outcome["status"] == "error" and "330400" not in json.dumps(outcome, ensure_ascii=False)
    assert s.victim.read_bytes() == SECRET


# ---------------------------------------------------------------- who may write into the inbox
def test_submit_makes_the_inbox_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    src = tmp_path / "工单.csv"
    src.write_bytes(CSV)
    job = inbox.submit(db, src, table="工单", mode="create", options=ImportOptions())
    assert stat.S_IMODE(inbox.inbox_dir(db).stat().st_mode) == 0o700
    assert stat.S_IMODE(job.stat().st_mode) == 0o700


def test_an_older_readable_inbox_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    box = inbox.inbox_dir(db)
    box.mkdir(mode=0o755)
    box.chmod(0o755)  # what mkdir under the usual umask made before
    src = tmp_path / "工单.csv"
    src.write_bytes(CSV)
    inbox.submit(db, src, table="工单", mode="create", options=ImportOptions())
    assert stat.S_IMODE(box.stat().st_mode) == 0o700


def _world_writable(box: Path) -> None:
    box.chmod(0o777)


def _other_owner(box: Path) -> None:
    os.chown(box, 54321, 54321)


def _symlinked_inbox(box: Path) -> None:
    real = box.with_name("elsewhere-inbox")
    box.rename(real)
    box.symlink_to(real)


UNSAFE_INBOX: list[tuple[str, Callable[[Path], None]]] = [
    ("world-writable", _world_writable),
    ("owned-by-someone-else", _other_owner),
    ("inbox-is-a-symlink", _symlinked_inbox),
]


@pytest.mark.parametrize(("case", "spoil"), UNSAFE_INBOX, ids=[c[0] for c in UNSAFE_INBOX])
def test_jobs_in_an_unsafe_inbox_are_not_run(tmp_path: Path, case: str, spoil: Callable[[Path], None]) -> None:
    if case == "owned-by-someone-else" and os.geteuid() != 0:
        pytest.skip("chown to another user needs root (CI runs as root)")
    s = Scene(tmp_path)
    job = s.job()
    (job / "工单.csv").write_bytes(CSV)
    _write_job(job, _spec("工单.csv"))
    spoil(s.box)
    assert inbox.process_pending(s.wh) == 0
    assert Catalog(s.wh).names() == []
    src = tmp_path / "新.csv"
    src.write_bytes(CSV)
    with pytest.raises(inbox.UserFacingError, match="收件箱"):
        inbox.submit(s.wh.path, src, table="新", mode="create", options=ImportOptions())
