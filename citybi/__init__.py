"""CityBI core: everything the app does, without Streamlit.

The pages, the `citybi` command line and the tests all call into this package, so a
behaviour exists once and is testable without a browser. Nothing here may import
streamlit (checked by tests/test_import_hygiene.py); only `citybi.ui` may.
"""
from __future__ import annotations

__version__ = "0.1.0"
