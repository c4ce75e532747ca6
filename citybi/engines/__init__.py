"""Query engines: where a checked query runs — the embedded DuckDB file, or the database a live
dataset lives in (PostgreSQL), behind one small Protocol and one registry.

Why engines sit under the door and not beside it: every query CityBI runs is already a sqlglot
tree that Warehouse.run has checked (SELECT only, catalog datasets only, no table functions) and
narrowed by the caller's row rules. An engine is only told "run this accepted tree": it maps the
dataset names to its own tables, transpiles to its dialect (refusing in Chinese what has no
translation instead of returning other numbers) and enforces the time-out and the row cap on the
engine itself. Engines register themselves like connectors do (`register` in
citybi.engines.builtin, imported last here), so the registry never imports its plug-ins.
"""
from __future__ import annotations

from citybi.engines.base import (
    Engine,
    LiveTarget,
    engine_for,
    location,
    register,
    registered,
    to_dialect,
)

__all__ = ["Engine", "LiveTarget", "engine_for", "location", "register", "registered", "to_dialect"]

# Last, so that base is complete: the built-in engines register themselves on import.
import citybi.engines.builtin  # noqa: F401
