"""`python -m citybi` runs the command line (same as the `citybi` script)."""
from __future__ import annotations

import sys

from citybi.cli import main

sys.exit(main())
