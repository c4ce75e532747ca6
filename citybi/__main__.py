"""`python -m citybi` runs the command line (same as the `citybi` script)."""
from __future__ import annotations

from citybi.cli import run

run()
