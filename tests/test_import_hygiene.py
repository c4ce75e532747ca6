"""The core must work without Streamlit: the CLI and tests import it in plain Python."""
from __future__ import annotations

import subprocess
import sys

import pytest

CORE_MODULES = [
    "citybi", "citybi.cli", "citybi.warehouse", "citybi.catalog", "citybi.importer",
    "citybi.ingest.model", "citybi.ingest.shape", "citybi.ingest.pipeline", "citybi.samples",
    "citybi.nlq", "citybi.nlq.to_chart", "citybi.nlq.present", "citybi.inbox", "citybi.boards", "citybi.export",
    "citybi.charts.runner", "citybi.charts.types", "citybi.charts.geo", "citybi.charts.profile",
    "connectors", "connectors.builtin",
]


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_does_not_import_streamlit(module: str) -> None:
    code = f"import sys, importlib; importlib.import_module({module!r}); print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"{module} pulled in streamlit"
