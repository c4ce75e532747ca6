"""Charts and KPI cards: typed specs compiled to sqlglot trees, cached results, renderers.

Import the pieces from their modules (spec, compile, kpi, render, runner, cache, types). The
one import here hands the chart-type registry to the spec (the spec validates a chart's type
and options through it but may not import it: the types import the spec). The registry loads
its built-in types, and with them plotly, only on the first lookup.
"""
from citybi.charts import types as _types  # noqa: F401  (registers the lookup with the spec)
