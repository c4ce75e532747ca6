"""CityBI's temporary files: one root folder, one sub-folder per process, stale ones swept at start.

Why: an import is a big Arrow frame on disk (tens of MB) between the reader child and the
commit. A process killed half-way (SIGKILL, out of memory, power cut) never runs its cleanup,
and its frames used to stay in the temp folder for ever. So every temporary folder lives under
`<tmp>/citybi-<uid>/<pid>-<start time>/`: a process removes its own folder when it exits, and
each start of the app or the command line removes the folders of processes that are gone.

A folder is only removed when its name says which process made it and that process no longer
runs — the start time tells a reused pid from the owner — so a live process's files and anything
not made by this scheme are never touched.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import stat
import tempfile
import threading
from pathlib import Path

_NAME = re.compile(r"(\d+)-(\d+)")
_lock = threading.Lock()
# folders this process made, by pid: a forked child must neither reuse nor remove its parent's
_own: dict[int, list[Path]] = {}


def _start_time(pid: int) -> int | None:
    """When a process started (clock ticks after boot, Linux), or None when unknown or gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    try:
        # after "pid (comm)": state is field 3 of stat(5), starttime field 22
        return int(fields[19]) if fields[0] != "Z" else None
    except (IndexError, ValueError):
        return None


def _alive(pid: int, start: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # somebody else's live process
    now = _start_time(pid)
    if now is None:
        # a zombie, or no /proc: with /proc a zombie is dead; without it trust the signal check
        return not Path("/proc/self/stat").exists()
    return start == 0 or now == start


def root() -> Path:
    """The per-user root of CityBI's temporary folders (private: 0700, ours, not a link)."""
    uid = os.geteuid() if hasattr(os, "geteuid") else 0
    base = Path(tempfile.gettempdir()) / f"citybi-{uid}"
    base.mkdir(mode=0o700, exist_ok=True)
    st = os.lstat(base)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or (hasattr(os, "geteuid") and st.st_uid != uid):
        # planted by someone else in a shared /tmp: do not use it, and do not sweep it
        raise PermissionError(f"temporary root {base} is not a private folder of this user")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(base, 0o700)
    return base


def process_dir() -> Path:
    """This process's own temporary folder (made on first use, removed at exit)."""
    pid = os.getpid()
    with _lock:
        mine = _own.get(pid)
        try:
            # looked up each time: the temp folder (TMPDIR) may change while the process runs
            folder = root() / f"{pid}-{_start_time(pid) or 0}"
        except PermissionError:
            if mine:
                return mine[-1]
            folder = Path(tempfile.mkdtemp(prefix="citybi-"))  # private, removed at exit, never swept
        folder.mkdir(mode=0o700, exist_ok=True)
        if mine is None:
            mine = _own[pid] = []
            atexit.register(_remove_own, pid)
        if folder not in mine:
            mine.append(folder)
        return folder


def make_dir(prefix: str) -> Path:
    """A new private folder for one job (an upload, a sheet list, an import frame)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=process_dir()))


def _remove_own(pid: int) -> None:
    if pid != os.getpid():
        return
    for folder in _own.get(pid, []):
        shutil.rmtree(folder, ignore_errors=True)


def sweep() -> list[Path]:
    """Remove the temporary folders of CityBI processes that no longer run; returns what was removed."""
    try:
        base = root()
    except OSError:
        return []
    removed: list[Path] = []
    for entry in sorted(base.iterdir()):
        m = _NAME.fullmatch(entry.name)
        if m is None or entry.is_symlink() or not entry.is_dir():
            continue  # not made by this scheme: leave it alone
        if _alive(int(m.group(1)), int(m.group(2))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed


def startup() -> None:
    """What the app and the command line run when they start: sweep, never fail the start."""
    with contextlib.suppress(OSError):
        sweep()


def replace_text(path: Path, text: str, *, prefix: str = ".tmp-", suffix: str = ".part") -> Path:
    """Write `text` to a file beside `path`, then rename it over `path`.

    A reader never sees half a file (a half-written board or recipe would not load), and a
    symlink planted at `path` is replaced rather than written through. On any failure the
    partial file is removed and `path` is left as it was.
    """
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
