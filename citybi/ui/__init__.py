"""The only part of CityBI allowed to import streamlit: cached resources and shared widgets.

Pages stay thin (read widgets, one core call, render); what several pages need — the
shared warehouse, the error box, the first-start sample loading — lives here once.
"""
from __future__ import annotations
