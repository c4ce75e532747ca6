"""Registers the built-in file and source connectors, the same way a plug-in would."""
from __future__ import annotations

from connectors.base import register
from connectors.csv import CsvConnector
from connectors.excel import ExcelConnector
from connectors.http import HttpConnector
from connectors.mqtt import MqttConnector
from connectors.mysql import MySqlConnector
from connectors.postgresql import PostgresConnector
from connectors.source import register_source

register(ExcelConnector())
register(CsvConnector())

register_source(PostgresConnector())
register_source(MySqlConnector())
register_source(HttpConnector())
register_source(MqttConnector())
