"""Errors that carry a message fit to show a city clerk.

Every failure a user can cause (a bad file, a question we cannot answer, a query that
would run too long) is raised as a `UserFacingError` whose `message` is plain Simplified
Chinese saying what is wrong and how to fix it. The UI and the CLI print `message` and
never a traceback; `detail` keeps the technical cause for logs.
"""
from __future__ import annotations

import errno


class UserFacingError(Exception):
    """An error whose `message` is written for the user (Chinese), with an optional `hint`."""

    def __init__(self, message: str, *, hint: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail

    def __str__(self) -> str:
        return self.message + (f"（{self.hint}）" if self.hint else "")


class ImportRejected(UserFacingError):
    """A file that cannot be imported: corrupt, hostile, too large, empty, encrypted."""


class QueryRejected(UserFacingError):
    """A query the query layer refuses to run (not a SELECT, unknown table, too slow)."""


class WarehouseBusy(UserFacingError):
    """The warehouse file is held by another process (DuckDB allows one writer process)."""


class NotFound(UserFacingError):
    """A dataset, version or recipe that does not exist."""


class StorageError(UserFacingError):
    """The disk refused: full, read-only, no permission, over a size limit. The message keeps the cause."""


# (errno, the system's own words, what it means, what to do). The system's words are matched in
# the text too: DuckDB reports them inside its own messages, not as OSError.
_STORAGE_CAUSES: tuple[tuple[int, str, str, str], ...] = (
    (errno.ENOSPC, "No space left on device", "磁盘空间已满",
     "请清理磁盘空间（或把数据放到空间更大的磁盘上）后重试"),
    (getattr(errno, "EDQUOT", -1), "Disk quota exceeded", "磁盘配额已用完", "请清理文件或请管理员提高配额后重试"),
    (errno.EFBIG, "File too large", "文件大小超过了系统允许的上限",
     "请管理员检查系统对单个文件大小的限制（ulimit -f）"),
    (errno.EROFS, "Read-only file system", "所在的磁盘是只读的",
     "请把数据文件夹放到可写的磁盘上，或请管理员取消只读后重试"),
    (errno.EACCES, "Permission denied", "没有读写权限", "请管理员给运行 CityBI 的账户开通该文件夹的读写权限"),
    (errno.EPERM, "Operation not permitted", "操作系统不允许这个操作", "请管理员检查该文件夹的权限"),
    (errno.EIO, "Input/output error", "磁盘读写出错", "磁盘可能有故障，请联系管理员"),
)


def storage_error(err: BaseException, action: str, *, outcome: str = "") -> StorageError | None:
    """A Chinese StorageError when `err` (or what it hides) is the disk refusing, else None.

    `action` says what was being done ("写入数据仓库"), `outcome` what that means for the data.
    The whole chain is searched: DuckDB reports a failed write and then, for the next statement
    of the same transaction, "Current transaction is aborted", which hides the cause.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = current.errno if isinstance(current, OSError) else None
        text = str(current)
        for number, words, meaning, hint in _STORAGE_CAUSES:
            if code == number or words in text:
                return StorageError(f"{action}失败：{meaning}（系统原因：{words}）。{outcome}",
                                    hint=hint, detail=text[:2000])
        current = current.__cause__ or current.__context__
    return None
