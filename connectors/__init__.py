"""Readers of sources: one file per kind of source, one small Protocol, one registry.

A file connector turns bytes on disk into a `RawSheet`: raw cells and merged ranges, with
no opinion about where the header is or what the types are — that shaping is done once,
for every source, by `citybi.ingest`. Built-in connectors register themselves exactly as
a plug-in would (`register(...)` in `connectors.builtin`, which this package imports on
load — so the registries never import their own plug-ins and no import cycle exists). Each connector
also judges its own files (`FileConnector.check`): `citybi.ingest.guard` keeps only the
checks that hold for every file, and this package never imports `citybi.ingest`.

No connector module imports polars when it loads, only the functions that make a frame do: the
import reader, told a big .xlsx at start, reads its first rows and starts fastexcel's body read
before polars' 0.15–0.3 s of imports, which then run beside that read (citybi.ingest.worker).
"""
from __future__ import annotations

from connectors.base import (
    FileConnector,
    MergedRange,
    RawSheet,
    SheetInfo,
    connector_for,
    register,
    registered,
    unregister,
)

__all__ = [
    "FileConnector", "MergedRange", "RawSheet", "SheetInfo", "connector_for", "register", "registered", "unregister",
]

# Last, so that every module above is complete: the built-ins register themselves on import.
import connectors.builtin  # noqa: F401
