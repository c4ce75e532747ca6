"""Registers the built-in file connectors, the same way a plug-in would."""
from __future__ import annotations

from connectors.base import register
from connectors.csv import CsvConnector
from connectors.excel import ExcelConnector

register(ExcelConnector())
register(CsvConnector())
