"""Charts and KPI cards: typed specs compiled to sqlglot trees, cached results, renderers.

Import the pieces from their modules (spec, compile, kpi, render, runner, cache, types);
this package file stays empty so importing `citybi.charts.spec` does not pull in plotly.
"""
