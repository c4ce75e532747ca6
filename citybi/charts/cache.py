"""A small in-process LRU of aggregated chart results, keyed so it can never serve stale data.

Why not st.cache_data: it pickles and unpickles every hit (2.4 s for a 2M-row frame here),
and it knows nothing about our data versions. Chart results are small aggregates, so a
plain dict of polars frames (immutable, shared without copying) answers a warm board in
microseconds.

Key and validity: the key is (warehouse file, caller's scope, SQL text, parameters, row cap):
the door narrows a query to the caller's rows (citybi.rowrules), so the same SQL text answers
differently per scope and one user's entry must never answer another scope's question. Relative
dates are resolved into the SQL before keying, so "本月" tomorrow is a different entry.
Each entry remembers the warehouse generation it was made at and the catalog version of
every dataset its query reads. Same generation → hit with no database work. A different
generation (something was written) → one small catalog lookup per generation; the entry
survives only if its own datasets' versions are unchanged, so importing 12345 data does
not throw away the 环卫 board. Entries larger than `max_entry_rows` are not kept: cache
aggregates, never whole tables.

A result that came from another engine (a live dataset, citybi.engines) changes without any
write to the warehouse, so it is kept for at most LIVE_TTL_S seconds.

Assumes one Warehouse per process per file (as warehouse.py asks): writes made through a
second Warehouse object on the same file bump only that object's generation.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from citybi.catalog import Catalog
from citybi.warehouse import QueryResult

if TYPE_CHECKING:
    from citybi.schema import DatasetInfo
    from citybi.warehouse import Warehouse

Key = tuple[str, str, str, tuple[Any, ...], int | None]
LIVE_TTL_S = 60.0  # how long a live dataset's result may answer again (its rows change outside the warehouse)


@dataclass
class _Entry:
    result: QueryResult
    wh_id: int
    generation: int
    versions: dict[str, int | None]
    cells: int
    made_at: float = 0.0


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    entries: int
    cells: int


def result_engine(result: QueryResult) -> str:
    """Which engine answered (QueryResult.engine; "duckdb" for results made before engines existed)."""
    return getattr(result, "engine", "duckdb")


def datasets_read(tree: exp.Expression) -> frozenset[str]:
    """Lower-cased names of the tables a query reads (CTE names included; they map to nothing)."""
    return frozenset(t.name.lower() for t in tree.find_all(exp.Table))


class ResultCache:
    """Bounded LRU of QueryResults; safe to share between threads (one per process)."""

    def __init__(self, max_entries: int = 512, max_cells: int = 20_000_000, max_entry_rows: int = 100_000) -> None:
        self.max_entries = max_entries
        self.max_cells = max_cells
        self.max_entry_rows = max_entry_rows
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._cells = 0
        self._lock = threading.Lock()
        self._versions: tuple[int, int, dict[str, int]] | None = None  # (wh id, generation, name → version)
        self._infos: dict[tuple[int, int, str], DatasetInfo] = {}
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ versions
    def _dataset_versions(self, wh: Warehouse) -> dict[str, int]:
        gen = wh.generation
        cached = self._versions
        if cached and cached[0] == id(wh) and cached[1] == gen:
            return cached[2]
        versions = Catalog(wh).current_versions()
        self._versions = (id(wh), gen, versions)
        return versions

    def dataset_info(self, wh: Warehouse, name: str) -> DatasetInfo:
        """Catalog(wh).get(name), remembered per warehouse generation (a board asks 8 times)."""
        key = (id(wh), wh.generation, name)
        info = self._infos.get(key)
        if info is None:
            info = Catalog(wh).get(name)
            with self._lock:
                if len(self._infos) > 256:
                    self._infos.clear()
                self._infos[key] = info
        return info

    # ------------------------------------------------------------------ lookups
    @staticmethod
    def key(wh: Warehouse, sql: str, params: list[Any] | None, max_rows: int | None) -> Key:
        # wh.caller() is the context the door will run as (it refuses here when the app lost it)
        return (str(wh.path), wh.caller().scope_key(), sql, tuple(params or ()), max_rows)

    def get(self, wh: Warehouse, key: Key) -> QueryResult | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        if result_engine(entry.result) != "duckdb" and time.monotonic() - entry.made_at > LIVE_TTL_S:
            return None
        if entry.wh_id != id(wh) or entry.generation != wh.generation:
            gen = wh.generation
            now = self._dataset_versions(wh)
            if any(now.get(name) != version for name, version in entry.versions.items()):
                with self._lock:
                    if self._entries.get(key) is entry:
                        del self._entries[key]
                        self._cells -= entry.cells
                return None
            entry.wh_id, entry.generation = id(wh), gen
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
        return entry.result

    def put(self, wh: Warehouse, key: Key, result: QueryResult, *, generation: int,
            versions: dict[str, int | None]) -> None:
        frame = result.frame
        if frame.height > self.max_entry_rows:
            return
        cells = max(1, frame.height * max(1, frame.width))
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._cells -= old.cells
            self._entries[key] = _Entry(result, id(wh), generation, versions, cells, time.monotonic())
            self._cells += cells
            while self._entries and (len(self._entries) > self.max_entries or self._cells > self.max_cells):
                _k, evicted = self._entries.popitem(last=False)
                self._cells -= evicted.cells

    def run(self, wh: Warehouse, tree: exp.Expression, *, sql: str | None = None, params: list[Any] | None = None,
            max_rows: int | None = None, timeout_s: float | None = None) -> tuple[QueryResult, bool]:
        """`Warehouse.run` through the cache: (result, True if it came from the cache).

        `sql` may pass the tree's DuckDB text when the caller already has it (saves printing).
        """
        key = self.key(wh, sql if sql is not None else tree.sql(dialect="duckdb"), params, max_rows)
        hit = self.get(wh, key)
        if hit is not None:
            with self._lock:
                self.hits += 1
            return hit, True
        # versions are read BEFORE the query: a write during it makes the entry look older, never newer
        generation = wh.generation
        known = self._dataset_versions(wh)
        versions = {name: known.get(name) for name in datasets_read(tree)}
        result = wh.run(tree, params=params, max_rows=max_rows, timeout_s=timeout_s)
        with self._lock:
            self.misses += 1
        self.put(wh, key, result, generation=generation, versions=versions)
        return result, False

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._cells = 0
            self._infos.clear()
            self._versions = None

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.hits, self.misses, len(self._entries), self._cells)


_DEFAULT: ResultCache | None = None
_DEFAULT_LOCK = threading.Lock()


def default_cache() -> ResultCache:
    """The process-wide cache (the app keeps it alive; tests make their own)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = ResultCache()
        return _DEFAULT
