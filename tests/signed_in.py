"""A page as a real signed-in user, for AppTest: an account of that role and scope is made in the
warehouse the test app uses (CITYBI_DB), and its token put in the session — what the login gate reads.
Shared by the page tests that check what a scoped caller sees.
"""
from __future__ import annotations

import os

from streamlit.testing.v1 import AppTest

from citybi.accounts import Accounts
from citybi.catalog import open_warehouse

PW = "Harbor#2026x"


def signed_in(page: str, role: str, department: str, districts: tuple[str, ...] | None) -> AppTest:
    """`page` as the user of `role` in `department`, limited to `districts` (None: the whole department)."""
    acc = Accounts(open_warehouse(path=os.environ["CITYBI_DB"]))
    name = f"u_{role}_{department}_{'-'.join(districts or ())}"
    if acc.find(name) is None:
        acc.add(name, role, PW, department=department, districts=list(districts) if districts else None)
    at = AppTest.from_file(page, default_timeout=60)
    at.session_state["_citybi_token"] = acc.login(name, PW).token
    return at
