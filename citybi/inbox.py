"""Imports handed from the command line to the running app (DuckDB allows one writer process).

While the app is running it holds the warehouse file; a second process cannot open it,
not even read-only (docs/ARCHITECTURE.md § DuckDB). Rather than failing, `citybi ingest` then drops the job
into an inbox folder beside the warehouse file and waits; the app's background worker
(started with its Warehouse) imports it through the same importer, in one transaction, and
writes the outcome next to the job. The CLI prints that outcome as if it had done the work.
`citybi users …` and `citybi audit …` go the same way (an AccountJob; a password only as the
argon2id hash the CLI made, see AccountJob).

Layout: <db>.inbox/<job-id>/{job.json, upload.<ext>, result.json}. A job is claimed by renaming
job.json to job.taken, so two app processes never import the same file twice.

Why so strict: whoever can write a job makes the app import a file into a shared dataset and
then delete it. So the inbox is owner-only (and refused when it is a link, someone else's, or
writable by others), job.json is validated field by field, the file must be a plain regular
file directly inside its own job folder (no path, no link, no hard link), a job folder that is a
link is ignored, and a job deletes nothing but that checked file. A bad job gets an error result.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import shutil
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError, model_validator

from citybi.context import SYSTEM, use
from citybi.errors import UserFacingError
from citybi.events import dataset_changed
from citybi.ingest.model import ImportOptions

POLL_S = 1.0
# Only the app's own user may put jobs here: whoever can write a job makes the app import a file.
INBOX_MODE = 0o700
MAX_SPEC_BYTES = 1024 * 1024
# names of the job's own bookkeeping files: never the file to import
_RESERVED = frozenset({"job.json", "job.json.part", "job.taken", "result.json", "result.json.part"})
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

log = logging.getLogger(__name__)


class JobRefused(UserFacingError):
    """A job folder or job.json the worker will not run (written as an error result)."""


class SourceJob(BaseModel):
    """A `citybi sources import` handed to the app: what to read, never a secret's value (its name only)."""

    model_config = ConfigDict(extra="forbid")

    url: StrictStr = Field(min_length=1, max_length=4000)
    query: StrictStr | None = Field(default=None, max_length=100_000)
    record_path: StrictStr | None = Field(default=None, max_length=500)
    max_messages: int | None = Field(default=None, ge=1, le=10_000_000)
    seconds: float | None = Field(default=None, gt=0, le=86_400)
    secret: StrictStr | None = Field(default=None, max_length=64)


class SourceRunJob(BaseModel):
    """`citybi sources refresh|history|list` handed to the app: a definition's name, never its content.

    The app reads the definition from its own sources folder, so a job cannot make it read a
    source nobody defined there.
    """

    model_config = ConfigDict(extra="forbid")

    action: Literal["refresh", "history", "last"]
    name: StrictStr | None = Field(default=None, min_length=1, max_length=64)  # history: None = every source
    limit: int = Field(default=20, ge=1, le=1000)


class AccountJob(BaseModel):
    """`citybi users …` / `citybi audit …` handed to the app: names, roles and scope, never a password.

    A new or reset password travels only as its argon2id hash, made in the CLI process
    (accounts.hash_password) and checked again by the app (accounts.check_password_hash): the
    inbox is owner-only, but a job folder can outlive a crash, and a hash there is no password."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["users.add", "users.list", "users.disable", "users.enable", "users.reset", "users.set-role",
                    "audit.verify", "audit.list", "audit.prune"]
    name: StrictStr | None = Field(default=None, min_length=1, max_length=64)
    role: StrictStr | None = Field(default=None, max_length=64)
    department: StrictStr | None = Field(default=None, max_length=200)
    districts: StrictStr | None = Field(default=None, max_length=4000)
    streets: StrictStr | None = Field(default=None, max_length=4000)
    password_hash: StrictStr | None = Field(default=None, max_length=400, pattern=r"^\$argon2id\$[A-Za-z0-9$=,+/]+$")
    # audit list filters (dates as ISO text) and prune's retention
    user: StrictStr | None = Field(default=None, max_length=64)
    audit_action: StrictStr | None = Field(default=None, max_length=64)
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = Field(default=200, ge=1, le=100_000)
    days: int | None = Field(default=None, ge=1, le=100_000)


class JobSpec(BaseModel):
    """job.json, validated strictly: anything unexpected refuses the whole job."""

    model_config = ConfigDict(extra="forbid")

    # a plain name inside the job folder; a source job (below) has no file
    file: StrictStr | None = Field(default=None, min_length=1, max_length=255)
    source: SourceJob | None = None
    run: SourceRunJob | None = None  # a defined source's refresh or history (table and mode: the definition's)
    account: AccountJob | None = None  # `citybi users …` / `citybi audit …`
    original_name: StrictStr | None = Field(default=None, max_length=255)
    table: StrictStr = Field(max_length=200)
    mode: Literal["create", "replace", "append"]
    options: ImportOptions
    key_columns: list[StrictStr] = Field(default_factory=list, max_length=200)
    display_name: StrictStr | None = Field(default=None, max_length=200)
    description: StrictStr | None = Field(default=None, max_length=10_000)
    # the CLI's recipe choices, applied by the app exactly as `citybi ingest` would (recipes from
    # the app's own recipe folder; a saved recipe's name is data, never a path)
    use_recipes: StrictBool = True
    save_recipe: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    standardize: Literal["accepted", "auto", "off"] = "accepted"
    allow_repeat: StrictBool = True

    @model_validator(mode="after")
    def _file_or_source(self) -> JobSpec:
        if sum(x is not None for x in (self.file, self.source, self.run, self.account)) != 1:
            raise ValueError("a job names exactly one of a file, a source, a source run or an account action")
        return self


def inbox_dir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".inbox")


def _check_inbox(folder: Path) -> None:
    """Refuse an inbox someone else could have written to; tighten an older owner-only-writable one."""
    st = os.lstat(folder)
    uid = os.geteuid() if hasattr(os, "geteuid") else st.st_uid
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o022:
        raise UserFacingError(
            f"导入任务收件箱 {folder} 不安全（是链接、属于其他用户，或其他人可以写入），已停止使用。",
            hint="请管理员检查并删除该文件夹后重试；命令行导入也可以先停止应用再运行",
            detail=f"mode={stat.filemode(st.st_mode)} uid={st.st_uid}",
        )
    if stat.S_IMODE(st.st_mode) != INBOX_MODE:
        os.chmod(folder, INBOX_MODE)  # made before inboxes were owner-only (readable by others)


def _queue(db_path: Path, spec: JobSpec, upload: Path | None = None) -> Path:
    """Make a job folder, copy the upload in as `spec.file`, then publish job.json; returns the folder.

    job.json is written beside and renamed into place, so the app never sees half a job; on any
    failure (a full disk, say) the whole folder goes, so no half-copied job is left behind.
    """
    folder = inbox_dir(Path(db_path))
    folder.mkdir(mode=INBOX_MODE, parents=True, exist_ok=True)
    _check_inbox(folder)
    job = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    job.mkdir(mode=INBOX_MODE)
    try:
        if upload is not None:
            assert spec.file is not None
            shutil.copyfile(upload, job / spec.file)
        tmp = job / "job.json.part"
        tmp.write_text(spec.model_dump_json(), encoding="utf-8")
        tmp.rename(job / "job.json")
    except BaseException:
        shutil.rmtree(job, ignore_errors=True)
        raise
    return job


def submit(db_path: Path, file: Path, *, table: str, mode: str, options: ImportOptions,
           key_columns: list[str] | None = None, display_name: str | None = None,
           description: str | None = None, use_recipes: bool = True, save_recipe: str | None = None,
           standardize: Literal["accepted", "auto", "off"] = "accepted", allow_repeat: bool = True) -> Path:
    """Queue an import for the running app; returns the job folder."""
    # stored under a fixed name: the user's file name is data (kept as original_name), never a path
    suffix = Path(file).suffix
    stored = "upload" + (suffix.lower() if _SUFFIX.fullmatch(suffix) else "")
    spec = JobSpec(file=stored, original_name=Path(file).name, table=table, mode=mode,  # type: ignore[arg-type]
                   options=options, key_columns=key_columns or [], display_name=display_name,
                   description=description, use_recipes=use_recipes, save_recipe=save_recipe,
                   standardize=standardize, allow_repeat=allow_repeat)
    return _queue(db_path, spec, upload=Path(file))


def submit_source(db_path: Path, source: SourceJob, *, table: str, mode: str,
                  key_columns: list[str] | None = None) -> Path:
    """Queue a data-source import for the running app; returns the job folder."""
    spec = JobSpec(source=source, table=table, mode=mode, options=ImportOptions(),  # type: ignore[arg-type]
                   key_columns=key_columns or [])
    return _queue(db_path, spec)


def submit_run(db_path: Path, run: SourceRunJob) -> Path:
    """Queue a defined source's refresh, or a history request, for the running app; returns the job folder."""
    return _queue(db_path, JobSpec(run=run, table="", mode="append", options=ImportOptions()))


def submit_account(db_path: Path, job: AccountJob) -> Path:
    """Queue an account or audit command for the running app; returns the job folder."""
    return _queue(db_path, JobSpec(account=job, table="", mode="append", options=ImportOptions()))


def wait(job: Path, timeout_s: float = 900.0) -> dict[str, Any]:
    """Wait for the app's result of a job (raises UserFacingError when nobody picks it up)."""
    deadline = time.monotonic() + timeout_s
    result = job / "result.json"
    while time.monotonic() < deadline:
        if result.exists():
            outcome = json.loads(result.read_text(encoding="utf-8"))
            shutil.rmtree(job, ignore_errors=True)
            return outcome
        time.sleep(POLL_S)
    raise UserFacingError(
        "正在运行的应用没有在规定时间内处理这个导入任务。",
        hint=f"任务仍保存在 {job}，应用空闲时会继续处理；也可以在应用的「数据导入」页直接上传",
    )


def _read_spec(taken: Path) -> JobSpec:
    try:
        fd = os.open(taken, os.O_RDONLY | _NOFOLLOW)  # a job.json that is a link is not followed
    except OSError as err:
        raise JobRefused("导入任务文件 job.json 无法读取（不能是链接），已拒绝该任务。", detail=str(err)) from err
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise JobRefused("导入任务文件 job.json 不是普通文件，已拒绝该任务。")
        raw = fh.read(MAX_SPEC_BYTES + 1)
    if len(raw) > MAX_SPEC_BYTES:
        raise JobRefused(f"导入任务文件 job.json 太大（超过 {MAX_SPEC_BYTES // 1024} KB），已拒绝该任务。")
    try:
        return JobSpec.model_validate_json(raw)
    except ValidationError as err:
        where = "、".join(sorted({".".join(str(x) for x in e["loc"]) or "整体" for e in err.errors()}))
        raise JobRefused(
            f"导入任务文件 job.json 格式不正确（问题所在：{where}），已拒绝该任务。",
            hint="请用 citybi ingest 重新提交导入",
            detail=str(err)[:2000],
        ) from err


def _job_file(job: Path, name: str) -> Path:
    """The file a job imports: a plain regular file directly inside its own folder, or refused."""
    refused = JobRefused(
        f"导入任务指定的文件「{name[:80]}」不在任务自己的文件夹里（或是链接），已拒绝该任务。",
        hint="请用 citybi ingest 重新提交导入",
    )
    if (name in ("", ".", "..") or name in _RESERVED or "/" in name or "\\" in name or "\x00" in name
            or Path(name).name != name):
        raise refused
    path = job / name
    try:
        st = os.lstat(path)
    except OSError as err:
        raise JobRefused("导入任务里找不到要导入的文件，已拒绝该任务。", detail=str(err)) from err
    # a hard link would import (and expose) a file that lives elsewhere
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or path.resolve().parent != job.resolve():
        raise refused
    return path


def _run_job(wh: Any, job: Path, taken: Path) -> dict[str, Any]:
    """Import one claimed job; every failure becomes an error outcome (the worker goes on)."""
    from citybi.importer import ingest_file

    path: Path | None = None
    try:
        spec = _read_spec(taken)
        if spec.source is not None:
            return _run_source_job(wh, spec, spec.source)
        if spec.run is not None:
            return run_source_job(wh, spec.run)
        if spec.account is not None:
            return run_account_job(wh, spec.account)
        assert spec.file is not None
        path = _job_file(job, spec.file)
        res = ingest_file(
            wh, path, table=spec.table, mode=spec.mode, options=spec.options,
            key_columns=spec.key_columns or None, display_name=spec.display_name,
            description=spec.description, original_name=spec.original_name or spec.file,
            recipes=spec.use_recipes, save_recipe=spec.save_recipe or False, standardize=spec.standardize,
            allow_repeat=spec.allow_repeat,
        )
        return res.outcome()
    except UserFacingError as err:
        return {"status": "error", "message": str(err)}
    except Exception as err:  # the worker must survive any single bad job
        return {"status": "error", "message": f"导入失败：{type(err).__name__}"}
    finally:
        if path is not None:  # only the job's own, checked file is ever deleted
            with contextlib.suppress(OSError):
                os.unlink(path)


def _run_source_job(wh: Any, spec: JobSpec, source: SourceJob) -> dict[str, Any]:
    """A source import, run by the app exactly as `citybi sources import` would (the app's own secrets)."""
    from citybi.sources import import_source, resolve_secret
    from connectors.source import SourceRequest

    request = SourceRequest(url=source.url, query=source.query, record_path=source.record_path, table=spec.table,
                            max_messages=source.max_messages, seconds=source.seconds,
                            secret=resolve_secret(wh.path, source.secret))
    result = import_source(wh, request, table=spec.table, mode=spec.mode, key_columns=spec.key_columns or None)
    if result.write is not None:  # e.g. alert rules on this dataset check again (citybi.events)
        dataset_changed(wh.path, result.write.dataset)
    return result.outcome()


def run_source_job(wh: Any, run: SourceRunJob) -> dict[str, Any]:
    """A defined source's refresh (through the app's schedule: never beside its scheduled run) or history.

    The CLI calls this too when it holds the warehouse itself, so both ways answer alike.
    """
    from citybi.catalog import Catalog
    from citybi.config import load_settings
    from citybi.jsonable import json_safe
    from citybi.refresh import TRIGGER_CLI, app_schedule, refresh_source
    from citybi.sourcedefs import SourceFolder

    if run.action == "refresh":
        if not run.name:
            raise UserFacingError("请给出要刷新的数据源名称。")
        schedule = app_schedule(wh.path)
        if schedule is not None:
            out = schedule.refresh_now(run.name, wait=True, trigger=TRIGGER_CLI)
            assert out is not None
        else:
            source = SourceFolder(load_settings(wh.path).sources_dir).load(run.name)
            out = refresh_source(wh, source, trigger=TRIGGER_CLI)
        return {"status": "ok", "run": out.as_json()}
    catalog = Catalog(wh)
    if run.action == "last":
        runs = list(catalog.last_source_runs().values())
    else:
        runs = catalog.source_runs(run.name, limit=run.limit)
    return {"status": "ok", "runs": [json_safe({**vars(r), "status_label": r.status_label}) for r in runs]}


def run_account_job(wh: Any, job: AccountJob) -> dict[str, Any]:
    """An account or audit command, done by the app exactly as `citybi users|audit …` would.

    The CLI calls this too when it holds the warehouse itself, so both ways answer alike
    (accounts given a clear password go through Accounts directly, not through here)."""
    from citybi import audit
    from citybi.accounts import Accounts, User

    def user_json(u: User) -> dict[str, Any]:
        return {"name": u.name, "role": u.role, "role_label": u.role_label, "department": u.department,
                "districts": list(u.districts or []), "streets": list(u.streets or []), "disabled": u.disabled,
                "last_login": u.last_login.isoformat() if u.last_login else None}

    kind, _, verb = job.action.partition(".")
    if kind == "users":
        acc = Accounts(wh)
        if verb == "list":
            return {"status": "ok", "users": [user_json(u) for u in acc.list()]}
        if not job.name:
            raise JobRefused("账户任务缺少用户名，已拒绝该任务。")
        if verb == "add":
            user = acc.add(job.name, job.role or "", department=job.department, districts=job.districts,
                           streets=job.streets, password_hash=job.password_hash or "")
        elif verb in ("disable", "enable"):
            acc.set_disabled(job.name, verb == "disable")
            user = acc.get(job.name)
        elif verb == "reset":
            acc.reset(job.name, password_hash=job.password_hash or "")
            user = acc.get(job.name)
        else:
            user = acc.set_role(job.name, job.role or "", department=job.department, districts=job.districts,
                                streets=job.streets)
        return {"status": "ok", "user": user_json(user)}
    if verb == "verify":
        v = audit.verify(wh)
        return {"status": "ok", "verdict": {"ok": v.ok, "checked": v.checked, "head_seq": v.head_seq,
                                            "head_hash": v.head_hash, "problems": list(v.problems),
                                            "notes": list(v.notes)}}
    if verb == "prune":
        days = wh.settings.audit_retention_days if job.days is None else job.days
        return {"status": "ok", "removed": audit.prune(wh, retention_days=days), "days": days}
    rows = audit.entries(wh, user=job.user, action=job.audit_action, since=job.since, until=job.until,
                         limit=job.limit)
    return {"status": "ok", "entries": [
        {"seq": e.seq, "time": e.at.isoformat(), "user": e.user, "role": e.role, "address": e.address,
         "action": e.action, "action_label": e.action_label, "target": e.target, "detail": e.detail}
        for e in rows]}


def _write_result(job: Path, outcome: dict[str, Any]) -> None:
    part = job / "result.json.part"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(part)  # something planted there is removed, never written through
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(outcome, fh, ensure_ascii=False, default=str)
    os.replace(part, job / "result.json")


def process_pending(wh: Any) -> int:
    """Import every queued job (called by the app's worker thread); returns how many ran."""
    folder = inbox_dir(Path(wh.path))
    try:
        _check_inbox(folder)
    except FileNotFoundError:
        return 0
    except (UserFacingError, OSError) as err:
        log.warning("inbox %s refused: %s", folder, err)
        return 0
    done = 0
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        # a job folder that is a link could point anywhere: it is not even looked into
        if not entry.is_dir(follow_symlinks=False):
            continue
        job = Path(entry.path)
        taken = job / "job.taken"
        try:
            os.lstat(job / "job.json")
            os.rename(job / "job.json", taken)
        except OSError:
            continue  # no job here, or another process claimed it
        outcome = _run_job(wh, job, taken)
        try:
            _write_result(job, outcome)
        except OSError as err:
            log.warning("inbox job %s: result not written: %s", job, err)
        done += 1
    return done


def start_worker(wh: Any, interval_s: float = 2.0) -> threading.Thread:
    """A daemon thread that imports queued CLI jobs while the app runs."""

    def loop() -> None:
        while True:
            # an entry point of its own: jobs the operator queued with `citybi ingest` run as SYSTEM
            with contextlib.suppress(Exception), use(SYSTEM):
                process_pending(wh)
            time.sleep(interval_s)

    thread = threading.Thread(target=loop, name="citybi-inbox", daemon=True)
    thread.start()
    return thread
