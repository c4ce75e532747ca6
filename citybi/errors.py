"""Errors that carry a message fit to show a city clerk.

Every failure a user can cause (a bad file, a question we cannot answer, a query that
would run too long) is raised as a `UserFacingError` whose `message` is plain Simplified
Chinese saying what is wrong and how to fix it. The UI and the CLI print `message` and
never a traceback; `detail` keeps the technical cause for logs.
"""
from __future__ import annotations


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
