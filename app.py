"""CityBI web app entry: page setup, navigation, first-start sample data.

Run with `make run` (or `citybi serve`). Every page is a thin script under pages/ that reads
widgets, makes one call into the `citybi` core and renders the result.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from citybi.ui.auth import gate, may, sidebar
from citybi.ui.locale import use_chinese_defaults
from citybi.ui.state import ensure_samples

use_chinese_defaults()  # Streamlit's and plotly's own words (placeholders, "None", toolbar) in Chinese

# a bundled PNG: a material/emoji page icon makes the browser fetch it from a CDN, which an intranet lacks
st.set_page_config(page_title="城市自助分析", page_icon=str(Path(__file__).parent / "citybi" / "ui" / "icon.png"),
                   layout="wide")

pages = {
    "数据": [
        st.Page("pages/import_data.py", title="数据导入", icon=":material/upload_file:", url_path="import"),
        (datasets := st.Page("pages/datasets.py", title="数据集", icon=":material/dataset:", url_path="datasets")),
        st.Page("pages/standards.py", title="数据标准", icon=":material/rule:", url_path="standards"),
        st.Page("pages/sources.py", title="数据源", icon=":material/sync:", url_path="sources"),
    ],
    "分析": [
        st.Page("pages/boards.py", title="看板", icon=":material/dashboard:", url_path="boards"),
        st.Page("pages/charts.py", title="图表", icon=":material/bar_chart:", url_path="charts"),
        st.Page("pages/ask.py", title="问数", icon=":material/forum:", url_path="ask"),
        st.Page("pages/map.py", title="全市一张图", icon=":material/map:", url_path="map"),
        st.Page("pages/sql.py", title="SQL 查询", icon=":material/terminal:", url_path="sql"),
        st.Page("pages/alerts.py", title="预警", icon=":material/notifications_active:", url_path="alerts"),
    ],
}
pages["管理"] = [
    st.Page("pages/account.py", title="账户", icon=":material/person:", url_path="account"),
    st.Page("pages/users.py", title="用户管理", icon=":material/group:", url_path="users"),
    st.Page("pages/audit_log.py", title="审计日志", icon=":material/history:", url_path="audit"),
    st.Page("pages/system.py", title="系统状态", icon=":material/monitor_heart:", url_path="system"),
]


def _front_door() -> None:
    st.switch_page(datasets)


# the default page is served at "/" only: were 数据集 the default, a shared link to /datasets
# would open on Streamlit's English "Page not found". A hidden front door sends "/" there instead.
pages["数据"].append(st.Page(_front_door, title="首页", url_path="home", default=True, visibility="hidden"))
# who is asking: the login form alone until someone signs in (open mode: the local operator)
ctx = gate(app_pages=pages)
# the navigation lists what the role may use; each page and the core check again
pages = {group: [p for p in group_pages if may(ctx, p.url_path)] for group, group_pages in pages.items()}
nav = st.navigation({group: group_pages for group, group_pages in pages.items() if group_pages})
sidebar(ctx)
ensure_samples()
nav.run()
