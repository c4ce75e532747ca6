"""预警与推送: alert rules on saved charts and KPI cards, checked on the one scheduler and after
every import, delivered to the messaging tools Chinese offices use.

Why a package of its own: rules (YAML, like boards), their evaluation over charts and KPI cards,
the no-storm state machine, the firing history and the delivery channels change together and
sit above the charts, boards and the Excel export they build on (pyproject.toml's layers).

- rules.py     the rule and channel definitions (strict YAML in `<db>.alerts/`)
- evaluate.py  a rule → one reading per group (value, 同比/环比, target, history) → holds or not
- state.py     per (rule, group): fire once, clear, repeat at most every N, quiet hours (pure)
- history.py   firings and state in the catalog (`_citybi.alert_firings`, `_citybi.alert_state`)
- channels/    企业微信, 钉钉, 飞书, e-mail, JSON webhook: one module each behind a Protocol
- service.py   checks on the scheduler and after a dataset changes; delivery and held messages
- command.py   `citybi alerts list|check|history`
"""
from __future__ import annotations
