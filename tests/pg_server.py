"""The machine's PostgreSQL (127.0.0.1:5432, database test) for the tests that put tables on it: one
connect-or-skip (CI turns a skip into a failure, so a server that is down is reported, not hidden)."""
from __future__ import annotations

from typing import Any

import psycopg
import pytest


def pg_connect() -> Any:
    """An autocommit connection to the test database, or a skip saying why there is none."""
    try:
        return psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user="postgres", autocommit=True,
                               connect_timeout=3)
    except psycopg.Error as err:
        pytest.skip(f"PostgreSQL not reachable: {err}")
