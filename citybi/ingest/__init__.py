"""Source-independent shaping of a raw sheet into a clean, typed table.

connectors/ read bytes into a RawSheet; this package finds the header block, joins merged
headers, pulls units out, drops totals/footers/blank rows, forward-fills group labels and
infers types from every cell. The result is an ImportPlan the user sees and can change
(ImportOptions) before anything is written.
"""
from __future__ import annotations
