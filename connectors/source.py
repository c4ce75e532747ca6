"""The source-connector Protocol and registry: readers of things that are not files.

Why a sibling of `FileConnector` rather than the same Protocol: a department database, an
HTTP feed or an MQTT topic has no bytes on disk to sniff, no sheets and no header block to
find. Its rows arrive typed (or as records), it is reached by a URL, it may need a secret,
it remembers where the last run stopped (an ETag, a watermark), and a stream must be
acknowledged only after its rows are safely in the warehouse. So a source connector is:

    check(request)  -> refuse before connecting (a URL it cannot reach, a query that is not a
                       read-only SELECT); raises SourceRejected with a Chinese message
    test(request)   -> connect and say in one Chinese line what is there (测试连接)
    fetch(request)  -> a `Fetched`: rows as a polars frame (or a file for the file importer),
                       the state for the next run, readings that did not parse, and the
                       acknowledge/abandon pair the importer calls after (or instead of) the commit

The shaping and the write are not the connector's: `citybi.sources` hands every fetch to the
same catalog write as files (one transaction, versions, provenance, append by key). Built-in
source connectors register in `connectors.builtin` exactly as a plug-in would, by URL scheme.
Driver libraries are imported inside the methods, so importing the registry stays cheap.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from citybi.errors import UserFacingError
from citybi.secrets import Secret

if TYPE_CHECKING:  # polars loads where a frame is made: see connectors/__init__.py
    import polars as pl


class SourceRejected(UserFacingError):
    """A source that cannot be read: bad URL, wrong password, not a SELECT, feed down, garbage."""


@dataclass(frozen=True)
class SourceRequest:
    """What to read, as the user said it (CLI flags, a source definition)."""

    url: str  # never with a password in it (refused by check_url)
    query: str | None = None  # databases: a read-only SELECT …
    table: str | None = None  # … else this table, when the URL has no ?table= (the CLI passes the dataset name)
    record_path: str | None = None  # JSON feeds: where the records sit ("data.records")
    max_messages: int | None = None  # MQTT: stop after this many messages …
    seconds: float | None = None  # … or after this many seconds
    secret: Secret | None = None  # password / token, resolved from its name by citybi.secrets
    headers: tuple[tuple[str, str], ...] = ()  # HTTP: extra request headers (no secrets here)
    state: dict[str, Any] = field(default_factory=dict)  # what the previous run of this source left
    timeout_s: float = 30.0
    client_id: str | None = None  # MQTT: a stable id, so the broker keeps QoS 1 messages between runs
    # databases: an updated-at (or ever-growing id) column; only rows after the previous run's
    # maximum, kept in `state` as "watermark", are read (connectors/sql.py with_watermark)
    watermark: str | None = None
    # a look at the first rows before importing (数据源 page): databases read only PREVIEW_ROWS rows,
    # a stream's broker session ends with the look, and nothing is acknowledged or kept
    preview: bool = False


PREVIEW_ROWS = 50


@dataclass
class Quarantined:
    """A reading that did not parse: kept with the reason, never dropped silently."""

    payload: bytes
    reason: str  # Chinese
    where: str = ""  # topic or record position


@dataclass
class Fetched:
    """One fetch of a source, handed to the importer.

    Exactly one of `frame` / `file` is set, or neither when there is nothing new (HTTP 304,
    no messages): the importer then writes no version. `acknowledge` runs after the commit,
    `abandon` instead of it (a failed write): a stream re-delivers what was not acknowledged.
    """

    described: str  # provenance: where the rows came from, passwords removed
    frame: pl.DataFrame | None = None
    file: Path | None = None  # a CSV feed: imported by the file importer exactly like an upload
    file_name: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    key_columns: list[str] = field(default_factory=list)  # what identifies a row (MQTT: device + time)
    column_types: dict[str, str] = field(default_factory=dict)  # logical types the connector knows
    infer_types: bool = False  # text values (a JSON feed's) are typed like an uploaded file's cells
    quarantine: list[Quarantined] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # Chinese remarks for the result
    received: int = 0  # records/messages seen (rows + quarantined + duplicates)
    acknowledge: Callable[[], None] = lambda: None
    abandon: Callable[[], None] = lambda: None
    # a stream's next micro-batch (asked for after this one is committed and acknowledged), or None
    next_batch: Callable[[], Fetched | None] | None = None


@runtime_checkable
class SourceConnector(Protocol):
    """A reader of one kind of source, reached by URL scheme (see the module docstring)."""

    name: str  # registry key
    label: str  # how the user calls it in messages: "PostgreSQL", "HTTP 数据接口"
    schemes: tuple[str, ...]  # URL schemes it answers, lower case: ("postgresql", "postgres")

    def check(self, request: SourceRequest) -> None:
        """Refuse a request before any connection is made; raises SourceRejected."""
        ...

    def test(self, request: SourceRequest) -> str:
        """Connect, look, and say in one Chinese sentence what was found; raises SourceRejected."""
        ...

    def fetch(self, request: SourceRequest) -> Fetched:
        """Read the rows; raises SourceRejected with a message that names the cause."""
        ...


_SOURCES: dict[str, SourceConnector] = {}


def register_source(connector: SourceConnector) -> SourceConnector:
    """Add a source connector; a later one under the same name replaces the earlier one."""
    _SOURCES[connector.name] = connector
    return connector


def unregister_source(name: str) -> SourceConnector | None:
    return _SOURCES.pop(name, None)


def registered_sources() -> dict[str, SourceConnector]:
    # the built-ins registered when the connectors package was imported (connectors/__init__.py)
    return dict(_SOURCES)


def source_for(url: str) -> SourceConnector:
    """The connector for a URL's scheme, or a Chinese refusal naming the schemes there are."""
    scheme = urlsplit(url).scheme.lower()
    conns = list(registered_sources().values())
    for c in conns:
        if scheme in c.schemes:
            return c
    known = "、".join(f"{s}://" for c in conns for s in c.schemes[:1])
    raise SourceRejected(
        f"不认识数据源地址「{redacted_url(url)[:120]}」的类型。",
        hint=f"地址应以 {known} 开头，例如 postgresql://用户@主机:5432/数据库",
    )


def column_names(names: list[str]) -> list[str]:
    """Blank names become 列1, 列2…; a repeated name gets _2, _3 (a query may return both `id`s).

    Shared by the connectors (a frame cannot hold two columns of one name) and citybi.sources."""
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(names):
        base = str(raw).strip() or f"列{i + 1}"
        name, n = base, 1
        while name.lower() in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name.lower())
        out.append(name)
    return out


def check_url(url: str) -> None:
    """A password never goes into a URL (shell history, process lists, YAML): refused."""
    parts = urlsplit(url)
    if parts.password is not None:
        raise SourceRejected(
            "数据源地址里不能写密码（会留在命令历史和配置文件里）。",
            hint="请去掉地址中的「:密码」，用 citybi secrets set 名称 保存密码，再用 --secret 名称 引用",
        )


def redacted_url(url: str) -> str:
    """The URL as it may be shown and stored: any password replaced by ******."""
    from citybi.secrets import redact

    return redact(url)
