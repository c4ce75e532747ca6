"""The file-connector Protocol, the raw-sheet model and the registry.

Why a RawSheet has both `top` and `load_body`: the header block is found by looking at a
few dozen rows as Python values, but the body of a 200,000-row sheet must stay columnar
(Arrow/polars) to import within 2x of raw reading speed. So a connector hands over the
first rows eagerly and the rest lazily, aligned to sheet row numbers.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl

from citybi.config import Limits

# How many leading rows a connector hands over as Python values for header detection.
TOP_ROWS = 60


@dataclass(frozen=True)
class MergedRange:
    """A merged block of cells, 0-based inclusive sheet coordinates."""

    first_row: int
    first_col: int
    last_row: int
    last_col: int

    def contains(self, row: int, col: int) -> bool:
        return self.first_row <= row <= self.last_row and self.first_col <= col <= self.last_col


@dataclass(frozen=True)
class SheetInfo:
    """One sheet of a workbook as listed before parsing (a CSV is one sheet named after the file)."""

    name: str
    index: int
    n_rows: int  # best known count (declared dimension or counted); 0 = empty
    n_cols: int
    empty: bool
    visible: bool = True


@dataclass
class RawSheet:
    """A sheet's raw cells, before any shaping.

    `top[i]` is sheet row i (0-based), padded with None to `n_cols`; values are str, int,
    float, bool, datetime.date/datetime or None. `load_body(start)` returns sheet rows
    start..end as a polars frame with columns c0..c{n_cols-1}, row k = sheet row start+k;
    a column keeps a native numeric/temporal dtype when every cell in it has that type,
    otherwise it is String holding each cell's exact text (numbers never truncated).
    """

    name: str
    top: list[list[Any]]
    n_rows: int
    n_cols: int
    merged: list[MergedRange]
    load_body: Callable[[int], pl.DataFrame]
    meta: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class FileConnector(Protocol):
    """A reader of one family of files (Excel, CSV, …)."""

    name: str
    extensions: tuple[str, ...]

    def sniff(self, head: bytes, path: Path) -> bool:
        """True when the first bytes of the file say it is this connector's format."""
        ...

    def check(self, path: Path, limits: Limits) -> None:
        """Cheap hostile-file checks before parsing; raises citybi.errors.ImportRejected."""
        ...

    def sheets(self, path: Path, limits: Limits) -> list[SheetInfo]:
        """Every sheet, empty ones included (marked empty)."""
        ...

    def read(self, path: Path, sheet: str | None, limits: Limits) -> RawSheet:
        """Read one sheet (None = the first non-empty one)."""
        ...


_REGISTRY: dict[str, FileConnector] = {}


def register(connector: FileConnector) -> FileConnector:
    """Add a connector; a later registration under the same name replaces the earlier one."""
    _REGISTRY[connector.name] = connector
    return connector


def registered() -> dict[str, FileConnector]:
    import connectors.builtin  # noqa: F401  (built-ins register on import)

    return dict(_REGISTRY)


def connector_for(path: Path) -> FileConnector | None:
    """The connector whose magic bytes match the file; extension alone is not trusted."""
    conns = registered()
    with open(path, "rb") as fh:
        head = fh.read(8192)
    for c in conns.values():
        if c.sniff(head, path):
            return c
    return None
