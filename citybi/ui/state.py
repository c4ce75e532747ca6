"""Process-wide resources for the Streamlit app, and the one way pages show errors."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TypeVar

import polars as pl
import streamlit as st

from citybi import audit, tempfiles
from citybi.alerts.service import AlertService, start_app_alerts
from citybi.catalog import Catalog, open_warehouse
from citybi.config import load_settings
from citybi.context import SYSTEM, effective, use
from citybi.errors import UserFacingError
from citybi.export import csv_file_name, frame_csv
from citybi.inbox import start_worker
from citybi.lineage import refuse_breaking_source_replace
from citybi.refresh import SourceSchedule, guard_replaces, start_app_schedule
from citybi.usertext import md
from citybi.warehouse import Warehouse

T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def _warehouse_for(db_path: str) -> Warehouse:
    # app start: remove what killed CityBI processes left in the temp folder (citybi.tempfiles)
    tempfiles.startup()
    from citybi.ui.admin import error_buffer

    error_buffer()  # 系统状态 lists the errors logged from here on
    # require_context: a page query must arrive with the signed-in user's context (set by the login
    # gate at the top of every run); one that lost it is refused, never run with full rights
    wh = open_warehouse(load_settings(db_path), require_context=True)
    # the app holds the file, so `citybi ingest` hands its jobs to this process (citybi.inbox)
    start_worker(wh)
    # uploads are read by a sandboxed reader process kept ready, and replaced when one is retired
    # (citybi.ingest.pool): the first import does not wait for it to start
    from citybi.ingest.pool import pool

    readers = pool()
    readers.keep_warm = True
    readers.prestart(wh.settings.limits)
    try:  # audit entries past the retention setting go at start (the rest still verifies)
        audit.prune(wh)
    except Exception:  # the pages must open even when pruning fails; it is retried at the next start
        logging.getLogger(__name__).exception("audit log not pruned")
    # ... and it is the one writer, so data sources refresh here, on their schedules (citybi.refresh):
    # once per process, as this function is cached; never once per rerun or session
    settings = load_settings(db_path)
    # a scheduled replace that would break saved boards fails its run instead (citybi/lineage.py)
    guard_replaces(refuse_breaking_source_replace)
    try:
        schedule = start_app_schedule(wh, settings.sources_dir)
    except Exception:  # the pages must open even when the schedule cannot start (the 数据源 page says why)
        logging.getLogger(__name__).exception("data-source schedule not started")
    else:
        # alert rules are checked on the same scheduler (one per process), never a second one
        try:
            start_app_alerts(wh, schedule.scheduler)
        except Exception:  # the 预警 page says why
            logging.getLogger(__name__).exception("alert checks not started")
    return wh


def get_warehouse() -> Warehouse:
    """One DuckDB connection per server process (per file), shared by every session through cursors."""
    return _warehouse_for(str(load_settings().db_path))


def source_schedule() -> SourceSchedule:
    """The app's data-source schedule for the open warehouse (started with it; see _warehouse_for)."""
    wh = get_warehouse()
    return start_app_schedule(wh, load_settings().sources_dir)


def alert_service() -> AlertService:
    """The app's alert checks for the open warehouse (on the data sources' scheduler; see _warehouse_for)."""
    wh = get_warehouse()
    return start_app_alerts(wh, source_schedule().scheduler)


def catalog() -> Catalog:
    return Catalog(get_warehouse())


def show_error(err: Exception) -> None:
    """A Chinese message for the user; never a traceback.

    Messages quote what the user typed or uploaded (names, file names, values): shown as text.
    """
    if isinstance(err, UserFacingError):
        st.error(md(err.message) + (f"\n\n建议：{md(err.hint)}" if err.hint else ""))
    else:
        # the details go to the log under an id the user can quote (系统状态 lists the latest)
        error_id = uuid.uuid4().hex[:8]
        logging.getLogger("citybi.ui").error("页面错误 %s：%s", error_id, type(err).__name__, exc_info=err)
        st.error("操作没有完成：程序遇到了意外的问题。请重试；如果反复出现，请把所用文件交给管理员"
                 f"（错误编号 {error_id}）。")


def dataset_link(name: str) -> None:
    """A link to the 数据集 page opened on dataset `name` (pages/datasets.py reads ?ds=).

    In the app it is an in-app page link; a page script run on its own (AppTest, `streamlit run
    pages/x.py`) has no navigation to link into, so it gets a plain relative link instead.
    """
    from urllib.parse import quote

    from streamlit.errors import StreamlitPageNotFoundError

    label = f"查看数据集「{name}」"
    try:
        st.page_link("pages/datasets.py", label=label, icon=":material/dataset:", query_params={"ds": name})
    except StreamlitPageNotFoundError:
        st.markdown(f"[{md(label)}](datasets?ds={quote(name, safe='')})")


def guarded(fn: Callable[[], T]) -> T | None:
    """Run a core call; show its error as a message and return None instead of raising."""
    try:
        return fn()
    except Exception as err:  # every failure becomes a message, none a traceback
        show_error(err)
        return None


def ensure_samples() -> None:
    """On first start with an empty warehouse, load the bundled sample city data (with progress)."""
    from citybi.samples import load_samples, loading

    wh = get_warehouse()
    if st.session_state.get("_samples_checked") or (Catalog(wh).names() and not loading()):
        st.session_state["_samples_checked"] = True
        return

    with st.status("首次启动：正在载入示例城市数据…", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(msg: str, fraction: float) -> None:
            status.write(msg)
            bar.progress(min(1.0, max(0.0, fraction)))

        with use(SYSTEM):  # the app's own first-start setup, whoever's visit happens to trigger it
            loaded = guarded(lambda: load_samples(wh, progress=progress))
        done = len(loaded or [])
        status.update(label=f"已载入 {done} 个示例数据集" if done else "示例数据已就绪", state="complete",
                      expanded=False)
    st.session_state["_samples_checked"] = True


def action(fn: Callable[[], object]) -> bool:
    """Run a core call done for its effect; True when it succeeded, else the error is shown."""
    try:
        fn()
    except Exception as err:  # every failure becomes a message, none a traceback
        show_error(err)
        return False
    return True


def flash(message: str) -> None:
    """A success message that survives the st.rerun() that follows a change (plain text, not Markdown)."""
    st.session_state["_flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("_flash", None)
    if message:
        st.success(md(message))


def show_frame(frame: pl.DataFrame, *, download: str | None = None, download_key: str | None = None,
               **kwargs: object) -> None:
    """st.dataframe that shows DATE columns as dates (pandas would print 2024-03-01 00:00:00).

    With `download` (the file's title), our own CSV download of the shown rows follows the table.
    """
    config = {name: st.column_config.DateColumn(name, format="YYYY-MM-DD")
              for name, dtype in frame.schema.items() if dtype == pl.Date}
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config or None, **kwargs)
    if download is not None:
        csv_download(frame, download, key=download_key)


def audited(make: Callable[[], bytes], target: str, fmt: str, rows: int | None = None) -> Callable[[], bytes]:
    """A download's bytes, made when the user clicks, with an audit entry (导出) as this run's user.

    The click is served outside this script run, so the context is captured now."""
    ctx = effective()

    def run() -> bytes:
        with use(ctx):
            data = make()
            audit.record_done(get_warehouse(), "export", target, {"format": fmt, "rows": rows})
        return data

    return run


def csv_download(frame: pl.DataFrame, title: str, *, key: str | None = None) -> None:
    """Download the rows as CSV for Excel.

    Streamlit's toolbar download is off (client.disableDataExport in .streamlit/config.toml): it
    wrote "=cmd|…" cells raw. This one neutralises them like the Excel export, with a BOM for Chinese.
    """
    st.download_button("下载 CSV", data=audited(lambda: frame_csv(frame), title, "csv", frame.height),
                       file_name=csv_file_name(title), mime="text/csv",
                       icon=":material/download:", key=key, on_click="ignore")
