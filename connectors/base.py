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
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from citybi.config import Limits

if TYPE_CHECKING:  # polars loads where a frame is made: see connectors/__init__.py
    import polars as pl

# How many leading rows a connector hands over as Python values for header detection.
TOP_ROWS = 60
# How many leading bytes `sniff` sees.
SNIFF_BYTES = 8192
_MB = 1024 * 1024


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
    """A reader of one family of files (Excel, CSV, …) and the judge of its own files.

    Why the connector judges: only it knows what a hostile or broken file of its format
    looks like (a zip bomb, a cell at XFD1048576, an encrypted workbook), and a new
    connector must bring its checks along without touching `citybi.ingest`. The guard
    (`citybi.ingest.guard.admit`) keeps only what holds for every file, in this order:

    1. the file exists, is not empty, and is not larger than the largest `max_bytes` of
       any registered connector (so nothing is sniffed in a huge file);
    2. `connector_for(path)`: the first connector whose `sniff` claims the first 8 KB;
       no claim → refused, naming every registered `label`;
    3. `check(path, limits)`: everything specific to the format, its own size limit
       included (with its own hint, and after refusals that say more, e.g. encrypted);
    4. `max_bytes` again, so a `check` that forgets the size limit still never lets a
       larger file reach `sheets`/`read`.

    `sheets` and `read` run only on files that passed, in the memory-capped reader
    process (`citybi.ingest.worker`). Every refusal is a `citybi.errors.ImportRejected`
    with a Chinese message saying what is wrong and how to fix it.
    """

    name: str  # registry key; registering the same name again replaces the connector
    label: str  # how the user calls the format, in messages: "Excel", "CSV"
    extensions: tuple[str, ...]  # lower case with the dot; asked first for files named so

    def sniff(self, head: bytes, path: Path) -> bool:
        """True when the first bytes say the file is — or pretends to be — this format.

        Claim the broken and disguised files of the format too (a zip that cannot be
        opened, an encrypted workbook, a web page saved as .xls), so that `check` refuses
        them with the precise message. Never claim on the extension alone.
        """
        ...

    def max_bytes(self, limits: Limits) -> int:
        """The largest file this connector accepts; read from `limits` where it has a field."""
        ...

    def check(self, path: Path, limits: Limits) -> str:
        """Refuse a claimed file that must not reach the parser; return its kind.

        Cheap: reads headers, directories and bounded streams, never the whole content
        into memory. Raises citybi.errors.ImportRejected. The kind ("xlsx", "xls", "csv",
        …) is recorded as the import plan's `file_kind`.
        """
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


def unregister(name: str) -> FileConnector | None:
    """Remove a connector (a plug-in being unloaded, a test cleaning up); the removed one or None."""
    return _REGISTRY.pop(name, None)


def registered() -> dict[str, FileConnector]:
    # the built-ins registered when the connectors package was imported (connectors/__init__.py)
    return dict(_REGISTRY)


def connector_for(path: Path) -> FileConnector | None:
    """The connector whose magic bytes match the file; extension alone is not trusted.

    Connectors that list the file's extension are asked first: a catch-all sniff (CSV takes
    any text) must not shadow a more specific format (JSON lines, say) named by its file.
    """
    conns = list(registered().values())
    suffix = path.suffix.lower()
    conns.sort(key=lambda c: suffix not in c.extensions)  # stable: registration order otherwise
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    for c in conns:
        if c.sniff(head, path):
            return c
    return None


def size_text(n: int) -> str:
    """A byte count for messages: "800 字节", "12 KB", "1.5 MB" under 10 MB, "50 MB" above."""
    if n < 1024:
        return f"{n} 字节"
    if n < _MB:
        return f"{n / 1024:.0f} KB"
    return f"{n / _MB:.1f} MB" if n < 10 * _MB else f"{n / _MB:.0f} MB"
