"""Starts the Streamlit server for CityBI (what `citybi serve` and `make run` run).

Why not plain `streamlit run app.py`: Streamlit still treats a `pages/` folder next to the
entry script as a legacy (v1) multipage app until the entry script has called
st.navigation once in this process. Until then a deep link such as /boards?board=环卫运行
runs pages/boards.py on its own — without app.py's navigation, page config and
first-start data — e.g. after a server restart. Marking the app as st.navigation-based
before the first run makes every URL go through app.py.
"""
from __future__ import annotations

import logging
import sys

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli as streamlit_cli


def _open_warehouse_now() -> None:
    """Open the warehouse as the server starts, not when the first page is opened.

    Opening it starts the data-source schedule and the inbox worker (citybi/ui/state.py); before
    this, a server nobody had visited yet — e.g. restarted at night — refreshed no source. The
    cached resource is the one every session then gets.
    """
    try:
        from citybi.ui.state import get_warehouse

        get_warehouse()
    except Exception:  # the first page opens it again and shows the Chinese reason
        logging.getLogger(__name__).exception("warehouse not opened at server start")


def main(argv: list[str]) -> int:
    PagesManager.uses_pages_directory = False
    _open_warehouse_now()
    sys.argv = ["streamlit", "run", *argv]
    return int(streamlit_cli.main() or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
