"""The engines that ship with CityBI, registered exactly as a plug-in would register its own."""
from __future__ import annotations

from citybi.engines.base import register
from citybi.engines.postgres import PostgresEngine
from citybi.engines.spark import SparkEngine

register(("postgresql", "postgres"), PostgresEngine)
register(("spark", "sc"), SparkEngine)
