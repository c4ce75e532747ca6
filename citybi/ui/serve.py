"""Starts the Streamlit server for CityBI (what `citybi serve` and `make run` run).

Why not plain `streamlit run app.py`: Streamlit still treats a `pages/` folder next to the
entry script as a legacy (v1) multipage app until the entry script has called
st.navigation once in this process. Until then a deep link such as /boards?board=环卫运行
runs pages/boards.py on its own — without app.py's navigation, page config and
first-start data — e.g. after a server restart. Marking the app as st.navigation-based
before the first run makes every URL go through app.py.
"""
from __future__ import annotations

import sys

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli as streamlit_cli


def main(argv: list[str]) -> int:
    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", *argv]
    return int(streamlit_cli.main() or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
