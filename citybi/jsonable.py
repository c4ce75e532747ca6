"""Values as JSON can carry them: dates as ISO text, decimals as numbers, NaN/inf as null.

Why one function: the CLI's --json output, the 问数 answer and the inbox results all hand
query results and specs to JSON; two copies of this had already drifted (one turned a
midnight timestamp into a date, the other did not).
"""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any


def json_safe(v: Any) -> Any:
    """`v` with everything json.dumps cannot take (or would write as NaN) turned into plain values.

    A timestamp at midnight is a date (query results type dates as timestamps often)."""
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ") if v.time() != dt.time() else v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)
