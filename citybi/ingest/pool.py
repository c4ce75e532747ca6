"""A pre-started, reused reader process: the sandbox without paying its start-up per import.

Why: every import used to start `python -m citybi.ingest.worker` afresh, ~0.8 s of Python
start-up and imports (polars, fastexcel, the shaping code) — more than the reading itself for
a CSV. The sandbox stays exactly as strict (docs/ARCHITECTURE.md § Hostile files): the reader
is a separate process, each request sets its own address-space cap in the child and has its
own wall-clock limit here; a request that crashes the reader, runs out of memory or out of
time costs that process, and the next request gets a fresh one. What changes is only that a
healthy reader answers the next request too.

The pool keeps at most ONE idle reader. A request takes it (or starts one when it is busy —
several Streamlit sessions importing at once run in parallel as before), and gives it back
unless it must go: after a crash, a memory or time refusal, `max_jobs` requests, when its
resident memory grew past `max_idle_rss` (so one big file does not leave the next one less
room under the cap), or when the environment changed (tests switch hooks by environment).

Readers are started from one long-lived thread: Linux's PR_SET_PDEATHSIG (the reader dies
with its parent, citybi.ingest.worker) fires when the *thread* that forked the child ends,
and a Streamlit session's thread ends long before the reader it started would.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from citybi.config import Limits
from citybi.errors import ImportRejected, storage_error
from citybi.ingest.worker import CRASH_ENV, PARENT_ENV

CRASH_MSG = (
    "读取文件时解析器崩溃/内存超限，文件可能已损坏或过大。"
    "请在 Excel 中打开该文件并“另存为”新的 .xlsx（或拆分成较小的文件）后再上传。"
)
TEMP_ACTION = "保存导入用的临时文件"
TIMEOUT_MSG = (
    "读取文件超时（超过 {s:.0f} 秒），文件可能过大或结构异常。请拆分成较小的文件，或另存为 CSV 后再上传。"
)
# Decision: a reader answers at most this many requests, then a fresh one takes over (a slow
# leak in a native reader cannot build up); 20 imports cost one start-up (~0.8 s) between them.
MAX_JOBS = 20
# A reader whose resident memory stays above this after a request is replaced: the next file
# gets the whole cap, not what a big previous one left behind.
MAX_IDLE_RSS = 600 * 1024 * 1024


# Set by a library in THIS process when it loads, not by anyone choosing another environment:
# polars writes _RJEM_MALLOC_CONF on import. A CLI starts its reader before it imports polars, so
# counting it made every `citybi ingest` throw its pre-started reader away and start a second one.
_SET_BY_IMPORTS = frozenset({"_RJEM_MALLOC_CONF"})


def _env_key() -> tuple[tuple[str, str], ...]:
    # the crash hook travels with each request; every other variable is fixed at the reader's start
    return tuple(sorted((k, v) for k, v in os.environ.items() if k != CRASH_ENV and k not in _SET_BY_IMPORTS))


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class Reader:
    """One reader process and what the pool knows about it."""

    proc: subprocess.Popen[bytes]
    answers: IO[bytes]
    env_key: tuple[tuple[str, str], ...]
    jobs: int = 0
    buf: bytearray = field(default_factory=bytearray)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """End the reader by its own pid and reap it (never a broad kill)."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        with contextlib.suppress(OSError):
            self.answers.close()


class ReaderPool:
    """Hands requests to a reused reader process; thread-safe (one idle reader at most)."""

    def __init__(self, *, max_jobs: int = MAX_JOBS, max_idle_rss: int = MAX_IDLE_RSS) -> None:
        self.max_jobs = max_jobs
        self.max_idle_rss = max_idle_rss
        # the app keeps a fresh reader waiting after one is retired; a one-shot CLI does not
        self.keep_warm = False
        # a one-shot command (citybi ingest) reads one file: its reader is killed as soon as it has answered,
        # so the kernel frees its memory beside the command's write, and reaped when the pool closes
        self.one_shot = False
        self._retired: list[Reader] = []
        self._lock = threading.Lock()
        self._idle: Reader | None = None
        self._starting: Any = None  # a Future[Reader] started ahead of time
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citybi-reader-spawner")
        self._closed = False
        self.started = 0  # readers started, for tests and the bench

    # -- starting ------------------------------------------------------------------------

    def _spawn(self, memory_cap: int, hint: dict[str, Any] | None = None) -> Reader:
        env = {**os.environ, "PYTHONIOENCODING": "utf-8", PARENT_ENV: str(os.getpid())}
        env.pop(CRASH_ENV, None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "citybi.ingest.worker", "--serve", str(memory_cap),
             "all" if self.keep_warm else "common", *([json.dumps(hint, ensure_ascii=False)] if hint else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )
        assert proc.stdout is not None
        self.started += 1
        return Reader(proc=proc, answers=proc.stdout, env_key=_env_key())

    def _start(self, limits: Limits, hint: dict[str, Any] | None = None) -> Any:
        return self._spawner.submit(self._spawn, limits.reader_memory_bytes, hint)

    def prestart(self, limits: Limits | None = None, *, hint: dict[str, Any] | None = None) -> None:
        """Start a reader now, so the next request finds it ready (no-op when one waits).

        `hint`: the file the first request will be about (worker.early_hint), for a one-shot command
        that knows it: the reader starts the read that takes longest before it has loaded everything
        else. A hint is only ever a head start; the request still says what to do."""
        with self._lock:
            if self._closed or self._idle is not None or self._starting is not None:
                return
            self._starting = self._start(limits or Limits(), hint)

    def _take(self, limits: Limits) -> Reader:
        key = _env_key()
        future = None
        with self._lock:
            reader, self._idle = self._idle, None
            if reader is None:
                future, self._starting = self._starting, None
        if future is not None:  # waited for outside the lock: other sessions' requests go on meanwhile
            try:
                reader = future.result()
            except Exception:  # could not start it ahead of time: start one now, and say why if that fails
                reader = None
        if reader is not None and (not reader.alive() or reader.env_key != key):
            reader.stop()
            reader = None
        if reader is None:
            reader = self._start(limits).result()
        return reader

    def _give_back(self, reader: Reader, reusable: bool) -> None:
        if self.one_shot:
            with contextlib.suppress(ProcessLookupError):
                reader.proc.kill()  # tearing down ~300 MB took ~30 ms when the command waited for it at exit
            with self._lock:
                self._retired.append(reader)
            return
        keep = (reusable and reader.alive() and reader.jobs < self.max_jobs
                and _rss(reader.pid) <= self.max_idle_rss and reader.env_key == _env_key())
        with self._lock:
            if keep and self._idle is None and not self._closed:
                self._idle, reader = reader, None  # type: ignore[assignment]
        if reader is not None:
            reader.stop()
        if self.keep_warm:
            self.prestart()

    # -- one request ---------------------------------------------------------------------

    def run(self, request: dict[str, Any], limits: Limits, work_dir: Path) -> dict[str, Any]:
        """Send one request to a reader; its result, or ImportRejected in Chinese."""
        log_path = work_dir / f"reader-{os.getpid()}-{time.monotonic_ns()}.log"
        request = {**request, "limits": asdict(limits), "log_path": str(log_path),
                   "crash": os.environ.get(CRASH_ENV, "")}
        reader = self._take(limits)
        reader.jobs += 1
        reusable = False
        try:
            result = self._exchange(reader, request, limits, log_path)
            # a refusal in Chinese leaves a healthy reader; anything else may not. A reader that says
            # it retires (it left work running: worker.serve) is not handed the next request
            reusable = (bool(result.get("ok")) or "error" in result) and not result.get("retire")
        finally:
            self._give_back(reader, reusable)
            log_path.unlink(missing_ok=True)
        return _interpret(result)

    def _exchange(self, reader: Reader, request: dict[str, Any], limits: Limits, log_path: Path) -> dict[str, Any]:
        line = (json.dumps(request, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            assert reader.proc.stdin is not None
            reader.proc.stdin.write(line)
            reader.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the reader is gone: the read below sees the end and says why
        deadline = time.monotonic() + limits.reader_timeout_s
        raw = _read_line(reader, deadline)
        if raw is None:  # out of time: this reader goes, the next request gets a fresh one
            reader.stop()
            raise ImportRejected(TIMEOUT_MSG.format(s=limits.reader_timeout_s),
                                 detail=f"reader {reader.pid} killed after {limits.reader_timeout_s} s")
        if raw == b"":  # the reader died mid-request
            reader.stop()
            code = reader.proc.returncode
            tail = _tail(log_path)
            if code is not None and code < 0:
                sig = signal.Signals(-code).name if -code in signal.valid_signals() else "?"
                raise ImportRejected(CRASH_MSG, detail=f"reader died by signal {sig}; {tail}")
            disk = storage_error(OSError(tail), TEMP_ACTION)
            if disk is not None:
                raise disk
            raise ImportRejected(CRASH_MSG, detail=f"reader exit {code}, no result; {tail}")
        return json.loads(raw.decode("utf-8"))

    # -- shutting down -------------------------------------------------------------------

    def close(self) -> None:
        """Stop the idle reader (and one being started); later requests start their own."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, None
            starting, self._starting = self._starting, None
            retired, self._retired = self._retired, []
        for gone in retired:
            gone.stop()  # killed when it answered: reaped here
        if idle is not None:
            idle.stop()
        if starting is not None:
            with contextlib.suppress(Exception):
                starting.result().stop()

    def idle_pid(self) -> int | None:
        with self._lock:
            return self._idle.pid if self._idle is not None else None


def _read_line(reader: Reader, deadline: float) -> bytes | None:
    """The reader's next answer line; b"" when it ended first, None when time ran out."""
    fd = reader.answers.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            nl = reader.buf.find(b"\n")
            if nl >= 0:
                out = bytes(reader.buf[:nl])
                del reader.buf[: nl + 1]
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not sel.select(min(left, 1.0)):
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b""
            reader.buf += chunk


def _tail(log_path: Path) -> str:
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 2000))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _interpret(result: dict[str, Any]) -> dict[str, Any]:
    if result.get("ok"):
        return result
    if "error" in result:
        e = result["error"]
        raise ImportRejected(e.get("message", CRASH_MSG), hint=e.get("hint", ""), detail=e.get("detail", ""))
    if result.get("oom"):
        raise ImportRejected(CRASH_MSG, detail="MemoryError in reader")
    disk = storage_error(OSError(result.get("crash", "")), TEMP_ACTION)
    if disk is not None:  # the file is fine: the disk refused the frame
        raise disk
    raise ImportRejected(
        "读取文件时出现意外错误，文件可能已损坏。请在 Excel 中打开并另存为新文件后再上传。",
        detail=f"{result.get('crash', '')}\n{result.get('trace', '')}",
    )


_POOL: ReaderPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> ReaderPool:
    """This process's reader pool (made on first use; its readers stop when the process exits)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._closed:
            _POOL = ReaderPool()
            atexit.register(_POOL.close)
        return _POOL
