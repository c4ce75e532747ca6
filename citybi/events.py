""""A dataset just changed": a tiny listener registry that imports and refreshes announce to.

Why a registry and not a call: the import flow (citybi.importer), a data source's refresh
(citybi.refresh) and the app's inbox (citybi.inbox) sit below the alert checks in the layers,
and must not know about alerts, briefings or whatever else wants to react to new data. They
call `dataset_changed(db_path, dataset)` once a write has committed; whoever cares registers a
listener with `on_dataset_changed`. A listener runs in the writer's thread, so it must be quick
(the alert checks hand the work to the scheduler's threads), and its failure is logged, never
raised: a broken listener must not turn a committed import into an error.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

Listener = Callable[[str, str], None]  # (resolved warehouse path, dataset name)

_listeners: list[Listener] = []
_lock = threading.Lock()


def on_dataset_changed(fn: Listener) -> Callable[[], None]:
    """Register `fn(db_path, dataset)`; returns a function that removes it again."""
    with _lock:
        _listeners.append(fn)

    def remove() -> None:
        with _lock:
            if fn in _listeners:
                _listeners.remove(fn)

    return remove


def dataset_changed(db_path: str | Path, dataset: str) -> None:
    """Tell every listener that `dataset` of the warehouse at `db_path` has a new version."""
    with _lock:
        listeners = list(_listeners)
    path = str(Path(db_path).resolve())
    for fn in listeners:
        try:
            fn(path, dataset)
        except Exception:  # the write has committed; a listener's failure is its own business
            log.exception("dataset-changed listener failed for %s", dataset)
